// The shared zstd guard (src/zstd.ts) against the real zstd, over fzstd, over zstd's own decoder in
// WebAssembly (scripts/build-zstd-wasm.sh's) and over Node's own (node:zlib, where this Node has it): what it
// decodes, and each fault it reports; the WebAssembly module's shape and its allocator.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { nativeZstdEngine } from "../src/node/zstd-native.js";
import { type ZstdBounds, ZstdDecoder, type ZstdEngine, type ZstdFault } from "../src/zstd.js";
import { fzstdEngine } from "../src/zstd-fzstd.js";
import { loadZstdEngine } from "../src/zstd-wasm.js";
import zstdWasmBase64 from "../src/zstd-wasm-module.js";

class Fault extends Error {
  constructor(
    readonly fault: ZstdFault,
    detail: string,
  ) {
    super(detail);
  }
}

const zstd = (args: string[], input: Uint8Array) => new Uint8Array(execFileSync("zstd", args, { input }));

const wasm = (await loadZstdEngine())!;
const native = nativeZstdEngine();
let engine = fzstdEngine;

/** What `stream` decodes to, fed in pieces of `piece` bytes, through {@link engine}. */
function decode(
  stream: Uint8Array,
  bounds: ZstdBounds = { maxWindow: 8 << 20 },
  piece = stream.length || 1,
): Uint8Array {
  const decoder = new ZstdDecoder(bounds, (fault, detail) => new Fault(fault, detail), engine);
  const out: Uint8Array[] = [];
  for (let p = 0; p < stream.length; p += piece) out.push(...decoder.decode(stream.subarray(p, p + piece)));
  out.push(...decoder.end());
  return new Uint8Array(Buffer.concat(out));
}

function fault(call: () => unknown): [ZstdFault, string] {
  try {
    call();
  } catch (error) {
    if (error instanceof Fault) return [error.fault, error.message];
    throw error;
  }
  throw new Error("no fault");
}

test("zstd's own decoder loads here (Node)", () => {
  expect(wasm).toBeInstanceOf(Object);
});

/** The byte size of each function body in `module`'s code section (section 10). */
function bodySizes(module: Uint8Array): number[] {
  let p = 8;
  const leb = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = module[p++]!;
      value += (byte & 127) * 2 ** shift;
      if (byte < 128) return value;
    }
  };
  while (p < module.length) {
    const id = module[p++]!;
    const size = leb();
    const end = p + size;
    if (id === 10)
      return Array.from({ length: leb() }, () => {
        const body = leb();
        p += body;
        return body;
      });
    p = end;
  }
  return [];
}

test("the module imports nothing and has no function TurboFan takes long over (its hot one is a third of zstddec's)", () => {
  const bytes = Buffer.from(zstdWasmBase64, "base64");
  const module = new WebAssembly.Module(bytes);
  expect(WebAssembly.Module.imports(module)).toEqual([]);
  expect(
    WebAssembly.Module.exports(module)
      .map((e) => e.name)
      .sort(),
  ).toEqual([
    "ZSTD_DStreamOutSize",
    "ZSTD_createDCtx",
    "ZSTD_decompressStream",
    "ZSTD_freeDCtx",
    "free",
    "malloc",
    "memory",
  ]);
  // V8 tiers a hot function up to TurboFan within the first milliseconds of a -z recording: zstddec's 21.5 KB
  // block decoder (every sequence decoder inlined) cost ~100 ms of CPU on Node 20; a build with both sequence
  // decoders has a 12.6 KB one; the short-offset one alone, 8.2 KB.
  const sizes = bodySizes(bytes);
  expect(sizes.length).toBeGreaterThan(20);
  expect(Math.max(...sizes)).toBeLessThan(10_000);
});

test("the allocator reuses what is freed, merges free neighbours, grows memory and refuses past it", () => {
  const z = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(zstdWasmBase64, "base64")))
    .exports as unknown as { memory: WebAssembly.Memory; malloc(n: number): number; free(at: number): void };
  const a = z.malloc(1000);
  const b = z.malloc(1000);
  const c = z.malloc(1000);
  expect(new Set([a, b, c]).size).toBe(3);
  expect([a % 8, b % 8, c % 8]).toEqual([0, 0, 0]);
  expect(b - a).toBeGreaterThanOrEqual(1000);
  z.free(b);
  expect(z.malloc(500)).toBe(b);
  z.free(b);
  z.free(a);
  // a and b free side by side: one block of 2,000 bytes and more fits at a.
  expect(z.malloc(2000)).toBe(a);
  const pages = z.memory.buffer.byteLength / 65536;
  const big = z.malloc(8 << 20);
  expect(big).toBeGreaterThan(c);
  expect(z.memory.buffer.byteLength / 65536).toBeGreaterThan(pages + 127);
  new Uint8Array(z.memory.buffer, big, 8 << 20).fill(7);
  expect(z.malloc(0x7ff00001)).toBe(0);
  expect(z.malloc(2 ** 32 - 8)).toBe(0);
  z.free(0);
});

const engines: [string, () => ZstdEngine][] = [
  ["fzstd", () => fzstdEngine],
  ["zstd's own decoder in WebAssembly", () => wasm],
];
// Node 20 has none: zstd-engines.test.ts checks it is there wherever node:zlib has zstd.
if (native) engines.push(["Node's own zstd (node:zlib)", () => native]);

