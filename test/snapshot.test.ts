// Snapshots: round trips, the documented layout, refusal of every corruption, and snapshot files.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BUILD_ID_MAX, BuildIdCache, CacheDisposedError, SNAPSHOT_VERSION, SnapshotError } from "../src/index.js";
import { loadSnapshotFile, persist, saveSnapshotAtomic } from "../src/node/snapshot-file.js";
import { SNAPSHOT_ENTRY_SIZE } from "../src/snapshot.js";
import { instantiateCore } from "../src/wasm.js";
import { checksums, Layout, records } from "./helpers/snapshot-bytes.js";

const U64 = (1n << 64n) - 1n;

async function cacheWith(capacity: number, entries: [bigint, string][]): Promise<BuildIdCache> {
  const cache = await BuildIdCache.create({ capacity });
  for (const [key, id] of entries) cache.set(key, id);
  return cache;
}

/** The refusal `restore` gives `bytes`, failing the test when it restores instead. */
async function refusal(bytes: Uint8Array): Promise<unknown> {
  return BuildIdCache.restore(bytes).then(
    () => expect.fail("restore accepted a bad snapshot"),
    (error: unknown) => error,
  );
}

const op = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("set" as const),
      key: fc.bigInt(0n, 40n),
      id: fc.uint8Array({ minLength: 1, maxLength: BUILD_ID_MAX }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("get" as const), key: fc.bigInt(0n, 40n) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: fc.bigInt(0n, 40n) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("wide" as const),
      key: fc.bigInt(0n, U64),
      id: fc.uint8Array({ minLength: 1, maxLength: BUILD_ID_MAX }),
    }),
  },
);

type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function replay(capacity: number, ops: Op[]): Promise<BuildIdCache> {
  const cache = await BuildIdCache.create({ capacity });
  for (const o of ops) {
    if (o.kind === "get") cache.get(o.key);
    else if (o.kind === "delete") cache.delete(o.key);
    else cache.set(o.key, o.id);
  }
  return cache;
}

describe("round trips", () => {
  test("restore gives back the same entries in the same order, and a byte-identical snapshot", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 48 }), fc.array(op, { maxLength: 120 }), async (capacity, ops) => {
        const cache = await replay(capacity, ops);
        const bytes = cache.snapshot();
        const restored = await BuildIdCache.restore(bytes);
        restored.verify();
        expect(restored.capacity).toBe(capacity);
        expect([...restored]).toEqual([...cache]);
        // Same bytes again means the same order and the same CLOCK reference bits.
        expect(restored.snapshot()).toEqual(bytes);
      }),
      { numRuns: 150 },
    );
  });

  test("restoring into another capacity keeps every entry when they fit, and is a RangeError when not", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 48 }),
        fc.array(op, { maxLength: 80 }),
        fc.integer({ min: 1, max: 60 }),
        async (capacity, ops, target) => {
          const cache = await replay(capacity, ops);
          const restoring = BuildIdCache.restore(cache.snapshot(), { capacity: target });
          if (target < cache.size) {
            await expect(restoring).rejects.toThrow(
              new RangeError(`snapshot holds ${cache.size} entries, more than capacity ${target}`),
            );
            return;
          }
          const restored = await restoring;
          restored.verify();
          expect(restored.capacity).toBe(target);
          expect(new Map(restored)).toEqual(new Map(cache));
        },
      ),
      { numRuns: 150 },
    );
  });

  test("an empty cache round-trips", async () => {
    const restored = await BuildIdCache.restore((await BuildIdCache.create({ capacity: 5 })).snapshot());
    expect(restored.size).toBe(0);
    expect(restored.capacity).toBe(5);
  });

  test("reference bits survive: the restored cache evicts the key the original would", async () => {
    const evicted: bigint[] = [];
    const original = await cacheWith(3, [
      [1n, "aa"],
      [2n, "bb"],
      [3n, "cc"],
    ]);
    original.get(1n);
    original.get(3n);
    const restored = await BuildIdCache.restore(original.snapshot(), { onEvict: (key) => evicted.push(key) });
    restored.set(4n, "dd");
    expect(evicted).toEqual([2n]);
    const fresh = await cacheWith(3, [
      [1n, "aa"],
      [2n, "bb"],
      [3n, "cc"],
    ]);
    const freshEvicted: bigint[] = [];
    const unreferenced = await BuildIdCache.restore(fresh.snapshot(), { onEvict: (key) => freshEvicted.push(key) });
    unreferenced.set(4n, "dd");
    expect(freshEvicted).toEqual([1n]);
  });

  test("counters start over: a snapshot holds entries, not statistics", async () => {
    const cache = await cacheWith(4, [
      [1n, "01"],
      [2n, "02"],
    ]);
    cache.get(1n);
    cache.get(9n);
    const stats = (await BuildIdCache.restore(cache.snapshot())).stats();
    expect([stats.inserts, stats.hits, stats.misses, stats.updates]).toEqual([2, 0, 0, 0]);
  });

  test("too small a capacity is a RangeError naming both numbers, and nothing is created", async () => {
    const cache = await cacheWith(8, [
      [1n, "01"],
      [2n, "02"],
      [3n, "03"],
    ]);
    await expect(BuildIdCache.restore(cache.snapshot(), { capacity: 2 })).rejects.toThrow(
      new RangeError("snapshot holds 3 entries, more than capacity 2"),
    );
  });

  test("the snapshot is a copy: later changes to the cache do not reach it", async () => {
    const cache = await cacheWith(4, [[1n, "01"]]);
    const bytes = cache.snapshot();
    cache.set(1n, "ff");
    cache.set(2n, "02");
    expect(Object.fromEntries(await BuildIdCache.restore(bytes))).toEqual({ 1: "01" });
  });

  test("a disposed cache has no snapshot", async () => {
    const cache = await cacheWith(4, [[1n, "01"]]);
    cache.dispose();
    expect(() => cache.snapshot()).toThrow(CacheDisposedError);
  });
});

