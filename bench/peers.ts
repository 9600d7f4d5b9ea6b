// The implementations the matrix compares, each behind the same small interface. Every one has
// its own hand-written loops: a shared generic loop would see several receiver types at one call
// site and measure V8's megamorphic dispatch instead of the implementation.

import { createLRU } from "lru.min";
import { LRUCache } from "lru-cache";
import { do_not_optimize } from "mitata";
import { LRUCacheWithDelete } from "mnemonist";
import { BUILD_ID_MAX, BuildIdCache } from "../src/index.js";
import { instantiateCore } from "../src/wasm.js";
import type { KeySet, Universe } from "./keys.js";
import type { ContenderId } from "./results.js";

/** The operations one implementation runs against a table holding the universe's live keys. */
export interface Contender {
  readonly id: ContenderId;
  /** When true, every pass returns the nanoseconds spent inside the core instead of a count. */
  readonly manual: boolean;
  /** Inserts the live keys. */
  fill(): void;
  /** Looks every key up, reading the value; returns hits (or nanoseconds when `manual`). */
  hit(keys: KeySet): number;
  /** Looks up keys that are absent; returns hits (or nanoseconds when `manual`). */
  miss(keys: KeySet): number;
  /** Inserts keys that are absent (into a table below capacity); returns 0 (or nanoseconds when `manual`). */
  insert(keys: KeySet): number;
  /** Deletes keys that are present; returns 0 (or nanoseconds when `manual`). */
  remove(keys: KeySet): number;
  /** Sets `count` keys from `pool[from]` on into the full table; each absent one evicts. */
  churn?(pool: KeySet, from: number, count: number): void;
  /** Get-or-insert over `stream` on a table of its capacity; returns hits. */
  zipf?(stream: KeySet): number;
  /** Copies the build ID of each key to `out` at `i * BUILD_ID_MAX` and its length to `lengths[i]`. */
  read(keys: KeySet, out: Uint8Array, lengths: Uint8Array): void;
  /** Live entries. */
  size(): number;
  /** Bytes of the table's linear memory (the raw core only). */
  tableBytes?(): number;
}

/** Largest key count one call of an operation gets: the size of the batch output buffers. */
export const MAX_KEYS_PER_CALL = 65536;

async function batchContender(universe: Universe, capacity: number): Promise<Contender> {
  const cache = await BuildIdCache.create({ capacity });
  const out = new Uint8Array(MAX_KEYS_PER_CALL * BUILD_ID_MAX);
  const lengths = new Uint8Array(MAX_KEYS_PER_CALL);
  const missKeys = new BigUint64Array(1024);
  const missIds = new Uint8Array(1024 * BUILD_ID_MAX);
  return {
    id: "batch",
    manual: false,
    fill() {
      cache.setMany(
        universe.u64.subarray(0, universe.live),
        universe.ids.subarray(0, universe.live * BUILD_ID_MAX),
        BUILD_ID_MAX,
      );
    },
    hit: (keys) => cache.getMany(keys.u64, out, lengths),
    miss: (keys) => cache.getMany(keys.u64, out, lengths),
    insert(keys) {
      cache.setMany(keys.u64, keys.ids, BUILD_ID_MAX);
      return 0;
    },
    remove(keys) {
      cache.deleteMany(keys.u64);
      return 0;
    },
    churn(pool, from, count) {
      const end = from + count;
      cache.setMany(
        pool.u64.subarray(from, end),
        pool.ids.subarray(from * BUILD_ID_MAX, end * BUILD_ID_MAX),
        BUILD_ID_MAX,
      );
    },
    zipf(stream) {
      let hits = 0;
      for (let start = 0; start < stream.length; start += missKeys.length) {
        const n = Math.min(missKeys.length, stream.length - start);
        hits += cache.getMany(stream.u64.subarray(start, start + n), out, lengths);
        let misses = 0;
        for (let i = 0; i < n; i++) {
          if (lengths[i] !== 0) continue;
          missKeys[misses] = stream.u64[start + i]!;
          missIds.set(stream.values[start + i]!, misses * BUILD_ID_MAX);
          misses++;
        }
        if (misses > 0) cache.setMany(missKeys.subarray(0, misses), missIds, BUILD_ID_MAX);
      }
      return hits;
    },
    read(keys, to, lens) {
      cache.getMany(keys.u64, to, lens);
    },
    size: () => cache.size,
  };
}

