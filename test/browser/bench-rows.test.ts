// The page's benchmark (web/bench.ts) run in Node for its first rounds, watched through spies: what the timed
// turns of "lookup, hit" find in the cache. Timings are never asserted.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, expect, it, vi } from "vitest";
import { BuildIdCache } from "../../src/index.js";
import {
  OPERATIONS,
  type OpenSide,
  openTimer,
  type PartName,
  PLAN_TURNS,
  planSlices,
  ROUNDS,
  ROW_PART,
  rowPasses,
  runBenchmark,
  timerResolution,
  WARM_ROUNDS,
  type WorkerName,
} from "../../web/bench.js";

/** Stops the benchmark before its last fixed round: until then the clock is read only around timed slices. */
class Enough extends Error {}

afterEach(() => {
  vi.restoreAllMocks();
});

it("times hits on keys each looked up once since they went in, never the first lookup that marks an entry", async () => {
  // Per cache (each part of the benchmark has its own) and per key it holds: whether it was looked up since it went in.
  const tables = new WeakMap<BuildIdCache, Map<bigint, boolean>>();
  const held = (cache: BuildIdCache) => {
    if (!tables.has(cache)) tables.set(cache, new Map());
    return tables.get(cache)!;
  };
  const proto = BuildIdCache.prototype;
  const { set, clear, findAt, getMany } = proto;
  vi.spyOn(proto, "set").mockImplementation(function (this: BuildIdCache, key, id) {
    const evicted = set.call(this, key, id);
    held(this).set(key, false);
    return evicted;
  });
  vi.spyOn(proto, "clear").mockImplementation(function (this: BuildIdCache) {
    held(this).clear();
    clear.call(this);
  });
  vi.spyOn(proto, "getMany").mockImplementation(function (this: BuildIdCache, keys, out, lengths) {
    const lookedUp = held(this);
    for (const key of keys) if (lookedUp.has(key)) lookedUp.set(key, true);
    return getMany.call(this, keys, out, lengths);
  });
  // In the first rounds the clock is read only around timed slices: an odd read starts one, the next ends it.
  let rounds = false;
  let reads = 0;
  const timed = { lookups: 0, first: 0 };
  vi.spyOn(proto, "findAt").mockImplementation(function (this: BuildIdCache, keys, index) {
    const key = keys[index]!;
    const lookedUp = held(this);
    if (rounds && reads % 2 === 1) {
      timed.lookups++;
      if (lookedUp.get(key) === false) timed.first++;
    }
    if (lookedUp.has(key)) lookedUp.set(key, true);
    return findAt.call(this, keys, index);
  });
  const now = performance.now.bind(performance);
  vi.spyOn(performance, "now").mockImplementation(() => {
    if (rounds) reads++;
    return now();
  });
  const run = runBenchmark(1024, ({ step }) => {
    // Spies record every call; forgotten at each step, so the warm-up's millions of lookups are not all kept.
    vi.clearAllMocks();
    rounds = step.startsWith("round ");
    if (step === `round 20 of ${ROUNDS}`) throw new Enough();
  });
  await expect(run).rejects.toBeInstanceOf(Enough);
  expect(reads % 2, "clock reads pair up into slices").toBe(0);
  expect(timed.lookups, "timed single-key lookups (hit and miss rows)").toBeGreaterThan(0);
  expect(timed.first, "timed lookups that were their key's first since it went in").toBe(0);
}, 300_000);

