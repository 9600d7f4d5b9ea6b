// The cache against a plain Map model: random operation sequences, then fast-check properties.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { BUILD_ID_MAX, BuildIdCache } from "../src/index.js";
import { OVER_OFFSET, OVER_STUCK } from "../src/layout.js";
import { instantiateCore } from "../src/wasm.js";

const U64 = (1n << 64n) - 1n;

/** xorshift64*: a seeded stream, so a failing run can be replayed from its seed. */
function rng(seed: bigint): () => bigint {
  let x = seed || 1n;
  return () => {
    x ^= x >> 12n;
    x ^= (x << 25n) & U64;
    x ^= x >> 27n;
    return (x * 0x2545f4914f6cdd1dn) & U64;
  };
}

/** Keys of the three shapes the cache meets: slab addresses, packed (dev, ino), and anything. */
function keyPool(size: number, next: () => bigint): bigint[] {
  const pool = [0n, U64, 1n << 63n];
  while (pool.length < size) {
    const r = next();
    const shape = Number(r % 3n);
    if (shape === 0) pool.push(0xffff_8880_0000_0000n + (r % 100_000n) * 16384n + ((r >> 20n) % 14n) * 1128n);
    else if (shape === 1) pool.push(((r % 64n) << 44n) | (r >> 40n));
    else pool.push(r);
  }
  return [...new Set(pool)];
}

function hexOf(r: bigint): string {
  const len = 1 + Number(r % BigInt(BUILD_ID_MAX));
  return (r >> 8n)
    .toString(16)
    .padStart(40, "0")
    .slice(0, len * 2);
}

async function randomRun(steps: number, capacity: number, poolSize: number, seed: bigint): Promise<void> {
  const next = rng(seed);
  const pool = keyPool(poolSize, next);
  const model = new Map<bigint, string>();
  let evictions = 0;
  const cache = await BuildIdCache.create({
    capacity,
    onEvict: (key) => {
      // Only a full cache evicts, and only a key it holds.
      expect(model.size).toBe(capacity);
      expect(model.has(key)).toBe(true);
      model.delete(key);
      evictions++;
    },
  });
  const out = new Uint8Array(BUILD_ID_MAX);
  const pick = (): bigint => pool[Number(next() % BigInt(pool.length))]!;
  for (let step = 0; step < steps; step++) {
    const r = next();
    const op = Number(r % 100n);
    const key = pick();
    if (op < 40) {
      const id = hexOf(next());
      cache.set(key, id);
      model.set(key, id);
    } else if (op < 70) {
      expect(cache.get(key)).toBe(model.get(key));
    } else if (op < 80) {
      const len = cache.getBytes(key, out);
      const want = model.get(key);
      expect(len).toBe(want === undefined ? 0 : want.length / 2);
      if (want !== undefined) expect(Buffer.from(out.subarray(0, len)).toString("hex")).toBe(want);
    } else if (op < 88) {
      expect(cache.has(key)).toBe(model.has(key));
    } else if (op < 99) {
      expect(cache.delete(key)).toBe(model.delete(key));
    } else if (r % 1000n === 999n) {
      cache.clear();
      model.clear();
    }
    expect(cache.size).toBe(model.size);
    if (step % 2000 === 0) {
      expect(new Map(cache)).toEqual(model);
      cache.verify();
    }
  }
  expect(new Map(cache)).toEqual(model);
  cache.verify();
  expect(cache.stats().evictions).toBe(evictions);
}

describe("random operations against a Map model", () => {
  test("100,000 steps under capacity (no evictions)", async () => {
    await randomRun(100_000, 4096, 3000, 0x9e3779b97f4a7c15n);
  });

  test("100,000 steps at capacity, the model accounting for each reported eviction", async () => {
    await randomRun(100_000, 256, 2000, 0xc2b2ae3d27d4eb4fn);
  });

  test("a tiny cache thrashing through many keys", async () => {
    await randomRun(20_000, 3, 50, 7n);
  });
});