describe("layout", () => {
  test("records are the core's entries: same size and same longest build ID", async () => {
    const core = await instantiateCore();
    expect(SNAPSHOT_ENTRY_SIZE).toBe(core.ENTRY_SIZE.value);
    expect(BUILD_ID_MAX).toBe(core.BUILD_ID_MAX.value);
  });

  test("header, records and checksum sit where the format says", async () => {
    const cache = await cacheWith(7, [
      [0xffff_8880_1234_5678n, "0102030405"],
      [U64, "a".repeat(40)],
    ]);
    cache.get(U64);
    const bytes = cache.snapshot();
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(Buffer.from(bytes.subarray(0, 8)).toString("latin1")).toBe("BIDCSNAP");
    expect(v.getUint16(Layout.version, true)).toBe(SNAPSHOT_VERSION);
    expect(v.getUint16(Layout.entrySize, true)).toBe(32);
    expect(v.getUint16(Layout.buildIdMax, true)).toBe(20);
    expect(v.getUint16(Layout.flags, true)).toBe(0);
    expect(v.getUint32(Layout.capacity, true)).toBe(7);
    expect(v.getUint32(Layout.count, true)).toBe(2);
    expect(bytes.length).toBe(Layout.header + 2 * Layout.record + 4);
    expect(records(bytes)).toEqual([
      [0xffff_8880_1234_5678n, "0102030405", 0],
      [U64, "a".repeat(40), 1],
    ]);
    // The trailer is the standard CRC-32, as zlib computes it.
    const { stored, computed } = checksums(bytes);
    expect(stored).toBe(computed);
  });
});

