// The streaming reader over each zstd engine it can be given, zstd's own in WebAssembly and Node's own
// (node:zlib, Node 22.15+ and 23.8+): hostile-input's COMPRESSED cases end in the same PerfDataError code
// and offset, and good input in the same records, as the synchronous reader's (fzstd); the Node entry gives
// the reader Node's own where it is there.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test, vi } from "vitest";
import { nativeZstdEngine } from "../../src/node/zstd-native.js";
import { PerfDataError, readPerfData, streamPerfData } from "../../src/perf/index.js";
import { provideZstdEngine } from "../../src/perf/splitter.js";
import type { ZstdEngine } from "../../src/zstd.js";
import { loadZstdEngine } from "../../src/zstd-wasm.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";
import {
  attrRecord,
  CPU_CLOCK_G,
  pipeStream,
  record,
  sampleBody,
  zstdFrameHeader,
  zstdRawBlock,
  zstdRleBlock,
} from "../helpers/perf-writer.js";

const ATTR = attrRecord(CPU_CLOCK_G);
const FIRST = 16 + ATTR.length;
const native = nativeZstdEngine();
const wasm = await loadZstdEngine();
const zlibHasZstd = typeof (process.getBuiltinModule("node:zlib") as { ZstdDecompress?: unknown }).ZstdDecompress;

const dir = mkdtempSync(join(tmpdir(), "zstd-engines-"));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`real recordings skipped: ${cannot}`);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  // As the Node entry leaves it (other files of this worker may have imported it).
  provideZstdEngine(nativeZstdEngine);
});

/** What a reader makes of `bytes`: each record's type, offset, size and body, or the PerfDataError's code and offset. */
type Outcome = string[] | [string, number];

function outcome(error: unknown): Outcome {
  if (error instanceof PerfDataError) return [error.code, error.offset];
  throw error;
}

function whole(bytes: Uint8Array): Outcome {
  try {
    return [...readPerfData(bytes).rawRecords()].map((r) => `${r.type} ${r.offset} ${r.size} ${[...r.body]}`);
  } catch (error) {
    return outcome(error);
  }
}

async function streamed(bytes: Uint8Array, piece: number): Promise<Outcome> {
  const chunks = Array.from({ length: Math.ceil(bytes.length / piece) }, (_, i) =>
    bytes.subarray(i * piece, (i + 1) * piece),
  );
  const out: string[] = [];
  try {
    for await (const batch of streamPerfData(chunks).rawBatches())
      for (const r of batch) out.push(`${r.type} ${r.offset} ${r.size} ${[...r.body]}`);
  } catch (error) {
    return outcome(error);
  }
  return out;
}

const sample = record(9, sampleBody(1234n, [0xffffffffffffff80n, 0xffffffff81000000n]));
const zstd = (args: string[], input: number[]) => [...execFileSync("zstd", args, { input: new Uint8Array(input) })];
const compressed = zstd(["-c"], Array.from({ length: 200 }, () => sample).flat());
const corrupt = compressed.slice();
corrupt.fill(0xff, corrupt.length - 40, corrupt.length - 8);

/** hostile.test.ts's COMPRESSED cases, and real zstd output whole, cut across records and corrupt. */
const CASES: [string, Uint8Array][] = [
  [
    "a record split across COMPRESSED records",
    pipeStream(
      ATTR,
      record(81, [...zstdFrameHeader(), ...zstdRawBlock(sample.slice(0, 20))]),
      record(81, zstdRawBlock(sample.slice(20))),
    ),
  ],
  ["PF10 a window over maxZstdWindow", pipeStream(ATTR, record(81, zstdFrameHeader(0xf8)))],
  [
    "PF11 a zstd bomb past maxDecompressedBytes",
    pipeStream(
      ATTR,
      record(81, [...zstdFrameHeader(), ...Array.from({ length: 600 }, () => zstdRleBlock(0, 128 * 1024)).flat()]),
    ),
  ],
  [
    "PF12 COMPRESSED inside compressed data",
    pipeStream(ATTR, record(81, [...zstdFrameHeader(), ...zstdRawBlock(record(81, [1, 2, 3]))])),
  ],
  ["PF13 data that is not zstd", pipeStream(ATTR, record(81, [1, 2, 3, 4, 5, 6, 7, 8]))],
  ["200 samples in one zstd frame", pipeStream(ATTR, record(81, compressed))],
  [
    "the same frame cut across three records",
    pipeStream(
      ATTR,
      record(81, compressed.slice(0, 7)),
      record(81, compressed.slice(7, 30)),
      record(81, compressed.slice(30)),
    ),
  ],
  ["the same frame, its last block garbage", pipeStream(ATTR, record(81, corrupt))],
];

describe.each([
  ["zstd's own decoder in WebAssembly", wasm],
  ["Node's own zstd (node:zlib)", native],
])("the streaming reader over %s", (name, engine) => {
  test.skipIf(engine === undefined)("hostile COMPRESSED records: the synchronous reader's outcome", async () => {
    provideZstdEngine(() => engine as ZstdEngine);
    for (const [what, bytes] of CASES) {
      const expected = whole(bytes);
      for (const piece of [bytes.length, 61, 7])
        expect(await streamed(bytes, piece), `${what}, ${piece}`).toEqual(expected);
    }
    const bad = CASES.at(-1)![1];
    expect(whole(bad)).toEqual(["BAD_COMPRESSED", FIRST]);
  });

  test.skipIf(engine === undefined || cannot !== undefined)(
    "real -z recordings: the same records",
    async () => {
      provideZstdEngine(() => engine as ZstdEngine);
      for (const pipe of [false, true]) {
        const file = join(dir, `${name.length}-${pipe}.data`);
        perfRecord(file, ["-z"], { pipe });
        const bytes = new Uint8Array(readFileSync(file));
        const expected = whole(bytes);
        expect(expected.length).toBeGreaterThan(2);
        expect(await streamed(bytes, 4096)).toEqual(expected);
      }
    },
    120_000,
  );
});

test("Node's own zstd is an engine wherever node:zlib has it (Node 22.15+, 23.8+), none on Node 20", () => {
  expect(native === undefined ? "undefined" : "function").toBe(zlibHasZstd);
});

test.skipIf(native === undefined)(
  "through the Node entry, the streaming reader decodes with Node's own zstd",
  async () => {
    vi.resetModules();
    const zlib = process.getBuiltinModule("node:zlib") as unknown as Record<"ZstdDecompress", new () => unknown>;
    const made = vi.spyOn(zlib, "ZstdDecompress");
    try {
      await import("../../src/node/index.js");
      const perf = await import("../../src/perf/index.js");
      const bytes = CASES[0]![1];
      const got: number[] = [];
      for await (const batch of perf.streamPerfData(bytes).rawBatches()) for (const r of batch) got.push(r.type);
      expect(got).toEqual([64, 81, 81, 9]);
      expect(made).toHaveBeenCalled();
    } finally {
      made.mockRestore();
    }
  },
);