describe("keys that all share one home bucket", () => {
  // CACHE_MODEL_SEED replays a run; the seed is printed with the test's name.
  const SEED = BigInt(process.env.CACHE_MODEL_SEED ?? Date.now());
  const GOLDEN = 0x61c8864680b583ebn;

  test(`300 keys on one home: overflow counts saturate, every key stays found, deletes in any order (CACHE_MODEL_SEED=${SEED})`, async () => {
    const capacity = 4096;
    const cache = await BuildIdCache.create({ capacity });
    const buckets = BigInt(cache.stats().slots / 15);
    const next = rng(SEED);
    const keys: bigint[] = [];
    while (keys.length < 300) {
      const key = next();
      if (((((key * GOLDEN) & U64) >> 32n) * buckets) >> 32n === 0n) keys.push(key);
    }
    const model = new Map<bigint, string>();
    for (const key of keys) {
      const id = hexOf(next());
      cache.set(key, id);
      model.set(key, id);
    }
    // 300 keys through 15-slot buckets: the first buckets count more than 255 keys passing.
    expect(cache.stats().probeMax).toBe(20);
    cache.verify();
    for (const key of keys) expect(cache.get(key)).toBe(model.get(key));
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Number(next() % BigInt(i + 1));
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    for (const [i, key] of keys.entries()) {
      expect(cache.delete(key)).toBe(true);
      model.delete(key);
      expect(cache.has(key)).toBe(false);
      if (i % 25 === 0) {
        cache.verify();
        expect(new Map(cache)).toEqual(model);
      }
    }
    expect(cache.size).toBe(0);
    cache.verify();
    // The same keys in a bare core: the home bucket's count sticks at OVER_STUCK, and stays stuck.
    const core = await instantiateCore();
    core.init(capacity);
    const over = new Uint8Array(core.memory.buffer, core.bucketAddress() + OVER_OFFSET, 1);
    for (const key of keys) core.insert(key, core.ioIds.value, 1);
    expect(over[0]).toBe(OVER_STUCK);
    for (const key of keys) expect(core.remove(key)).toBe(1);
    expect(over[0]).toBe(OVER_STUCK);
    core.verify();
  });
});

const key = fc.oneof(
  fc.bigInt({ min: 0n, max: U64 }),
  fc.integer({ min: 0, max: 200 }).map((i) => 0xffff_8880_0000_0000n + BigInt(i) * 1128n),
);
const buildId = fc.uint8Array({ minLength: 1, maxLength: BUILD_ID_MAX });
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

type Op =
  | { kind: "set"; key: bigint; id: Uint8Array }
  | { kind: "get" | "delete" | "has"; key: bigint }
  | { kind: "setMany"; keys: bigint[]; ids: Uint8Array[] }
  | { kind: "getMany" | "deleteMany"; keys: bigint[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key, id: buildId }),
  fc.record({ kind: fc.constantFrom("get" as const, "delete" as const, "has" as const), key }),
  fc
    .array(fc.tuple(key, buildId), { maxLength: 40 })
    .map((pairs) => ({ kind: "setMany" as const, keys: pairs.map((p) => p[0]), ids: pairs.map((p) => p[1]) })),
  fc.record({
    kind: fc.constantFrom("getMany" as const, "deleteMany" as const),
    keys: fc.array(key, { maxLength: 40 }),
  }),
);

function packIds(ids: Uint8Array[]): { bytes: Uint8Array; lengths: Uint8Array } {
  const bytes = new Uint8Array(ids.length * BUILD_ID_MAX);
  ids.forEach((id, i) => {
    bytes.set(id, i * BUILD_ID_MAX);
  });
  return { bytes, lengths: Uint8Array.from(ids, (id) => id.length) };
}

