// The API under misuse (issue 13): an onEvict that re-enters the cache or throws, mutation during
// iteration, caller bytes that change after they were checked, and resizable caller buffers.
// Tests start with their row id in docs/errors.md.
import { describe, expect, test } from "vitest";
import { BUILD_ID_MAX, BuildIdCache, CacheDisposedError, SetManyError } from "../src/index.js";
import { thrownBy } from "./helpers/thrown.js";

const SEED = BigInt(process.env.MISUSE_SEED ?? Date.now());
console.log(`cache-misuse: MISUSE_SEED=${SEED}`);

const U64 = (1n << 64n) - 1n;

/** xorshift64*, seeded so a failing run can be replayed with MISUSE_SEED. */
function rng(seed: bigint): (below: number) => number {
  let x = seed & U64 || 1n;
  return (below) => {
    x ^= x >> 12n;
    x ^= (x << 25n) & U64;
    x ^= x >> 27n;
    return Number(((x * 0x2545f4914f6cdd1dn) & U64) >> 11n) % below;
  };
}

const keysFrom = (first: number, n: number): BigUint64Array =>
  BigUint64Array.from({ length: n }, (_, i) => BigInt(first + i));

/** `n` build IDs of `length` bytes, `BUILD_ID_MAX` apart, each holding its index. */
function idsFor(n: number, length = BUILD_ID_MAX): Uint8Array {
  const ids = new Uint8Array(n * BUILD_ID_MAX);
  for (let i = 0; i < n; i++) ids.fill((i % 255) + 1, i * BUILD_ID_MAX, i * BUILD_ID_MAX + length);
  return ids;
}

/** A cache of `capacity` filled with keys [0, capacity), all with `length`-byte IDs. */
async function full(capacity: number, onEvict: (key: bigint) => void, length = BUILD_ID_MAX): Promise<BuildIdCache> {
  const cache = await BuildIdCache.create({ capacity, onEvict });
  cache.setMany(keysFrom(0, capacity), idsFor(capacity, length), length);
  return cache;
}

/** A resizable ArrayBuffer (ES2024; the project's TypeScript lib is ES2023). */
function resizable(length: number, maxByteLength: number): ArrayBuffer & { resize(length: number): void } {
  const Resizable = ArrayBuffer as unknown as new (
    length: number,
    options: { maxByteLength: number },
  ) => ArrayBuffer & { resize(length: number): void };
  return new Resizable(length, { maxByteLength });
}

function counters(cache: BuildIdCache): number[] {
  const { hits, misses, inserts, updates, removals, evictions } = cache.stats();
  return [hits, misses, inserts, updates, removals, evictions];
}