it("times the misses in turns of at least 262,144 keys and the batched lookups of 65,536, several passes each, the hits in 16,384", async () => {
  // A pass of misses takes the cache ~0.2 ms at 16,384 keys: a turn that short is one timing, which one collection's
  // slice or switch to another program stretches by a large share. Counted on the cache's side, in timed slices only.
  const proto = BuildIdCache.prototype;
  const { findAt, getMany } = proto;
  let rounds = false;
  let reads = 0;
  const timed = { hits: 0, misses: 0, batched: 0 };
  vi.spyOn(proto, "findAt").mockImplementation(function (this: BuildIdCache, keys, index) {
    const found = findAt.call(this, keys, index);
    if (rounds && reads % 2 === 1) timed[found === 0 ? "misses" : "hits"]++;
    return found;
  });
  vi.spyOn(proto, "getMany").mockImplementation(function (this: BuildIdCache, keys, out, lengths) {
    if (rounds && reads % 2 === 1) timed.batched += keys.length;
    return getMany.call(this, keys, out, lengths);
  });
  const now = performance.now.bind(performance);
  vi.spyOn(performance, "now").mockImplementation(() => {
    if (rounds) reads++;
    return now();
  });
  const turns = 4;
  const run = runBenchmark(1024, ({ step }) => {
    // Spies record every call; forgotten at each step, so the warm-up's millions of lookups are not all kept.
    vi.clearAllMocks();
    rounds = step.startsWith("round ");
    if (step === `round ${turns + 1} of ${ROUNDS}`) throw new Enough();
  });
  await expect(run).rejects.toBeInstanceOf(Enough);
  expect(reads % 2, "clock reads pair up into slices").toBe(0);
  expect(timed.hits / turns, "hits timed in a turn").toBe(16_384);
  expect(timed.misses / turns, "misses timed in a turn").toBeGreaterThanOrEqual(262_144);
  expect(timed.batched / turns, "batched lookups timed in a turn").toBeGreaterThanOrEqual(65_536);
  expect(timed.misses % 1024, "whole passes").toBe(0);
}, 300_000);

it("times the lookup rows on tables built before the rounds, which nothing inserts into, deletes from or clears in them", async () => {
  // Tables (caches, and Maps keyed by BigInt) the rounds read by lookups, and those they write.
  const read = { cache: new Set<BuildIdCache>(), map: new Set<Map<unknown, unknown>>() };
  const written = { cache: new Set<BuildIdCache>(), map: new Set<Map<unknown, unknown>>() };
  let rounds = false;
  const proto = BuildIdCache.prototype;
  for (const name of ["findAt", "getMany"] as const) {
    const original = proto[name] as (...args: unknown[]) => unknown;
    vi.spyOn(proto, name).mockImplementation(function (this: BuildIdCache, ...args: unknown[]) {
      if (rounds) read.cache.add(this);
      return original.apply(this, args);
    } as never);
  }
  for (const name of ["set", "clear", "delete"] as const) {
    const original = proto[name] as (...args: unknown[]) => unknown;
    vi.spyOn(proto, name).mockImplementation(function (this: BuildIdCache, ...args: unknown[]) {
      if (rounds) written.cache.add(this);
      return original.apply(this, args);
    } as never);
  }
  const mapProto = Map.prototype as Map<unknown, unknown>;
  const { get, set, delete: remove, clear } = mapProto;
  vi.spyOn(mapProto, "get").mockImplementation(function (this: Map<unknown, unknown>, key) {
    if (rounds && typeof key === "bigint") read.map.add(this);
    return get.call(this, key);
  });
  vi.spyOn(mapProto, "set").mockImplementation(function (this: Map<unknown, unknown>, key, value) {
    if (rounds && typeof key === "bigint") written.map.add(this);
    return set.call(this, key, value);
  });
  vi.spyOn(mapProto, "delete").mockImplementation(function (this: Map<unknown, unknown>, key) {
    if (rounds && typeof key === "bigint") written.map.add(this);
    return remove.call(this, key);
  });
  vi.spyOn(mapProto, "clear").mockImplementation(function (this: Map<unknown, unknown>) {
    if (rounds) written.map.add(this);
    clear.call(this);
  });
  const run = runBenchmark(1024, ({ step }) => {
    // Spies record every call; forgotten at each step, so the warm-up's millions of lookups are not all kept.
    vi.clearAllMocks();
    rounds = step.startsWith("round ");
    // Four rounds: every row timed on both sides, each side going first twice.
    if (step === `round 5 of ${ROUNDS}`) throw new Enough();
  });
  await expect(run).rejects.toBeInstanceOf(Enough);
  vi.restoreAllMocks();
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
}, 300_000);

