// The page's benchmark (web/bench.ts) run in Node, watched through spies: what its timed turns find in the tables,
// which rounds its figures come from, and how it makes them. One real run (a few rounds, every spy on it) answers
// the properties of the real bodies; handles that time nothing answer how the figures are made. Timings are never
// asserted.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BuildIdCache } from "../../src/index.js";
import {
  type BenchResult,
  FIGURES_STEP,
  OPERATIONS,
  type OpenSide,
  type PartName,
  ROW_PART,
  runBenchmark,
  WARM_ROUNDS,
  type WorkerName,
} from "../../web/bench.js";
import { cachedMiB, PROBE_ROWS, REREAD_MIB } from "../../web/bench-probe.js";
import {
  MORE_ROUNDS,
  median,
  medianInterval,
  PRECISION,
  pairedMedian,
  playsMore,
  ROUND_LIMIT,
  ROUNDS,
  reachOf,
  roundRatios,
  TIME_LIMIT_MS,
} from "../../web/bench-stats.js";
import {
  MAX_REPEATS,
  MIN_SLICE_STEPS,
  MIN_SLICES,
  MIN_TURN_STEPS,
  PLAN_PIECES,
  PLAN_TURNS,
  planRepeats,
  planSlices,
  type SideResult,
  Sweep,
} from "../../web/bench-timing.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** Timed rounds of the real run: enough for every row on both sides, each side going first several times. */
const REAL_ROUNDS = 12;
const KEYS = 1024;

/** What the spies saw in the real run's timed rounds (in timed slices: between an odd and an even clock read). */
const seen = {
  /** Clock reads in the timed rounds: an odd read starts a slice, the next ends it. */
  reads: 0,
  /** Single-key lookups timed on the cache, and those that were their key's first since it went in. */
  lookups: 0,
  first: 0,
  /** Hits, misses and batched lookups timed on the cache. */
  hits: 0,
  misses: 0,
  batched: 0,
  /** The cache's timed hits, misses and batched lookups so far, at each sweep of the timed rounds, and at their end. */
  atSweeps: [] as number[],
  /** Tables (caches, and Maps keyed by BigInt) the timed rounds read by lookups, and those they write. */
  read: { cache: new Set<BuildIdCache>(), map: new Set<Map<unknown, unknown>>() },
  written: { cache: new Set<BuildIdCache>(), map: new Set<Map<unknown, unknown>>() },
};
let real: BenchResult;

/**
 * The real run: the bodies over 1,024 keys in this heap, REAL_ROUNDS timed rounds. In the untimed rounds the clock
 * barely moves, so a slice timed there would stand out among the figures and the rounds reported if it counted.
 */
