// The benchmark harness: every implementation's results are right, and `--quick` runs end to end.
// Timings are never asserted; only that they exist and are finite.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import type { CoreResults, Op } from "../bench/core.js";
import { type KeySet, makeUniverse, pick, prng, sample, writeBuildId } from "../bench/keys.js";
import { NativeReference } from "../bench/native.js";
import { CONTENDERS, type Contender, createContender } from "../bench/peers.js";
import { BenchCheckError, checkDeleteInsert, checkReads, checkSize, checkTimedLookups } from "../bench/verify.js";
import { compulsoryHitRatio, zipfStream } from "../bench/zipf.js";
import { BUILD_ID_MAX } from "../src/index.js";

const LIVE = 512;

function fixture() {
  const universe = makeUniverse("slab", 2 * LIVE, LIVE, 3);
  const next = prng(4);
  return {
    universe,
    hit: pick(universe, sample(0, LIVE, LIVE, LIVE, next)),
    miss: pick(universe, sample(LIVE, 2 * LIVE, LIVE, LIVE, next)),
    subset: pick(universe, sample(0, LIVE, 100, 100, next)),
    pool: pick(
      universe,
      new Uint32Array(2 * LIVE + 300).map((_, i) => i % (2 * LIVE)),
    ),
  };
}

describe("key sets", () => {
  test("slab keys are 0xffff888000000000 + slab * 16384 + object * 1128, 14 objects a slab", () => {
    const u = makeUniverse("slab", 30, 15, 1);
    expect(u.big[0]).toBe(0xffff888000000000n);
    expect(u.big[13]).toBe(0xffff888000000000n + 13n * 1128n);
    expect(u.big[14]).toBe(0xffff888000000000n + 16384n);
    expect(u.big[29]).toBe(0xffff888000000000n + 2n * 16384n + 1128n);
    expect(u.num[14]).toBe(Number((0xffff888000000000n + 16384n) & 0xffffffffffffn));
  });

  test("random keys are distinct in 64 and in 48 bits; build IDs name their key number", () => {
    const u = makeUniverse("random", 20000, 10000, 9);
    expect(new Set(u.big).size).toBe(20000);
    expect(new Set(u.num).size).toBe(20000);
    const id = new Uint8Array(BUILD_ID_MAX);
    writeBuildId(0x01020304, id, 0);
    expect([...id.subarray(0, 4)]).toEqual([4, 3, 2, 1]);
    expect(u.values[777]).toEqual(u.ids.subarray(777 * BUILD_ID_MAX, 778 * BUILD_ID_MAX));
  });

  test("a Zipf(0.9) stream requests rank 1 about 1/H(n, 0.9) of the time", () => {
    const n = 1000;
    const stream = zipfStream(n, 0.9, 200_000, 5);
    let h = 0;
    for (let r = 1; r <= n; r++) h += 1 / r ** 0.9;
    const counts = new Map<number, number>();
    for (const k of stream) counts.set(k, (counts.get(k) ?? 0) + 1);
    const top = Math.max(...counts.values()) / stream.length;
    expect(top).toBeGreaterThan((1 / h) * 0.95);
    expect(top).toBeLessThan((1 / h) * 1.05);
    expect(stream.every((k) => k < n)).toBe(true);
    expect(compulsoryHitRatio(stream)).toBeCloseTo(1 - counts.size / stream.length, 10);
  });
});

describe("every implementation returns the right build IDs", () => {
  for (const id of CONTENDERS) {
    test(id, async () => {
      const { universe, hit, miss, subset, pool } = fixture();
      const c = await createContender(id, universe, LIVE);
      c.fill();
      checkSize(c, LIVE, "after fill");
      checkReads(c, hit, true, "after fill");
      checkReads(c, miss, false, "after fill");
      checkTimedLookups(c, hit, miss);
      checkDeleteInsert(c, subset, LIVE);
      if (c.churn) {
        c.churn(pool, LIVE, 300);
        checkSize(c, LIVE, "after churn");
        checkReads(c, pick(universe, pool.idx.slice(LIVE, LIVE + 300)), true, "after churn");
      }
    });
  }

  test("the checks catch a wrong byte, a missing key and a wrong size", async () => {
    const { universe, hit } = fixture();
    const real = await createContender("map-bigint", universe, LIVE);
    real.fill();
    const corrupt: Contender = {
      ...real,
      read(keys: KeySet, out: Uint8Array, lengths: Uint8Array) {
        real.read(keys, out, lengths);
        out[5 * BUILD_ID_MAX + 7]! ^= 1;
      },
    };
    const key = `0x${hit.big[5]!.toString(16)}`;
    expect(() => checkReads(corrupt, hit, true, "t")).toThrow(
      new BenchCheckError(
        `Map<bigint, Uint8Array>: t: key ${key} byte 7 is ${hit.ids[5 * BUILD_ID_MAX + 7]! ^ 1}, expected ${hit.ids[5 * BUILD_ID_MAX + 7]}`,
      ),
    );
    const forgetful: Contender = {
      ...real,
      read(keys: KeySet, out: Uint8Array, lengths: Uint8Array) {
        real.read(keys, out, lengths);
        lengths[9] = 0;
      },
    };
    expect(() => checkReads(forgetful, hit, true, "t")).toThrow(
      `key 0x${hit.big[9]!.toString(16)} returned 0 bytes, expected 20`,
    );
    expect(() => checkSize(real, LIVE + 1, "t")).toThrow(`size is ${LIVE}, expected ${LIVE + 1}`);
  });
});

