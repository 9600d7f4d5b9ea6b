// One test per row of docs/errors.md, named by the row's id: the input, the error class, its message,
// and that nothing changed.
import { execFileSync, spawn } from "node:child_process";
import { lstatSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ElfError, readBuildId } from "../src/elf.js";
import { BUILD_ID_MAX, BuildIdCache, CacheDisposedError, MAX_CAPACITY, SnapshotError } from "../src/index.js";
import { CacheFileRefusedError, lockCacheFileSync } from "../src/node/cache-file.js";
import { readProfileFile } from "../src/node/pprof-file.js";
import { loadResolver, stampsPath } from "../src/node/resolver/persist.js";
import { loadSnapshotFile, MAX_INTERVAL_MS, persist, saveSnapshotAtomic } from "../src/node/snapshot-file.js";
import { annotateProfile, ProfileFormatError } from "../src/pprof.js";
import { edited, Layout } from "./helpers/snapshot-bytes.js";
import { thrownBy } from "./helpers/thrown.js";

/** A cache with three entries, one of them referenced, to show calls leave it as it was. */
async function sample(): Promise<BuildIdCache> {
  const cache = await BuildIdCache.create({ capacity: 4 });
  cache.set(1n, "0101").set(2n, "0202").set(3n, "0303");
  cache.get(2n);
  return cache;
}

/** Runs `call`, expects `type` with exactly `message`, and checks `cache` is byte-for-byte unchanged. */
function refuses(cache: BuildIdCache, call: () => unknown, type: ErrorConstructor, message: string): void {
  const before = cache.snapshot();
  const { hits, misses, inserts, updates, removals, evictions } = cache.stats();
  const error = thrownBy(call);
  expect(error.constructor).toBe(type);
  expect(error.message).toBe(message);
  expect(cache.snapshot()).toEqual(before);
  const after = cache.stats();
  expect([after.hits, after.misses, after.inserts, after.updates, after.removals, after.evictions]).toEqual([
    hits,
    misses,
    inserts,
    updates,
    removals,
    evictions,
  ]);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: Error) => error,
  );
}

