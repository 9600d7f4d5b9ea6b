// The in-page benchmark: BuildIdCache against Map<bigint, Uint8Array>, in ns per operation.
// Each side's lookups and inserts run in workers of their own (bench-worker.ts), several of each, new for every run:
// own heaps, table layouts and JIT feedback.
import { BUILD_ID_MAX, BuildIdCache, type BuildIdCacheStats } from "../src/index.js";
import { cachedMiB, MemoryProbe, PROBE_ROWS, REREAD_MIB } from "./bench-probe.js";
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
} from "./bench-stats.js";
import {
  type Body,
  type SideResult,
  Sweep,
  sliceFor,
  Timed,
  type Timer,
  timerResolution,
  WARM_UP_MS,
  warmAndPlan,
  warmPass,
} from "./bench-timing.js";

/** The rows of the benchmark, in the order the page lists them. */
export const OPERATIONS = [
  "insert into empty",
  "lookup, hit",
  "lookup, miss",
  "batched lookup",
  "insert, evicting",
] as const;

/** One row of the benchmark. */
export type Operation = (typeof OPERATIONS)[number];

/** One operation timed on both implementations, in every round. */
export interface BenchRow {
  operation: Operation;
  /** ns per operation: the median over the rounds of each round's median slice ({@link pairedMedian}). */
  cacheNs: number;
  mapNs: number;
  /**
   * How many times faster the cache is: the median over the rounds of each round's Map ÷ cache, each side's median
   * slice of its turn in that round ({@link pairedMedian}); not mapNs ÷ cacheNs, though close to it.
   */
  ratio: number;
  /** A {@link CONFIDENCE} interval of the ratio ({@link medianInterval} of the rounds' Map ÷ cache): how far one run's figure can be trusted. */
  interval: [number, number];
  /** ns per operation of each round's whole turn, as timed (other programs' time included), every table's in turn. */
  cacheRounds: number[];
  mapRounds: number[];
  /** When each round's turn started, ms since the epoch, and its slices in ns per operation: {@link SideResult}. */
  cacheStarts: number[];
  mapStarts: number[];
  cacheSlices: number[][];
  mapSlices: number[][];
  /** Each table's own figure (as {@link cacheNs}, of its rounds alone, one per build). */
  cacheTables: number[];
  mapTables: number[];
}

/** The outcome of {@link runBenchmark}. */
export interface BenchResult {
  keys: number;
  /** Timed rounds played: {@link firstRounds}, and more while a row's ratio was not known within {@link PRECISION} ({@link playsMore}). */
  rounds: number;
  /** Timed rounds a run plays first ({@link ROUNDS} unless asked), and at most {@link ROUND_LIMIT} times as many. */
  firstRounds: number;
  /** Whether every row's ratio came to be known within {@link PRECISION}, before {@link TIME_LIMIT_MS} or the round limit. */
  precise: boolean;
  /** How long the timed rounds took, in ms. */
  roundsMs: number;
  /** The smallest step of `performance.now()` seen, in ms: 0.005 cross-origin isolated, 0.1 not (Chromium). */
  timerResolutionMs: number;
  /** How long one timing lasts, about, in ms: a slice of a turn, or the whole turn when it is shorter. */
  sliceMs: number;
  /** Whole passes in each side's turn, the same on both sides, of the rows but the misses and batched lookups: {@link turnPasses}. */
  turnPasses: number;
  /** Whole passes in each row's turn, in {@link OPERATIONS} order, the same on both sides: {@link rowPasses}. */
  rowPasses: number[];
  /** Tables built for each part of each side, each in a heap of its own: {@link TABLES}. */
  tables: number;
  /** The memory probe's ns per dependent load, timed as a row is ({@link MemoryProbe}), and each round's. */
  memoryNs: number;
  /**
   * MiB of a buffer just read that the CPU's caches still held, the median over the rounds ({@link cachedMiB}): how
   * much of the last-level cache the host left this machine while the run ran, and each round's.
   */
  l3MiB: number;
  l3Rounds: number[];
  /** ns per dependent load re-reading each of {@link REREAD_MIB} just read, the median over the rounds. */
  rereadNs: number[];
  memoryRounds: number[];
  /** The memory probe's ns per load of random lines that may overlap, each round's, and when each round's turns started. */
  scatterNs: number;
  scatterRounds: number[];
  memoryStarts: number[][];
  rows: BenchRow[];
  /** The benchmark cache's counters after the last round. */
  stats: BuildIdCacheStats;
  /** What the lookups returned, folded with XOR: consuming it keeps the JIT from dropping them. */
  checksum: number;
}