describe.each(engines)("ZstdDecoder over %s", (_, use) => {
  beforeAll(() => {
    engine = use();
  });
  afterAll(() => {
    engine = fzstdEngine;
  });

  test("decodes what the real zstd decodes, whole or in pieces that cut its headers, with or without checksums", () => {
    const data = new Uint8Array(Buffer.concat([randomBytes(70_000), Buffer.alloc(300_000, 7)]));
    for (const args of [["-c"], ["-c", "--no-check"], ["-19", "-c"]]) {
      const stream = zstd(args, data);
      expect(Buffer.compare(zstd(["-d", "-c"], stream), data)).toBe(0);
      expect(Buffer.compare(decode(stream), data)).toBe(0);
      expect(Buffer.compare(decode(stream, undefined, 997), data)).toBe(0);
    }
  });

  test("a frame ending in an empty last block and no checksum ends cleanly (zstd --no-check of nothing)", () => {
    const empty = zstd(["-c", "--no-check"], new Uint8Array(0));
    const two = new Uint8Array([...zstd(["-c", "--no-check"], new Uint8Array([1, 2, 3])), ...empty]);
    expect(zstd(["-d", "-c"], two)).toEqual(new Uint8Array([1, 2, 3]));
    expect(decode(empty)).toEqual(new Uint8Array(0));
    expect(decode(two)).toEqual(new Uint8Array([1, 2, 3]));
    expect(decode(two, undefined, 1)).toEqual(new Uint8Array([1, 2, 3]));
  });

  test("each fault, with the value that caused it", () => {
    const stream = zstd(["-c", "--no-check"], new Uint8Array(200_000).fill(1));
    expect(fault(() => decode(stream, { maxWindow: 1000 }))).toEqual([
      "LIMIT",
      expect.stringMatching(/^a zstd frame names a window of \d+ bytes, past the limit of 1000$/),
    ]);
    expect(fault(() => decode(stream.subarray(0, stream.length - 1)))[0]).toBe("TRUNCATED");
    expect(fault(() => decode(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])))).toEqual([
      "CORRUPT",
      "a zstd frame starts with 0x4030201, not the magic 0xfd2fb528",
    ]);
    const reserved = stream.slice();
    reserved[4]! |= 8;
    expect(fault(() => decode(reserved))[0]).toBe("CORRUPT");
  });

  test("boundBlocks refuses a frame of 1-byte blocks under a large window; off, it decodes it", () => {
    const n = 200;
    const frame = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3];
    for (let i = 0; i < n; i++) frame.push((1 << 3) | (i === n - 1 ? 1 : 0), 0, 0, i & 0xff);
    const stream = new Uint8Array(frame);
    expect(decode(stream)).toEqual(new Uint8Array(Array.from({ length: n }, (_, i) => i & 0xff)));
    expect(fault(() => decode(stream, { maxWindow: 8 << 20, boundBlocks: true }))).toEqual([
      "LIMIT",
      expect.stringMatching(/blocks this small/),
    ]);
  });

  test("a block's output comes when its end arrives, whole, as fzstd gives it (zstd's own gives a raw block's bytes as they come)", () => {
    // Random bytes: zstd stores them in one raw block.
    const stream = zstd(["-c", "--no-check"], randomBytes(5000));
    const decoder = new ZstdDecoder({ maxWindow: 8 << 20 }, (f, detail) => new Fault(f, detail), engine);
    const cut = stream.length - 100;
    expect([...decoder.decode(stream.subarray(0, cut))]).toEqual([]);
    const rest = [...decoder.decode(stream.subarray(cut)), ...decoder.end()];
    expect(rest.map((c) => c.length)).toEqual([5000]);
  });

  test("a corrupt block is CORRUPT; two streams decoded in turns keep apart", () => {
    const data = new Uint8Array(Buffer.concat([randomBytes(40_000), Buffer.alloc(200_000, 3), randomBytes(9)]));
    const stream = zstd(["-c", "--no-check"], data);
    // Its last block made garbage.
    const bad = stream.slice();
    bad.fill(0xff, bad.length - 12, bad.length - 1);
    expect(fault(() => decode(bad))[0]).toBe("CORRUPT");
    const other = zstd(["-c"], data.slice().reverse());
    const fail = (f: ZstdFault, detail: string) => new Fault(f, detail);
    const a = new ZstdDecoder({ maxWindow: 8 << 20 }, fail, engine);
    const b = new ZstdDecoder({ maxWindow: 8 << 20 }, fail, engine);
    const outA: Uint8Array[] = [];
    const outB: Uint8Array[] = [];
    for (let p = 0; p < Math.max(stream.length, other.length); p += 1000) {
      outA.push(...a.decode(stream.subarray(p, p + 1000)));
      outB.push(...b.decode(other.subarray(p, p + 1000)));
    }
    outA.push(...a.end());
    outB.push(...b.end());
    expect(Buffer.compare(Buffer.concat(outA), data)).toBe(0);
    expect(Buffer.compare(Buffer.concat(outB), data.slice().reverse())).toBe(0);
  });
});

test.skipIf(native === undefined)(
  "Node's own zstd: a corrupt block is CORRUPT with zstd's code, and the decoder refuses more after it",
  () => {
    const data = new Uint8Array(Buffer.concat([randomBytes(1000), Buffer.alloc(100_000, 5)]));
    const bad = zstd(["-c", "--no-check"], data);
    bad.fill(0xff, bad.length - 12, bad.length - 1);
    const stream = native!.stream((f, detail) => new Fault(f, detail));
    expect(fault(() => stream.decode(bad, false))).toEqual(["CORRUPT", "zstd: error 20"]);
    // Node closed its handle: writing to it would abort the process.
    expect(fault(() => stream.decode(new Uint8Array([1]), false))[0]).toBe("CORRUPT");
  },
);
