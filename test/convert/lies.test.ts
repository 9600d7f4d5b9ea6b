// Records that read fine but lie, fed to the converter and to buildid-list: empty, wrapping and huge
// mappings, build IDs of odd sizes, forks of a pid into itself, exits before forks, execs of unknown pids,
// call chains of markers in odd places, times out of order across rounds, two attributes of different
// sample_types. Whatever they say, the result is a conversion or a documented error, the same read whole
// or in chunks, and no file gets another file's build ID. FUZZ_RUNS and LIES_FUZZ_SEED set the campaign.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { convertPerfData, InternLimitError, listBuildIds } from "../../src/convert/index.js";
import { PerfDataError } from "../../src/perf/index.js";
import { seedFrom } from "../helpers/random.js";
import { coherent, hexOf, PATHS, readBuildId, type Scenario, scenario, streamOf } from "./lies.js";

/** The outcome of a run, comparable across runs: the summary and profile, or the error's class, code and offset. */
async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return JSON.parse(JSON.stringify(await run(), (_, v) => (typeof v === "bigint" ? `${v}n` : v)));
  } catch (error) {
    if (error instanceof PerfDataError) return { error: "PerfDataError", code: error.code, offset: error.offset };
    if (error instanceof InternLimitError) return { error: "InternLimitError", message: error.message };
    throw error;
  }
}

/** `bytes` cut into chunks of the sizes `cuts` gives, cycled. */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = cuts[i % cuts.length]!;
    chunks.push(bytes.slice(at, at + n));
    at += n;
  }
  return chunks;
}

/** Every file the summary gives an ID has its own path's ID (its index + 1, repeated), never another path's. */
function expectOwnBuildIds(result: unknown): void {
  const files = (result as { summary?: { files: { path: string; buildId?: string }[] } }).summary?.files ?? [];
  for (const f of files) {
    if (f.buildId === undefined) continue;
    const own = hexOf([PATHS.indexOf(f.path) + 1]);
    expect(
      f.buildId.match(/../g)?.every((b) => b === own),
      `${f.path} has ${f.buildId}`,
    ).toBe(true);
  }
}

/** Checks one scenario: whole and chunked give the same outcome, a documented one, with only own build IDs. */
export async function checkScenario(s: Scenario, cuts: number[]): Promise<void> {
  const bytes = streamOf(s);
  const whole = await outcome(() => convertPerfData(bytes, { readBuildId }));
  expectOwnBuildIds(whole);
  expect(await outcome(() => convertPerfData(chunked(bytes, cuts), { readBuildId }))).toEqual(whole);
  const listed = await outcome(() => listBuildIds(bytes, { withHits: true }));
  expect(await outcome(() => listBuildIds(chunked(bytes, cuts), { withHits: true }))).toEqual(listed);
}

const cuts = fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 });

describe("records that read fine but lie", () => {
  test("a user-space map of pid -1 is not the kernel's: a kernel sample of another process does not resolve in it", async () => {
    const ops = [
      [{ kind: "comm", pid: 1, tid: 1, exec: false }, 0],
      [
        { kind: "mmap2", pid: -1, start: 0x400000n, len: 2n ** 63n, pgoff: 0n, path: 0, kernel: false, identity: 20 },
        0,
      ],
      [{ kind: "sample", pid: 1, tid: 1, second: false, chain: [0xffffffffffffff80n, 2n ** 63n] }, 0],
    ];
    const { summary } = await convertPerfData(streamOf({ twoAttrs: false, ops: ops as unknown as Scenario["ops"] }));
    expect(summary.files).toEqual([]);
  });

  test(
    "convert and buildid-list: a documented outcome, the same whole or in chunks, no file with another's build ID",
    async () => {
      const seed = seedFrom("LIES_FUZZ_SEED", "lying records");
      await fc.assert(
        fc.asyncProperty(fc.oneof(scenario, coherent), cuts, (s, c) => checkScenario(s, c)),
        { seed, numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
      );
    },
    600_000 + Number(process.env.FUZZ_RUNS ?? 0) * 100,
  );
});