/** What the benchmark reports while it runs. */
export interface BenchProgress {
  /** "warming up", "round 3 of 200". */
  step: string;
}

/** Inode addresses as the kernel hands them out: 1128-byte ext4 inodes in the direct map. */
const DIRECT_MAP = 0xffff_8881_0000_0000n;
const INODE_SIZE = 1128n;

/**
 * A side's turn in a round covers at least this many keys in whole passes: one pass from 16,384 keys
 * up, more below, where one pass is too short to time.
 */
export const TURN_KEYS = 16_384;
/**
 * ...and the batched lookups over at least these many (`longTurnKeys` tries longer turns): one pass after the sweep,
 * as every row. They were 65,536 keys, 4 passes at 16,384, when a pass of the cache's (0.4 ms) was one timing; with
 * {@link MIN_SLICES} it is 4. In passes 2-4 the Map's table sat in whatever part of the last-level cache the host
 * left this machine that minute: over the saved rounds of five runs at load 8-14, the ratio from their first pass
 * alone was 6.16-7.09 (blocks of 40 rounds 5.6-8.0), from passes 2-4 6.27-9.46 (blocks 5.5-12.3). So were the misses
 * (a Node mirror of the page at 65,536 keys, six 3-minute windows: the ratio's paired median moved ±21.2% over
 * passes 2-4, ±8.2% over one pass after the sweep).
 */
export const LONG_TURN_KEYS: Readonly<Partial<Record<Operation, number>>> = {
  "batched lookup": 16_384,
};
/** The rows timed in turns of {@link LONG_TURN_KEYS}. */
export const LONG_ROWS = Object.keys(LONG_TURN_KEYS) as readonly Operation[];
/**
 * Untimed rounds after the warm-up, each played as a timed round is (every row's turn on every table, the
 * rows rotated, the sweep before each turn) and then forgotten: what the timed rounds run, in the order they
 * run it, has been optimized with feedback from that order (a hit turn's first lookup after another row's keys)
 * before the first timed turn. Without them, Chromium 156 deoptimized the cache's hit body in the first round
 * and optimized bodies anew for tens of rounds (the `Map`'s hit, the inserts), so a run's rounds timed
 * different code early and late, and its figure depended on how many rounds it took.
 */
export const WARM_ROUNDS = 10;
/**
 * Short-lived bytes allocated, untimed, once the lookup table is built: more than the young generation
 * holds a few times over, so the collections that promote the table to the old generation happen before
 * the rounds, as a profiler's table has been through them after its first samples.
 */
export const SETTLE_BYTES = 128 << 20;
/**
 * Tables built for each part of each side by default, each in a worker (a heap) of its own, the rounds giving
 * each a turn after the other, a side's figure the median of its tables'. One: tables built apart in one run
 * came within a few percent of each other while runs differed by up to 40% (README), so the heap layout is
 * not what moves a run; more tables (`?tables=N` on the page) show that again at N times a round's cost.
 */
export const TABLES = 1;

/** Keys `first` to `first + count - 1` as slab addresses, shuffled by an LCG started at `seed`. */
function shuffledInodes(count: number, first: number, seed: number): BigUint64Array {
  const keys = new BigUint64Array(count);
  for (let i = 0; i < count; i++) keys[i] = DIRECT_MAP + BigInt(first + i) * INODE_SIZE;
  for (let i = count - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % (i + 1);
    const t = keys[i]!;
    keys[i] = keys[j]!;
    keys[j] = t;
  }
  return keys;
}

function randomIds(count: number): Uint8Array[] {
  const all = new Uint8Array(count * BUILD_ID_MAX);
  for (let at = 0; at < all.length; at += 65_536) crypto.getRandomValues(all.subarray(at, at + 65_536));
  return Array.from({ length: count }, (_, i) => all.subarray(i * BUILD_ID_MAX, (i + 1) * BUILD_ID_MAX));
}