describe("properties", () => {
  test("any sequence of single and batch calls matches a Map", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const cache = await BuildIdCache.create({ capacity: 4096 });
        const model = new Map<bigint, string>();
        for (const o of ops) {
          if (o.kind === "set") {
            cache.set(o.key, o.id);
            model.set(o.key, hex(o.id));
          } else if (o.kind === "get") {
            expect(cache.get(o.key)).toBe(model.get(o.key));
          } else if (o.kind === "has") {
            expect(cache.has(o.key)).toBe(model.has(o.key));
          } else if (o.kind === "delete") {
            expect(cache.delete(o.key)).toBe(model.delete(o.key));
          } else if (o.kind === "setMany") {
            const { bytes, lengths } = packIds(o.ids);
            expect(cache.setMany(BigUint64Array.from(o.keys), bytes, lengths)).toBe(0);
            o.keys.forEach((k, i) => {
              model.set(k, hex(o.ids[i]!));
            });
          } else if (o.kind === "getMany") {
            const out = new Uint8Array(o.keys.length * BUILD_ID_MAX);
            const lengths = new Uint8Array(o.keys.length);
            const hits = cache.getMany(BigUint64Array.from(o.keys), out, lengths);
            expect(hits).toBe(o.keys.filter((k) => model.has(k)).length);
            o.keys.forEach((k, i) => {
              const got = lengths[i] ? hex(out.subarray(i * 20, i * 20 + lengths[i]!)) : undefined;
              expect(got).toBe(model.get(k));
            });
          } else if (o.kind === "deleteMany") {
            const removed = new Uint8Array(o.keys.length);
            const expected = o.keys.map((k) => (model.delete(k) ? 1 : 0));
            expect(cache.deleteMany(BigUint64Array.from(o.keys), removed)).toBe(
              expected.reduce<number>((a, b) => a + b, 0),
            );
            expect([...removed]).toEqual(expected);
          }
          expect(cache.size).toBe(model.size);
        }
        expect(new Map(cache)).toEqual(model);
        cache.verify();
      }),
      { numRuns: 200 },
    );
  });

  test("a full cache never serves a build ID that was not the last one set for that key", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), buildId, fc.boolean()), { maxLength: 300 }),
        async (capacity, steps) => {
          const last = new Map<bigint, string>();
          const evicted = new Set<bigint>();
          const cache = await BuildIdCache.create({ capacity, onEvict: (k) => evicted.add(k) });
          for (const [i, id, read] of steps) {
            const k = BigInt(i) << 40n;
            if (read) {
              const got = cache.get(k);
              if (got !== undefined) expect(got).toBe(last.get(k));
              else expect(!last.has(k) || evicted.has(k)).toBe(true);
            } else {
              cache.set(k, id);
              last.set(k, hex(id));
              evicted.delete(k);
            }
            expect(cache.size).toBeLessThanOrEqual(capacity);
          }
          for (const [k, v] of cache) expect(v).toBe(last.get(k));
          cache.verify();
        },
      ),
      { numRuns: 300 },
    );
  });
});

/**
 * CLOCK as the core documents it, over a plain array in storage order: a new key takes the next
 * entry (or the victim's, in a full cache), a set of a held key or any read marks it, `has` does
 * not, a delete moves the last entry into the hole, and the hand sweeps clearing marks.
 */
class ClockModel {
  readonly entries: { key: bigint; id: string; ref: boolean }[] = [];
  hand = 0;
  constructor(readonly capacity: number) {}

  #at(key: bigint): number {
    return this.entries.findIndex((e) => e.key === key);
  }

  /** Returns the key evicted, if any. */
  set(key: bigint, id: string): bigint | undefined {
    const i = this.#at(key);
    if (i >= 0) {
      this.entries[i] = { key, id, ref: true };
      return undefined;
    }
    if (this.entries.length < this.capacity) {
      this.entries.push({ key, id, ref: false });
      return undefined;
    }
    while (this.entries[this.hand]!.ref) {
      this.entries[this.hand]!.ref = false;
      this.hand = (this.hand + 1) % this.entries.length;
    }
    const victim = this.entries[this.hand]!.key;
    this.entries[this.hand] = { key, id, ref: false };
    this.hand = (this.hand + 1) % this.entries.length;
    return victim;
  }

  get(key: bigint): string | undefined {
    const e = this.entries[this.#at(key)];
    if (e) e.ref = true;
    return e?.id;
  }

  has(key: bigint): boolean {
    return this.#at(key) >= 0;
  }

  delete(key: bigint): boolean {
    const i = this.#at(key);
    if (i < 0) return false;
    const last = this.entries.pop()!;
    if (i < this.entries.length) this.entries[i] = last;
    if (this.hand >= this.entries.length) this.hand = 0;
    return true;
  }

  clear(): void {
    this.entries.length = 0;
    this.hand = 0;
  }
}

