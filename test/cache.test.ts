import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { BUILD_ID_MAX, BuildIdCache, CacheDisposedError, MAX_CAPACITY } from "../src/index.js";
import {
  BATCH,
  BUCKET_SIZE,
  BUCKET_SLOTS,
  ENTRY_SIZE,
  INSERTED,
  META_OFFSET,
  OVER_OFFSET,
  SLOT_ENTRY_OFFSET,
} from "../src/layout.js";
import { instantiateCore } from "../src/wasm.js";

const SLAB = 0xffff_8880_0000_0000n;
const inode = (i: number): bigint => SLAB + BigInt(Math.floor(i / 14)) * 16384n + BigInt(i % 14) * 1128n;
const keysFrom = (first: number, n: number): BigUint64Array =>
  BigUint64Array.from({ length: n }, (_, i) => inode(first + i));
const idHex = (i: number, bytes = 20): string =>
  (i + 1)
    .toString(16)
    .padStart(bytes * 2, "0")
    .slice(-bytes * 2);

// Node's own warnings (an experimental feature, a deprecation in a dependency) are not what a
// child's stderr is checked for; any other line is.
const NODE_WARNING = /^\(node:\d+\) (\[\w+\] )?\w*Warning: |^\(Use `node --trace-/;
const unexpectedStderr = (stderr: string): string[] =>
  stderr.split("\n").filter((line) => line !== "" && !NODE_WARNING.test(line));

async function filled(n: number, capacity = n): Promise<BuildIdCache> {
  const cache = await BuildIdCache.create({ capacity });
  for (let i = 0; i < n; i++) cache.set(inode(i), idHex(i));
  return cache;
}

describe("phases", () => {
  test("insert new keys", async () => {
    const cache = await filled(1000, 2000);
    expect(cache.size).toBe(1000);
    for (let i = 0; i < 1000; i++) expect(cache.get(inode(i))).toBe(idHex(i));
    expect(cache.stats()).toMatchObject({ inserts: 1000, updates: 0, hits: 1000, misses: 0 });
    cache.verify();
  });

  test("insert duplicates replaces the build ID without growing", async () => {
    const cache = await filled(500, 1000);
    for (let i = 0; i < 500; i++) cache.set(inode(i), idHex(i + 7, 16));
    expect(cache.size).toBe(500);
    for (let i = 0; i < 500; i++) expect(cache.get(inode(i))).toBe(idHex(i + 7, 16));
    expect(cache.stats()).toMatchObject({ inserts: 500, updates: 500 });
    cache.verify();
  });

  test("lookup of absent keys misses", async () => {
    const cache = await filled(500, 1000);
    for (let i = 500; i < 1000; i++) {
      expect(cache.get(inode(i))).toBeUndefined();
      expect(cache.has(inode(i))).toBe(false);
    }
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 500 });
  });

  test("delete removes each key once and keeps the others reachable", async () => {
    const cache = await filled(1000);
    for (let i = 0; i < 1000; i += 2) expect(cache.delete(inode(i))).toBe(true);
    for (let i = 0; i < 1000; i += 2) expect(cache.delete(inode(i))).toBe(false);
    expect(cache.size).toBe(500);
    for (let i = 0; i < 1000; i++) expect(cache.get(inode(i))).toBe(i % 2 ? idHex(i) : undefined);
    expect(cache.stats().removals).toBe(500);
    cache.verify();
  });

  test("insert and delete interleaved", async () => {
    const cache = await BuildIdCache.create({ capacity: 64 });
    for (let i = 0; i < 10_000; i++) {
      cache.set(inode(i), idHex(i));
      if (i >= 32) expect(cache.delete(inode(i - 32))).toBe(true);
    }
    expect(cache.size).toBe(32);
    expect([...cache.keys()].sort()).toEqual(Array.from({ length: 32 }, (_, j) => inode(10_000 - 32 + j)).sort());
    expect(cache.stats().evictions).toBe(0);
    cache.verify();
  });

  test("clear empties the table and it fills again", async () => {
    const cache = await filled(300);
    cache.clear();
    expect(cache.size).toBe(0);
    expect([...cache]).toEqual([]);
    for (let i = 0; i < 300; i++) expect(cache.has(inode(i))).toBe(false);
    for (let i = 300; i < 600; i++) cache.set(inode(i), idHex(i));
    expect(cache.size).toBe(300);
    expect(cache.get(inode(450))).toBe(idHex(450));
    cache.verify();
  });

  test("fill to capacity, then each new key evicts exactly one", async () => {
    const evicted: bigint[] = [];
    const cache = await BuildIdCache.create({ capacity: 100, onEvict: (key) => evicted.push(key) });
    for (let i = 0; i < 100; i++) cache.set(inode(i), idHex(i));
    expect(evicted).toEqual([]);
    for (let i = 100; i < 250; i++) cache.set(inode(i), idHex(i));
    expect(cache.size).toBe(100);
    expect(evicted).toHaveLength(150);
    expect(new Set(evicted).size).toBe(150);
    const live = new Set(cache.keys());
    for (const key of evicted) expect(live.has(key)).toBe(false);
    for (let i = 0; i < 250; i++) expect(live.has(inode(i)) || evicted.includes(inode(i))).toBe(true);
    expect(cache.stats().evictions).toBe(150);
    cache.verify();
  });

  test("CLOCK keeps a key that was used over keys that were not", async () => {
    const evicted: bigint[] = [];
    const cache = await BuildIdCache.create({ capacity: 8, onEvict: (key) => evicted.push(key) });
    for (let i = 0; i < 8; i++) cache.set(inode(i), idHex(i));
    expect(cache.get(inode(0))).toBe(idHex(0));
    for (let i = 8; i < 15; i++) cache.set(inode(i), idHex(i));
    expect(cache.has(inode(0))).toBe(true);
    expect(evicted).toEqual([1, 2, 3, 4, 5, 6, 7].map(inode));
  });

  test("CLOCK keeps a key that was set again over keys that were not", async () => {
    const evicted: bigint[] = [];
    const cache = await BuildIdCache.create({ capacity: 8, onEvict: (key) => evicted.push(key) });
    for (let i = 0; i < 8; i++) cache.set(inode(i), idHex(i));
    cache.set(inode(0), idHex(100));
    cache.setMany(BigUint64Array.of(inode(1)), new Uint8Array(BUILD_ID_MAX).fill(1), BUILD_ID_MAX);
    for (let i = 8; i < 14; i++) cache.set(inode(i), idHex(i));
    expect(cache.get(inode(0))).toBe(idHex(100));
    expect(cache.has(inode(1))).toBe(true);
    expect(evicted).toEqual([2, 3, 4, 5, 6, 7].map(inode));
  });

  test("under churn that sets keys again, the keys set last are all present (the bench's churn check)", async () => {
    // The bench's churn: 65,536 keys, hit checks, a deleted and re-set subset, then sets that
    // cycle through 2 * 65,536 keys. Re-set keys whose bits the hit checks set used to be
    // evicted right after, when CLOCK had cleared their bits on its first sweep.
    const live = 65536;
    const chunk = 2048;
    const cache = await BuildIdCache.create({ capacity: live });
    const ids = new Uint8Array(live * BUILD_ID_MAX).fill(7);
    const keysOf = (numbers: number[]) => BigUint64Array.from(numbers, inode);
    cache.setMany(keysOf(Array.from({ length: live }, (_, i) => i)), ids, BUILD_ID_MAX);
    let state = 12345;
    const draw = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 8) % live;
    };
    const hit = keysOf(Array.from({ length: 8192 }, draw));
    const out = new Uint8Array(hit.length * BUILD_ID_MAX);
    const lengths = new Uint8Array(hit.length);
    cache.getMany(hit, out, lengths);
    const subset = keysOf([...new Set(Array.from({ length: chunk }, draw))]);
    cache.deleteMany(subset);
    cache.setMany(subset, ids.subarray(0, subset.length * BUILD_ID_MAX), BUILD_ID_MAX);
    cache.getMany(hit, out, lengths);
    let at = live;
    for (let call = 1; call <= 100; call++) {
      cache.setMany(
        keysOf(Array.from({ length: chunk }, (_, i) => (at + i) % (2 * live))),
        ids.subarray(0, chunk * BUILD_ID_MAX),
        BUILD_ID_MAX,
      );
      at = (at + chunk) % (2 * live);
      const lost = Array.from({ length: chunk }, (_, i) => (at + 2 * live - 1 - i) % (2 * live)).filter(
        (k) => !cache.has(inode(k)),
      );
      expect({ call, lost: lost.slice(0, 5) }).toEqual({ call, lost: [] });
    }
    expect(cache.stats().updates).toBeGreaterThan(0);
    cache.verify();
  });
});

describe("values", () => {
  test("every length from 1 to 20 bytes round-trips, as bytes and as hex", async () => {
    const cache = await BuildIdCache.create({ capacity: 32 });
    const out = new Uint8Array(BUILD_ID_MAX + 5);
    for (let len = 1; len <= BUILD_ID_MAX; len++) {
      const id = Uint8Array.from({ length: len }, (_, i) => 255 - i * 11);
      cache.set(BigInt(len), id);
      out.fill(0xee);
      expect(cache.getBytes(BigInt(len), out, 5)).toBe(len);
      expect(out.subarray(5, 5 + len)).toEqual(id);
      expect(cache.get(BigInt(len))).toBe(Buffer.from(id).toString("hex"));
    }
  });

  test("getBytes writes 20 bytes into views at odd offsets and into alternating buffers", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    cache.set(1n, "0102030405060708090a0b0c0d0e0f1011121314");
    cache.set(2n, "a1a2a3");
    const backing = new Uint8Array(64).fill(0xee);
    const view = backing.subarray(3, 50);
    const other = new Uint8Array(20);
    expect(cache.getBytes(2n, view, 0)).toBe(3);
    expect(cache.getBytes(2n, other)).toBe(3);
    expect(cache.getBytes(1n, view, 21)).toBe(20);
    expect([...backing.subarray(0, 3)]).toEqual([0xee, 0xee, 0xee]);
    expect([...backing.subarray(3, 23)]).toEqual([0xa1, 0xa2, 0xa3, ...new Array(17).fill(0)]);
    expect(backing[23]).toBe(0xee);
    expect([...backing.subarray(24, 44)]).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect([...backing.subarray(44)]).toEqual(new Array(20).fill(0xee));
    expect([...other]).toEqual([0xa1, 0xa2, 0xa3, ...new Array(17).fill(0)]);
  });

  test("getBytes writes exactly its 20 bytes at every start alignment, by words or through the view", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    const id = Array.from({ length: BUILD_ID_MAX }, (_, i) => 0x30 + i);
    cache.set(1n, Uint8Array.from(id));
    for (let start = 0; start < 8; start++) {
      for (let offset = 0; offset < 8; offset++) {
        const backing = new Uint8Array(48).fill(0xee);
        const out = backing.subarray(start, start + offset + BUILD_ID_MAX + 1);
        expect(cache.getBytes(1n, out, offset)).toBe(BUILD_ID_MAX);
        const at = start + offset;
        const want = [...new Array(at).fill(0xee), ...id, ...new Array(48 - at - BUILD_ID_MAX).fill(0xee)];
        expect([...backing], `out at byte ${start}, offset ${offset}`).toEqual(want);
      }
    }
  });

  test("getBytesAt(keys, i) answers, writes, counts and marks as getBytes(keys[i]) does, at every alignment", async () => {
    const ids = Array.from({ length: 40 }, (_, i) => idHex(i, 1 + (i % BUILD_ID_MAX)));
    // Keys above 2^63 (kernel addresses), 0 and 2^64-1, and misses, each looked up more than once.
    const held = [...ids.keys()].map((i) => (i === 0 ? 0n : i === 1 ? (1n << 64n) - 1n : inode(i)));
    const keys = BigUint64Array.from([...held, inode(100), inode(101), 1n << 63n, ...held.toReversed()]);
    const [byKey, byIndex] = await Promise.all([1, 2].map(() => BuildIdCache.create({ capacity: 40 })));
    for (const cache of [byKey!, byIndex!]) for (const [i, key] of held.entries()) cache.set(key, ids[i]!);
    // A third of the keys marked used, by key on one cache and by index on the other: CLOCK then evicts the same keys.
    const one = new Uint8Array(BUILD_ID_MAX);
    for (let i = 0; i < held.length; i += 3) {
      byKey!.getBytes(keys[i]!, one);
      byIndex!.getBytesAt(keys, i, one);
    }
    const after = [byKey!, byIndex!].map((cache) => {
      cache.setMany(keysFrom(1000, 20), new Uint8Array(20 * BUILD_ID_MAX).fill(1), 4);
      return [...cache.keys()];
    });
    expect(after[1]).toEqual(after[0]);
    for (let start = 0; start < 8; start++) {
      for (let offset = 0; offset < 8; offset++) {
        for (let i = start; i < keys.length; i += 7) {
          const [a, b] = [new Uint8Array(48).fill(0xee), new Uint8Array(48).fill(0xee)];
          const want = byKey!.getBytes(keys[i]!, a.subarray(start), offset);
          expect(byIndex!.getBytesAt(keys, i, b.subarray(start), offset), `key ${i}`).toBe(want);
          expect(b, `key ${i} at byte ${start}, offset ${offset}`).toEqual(a);
        }
      }
    }
    expect(byIndex!.stats()).toEqual(byKey!.stats());
  });

  test("setAt(keys, i, id) inserts, updates, evicts, reports and counts as set(keys[i], id) does", async () => {
    // Keys above 2^63 (kernel addresses), 0 and 2^64-1; twice the capacity, so the second half evicts; then two
    // updates and an evicted key inserted again.
    const keys = BigUint64Array.from({ length: 32 }, (_, i) => (i === 0 ? 0n : i === 1 ? (1n << 64n) - 1n : inode(i)));
    const evicted: bigint[][] = [[], []];
    const [byKey, byIndex] = await Promise.all(
      [0, 1].map((side) => BuildIdCache.create({ capacity: 16, onEvict: (key) => evicted[side]!.push(key) })),
    );
    for (const i of [...keys.keys(), 20, 31, 5]) {
      const id = i % 2 ? idHex(i, 1 + (i % BUILD_ID_MAX)) : Uint8Array.from(Buffer.from(idHex(i, 20), "hex"));
      expect(byKey!.set(keys[i]!, id)).toBe(byKey);
      expect(byIndex!.setAt(keys, i, id)).toBe(byIndex);
    }
    expect(evicted[1]).toEqual(evicted[0]);
    expect(evicted[1]!.length, "16 to make room, then key 5 again").toBe(17);
    expect([...byIndex!]).toEqual([...byKey!]);
    expect(byIndex!.stats()).toEqual(byKey!.stats());
  });

  test("setAt refuses keys that are not a BigUint64Array, indexes not in it and bad build IDs, inserting nothing", async () => {
    const cache = await filled(3, 8);
    const keys = BigUint64Array.from([inode(0), inode(20), inode(21)]);
    const before = [...cache];
    const stats = cache.stats();
    const id = new Uint8Array(BUILD_ID_MAX).fill(7);
    const refused: Array<[() => unknown, Error]> = [
      [
        () => cache.setAt([inode(20)] as unknown as BigUint64Array, 0, id),
        new TypeError("keys must be a BigUint64Array, got [object Array]"),
      ],
      [() => cache.setAt(keys, 3, id), new RangeError("index 3 is past the end of keys (length 3)")],
      [() => cache.setAt(keys, -1, id), new RangeError("index must be an integer >= 0, got -1")],
      [() => cache.setAt(keys, 1.5, id), new RangeError("index must be an integer >= 0, got 1.5")],
      [() => cache.setAt(keys, 1, new Uint8Array(21)), new RangeError("build ID must be 1 to 20 bytes, got 21")],
      [() => cache.setAt(keys, 1, new Uint8Array(0)), new RangeError("build ID must be 1 to 20 bytes, got 0")],
      [
        () => cache.setAt(keys, 1, [1, 2] as unknown as Uint8Array),
        new TypeError("build ID must be a Uint8Array or a hex string, got [object Array]"),
      ],
    ];
    for (const [call, error] of refused) expect(call).toThrow(error);
    expect([...cache]).toEqual(before);
    expect(cache.stats()).toEqual(stats);
    // The array checked last is not trusted for another one.
    cache.setAt(keys.subarray(2), 0, id);
    expect(() => cache.setAt(keys.subarray(2), 1, id)).toThrow("index 1 is past the end of keys (length 1)");
    expect(cache.get(inode(21))).toBe("07".repeat(20));
  });

  test("a shorter build ID replacing a longer one leaves no stale tail", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    cache.set(1n, "ff".repeat(20));
    cache.set(1n, "0102");
    const out = new Uint8Array(BUILD_ID_MAX).fill(0xaa);
    expect(cache.getBytes(1n, out)).toBe(2);
    expect([...out]).toEqual([1, 2, ...new Array(18).fill(0)]);
    expect(cache.get(1n)).toBe("0102");
  });

  test("keys 0 and 2^64-1 are ordinary keys", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    const top = (1n << 64n) - 1n;
    expect(cache.get(0n)).toBeUndefined();
    cache.set(0n, "00");
    cache.set(top, "ff");
    expect(cache.get(0n)).toBe("00");
    expect(cache.get(top)).toBe("ff");
    expect(cache.size).toBe(2);
    expect(new Map(cache)).toEqual(
      new Map([
        [0n, "00"],
        [top, "ff"],
      ]),
    );
  });

  test("hex input is accepted in either case and read back lowercase", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    cache.set(5n, "DeadBEEF");
    expect(cache.get(5n)).toBe("deadbeef");
  });
});

describe("batch forms", () => {
  test("setMany, getMany and deleteMany agree with single calls across chunk boundaries", async () => {
    const n = 5000;
    const cache = await BuildIdCache.create({ capacity: n });
    const keys = BigUint64Array.from({ length: n }, (_, i) => inode(i));
    const ids = Uint8Array.from({ length: n * BUILD_ID_MAX }, (_, i) => (i * 7) & 0xff);
    const lengths = Uint8Array.from({ length: n }, (_, i) => 1 + (i % BUILD_ID_MAX));
    expect(cache.setMany(keys, ids, lengths)).toBe(0);
    expect(cache.size).toBe(n);
    const out = new Uint8Array(n * BUILD_ID_MAX);
    const got = new Uint8Array(n);
    expect(cache.getMany(keys, out, got)).toBe(n);
    expect(got).toEqual(lengths);
    const one = new Uint8Array(BUILD_ID_MAX);
    for (let i = 0; i < n; i += 97) {
      const len = lengths[i]!;
      expect(out.subarray(i * 20, i * 20 + len)).toEqual(ids.subarray(i * 20, i * 20 + len));
      expect(cache.getBytes(keys[i]!, one)).toBe(len);
      expect(one.subarray(0, len)).toEqual(ids.subarray(i * 20, i * 20 + len));
    }
    const half = keys.filter((_, i) => i % 2 === 0);
    const removed = new Uint8Array(half.length);
    expect(cache.deleteMany(half, removed)).toBe(half.length);
    expect(removed.every((r) => r === 1)).toBe(true);
    expect(cache.deleteMany(half)).toBe(0);
    expect(cache.size).toBe(n - half.length);
    expect(cache.getMany(keys, out, got)).toBe(n - half.length);
    expect([...got].map((len, i) => (len === 0) === (i % 2 === 0)).every(Boolean)).toBe(true);
    cache.verify();
  });

  test("setMany with one length for all, at capacity, reports each eviction", async () => {
    const evicted: bigint[] = [];
    const cache = await BuildIdCache.create({ capacity: 1000, onEvict: (key) => evicted.push(key) });
    const keys = BigUint64Array.from({ length: 3000 }, (_, i) => inode(i));
    expect(cache.setMany(keys, new Uint8Array(3000 * 20).fill(9), 20)).toBe(2000);
    expect(evicted).toHaveLength(2000);
    expect(cache.size).toBe(1000);
    const live = new Set(cache.keys());
    expect(evicted.some((k) => live.has(k))).toBe(false);
    cache.verify();
  });
});

describe("bad input gets a clear error and changes nothing", () => {
  test("capacity", async () => {
    await expect(BuildIdCache.create({ capacity: 0 })).rejects.toThrow(
      new RangeError(`capacity must be an integer from 1 to ${MAX_CAPACITY}, got 0`),
    );
    await expect(BuildIdCache.create({ capacity: 1.5 })).rejects.toThrow("got 1.5");
    await expect(BuildIdCache.create({ capacity: MAX_CAPACITY + 1 })).rejects.toThrow(`got ${MAX_CAPACITY + 1}`);
    await expect(BuildIdCache.create({ capacity: "8" as unknown as number })).rejects.toThrow(/got "8"$/);
    await expect(BuildIdCache.create({ capacity: Number.NaN })).rejects.toThrow(RangeError);
  });

  test("keys", async () => {
    const cache = await filled(3, 8);
    const before = [...cache];
    expect(() => cache.get(1 as unknown as bigint)).toThrow(new TypeError("key must be a bigint in [0, 2^64), got 1"));
    expect(() => cache.set("1" as unknown as bigint, "aa")).toThrow(
      new TypeError('key must be a bigint in [0, 2^64), got "1"'),
    );
    expect(() => cache.set(-1n, "aa")).toThrow(new RangeError("key must be a bigint in [0, 2^64), got -1n"));
    expect(() => cache.delete(1n << 64n)).toThrow(
      new RangeError("key must be a bigint in [0, 2^64), got 18446744073709551616n"),
    );
    expect(() => cache.has(undefined as unknown as bigint)).toThrow("got undefined");
    expect([...cache]).toEqual(before);
  });

  test("keys that wrap to a held key modulo 2^64 are refused and touch nothing", async () => {
    const cache = await filled(3, 8);
    const stats = cache.stats();
    const out = new Uint8Array(BUILD_ID_MAX);
    for (const wrap of [1n << 64n, -(1n << 64n), 5n << 64n, -(1n << 128n)]) {
      expect(() => cache.getBytes(inode(1) + wrap, out)).toThrow(RangeError);
      expect(() => cache.get(inode(1) + wrap)).toThrow(RangeError);
    }
    expect(cache.stats()).toEqual(stats);
    expect(out).toEqual(new Uint8Array(BUILD_ID_MAX));
    expect(cache.has((1n << 64n) - 1n)).toBe(false);
    expect(cache.has(0n)).toBe(false);
  });

  test("build IDs", async () => {
    const cache = await filled(3, 8);
    const before = [...cache];
    const stats = cache.stats();
    expect(() => cache.set(inode(0), new Uint8Array(0))).toThrow(
      new RangeError("build ID must be 1 to 20 bytes, got 0"),
    );
    expect(() => cache.set(inode(0), new Uint8Array(21))).toThrow(
      new RangeError("build ID must be 1 to 20 bytes, got 21"),
    );
    expect(() => cache.set(inode(0), "abc")).toThrow(new TypeError('build ID "abc" has odd length 3'));
    expect(() => cache.set(inode(0), "zz")).toThrow(new TypeError('build ID "zz" has a non-hex character "z" at 0'));
    expect(() => cache.set(inode(0), "")).toThrow(new RangeError('build ID "" must be 1 to 20 bytes, got 0'));
    expect(() => cache.set(inode(0), "00".repeat(21))).toThrow("must be 1 to 20 bytes, got 21");
    expect(() => cache.set(inode(0), "0".repeat(41))).toThrow(
      new TypeError(`build ID "${"0".repeat(41)}" has odd length 41`),
    );
    expect(() => cache.set(inode(0), [1, 2] as unknown as Uint8Array)).toThrow(
      new TypeError("build ID must be a Uint8Array or a hex string, got [object Array]"),
    );
    expect([...cache]).toEqual(before);
    expect(cache.stats()).toEqual(stats);
  });

  test("hex build IDs: each code unit below 0x400 and from 0xff00 (fullwidth forms) is a digit or refused by name", async () => {
    const cache = await BuildIdCache.create({ capacity: 4 });
    const out = new Uint8Array(BUILD_ID_MAX);
    const digits = "0123456789abcdef";
    const codes = [...Array(0x400).keys(), ...Array.from({ length: 0x100 }, (_, i) => 0xff00 + i)];
    for (const code of codes) {
      const c = String.fromCharCode(code);
      const value = digits.indexOf(c.toLowerCase());
      if (value >= 0 && c.length === 1 && /[0-9a-fA-F]/.test(c)) {
        cache.set(1n, `f${c}`);
        cache.getBytes(1n, out);
        expect(out[0], `code ${code}`).toBe(0xf0 | value);
      } else {
        expect(() => cache.set(2n, `f${c}`), `code ${code}`).toThrow(
          new TypeError(`build ID ${JSON.stringify(`f${c}`)} has a non-hex character ${JSON.stringify(c)} at 1`),
        );
      }
    }
    expect(cache.has(2n)).toBe(false);
  });

  test("output buffers and batch arguments", async () => {
    const cache = await filled(3, 8);
    const before = [...cache];
    expect(() => cache.getBytes(inode(0), new Uint8Array(19))).toThrow(
      new RangeError("offset 0 leaves no room for 20 bytes in out of length 19"),
    );
    expect(() => cache.getBytes(inode(0), new Uint8Array(40), 21)).toThrow("offset 21 leaves no room");
    expect(() => cache.getMany([1n] as unknown as BigUint64Array, new Uint8Array(20), new Uint8Array(1))).toThrow(
      new TypeError("keys must be a BigUint64Array, got [object Array]"),
    );
    const keys = new BigUint64Array([inode(5), inode(6)]);
    expect(() => cache.getMany(keys, new Uint8Array(39), new Uint8Array(2))).toThrow(
      new RangeError("out has room for 39 values, needs 40"),
    );
    expect(() => cache.setMany(keys, new Uint8Array(40), new Uint8Array([20, 0]))).toThrow(
      new RangeError("lengths[1] must be 1 to 20 bytes, got 0"),
    );
    expect(() => cache.setMany(keys, new Uint8Array(40), 21)).toThrow("build ID length must be 1 to 20 bytes, got 21");
    expect(() => cache.deleteMany(keys, new Uint8Array(1))).toThrow("removed has room for 1 values, needs 2");
    expect([...cache]).toEqual(before);
  });

  test("getBytesAt refuses keys that are not a BigUint64Array and indexes not in it, looking nothing up", async () => {
    const cache = await filled(3, 8);
    const keys = BigUint64Array.from([inode(0), inode(1), inode(9)]);
    const out = new Uint8Array(BUILD_ID_MAX);
    expect(cache.getBytesAt(keys, 1, out)).toBe(20);
    const stats = cache.stats();
    out.fill(0xee);
    const refused: Array<[() => unknown, Error]> = [
      [
        () => cache.getBytesAt([inode(0)] as unknown as BigUint64Array, 0, out),
        new TypeError("keys must be a BigUint64Array, got [object Array]"),
      ],
      [
        () => cache.getBytesAt(BigInt64Array.from([inode(0) - (1n << 64n)]) as unknown as BigUint64Array, 0, out),
        new TypeError("keys must be a BigUint64Array, got [object BigInt64Array]"),
      ],
      [() => cache.getBytesAt(keys, 3, out), new RangeError("index 3 is past the end of keys (length 3)")],
      [() => cache.getBytesAt(keys, -1, out), new RangeError("index must be an integer >= 0, got -1")],
      [() => cache.getBytesAt(keys, 1.5, out), new RangeError("index must be an integer >= 0, got 1.5")],
      [
        () => cache.getBytesAt(keys, 2 ** 32, out),
        new RangeError("index 4294967296 is past the end of keys (length 3)"),
      ],
      [
        () => cache.getBytesAt(keys, "0" as unknown as number, out),
        new TypeError('index must be an integer >= 0, got "0"'),
      ],
      [
        () => cache.getBytesAt(keys, 0, new Uint8Array(19)),
        new RangeError("offset 0 leaves no room for 20 bytes in out of length 19"),
      ],
      [
        () => cache.getBytesAt(keys, 0, out, 1),
        new RangeError("offset 1 leaves no room for 20 bytes in out of length 20"),
      ],
      [
        () => cache.getBytesAt(keys, 0, [] as unknown as Uint8Array),
        new TypeError("out must be a Uint8Array, got [object Array]"),
      ],
    ];
    for (const [call, error] of refused) expect(call).toThrow(error);
    expect(cache.stats()).toEqual(stats);
    expect(out).toEqual(new Uint8Array(BUILD_ID_MAX).fill(0xee));
    // The array checked last is not trusted for another one.
    expect(cache.getBytesAt(keys.subarray(2), 0, out)).toBe(0);
    expect(() => cache.getBytesAt(keys.subarray(2), 1, out)).toThrow("index 1 is past the end of keys (length 1)");
  });

  test("a disposed cache refuses every call", async () => {
    const cache = await filled(3, 8);
    cache.dispose();
    const calls: Array<() => unknown> = [
      () => cache.get(1n),
      () => cache.set(1n, "aa"),
      () => cache.getBytes(1n, new Uint8Array(20)),
      () => cache.getBytesAt(new BigUint64Array(1), 0, new Uint8Array(20)),
      () => cache.setAt(new BigUint64Array(1), 0, "aa"),
      () => cache.has(1n),
      () => cache.delete(1n),
      () => cache.clear(),
      () => cache.size,
      () => cache.stats(),
      () => [...cache],
      () => cache.getMany(new BigUint64Array(1), new Uint8Array(20), new Uint8Array(1)),
      () => cache.setMany(new BigUint64Array(1), new Uint8Array(20), 20),
      () => cache.deleteMany(new BigUint64Array(1)),
    ];
    for (const call of calls) expect(call).toThrow(CacheDisposedError);
  });

  test("changing the cache while iterating throws", async () => {
    const cache = await filled(10);
    expect(() => {
      for (const [key] of cache) cache.delete(key);
    }).toThrow("changed during iteration");
  });
});

describe("memory", () => {
  test("lookups never grow memory; all of it is reserved at creation", async () => {
    const cache = await BuildIdCache.create({ capacity: 50_000 });
    const reserved = cache.stats().memoryBytes;
    const keys = BigUint64Array.from({ length: 50_000 }, (_, i) => inode(i));
    cache.setMany(keys, new Uint8Array(50_000 * 20).fill(1), 20);
    for (let i = 0; i < 50_000; i++) cache.get(inode(i + 25_000));
    cache.getMany(keys, new Uint8Array(50_000 * 20), new Uint8Array(50_000));
    expect(cache.stats().memoryBytes).toBe(reserved);
  });

  test("bytes per entry, batch buffers included, stay at most 36 from 65,536 entries up", async () => {
    for (const capacity of [1000, 16_384, 49_152, 49_153, 65_536, 100_000, 1_000_000]) {
      const cache = await BuildIdCache.create({ capacity });
      const { slots, reservedBytes } = cache.stats();
      expect(slots).toBeGreaterThanOrEqual((capacity * 8) / 7);
      expect(slots - BUCKET_SLOTS).toBeLessThan((capacity * 8) / 7);
      const tableBytes = capacity * ENTRY_SIZE + (slots / BUCKET_SLOTS) * BUCKET_SIZE;
      expect(tableBytes / capacity).toBeLessThanOrEqual(ENTRY_SIZE + ((BUCKET_SIZE / BUCKET_SLOTS) * 8) / 7 + 0.1);
      expect(reservedBytes - tableBytes).toBeLessThan(64 * 1024);
      if (capacity >= 65_536) expect(reservedBytes / capacity).toBeLessThanOrEqual(36);
      cache.dispose();
    }
  });

  test("stderr checks ignore Node's own warnings and nothing else", () => {
    const warnings = [
      "(node:123) ExperimentalWarning: WASI is an experimental feature",
      "(node:9) [DEP0040] DeprecationWarning: The `punycode` module is deprecated.",
      "(Use `node --trace-warnings ...` to show where the warning was created)",
    ];
    const trap = ["RuntimeError: unreachable", "    at entryAddress (wasm://wasm/1234:1:99)"];
    expect(unexpectedStderr([...warnings, ...trap, ""].join("\n"))).toEqual(trap);
  });

  test("without the test set-up, create() loads the release build (no asserts compiled in)", () => {
    const script = `
      import "./src/index.ts"; // the main entry: it points the core at build/
      import { instantiateCore } from "./src/wasm.ts";
      const core = await instantiateCore();
      core.init(8);
      core.entryAddress(0); // asserts in the debug build; the release build has none
      console.log("release");`;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      encoding: "utf8",
    });
    expect(unexpectedStderr(run.stderr)).toEqual([]);
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe("release");
  });

  test("the debug build traps on a broken invariant; the release build has no asserts", async () => {
    const { instantiateCore } = await import("../src/wasm.js");
    const debug = await instantiateCore();
    debug.init(8);
    expect(() => debug.entryAddress(0)).toThrow(/entryAddress: i within the live entries/);
    const release = await instantiateCore(new URL("../build/core.wasm", import.meta.url));
    release.init(8);
    expect(() => release.entryAddress(0)).not.toThrow();
  });
});

describe("verify() fires on a corrupted table", () => {
  const KEYS = [inode(0), inode(1), inode(2)];

  /** A debug core holding `keys`, with views of its buckets and its entries. */
  async function corruptible(keys = KEYS, capacity = 8) {
    const core = await instantiateCore();
    core.init(capacity);
    const bytes = new Uint8Array(core.memory.buffer);
    for (const [i, key] of keys.entries()) {
      bytes.fill(i + 1, core.ioIds.value, core.ioIds.value + 4);
      expect(core.insert(key, core.ioIds.value, 4)).toBe(INSERTED);
    }
    const entries = core.entryAddress(0);
    const table = core.bucketAddress();
    const buckets = core.slotCount() / BUCKET_SLOTS;
    // The entries follow the buckets and the batch regions (init() lays them out so); check before writing.
    expect(entries).toBeGreaterThanOrEqual(core.ioLens.value + BATCH);
    expect(core.ioKeys.value).toBe(table + buckets * BUCKET_SIZE);
    const tag = (b: number, i: number) => table + b * BUCKET_SIZE + i;
    const entryNumber = (b: number, i: number) => table + b * BUCKET_SIZE + SLOT_ENTRY_OFFSET + 3 * i;
    const full: [number, number][] = [];
    for (let b = 0; b < buckets; b++) {
      for (let i = 0; i < BUCKET_SLOTS; i++) if (bytes[tag(b, i)] !== 0) full.push([b, i]);
    }
    expect(full.length).toBe(keys.length);
    core.verify();
    return { core, bytes, full, entries, tag, entryNumber, over: (b: number) => table + b * BUCKET_SIZE + OVER_OFFSET };
  }

  test("a slot pointing past the live entries", async () => {
    const { core, bytes, full, entryNumber } = await corruptible();
    bytes[entryNumber(...full[0]!)] = KEYS.length + 1;
    expect(() => core.verify()).toThrow(/verify: a slot points at a live entry/);
  });

  test("a slot with another key's tag", async () => {
    const { core, bytes, full, tag } = await corruptible();
    const at = tag(...full[0]!);
    bytes[at] = bytes[at] === 0xff ? 1 : bytes[at]! + 1;
    expect(() => core.verify()).toThrow(/verify: the tag is the key's/);
  });

  test("a key sitting where its probe does not find it", async () => {
    const { core, bytes, full, tag, entryNumber } = await corruptible([inode(0)]);
    const [b, i] = full[0]!;
    const copy = i === 0 ? 1 : 0; // a second slot of the same key: the probe finds only the first
    bytes[tag(b, copy)] = bytes[tag(b, i)]!;
    bytes.copyWithin(entryNumber(b, copy), entryNumber(b, i), entryNumber(b, i) + 3);
    expect(() => core.verify()).toThrow(/verify: the key is found where it sits/);
  });

  test("a live entry with no slot", async () => {
    const { core, bytes, full, tag } = await corruptible([inode(0)]);
    bytes[tag(...full[0]!)] = 0;
    expect(() => core.verify()).toThrow(/verify: one slot per live entry/);
  });

  test("an overflow count no key passed", async () => {
    const { core, bytes, full, over } = await corruptible();
    bytes[over(full[0]![0])] = 1;
    expect(() => core.verify()).toThrow(/verify: overflow counts sum to the buckets the keys passed/);
  });

  test("a key sitting past the reach", async () => {
    const { core, bytes, full, tag, entryNumber, over } = await corruptible([inode(0)], 64);
    const [b, i] = full[0]!;
    const next = (b + 1) % (core.slotCount() / BUCKET_SLOTS);
    bytes[tag(next, 0)] = bytes[tag(b, i)]!;
    bytes.copyWithin(entryNumber(next, 0), entryNumber(b, i), entryNumber(b, i) + 3);
    bytes[tag(b, i)] = 0;
    bytes[over(b)] = 1; // counted as passing its home, as a displaced key is
    expect(core.reach.value).toBe(0);
    expect(() => core.verify()).toThrow(/verify: no key sits past the reach/);
  });

  test("churn at capacity keeps every key within a small reach, so a miss stops early", async () => {
    // Under churn at load 7/8 the overflow counts end up non-zero in every bucket; before the
    // reach bound a miss then walked the whole table (17-38 us at 65,536 entries).
    const capacity = 4096;
    const core = await instantiateCore();
    core.init(capacity);
    const ids = core.ioIds.value as number;
    new Uint8Array(core.memory.buffer).fill(7, ids, ids + 4);
    const slab = (i: number) => 0xffff888000000000n + BigInt(Math.floor(i / 14)) * 16384n + BigInt(i % 14) * 1128n;
    let n = 0;
    for (let pass = 0; pass < 8; pass++) for (let i = 0; i < capacity; i++) core.insert(slab(n++), ids, 4);
    core.verify();
    const buckets = core.slotCount() / BUCKET_SLOTS;
    let overflowing = 0;
    for (let b = 0; b < buckets; b++)
      overflowing += Number(
        new Uint8Array(core.memory.buffer)[core.bucketAddress() + b * BUCKET_SIZE + OVER_OFFSET] !== 0,
      );
    expect(overflowing / buckets).toBeGreaterThan(0.5);
    expect(core.reach.value).toBeLessThan(32);
    for (let i = n - capacity; i < n; i++) expect(core.contains(slab(i))).toBe(1);
  });

  test.each([0, BUILD_ID_MAX + 1, 0x40 | BUILD_ID_MAX])("a live entry whose meta byte is %i", async (meta) => {
    const { core, bytes, entries } = await corruptible();
    bytes[entries + ENTRY_SIZE + META_OFFSET] = meta;
    expect(() => core.verify()).toThrow(/verify: a live entry has a valid length/);
  });
});