describe("an onEvict that re-enters setMany's cache", () => {
  test("A1 a nested getMany loses no notification: all 64 evictions of a 64-key batch are reported", async () => {
    const reported: bigint[] = [];
    const probe = keysFrom(0, 64);
    const cache = await full(64, (key) => {
      reported.push(key);
      cache.getMany(probe, new Uint8Array(64 * BUILD_ID_MAX), new Uint8Array(64));
    });
    reported.length = 0;
    expect(cache.setMany(keysFrom(1000, 64), idsFor(64), BUILD_ID_MAX)).toBe(64);
    expect(reported.sort((a, b) => Number(a - b))).toEqual([...keysFrom(0, 64)]);
    cache.verify();
  });

  test("A1 a nested getMany on 2-byte IDs makes no false notification for a key still cached", async () => {
    const reported: bigint[] = [];
    const probe = keysFrom(0, 8);
    const cache = await full(
      8,
      (key) => {
        reported.push(key);
        cache.getMany(probe, new Uint8Array(8 * BUILD_ID_MAX), new Uint8Array(8));
      },
      2,
    );
    reported.length = 0;
    // One new key evicts; the seven updates after it must not read the nested lengths (2) as "evicting".
    const batch = BigUint64Array.of(100n, 1n, 2n, 3n, 4n, 5n, 6n, 7n);
    expect(cache.setMany(batch, idsFor(8, 2), 2)).toBe(1);
    expect(reported).toHaveLength(1);
    expect(cache.has(reported[0]!)).toBe(false);
    cache.verify();
  });

  test(`A1 random nested reads and writes: each key leaves the cache exactly once, by eviction or delete (MISUSE_SEED=${SEED})`, async () => {
    const random = rng(SEED);
    let nextKey = 0;
    const fresh = (n: number): BigUint64Array => {
      const keys = keysFrom(nextKey, n);
      nextKey += n;
      return keys;
    };
    const inserted: bigint[] = [];
    const reported: bigint[] = [];
    const deleted: bigint[] = [];
    let depth = 0;
    const cache: BuildIdCache = await BuildIdCache.create({
      capacity: 300,
      onEvict: (key) => {
        reported.push(key);
        if (depth > 0) return;
        depth++;
        const op = random(6);
        const some = BigUint64Array.from({ length: 1 + random(40) }, () => BigInt(random(nextKey)));
        if (op === 0) cache.getMany(some, new Uint8Array(some.length * BUILD_ID_MAX), new Uint8Array(some.length));
        else if (op === 1) cache.get(some[0]!);
        else if (op === 2) {
          const [key] = fresh(1);
          cache.set(key!, "0102");
          inserted.push(key!);
        } else if (op === 3) {
          const keys = fresh(1 + random(30));
          cache.setMany(keys, idsFor(keys.length, 2), 2);
          inserted.push(...keys);
        } else if (op === 4) {
          const removed = new Uint8Array(some.length);
          cache.deleteMany(some, removed);
          deleted.push(...some.filter((_, i) => removed[i]));
        } else if (cache.delete(some[0]!)) deleted.push(some[0]!);
        depth--;
      },
    });
    for (let round = 0; round < 20; round++) {
      const keys = fresh(1 + random(2500));
      const length = 1 + random(BUILD_ID_MAX);
      cache.setMany(keys, idsFor(keys.length, length), length);
      inserted.push(...keys);
      cache.verify();
    }
    const left = [...cache.keys()];
    const gone = [...left, ...reported, ...deleted].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(gone).toEqual(inserted.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(cache.stats().evictions).toBe(reported.length);
  });
});

describe("an onEvict that throws during setMany", () => {
  test("A2 the error says how many keys were applied, every eviction of those is reported, and the table is sound", async () => {
    let calls = 0;
    const reported: bigint[] = [];
    const cache = await full(1000, (key) => {
      reported.push(key);
      if (calls++ === 0) throw new Error(`refusing to forget ${key}`);
    });
    const twinReported: bigint[] = [];
    const twin = await full(1000, (key) => twinReported.push(key));
    const keys = keysFrom(5000, 3000);
    const ids = idsFor(3000);
    const error = thrownBy(() => cache.setMany(keys, ids, BUILD_ID_MAX)) as SetManyError;
    expect(error).toBeInstanceOf(SetManyError);
    expect(error).toBeInstanceOf(AggregateError);
    expect(error.applied).toBe(1024);
    expect(error.errors.map((e: Error) => e.message)).toEqual(["refusing to forget 0"]);
    expect(error.message).toBe("setMany applied 1024 of 3000 keys, then stopped: onEvict threw: refusing to forget 0");
    cache.verify();
    twin.setMany(keys.subarray(0, error.applied), ids, BUILD_ID_MAX);
    expect(reported).toEqual(twinReported);
    expect(new Map(cache)).toEqual(new Map(twin));
    expect(counters(cache)).toEqual(counters(twin));
  });
});

describe("changing the cache while iterating it throws at the next step", () => {
  const mutations: [string, (cache: BuildIdCache, key: bigint) => unknown][] = [
    ["delete of the current key", (cache, key) => cache.delete(key)],
    ["delete of the first key", (cache) => cache.delete(0n)],
    ["clear", (cache) => cache.clear()],
    ["deleteMany", (cache) => cache.deleteMany(keysFrom(0, 6))],
    ["set", (cache) => cache.set(99n, "09")],
    ["setMany", (cache) => cache.setMany(BigUint64Array.of(99n), idsFor(1), 1)],
  ];
  for (const [what, mutate] of mutations) {
    test(`A3 ${what}, at every position of the loop`, async () => {
      for (let at = 0; at < 6; at++) {
        const cache = await BuildIdCache.create({ capacity: 8 });
        cache.setMany(keysFrom(0, 6), idsFor(6), 3);
        let step = 0;
        const error = thrownBy(() => {
          for (const [key] of cache) if (step++ === at) mutate(cache, key);
        });
        expect(error.message).toBe("BuildIdCache: changed during iteration");
        expect(step).toBe(at + 1);
      }
    });
  }

  test("A3 calls that change nothing do not end the loop: every entry is visited", async () => {
    const cache = await BuildIdCache.create({ capacity: 8 });
    cache.setMany(keysFrom(0, 6), idsFor(6), 3);
    const seen: bigint[] = [];
    for (const [key] of cache) {
      seen.push(key);
      cache.delete(1000n);
      cache.deleteMany(BigUint64Array.of(1001n));
      cache.get(key);
    }
    expect(seen).toEqual([...keysFrom(0, 6)]);
  });
});

describe("caller bytes are copied before they are checked", () => {
  test("A4 restore: a snapshot changed after the call (as a worker writing a SharedArrayBuffer would) loses no entry", async () => {
    const original = await BuildIdCache.create({ capacity: 8 });
    original.setMany(keysFrom(0, 5), idsFor(5), 4);
    const saved = original.snapshot();
    const shared = new Uint8Array(new SharedArrayBuffer(saved.length));
    shared.set(saved);
    const restoring = BuildIdCache.restore(shared);
    shared.fill(0, 24); // every record's length byte becomes 0 once the checks have passed
    const restored = await restoring;
    expect(new Map(restored)).toEqual(new Map(original));
    restored.verify();
  });

  test("A4 setMany: lengths changed after they were checked are not what is inserted", async () => {
    const lengths = new Uint8Array(new SharedArrayBuffer(2000)).fill(4);
    const cache = await full(1000, () => {
      lengths.fill(0, 1024); // a "worker" zeroes lengths the check already passed
    });
    const keys = keysFrom(5000, 2000);
    expect(cache.setMany(keys, idsFor(2000), lengths)).toBe(2000);
    expect(cache.stats().inserts).toBe(3000);
    for (const key of keys.subarray(1000)) expect(cache.get(key)).toHaveLength(8);
    cache.verify();
  });
});

describe("resizable caller buffers", () => {
  test("A5 getBytes into a length-tracking out that grew writes there, and one that shrank is refused before counting", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    cache.set(1n, "0a0b0c");
    const buffer = resizable(BUILD_ID_MAX, 4 * BUILD_ID_MAX);
    const out = new Uint8Array(buffer);
    expect(cache.getBytes(1n, out)).toBe(3);
    buffer.resize(3 * BUILD_ID_MAX);
    expect(cache.getBytes(1n, out, 2 * BUILD_ID_MAX)).toBe(3);
    expect([...out.subarray(2 * BUILD_ID_MAX, 2 * BUILD_ID_MAX + 4)]).toEqual([10, 11, 12, 0]);
    buffer.resize(BUILD_ID_MAX - 1);
    const before = counters(cache);
    const error = thrownBy(() => cache.getBytes(1n, out));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe("offset 0 leaves no room for 20 bytes in out of length 19");
    expect(counters(cache)).toEqual(before);
  });

  test("A7 getBytesAt over length-tracking keys reads the key there now; past a shrunk or detached end it is refused before counting", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    cache.set(7n, "0a0b0c");
    const buffer = resizable(8, 4 * 8);
    const keys = new BigUint64Array(buffer);
    const out = new Uint8Array(BUILD_ID_MAX);
    expect(cache.getBytesAt(keys, 0, out)).toBe(0);
    buffer.resize(3 * 8);
    keys[2] = 7n;
    expect(cache.getBytesAt(keys, 2, out)).toBe(3);
    buffer.resize(2 * 8);
    const before = counters(cache);
    const error = thrownBy(() => cache.getBytesAt(keys, 2, out));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe("index 2 is past the end of keys (length 2)");
    const moved = new BigUint64Array([7n]);
    expect(cache.getBytesAt(moved, 0, out)).toBe(3);
    structuredClone(moved.buffer, { transfer: [moved.buffer] });
    expect(() => cache.getBytesAt(moved, 0, out)).toThrow("index 0 is past the end of keys (length 0)");
    const [hits, ...rest] = before;
    expect(counters(cache)).toEqual([hits! + 1, ...rest]);
  });

  test("A6 setMany whose keys shrink in onEvict stops with how many keys it applied, inserting no stale key", async () => {
    const buffer = resizable(3000 * 8, 3000 * 8);
    const keys = new BigUint64Array(buffer);
    keys.set(keysFrom(5000, 3000));
    const cache = await full(1000, () => buffer.resize(100 * 8));
    const error = thrownBy(() => cache.setMany(keys, idsFor(3000), 5)) as SetManyError;
    expect(error).toBeInstanceOf(SetManyError);
    expect(error.applied).toBe(1024);
    expect(error.message).toBe(
      "setMany applied 1024 of 3000 keys, then stopped: keys has room for 100 values, needs 3000",
    );
    expect(cache.stats()).toMatchObject({ inserts: 2024, updates: 0 });
    cache.verify();
  });

  test("A6 setMany whose onEvict disposes the cache stops with how many keys it applied", async () => {
    const cache = await full(1000, () => cache.dispose());
    const error = thrownBy(() => cache.setMany(keysFrom(5000, 3000), idsFor(3000), 5)) as SetManyError;
    expect(error).toBeInstanceOf(SetManyError);
    expect(error.applied).toBe(1024);
    expect(error.errors[0]).toBeInstanceOf(CacheDisposedError);
    expect(error.message).toBe("setMany applied 1024 of 3000 keys, then stopped: BuildIdCache: the cache was disposed");
  });
});
