// Hostile input: hand-made records and mutated real recordings end in a PerfDataError with a code and the
// offset, never another exception, a hang or memory past the limits.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { orderRecords, PerfDataError, readPerfData, streamPerfData } from "../../src/perf/index.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";
import {
  attrRecord,
  CPU_CLOCK_G,
  pipeStream,
  record,
  sampleBody,
  u64le,
  zstdFrameHeader,
  zstdRawBlock,
  zstdRleBlock,
} from "../helpers/perf-writer.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

/** Reads everything (raw, parsed, ordered); returns the record count or the error thrown. */
function readAll(bytes: Uint8Array, limits?: Parameters<typeof readPerfData>[1]): number | unknown {
  try {
    return [...orderRecords(readPerfData(bytes, limits).records())].length;
  } catch (error) {
    return error;
  }
}

function expectError(bytes: Uint8Array, code: string, offset: number, message?: RegExp): PerfDataError {
  const error = readAll(bytes);
  expect(error).toBeInstanceOf(PerfDataError);
  const e = error as PerfDataError;
  expect([e.code, e.offset], e.message).toEqual([code, offset]);
  if (message) expect(e.message).toMatch(message);
  return e;
}

const ATTR = attrRecord(CPU_CLOCK_G);
const FIRST = 16 + ATTR.length;

describe("hand-made records", () => {
  test("PF1 bytes that are not perf.data are NOT_PERF_DATA; the legacy PERFFILE format is UNSUPPORTED", () => {
    const script = new TextEncoder().encode("#!/bin/sh\necho not perf data\n");
    expectError(script, "NOT_PERF_DATA", 0, /it starts with 23 21 2f 62 69 6e 2f 73, not PERFILE2/);
    const legacy = pipeStream();
    legacy.set(new TextEncoder().encode("PERFFILE"));
    expectError(legacy, "UNSUPPORTED", 0, /legacy PERFFILE/);
  });

  test("PF9 a sample naming an ID no attribute has is UNKNOWN_ID", () => {
    const identified = CPU_CLOCK_G | (1n << 16n);
    const attrs = [attrRecord(identified, [1n]), attrRecord(identified, [2n])];
    const sample = record(9, [...u64le(99n), ...sampleBody(5n, [])]);
    expectError(pipeStream(...attrs, sample), "UNKNOWN_ID", 16 + attrs[0]!.length + attrs[1]!.length, /event ID 99/);
  });

  test("PF4 a record of size 0 or 4 is BAD_RECORD at its offset, not a loop", () => {
    for (const size of [0, 4])
      expectError(pipeStream(ATTR, record(9, [], 0, size)), "BAD_RECORD", FIRST, /record size \d is below/);
  });

  test("PF5 a record larger than what follows is TRUNCATED at its offset", () => {
    expectError(pipeStream(ATTR, record(9, sampleBody(5n, [1n]), 0, 400)), "TRUNCATED", FIRST);
  });

  test("PF6 a call chain claiming more entries than the record holds is BAD_RECORD", () => {
    expectError(pipeStream(ATTR, record(9, sampleBody(5n, [1n, 2n], 2 ** 40))), "BAD_RECORD", FIRST, /callchain/);
  });

  test("PF7 an unknown sample_type bit is UNSUPPORTED, named", () => {
    expectError(pipeStream(attrRecord(CPU_CLOCK_G | (1n << 40n))), "UNSUPPORTED", 16, /bit 40/);
  });

  test("PF8 a sample before any attribute is BAD_RECORD", () => {
    expectError(pipeStream(record(9, sampleBody(5n, []))), "BAD_RECORD", 16);
  });

  test("records split across COMPRESSED records are joined, and carry the offset of the one that completes them", () => {
    const sample = record(9, sampleBody(1234n, [0xffffffffffffff80n, 0xffffffff81000000n]));
    const cut = 20;
    const first = record(81, [...zstdFrameHeader(), ...zstdRawBlock(sample.slice(0, cut))]);
    const second = record(81, zstdRawBlock(sample.slice(cut)));
    const data = readPerfData(pipeStream(ATTR, first, second));
    const samples = [...data.records()].filter((r) => r.kind === "sample");
    expect(samples).toHaveLength(1);
    expect(samples[0]).toMatchObject({ time: 1234n, offset: FIRST + first.length, pid: 7, tid: 7 });
    expect([...(samples[0]!.kind === "sample" ? samples[0]!.callchain! : [])]).toEqual([
      0xffffffffffffff80n,
      0xffffffff81000000n,
    ]);
  });

  test("PF10 a zstd window over maxZstdWindow is LIMIT before any allocation", () => {
    expectError(pipeStream(ATTR, record(81, zstdFrameHeader(0xf8))), "LIMIT", FIRST, /window/);
  });

  test("PF11 a zstd bomb (RLE blocks) is LIMIT once its record expands past maxDecompressedBytes", () => {
    const blocks = Array.from({ length: 600 }, () => zstdRleBlock(0, 128 * 1024)).flat();
    const bomb = pipeStream(ATTR, record(81, [...zstdFrameHeader(), ...blocks]));
    const before = process.memoryUsage().rss;
    expectError(bomb, "LIMIT", FIRST, /expands past the limit of 67108864/);
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024);
  });

  test("PF12 a COMPRESSED record inside compressed data is BAD_RECORD", () => {
    const inner = record(81, [1, 2, 3]);
    expectError(
      pipeStream(ATTR, record(81, [...zstdFrameHeader(), ...zstdRawBlock(inner)])),
      "BAD_RECORD",
      FIRST,
      /inside compressed/,
    );
  });

  test("PF13 zstd data that is not zstd is BAD_COMPRESSED", () => {
    expectError(pipeStream(ATTR, record(81, [1, 2, 3, 4, 5, 6, 7, 8])), "BAD_COMPRESSED", FIRST);
  });

  test("PF14 bad limits are refused by name", () => {
    expect(() => readPerfData(pipeStream(ATTR), { limits: { maxAttrs: -1 } })).toThrow(
      "limits.maxAttrs must be an integer >= 0, got -1",
    );
  });
});