/**
 * What each row's pass (in {@link OPERATIONS} order) starts from: "nothing", the pass empties the table
 * first; "present", full of the present keys, each looked up once since it went in; "full", any full table.
 */
const NEEDS: readonly ("nothing" | "present" | "full")[] = ["nothing", "present", "present", "present", "full"];

/** One of the two implementations the benchmark compares. */
export type SideName = "cache" | "map";

/** What a worker of the benchmark times: a part of a side, or the memory probe ({@link MemoryProbe}). */
export type WorkerName = SideName | "memory";

/**
 * The two halves of a side, each on a table and in a heap of its own: "lookups", a table built once and
 * only looked up (hit, miss, batched), as a profiler's; "inserts", a table emptied and refilled.
 */
export type PartName = "lookups" | "inserts";

/** Which part times each row, in {@link OPERATIONS} order. */
export const ROW_PART: readonly PartName[] = ["inserts", "lookups", "lookups", "lookups", "inserts"];

/** The name of each side's workers on the page ({@link TABLES} of each), and of the memory probe's. */
export const SIDE_WORKER: Record<SideName, Record<PartName, string>> & { memory: string } = {
  cache: { lookups: "benchmark: BuildIdCache, lookups", inserts: "benchmark: BuildIdCache, inserts" },
  map: { lookups: "benchmark: Map, lookups", inserts: "benchmark: Map, inserts" },
  memory: "benchmark: memory latency",
};

/** One side's table and its bodies: a pass of each row (in {@link OPERATIONS} order), a fill and a hit pass. */
interface Bodies {
  rows: Body[];
  fill: Body;
  hit: Body;
  /** What the lookups returned, folded with XOR. */
  sink(): number;
  stats?: () => BuildIdCacheStats;
  dispose(): void;
}

/** The keys both sides use, the same in every heap (from fixed seeds), and IDs for them. */
function inputs(keys: number) {
  return {
    present: shuffledInodes(keys, 0, 0x9e3779b9),
    absent: shuffledInodes(keys, keys, 0x85ebca6b),
    // The present keys in another order: lookups never follow the order the Map allocated its entries in.
    lookups: shuffledInodes(keys, 0, 0xc2b2ae35),
    ids: randomIds(keys),
    out: new Uint8Array(keys * BUILD_ID_MAX),
    lengths: new Uint8Array(keys),
  };
}

async function cacheBodies(keys: number): Promise<Bodies> {
  const { present, absent, lookups, ids, out, lengths } = inputs(keys);
  const cache = await BuildIdCache.create({ capacity: keys });
  // Folded with XOR so it stays a small integer: a sum passes 2^30 within a run, and from then on every
  // body allocates a HeapNumber per operation to store it.
  let sink = 0;
  let evict = absent;
  // Each pass empties the table first, timed: an insert into an empty table is only ever had that way.
  const fill: Body = (from, to) => {
    if (from === 0) {
      cache.clear();
      evict = absent;
    }
    for (let i = from; i < to; i++) cache.setAt(present, i, ids[i]!);
  };
  const hit: Body = (from, to) => {
    for (let i = from; i < to; i++) if (cache.findAt(lookups, i) !== 0) sink ^= cache.foundId[19]!;
  };
  const rows: Body[] = [
    fill,
    hit,
    (from, to) => {
      for (let i = from; i < to; i++) sink ^= cache.findAt(absent, i);
    },
    (from, to) => {
      sink ^= cache.getMany(
        lookups.subarray(from, to),
        out.subarray(from * BUILD_ID_MAX, to * BUILD_ID_MAX),
        lengths.subarray(from, to),
      );
    },
    (from, to) => {
      for (let i = from; i < to; i++) cache.setAt(evict, i, ids[i]!);
      if (to === keys) evict = evict === absent ? present : absent;
    },
  ];
  return { rows, fill, hit, sink: () => sink, stats: () => cache.stats(), dispose: () => cache.dispose() };
}

