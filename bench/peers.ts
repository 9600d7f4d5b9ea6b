// The implementations the matrix compares, each behind the same small interface. Every one runs
// loops of its own: a loop shared by several would see their receiver types at one call site and
// measure V8's megamorphic dispatch instead of the implementation. Peers of one shape share its
// source, compiled once per contender (ownCopy).

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

/**
 * `shape` compiled again from its source for contender `id`, so that the functions it makes have
 * inline caches of their own: closures made by one function share its feedback, and a loop shared by
 * contenders would see their several receiver types at one call site (benchmark.js compiles each test
 * afresh for this). The source names `id` so that V8's cache of compiled sources cannot hand back
 * another contender's copy. `shape` may use only its parameters and globals; `__name` is the
 * loaders' keepNames helper.
 */
function ownCopy<F extends (...args: never[]) => Contender>(shape: F, id: ContenderId): F {
  return new Function("__name", `"use strict"; return (${shape.toString()}); // ${id}`)((f: unknown) => f) as F;
}

/** The operations the map-like peers share: lru-cache, mnemonist, lru.min and `Map`. */
interface KeyedTable<K> {
  get(key: K): Uint8Array | undefined;
  set(key: K, value: Uint8Array): unknown;
  delete(key: K): unknown;
  readonly size: number;
}

/**
 * A `Map` keyed by `keys[key]`. It has no capacity: it evicts FIFO, the key inserted `live` inserts
 * ago. Compiled per contender by {@link ownCopy}.
 */
function mapShape<K extends "big" | "num">(
  id: ContenderId,
  key: K,
  universe: Universe,
  idBytes: number,
  sink: (n: number) => void,
): Contender {
  const map = new Map<KeySet[K][number], Uint8Array>();
  const all = universe.length;
  return {
    id,
    manual: false,
    fill() {
      const k = universe[key];
      for (let i = 0; i < universe.live; i++) map.set(k[i]!, universe.values[i]!);
    },
    hit(keys) {
      const k = keys[key];
      let hits = 0;
      let sum = 0;
      for (let i = 0; i < k.length; i++) {
        const v = map.get(k[i]!);
        if (v !== undefined) {
          hits++;
          sum += v[19]!;
        }
      }
      sink(sum);
      return hits;
    },
    miss(keys) {
      const k = keys[key];
      let hits = 0;
      for (let i = 0; i < k.length; i++) if (map.get(k[i]!) !== undefined) hits++;
      return hits;
    },
    insert(keys) {
      const k = keys[key];
      for (let i = 0; i < keys.length; i++) map.set(k[i]!, keys.values[i]!);
      return 0;
    },
    remove(keys) {
      const k = keys[key];
      for (let i = 0; i < keys.length; i++) map.delete(k[i]!);
      return 0;
    },
    churn(pool, from, count) {
      const k = pool[key];
      const old = universe[key];
      for (let i = from; i < from + count; i++) {
        map.delete(old[(pool.idx[i]! + universe.live) % all]!);
        map.set(k[i]!, pool.values[i]!);
      }
    },
    read(keys, to, lens) {
      const k = keys[key];
      for (let i = 0; i < keys.length; i++) {
        const v = map.get(k[i]!);
        lens[i] = v === undefined ? 0 : v.length;
        if (v !== undefined) to.set(v, i * idBytes);
      }
    },
    size() {
      return map.size;
    },
  };
}

/** A bounded LRU peer keyed by bigints; compiled per contender by {@link ownCopy}. */
function lruShape(
  id: ContenderId,
  cache: KeyedTable<bigint>,
  universe: Universe,
  idBytes: number,
  sink: (n: number) => void,
): Contender {
  return {
    id,
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
      sink(sum);
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
        if (v !== undefined) to.set(v, i * idBytes);
      }
    },
    size() {
      return cache.size;
    },
  };
}

function mapContender(id: "map-bigint" | "map-number", universe: Universe): Contender {
  return ownCopy(mapShape, id)(id, id === "map-bigint" ? "big" : "num", universe, BUILD_ID_MAX, do_not_optimize);
}

// mnemonist's LRUCache has no delete; LRUCacheWithDelete is the same class with one.
function lruContender(id: "lru-cache" | "mnemonist" | "lru.min", universe: Universe, capacity: number): Contender {
  const cache: KeyedTable<bigint> =
    id === "lru-cache"
      ? new LRUCache<bigint, Uint8Array>({ max: capacity })
      : id === "mnemonist"
        ? new LRUCacheWithDelete<bigint, Uint8Array>(capacity)
        : createLRU<bigint, Uint8Array>({ max: capacity });
  return ownCopy(lruShape, id)(id, cache, universe, BUILD_ID_MAX, do_not_optimize);
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
    case "map-number":
      return mapContender(id, universe);
    case "lru-cache":
    case "mnemonist":
    case "lru.min":
      return lruContender(id, universe, capacity);
  }
}