const dir = mkdtempSync(join(tmpdir(), "perf-hostile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
const small = ["sh", "-c", "i=0; while [ $i -lt 4000 ]; do i=$((i+1)); done; ls / > /dev/null"];

describe.skipIf(cannot !== undefined)("real recordings, cut and mutated", () => {
  const files: Record<string, Uint8Array> = {};
  beforeAll(() => {
    for (const [name, args, pipe] of [
      ["file", [], false],
      ["pipe", [], true],
      ["file -z", ["-z"], false],
    ] as const) {
      const path = join(dir, `${name.replace(/\W/g, "")}.data`);
      perfRecord(path, [...args], { pipe, workload: small });
      files[name] = new Uint8Array(readFileSync(path));
    }
  }, 120_000);

  test("PF3 every prefix (each of the first and last 2 KiB, 300 between) reads or ends in a PerfDataError inside it", () => {
    const next = mulberry32(seedFrom("PERF_CUT_SEED", "perf cuts"));
    for (const [name, bytes] of Object.entries(files)) {
      const whole = readAll(bytes);
      expect(typeof whole, name).toBe("number");
      const cuts = new Set<number>();
      for (let i = 0; i < 2048; i++) cuts.add(Math.min(i, bytes.length)).add(Math.max(0, bytes.length - 1 - i));
      for (let i = 0; i < 300; i++) cuts.add(Math.floor(next() * bytes.length));
      for (const cut of cuts) {
        const result = readAll(bytes.subarray(0, cut));
        if (typeof result === "number") continue;
        expect(result, `${name} cut at ${cut}`).toBeInstanceOf(PerfDataError);
        expect((result as PerfDataError).offset).toBeLessThanOrEqual(cut);
      }
    }
  }, 900_000); // 237 s of the 300 s default in the whole suite at load 30 under nice 10

  test("PF2 file-header lies: sections past the data, attr sizes past their slot, too many attributes", () => {
    const bytes = files.file!;
    const edit = (at: number, value: bigint, width = 8) => {
      const copy = bytes.slice();
      const view = new DataView(copy.buffer);
      if (width === 8) view.setBigUint64(at, value, true);
      else view.setUint32(at, Number(value), true);
      return copy;
    };
    expectError(edit(32, 136n * 1_000_000n), "BAD_HEADER", 24, /attrs section/);
    expectError(edit(48, 1n << 40n), "TRUNCATED", 40, /data section/);
    const attrsAt = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(24, true));
    expectError(edit(attrsAt + 4, 4096n, 4), "BAD_HEADER", attrsAt + 4, /more than its/);
    const limited = readAll(bytes, { limits: { maxAttrs: 0 } });
    expect(limited).toMatchObject({ code: "LIMIT", offset: 24 });
  });

  test("fast-check: mutated recordings read, whole or as chunks, or end in a PerfDataError", async () => {
    const seed = seedFrom("PERF_FUZZ_SEED", "perf fuzz");
    const names = Object.keys(files);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...names),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 70000 }),
        async (name, edits, chunk) => {
          const bytes = files[name]!.slice();
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          const sync = readAll(bytes);
          if (typeof sync !== "number") expect(sync).toBeInstanceOf(PerfDataError);
          const chunks = Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) =>
            bytes.subarray(i * chunk, (i + 1) * chunk),
          );
          let streamed: number | unknown = 0;
          try {
            for await (const _ of streamPerfData(chunks).records()) streamed = (streamed as number) + 1;
          } catch (error) {
            streamed = error;
          }
          if (typeof streamed !== "number") expect(streamed).toBeInstanceOf(PerfDataError);
        },
      ),
      { seed, numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });
});