describe("corruption", () => {
  let bytes: Uint8Array;
  let pristine: Uint8Array;
  beforeAll(async () => {
    const cache = await cacheWith(4, [
      [0x1234n, "00112233445566778899aabbccddeeff00112233"],
      [U64, "77"],
      [0n, "0a0b0c"],
    ]);
    bytes = cache.snapshot();
    pristine = bytes.slice();
  });

  function expectedCodes(position: number): string[] {
    if (position < 8) return ["BAD_MAGIC"];
    if (position < Layout.entrySize) return ["UNSUPPORTED_VERSION"];
    if (position < Layout.capacity) return ["LAYOUT_MISMATCH"];
    // A changed capacity or count may still describe a well-formed header.
    if (position < Layout.header) return ["BAD_HEADER", "TRUNCATED", "TRAILING_BYTES", "CHECKSUM_MISMATCH"];
    return ["CHECKSUM_MISMATCH"];
  }

  test("a change at every byte position is refused with a SnapshotError, and the input stays as it was", async () => {
    let refused = 0;
    for (let position = 0; position < bytes.length; position++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = pristine.slice();
        bad[position]! ^= flip;
        const copy = bad.slice();
        const error = await refusal(bad);
        expect(error).toBeInstanceOf(SnapshotError);
        expect(expectedCodes(position)).toContain((error as SnapshotError).code);
        expect(bad).toEqual(copy);
        refused++;
      }
    }
    expect(refused).toBe(bytes.length * 3);
    expect(Object.fromEntries(await BuildIdCache.restore(pristine))).toEqual({
      4660: "00112233445566778899aabbccddeeff00112233",
      [U64.toString()]: "77",
      0: "0a0b0c",
    });
  });

  test("every truncation is refused as TRUNCATED", async () => {
    for (let length = 0; length < bytes.length; length++) {
      const error = await refusal(pristine.slice(0, length));
      expect(error).toBeInstanceOf(SnapshotError);
      expect((error as SnapshotError).code).toBe("TRUNCATED");
      expect((error as Error).message).toMatch(new RegExp(`^snapshot refused \\(TRUNCATED\\): ${length} bytes`));
    }
  });

  test("bytes after the checksum are refused as TRAILING_BYTES", async () => {
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(pristine);
    await expect(BuildIdCache.restore(longer)).rejects.toThrow(
      "snapshot refused (TRAILING_BYTES): 3 bytes after the checksum",
    );
  });
});

describe("snapshot files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "buildid-snapshot-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a missing file loads as undefined", async () => {
    expect(await loadSnapshotFile(join(dir, "absent.snap"))).toBeUndefined();
  });

  test("save then load gives the same bytes, replaces the old file, and leaves no temporary file", async () => {
    const path = join(dir, "cache.snap");
    const first = (await cacheWith(4, [[1n, "01"]])).snapshot();
    const second = (
      await cacheWith(4, [
        [2n, "0202"],
        [3n, "03"],
      ])
    ).snapshot();
    await saveSnapshotAtomic(path, first);
    await saveSnapshotAtomic(path, second);
    expect(await loadSnapshotFile(path)).toEqual(second);
    expect(await readdir(dir)).toEqual(["cache.snap"]);
  });

  test("a save into a missing folder fails with ENOENT and writes nothing", async () => {
    const path = join(dir, "no-such-folder", "cache.snap");
    await expect(saveSnapshotAtomic(path, new Uint8Array(4))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await loadSnapshotFile(path)).toBeUndefined();
  });

  test("loading a folder is refused unread: it is not a regular file", async () => {
    await expect(loadSnapshotFile(dir)).rejects.toMatchObject({ code: "ENOTREG" });
  });

  test("persist saves on its interval and once more at stop", async () => {
    const path = join(dir, "persist.snap");
    const cache = await cacheWith(8, [[1n, "01"]]);
    const stop = persist(cache, path, { intervalMs: 10 });
    await expect.poll(async () => (await loadSnapshotFile(path))?.length, { timeout: 30_000 }).toBeGreaterThan(0);
    cache.set(2n, "02");
    await expect
      .poll(async () => Object.fromEntries(await BuildIdCache.restore((await readFile(path)) as Uint8Array)), {
        timeout: 30_000,
      })
      .toEqual({ 1: "01", 2: "02" });
    cache.set(3n, "03");
    await stop();
    expect(Object.fromEntries(await BuildIdCache.restore((await loadSnapshotFile(path))!))).toEqual({
      1: "01",
      2: "02",
      3: "03",
    });
    cache.set(4n, "04");
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect((await BuildIdCache.restore((await loadSnapshotFile(path))!)).has(4n)).toBe(false);
    expect((await readdir(dir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  test("persist refuses an interval that is not an integer from 1 to 2^31 - 1", async () => {
    const cache = await cacheWith(2, []);
    for (const bad of [0, -5, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => persist(cache, join(dir, "x.snap"), { intervalMs: bad })).toThrow(
        new RangeError(`intervalMs must be an integer from 1 to 2147483647, got ${bad}`),
      );
    }
  });

  test("a snapshot file written by hand with garbage is refused on restore", async () => {
    const path = join(dir, "garbage.snap");
    await writeFile(path, "not a snapshot at all, just text");
    const error = await refusal((await loadSnapshotFile(path))!);
    expect(error).toMatchObject({ name: "SnapshotError", code: "BAD_MAGIC" });
    expect((error as Error).message).toBe('snapshot refused (BAD_MAGIC): starts with "not a sn", not "BIDCSNAP"');
  });
});