async function mapBodies(keys: number): Promise<Bodies> {
  const { present, absent, lookups, ids, out, lengths } = inputs(keys);
  const map = new Map<bigint, Uint8Array>();
  // The Map's own insertion-order ring: map.keys().next() after many deletes is O(n) in V8.
  const ring = new BigUint64Array(keys);
  let oldest = 0;
  let sink = 0;
  let evict = absent;
  const fill: Body = (from, to) => {
    if (from === 0) {
      map.clear();
      oldest = 0;
      evict = absent;
    }
    for (let i = from; i < to; i++) {
      map.set(present[i]!, ids[i]!.slice());
      ring[i] = present[i]!;
    }
  };
  const hit: Body = (from, to) => {
    for (let i = from; i < to; i++) {
      const id = map.get(lookups[i]!);
      if (id !== undefined) sink ^= id[19]!;
    }
  };
  const rows: Body[] = [
    fill,
    hit,
    (from, to) => {
      for (let i = from; i < to; i++) if (map.get(absent[i]!) !== undefined) sink ^= 1;
    },
    (from, to) => {
      for (let i = from; i < to; i++) {
        const id = map.get(lookups[i]!);
        lengths[i] = id?.length ?? 0;
        if (id !== undefined) out.set(id, i * BUILD_ID_MAX);
      }
      sink ^= lengths[to - 1]!;
    },
    (from, to) => {
      for (let i = from; i < to; i++) {
        const key = evict[i]!;
        map.delete(ring[oldest]!);
        map.set(key, ids[i]!.slice());
        ring[oldest] = key;
        oldest = oldest + 1 === keys ? 0 : oldest + 1;
      }
      if (to === keys) evict = evict === absent ? present : absent;
    },
  ];
  return { rows, fill, hit, sink: () => sink, dispose: () => map.clear() };
}

/**
 * Whole passes in one side's turn: at least {@link TURN_KEYS} keys, whatever the calibration says, so
 * every turn mixes the same cold start and warm rest on both sides and in every run.
 */
export function turnPasses(keys: number, turnKeys = TURN_KEYS): number {
  return Math.max(1, Math.ceil(turnKeys / keys));
}

/**
 * Whole passes in each row's turn (in {@link OPERATIONS} order): {@link LONG_ROWS} over {@link LONG_TURN_KEYS} keys
 * at least, or each over `longTurnKeys` if given.
 */
export function rowPasses(keys: number, longTurnKeys?: number): number[] {
  return OPERATIONS.map((op) =>
    turnPasses(keys, Math.max(TURN_KEYS, (LONG_ROWS.includes(op) && (longTurnKeys ?? LONG_TURN_KEYS[op])) || 0)),
  );
}

/** Opens what worker `side` times: part `part` of a side ({@link BenchSide.create}), or the memory probe. */
export async function openTimer(
  side: WorkerName,
  part: PartName,
  keys: number,
  resolution: number,
  passes: readonly number[],
): Promise<Timer> {
  return side === "memory" ? new MemoryProbe(resolution) : await BenchSide.create(side, part, keys, resolution, passes);
}

/** Allocates `bytes` in short-lived small arrays; returns something of them so none is dropped. */
function churn(bytes: number): number {
  let last: number[] = [];
  let kept = 0;
  for (let i = 0; i < bytes / 32; i++) {
    last = [i, kept];
    kept ^= last.length;
  }
  return kept ^ last[0]!;
}

/**
 * One part ({@link PartName}) of one implementation, alone in its heap: its table, its bodies, and its
 * rows' {@link Timed} turns. The page runs each part in a worker of its own, so no timed turn follows
 * another part's allocations: the Map's insert rows allocate a new BigInt and ID array per key, 15 MB
 * at 65,536 keys, and a lookup table refilled in the rounds was timed young in some rounds and promoted
 * in others, and through the collections that copied it.
 */
export class BenchSide implements Timer {
  readonly #part: PartName;
  readonly #bodies: Bodies;
  readonly #timed: Timed[];
  readonly #keys: number;
  /** Keys in each row's turn: whole passes ({@link rowPasses}). */
  readonly #ops: number[];
  readonly #resolution: number;
  /** What the table holds now, after the last row that ran on it. */
  #holds: "nothing" | "inserted" | "present" | "churned" = "nothing";
  readonly #sweep = new Sweep();