async function singleContender(universe: Universe, capacity: number): Promise<Contender> {
  const cache = await BuildIdCache.create({ capacity });
  const out = new Uint8Array(BUILD_ID_MAX);
  return {
    id: "single",
    manual: false,
    fill() {
      for (let i = 0; i < universe.live; i++) cache.set(universe.big[i]!, universe.values[i]!);
    },
    hit(keys) {
      const big = keys.big;
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < big.length; i++) {
        if (cache.getBytes(big[i]!, out) !== 0) {
          hits++;
          sum += out[19]!;
        }
      }
      do_not_optimize(sum);
      return hits;
    },
    miss(keys) {
      const big = keys.big;
      let hits = 0;
      for (let i = 0; i < big.length; i++) if (cache.getBytes(big[i]!, out) !== 0) hits++;
      return hits;
    },
    insert(keys) {
      for (let i = 0; i < keys.length; i++) cache.set(keys.big[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      for (let i = 0; i < keys.length; i++) cache.delete(keys.big[i]!);
      return 0;
    },
    churn(pool, from, count) {
      for (let i = from; i < from + count; i++) cache.set(pool.big[i]!, pool.values[i]!);
    },
    zipf(stream) {
      let hits = 0;
      for (let i = 0; i < stream.length; i++) {
        if (cache.getBytes(stream.big[i]!, out) !== 0) hits++;
        else cache.set(stream.big[i]!, stream.values[i]!);
      }
      return hits;
    },
    read(keys, to, lens) {
      for (let i = 0; i < keys.length; i++) lens[i] = cache.getBytes(keys.big[i]!, to, i * BUILD_ID_MAX);
    },
    size: () => cache.size,
  };
}

async function wasmContender(universe: Universe, capacity: number): Promise<Contender> {
  const core = await instantiateCore();
  if (core.init(capacity) !== 0) throw new Error(`core init(${capacity}) failed`);
  const batch = core.BATCH.value as number;
  const bytes = new Uint8Array(core.memory.buffer);
  const words = new BigUint64Array(core.memory.buffer);
  const ioKeys = (core.ioKeys.value as number) / 8;
  const ioIds = core.ioIds.value as number;
  const ioLens = core.ioLens.value as number;
  const { lookupMany, insertMany, removeMany } = core;
  // Keys (and ids) are staged into the I/O region outside the timed span: this row is the core alone.
  const stage = (keys: KeySet, start: number, n: number, ids: boolean) => {
    words.set(keys.u64.subarray(start, start + n), ioKeys);
    if (!ids) return;
    bytes.set(keys.ids.subarray(start * BUILD_ID_MAX, (start + n) * BUILD_ID_MAX), ioIds);
    bytes.fill(BUILD_ID_MAX, ioLens, ioLens + n);
  };
  const timed = (keys: KeySet, call: (n: number) => number, ids: boolean): number => {
    let ns = 0;
    for (let start = 0; start < keys.length; start += batch) {
      const n = Math.min(batch, keys.length - start);
      stage(keys, start, n, ids);
      const t0 = performance.now();
      call(n);
      ns += performance.now() - t0;
    }
    return ns * 1e6;
  };
  return {
    id: "wasm",
    manual: true,
    fill() {
      for (let start = 0; start < universe.live; start += batch) {
        const n = Math.min(batch, universe.live - start);
        stage(universe, start, n, true);
        insertMany(n);
      }
    },
    hit: (keys) => timed(keys, lookupMany, false),
    miss: (keys) => timed(keys, lookupMany, false),
    insert: (keys) => timed(keys, insertMany, true),
    remove: (keys) => timed(keys, removeMany, false),
    read(keys, to, lens) {
      for (let start = 0; start < keys.length; start += batch) {
        const n = Math.min(batch, keys.length - start);
        stage(keys, start, n, false);
        lookupMany(n);
        to.set(bytes.subarray(ioIds, ioIds + n * BUILD_ID_MAX), start * BUILD_ID_MAX);
        lens.set(bytes.subarray(ioLens, ioLens + n), start);
      }
    },
    size: () => core.count.value as number,
    tableBytes: () => core.memory.buffer.byteLength,
  };
}

function mapBigintContender(universe: Universe): Contender {
  const map = new Map<bigint, Uint8Array>();
  const all = universe.length;
  return {
    id: "map-bigint",
    manual: false,
    fill() {
      for (let i = 0; i < universe.live; i++) map.set(universe.big[i]!, universe.values[i]!);
    },
    hit(keys) {
      const big = keys.big;
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < big.length; i++) {
        const v = map.get(big[i]!);
        if (v !== undefined) {
          hits++;
          sum += v[19]!;
        }
      }
      do_not_optimize(sum);
      return hits;
    },
    miss(keys) {
      const big = keys.big;
      let hits = 0;
      for (let i = 0; i < big.length; i++) if (map.get(big[i]!) !== undefined) hits++;
      return hits;
    },
    insert(keys) {
      for (let i = 0; i < keys.length; i++) map.set(keys.big[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      for (let i = 0; i < keys.length; i++) map.delete(keys.big[i]!);
      return 0;
    },
    // A Map has no capacity: it evicts FIFO, the key inserted `live` inserts ago.
    churn(pool, from, count) {
      for (let i = from; i < from + count; i++) {
        map.delete(universe.big[(pool.idx[i]! + universe.live) % all]!);
        map.set(pool.big[i]!, pool.values[i]!);
      }
    },
    read(keys, to, lens) {
      for (let i = 0; i < keys.length; i++) {
        const v = map.get(keys.big[i]!);
        lens[i] = v === undefined ? 0 : v.length;
        if (v !== undefined) to.set(v, i * BUILD_ID_MAX);
      }
    },
    size: () => map.size,
  };
}

function mapNumberContender(universe: Universe): Contender {
  const map = new Map<number, Uint8Array>();
  const all = universe.length;
  return {
    id: "map-number",
    manual: false,
    fill() {
      for (let i = 0; i < universe.live; i++) map.set(universe.num[i]!, universe.values[i]!);
    },
    hit(keys) {
      const num = keys.num;
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < num.length; i++) {
        const v = map.get(num[i]!);
        if (v !== undefined) {
          hits++;
          sum += v[19]!;
        }
      }
      do_not_optimize(sum);
      return hits;
    },
    miss(keys) {
      const num = keys.num;
      let hits = 0;
      for (let i = 0; i < num.length; i++) if (map.get(num[i]!) !== undefined) hits++;
      return hits;
    },
    insert(keys) {
      for (let i = 0; i < keys.length; i++) map.set(keys.num[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      for (let i = 0; i < keys.length; i++) map.delete(keys.num[i]!);
      return 0;
    },
    churn(pool, from, count) {
      for (let i = from; i < from + count; i++) {
        map.delete(universe.num[(pool.idx[i]! + universe.live) % all]!);
        map.set(pool.num[i]!, pool.values[i]!);
      }
    },
    read(keys, to, lens) {
      for (let i = 0; i < keys.length; i++) {
        const v = map.get(keys.num[i]!);
        lens[i] = v === undefined ? 0 : v.length;
        if (v !== undefined) to.set(v, i * BUILD_ID_MAX);
      }
    },
    size: () => map.size,
  };
}

function lruCacheContender(universe: Universe, capacity: number): Contender {
  const cache = new LRUCache<bigint, Uint8Array>({ max: capacity });
  return {
    id: "lru-cache",
    manual: false,
    fill() {
      for (let i = 0; i < universe.live; i++) cache.set(universe.big[i]!, universe.values[i]!);
    },
    hit(keys) {
      const big = keys.big;
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < big.length; i++) {
        const v = cache.get(big[i]!);
        if (v !== undefined) {
          hits++;
          sum += v[19]!;
        }
      }
      do_not_optimize(sum);
      return hits;
    },
    miss(keys) {
      const big = keys.big;
      let hits = 0;
      for (let i = 0; i < big.length; i++) if (cache.get(big[i]!) !== undefined) hits++;
      return hits;
    },
    insert(keys) {
      for (let i = 0; i < keys.length; i++) cache.set(keys.big[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      for (let i = 0; i < keys.length; i++) cache.delete(keys.big[i]!);
      return 0;
    },
    churn(pool, from, count) {
      for (let i = from; i < from + count; i++) cache.set(pool.big[i]!, pool.values[i]!);
    },
    zipf(stream) {
      let hits = 0;
      for (let i = 0; i < stream.length; i++) {
        if (cache.get(stream.big[i]!) !== undefined) hits++;
        else cache.set(stream.big[i]!, stream.values[i]!);
      }
      return hits;
    },
    read(keys, to, lens) {
      for (let i = 0; i < keys.length; i++) {
        const v = cache.get(keys.big[i]!);
        lens[i] = v === undefined ? 0 : v.length;
        if (v !== undefined) to.set(v, i * BUILD_ID_MAX);
      }
    },
    size: () => cache.size,
  };
}

// mnemonist's LRUCache has no delete; LRUCacheWithDelete is the same class with one.
function mnemonistContender(universe: Universe, capacity: number): Contender {
  const cache = new LRUCacheWithDelete<bigint, Uint8Array>(capacity);
  return {
    id: "mnemonist",
    manual: false,
    fill() {
      for (let i = 0; i < universe.live; i++) cache.set(universe.big[i]!, universe.values[i]!);
    },
    hit(keys) {
      const big = keys.big;
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < big.length; i++) {
        const v = cache.get(big[i]!);
        if (v !== undefined) {
          hits++;
          sum += v[19]!;
        }
      }
      do_not_optimize(sum);
      return hits;
    },
    miss(keys) {
      const big = keys.big;
      let hits = 0;
      for (let i = 0; i < big.length; i++) if (cache.get(big[i]!) !== undefined) hits++;
      return hits;
    },
    insert(keys) {
      for (let i = 0; i < keys.length; i++) cache.set(keys.big[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      for (let i = 0; i < keys.length; i++) cache.delete(keys.big[i]!);
      return 0;
    },
    churn(pool, from, count) {
      for (let i = from; i < from + count; i++) cache.set(pool.big[i]!, pool.values[i]!);
    },
    zipf(stream) {
      let hits = 0;
      for (let i = 0; i < stream.length; i++) {
        if (cache.get(stream.big[i]!) !== undefined) hits++;
        else cache.set(stream.big[i]!, stream.values[i]!);
      }
      return hits;
    },
    read(keys, to, lens) {
      for (let i = 0; i < keys.length; i++) {
        const v = cache.get(keys.big[i]!);
        lens[i] = v === undefined ? 0 : v.length;
        if (v !== undefined) to.set(v, i * BUILD_ID_MAX);
      }
    },
    size: () => cache.size,
  };
}

function lruMinContender(universe: Universe, capacity: number): Contender {
  const cache = createLRU<bigint, Uint8Array>({ max: capacity });
  return {
    id: "lru.min",
    manual: false,
    fill() {
      for (let i = 0; i < universe.live; i++) cache.set(universe.big[i]!, universe.values[i]!);
    },
    hit(keys) {
      const big = keys.big;
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < big.length; i++) {
        const v = cache.get(big[i]!);
        if (v !== undefined) {
          hits++;
          sum += v[19]!;
        }
      }
      do_not_optimize(sum);
      return hits;
    },
    miss(keys) {
      const big = keys.big;
      let hits = 0;
      for (let i = 0; i < big.length; i++) if (cache.get(big[i]!) !== undefined) hits++;
      return hits;
    },
    insert(keys) {
      for (let i = 0; i < keys.length; i++) cache.set(keys.big[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      for (let i = 0; i < keys.length; i++) cache.delete(keys.big[i]!);
      return 0;
    },
    churn(pool, from, count) {
      for (let i = from; i < from + count; i++) cache.set(pool.big[i]!, pool.values[i]!);
    },
    zipf(stream) {
      let hits = 0;
      for (let i = 0; i < stream.length; i++) {
        if (cache.get(stream.big[i]!) !== undefined) hits++;
        else cache.set(stream.big[i]!, stream.values[i]!);
      }
      return hits;
    },
    read(keys, to, lens) {
      for (let i = 0; i < keys.length; i++) {
        const v = cache.get(keys.big[i]!);
        lens[i] = v === undefined ? 0 : v.length;
        if (v !== undefined) to.set(v, i * BUILD_ID_MAX);
      }
    },
    size: () => cache.size,
  };
}

/** A new, empty `id` for the keys of `universe`, holding at most `capacity` entries where it is bounded. */
export async function createContender(id: ContenderId, universe: Universe, capacity: number): Promise<Contender> {
  switch (id) {
    case "batch":
      return batchContender(universe, capacity);
    case "single":
      return singleContender(universe, capacity);
    case "wasm":
      return wasmContender(universe, capacity);
    case "map-bigint":
      return mapBigintContender(universe);
    case "map-number":
      return mapNumberContender(universe);
    case "lru-cache":
      return lruCacheContender(universe, capacity);
    case "mnemonist":
      return mnemonistContender(universe, capacity);
    case "lru.min":
      return lruMinContender(universe, capacity);
  }
}
