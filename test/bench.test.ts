// The benchmark harness: every implementation's results are right, the targets are judged right,
// and `--quick` runs end to end into a temporary folder. Timings are never asserted; only that
// they exist and are finite. Keys come from BENCH_TEST_SEED (printed), 3 by default.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { interleave, median, rotate } from "../bench/harness.js";
import { type KeySet, makeUniverse, pick, prng, sample, writeBuildId } from "../bench/keys.js";
import { NativeTable } from "../bench/native.js";
import { type Contender, createContender } from "../bench/peers.js";
import { CALLS, CONTENDERS, type CoreResults, type MatrixRow, NATIVES, type Op, PASSES } from "../bench/results.js";
import { anchorTargets } from "../bench/targets.js";
import { BenchCheckError, checkDeleteInsert, checkReads, checkSize, checkTimedLookups } from "../bench/verify.js";
import { compulsoryHitRatio, zipfStream } from "../bench/zipf.js";
import { BUILD_ID_MAX } from "../src/index.js";

const LIVE = 512;
const SEED = Number(process.env.BENCH_TEST_SEED ?? 3);
console.log(`bench.test: BENCH_TEST_SEED=${SEED}`);

function fixture() {
  const universe = makeUniverse("slab", 2 * LIVE, LIVE, SEED);
  const next = prng(SEED + 1);
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

describe("the native tables", () => {
  test("compute what the wasm core computes, through the same passes", async () => {
    const tables = await Promise.all(NATIVES.map((id) => NativeTable.build(id)));
    try {
      const { universe, hit, miss, subset } = fixture();
      let sum = 0;
      for (const b of hit.ids) sum = (Math.imul(sum, 31) + b) >>> 0;
      for (const [i, id] of NATIVES.entries()) {
        const ref = tables[i]!;
        if (typeof ref === "string") {
          // Only absl may be missing (libabsl-dev); the reason names what to install.
          expect(id === "absl" ? ref : "").toMatch(/libabsl-dev|compiler|failed/);
          console.log(`bench.test: ${id} skipped: ${ref}`);
          continue;
        }
        const path = ref.write({
          live: LIVE,
          keys: universe.u64,
          hit: hit.idx,
          miss: miss.idx,
          subset: subset.idx,
          churn: 300,
        });
        const o = await ref.ops(path, 2, 0);
        const churned = o.churn.length;
        expect(churned > 0, id).toBe(id === "native");
        expect(o.check, id).toEqual({
          hitChecksum: sum,
          hitFound: LIVE,
          missFound: 0,
          sizeAfterDelete: LIVE - 100,
          subsetFoundAfterDelete: 0,
          sizeAfterInsert: LIVE,
          sizeAfterChurn: LIVE,
          churnEvictions: churned === 0 ? 0 : (churned + 1) * 300,
          churnUpdates: 0,
        });
        for (const op of PASSES) {
          expect(o[op].length, `${id} ${op}`).toBeGreaterThanOrEqual(2);
          expect(o[op].every((v) => Number.isFinite(v) && v > 0)).toBe(true);
        }
        expect(o.bytes / LIVE).toBeGreaterThan(BUILD_ID_MAX + 8);
      }

      // Same layout, same CLOCK: the C twin hits as often as the wasm core on one Zipf stream.
      const twin = tables[NATIVES.indexOf("native")];
      if (typeof twin === "string" || twin === undefined) throw new Error(`the C twin must build: ${twin}`);
      const stream = zipfStream(LIVE, 0.9, 20_000, SEED + 5);
      const none = new Uint32Array(0);
      const zpath = twin.write({
        live: LIVE,
        keys: universe.u64,
        hit: none,
        miss: none,
        subset: none,
        churn: 0,
        zipf: stream,
        capacities: [5, 51],
      });
      const z = (await twin.zipf(zpath)).zipf;
      for (const [i, capacity] of [5, 51].entries()) {
        const wasm = await createContender("single", universe, capacity);
        expect(z[i]!.hits).toBe(wasm.zipf!(pick(universe, stream)));
      }
    } finally {
      for (const t of tables) if (typeof t !== "string") t.dispose();
    }
  });
});

test("a native table that cannot be built is skipped with the reason", async () => {
  const cxx = process.env.CXX;
  process.env.CXX = "/nonexistent/g++";
  try {
    expect(await NativeTable.build("absl")).toBe("no compiler (/nonexistent/g++) found");
  } finally {
    if (cxx === undefined) delete process.env.CXX;
    else process.env.CXX = cxx;
  }
});

describe("the harness and the targets", () => {
  test("interleaved rounds rotate the order; medians", async () => {
    const seen: string[] = [];
    await interleave(["a", "b", "c"], 4, (x, r) => {
      seen.push(`${r}${x}`);
    });
    expect(seen.join(" ")).toBe("0a 0b 0c 1b 1c 1a 2c 2a 2b 3a 3b 3c");
    expect(rotate([1, 2, 3], 5)).toEqual([3, 1, 2]);
    expect(median([5, 1, 4])).toBe(4);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  test("absl ratios are medians of per-round ratios, judged against 1.0x; unmeasured stays unjudged", () => {
    const row = (impl: MatrixRow["impl"], op: Op, rounds: number[]): MatrixRow => ({
      dist: "slab",
      size: 65536,
      op,
      impl,
      ns: median(rounds),
      rounds,
    });
    const matrix = [
      row("wasm", "hit", [30, 10, 20]),
      row("absl", "hit", [10, 10, 10]),
      row("wasm", "miss", [9, 8, 5]),
      row("absl", "miss", [10, 10, 10]),
    ];
    const targets = anchorTargets({ matrix, memory: [], heap: [], zipf: [], calls: undefined } as never);
    const hit = targets.find((t) => t.name === "core inside wasm : absl, hit, 65,536 live")!;
    expect(hit).toMatchObject({ value: 2, range: [1, 3], met: false });
    const miss = targets.find((t) => t.name === "core inside wasm : absl, miss, 65,536 live")!;
    expect(miss).toMatchObject({ value: 0.8, range: [0.5, 0.9], met: true });
    const big = targets.find((t) => t.name === "core inside wasm : absl, hit, 1,000,000 live")!;
    expect(big).toMatchObject({ value: undefined, met: undefined });
  });
});

test("npm run bench -- --quick runs the whole matrix into --out, checking every implementation", async () => {
  const run = fileURLToPath(new URL("../bench/run.ts", import.meta.url));
  const out = mkdtempSync(join(tmpdir(), "buildid-bench-test-"));
  const results = new URL("../bench/results/", import.meta.url);
  const before = existsSync(results) ? readdirSync(results).length : 0;
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--expose-gc", "--import", "tsx", run, "--quick", "--rounds", "1", "--json", "--only", "core", "--out", out],
      { cwd: fileURLToPath(new URL("..", import.meta.url)), maxBuffer: 1 << 26 },
    );
    expect(readdirSync(out).sort()).toEqual(["bench.json", "bench.md", "bench.svg"]);
    // Every table says which Node measured it.
    const headings = readFileSync(join(out, "bench.md"), "utf8")
      .split("\n")
      .filter((line) => line.startsWith("### "));
    expect(headings.length).toBeGreaterThan(3);
    for (const heading of headings) expect(heading.endsWith(` [Node ${process.version}]`), heading).toBe(true);
    expect(existsSync(results) ? readdirSync(results).length : 0).toBe(before);
    checkQuickRun(JSON.parse(stdout) as CoreResults);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 900_000); // 192 s at load 20 on 2 cores, past 300 s at load 35

function checkQuickRun(results: CoreResults): void {
  const absl = !results.natives.absl.startsWith("skipped");
  expect(results.natives.native).not.toMatch(/^skipped/);
  const ops: Record<string, readonly Op[]> = { wasm: PASSES, absl: PASSES };
  const impls = [...CONTENDERS, "native" as const, ...(absl ? ["absl" as const] : [])];
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
      for (const impl of ["wasm", "native", ...(absl ? ["absl"] : [])])
        expect(results.tableBytes.some((b) => b.impl === impl && b.size === size && b.dist === dist)).toBe(true);
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
  expect(results.calls!.rows.map((r) => r.call)).toEqual([...CALLS]);
  for (const r of results.calls!.rows)
    expect(
      r.rounds.every((v) => Number.isFinite(v) && v > 0),
      r.call,
    ).toBe(true);
  expect(results.anchorTargets).toHaveLength(12);
  for (const t of results.anchorTargets) {
    const measured = t.name.includes("1,000,000") ? false : absl || !t.name.includes("absl");
    expect(t.value !== undefined, t.name).toBe(measured);
  }
}
