// A splitter with a sink reads COMPRESSED records through output the zstd decoder lends (one region in its
// memory, overwritten by the next record's): the records a sink keeps must still hold their bytes after
// later records decode, samples are read in the call, and both decoders give the same records.
import { execFileSync } from "node:child_process";
import { describe, expect, test } from "vitest";
import type { RawRecord } from "../../src/perf/records.js";
import { loadZstd, provideZstd, type RecordSink, Splitter } from "../../src/perf/splitter.js";
import { ZstdStream } from "../../src/perf/zstd.js";
import { fzstdEngine } from "../../src/zstd-fzstd.js";
import { record } from "../helpers/perf-writer.js";

const seed = Number(process.env.ZSTD_LEND_SEED ?? Math.floor(Math.random() * 2 ** 31));
console.log(`zstd lend: ZSTD_LEND_SEED=${seed}`);
let state = seed >>> 0 || 1;
/** xorshift32: the test's bytes, from {@link seed}. */
const random = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};
const bytes = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 256));

const limits = { maxDecompressedBytes: 64 << 20, maxZstdWindow: 8 << 20 };
const line = (type: number, body: Uint8Array) => `${type} ${[...body].join(",")}`;

/** Records of each kind, bodies from 40 random ones: COMM (3) and MMAP (1) kept by the sink, SAMPLE (9) read in the call. */
function inner(n: number): number[] {
  const bodies = Array.from({ length: 40 }, () => bytes(8 + 8 * Math.floor(random() * 30)));
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(...record([3, 9, 1][i % 3]!, bodies[Math.floor(random() * bodies.length)]!));
  return out;
}

/** What a sink that keeps the non-sample records and copies each sample's body in the call sees, or the plain records. */
function read(stream: Uint8Array, wasm: boolean, sink: boolean): string[] {
  const got: string[] = [];
  const kept: { type: number; body: Uint8Array }[] = [];
  const splitter = new Splitter(true, limits, false, wasm);
  const taker: RecordSink = {
    record: (raw) => kept.push(raw),
    sample: (b, at, length) => kept.push({ type: 9, body: new Uint8Array(b.buffer.slice(at, at + length)) }),
  };
  if (sink) splitter.sendTo(taker);
  const out: RawRecord[] = [];
  // In pieces, so COMPRESSED records and the blocks inside them span pieces.
  for (let p = 0; p < stream.length; p += 1000) splitter.push(stream.subarray(p, p + 1000), p, out);
  expect(splitter.stalled).toBe(false);
  splitter.finish(stream.length);
  for (const r of sink ? kept : out) if (r.type !== 81) got.push(line(r.type, r.body));
  return got;
}

describe("COMPRESSED records read through lent output", () => {
  test("kept records hold their bytes after later records decode into the same region, with both decoders", async () => {
    // The streaming splitters' engine, and fzstd for the others, as readPerfData gives it.
    await loadZstd();
    provideZstd(ZstdStream, fzstdEngine);
    // One frame across COMPRESSED records, as perf writes it: blocks and records cut across them. Records of
    // few bodies, which the real zstd compresses well: a COMPRESSED record (under 64 KiB) decodes past the
    // region's first size (zstd's 128 KiB out size), which grows holding what it decoded.
    const records = inner(20_000);
    const frame = new Uint8Array(execFileSync("zstd", ["-c", "--no-check"], { input: new Uint8Array(records) }));
    const compressed: number[][] = [];
    const piece = Math.ceil(frame.length / 3);
    for (let p = 0; p < frame.length; p += piece) compressed.push(record(81, [...frame.subarray(p, p + piece)]));
    expect(piece).toBeLessThan(60_000);
    expect(records.length / compressed.length).toBeGreaterThan(200_000);
    const stream = new Uint8Array(compressed.flat());

    const want: string[] = [];
    const plain = new Splitter(true, limits);
    const out: RawRecord[] = [];
    plain.push(new Uint8Array(records), 0, out);
    for (const r of out) want.push(line(r.type, r.body));
    expect(want).toHaveLength(20_000);

    for (const wasm of [true, false])
      for (const sink of [true, false]) expect(read(stream, wasm, sink), `wasm ${wasm}, sink ${sink}`).toEqual(want);
  }, 60_000);
});
