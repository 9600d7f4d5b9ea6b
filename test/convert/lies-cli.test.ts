// The command line on lying records, as a process: `pprof` and `buildid-list -H` on a sample of the lying
// streams, on a recording of many processes and on a zstd bomb end with exit 0, or exit 1 and one line
// naming the fault, within a time bound and under a resident-memory bound (measured by /usr/bin/time).
// LIES_CLI_RUNS (or FUZZ_RUNS / 200), LIES_CLI_SEED and LIES_PROCESSES set the campaign.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bundleCli } from "../helpers/cli.js";
import { attrRecord, CPU_CLOCK_G, pipeStream, record, zstdFrameHeader, zstdRleBlock } from "../helpers/perf-writer.js";
import { seedFrom } from "../helpers/random.js";
import { manyProcesses, scenario, streamOf } from "./lies.js";

const dir = mkdtempSync(join(tmpdir(), "lies-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let cli: string;
beforeAll(async () => {
  cli = await bundleCli(dir);
});

/** A generous bound on one run of a loaded 2-core machine: past it the run is killed and fails as a hang. */
const HANG_MS = 120_000;
/** The resident memory a run may reach: the model's maxBytes (128 MiB), the queue's 64 MiB, a 64 MiB record expansion, Node itself. */
const MAX_RSS_KIB = 768 * 1024;

interface Run {
  code: number | null;
  signal: string | null;
  stderr: string;
  rssKiB: number;
}

/** Runs the CLI under /usr/bin/time, killed after `hangMs`. */
function run(args: string[], hangMs: number, stdin?: Uint8Array): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/time", ["-f", "rss %M", process.execPath, cli, ...args], {
      stdio: [stdin === undefined ? "ignore" : "pipe", "ignore", "pipe"],
    });
    child.stdin?.on("error", () => {});
    child.stdin?.end(stdin);
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), hangMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const m = /rss (\d+)\s*$/.exec(stderr);
      resolve({
        code,
        signal,
        stderr: stderr.replace(/(Command exited with non-zero status \d+\n)?rss \d+\s*$/, ""),
        rssKiB: Number(m?.[1] ?? -1),
      });
    });
  });
}

/** Both data commands on `bytes`: each exits 0, or 1 with one line naming the fault, in time and under the memory bound. */
async function expectContained(
  bytes: Uint8Array,
  name: string,
  hangMs = HANG_MS,
  maxKiB = MAX_RSS_KIB,
): Promise<Run[]> {
  const file = join(dir, `${name}.data`);
  writeFileSync(file, bytes);
  const runs = [
    await run(["pprof", file, "-o", join(dir, `${name}.pb.gz`)], hangMs),
    await run(["buildid-list", "-i", file, "-H"], hangMs),
  ];
  for (const r of runs) {
    expect(r.signal, `${name}: killed after ${hangMs} ms`).toBeNull();
    expect(r.rssKiB, name).toBeGreaterThan(0);
    expect(r.rssKiB, `${name}: ${r.rssKiB} KiB resident`).toBeLessThan(maxKiB);
    if (r.code === 0) continue;
    expect([r.code, r.stderr.split("\n").filter((l) => l.length > 0).length], `${name}: ${r.stderr}`).toEqual([1, 1]);
    expect(r.stderr).toMatch(/^buildid-cache: .*(\(at byte \d+, 0x[0-9a-f]+\)|more than \d+ distinct)/);
  }
  return runs;
}

describe("the command line on lying records", () => {
  test("a sample of lying streams: exit 0, or 1 naming the fault; in time, under the memory bound", async () => {
    const seed = seedFrom("LIES_CLI_SEED", "lying records through the command line");
    const runs = Number(process.env.LIES_CLI_RUNS ?? Math.max(8, Number(process.env.FUZZ_RUNS ?? 0) / 200));
    let i = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        await expectContained(streamOf(s), `case${i++}`);
      }),
      { seed, numRuns: runs },
    );
  }, 600_000);

  test(
    "many processes (LIES_PROCESSES, 5,000 unless set): converted under the memory bound",
    async () => {
      const n = Number(process.env.LIES_PROCESSES ?? 5_000);
      // 1 ms a process on top: 10^6 of them are 200 MB of records
      // Memory grows with the processes samples name (each is a summary entry and a stack of its own): 2.0 GB at 10^6.
      const [pprof, list] = await expectContained(manyProcesses(n), "many", HANG_MS + n, MAX_RSS_KIB + n * 3);
      expect([pprof!.code, list!.code]).toEqual([0, 0]);
      console.log(`${n} processes: pprof ${pprof!.rssKiB} KiB, buildid-list ${list!.rssKiB} KiB resident`);
    },
    600_000 + 3 * Number(process.env.LIES_PROCESSES ?? 0),
  );

  test("a pipe that ends anywhere: both commands exit 0, or 1 with one line naming the fault and its offset", async () => {
    const seed = seedFrom("LIES_CUT_SEED", "lying records cut in a pipe");
    await fc.assert(
      fc.asyncProperty(scenario, fc.nat(), async (s, at) => {
        const whole = streamOf(s);
        const cut = whole.subarray(0, 16 + (at % (whole.length - 16)));
        for (const args of [
          ["pprof", "-", "-o", join(dir, "cut.pb.gz")],
          ["buildid-list", "-i", "-", "-H"],
        ]) {
          const r = await run(args, HANG_MS, cut);
          expect(r.signal).toBeNull();
          if (r.code !== 0) expect(r.stderr, r.stderr).toMatch(/^buildid-cache: .*\(at byte \d+, 0x[0-9a-f]+\)\n$/);
        }
      }),
      { seed, numRuns: Number(process.env.LIES_CLI_RUNS ?? Math.max(4, Number(process.env.FUZZ_RUNS ?? 0) / 500)) },
    );
  }, 600_000);

  test("a zstd bomb is refused at its limit, under the memory bound", async () => {
    const blocks = Array.from({ length: 600 }, () => zstdRleBlock(0, 128 * 1024)).flat();
    const bomb = pipeStream(attrRecord(CPU_CLOCK_G), record(81, [...zstdFrameHeader(), ...blocks]));
    const runs = await expectContained(bomb, "bomb");
    for (const r of runs) expect(r.stderr).toMatch(/expands past the limit of 67108864 bytes/);
  }, 600_000);
});
