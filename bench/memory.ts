// Memory per live entry, and the JS heap across many batched lookups, measured in a fresh child
// process: in the parent, code compiled or flushed by the matrix moves heapUsed by megabytes.
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createLRU } from "lru.min";
import { LRUCache } from "lru-cache";
import { LRUCacheWithDelete } from "mnemonist";
import { BUILD_ID_MAX, BuildIdCache } from "../src/index.js";
import { makeUniverse, prng, shuffle, writeBuildId } from "./keys.js";
import type { Impl, NativeId } from "./results.js";

/** A full garbage collection: `global.gc` under --expose-gc, else V8's flag set at run time. */
export const collect: () => void = (() => {
  if (typeof globalThis.gc === "function") return globalThis.gc as () => void;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

function settle(): NodeJS.MemoryUsage {
  collect();
  collect();
  return process.memoryUsage();
}

// Also turns the event loop between GCs, so the finalizers of wasm instances built earlier have run.
async function settleAll(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    settle();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return settle();
}

/** Bytes one implementation holds for `entries` live entries, by kind. */
export interface MemoryRow {
  id: Impl;
  entries: number;
  /** JS heap (`heapUsed` after a full GC). */
  heapBytes: number;
  /** ArrayBuffers outside the heap (`arrayBuffers`). */
  bufferBytes: number;
  /** WebAssembly linear memory (`stats().memoryBytes`), or the native table's index and entries. */
  wasmBytes: number;
  /** Everything, per live entry. */
  perEntry: number;
}

const MEMORY_IDS = ["batch", "map-bigint", "map-number", "lru-cache", "mnemonist", "lru.min"] as const;

type Held = { keep: unknown; wasmBytes: number };

// Fresh keys and fresh Uint8Array(20) values: a structure is charged for everything it keeps.
async function hold(id: (typeof MEMORY_IDS)[number], n: number): Promise<Held> {
  const u64 = new BigUint64Array(n);
  for (let i = 0; i < n; i++) u64[i] = 0xffff888000000000n + BigInt(Math.floor(i / 14) * 16384 + (i % 14) * 1128);
  const value = (i: number) => {
    const v = new Uint8Array(BUILD_ID_MAX);
    writeBuildId(i, v, 0);
    return v;
  };
  switch (id) {
    case "batch": {
      const cache = await BuildIdCache.create({ capacity: n });
      const ids = new Uint8Array(n * BUILD_ID_MAX);
      for (let i = 0; i < n; i++) writeBuildId(i, ids, i * BUILD_ID_MAX);
      cache.setMany(u64, ids, BUILD_ID_MAX);
      return { keep: cache, wasmBytes: cache.stats().memoryBytes };
    }
    case "map-bigint": {
      const map = new Map<bigint, Uint8Array>();
      for (let i = 0; i < n; i++) map.set(u64[i]!, value(i));
      return { keep: map, wasmBytes: 0 };
    }
    case "map-number": {
      const map = new Map<number, Uint8Array>();
      for (let i = 0; i < n; i++) map.set(Number(u64[i]! & 0xffffffffffffn), value(i));
      return { keep: map, wasmBytes: 0 };
    }
    case "lru-cache": {
      const cache = new LRUCache<bigint, Uint8Array>({ max: n });
      for (let i = 0; i < n; i++) cache.set(u64[i]!, value(i));
      return { keep: cache, wasmBytes: 0 };
    }
    case "mnemonist": {
      const cache = new LRUCacheWithDelete<bigint, Uint8Array>(n);
      for (let i = 0; i < n; i++) cache.set(u64[i]!, value(i));
      return { keep: cache, wasmBytes: 0 };
    }
    case "lru.min": {
      const cache = createLRU<bigint, Uint8Array>({ max: n });
      for (let i = 0; i < n; i++) cache.set(u64[i]!, value(i));
      return { keep: cache, wasmBytes: 0 };
    }
  }
}

/** Builds measured per structure; the median is reported, as a first build also pays the process's one-time lazy allocations. */
const BUILDS = 3;

async function memoryRow(id: (typeof MEMORY_IDS)[number], entries: number, builds: number): Promise<MemoryRow> {
  const rows: MemoryRow[] = [];
  // One build per call, so nothing of the last one is still alive when the next starts.
  for (let i = 0; i < builds; i++) rows.push(await measureOnce(id, entries));
  return rows.sort((x, y) => x.perEntry - y.perEntry)[builds >> 1]!;
}

async function measureOnce(id: (typeof MEMORY_IDS)[number], entries: number): Promise<MemoryRow> {
  const before = await settleAll();
  const held = await hold(id, entries);
  const after = await settleAll();
  const heapBytes = after.heapUsed - before.heapUsed;
  const bufferBytes = after.arrayBuffers - before.arrayBuffers;
  const total = heapBytes + bufferBytes + held.wasmBytes;
  if (held.keep === undefined) throw new Error("unreachable: keeps the structure alive until measured");
  (held.keep as { dispose?: () => void }).dispose?.();
  return { id, entries, heapBytes, bufferBytes, wasmBytes: held.wasmBytes, perEntry: total / entries };
}

/**
 * Memory of each JS-side implementation holding `entries` slab-like keys, and the heap around
 * `lookups` lookups; `natives` adds the bytes each native table reported for as many entries.
 * `builds` per structure (the median is reported): one for `--quick`, whose 288 full GCs at three took 5 s of CPU.
 */
export function measureMemory(
  entries: number,
  lookups: number,
  natives: Partial<Record<NativeId, number>>,
  builds = BUILDS,
): { memory: MemoryRow[]; heap: HeapGrowth[] } {
  const tsx = import.meta.resolve("tsx");
  const script = fileURLToPath(import.meta.url);
  const args = ["--expose-gc", "--import", tsx, script, String(entries), String(lookups), String(builds)];
  const result = JSON.parse(execFileSync(process.execPath, args, { encoding: "utf8" })) as {
    memory: MemoryRow[];
    heap: HeapGrowth[];
  };
  for (const [id, bytes] of Object.entries(natives) as [NativeId, number][])
    result.memory.push({ id, entries, heapBytes: 0, bufferBytes: 0, wasmBytes: bytes, perEntry: bytes / entries });
  return result;
}

/** JS heap before and after a run of lookups, each taken after a full GC. */
export interface HeapGrowth {
  api: "getMany" | "getBytes";
  lookups: number;
  before: number;
  after: number;
  growth: number;
}

// Runs `lookups` hits through getMany (in calls of `entries` keys) and through getBytes.
async function heapGrowth(entries: number, lookups: number): Promise<HeapGrowth[]> {
  const universe = makeUniverse("slab", entries, entries, 1);
  const cache = await BuildIdCache.create({ capacity: entries });
  cache.setMany(universe.u64, universe.ids, BUILD_ID_MAX);
  const order = shuffle(new BigUint64Array(universe.u64), prng(2));
  const big = Array.from(order);
  const out = new Uint8Array(entries * BUILD_ID_MAX);
  const lengths = new Uint8Array(entries);
  const one = new Uint8Array(BUILD_ID_MAX);
  const calls = Math.ceil(lookups / entries);
  const batched = () => {
    let hits = 0;
    for (let c = 0; c < calls; c++) hits += cache.getMany(order, out, lengths);
    return hits;
  };
  const single = () => {
    let hits = 0;
    for (let c = 0; c < calls; c++) for (let i = 0; i < big.length; i++) if (cache.getBytes(big[i]!, one) !== 0) hits++;
    return hits;
  };
  const runs = [
    ["getMany", batched],
    ["getBytes", single],
  ] as const;
  for (const [, run] of [...runs, ...runs]) run(); // optimized code is installed before any measurement
  const rows: HeapGrowth[] = [];
  for (const [api, run] of runs) {
    const before = settle().heapUsed;
    const hits = run();
    const after = settle().heapUsed;
    if (hits !== calls * entries) throw new Error(`${api}: ${hits} hits of ${calls * entries} lookups of present keys`);
    rows.push({ api, lookups: calls * entries, before, after, growth: after - before });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [entries, lookups, builds = BUILDS] = process.argv.slice(2).map(Number);
  if (!Number.isInteger(entries) || !Number.isInteger(lookups) || !(builds >= 1))
    throw new Error("usage: memory.ts <entries> <lookups> [builds]");
  // Load and compile every implementation first, so no code is charged to a table.
  for (const id of MEMORY_IDS) await hold(id, 64);
  const memory: MemoryRow[] = [];
  for (const id of MEMORY_IDS) memory.push(await memoryRow(id, entries!, builds));
  const heap = await heapGrowth(entries!, lookups!);
  process.stdout.write(JSON.stringify({ memory, heap }));
}
