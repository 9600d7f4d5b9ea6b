// Streaming is bounded: 400 MB of pipe-mode records, made chunk by chunk and never held whole, are read,
// parsed and ordered while the process grows by far less than the input.
import { expect, test } from "vitest";
import { orderRecordsAsync, streamPerfData } from "../../src/perf/index.js";
import { attrRecord, CPU_CLOCK_G, PIPE_HEADER, record, sampleBody } from "../helpers/perf-writer.js";

const CHUNK = 64 * 1024;
const CHUNKS = 6400;

/** The pipe header and an attribute, then chunks of samples with rising times, a FINISHED_ROUND closing each. */
async function* recording(): AsyncGenerator<Uint8Array> {
  yield new Uint8Array([...PIPE_HEADER, ...attrRecord(CPU_CLOCK_G)]);
  const sample = record(9, sampleBody(0n, [0xffffffffffffff80n, 0xffffffff81000000n, 0x401000n, 0x402000n]));
  const round = record(68, []);
  const perChunk = Math.floor((CHUNK - round.length) / sample.length);
  let time = 1n;
  for (let c = 0; c < CHUNKS; c++) {
    const chunk = new Uint8Array(perChunk * sample.length + round.length);
    const view = new DataView(chunk.buffer);
    for (let i = 0; i < perChunk; i++) {
      chunk.set(sample, i * sample.length);
      view.setBigUint64(i * sample.length + 8 + 16, time++, true);
    }
    chunk.set(round, perChunk * sample.length);
    yield chunk;
  }
}

test("400 MB streamed through the reader and perf's ordering grow the process by under 150 MB", async () => {
  const before = process.memoryUsage().rss;
  let samples = 0;
  let peak = before;
  for await (const r of orderRecordsAsync(streamPerfData(recording()).records())) {
    if (r.kind === "sample") samples++;
    if ((samples & 0xffff) === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  expect(samples).toBeGreaterThan(5_000_000);
  expect(peak - before).toBeLessThan(150 * 1024 * 1024);
  console.log(
    `${samples} samples from ${(CHUNKS * CHUNK) / 1e6} MB; RSS grew by ${((peak - before) / 1e6).toFixed(0)} MB`,
  );
}, 600_000);