beforeAll(async () => {
  // Methods replaced by plain wrappers, not spies: a spy records every call, and the run makes millions.
  const restore: (() => void)[] = [];
  const patch = <T extends object, K extends keyof T>(target: T, name: K, wrap: (original: T[K]) => T[K]) => {
    const original = target[name];
    target[name] = wrap(original);
    restore.push(() => {
      target[name] = original;
    });
  };
  const proto = BuildIdCache.prototype;
  const mapProto = Map.prototype as Map<unknown, unknown>;
  const { get: mapGet, set: mapSet, clear: mapClear } = mapProto;
  // Per cache (each part of the benchmark has its own) and per key it holds: whether it was looked up since it
  // went in; kept through the Map methods as they were, so the wrappers on the Maps' see only the benchmark's.
  const tables = new WeakMap<BuildIdCache, Map<bigint, boolean>>();
  const held = (cache: BuildIdCache) => {
    if (!tables.has(cache)) tables.set(cache, new Map());
    return tables.get(cache)!;
  };
  const mark = (cache: BuildIdCache, key: bigint, value: boolean, always: boolean) => {
    const keys = held(cache);
    if (always || mapGet.call(keys, key) !== undefined) mapSet.call(keys, key, value);
  };
  let phase: "before" | "untimed" | "timed" | "after" = "before";
  const inSlice = () => phase === "timed" && seen.reads % 2 === 1;
  patch(
    proto,
    "set",
    (set) =>
      function (this: BuildIdCache, key, id) {
        if (phase === "timed") seen.written.cache.add(this);
        mark(this, key, false, true);
        return set.call(this, key, id);
      },
  );
  patch(
    proto,
    "setAt",
    (setAt) =>
      function (this: BuildIdCache, keys, index, id) {
        if (phase === "timed") seen.written.cache.add(this);
        mark(this, keys[index]!, false, true);
        return setAt.call(this, keys, index, id);
      },
  );
  patch(
    proto,
    "delete",
    (remove) =>
      function (this: BuildIdCache, key) {
        if (phase === "timed") seen.written.cache.add(this);
        return remove.call(this, key);
      },
  );
  patch(
    proto,
    "clear",
    (clear) =>
      function (this: BuildIdCache) {
        if (phase === "timed") seen.written.cache.add(this);
        mapClear.call(held(this));
        clear.call(this);
      },
  );
  patch(
    proto,
    "getMany",
    (getMany) =>
      function (this: BuildIdCache, keys, out, lengths) {
        if (phase === "timed") seen.read.cache.add(this);
        if (inSlice()) seen.batched += keys.length;
        for (const key of keys) mark(this, key, true, false);
        return getMany.call(this, keys, out, lengths);
      },
  );
  patch(
    proto,
    "findAt",
    (findAt) =>
      function (this: BuildIdCache, keys, index) {
        const key = keys[index]!;
        if (phase === "timed") seen.read.cache.add(this);
        if (inSlice()) {
          seen.lookups++;
          if (mapGet.call(held(this), key) === false) seen.first++;
        }
        mark(this, key, true, false);
        const found = findAt.call(this, keys, index);
        if (inSlice()) seen[found === 0 ? "misses" : "hits"]++;
        return found;
      },
  );
  for (const name of ["get", "set", "delete"] as const) {
    patch(
      mapProto,
      name,
      (original) =>
        function (this: Map<unknown, unknown>, ...args: unknown[]) {
          if (phase === "timed" && typeof args[0] === "bigint") seen[name === "get" ? "read" : "written"].map.add(this);
          return (original as (...a: unknown[]) => unknown).apply(this, args);
        } as never,
    );
  }
  patch(
    mapProto,
    "clear",
    (clear) =>
      function (this: Map<unknown, unknown>) {
        if (phase === "timed") seen.written.map.add(this);
        clear.call(this);
      },
  );
  patch(
    Sweep.prototype,
    "read",
    (read) =>
      function (this: Sweep) {
        if (phase === "timed") seen.atSweeps.push(seen.hits + seen.misses + seen.batched);
        read.call(this);
      },
  );
  let fake = 0;
  patch(
    performance,
    "now",
    (now) =>
      function (this: Performance) {
        if (phase === "untimed") {
          fake += 1e-9;
          return fake;
        }
        if (phase === "timed") seen.reads++;
        return now.call(this);
      },
  );
  try {
    real = await runBenchmark(
      KEYS,
      ({ step }) => {
        phase = step.startsWith("round ")
          ? "timed"
          : step.startsWith("warming up: untimed round")
            ? "untimed"
            : step === FIGURES_STEP
              ? "after"
              : phase;
      },
      { rounds: REAL_ROUNDS },
    );
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}, 300_000);

describe("a real run", () => {
  it("times hits on keys each looked up once since they went in, never the first lookup that marks an entry", () => {
    expect(seen.reads % 2, "clock reads pair up into slices").toBe(0);
    expect(seen.lookups, "timed single-key lookups (hit and miss rows)").toBeGreaterThan(0);
    expect(seen.first, "timed lookups that were their key's first since it went in").toBe(0);
  });

  it("times the hits, the misses and the batched lookups in one pass each after the sweep (16,384 keys at 1,024)", () => {
    // A turn of lookups is one pass after the sweep: in passes 2-4 of a longer turn the Map's table sat in whatever
    // part of the last-level cache the host left this machine that minute. Below 16,384 keys a turn is the passes
    // of 16,384 keys; a turn shorter than MIN_TURN_STEPS is played again, after the sweep again. Counted on the
    // cache's side, in timed slices only; each sweep counted where it starts.
    const lookups = [...seen.atSweeps, seen.hits + seen.misses + seen.batched];
    const between = new Set(lookups.slice(1).map((n, i) => n - lookups[i]!));
    expect(
      [...between].toSorted((a, b) => a - b),
      "lookups timed between two sweeps",
    ).toEqual([0, 16_384]);
    for (const row of ["hits", "misses", "batched"] as const) {
      expect(seen[row] % 16_384, `${row} timed, in whole turns`).toBe(0);
      expect(seen[row] / 16_384 / real.rounds, `${row}: turns a round`).toBeGreaterThanOrEqual(1);
      expect(seen[row] / 16_384 / real.rounds, `${row}: turns a round`).toBeLessThanOrEqual(MAX_REPEATS);
    }
    expect(real.rowPasses).toEqual([16, 16, 16, 16, 16]);
  });

  it("times the lookup rows on tables built before the rounds, which nothing inserts into, deletes from or clears in them", () => {
    const { read, written } = seen;
    expect(read.cache.size, "caches looked up in the rounds").toBeGreaterThan(0);
    expect(read.map.size, "Maps looked up in the rounds").toBeGreaterThan(0);
    expect(written.cache.size, "caches inserted into in the rounds").toBeGreaterThan(0);
    expect(written.map.size, "Maps inserted into in the rounds").toBeGreaterThan(0);
    expect(
      [...read.cache].filter((cache) => written.cache.has(cache)),
      "caches both looked up and written",
    ).toEqual([]);
    expect(
      [...read.map].filter((map) => written.map.has(map)),
      "Maps both looked up and written",
    ).toEqual([]);
  });

  it("keeps the untimed rounds' turns out of the figures and the rounds it reports", () => {
    const result = real;
    // More rounds than asked only while a row is imprecise, and at most ROUND_LIMIT times as many.
    expect(result.firstRounds).toBe(REAL_ROUNDS);
    expect(result.rounds).toBeGreaterThanOrEqual(REAL_ROUNDS);
    expect(result.rounds).toBeLessThanOrEqual(ROUND_LIMIT * REAL_ROUNDS);
    expect(result.precise || result.rounds === ROUND_LIMIT * REAL_ROUNDS || result.roundsMs >= TIME_LIMIT_MS).toBe(
      true,
    );
    expect(result.memoryRounds.length).toBe(result.rounds);
    expect(result.scatterRounds.length).toBe(result.rounds);
    expect(result.l3Rounds.length).toBe(result.rounds);
    expect(result.memoryStarts.map((starts) => starts.length)).toEqual([result.rounds, result.rounds]);
    // A re-read timed on the untimed rounds' clock (1e-9 ms) would read as a load at 0 ns.
    expect(Math.min(...result.rereadNs), "the re-read's ns per load").toBeGreaterThan(0.01);
    for (const row of result.rows) {
      expect(row.cacheRounds.length, row.operation).toBe(result.rounds);
      expect(row.mapRounds.length, row.operation).toBe(result.rounds);
      // Saved for --save: when each timed turn started and its slices, one entry per timed round on each side,
      // the two sides' turns of a round back to back, the side going first alternating with the round.
      for (const side of ["cache", "map"] as const) {
        const starts = side === "cache" ? row.cacheStarts : row.mapStarts;
        const slices = side === "cache" ? row.cacheSlices : row.mapSlices;
        expect(starts.length, `${row.operation}: ${side}'s starts`).toBe(result.rounds);
        expect(slices.length, `${row.operation}: ${side}'s slices`).toBe(result.rounds);
        expect(starts, `${row.operation}: ${side}'s turns in order`).toEqual(starts.toSorted((a, b) => a - b));
        expect(Math.min(...slices.flat()), `${row.operation}: ${side}'s slices, ns per operation`).toBeGreaterThan(
          0.01,
        );
      }
      for (let round = 0; round < result.rounds; round++) {
        const [first, second] = round % 2 === 0 ? [row.cacheStarts, row.mapStarts] : [row.mapStarts, row.cacheStarts];
        expect(first[round], `${row.operation}, round ${round}: the side going first`).toBeLessThanOrEqual(
          second[round]!,
        );
        if (round + 1 < result.rounds) expect(second[round]).toBeLessThanOrEqual(first[round + 1]!);
      }
      expect(row.cacheNs, `${row.operation}: cache`).toBeGreaterThan(0.01);
      expect(row.mapNs, `${row.operation}: Map`).toBeGreaterThan(0.01);
    }
  });

  it("gives each row's figures as the paired median of the slices it reports, and the L3 left from the probe's rounds", () => {
    for (const row of real.rows) {
      const { cacheNs, mapNs, ratio } = pairedMedian(row.cacheSlices, row.mapSlices);
      expect([row.cacheNs, row.mapNs, row.ratio], row.operation).toEqual([cacheNs, mapNs, ratio]);
    }
    expect(real.rereadNs.length).toBe(REREAD_MIB.length);
    expect(real.l3MiB).toBe(median(real.l3Rounds));
    for (const mib of real.l3Rounds) {
      expect(mib).toBeGreaterThanOrEqual(0);
      expect(mib).toBeLessThanOrEqual(REREAD_MIB.at(-1)!);
    }
  });
});

/**
 * Handles that time nothing: each timed turn of row `row` in round `round` answers three slices around
 * `ns(side, part, nth)(round, row)` ns per operation, its median that figure.
 */
function fakeOpen(ns: (side: WorkerName, part: PartName, nth: number) => (round: number, row: number) => number) {
  const opened: { side: WorkerName; part: PartName; passes: readonly number[]; turns: string[] }[] = [];
  const open: OpenSide = async (side, part, _keys, _resolution, passes) => {
    const table = { side, part, passes, turns: [] as string[] };
    opened.push(table);
    const at = ns(side, part, opened.filter((t) => t.side === side && t.part === part).length);
    const slices: number[][][] = OPERATIONS.map(() => []);
    const reread: number[][] = [];
    return {
      warm: async () => {},
      turn: async (row, round) => {
        table.turns.push(`${round}:${row}`);
        const ns = at(round, row);
        if (round >= 0) slices[row]!.push([ns, 0.5 * ns, 1.2 * ns]);
        if (round >= 0 && side === "memory" && row === 2) reread.push([10, 20, 40, 80, 90]);
        return ns;
      },
      finish: async (): Promise<SideResult> => ({
        rounds: slices.map((rows) => rows.map(median)),
        starts: slices.map((rows) => rows.map(() => 0)),
        slices,
        ...(side === "memory" && { reread }),
        checksum: 0,
      }),
      close() {},
    };
  };
  return { open, opened };
}

it("pairs the two sides' rounds: the ratio is the median of each round's Map ÷ cache, each from its median slice", () => {
  // Round 0 the Map fast (much L3 free), rounds 1-4 slow; the cache steady. A slice's fastest round would take
  // the Map's figure from round 0 alone: 50 ÷ 10 = 5x; each round paired, 4 of 5 rounds say 20x.
  const cache = [
    [10, 11, 30],
    [10, 11, 12],
    [10, 9, 11],
    [10, 10, 10],
    [10, 12, 10],
  ];
  const map = [
    [50, 52, 51],
    [200, 210, 190],
    [200, 205, 400],
    [200, 150, 220],
    [200, 200, 200],
  ];
  const { cacheNs, mapNs, ratio } = pairedMedian(cache, map);
  expect(cacheNs).toBe(10);
  expect(mapNs).toBe(200);
  expect(ratio).toBe(20);
  // Pairs, not each side's median divided: a round slow on both sides is slow on both.
  expect(pairedMedian([[10], [20], [40]], [[100], [160], [400]]).ratio).toBe(10);
  expect(() => pairedMedian([[1]], [])).toThrow("both sides need the same rounds, at least one: 1 and 0");
});

it("reads the L3 left as the most of a just-read buffer that re-read faster than main memory", () => {
  // 2 and 4 MiB re-read as fast as the caches go, 8 MiB a quarter of the way to main memory (6 MiB of it cached),
  // 16 MiB half way (8), 32 MiB nine tenths (3.2): the most, 8 MiB.
  expect(REREAD_MIB).toEqual([2, 4, 8, 16, 32]);
  expect(cachedMiB([20, 20, 65, 110, 182], 200)).toBeCloseTo(8, 9);
  expect(cachedMiB([20, 20, 20, 20, 20], 200)).toBe(32);
  expect(cachedMiB([20, 200, 210, 250, 300], 200)).toBe(2);
  // A main memory no slower than the smallest buffer's re-read (a machine idle, or a clock too coarse): nothing told.
  expect(cachedMiB([200, 200, 200, 200, 200], 150)).toBe(0);
});

it("times the memory probe beside the rows in every round; asked for several tables, builds each in a heap of its own, gives each a turn in every round and reports each side's paired figures with every table's", async () => {
  // The Map's third lookup table three times slower than the others; the cache 20 ns, the probe 90.
  const { open, opened } = fakeOpen(
    (side, part, nth) => () =>
      side === "map" ? (part === "lookups" && nth === 3 ? 300 : 100) : side === "cache" ? 20 : 90,
  );
  const tables = 3;
  const result = await runBenchmark(1024, () => {}, { open, tables });
  expect(result.tables).toBe(tables);
  for (const side of ["cache", "map"] as const) {
    for (const part of ["lookups", "inserts"] as const) {
      const built = opened.filter((t) => t.side === side && t.part === part);
      expect(built.length, `${side} ${part} tables`).toBe(tables);
      // Every round times each of the part's rows on every one of its tables.
      const rows = ROW_PART.flatMap((p, row) => (p === part ? [row] : []));
      for (const table of built) {
        for (let round = 0; round < result.rounds; round++) {
          expect(
            table.turns.filter((turn) => turn.startsWith(`${round}:`)).toSorted(),
            `${side} ${part}, round ${round}`,
          ).toEqual(rows.map((row) => `${round}:${row}`).toSorted());
        }
      }
    }
  }
  // The memory probe, in a heap of its own, times its rows (dependent and overlapping reads, the re-read) in every round.
  const probes = opened.filter((t) => t.side === "memory");
  expect(probes.length, "memory probes").toBe(1);
  for (let round = 0; round < result.rounds; round++) {
    expect(probes[0]!.turns.filter((turn) => turn.startsWith(`${round}:`))).toEqual(
      PROBE_ROWS.map((row) => `${round}:${row}`),
    );
  }
  expect([result.memoryNs, result.scatterNs]).toEqual([90, 90]);
  // Re-read at 10, 20, 40, 80, 90 ns against 90 from main memory: 4 MiB at 7/8, 8 MiB at 5/8, 16 MiB at 1/8.
  expect(result.rereadNs).toEqual([10, 20, 40, 80, 90]);
  expect(result.l3MiB).toBe(5);
  expect(result.l3Rounds).toEqual(Array(result.rounds).fill(5));
  // Every table of both sides makes the same passes a turn, the page's figure for each row.
  for (const table of opened) expect(table.passes, `${table.side} ${table.part} passes`).toEqual(result.rowPasses);
  for (const row of result.rows) {
    const slow = ROW_PART[OPERATIONS.indexOf(row.operation)] === "lookups";
    expect(row.mapTables, row.operation).toEqual(
      Array.from({ length: tables }, (_, i) => (slow && i === 2 ? 300 : 100)),
    );
    expect(row.cacheTables, row.operation).toEqual(Array(tables).fill(20));
    expect(row.mapNs, `${row.operation}: the median of the Map's rounds of every table`).toBe(100);
    expect(row.ratio).toBe(5);
  }
});

it("gives each row's ratio as its rounds paired, each round's Map ÷ cache from the same moment", async () => {
  // The cache steady at 10 ns; the Map's rounds alternate in pairs between fast and slow, the cache's with them
  // on the hit row only (a round slow on both sides is slow for both): the ratio stays what each round says.
  const { open } = fakeOpen((side) => (round, row) => {
    const slow = (round >> 1) % 2 === 1;
    if (side === "map") return slow ? 300 : 100;
    if (side === "cache") return row === 1 && slow ? 30 : 10;
    return 90;
  });
  const result = await runBenchmark(1024, () => {}, { open });
  const hit = result.rows[1]!;
  expect(hit.ratio, "every round 10x").toBe(10);
  // Half the rounds fast, half slow: the median of each side is between them, as is the ratio of the other rows.
  expect(hit.mapNs).toBe(200);
  for (const row of result.rows.filter((r) => r !== hit)) expect(row.ratio, row.operation).toBe(20);
});

it("plays more rounds while a row's ratio is imprecise, up to ROUND_LIMIT times its first, and says how precise each row is", async () => {
  // Each round's Map ÷ cache on the hit row alternates between 5x and 15x, every other row's is 10x every round: the
  // hit row's interval spans 5..15 however many rounds, so the run plays to the limit and says it is imprecise.
  const { open } = fakeOpen((side) => (round, row) => (side === "map" ? (row === 1 && round % 2 ? 50 : 150) : 10));
  const steps: string[] = [];
  const result = await runBenchmark(1024, ({ step }) => steps.push(step), { open, rounds: 20 });
  expect([result.firstRounds, result.rounds, result.precise]).toEqual([20, ROUND_LIMIT * 20, false]);
  expect(result.rows[1]!.interval).toEqual([5, 15]);
  for (const row of result.rows.filter((_, i) => i !== 1)) expect(row.interval, row.operation).toEqual([15, 15]);
  expect(steps).toContain("round 20 of 20");
  expect(steps).toContain(
    `round 21 (until every row's ratio is known within ±${PRECISION * 100}%, ±50.0% now; at most ${ROUND_LIMIT * 20} rounds or ${TIME_LIMIT_MS / 1000} s)`,
  );
  expect(steps.filter((step) => step.startsWith("round ")).length).toBe(ROUND_LIMIT * 20);
  await expect(runBenchmark(1024, () => {}, { open, rounds: 1 })).rejects.toThrow(
    "rounds must be an integer >= 2, got 1",
  );
});

it("stops after its first rounds when every row's ratio is known within PRECISION, and the figures come from every round played", async () => {
  // The Map 9% slower in every third of the first 20 rounds: each row's interval of 20 rounds reaches 9% above its
  // median (the 15th smallest of 20 ratios is a slow round's); of 40 rounds it is the median itself, so the run plays
  // its first 20, 20 more, and stops.
  const { open } = fakeOpen((side) => (round) => (side === "map" ? (round < 20 && round % 3 === 0 ? 109 : 100) : 10));
  const result = await runBenchmark(1024, () => {}, { open, rounds: 20 });
  expect([result.rounds, result.precise]).toEqual([20 + MORE_ROUNDS, true]);
  for (const row of result.rows) {
    expect([row.ratio, row.cacheRounds.length, row.mapRounds.length], row.operation).toEqual([10, 40, 40]);
    expect(row.interval, row.operation).toEqual([10, 10]);
  }
});

it("takes a confidence interval of the median by order statistics, and plays more only while it is wider than PRECISION, within the limits", () => {
  expect([ROUNDS, MORE_ROUNDS, PRECISION, ROUND_LIMIT, TIME_LIMIT_MS]).toEqual([100, 20, 0.05, 4, 90_000]);
  // 100 values 1..100: the 40th and 61st smallest (50 ∓ 9.8).
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(medianInterval(hundred.toReversed())).toEqual([41, 60]);
  expect(medianInterval([3])).toEqual([3, 3]);
  expect(medianInterval([1, 2, 3, 4, 5])).toEqual([1, 5]);
  expect(reachOf([9, 10.5], 10)).toBeCloseTo(0.1, 12);
  expect(roundRatios([[10, 20]], [[100, 100]])).toEqual([10, 5]);
  // Each build's rounds paired with the same build's.
  expect(
    roundRatios(
      [
        [10, 10],
        [20, 20],
      ],
      [
        [100, 50],
        [100, 50],
      ],
    ),
  ).toEqual([10, 5, 5, 2.5]);
  expect(playsMore(99, 0, [], 100)).toBe(true);
  expect(playsMore(100, 0, [0.05, 0.02], 100)).toBe(false);
  expect(playsMore(100, 0, [0.051, 0.02], 100)).toBe(true);
  expect(playsMore(100, 0, [Number.NaN], 100)).toBe(true);
  expect(playsMore(400, 0, [0.2], 100)).toBe(false);
  expect(playsMore(120, TIME_LIMIT_MS, [0.2], 100)).toBe(false);
});

it("rehearses WARM_ROUNDS untimed rounds, played as the timed ones in the same order, between the warm-up and the first timed round", async () => {
  // Handles that time nothing and record every call, in order, across all of them.
  const calls: string[] = [];
  const open: OpenSide = async (side, part) => ({
    warm: async (row) => void calls.push(`warm ${side} ${part} ${row}`),
    turn: async (row, round) => {
      calls.push(`turn ${round} ${side} ${part} ${row}`);
      return 10;
    },
    finish: async () => ({
      rounds: OPERATIONS.map(() => Array(ROUNDS).fill(10)),
      starts: OPERATIONS.map(() => Array(ROUNDS).fill(0)),
      slices: OPERATIONS.map(() => Array.from({ length: ROUNDS }, () => [10])),
      ...(side === "memory" && { reread: Array.from({ length: ROUNDS }, () => [10, 20, 40, 80, 90]) }),
      checksum: 0,
    }),
    close() {},
  });
  const steps: string[] = [];
  const result = await runBenchmark(1024, ({ step }) => steps.push(step), { open });
  const turns = calls.filter((call) => call.startsWith("turn "));
  const roundOf = (call: string) => Number(call.split(" ")[1]);
  const lastWarm = calls.findLastIndex((call) => call.startsWith("warm "));
  const firstTurn = calls.findIndex((call) => call.startsWith("turn "));
  expect(lastWarm, "every warm-up before any turn").toBeLessThan(firstTurn);
  // The untimed rounds come first, numbered -WARM_ROUNDS to -1, then the timed ones from 0.
  const rounds = [...new Set(turns.map(roundOf))];
  expect(rounds.slice(0, WARM_ROUNDS)).toEqual(Array.from({ length: WARM_ROUNDS }, (_, i) => i - WARM_ROUNDS));
  expect(rounds.slice(WARM_ROUNDS)).toEqual(Array.from({ length: result.rounds }, (_, i) => i));
  expect(turns.map(roundOf), "rounds in order").toEqual(turns.map(roundOf).toSorted((a, b) => a - b));
  // Each untimed round makes the same turns as a timed one, in the same order: the rows rotated and the side
  // going first alternating, so round -WARM_ROUNDS + 2k plays as round 2k does, on every handle.
  const played = (round: number) =>
    turns.filter((call) => roundOf(call) === round).map((call) => call.split(" ").slice(2).join(" "));
  for (let round = -WARM_ROUNDS; round < 0; round++) {
    expect(played(round), `untimed round ${round}`).toEqual(played(round + WARM_ROUNDS));
  }
  expect(steps.filter((step) => step.startsWith("warming up: untimed round")).length).toBe(WARM_ROUNDS);
  expect(steps.filter((step) => step.startsWith("round ")).length, "timed rounds reported").toBe(result.rounds);
  // Every figure here is the same, so every row is precise from the first round: the run still plays its first rounds.
  expect(result.precise).toBe(true);
  expect(result.rounds, "a run precise early still plays its first rounds").toBe(ROUNDS);
});

it("times no body that V8 deoptimizes in the rounds for want of feedback (--trace-deopt of a run in Node)", async () => {
  // A body warmed only in whole passes ran as code compiled on the stack before the lines after its loop had
  // run, which deoptimized at the loop's end at every later call, inside a timed slice; a body warmed alone
  // had no feedback for what the other rows leave behind (the cache's keys of the miss pass before a hit pass).
  const bench = pathToFileURL(resolve(import.meta.dirname, "../../web/bench.ts")).href;
  const script = `
    const { runBenchmark } = await import(${JSON.stringify(bench)});
    await runBenchmark(1024, ({ step }) => {
      if (step.startsWith("round 1 of ")) process.stdout.write("TIMED ROUNDS\\n");
      if (step === ${JSON.stringify(FIGURES_STEP)}) process.stdout.write("AFTER THE ROUNDS\\n");
    }, { rounds: ${REAL_ROUNDS} });
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--trace-deopt-verbose", "--input-type=module", "-e", script],
    { cwd: resolve(import.meta.dirname, "../.."), maxBuffer: 1 << 30 },
  );
  const rounds = stdout.indexOf("TIMED ROUNDS");
  const after = stdout.indexOf("AFTER THE ROUNDS");
  expect(rounds, "the run reached its timed rounds").toBeGreaterThan(0);
  expect(after, "the run ended its rounds").toBeGreaterThan(rounds);
  // Each bailout names its reason, then where it happened: the page's code and the cache's only, not Node's.
  const deopts = stdout
    .slice(rounds, after)
    .split("[bailout (kind: ")
    .slice(1)
    .map((text) => text.slice(0, text.indexOf("\n", text.indexOf("deoptimize at"))))
    .filter(
      (text) => text.includes("Insufficient type feedback") && /deoptimize at <file:[^>]*\/(web|src)\//.test(text),
    )
    .map((text) => text.replace(/ \(sfi = [^)]*\)|, FP to SP[^\n]*|0x[0-9a-f]+ /g, ""));
  expect(deopts).toEqual([]);
}, 300_000);

it("plans a turn's slices from the median piece of PLAN_TURNS turns, each timed in PLAN_PIECES pieces, so turns other programs stretched do not set them", () => {
  expect([PLAN_TURNS, PLAN_PIECES]).toEqual([5, 16]);
  // The Map's batched lookups at 65,536 keys, 200 ns a key: a turn of 13.1 ms, 66 slices of 0.2 ms. Under load every
  // turn timed to plan them had a piece stretched by other programs' time (here 20 times), so the fastest whole turn
  // was 2.2 times too long (145 slices); the median piece is not moved.
  const perKey = 200e-6;
  const pieces = Array.from({ length: PLAN_TURNS }, (_, turn) =>
    Array.from({ length: PLAN_PIECES }, (_, piece) => (piece === (turn * 3) % PLAN_PIECES ? 20 : 1) * perKey),
  ).flat();
  expect(planSlices(65_536, pieces, 0.2, 0.05)).toBe(66);
  // A third of the pieces stretched three times, the plan holds.
  const third = pieces.map((_, i) => (i % 3 ? perKey : 3 * perKey));
  expect(planSlices(65_536, third, 0.2, 0.05)).toBe(66);
  // Never more slices than keys.
  expect(planSlices(4, [9, 9, 9, 9, 9], 0.5, 0.05)).toBe(4);
});

it("cuts a turn in MIN_SLICES slices at least, each MIN_SLICE_STEPS of the timer or more, so its median slice is never the whole turn or the mean of two", () => {
  expect([MIN_SLICES, MIN_SLICE_STEPS]).toEqual([3, 5]);
  const ms = (turnMs: number, ops: number) => [turnMs / ops];
  // The cache's misses at 16,384 keys, 0.12-0.45 ms a pass on a timer of 5 µs: 3 slices whatever the load at planning
  // (at 10 steps a slice, 0.12-0.15 ms got 2); its hits, 0.95 ms, 5 of 0.2 ms as before.
  for (const turn of [0.12, 0.15, 0.25, 0.3, 0.35, 0.4, 0.45]) {
    expect(planSlices(16_384, ms(turn, 16_384), 0.2, 0.025)).toBe(3);
  }
  expect(planSlices(16_384, ms(0.95, 16_384), 0.2, 0.025)).toBe(5);
  // A turn too short for three slices of 5 steps gets as many as it has room for.
  expect(planSlices(16_384, ms(0.06, 16_384), 0.2, 0.025)).toBe(2);
  expect(planSlices(16_384, ms(0.02, 16_384), 0.2, 0.025)).toBe(1);
});

it("plays a turn shorter than MIN_TURN_STEPS of the timer again, each time after the sweep, up to MAX_REPEATS times", () => {
  expect([MIN_TURN_STEPS, MAX_REPEATS]).toEqual([120, 8]);
  const ms = (turnMs: number, ops: number) => [turnMs / ops];
  // The cache's misses at 16,384 keys, 0.15 ms a pass: 4 passes of 0.6 ms on a timer of 5 µs; 1 from 0.6 ms up.
  expect(planRepeats(16_384, ms(0.15, 16_384), 0.6)).toBe(4);
  expect(planRepeats(16_384, ms(0.6, 16_384), 0.6)).toBe(1);
  expect(planRepeats(16_384, ms(3, 16_384), 0.6)).toBe(1);
  // On a timer of 100 µs, 12 ms: no more than MAX_REPEATS.
  expect(planRepeats(16_384, ms(0.15, 16_384), 12)).toBe(MAX_REPEATS);
});
