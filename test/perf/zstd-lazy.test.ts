// The zstd decoder (fzstd) is loaded only when a recording has COMPRESSED records: the streaming reader
// stops at the first one, loads it and resumes, with the same records the synchronous reader gives.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

const loads = vi.hoisted(() => ({ count: 0 }));
vi.mock("../../src/perf/zstd.js", async (importOriginal) => {
  loads.count++;
  return importOriginal();
});

const dir = mkdtempSync(join(tmpdir(), "zstd-lazy-"));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipped: ${cannot}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The bytes in pieces of `size`, so a COMPRESSED record and the records around it span pieces. */
function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function streamed(source: Uint8Array | Blob | Iterable<Uint8Array>): Promise<string[]> {
  const { streamPerfData } = await import("../../src/perf/reader.js");
  const out: string[] = [];
  for await (const batch of streamPerfData(source).rawBatches())
    for (const r of batch) out.push(`${r.type} ${r.offset} ${r.size} ${r.compressed}`);
  return out;
}

describe.skipIf(cannot !== undefined)("the zstd decoder, loaded when a recording needs it", () => {
  it("is not loaded for recordings without COMPRESSED records, and is for one with them", async () => {
    for (const pipe of [false, true]) {
      const file = join(dir, `plain-${pipe}.data`);
      perfRecord(file, [], { pipe });
      const bytes = new Uint8Array(readFileSync(file));
      expect((await streamed(bytes)).length).toBeGreaterThan(0);
      expect((await streamed(new Blob([bytes]))).length).toBeGreaterThan(0);
      expect((await streamed(pieces(bytes, 4096))).length).toBeGreaterThan(0);
    }
    expect(loads.count).toBe(0);

    const compressed: string[] = [];
    for (const pipe of [false, true]) {
      const file = join(dir, `z-${pipe}.data`);
      perfRecord(file, ["-z"], { pipe });
      compressed.push(file);
    }
    // Streamed before anything else loads the decoder: the reader stops at the first COMPRESSED record for it.
    const first = await streamed(new Blob([new Uint8Array(readFileSync(compressed[0]!))]));
    expect(loads.count).toBe(1);
    const { readPerfData } = await import("../../src/perf/index.js");
    for (const file of compressed) {
      const bytes = new Uint8Array(readFileSync(file));
      const whole = [...readPerfData(bytes).rawRecords()].map((r) => `${r.type} ${r.offset} ${r.size} ${r.compressed}`);
      expect(whole.some((r) => r.endsWith(" true"))).toBe(true);
      if (file === compressed[0]) expect(first).toEqual(whole);
      expect(await streamed(pieces(bytes, 4096))).toEqual(whole);
      expect(await streamed(pieces(bytes, 977))).toEqual(whole);
      expect(await streamed(new Blob([bytes]))).toEqual(whole);
      expect(await streamed(bytes)).toEqual(whole);
    }
    expect(loads.count).toBe(1);
  }, 300_000);

  it("streams a pipe-mode -z recording in pieces with the decoder loaded on the way", async () => {
    vi.resetModules();
    const file = join(dir, "z-fresh.data");
    perfRecord(file, ["-z"], { pipe: true });
    const bytes = new Uint8Array(readFileSync(file));
    const got = await streamed(pieces(bytes, 977));
    const { readPerfData } = await import("../../src/perf/index.js");
    expect(got).toEqual(
      [...readPerfData(bytes).rawRecords()].map((r) => `${r.type} ${r.offset} ${r.size} ${r.compressed}`),
    );
  }, 300_000);
});
