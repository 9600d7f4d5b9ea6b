// The shared cache's API: handles, one writer, readers' errors and counters, in one thread.
import { describe, expect, test } from "vitest";
import { BuildIdCache, WriterClaimedError } from "../src/cache.js";
import { BuildIdCacheReader } from "../src/shared.js";

const ID = "00112233445566778899aabbccddeeff00112233";

describe("shared cache", () => {
  test("a reader sees the writer's changes: get, getBytes, has, getMany, size", async () => {
    using cache = await BuildIdCache.create({ capacity: 100, shared: true });
    cache.set(1n, ID).set(2n, "abcd");
    const reader = await BuildIdCacheReader.attach(cache.share());
    expect([reader.get(1n), reader.get(2n), reader.get(3n), reader.has(2n), reader.has(3n)]).toEqual([
      ID,
      "abcd",
      undefined,
      true,
      false,
    ]);
    const out = new Uint8Array(40).fill(7);
    expect(reader.getBytes(2n, out, 20)).toBe(2);
    expect(Buffer.from(out.subarray(20)).toString("hex")).toBe(`abcd${"00".repeat(18)}`);
    cache.delete(1n);
    cache.set(3n, "ff");
    const lengths = new Uint8Array(3);
    expect(reader.getMany(new BigUint64Array([1n, 2n, 3n]), new Uint8Array(60), lengths)).toBe(2);
    expect([...lengths]).toEqual([0, 2, 1]);
    expect(reader.stats()).toEqual({ size: 2, capacity: 100, hits: 5, misses: 2, contendedMisses: 0 });
    expect(reader.size).toBe(cache.size);
  });

  test("a reader's getMany while the writer is mid-change: every key a contended miss, then every key read", async () => {
    using cache = await BuildIdCache.create({ capacity: 100, shared: true });
    const keys = BigUint64Array.from({ length: 40 }, (_, i) => BigInt(i + 1));
    cache.setMany(keys, new Uint8Array(keys.length * 20).fill(9), 20);
    const handle = cache.share();
    const reader = await BuildIdCacheReader.attach(handle);
    const epoch = new BigUint64Array(handle.memory.buffer, handle.header, 1);
    const rest = epoch[0]!;
    const lengths = new Uint8Array(keys.length);
    epoch[0] = rest | 1n; // odd: the writer's change in progress, as writeBegin() leaves it
    expect(reader.getMany(keys, new Uint8Array(keys.length * 20), lengths)).toBe(0);
    expect(reader.stats().contendedMisses).toBe(keys.length);
    epoch[0] = rest;
    expect(reader.getMany(keys, new Uint8Array(keys.length * 20), lengths)).toBe(keys.length);
    expect(lengths.every((n) => n === 20)).toBe(true);
    expect(reader.stats()).toMatchObject({ hits: keys.length, misses: keys.length, contendedMisses: keys.length });
  });

  test("one writer: a second is refused while the first lives, and takes over once it is disposed", async () => {
    const cache = await BuildIdCache.create({ capacity: 10, shared: true });
    cache.set(1n, ID);
    const handle = cache.share();
    await expect(BuildIdCache.attach(handle)).rejects.toThrow(WriterClaimedError);
    await expect(BuildIdCache.attach(handle)).rejects.toThrow("the shared table already has a writer");
    cache.dispose();
    using next = await BuildIdCache.attach(handle);
    expect([next.size, next.capacity, next.get(1n)]).toEqual([1, 10, ID]);
    next.set(2n, "aa");
    next.verify();
    await expect(BuildIdCache.attach(handle)).rejects.toThrow(WriterClaimedError);
    const reader = await BuildIdCacheReader.attach(handle);
    expect([reader.get(2n), reader.size]).toEqual(["aa", 2]);
  });

  test("a reader has no method that changes the table", () => {
    const methods = Object.getOwnPropertyNames(BuildIdCacheReader.prototype);
    for (const name of ["set", "delete", "clear", "setMany", "deleteMany"]) expect(methods).not.toContain(name);
  });

  test("bad options and handles get typed errors naming the value", async () => {
    await expect(BuildIdCache.create({ capacity: 10, shared: 1 as unknown as boolean })).rejects.toThrow(
      new TypeError("shared must be a boolean, got 1"),
    );
    using plain = await BuildIdCache.create({ capacity: 10 });
    expect(() => plain.share()).toThrow(new TypeError("share() needs a cache created with shared: true"));
    using cache = await BuildIdCache.create({ capacity: 10, shared: true });
    const handle = cache.share();
    await expect(BuildIdCacheReader.attach(null as never)).rejects.toThrow(
      new TypeError("handle must be a Object, got null"),
    );
    await expect(BuildIdCacheReader.attach({ ...handle, module: 1 } as never)).rejects.toThrow(
      new TypeError("handle.module must be a Module, got 1"),
    );
    const unshared = new WebAssembly.Memory({ initial: 1 });
    await expect(BuildIdCacheReader.attach({ ...handle, memory: unshared })).rejects.toThrow(
      new TypeError("handle.memory.buffer must be a SharedArrayBuffer, got [object ArrayBuffer]"),
    );
    await expect(BuildIdCacheReader.attach({ ...handle, header: -1 })).rejects.toThrow(RangeError);
    const reader = await BuildIdCacheReader.attach(handle);
    expect(() => reader.get(-1n)).toThrow(new RangeError("key must be a bigint in [0, 2^64), got -1n"));
    expect(() => reader.getBytes(1n, new Uint8Array(19))).toThrow(
      new RangeError("offset 0 leaves no room for 20 bytes in out of length 19"),
    );
    expect(() => reader.getMany(new BigUint64Array(2), new Uint8Array(20), new Uint8Array(2))).toThrow(
      new RangeError("out has room for 20 values, needs 40"),
    );
  });
});
