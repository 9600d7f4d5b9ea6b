// Limits: capacities past the ceiling are refused before anything is allocated, the largest allowed
// capacity works or is a RangeError, a memory grow that fails is an error (not a trap), and the
// counters are 64 bits wide.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { BUILD_ID_MAX, BuildIdCache, MAX_CAPACITY } from "../src/index.js";
import { ENTRY_SIZE } from "../src/layout.js";
import { instantiateCore } from "../src/wasm.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

/** Not WebAssembly at all: a cache that got as far as loading its core would fail to compile it. */
const notWasm = new Uint8Array([1, 2, 3]);

describe("capacity", () => {
  test.each([
    [MAX_CAPACITY + 1, "16777216"],
    [2 ** 32, "4294967296"],
    [2 ** 53, "9007199254740992"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    [Number.NaN, "NaN"],
    [0, "0"],
    [-1, "-1"],
    [1.5, "1.5"],
  ])("capacity %s is refused before the core is even loaded", async (capacity, shown) => {
    await expect(BuildIdCache.create({ capacity, wasm: notWasm })).rejects.toThrow(
      new RangeError(`capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${shown}`),
    );
  });

  test("a restore into a capacity past the ceiling is refused the same way", async () => {
    const small = await BuildIdCache.create({ capacity: 2 });
    await expect(BuildIdCache.restore(small.snapshot(), { capacity: MAX_CAPACITY + 1, wasm: notWasm })).rejects.toThrow(
      new RangeError(`capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${MAX_CAPACITY + 1}`),
    );
  });

  test("the largest capacity either works or is a RangeError, never a trap", async () => {
    let cache: BuildIdCache | undefined;
    try {
      cache = await BuildIdCache.create({ capacity: MAX_CAPACITY });
    } catch (error) {
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toBe(`capacity ${MAX_CAPACITY} does not fit in WebAssembly memory`);
      return;
    }
    const stats = cache.stats();
    expect(stats.capacity).toBe(MAX_CAPACITY);
    // 29-byte entries and 64-byte buckets of 15 slots at most 7/8 full, inside a 32-bit address space.
    expect(stats.reservedBytes).toBeGreaterThanOrEqual(MAX_CAPACITY * (ENTRY_SIZE + ((64 / 15) * 8) / 7));
    expect(stats.memoryBytes).toBeLessThan(2 ** 32);
    const keys = BigUint64Array.from({ length: 5000 }, (_, i) => 0xffff_8880_0000_0000n + BigInt(i) * 1128n);
    cache.setMany(keys, new Uint8Array(keys.length * BUILD_ID_MAX).fill(0xab), BUILD_ID_MAX);
    expect(cache.getMany(keys, new Uint8Array(keys.length * BUILD_ID_MAX), new Uint8Array(keys.length))).toBe(
      keys.length,
    );
    cache.dispose();
  });
});

describe("memory", () => {
  test("a memory grow that fails is a RangeError, and smaller caches still work in that process", async () => {
    // V8's cap on wasm memory pages: 64 pages (4 MiB) cannot hold a million entries.
    const { stdout } = await run(
      process.execPath,
      ["--wasm-max-mem-pages=64", "--import", "tsx", "test/helpers/memory-ceiling.ts", "1000000"],
      { cwd: root },
    );
    const noRoom = { error: "RangeError", message: "capacity 1000000 does not fit in WebAssembly memory" };
    expect(JSON.parse(stdout)).toEqual({
      tooBig: noRoom,
      fits: { size: 1 },
      restoreTooBig: noRoom,
      restoreFits: { size: 2 },
    });
  });
});

describe("counters", () => {
  test("hit, miss, insert and eviction counters are 64-bit: they carry past 2^32 and 2^53", async () => {
    const core = await instantiateCore();
    core.init(1);
    const at = core.ioIds.value as number;
    for (const start of [2n ** 32n - 1n, 2n ** 53n - 1n, 2n ** 63n - 1n]) {
      core.clear();
      for (const counter of [core.hits, core.misses, core.inserts, core.evictions]) counter.value = start;
      core.insert(1n, at, 4);
      core.insert(2n, at, 4); // evicts key 1
      expect(core.lookup(2n, at)).toBe(4);
      expect(core.lookup(1n, at)).toBe(0);
      // i64 globals read back signed; as u64 each counter moved on by exactly its events.
      const read = (g: WebAssembly.Global) => BigInt.asUintN(64, g.value as bigint);
      expect([read(core.hits), read(core.misses), read(core.inserts), read(core.evictions)]).toEqual([
        start + 1n,
        start + 1n,
        start + 2n,
        start + 1n,
      ]);
    }
  });
});