  private constructor(part: PartName, bodies: Bodies, keys: number, resolution: number, passes: readonly number[]) {
    this.#part = part;
    this.#bodies = bodies;
    this.#timed = bodies.rows.map((body) => new Timed(body));
    this.#keys = keys;
    this.#ops = OPERATIONS.map((_, row) => (passes[row] ?? turnPasses(keys)) * keys);
    this.#resolution = resolution;
  }

  /**
   * Part `part` of side `side` over `keys` keys, on a timer that steps `resolution` ms (the same on both
   * sides). The lookups part builds its table now, looks each key up once and settles ({@link SETTLE_BYTES}).
   */
  static async create(
    side: SideName,
    part: PartName,
    keys: number,
    resolution: number,
    passes: readonly number[] = rowPasses(keys),
  ): Promise<BenchSide> {
    const bodies = await (side === "cache" ? cacheBodies : mapBodies)(keys);
    const bench = new BenchSide(part, bodies, keys, resolution, passes);
    if (part === "lookups") {
      bench.#prepare(ROW_PART.indexOf("lookups"));
      bench.#holds = "present";
      bench.#sweep.value ^= churn(SETTLE_BYTES);
    }
    return bench;
  }

  #row(row: number): Timed {
    if (ROW_PART[row] !== this.#part) throw new RangeError(`row ${row} is not timed by the ${this.#part} part`);
    return this.#timed[row]!;
  }