describe("the native C reference", () => {
  const native = NativeReference.build();

  test.skipIf(typeof native === "string")("computes what the wasm core computes", async () => {
    const ref = native as NativeReference;
    try {
      const { universe, hit, miss, subset } = fixture();
      const path = ref.write({
        live: LIVE,
        keys: universe.u64,
        hit: hit.idx,
        miss: miss.idx,
        subset: subset.idx,
        churn: 300,
      });
      const o = ref.ops(path, 2);
      let sum = 0;
      for (const b of hit.ids) sum = (Math.imul(sum, 31) + b) >>> 0;
      expect(o.check).toEqual({
        hitChecksum: sum,
        hitFound: LIVE,
        missFound: 0,
        sizeAfterDelete: LIVE - 100,
        subsetFoundAfterDelete: 0,
        sizeAfterInsert: LIVE,
        sizeAfterChurn: LIVE,
        churnEvictions: 600,
      });
      for (const op of ["hit", "miss", "insert", "delete", "churn"] as const)
        expect(o[op].every((v) => Number.isFinite(v) && v > 0)).toBe(true);

      // Same layout, same CLOCK: the same hits as the wasm core on one Zipf stream.
      const stream = zipfStream(LIVE, 0.9, 20_000, 8);
      const none = new Uint32Array(0);
      const zpath = ref.write({
        live: LIVE,
        keys: universe.u64,
        hit: none,
        miss: none,
        subset: none,
        churn: 0,
        zipf: stream,
        capacities: [5, 51],
      });
      const z = ref.zipf(zpath).zipf;
      for (const [i, capacity] of [5, 51].entries()) {
        const wasm = await createContender("single", universe, capacity);
        expect(z[i]!.hits).toBe(wasm.zipf!(pick(universe, stream)));
      }
    } finally {
      ref.dispose();
    }
  });
});

test("npm run bench -- --quick runs the whole matrix, checking every implementation", async () => {
  const run = fileURLToPath(new URL("../bench/run.ts", import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--expose-gc", "--import", "tsx", run, "--quick", "--json", "--only", "core"],
    {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      maxBuffer: 1 << 26,
    },
  );
  const results = JSON.parse(stdout) as CoreResults;
  const ops: Record<string, Op[]> = { wasm: ["hit", "miss"] };
  const impls = [...CONTENDERS, ...(results.native.startsWith("skipped") ? [] : ["native" as const])];
  for (const size of results.settings.sizes) {
    for (const dist of results.settings.dists) {
      for (const impl of impls) {
        for (const op of ops[impl] ?? (["insert", "hit", "miss", "delete", "churn"] as Op[])) {
          const row = results.matrix.find((r) => r.dist === dist && r.size === size && r.impl === impl && r.op === op);
          expect(row, `${dist} ${size} ${impl} ${op}`).toBeDefined();
          expect(row!.rounds).toHaveLength(results.settings.rounds);
          expect(Number.isFinite(row!.ns) && row!.ns > 0).toBe(true);
        }
      }
    }
  }
  for (const z of results.zipf) {
    const bound = results.zipfBound.find((b) => b.keys === z.keys)!.hitRatio;
    expect(z.hitRatio).toBeGreaterThanOrEqual(0);
    expect(z.hitRatio).toBeLessThanOrEqual(bound);
    const lru = results.zipf.find((l) => l.keys === z.keys && l.fraction === z.fraction && l.impl === "lru-cache")!;
    if (z.impl === "mnemonist" || z.impl === "lru.min") expect(z.hits).toBe(lru.hits);
  }
  expect(results.memory.map((m) => m.id)).toEqual(
    expect.arrayContaining(["batch", "map-bigint", "map-number", "lru-cache", "mnemonist", "lru.min"]),
  );
  for (const m of results.memory) expect(m.perEntry).toBeGreaterThan(0);
  expect(results.heap.map((h) => h.api)).toEqual(["getMany", "getBytes"]);
  expect(results.targets).toHaveLength(8);
  for (const t of results.targets) expect(t.value, t.name).toBeDefined();
}, 300_000);