describe("eviction", () => {
  type Step =
    | { kind: "set" | "setAt" | "get" | "getBytes" | "getBytesAt" | "has" | "delete"; key: number; id: Uint8Array }
    | { kind: "setMany" | "getMany" | "deleteMany"; keys: number[]; ids: Uint8Array[] }
    | { kind: "clear" };
  const few = fc.integer({ min: 0, max: 24 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({ kind: fc.constantFrom("set" as const, "setAt" as const), key: few, id: buildId }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constantFrom(
          "get" as const,
          "getBytes" as const,
          "getBytesAt" as const,
          "has" as const,
          "delete" as const,
        ),
        key: few,
        id: buildId,
      }),
    },
    {
      weight: 3,
      arbitrary: fc.array(fc.tuple(few, buildId), { maxLength: 12 }).chain((pairs) =>
        fc.record({
          kind: fc.constantFrom("setMany" as const, "getMany" as const, "deleteMany" as const),
          keys: fc.constant(pairs.map((p) => p[0])),
          ids: fc.constant(pairs.map((p) => p[1])),
        }),
      ),
    },
    { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
  );

  // CLOCK_SEED replays a run; the seed is printed with the test's name.
  const SEED = Number(process.env.CLOCK_SEED ?? Date.now() % 2 ** 31);

  test(`a cache evicts exactly the keys a reference CLOCK evicts, and keeps its storage order (CLOCK_SEED=${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.array(step, { maxLength: 120 }), async (capacity, steps) => {
        const evicted: bigint[] = [];
        const cache = await BuildIdCache.create({ capacity, onEvict: (k) => evicted.push(k) });
        const model = new ClockModel(capacity);
        const expected: bigint[] = [];
        const k = (i: number) => 0xffff_8880_0000_0000n + BigInt(i) * 1128n;
        const out = new Uint8Array(12 * BUILD_ID_MAX);
        const lengths = new Uint8Array(12);
        const keys = new BigUint64Array(3);
        for (const s of steps) {
          if (s.kind === "set" || s.kind === "setAt") {
            if (s.kind === "set") cache.set(k(s.key), s.id);
            else {
              keys[s.key % 3] = k(s.key);
              cache.setAt(keys, s.key % 3, s.id);
            }
            const victim = model.set(k(s.key), hex(s.id));
            if (victim !== undefined) expected.push(victim);
          } else if (s.kind === "get") {
            expect(cache.get(k(s.key))).toBe(model.get(k(s.key)));
          } else if (s.kind === "getBytes") {
            const want = model.get(k(s.key));
            expect(cache.getBytes(k(s.key), out)).toBe(want === undefined ? 0 : want.length / 2);
          } else if (s.kind === "getBytesAt") {
            const want = model.get(k(s.key));
            const at = s.key % 3;
            keys[at] = k(s.key);
            expect(cache.getBytesAt(keys, at, out, at)).toBe(want === undefined ? 0 : want.length / 2);
            expect(hex(out.subarray(at, at + (want?.length ?? 0) / 2))).toBe(want ?? "");
          } else if (s.kind === "has") {
            expect(cache.has(k(s.key))).toBe(model.has(k(s.key)));
          } else if (s.kind === "delete") {
            expect(cache.delete(k(s.key))).toBe(model.delete(k(s.key)));
          } else if (s.kind === "setMany") {
            const { bytes, lengths: lens } = packIds(s.ids);
            cache.setMany(BigUint64Array.from(s.keys, k), bytes, lens);
            s.keys.forEach((key, i) => {
              const victim = model.set(k(key), hex(s.ids[i]!));
              if (victim !== undefined) expected.push(victim);
            });
          } else if (s.kind === "getMany") {
            cache.getMany(BigUint64Array.from(s.keys, k), out, lengths);
            s.keys.forEach((key, i) => {
              expect(lengths[i]).toBe((model.get(k(key))?.length ?? 0) / 2);
            });
          } else if (s.kind === "deleteMany") {
            cache.deleteMany(BigUint64Array.from(s.keys, k));
            for (const key of s.keys) model.delete(k(key));
          } else {
            cache.clear();
            model.clear();
          }
          expect(evicted).toEqual(expected);
          expect([...cache]).toEqual(model.entries.map((e) => [e.key, e.id]));
        }
        cache.verify();
      }),
      { numRuns: 300, seed: SEED },
    );
  });
});
