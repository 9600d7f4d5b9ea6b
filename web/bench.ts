// The in-page benchmark: BuildIdCache against Map<bigint, Uint8Array>, in ns per operation.
import { BUILD_ID_MAX, BuildIdCache } from "../src/index.js";

/** One operation timed on both implementations. */
export interface BenchRow {
  operation: string;
  cacheNs: number;
  mapNs: number;
}

/** The outcome of {@link runBenchmark}; `cache` is kept for its counters and is the caller's to dispose. */
export interface BenchResult {
  keys: number;
  rows: BenchRow[];
  cache: BuildIdCache;
  /** Sum of what the lookups returned: consuming it keeps the JIT from dropping them. */
  checksum: number;
}

/** Inode addresses as the kernel hands them out: 1128-byte ext4 inodes in the direct map. */
const DIRECT_MAP = 0xffff_8881_0000_0000n;
const INODE_SIZE = 1128n;

/** A round lasts at least this long, so coarse browser timers (100 µs) stay accurate. */
const ROUND_MS = 10;
const ROUNDS = 7;

function shuffledInodes(count: number, first: number): bigint[] {
  const keys = Array.from({ length: count }, (_, i) => DIRECT_MAP + BigInt(first + i) * INODE_SIZE);
  let seed = 0x9e3779b9;
  for (let i = count - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    [keys[i], keys[j]] = [keys[j]!, keys[i]!];
  }
  return keys;
}

function randomIds(count: number): Uint8Array[] {
  const all = new Uint8Array(count * BUILD_ID_MAX);
  for (let at = 0; at < all.length; at += 65_536) crypto.getRandomValues(all.subarray(at, at + 65_536));
  return Array.from({ length: count }, (_, i) => all.subarray(i * BUILD_ID_MAX, (i + 1) * BUILD_ID_MAX));
}

const nextFrame = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Median time of one call of `body`, in ns per operation (`body` does `operations` of them). */
async function measure(body: () => void, operations: number): Promise<number> {
  body();
  const start = performance.now();
  body();
  const once = Math.max(performance.now() - start, 0.01);
  const repeats = Math.ceil(ROUND_MS / once);
  const samples: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) body();
    samples.push((performance.now() - t0) / repeats);
    await nextFrame();
  }
  samples.sort((a, b) => a - b);
  return (samples[ROUNDS >> 1]! * 1e6) / operations;
}

/**
 * Times insert, lookup hit, lookup miss, batched lookup and insert-with-eviction over `keys` keys
 * on a {@link BuildIdCache} of that capacity and on a `Map` bounded the same way (oldest out first,
 * through a ring of its keys).
 * `progress` hears the name of each step before it runs.
 */
export async function runBenchmark(keys: number, progress: (step: string) => void): Promise<BenchResult> {
  const present = shuffledInodes(keys, 0);
  const absent = shuffledInodes(keys, keys);
  const presentArray = BigUint64Array.from(present);
  const ids = randomIds(keys);
  const out = new Uint8Array(keys * BUILD_ID_MAX);
  const lengths = new Uint8Array(keys);
  const cache = await BuildIdCache.create({ capacity: keys });
  const map = new Map<bigint, Uint8Array>();
  let sink = 0;
  let evictCache = absent;
  let evictMap = absent;
  // The Map's own insertion-order ring: map.keys().next() after many deletes is O(n) in V8.
  const ring = present.slice();
  let oldest = 0;

  const operations: [string, () => void, () => void][] = [
    [
      "insert into empty",
      () => {
        cache.clear();
        for (let i = 0; i < keys; i++) cache.set(present[i]!, ids[i]!);
      },
      () => {
        map.clear();
        for (let i = 0; i < keys; i++) map.set(present[i]!, ids[i]!.slice());
      },
    ],
    [
      "lookup, hit",
      () => {
        for (const key of present) sink += cache.getBytes(key, out);
      },
      () => {
        for (const key of present) sink += map.get(key)?.length ?? 0;
      },
    ],
    [
      "lookup, miss",
      () => {
        for (const key of absent) sink += cache.getBytes(key, out);
      },
      () => {
        for (const key of absent) sink += map.get(key)?.length ?? 0;
      },
    ],
    [
      "batched lookup",
      () => {
        sink += cache.getMany(presentArray, out, lengths);
      },
      () => {
        for (let i = 0; i < keys; i++) {
          const id = map.get(presentArray[i]!);
          lengths[i] = id?.length ?? 0;
          if (id) out.set(id, i * BUILD_ID_MAX);
        }
      },
    ],
    [
      "insert, evicting",
      () => {
        for (let i = 0; i < keys; i++) cache.set(evictCache[i]!, ids[i]!);
        evictCache = evictCache === absent ? present : absent;
      },
      () => {
        for (let i = 0; i < keys; i++) {
          const key = evictMap[i]!;
          map.delete(ring[oldest]!);
          map.set(key, ids[i]!.slice());
          ring[oldest] = key;
          oldest = (oldest + 1) % keys;
        }
        evictMap = evictMap === absent ? present : absent;
      },
    ],
  ];

  const rows: BenchRow[] = [];
  for (const [operation, onCache, onMap] of operations) {
    progress(`${operation}: BuildIdCache`);
    await nextFrame();
    const cacheNs = await measure(onCache, keys);
    progress(`${operation}: Map`);
    await nextFrame();
    const mapNs = await measure(onMap, keys);
    rows.push({ operation, cacheNs, mapNs });
  }
  return { keys, rows, cache, checksum: sink };
}
