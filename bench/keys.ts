// Key distributions of the benchmark matrix, the build IDs stored under them, and the orders
// in which the operations visit them. Everything is deterministic from a seed.
import { BUILD_ID_MAX } from "../src/index.js";
import type { Distribution } from "./results.js";

/** Where slab-like keys start: the kernel's direct map, as in `0xffff888...` inode addresses. */
export const SLAB_BASE = 0xffff888000000000n;
/** Bytes per slab and per object of `ext4_inode_cache`: 14 objects of 1128 bytes in 16 KiB. */
export const SLAB_BYTES = 16384;
/** Size of one inode object in a slab. */
export const OBJECT_BYTES = 1128;
/** Inode objects per slab. */
export const OBJECTS_PER_SLAB = 14;

const TWO_32 = 2 ** 32;

/** A small seeded PRNG (mulberry32) returning u32 values; enough for shuffles and key bits. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Shuffles `array` in place (Fisher-Yates) with `next` as the source of randomness. */
export function shuffle<T extends { length: number; [i: number]: unknown }>(array: T, next: () => number): T {
  for (let i = array.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    const t = array[i];
    array[i] = array[j];
    array[j] = t;
  }
  return array;
}

/**
 * `count` distinct keys of `dist`, as u32 halves (little-endian u64). Random keys are also
 * distinct in their low 48 bits, so the `Map<number>` peer sees the same number of keys.
 */
function keyHalves(dist: Distribution, count: number, seed: number): Uint32Array {
  const halves = new Uint32Array(count * 2);
  if (dist === "sequential") {
    for (let i = 0; i < count; i++) halves[2 * i] = i;
  } else if (dist === "slab") {
    for (let i = 0; i < count; i++) {
      const offset = Math.floor(i / OBJECTS_PER_SLAB) * SLAB_BYTES + (i % OBJECTS_PER_SLAB) * OBJECT_BYTES;
      halves[2 * i] = offset % TWO_32;
      halves[2 * i + 1] = Number(SLAB_BASE >> 32n) + Math.floor(offset / TWO_32);
    }
  } else {
    const next = prng(seed);
    const seen = new Set<number>();
    for (let i = 0; i < count; ) {
      const lo = next();
      const hi = next();
      const low48 = (hi & 0xffff) * TWO_32 + lo;
      if (seen.has(low48)) continue;
      seen.add(low48);
      halves[2 * i] = lo;
      halves[2 * i + 1] = hi;
      i++;
    }
  }
  return halves;
}

/** Writes the build ID of key number `i` at `out[at]`: `i` as u32 LE, then 16 bytes derived from it. */
export function writeBuildId(i: number, out: Uint8Array, at: number): void {
  out[at] = i & 0xff;
  out[at + 1] = (i >>> 8) & 0xff;
  out[at + 2] = (i >>> 16) & 0xff;
  out[at + 3] = i >>> 24;
  for (let j = 4; j < BUILD_ID_MAX; j++) out[at + j] = (i * 7 + j * 13 + 0x5a) & 0xff;
}

/** The keys of one matrix cell, each in the form an implementation takes. */
export interface KeySet {
  /** Number of keys. */
  readonly length: number;
  /** Position of each key in the fixture's key list (key number `idx[i]`). */
  readonly idx: Uint32Array;
  /** The keys as u64 (the batch API). */
  readonly u64: BigUint64Array;
  /** The keys as bigints (single-call APIs and bigint-keyed peers). */
  readonly big: bigint[];
  /** The low 48 bits of the keys as numbers (the `Map<number>` peer). */
  readonly num: number[];
  /** Build IDs of the keys, {@link BUILD_ID_MAX} bytes apart (the batch API). */
  readonly ids: Uint8Array;
  /** Build IDs of the keys, one `Uint8Array(20)` each (what a JS user holds). */
  readonly values: Uint8Array[];
}

/** All keys of a cell: numbers [0, live) are inserted first, the rest start absent. */
export interface Universe extends KeySet {
  /** Keys live after the fill. */
  readonly live: number;
}

/** `count` keys of `dist`; key number `i` maps to build ID `writeBuildId(i)`. */
export function makeUniverse(dist: Distribution, count: number, live: number, seed: number): Universe {
  const halves = keyHalves(dist, count, seed);
  const u64 = new BigUint64Array(halves.buffer);
  const big = Array.from(u64);
  const num = new Array<number>(count);
  for (let i = 0; i < count; i++) num[i] = (halves[2 * i + 1]! & 0xffff) * TWO_32 + halves[2 * i]!;
  const ids = new Uint8Array(count * BUILD_ID_MAX);
  const values = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    writeBuildId(i, ids, i * BUILD_ID_MAX);
    values[i] = ids.slice(i * BUILD_ID_MAX, (i + 1) * BUILD_ID_MAX);
  }
  const idx = new Uint32Array(count);
  for (let i = 0; i < count; i++) idx[i] = i;
  return { length: count, live, idx, u64, big, num, ids, values };
}

/**
 * The keys numbered by `idx`, as new bigint and value objects allocated in this order: a
 * caller's key and new build ID are hot in cache, while the table it looks up is not.
 */
export function pick(universe: Universe, idx: Uint32Array): KeySet {
  const n = idx.length;
  const u64 = new BigUint64Array(n);
  const num = new Array<number>(n);
  const ids = new Uint8Array(n * BUILD_ID_MAX);
  for (let i = 0; i < n; i++) {
    const k = idx[i]!;
    u64[i] = universe.u64[k]!;
    num[i] = universe.num[k]!;
    ids.set(universe.values[k]!, i * BUILD_ID_MAX);
  }
  const big = Array.from(u64);
  const values = new Array<Uint8Array>(n);
  for (let i = 0; i < n; i++) values[i] = ids.slice(i * BUILD_ID_MAX, (i + 1) * BUILD_ID_MAX);
  return { length: n, idx, u64, big, num, ids, values };
}

/** `count` key numbers drawn without repetition from [from, to), shuffled, then cycled to `length`. */
export function sample(from: number, to: number, count: number, length: number, next: () => number): Uint32Array {
  const all = new Uint32Array(to - from);
  for (let i = 0; i < all.length; i++) all[i] = from + i;
  shuffle(all, next);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) out[i] = all[i % count]!;
  return out;
}