it("times the memory probe beside the rows in every round; asked for several tables, builds each in a heap of its own, gives each a turn in every round and reports each side's median with every table's figure", async () => {
  // Handles that time nothing: each opened table answers its figures, the Map's third lookup table three times slower.
  const opened: { side: WorkerName; part: PartName; passes: readonly number[]; turns: string[] }[] = [];
  const open: OpenSide = async (side, part, _keys, _resolution, passes) => {
    const table = { side, part, passes, turns: [] as string[] };
    opened.push(table);
    const nth = opened.filter((t) => t.side === side && t.part === part).length;
    const ns = side === "map" ? (part === "lookups" && nth === 3 ? 300 : 100) : side === "cache" ? 20 : 90;
    return {
      warm: async () => {},
      turn: async (row, round) => void table.turns.push(`${round}:${row}`),
      fastest: async () => OPERATIONS.map((): [number, number, number] => [ns, ns, ns]),
      finish: async () => ({
        rounds: OPERATIONS.map(() => [ns]),
        starts: OPERATIONS.map(() => [0]),
        slices: OPERATIONS.map(() => [[ns]]),
        checksum: 0,
      }),
      close() {},
    };
  };
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
  // The memory probe, in a heap of its own, times its two rows (dependent and overlapping reads) in every round.
  const probes = opened.filter((t) => t.side === "memory");
  expect(probes.length, "memory probes").toBe(1);
  for (let round = 0; round < result.rounds; round++) {
    expect(probes[0]!.turns.filter((turn) => turn.startsWith(`${round}:`))).toEqual([`${round}:0`, `${round}:1`]);
  }
  expect([result.memoryNs, result.scatterNs]).toEqual([90, 90]);
  // Every table of both sides makes the same passes a turn, the page's figure for each row.
  for (const table of opened) expect(table.passes, `${table.side} ${table.part} passes`).toEqual(result.rowPasses);
  for (const row of result.rows) {
    const slow = ROW_PART[OPERATIONS.indexOf(row.operation)] === "lookups";
    expect(row.mapTables, row.operation).toEqual(
      Array.from({ length: tables }, (_, i) => (slow && i === 2 ? 300 : 100)),
    );
    expect(row.cacheTables, row.operation).toEqual(Array(tables).fill(20));
    expect(row.mapNs, `${row.operation}: the median of the Map's tables`).toBe(100);
    expect(row.ratio).toBe(5);
  }
});

it("gives the halves of a run as its first rounds and its last, so a run whose speed moved does not pass for one that held still", async () => {
  // The Map's lookup part over 1,024 keys, warmed on the real clock; then a clock on which every slice of the
  // first half of the rounds lasts twice as long as every slice of the second, as when the machine was busy
  // for the first half of a run. The even and the odd rounds each hold slices of both halves, so they agree.
  const keys = 1024;
  const timer = await openTimer("map", "lookups", keys, timerResolution(), rowPasses(keys));
  const rows = ROW_PART.flatMap((part, row) => (part === "lookups" ? [row] : []));
  for (const row of rows) timer.warm(row);
  const rounds = 40;
  let step = 0;
  let fake = 0;
  vi.spyOn(performance, "now").mockImplementation(() => (fake += step));
  for (let round = 0; round < rounds; round++) {
    step = round < rounds / 2 ? 2e-3 : 1e-3;
    for (const row of rows) timer.turn(row, round);
  }
  const fastest = timer.fastest();
  for (const row of rows) {
    const [all, first, second] = fastest[row]!;
    expect(all, `${OPERATIONS[row]}: every round`).toBe(second);
    expect(first / second, `${OPERATIONS[row]}: the first half of the rounds against the second`).toBeCloseTo(2, 6);
  }
}, 300_000);

