// The commands read a file through one reused buffer (node/perf-input.ts openPerfChunks): the reader must
// copy what it keeps of a chunk before it asks for the next. A record spanning chunks, and a zstd block cut
// across two COMPRESSED records (fzstd keeps a block's start until its end arrives), read through such a
// buffer, give the records the whole bytes give.
import { describe, expect, test } from "vitest";
import { readPerfData, streamPerfData } from "../../src/perf/index.js";
import { attrRecord, pipeStream, record, zstdFrameHeader, zstdRawBlock } from "../helpers/perf-writer.js";

/** `bytes` as chunks of `size`, each copied into the same buffer, which the next overwrites. */
function* reused(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  const buffer = new Uint8Array(size);
  for (let at = 0; at < bytes.length; at += size) {
    const n = Math.min(size, bytes.length - at);
    buffer.fill(0xee);
    buffer.set(bytes.subarray(at, at + n));
    yield buffer.subarray(0, n);
  }
}

const line = (r: { type: number; offset: number; size: number; compressed: boolean; body: Uint8Array }) =>
  `${r.type} ${r.offset} ${r.size} ${r.compressed} ${[...r.body].join(",")}`;

describe("a stream read through one reused buffer", () => {
  test("gives the records the whole bytes give, with a zstd block cut across COMPRESSED records and records across chunks", async () => {
    // Inside the frame: rounds and a user record with a body, 8 + 24 bytes a pair.
    const inner = [...Array(6)].flatMap((_, i) => [
      ...record(68, []),
      ...record(
        70,
        [...Array(16)].map((_, j) => i * 16 + j),
      ),
    ]);
    const frame = [...zstdFrameHeader(), ...zstdRawBlock(inner, true)];
    const cut = 40;
    const first = record(81, frame.slice(0, cut));
    const second = record(81, frame.slice(cut));
    const stream = pipeStream(attrRecord(0x127n), first, second, record(68, []));
    const whole = [...readPerfData(stream).rawRecords()].map(line);
    expect(whole.filter((l) => l.split(" ")[3] === "true")).toHaveLength(12);
    const secondAt = stream.length - second.length - 8;
    for (const size of [secondAt, 24, 40, 64]) {
      const got: string[] = [];
      for await (const batch of streamPerfData(reused(stream, size)).rawBatches())
        for (const r of batch) got.push(line(r));
      expect(got, `chunks of ${size}`).toEqual(whole);
    }
  });
});