  // Untimed, before each of row's turns: the table the row starts from, the same on both sides. A lookup
  // row's keys were each looked up once since they went in: else the hit row, each round right after
  // "insert into empty" or a refill, times only first hits (the cache marks an entry on its first).
  #prepare(row: number): void {
    const needs = NEEDS[row]!;
    const holds = this.#holds;
    if (needs === "nothing" || holds === "present" || (needs === "full" && holds !== "nothing")) return;
    if (holds !== "inserted") this.#bodies.fill(0, this.#keys);
    if (needs === "present") this.#bodies.hit(0, this.#keys);
  }

  #after(row: number): void {
    const needs = NEEDS[row]!;
    this.#holds = needs === "full" ? "churned" : needs === "nothing" ? "inserted" : "present";
  }

  /**
   * Warms row `row`'s body (untimed passes, V8 and Liftoff tier up) and plans its turn's slices; after the part's
   * last row, passes of its rows in turn for {@link WARM_UP_MS} more, each after the others as in the rounds (the
   * cache's first lookup of a hit pass then follows a miss pass's keys, a path its code must have run).
   */
  warm(row: number): void {
    const timed = this.#row(row);
    this.#prepare(row);
    warmAndPlan(timed, this.#keys, this.#ops[row]!, this.#resolution, () => this.#sweep.read());
    this.#after(row);
    if (row !== ROW_PART.lastIndexOf(this.#part)) return;
    const rows = OPERATIONS.flatMap((_, r) => (ROW_PART[r] === this.#part ? [r] : []));
    const start = performance.now();
    for (let n = 0; n < 3 || performance.now() - start < WARM_UP_MS; n++) {
      for (const r of rows) {
        this.#prepare(r);
        warmPass(this.#timed[r]!.body, this.#keys);
        this.#after(r);
      }
    }
  }

  /** Round `round`'s turn of row `row`: its table prepared, then the sweep, then the timed turn. */
  turn(row: number, round: number): number {
    const timed = this.#row(row);
    this.#prepare(row);
    // Whatever ran last (a refill, another row), every turn starts after the same sweep.
    const ns = timed.turn(this.#keys, this.#ops[row]!, round, () => this.#sweep.read());
    this.#after(row);
    return ns;
  }

  /** The rounds as timed (none for another part's rows), the cache's counters and the checksum; the table is freed. */
  finish(): SideResult {
    const stats = this.#bodies.stats?.();
    this.#bodies.dispose();
    return {
      rounds: this.#timed.map((t) => t.rounds),
      starts: this.#timed.map((t) => t.starts),
      slices: this.#timed.map((t) => t.sliceRates()),
      ...(stats && { stats }),
      checksum: this.#bodies.sink() ^ this.#sweep.value,
    };
  }
}

/** A {@link Timer} wherever it runs: every call answers asynchronously. */
export interface SideHandle {
  warm(row: number): Promise<void>;
  /** {@link Timer.turn}. */
  turn(row: number, round: number): Promise<number>;
  finish(): Promise<SideResult>;
  /** Frees the side's heap (ends its worker); called once, whatever happened. */
  close(): void;
}

/**
 * Opens part `part` of side `side` over `keys` keys on a timer that steps `resolution` ms, each row's turn
 * `passes[row]` passes ({@link rowPasses}), each call a new heap on the page; `side` "memory" opens the memory
 * probe (`part` "lookups").
 */
export type OpenSide = (
  side: WorkerName,
  part: PartName,
  keys: number,
  resolution: number,
  passes: readonly number[],
) => Promise<SideHandle>;

/** Every part in this heap: for tests that watch the sides' calls; the page opens each in a worker of its own. */
export const openHere: OpenSide = async (side, part, keys, resolution, passes) => {
  const timer = await openTimer(side, part, keys, resolution, passes);
  return {
    warm: async (row) => timer.warm(row),
    turn: async (row, round) => timer.turn(row, round),
    finish: async () => timer.finish(),
    close() {},
  };
};

/** `a` modulo `n`, from 0 to `n - 1` whatever the sign of `a`. */
const modulo = (a: number, n: number) => ((a % n) + n) % n;

/** One side's two parts, each built {@link TABLES} times, each row answered by the builds of the part that times it. */
class Side {
  /** Per row, per build of its part, each timed round's figure ({@link Timer.turn}), as the turns answer; the untimed rounds' apart. */
  readonly figures: number[][][];
  readonly #untimed: number[][][];

  constructor(readonly parts: Record<PartName, SideHandle[]>) {
    this.figures = ROW_PART.map((part) => parts[part].map(() => []));
    this.#untimed = ROW_PART.map((part) => parts[part].map(() => []));
  }

  async warm(row: number): Promise<void> {
    for (const build of this.parts[ROW_PART[row]!]) await build.warm(row);
  }

  /** Every build's turn of `row`, one after the other, the first of them rotating with the round (below 0 too). */
  async turn(row: number, round: number): Promise<void> {
    const builds = this.parts[ROW_PART[row]!];
    for (let b = 0; b < builds.length; b++) {
      const build = modulo(b + round, builds.length);
      const ns = await builds[build]!.turn(row, round);
      // Kept in the untimed rounds too: code that skipped the push there deoptimized at the first timed round.
      (round < 0 ? this.#untimed : this.figures)[row]![build]!.push(ns);
    }
  }

  /** Each row's rounds from its part's builds; every table's counters added up, the rest of the stats the first lookup table's. */
  async finish(): Promise<SideResult> {
    const ends = { lookups: [] as SideResult[], inserts: [] as SideResult[] };
    for (const part of ["lookups", "inserts"] as const) {
      for (const build of this.parts[part]) ends[part].push(await build.finish());
    }
    const all = [...ends.lookups, ...ends.inserts];
    const first = ends.lookups[0]!.stats;
    const add = (key: "inserts" | "updates" | "hits" | "misses" | "removals" | "evictions") =>
      all.reduce((total, end) => total + (end.stats?.[key] ?? 0), 0);
    return {
      rounds: ROW_PART.map((part, row) => ends[part].flatMap((end) => end.rounds[row]!)),
      starts: ROW_PART.map((part, row) => ends[part].flatMap((end) => end.starts[row]!)),
      slices: ROW_PART.map((part, row) => ends[part].flatMap((end) => end.slices[row]!)),
      ...(first && {
        stats: {
          ...first,
          inserts: add("inserts"),
          updates: add("updates"),
          hits: add("hits"),
          misses: add("misses"),
          removals: add("removals"),
          evictions: add("evictions"),
        },
      }),
      checksum: all.reduce((x, end) => x ^ end.checksum, 0),
    };
  }
}

/** The step {@link runBenchmark} reports after its last round, as each side hands back its rounds and frees its table. */
export const FIGURES_STEP = "collecting the figures";

/** Options of {@link runBenchmark}. */
export interface BenchOptions {
  /** Where each part runs: {@link openHere} unless given (the page: a worker each). */
  open?: OpenSide;
  /** Tables built for each part of each side: {@link TABLES} unless given. */
  tables?: number;
  /** Keys a turn of each of {@link LONG_ROWS} covers at least: {@link LONG_TURN_KEYS} unless given ({@link TURN_KEYS}: as the other rows). */
  longTurnKeys?: number;
  /** Timed rounds a run plays first: {@link ROUNDS} unless given (tests take fewer); more while a row is imprecise ({@link playsMore}). */
  rounds?: number;
}

/**
 * Times each of {@link OPERATIONS} over `keys` keys on a {@link BuildIdCache} of that capacity and
 * on a `Map` bounded the same way (oldest out first, through a ring of its keys), as a profiler
 * calls them: keys come from a `BigUint64Array` as from decoded sample records, each side taking
 * them the fastest way its API has: a lookup on the cache by the array and an index
 * ({@link BuildIdCache.findAt}), on the `Map` by the BigInt it is keyed by; a hit reads byte 19 of the ID
 * it found where each side hands it back (the cache's {@link BuildIdCache.foundId}, the Map's stored array),
 * neither copying it.
 * Each side is two {@link BenchSide} parts ({@link ROW_PART}), each built `tables` times ({@link TABLES}) where
 * `open` puts it (the page: a worker each, so no table's turn follows another's allocations in the same heap,
 * and each has a heap layout of its own), over the same keys from the same seeds. The lookup rows run on
 * tables built once, each key looked up once and the young generation cycled ({@link SETTLE_BYTES}) before
 * the rounds, as a profiler's table is after its first samples. Every round times every row on every table
 * of both sides, one after the other, the rows rotated and the side going first alternating, and a turn of the
 * {@link MemoryProbe}. Each turn is {@link rowPasses} whole passes, started right after an untimed read of
 * {@link SWEEP_BYTES}, so every turn starts with its table in main memory whatever ran before; a turn is timed
 * in short slices, and a row's figures are the paired median of the two sides' rounds ({@link pairedMedian}); each
 * table's own, the median of its rounds' median slices. A run plays `rounds` rounds, then more while a row's
 * ratio is not yet known within {@link PRECISION} ({@link playsMore}). `progress` hears each step
 * before it runs, and {@link FIGURES_STEP} after the last round.
 */
export async function runBenchmark(
  keys: number,
  progress: (step: BenchProgress) => void,
  { open = openHere, tables = TABLES, longTurnKeys, rounds = ROUNDS }: BenchOptions = {},
): Promise<BenchResult> {
  if (!Number.isInteger(tables) || tables < 1) throw new RangeError(`tables must be an integer >= 1, got ${tables}`);
  if (!Number.isInteger(rounds) || rounds < 2) throw new RangeError(`rounds must be an integer >= 2, got ${rounds}`);
  if (longTurnKeys !== undefined && (!Number.isInteger(longTurnKeys) || longTurnKeys < 1)) {
    throw new RangeError(`longTurnKeys must be an integer >= 1, got ${longTurnKeys}`);
  }
  const resolution = timerResolution();
  const sliceMs = sliceFor(resolution);
  const passes = rowPasses(keys, longTurnKeys);
  const handles: SideHandle[] = [];
  const opened = async (side: WorkerName, part: PartName) => {
    const handle = await open(side, part, keys, resolution, passes);
    handles.push(handle);
    return handle;
  };
  const openSide = async (side: SideName) => {
    const parts: Record<PartName, SideHandle[]> = { lookups: [], inserts: [] };
    for (let build = 0; build < tables; build++) {
      for (const part of ["lookups", "inserts"] as const) parts[part].push(await opened(side, part));
    }
    return new Side(parts);
  };
  try {
    const cache = await openSide("cache");
    const map = await openSide("map");
    const probe = await opened("memory", "lookups");
    progress({ step: "warming up" });
    for (const row of PROBE_ROWS) await probe.warm(row);
    for (let row = 0; row < OPERATIONS.length; row++) {
      await cache.warm(row);
      await map.warm(row);
    }
    // Every row's turn on both sides, the rows rotated and the side going first alternating with the round;
    // the warm-up's untimed rounds are numbered -WARM_ROUNDS to -1.
    const play = async (round: number) => {
      for (const row of PROBE_ROWS) await probe.turn(row, round);
      for (let k = 0; k < OPERATIONS.length; k++) {
        const row = modulo(k + round, OPERATIONS.length);
        for (const side of modulo(round, 2) === 0 ? [cache, map] : [map, cache]) await side.turn(row, round);
      }
    };
    for (let round = -WARM_ROUNDS; round < 0; round++) {
      progress({ step: `warming up: untimed round ${round + WARM_ROUNDS + 1} of ${WARM_ROUNDS}` });
      await play(round);
    }
    // Until every row's ratio is precise enough, or the limits (playsMore): what the turns answered, each build's rounds apart.
    const reaches = () =>
      OPERATIONS.map((_, row) => {
        const ratios = roundRatios(cache.figures[row]!, map.figures[row]!);
        return reachOf(medianInterval(ratios), median(ratios));
      });
    // Date.now(), not performance.now(): the rounds' clock reads are the slices' alone (the tests pair them up).
    const started = Date.now();
    let played = 0;
    for (let now: number[] = []; playsMore(played, Date.now() - started, now, rounds); ) {
      const why =
        played < rounds
          ? ` of ${rounds}`
          : ` (until every row's ratio is known within ±${PRECISION * 100}%, ±${(100 * Math.max(...now)).toFixed(1)}% now;` +
            ` at most ${ROUND_LIMIT * rounds} rounds or ${TIME_LIMIT_MS / 1000} s)`;
      const end = played < rounds ? rounds : Math.min(played + MORE_ROUNDS, ROUND_LIMIT * rounds);
      for (; played < end; played++) {
        progress({ step: `round ${played + 1}${why}` });
        await play(played);
      }
      now = reaches();
    }
    const roundsMs = Date.now() - started;
    progress({ step: FIGURES_STEP });
    const [cacheEnd, mapEnd, probeEnd] = [await cache.finish(), await map.finish(), await probe.finish()];
    const rows = OPERATIONS.map((operation, row): BenchRow => {
      const [cacheSlices, mapSlices] = [cacheEnd.slices[row]!, mapEnd.slices[row]!];
      // Each build's rounds' median slices (the slices come build after build).
      const builds = (slices: number[][]) =>
        Array.from({ length: tables }, (_, b) => slices.slice(b * played, (b + 1) * played).map(median));
      const table = (slices: number[][], b: number) => median(builds(slices)[b]!);
      return {
        operation,
        ...pairedMedian(cacheSlices, mapSlices),
        interval: medianInterval(roundRatios(builds(cacheSlices), builds(mapSlices))),
        cacheRounds: cacheEnd.rounds[row]!,
        mapRounds: mapEnd.rounds[row]!,
        cacheStarts: cacheEnd.starts[row]!,
        mapStarts: mapEnd.starts[row]!,
        cacheSlices,
        mapSlices,
        cacheTables: Array.from({ length: tables }, (_, b) => table(cacheSlices, b)),
        mapTables: Array.from({ length: tables }, (_, b) => table(mapSlices, b)),
      };
    });
    const [chase, scatter] = probeEnd.slices.map((slices) => slices.map(median)) as [number[], number[]];
    const reread = probeEnd.reread!;
    const l3Rounds = reread.map((ns, round) => cachedMiB(ns, chase[round]!));
    return {
      keys,
      rounds: played,
      firstRounds: rounds,
      precise: rows.every((row) => reachOf(row.interval, row.ratio) <= PRECISION),
      roundsMs,
      timerResolutionMs: resolution,
      sliceMs,
      turnPasses: turnPasses(keys),
      rowPasses: passes,
      tables,
      memoryNs: median(chase),
      memoryRounds: probeEnd.rounds[0]!,
      l3MiB: median(l3Rounds),
      l3Rounds,
      rereadNs: REREAD_MIB.map((_, i) => median(reread.map((ns) => ns[i]!))),
      scatterNs: median(scatter),
      scatterRounds: probeEnd.rounds[1]!,
      memoryStarts: probeEnd.starts,
      rows,
      stats: cacheEnd.stats!,
      checksum: cacheEnd.checksum ^ mapEnd.checksum ^ probeEnd.checksum,
    };
  } finally {
    for (const handle of handles) handle.close();
  }
}