describe("creating a cache", () => {
  test("C1 capacity missing or not a number: TypeError; not an integer, below 1 or above MAX_CAPACITY: RangeError", async () => {
    for (const [capacity, shown, type] of [
      [undefined, "undefined", TypeError],
      ["16", '"16"', TypeError],
      [0, "0", RangeError],
      [2.5, "2.5", RangeError],
      [MAX_CAPACITY + 1, String(MAX_CAPACITY + 1), RangeError],
    ] as const) {
      const error = await rejection(BuildIdCache.create({ capacity } as unknown as { capacity: number }));
      expect(error).toBeInstanceOf(type);
      expect(error.message).toBe(`capacity must be an integer from 1 to 16777215, got ${shown}`);
    }
    const error = await rejection(BuildIdCache.create(undefined as unknown as { capacity: number }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe("capacity must be an integer from 1 to 16777215, got undefined");
  });

  test("C2 onEvict not a function: TypeError", async () => {
    const error = await rejection(BuildIdCache.create({ capacity: 4, onEvict: "log" as unknown as () => void }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('onEvict must be a function, got "log"');
  });

  test("C4 wasm bytes that are not WebAssembly: CompileError", async () => {
    const error = await rejection(BuildIdCache.create({ capacity: 4, wasm: new Uint8Array([1, 2, 3]) }));
    expect(error).toBeInstanceOf(WebAssembly.CompileError);
    expect(error.message).toMatch(/^WebAssembly\.compile\(\): /);
  });

  test("C5 a wasm file that does not exist: the file system's ENOENT", async () => {
    const error = await rejection(BuildIdCache.create({ capacity: 4, wasm: new URL("file:///no/such/core.wasm") }));
    expect(error).toMatchObject({ code: "ENOENT" });
    expect(error.message).toBe("ENOENT: no such file or directory, open '/no/such/core.wasm'");
  });

  test("C6 a WebAssembly module that is not the core: TypeError from the loader", async () => {
    const emptyModule = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    const error = await rejection(BuildIdCache.create({ capacity: 4, wasm: emptyModule }));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe("the WebAssembly module is not the buildid-cache core: it exports no init() and memory");
  });

  test("C7 a core URL that answers an HTTP error or a page: Error naming the URL and the inline entry", async () => {
    const server = createServer((request, response) => {
      if (request.url === "/page/core.wasm")
        response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html>");
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const hint =
      '; a bundler that does not copy build/core.wasm beside the bundle needs the entry "buildid-cache/inline", which embeds the core';
    try {
      const missing = await rejection(BuildIdCache.create({ capacity: 4, wasm: `${base}/build/core.wasm` }));
      expect(missing.message).toBe(`cannot load the core from ${base}/build/core.wasm: HTTP 404${hint}`);
      const page = await rejection(BuildIdCache.create({ capacity: 4, wasm: new URL(`${base}/page/core.wasm`) }));
      expect(page.message).toBe(`cannot load the core from ${base}/page/core.wasm: not WebAssembly (text/html)${hint}`);
    } finally {
      server.close();
    }
  });

  test("C8 a shared cache from the inline entry without a wasm option: Error naming the file to pass", async () => {
    // A process of its own: the tests' setup gives every cache a default core.
    const script = `
      const { BuildIdCache } = await import(${JSON.stringify(new URL("../src/inline.ts", import.meta.url).href)});
      const plain = await BuildIdCache.create({ capacity: 4 });
      const shared = await BuildIdCache.create({ capacity: 4, shared: true }).catch((error) => error);
      console.log(JSON.stringify({ plain: plain.capacity, shared: shared.message }));`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: new URL("..", import.meta.url).pathname,
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual({
      plain: 4,
      shared:
        "no core for a shared cache: buildid-cache/inline embeds only build/core.wasm; pass the wasm option (build/core.shared.wasm, its bytes or URL)",
    });
  });
});

describe("keys", () => {
  test("K1 a key that is not a bigint: TypeError, for every method taking a key", async () => {
    const cache = await sample();
    const out = new Uint8Array(BUILD_ID_MAX);
    for (const call of [
      () => cache.set(5 as unknown as bigint, "01"),
      () => cache.get(5 as unknown as bigint),
      () => cache.getBytes(5 as unknown as bigint, out),
      () => cache.has(5 as unknown as bigint),
      () => cache.delete(5 as unknown as bigint),
    ]) {
      refuses(cache, call, TypeError, "key must be a bigint in [0, 2^64), got 5");
    }
    refuses(cache, () => cache.get("1" as unknown as bigint), TypeError, 'key must be a bigint in [0, 2^64), got "1"');
  });

  test("K2 a key below 0 or at 2^64 and above: RangeError", async () => {
    const cache = await sample();
    refuses(cache, () => cache.set(-1n, "01"), RangeError, "key must be a bigint in [0, 2^64), got -1n");
    refuses(
      cache,
      () => cache.get(1n << 64n),
      RangeError,
      "key must be a bigint in [0, 2^64), got 18446744073709551616n",
    );
    refuses(cache, () => cache.delete(-5n), RangeError, "key must be a bigint in [0, 2^64), got -5n");
  });
});

describe("build IDs", () => {
  test("B1 a build ID neither bytes nor a string: TypeError", async () => {
    const cache = await sample();
    refuses(
      cache,
      () => cache.set(9n, [1, 2] as unknown as Uint8Array),
      TypeError,
      "build ID must be a Uint8Array or a hex string, got [object Array]",
    );
    refuses(
      cache,
      () => cache.set(9n, null as unknown as Uint8Array),
      TypeError,
      "build ID must be a Uint8Array or a hex string, got null",
    );
  });

  test("B2 build ID bytes of length 0 or over 20: RangeError", async () => {
    const cache = await sample();
    refuses(cache, () => cache.set(9n, new Uint8Array(0)), RangeError, "build ID must be 1 to 20 bytes, got 0");
    refuses(cache, () => cache.set(1n, new Uint8Array(21)), RangeError, "build ID must be 1 to 20 bytes, got 21");
  });

  test("B3 a hex build ID that is empty or over 40 digits: RangeError", async () => {
    const cache = await sample();
    refuses(cache, () => cache.set(9n, ""), RangeError, 'build ID "" must be 1 to 20 bytes, got 0');
    const long = "ab".repeat(21);
    refuses(cache, () => cache.set(9n, long), RangeError, `build ID "${long}" must be 1 to 20 bytes, got 21`);
  });

  test("B4 a hex build ID of odd length: TypeError", async () => {
    const cache = await sample();
    refuses(cache, () => cache.set(1n, "abc"), TypeError, 'build ID "abc" has odd length 3');
    refuses(cache, () => cache.set(1n, "a"), TypeError, 'build ID "a" has odd length 1');
  });

  test("B5 a hex build ID with a character that is not a hex digit: TypeError naming it", async () => {
    const cache = await sample();
    refuses(cache, () => cache.set(1n, "0g"), TypeError, 'build ID "0g" has a non-hex character "g" at 1');
    refuses(cache, () => cache.set(1n, "12 4"), TypeError, 'build ID "12 4" has a non-hex character " " at 2');
  });
});

describe("getBytes", () => {
  test("G1 out that is not a Uint8Array: TypeError", async () => {
    const cache = await sample();
    refuses(
      cache,
      () => cache.getBytes(1n, new Array(20) as unknown as Uint8Array),
      TypeError,
      "out must be a Uint8Array, got [object Array]",
    );
  });

  test("G2 an offset that is not a number: TypeError; not an integer, negative, or leaving under 20 bytes: RangeError", async () => {
    const cache = await sample();
    const out = new Uint8Array(24);
    refuses(
      cache,
      () => cache.getBytes(1n, out, 5),
      RangeError,
      "offset 5 leaves no room for 20 bytes in out of length 24",
    );
    refuses(cache, () => cache.getBytes(1n, out, -1), RangeError, "offset must be an integer >= 0, got -1");
    refuses(cache, () => cache.getBytes(1n, out, 0.5), RangeError, "offset must be an integer >= 0, got 0.5");
    refuses(
      cache,
      () => cache.getBytes(1n, out, "0" as unknown as number),
      TypeError,
      'offset must be an integer >= 0, got "0"',
    );
    refuses(
      cache,
      () => cache.getBytes(1n, new Uint8Array(19)),
      RangeError,
      "offset 0 leaves no room for 20 bytes in out of length 19",
    );
    expect(out).toEqual(new Uint8Array(24));
  });
});

describe("batch calls", () => {
  const keys = BigUint64Array.of(1n, 2n, 7n);

  test("M1 keys that are not a BigUint64Array: TypeError", async () => {
    const cache = await sample();
    const lengths = new Uint8Array(3);
    refuses(
      cache,
      () => cache.getMany([1n, 2n] as unknown as BigUint64Array, new Uint8Array(60), lengths),
      TypeError,
      "keys must be a BigUint64Array, got [object Array]",
    );
    refuses(
      cache,
      () => cache.setMany(BigInt64Array.of(1n) as unknown as BigUint64Array, new Uint8Array(20), 4),
      TypeError,
      "keys must be a BigUint64Array, got [object BigInt64Array]",
    );
    refuses(
      cache,
      () => cache.deleteMany(new Set([1n]) as unknown as BigUint64Array),
      TypeError,
      "keys must be a BigUint64Array, got [object Set]",
    );
  });

  test("M2 an output or input array too short for the keys: RangeError naming it, before any key is touched", async () => {
    const cache = await sample();
    refuses(
      cache,
      () => cache.getMany(keys, new Uint8Array(59), new Uint8Array(3)),
      RangeError,
      "out has room for 59 values, needs 60",
    );
    refuses(
      cache,
      () => cache.getMany(keys, new Uint8Array(60), new Uint8Array(2)),
      RangeError,
      "lengths has room for 2 values, needs 3",
    );
    refuses(
      cache,
      () => cache.setMany(keys, new Uint8Array(40), 4),
      RangeError,
      "ids has room for 40 values, needs 60",
    );
    refuses(
      cache,
      () => cache.setMany(keys, new Uint8Array(60), new Uint8Array(2)),
      RangeError,
      "lengths has room for 2 values, needs 3",
    );
    refuses(
      cache,
      () => cache.deleteMany(keys, new Uint8Array(1)),
      RangeError,
      "removed has room for 1 values, needs 3",
    );
  });

  test("M3 an output or input array that is not a Uint8Array: TypeError naming it, before any key is touched", async () => {
    const cache = await sample();
    const plain = new Array(60).fill(0) as unknown as Uint8Array;
    refuses(
      cache,
      () => cache.getMany(keys, plain, new Uint8Array(3)),
      TypeError,
      "out must be a Uint8Array, got [object Array]",
    );
    refuses(
      cache,
      () => cache.getMany(keys, new Uint8Array(60), plain),
      TypeError,
      "lengths must be a Uint8Array, got [object Array]",
    );
    refuses(cache, () => cache.setMany(keys, plain, 4), TypeError, "ids must be a Uint8Array, got [object Array]");
    refuses(
      cache,
      () => cache.setMany(keys, new Uint8Array(60), "444" as unknown as Uint8Array),
      TypeError,
      'lengths must be a Uint8Array, got "444"',
    );
    refuses(cache, () => cache.deleteMany(keys, plain), TypeError, "removed must be a Uint8Array, got [object Array]");
  });

  test("M4 a setMany length outside 1..20: RangeError naming the index, and no key is inserted", async () => {
    const cache = await sample();
    refuses(
      cache,
      () => cache.setMany(keys, new Uint8Array(60), Uint8Array.of(4, 4, 0)),
      RangeError,
      "lengths[2] must be 1 to 20 bytes, got 0",
    );
    refuses(
      cache,
      () => cache.setMany(keys, new Uint8Array(60), Uint8Array.of(21, 4, 4)),
      RangeError,
      "lengths[0] must be 1 to 20 bytes, got 21",
    );
  });

  test("M5 a single setMany length that is not an integer in 1..20: RangeError", async () => {
    const cache = await sample();
    for (const bad of [0, 21, 1.5, Number.NaN]) {
      refuses(
        cache,
        () => cache.setMany(keys, new Uint8Array(60), bad),
        RangeError,
        `build ID length must be 1 to 20 bytes, got ${bad}`,
      );
    }
  });
});

describe("lifecycle", () => {
  test("L1 any call after dispose: CacheDisposedError", async () => {
    const cache = await sample();
    cache.dispose();
    for (const call of [
      () => cache.get(1n),
      () => cache.set(1n, "01"),
      () => cache.size,
      () => cache.stats(),
      () => cache.snapshot(),
      () => cache.getMany(BigUint64Array.of(1n), new Uint8Array(20), new Uint8Array(1)),
      () => [...cache],
    ]) {
      const error = thrownBy(call);
      expect(error).toBeInstanceOf(CacheDisposedError);
      expect(error.message).toBe("BuildIdCache: the cache was disposed");
    }
  });

  test("L2 changing the cache while iterating it: Error at the next step", async () => {
    const cache = await sample();
    const entries = cache.entries();
    entries.next();
    cache.set(9n, "09");
    const error = thrownBy(() => entries.next());
    expect(error.constructor).toBe(Error);
    expect(error.message).toBe("BuildIdCache: changed during iteration");
  });

  test("L3 an onEvict that throws: the insert is done, the callback's error reaches the caller", async () => {
    const cache = await BuildIdCache.create({
      capacity: 2,
      onEvict: (key) => {
        throw new Error(`refusing to forget ${key}`);
      },
    });
    cache.set(1n, "01").set(2n, "02");
    expect(thrownBy(() => cache.set(3n, "03")).message).toBe("refusing to forget 1");
    expect(new Map(cache)).toEqual(
      new Map([
        [3n, "03"],
        [2n, "02"],
      ]),
    );
  });
});

describe("snapshots", () => {
  let good: Uint8Array;
  beforeAll(async () => {
    good = (await sample()).snapshot();
  });

  async function refusal(bytes: Uint8Array, code: string, message: string): Promise<void> {
    const copy = bytes.slice();
    const error = await rejection(BuildIdCache.restore(bytes));
    expect(error).toBeInstanceOf(SnapshotError);
    expect((error as SnapshotError).code).toBe(code);
    expect(error.message).toBe(`snapshot refused (${code}): ${message}`);
    expect(bytes).toEqual(copy);
  }

  test("S1 not a Uint8Array: TypeError", async () => {
    const error = await rejection(BuildIdCache.restore("BIDCSNAP" as unknown as Uint8Array));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toBe('snapshot must be a Uint8Array, got "BIDCSNAP"');
  });

  test("S2 TRUNCATED: shorter than the header, or than the entries the header announces", async () => {
    await refusal(good.subarray(0, 10), "TRUNCATED", "10 bytes, shorter than the 24-byte header");
    await refusal(
      good.subarray(0, good.length - 1),
      "TRUNCATED",
      `${good.length - 1} bytes, but 3 entries need ${good.length}`,
    );
    // A header announcing the most entries on a tiny file is refused before anything is reserved.
    const huge = edited(good.subarray(0, Layout.header + 4), (_, v) => {
      v.setUint32(Layout.capacity, MAX_CAPACITY, true);
      v.setUint32(Layout.count, MAX_CAPACITY, true);
    });
    await refusal(huge, "TRUNCATED", `28 bytes, but ${MAX_CAPACITY} entries need ${24 + MAX_CAPACITY * 32 + 4}`);
  });

  test("S3 TRAILING_BYTES: bytes after the checksum", async () => {
    const longer = new Uint8Array(good.length + 1);
    longer.set(good);
    await refusal(longer, "TRAILING_BYTES", "1 bytes after the checksum");
  });

  test("S4 BAD_MAGIC: not a snapshot", async () => {
    await refusal(
      new TextEncoder().encode("\x7fELF and then some more bytes"),
      "BAD_MAGIC",
      'starts with "\x7fELF and", not "BIDCSNAP"',
    );
  });

  test("S5 UNSUPPORTED_VERSION: written by another format version", async () => {
    await refusal(
      edited(good, (_, v) => v.setUint16(Layout.version, 2, true)),
      "UNSUPPORTED_VERSION",
      "version 2; this library reads version 1",
    );
  });

  test("S6 LAYOUT_MISMATCH: another entry size, longest build ID, or flags", async () => {
    await refusal(
      edited(good, (_, v) => v.setUint16(Layout.entrySize, 40, true)),
      "LAYOUT_MISMATCH",
      "entry size 40, build ID max 20, flags 0; this library uses 32, 20, 0",
    );
    await refusal(
      edited(good, (_, v) => v.setUint16(Layout.buildIdMax, 32, true)),
      "LAYOUT_MISMATCH",
      "entry size 32, build ID max 32, flags 0; this library uses 32, 20, 0",
    );
    await refusal(
      edited(good, (_, v) => v.setUint16(Layout.flags, 1, true)),
      "LAYOUT_MISMATCH",
      "entry size 32, build ID max 20, flags 1; this library uses 32, 20, 0",
    );
  });

  test("S7 BAD_HEADER: capacity 0 or over MAX_CAPACITY, or more entries than capacity", async () => {
    await refusal(
      edited(good, (_, v) => v.setUint32(Layout.capacity, 0, true)),
      "BAD_HEADER",
      `capacity 0 is not 1 to ${MAX_CAPACITY}`,
    );
    await refusal(
      edited(good, (_, v) => v.setUint32(Layout.capacity, MAX_CAPACITY + 1, true)),
      "BAD_HEADER",
      `capacity ${MAX_CAPACITY + 1} is not 1 to ${MAX_CAPACITY}`,
    );
    await refusal(
      edited(good, (_, v) => v.setUint32(Layout.capacity, 2, true)),
      "BAD_HEADER",
      "count 3 exceeds capacity 2",
    );
  });

  test("S8 CHECKSUM_MISMATCH: any other changed byte", async () => {
    const bad = good.slice();
    bad[Layout.header + 9]! ^= 0x10;
    const error = await rejection(BuildIdCache.restore(bad));
    expect(error).toMatchObject({ code: "CHECKSUM_MISMATCH" });
    expect(error.message).toMatch(
      /^snapshot refused \(CHECKSUM_MISMATCH\): stored CRC-32 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$/,
    );
  });

  test("S9 BAD_ENTRY: a record with a bad length, padding, reference bit or reserved bytes", async () => {
    const second = Layout.header + Layout.record;
    await refusal(
      edited(good, (b) => (b[second + 28] = 0)),
      "BAD_ENTRY",
      "entry 1: build ID length 0 is not 1 to 20",
    );
    await refusal(
      edited(good, (b) => (b[second + 28] = 21)),
      "BAD_ENTRY",
      "entry 1: build ID length 21 is not 1 to 20",
    );
    await refusal(
      edited(good, (b) => (b[second + 8 + 5] = 1)),
      "BAD_ENTRY",
      "entry 1: build ID byte 5 is past its length 2 but not zero",
    );
    await refusal(
      edited(good, (b) => (b[second + 29] = 2)),
      "BAD_ENTRY",
      "entry 1: reference bit 2 is not 0 or 1",
    );
    await refusal(
      edited(good, (b) => (b[second + 31] = 1)),
      "BAD_ENTRY",
      "entry 1: reserved bytes are not zero",
    );
  });

  test("S10 DUPLICATE_KEY: two records with one key", async () => {
    const third = Layout.header + 2 * Layout.record;
    await refusal(
      edited(good, (_, v) => v.setBigUint64(third, 1n, true)),
      "DUPLICATE_KEY",
      "entry 2 repeats key 0x1",
    );
  });

  test("S11 more entries than the capacity asked for: RangeError naming both", async () => {
    const error = await rejection(BuildIdCache.restore(good, { capacity: 2 }));
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).toBe("snapshot holds 3 entries, more than capacity 2");
    const notNumber = await rejection(BuildIdCache.restore(good, { capacity: "1" as unknown as number }));
    expect(notNumber).toBeInstanceOf(TypeError);
    expect(notNumber.message).toBe('capacity must be an integer from 1 to 16777215, got "1"');
  });
});

describe("cache files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "buildid-catalogue-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("F1 loading or saving a folder, FIFO or device: NotRegularFileError, nothing read or written", async () => {
    const folder = join(dir, "folder.snap");
    await mkdir(folder);
    await writeFile(join(folder, "inside"), "kept");
    const loaded = await rejection(loadSnapshotFile(folder));
    expect(loaded).toMatchObject({ name: "NotRegularFileError", code: "ENOTREG" });
    expect(loaded.message).toBe(`${folder} is a directory, not a regular file`);
    const saved = await rejection(saveSnapshotAtomic(folder, new Uint8Array(8)));
    expect(saved.message).toBe(`${folder} is a directory, not a regular file`);
    expect(await readdir(folder)).toEqual(["inside"]);
    const fifo = join(dir, "fifo.snap");
    execFileSync("mkfifo", [fifo]);
    expect((await rejection(loadSnapshotFile(fifo))).message).toBe(`${fifo} is a FIFO, not a regular file`);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  test("F2 saving into a missing folder: PathError naming the path, nothing written", async () => {
    const path = join(dir, "missing", "cache.snap");
    const error = await rejection(saveSnapshotAtomic(path, new Uint8Array(8)));
    expect(error).toMatchObject({ name: "PathError", code: "ENOENT", path });
    expect(error.message).toBe(`${path}: ENOENT: no such file or directory`);
    expect((error.cause as Error).message).toMatch(/, open '.*missing\/\.cache\.snap\.\d+-\d+\.tmp'$/);
    expect((await readdir(dir)).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  test("F3 persist with an interval that is not an integer from 1 to 2^31 - 1: RangeError", async () => {
    const cache = await sample();
    for (const bad of [0, 2 ** 31, 1.5]) {
      expect(() => persist(cache, join(dir, "p.snap"), { intervalMs: bad })).toThrow(
        new RangeError(`intervalMs must be an integer from 1 to 2147483647, got ${bad}`),
      );
    }
    expect(MAX_INTERVAL_MS).toBe(2 ** 31 - 1);
  });

  test("F4 a save on persist's interval that fails: reported to onError, the process goes on", async () => {
    const cache = await sample();
    const errors: unknown[] = [];
    const path = join(dir, "gone", "p.snap");
    const stop = persist(cache, path, { intervalMs: 5, onError: (error) => errors.push(error) });
    await expect.poll(() => errors.length, { timeout: 30_000, interval: 20 }).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ name: "PathError", code: "ENOENT" });
    await expect(stop()).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("F5 a persist save over a file it cannot understand: CacheFileRefusedError, nothing written", async () => {
    const path = join(dir, "refused.snap");
    await writeFile(path, "not a snapshot at all, just text");
    const cache = await sample();
    const error = await rejection(persist(cache, path)());
    expect(error).toMatchObject({ name: "CacheFileRefusedError", code: "EREFUSED", path });
    expect(error.message).toBe(
      `cannot use cache file ${path}: snapshot refused (BAD_MAGIC): starts with "not a sn", not "BIDCSNAP"; ` +
        "it was left as it was (reset: true or --reset-cache replaces it)",
    );
    expect(readFileSync(path, "utf8")).toBe("not a snapshot at all, just text");
    await persist(cache, path, { reset: true })();
    expect(new Map(await BuildIdCache.restore(readFileSync(path)))).toEqual(new Map(cache));
  });

  test("F6 a lock held by a live process past timeoutMs: PathError ELOCKED naming the lock", async () => {
    const path = join(dir, "locked.snap");
    const holder = spawn("sleep", ["30"], { stdio: "ignore" });
    await writeFile(`${path}.lock`, `${holder.pid}\n`);
    try {
      const error = thrownBy(() => lockCacheFileSync(path, { timeoutMs: 50 }));
      expect(error).toMatchObject({ name: "PathError", code: "ELOCKED", path: `${path}.lock` });
      expect(error.message).toBe(`${path}.lock: held by another process for over 50 ms`);
    } finally {
      holder.kill("SIGKILL");
    }
    // Once its holder is gone the lock is stale: taken over, and removed on release.
    await new Promise((resolve) => holder.once("exit", resolve));
    lockCacheFileSync(path, { timeoutMs: 5000 })();
    expect(await readdir(dir)).not.toContain("locked.snap.lock");
  });

  test("F7 loadResolver on files it cannot understand: CacheFileRefusedError naming the file, its cause the reason", async () => {
    const path = join(dir, "resolver.cache");
    const cache = await sample();
    await writeFile(path, cache.snapshot());
    await writeFile(stampsPath(path), "{ not json");
    const stamps = await rejection(loadResolver(path));
    expect(stamps).toBeInstanceOf(CacheFileRefusedError);
    expect(stamps.message).toMatch(new RegExp(`^cannot use cache file ${stampsPath(path)}: stamps are not JSON: `));
    expect((stamps.cause as Error).name).toBe("StampsFormatError");
    await rm(stampsPath(path));
    const capacity = await rejection(loadResolver(path, { capacity: 2 }));
    expect(capacity.message).toBe(
      `cannot use cache file ${path}: snapshot holds 3 entries, more than capacity 2; ` +
        "it was left as it was (reset: true or --reset-cache replaces it)",
    );
    expect(capacity.cause).toBeInstanceOf(RangeError);
  });
});

describe("pprof input", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "buildid-catalogue-pprof-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const none = () => undefined;

  test("P1 no bytes or only zero bytes: ProfileFormatError 'empty input'", async () => {
    expect((await rejection(annotateProfile(new Uint8Array(0), none))).message).toBe("empty input: no bytes");
    expect((await rejection(annotateProfile(new Uint8Array(64), none))).message).toBe("empty input: 64 zero bytes");
  });

  test("P2 invalid wire type, wrong wire type, length past its message: ProfileFormatError naming the field", async () => {
    const error = await rejection(annotateProfile(Uint8Array.of(0x12, 0x7f, 0x08), none));
    expect(error).toBeInstanceOf(ProfileFormatError);
    expect(error.message).toBe(
      "not a pprof profile (3 bytes): Profile.sample at byte 0: length 127 runs past the end (1 bytes left)",
    );
    expect((await rejection(annotateProfile(Uint8Array.of(0x1f), none))).message).toBe(
      "not a pprof profile (1 bytes): Profile.mapping at byte 0: invalid wire type 7",
    );
  });

  test("P3 a string index past the table, an id missing: ProfileFormatError naming it", async () => {
    // One mapping whose filename is string 5 of a table of one ("").
    const mapping = Uint8Array.of(0x1a, 0x04, 0x08, 0x01, 0x28, 0x05, 0x32, 0x00);
    expect((await rejection(annotateProfile(mapping, none))).message).toBe(
      "not a pprof profile (8 bytes): mapping 1's filename is string 5, past the 1 strings of the table",
    );
    // A sample naming location 9, which is not there.
    const sample = Uint8Array.of(0x12, 0x02, 0x08, 0x09, 0x32, 0x00);
    expect((await rejection(annotateProfile(sample, none))).message).toBe(
      "not a pprof profile (6 bytes): sample 0 names location 9, which is not there",
    );
  });

  test("P4 gzip bytes given to annotateProfile: ProfileFormatError", async () => {
    expect((await rejection(annotateProfile(gzipSync(Uint8Array.of(0x32, 0x00)), none))).message).toBe(
      "the profile is gzip-compressed: gunzip it before annotating",
    );
  });

  test("P5 a file that decompresses past maxBytes: ProfileFormatError naming the file and the limit", async () => {
    const path = join(dir, "big.pb.gz");
    await writeFile(path, gzipSync(new Uint8Array(4096)));
    expect((await rejection(readProfileFile(path, { maxBytes: 1024 }))).message).toBe(
      `${path}: decompresses to more than 1024 bytes (maxBytes, or --max-profile-bytes, raises the limit)`,
    );
  });

  test("P6 corrupt gzip: ProfileFormatError naming the file", async () => {
    const path = join(dir, "bad.pb.gz");
    await writeFile(path, Uint8Array.of(0x1f, 0x8b, 0x00, 0x00));
    const error = await rejection(readProfileFile(path));
    expect(error).toBeInstanceOf(ProfileFormatError);
    expect(error.message).toMatch(new RegExp(`^${path}: corrupt gzip: `));
  });

  test("P7 a profile path that is not a regular file, or too large: refused unread", async () => {
    expect((await rejection(readProfileFile("/dev/zero"))).message).toBe(
      "/dev/zero is a character device, not a regular file",
    );
    const path = join(dir, "large.pb");
    await writeFile(path, new Uint8Array(100));
    expect(await rejection(readProfileFile(path, { maxBytes: 10 }))).toMatchObject({ name: "FileTooLargeError" });
  });
});

describe("ELF files", () => {
  const elf = new Uint8Array(readFileSync("/usr/bin/true"));

  test("E1 bytes that are not ELF: ElfError NOT_ELF", () => {
    const error = thrownBy(() => readBuildId(new TextEncoder().encode("#!/bin/sh\necho hi\n")));
    expect(error).toBeInstanceOf(ElfError);
    expect((error as ElfError).code).toBe("NOT_ELF");
    expect(error.message).toBe("not an ELF file: it starts with 23 21 2f 62, not 7f 45 4c 46");
  });

  test("E2 an ELF file cut short: ElfError TRUNCATED", () => {
    const error = thrownBy(() => readBuildId(elf.subarray(0, 40)));
    expect(error).toBeInstanceOf(ElfError);
    expect((error as ElfError).code).toBe("TRUNCATED");
    expect(error.message).toBe("the file has 40 bytes, fewer than the 64-byte ELF64 header");
  });

  test("E3 more program headers than the limit: ElfError LIMIT", () => {
    const error = thrownBy(() => readBuildId(elf, { limits: { maxProgramHeaders: 1 } }));
    expect(error).toBeInstanceOf(ElfError);
    expect((error as ElfError).code).toBe("LIMIT");
    expect(error.message).toMatch(/^\d+ program headers exceed the limit of 1$/);
  });
});
