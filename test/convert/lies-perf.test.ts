// buildid-list on records that read fine but lie, against perf itself: a dso both list has the build ID perf
// gives it. Which dsos are hit follows the address-space model by design (an exec ends a space, an exit or a
// PERF_RECORD_LOST ends what is trusted; perf keeps the old maps), so the lists are compared line for line
// only where the model and perf agree (the fixed cases). PERF_DIFF_RUNS (or FUZZ_RUNS / 10) and
// LIES_PERF_SEED set the campaign.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, test } from "vitest";
import { listBuildIds } from "../../src/convert/index.js";
import { PerfDataError } from "../../src/perf/index.js";
import { sameVdso } from "../helpers/perf-answers.js";
import { perfCannotRecord } from "../helpers/perf-tools.js";
import { seedFrom } from "../helpers/random.js";
import { coherent, type Scenario, scenario, streamOf } from "./lies.js";

const dir = mkdtempSync(join(tmpdir(), "lies-perf-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping buildid-list against perf on lying records: ${cannot}`);
const runs = Number(process.env.PERF_DIFF_RUNS ?? Math.max(100, Number(process.env.FUZZ_RUNS ?? 0) / 10));

/** perf's lines for `bytes`, or undefined when perf does not read them to the end. */
function perfLines(bytes: Uint8Array): string[] | undefined {
  const file = join(dir, "lies.data");
  writeFileSync(file, bytes);
  const r = spawnSync("perf", ["buildid-list", "-i", file], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) return undefined;
  return r.stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => `${l.slice(0, 41)}${sameVdso(l.slice(41))}`);
}

/** Our lines for `bytes`, as perf prints them. */
async function ourLines(bytes: Uint8Array): Promise<string[]> {
  return (await listBuildIds(bytes)).lines.map((l) => `${l.buildId.padEnd(40)} ${l.name}`);
}

/** An MMAP2 of /bin/a by pid `pid` at 0x400000, `len` bytes, with its build ID or none; a sample of pid 7 in it. */
const mapOf = (pid: number, len: bigint, identity: 20 | "none", step: number) =>
  [{ kind: "mmap2", pid, start: 0x400000n, len, pgoff: 0n, path: 0, kernel: false, identity }, step] as const;
const sampled = [{ kind: "sample", pid: 7, tid: 7, second: false, chain: [] }, 1] as const;

/** `s` with each record's tid its pid. */
function agreeing(s: Scenario): Scenario {
  return {
    ...s,
    ops: s.ops.map(([o, t]) => [
      o.kind === "sample" || o.kind === "comm" || o.kind === "fork" || o.kind === "exit" ? { ...o, tid: o.pid } : o,
      t,
    ]) as Scenario["ops"],
  };
}

/** perf's `buildid-list -H` of the stream `ops` make, one line as `lines` says (or none), and ours the same. */
async function agreesWithPerf(ops: readonly (readonly unknown[])[], lines = 1): Promise<void> {
  const bytes = streamOf({ twoAttrs: false, ops: ops as unknown as Scenario["ops"] });
  const expected = perfLines(bytes);
  expect(expected).toHaveLength(lines);
  expect(await ourLines(bytes)).toEqual(expected);
}

describe.skipIf(cannot !== undefined)("buildid-list on lying records", () => {
  test("an empty map's build ID goes to its dso, which a later map of the file shares, as perf gives it", async () => {
    for (const ops of [
      [mapOf(7, 0n, 20, 0), mapOf(7, 0x1000n, "none", 1), sampled],
      [mapOf(7, 0x1000n, "none", 1), mapOf(8, 0n, 20, 0), sampled],
    ]) {
      await agreesWithPerf(ops);
    }
  });

  test("a fork at time 2^64 - 1 (perf delivers it at once) leaves the child's later samples in its maps, as perf hits them", async () => {
    const ops = [
      [{ kind: "sample", pid: 7, tid: 7, second: false, chain: [] }, 0],
      [{ kind: "fork", pid: 7, ppid: 1, tid: 7 }, "max"],
      [
        { kind: "mmap2", pid: 7, start: 0x400000n, len: 17n, pgoff: 0n, path: 0, kernel: false, identity: "none" },
        "zero",
      ],
    ];
    await agreesWithPerf(ops);
  });

  test("a user-space map of pid -1 is not the kernel's: a kernel sample of another process does not hit it, as perf does not", async () => {
    const ops = [
      [
        { kind: "mmap2", pid: -1, start: 0x400000n, len: 2n ** 63n, pgoff: 0n, path: 0, kernel: false, identity: 20 },
        0,
      ],
      [{ kind: "sample", pid: 1, tid: 1, second: false, chain: [2n ** 63n] }, 0],
    ];
    await agreesWithPerf(ops, 0);
  });

  test("the vdso mapped in build-ID form (--buildid-mmap) has that build ID, as perf gives it", async () => {
    const ops = [
      [{ kind: "mmap2", pid: 8, start: 0x400000n, len: 0x1000n, pgoff: 0n, path: 3, kernel: false, identity: 20 }, 0],
      [{ kind: "sample", pid: 8, tid: 8, second: false, chain: [] }, 0],
    ];
    await agreesWithPerf(ops);
  });

  test("an anonymous executable map in build-ID form gives its build ID to the JIT map's dso, as perf gives it", async () => {
    const ops = [
      [{ kind: "mmap2", pid: 7, start: 0n, len: 0n, pgoff: 0n, path: 4, kernel: false, identity: 1 }, 0],
      [
        { kind: "mmap2", pid: 7, start: 0x400000n, len: 0x1000n, pgoff: 0n, path: 4, kernel: false, identity: "none" },
        0,
      ],
      [{ kind: "sample", pid: 7, tid: 7, second: false, chain: [] }, 0],
    ];
    await agreesWithPerf(ops);
  });

  test("a map in build-ID form of 0 bytes has perf's empty dso id: a later map of the file with a build ID shares its dso", async () => {
    const ops = [
      [{ kind: "mmap2", pid: 7, start: 0x400000n, len: 0x1000n, pgoff: 0n, path: 0, kernel: false, identity: 0 }, 0],
      [{ kind: "mmap2", pid: 7, start: 0n, len: 0n, pgoff: 0n, path: 0, kernel: false, identity: 1 }, 0],
      [{ kind: "sample", pid: 7, tid: 7, second: false, chain: [] }, 0],
    ];
    await agreesWithPerf(ops);
  });

  test("a JIT map's dso is found by its id too: an anonymous map in build-ID form after one by inode makes another dso, as perf makes it", async () => {
    const ops = [
      [
        { kind: "mmap2", pid: 7, start: 0x400000n, len: 0x1000n, pgoff: 0n, path: 4, kernel: false, identity: "inode" },
        1,
      ],
      [{ kind: "mmap2", pid: 7, start: 0x400000n, len: 0n, pgoff: 0n, path: 4, kernel: false, identity: 1 }, 0],
      [{ kind: "sample", pid: 7, tid: 7, second: false, chain: [] }, 0],
    ];
    await agreesWithPerf(ops);
  });

  test(
    "a dso both list has perf's build ID, for every stream both read",
    async () => {
      const seed = seedFrom("LIES_PERF_SEED", "lying records against perf");
      await fc.assert(
        fc.asyncProperty(fc.oneof(scenario, coherent), async (s) => {
          // perf finds a sample's thread by tid alone, whatever pid the sample names: not followed (see the report)
          const bytes = streamOf(agreeing(s));
          let ours: string[];
          try {
            ours = await ourLines(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(PerfDataError);
            return;
          }
          const expected = perfLines(bytes);
          if (expected === undefined) return;
          const ids = (lines: string[], name: string) =>
            lines.filter((l) => l.slice(41) === name).map((l) => l.slice(0, 40).trimEnd());
          for (const line of ours) {
            const theirs = ids(expected, line.slice(41));
            if (theirs.length > 0) expect(theirs, line).toContain(line.slice(0, 40).trimEnd());
          }
        }),
        { seed, numRuns: runs },
      );
    },
    600_000 + runs * 200,
  );
});