it("rehearses WARM_ROUNDS untimed rounds, played as the timed ones in the same order, between the warm-up and the first timed round", async () => {
  // Handles that time nothing and record every call, in order, across all of them.
  const calls: string[] = [];
  const open: OpenSide = async (side, part) => ({
    warm: async (row) => void calls.push(`warm ${side} ${part} ${row}`),
    turn: async (row, round) => void calls.push(`turn ${round} ${side} ${part} ${row}`),
    fastest: async () => OPERATIONS.map((): [number, number, number] => [10, 10, 10]),
    finish: async () => ({
      rounds: OPERATIONS.map(() => [10]),
      starts: OPERATIONS.map(() => [0]),
      slices: OPERATIONS.map(() => [[10]]),
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
  // Every figure here is the same, so the halves agree from the first round: the run still plays them all.
  expect(result.converged).toBe(true);
  expect(result.rounds, "a run whose halves agree early still plays every round").toBe(ROUNDS);
});

it("keeps the untimed rounds' turns out of the figures and the rounds it reports", async () => {
  // The real bodies over 1,024 keys, in this heap; in the untimed rounds the clock barely moves, so a slice
  // timed there would be the fastest of all if it counted.
  let untimed = false;
  const now = performance.now.bind(performance);
  let fake = 0;
  vi.spyOn(performance, "now").mockImplementation(() => {
    if (!untimed) return now();
    fake += 1e-9;
    return fake;
  });
  const result = await runBenchmark(1024, ({ step }) => {
    untimed = step.startsWith("warming up: untimed round");
    if (!untimed && step.startsWith("round ")) fake = 0;
  });
  expect(result.memoryRounds.length).toBe(result.rounds);
  expect(result.scatterRounds.length).toBe(result.rounds);
  expect(result.memoryStarts.map((starts) => starts.length)).toEqual([result.rounds, result.rounds]);
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
}, 300_000);

it("times no body that V8 deoptimizes in the rounds for want of feedback (--trace-deopt of a run in Node)", async () => {
  // A body warmed only in whole passes ran as code compiled on the stack before the lines after its loop had
  // run, which deoptimized at the loop's end at every later call, inside a timed slice; a body warmed alone
  // had no feedback for what the other rows leave behind (the cache's keys of the miss pass before a hit pass).
  const bench = pathToFileURL(resolve(import.meta.dirname, "../../web/bench.ts")).href;
  const script = `
    const { ROUNDS, runBenchmark } = await import(${JSON.stringify(bench)});
    class Enough extends Error {}
    const stop = \`round 20 of \${ROUNDS}\`;
    await runBenchmark(1024, ({ step }) => {
      if (step === stop) throw new Enough();
      if (step === "round 1 of " + ROUNDS) process.stdout.write("TIMED ROUNDS\\n");
    }).catch((error) => { if (!(error instanceof Enough)) throw error; });
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "--trace-deopt-verbose", "--input-type=module", "-e", script],
    { cwd: resolve(import.meta.dirname, "../.."), maxBuffer: 1 << 30 },
  );
  const rounds = stdout.indexOf("TIMED ROUNDS");
  expect(rounds, "the run reached its timed rounds").toBeGreaterThan(0);
  // Each bailout names its reason, then where it happened: the page's code and the cache's only, not Node's.
  const deopts = stdout
    .slice(rounds)
    .split("[bailout (kind: ")
    .slice(1)
    .map((text) => text.slice(0, text.indexOf("\n", text.indexOf("deoptimize at"))))
    .filter(
      (text) => text.includes("Insufficient type feedback") && /deoptimize at <file:[^>]*\/(web|src)\//.test(text),
    )
    .map((text) => text.replace(/ \(sfi = [^)]*\)|, FP to SP[^\n]*|0x[0-9a-f]+ /g, ""));
  expect(deopts).toEqual([]);
}, 300_000);

it("plans a turn's slices from the fastest of PLAN_TURNS turns, each after the sweep, so turns other programs stretched do not set them", () => {
  // A turn of the Map's batched lookups at 65,536 keys takes about 13 ms: 26 slices of 0.5 ms. Under load, most
  // turns timed to plan them are stretched by other programs' time (their median too), never shortened.
  const stretched = [31, 45, 60, 27.5];
  for (let at = 0; at < PLAN_TURNS; at++) {
    const turns = stretched.toSpliced(at, 0, 13);
    expect(turns.length).toBe(PLAN_TURNS);
    expect(planSlices(65_536, turns, 0.5), `turns ${turns.join(" ")}`).toBe(26);
  }
  // A turn shorter than a slice is one slice; never more slices than keys.
  expect(planSlices(16_384, [0.1, 0.1, 0.2, 0.1, 0.1], 0.5)).toBe(1);
  expect(planSlices(4, [9, 9, 9, 9, 9], 0.5)).toBe(4);
});
