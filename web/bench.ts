// The in-page benchmark: BuildIdCache against Map<bigint, Uint8Array>, in ns per operation.
// Each side's lookups and inserts run in workers of their own (bench-worker.ts), several of each, new for every run:
// own heaps, table layouts and JIT feedback.
import { BUILD_ID_MAX, BuildIdCache, type BuildIdCacheStats } from "../src/index.js";

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
  /** The ratio from the first half of the rounds played alone and from the second ({@link halves}): how far one run's figure can be trusted. */
  halves: [number, number];
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
  /** Timed rounds played: {@link firstRounds}, and more while the halves did not agree ({@link moreRounds}). */
  rounds: number;
  /** Timed rounds a run plays first ({@link ROUNDS} unless asked), and at most {@link ROUND_LIMIT} times as many. */
  firstRounds: number;
  /** Whether every row's ratios from the first and from the second half of the rounds came within {@link AGREE} of each other. */
  converged: boolean;
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
 * Timed rounds a run plays first, each timing every row's pass on both implementations back to back ({@link ROUND_LIMIT}).
 */
export const ROUNDS = 200;
/** How close, relatively, the ratios from the first and from the second half of the rounds must come for a run to count as steady. */
export const AGREE = 0.04;
/**
 * A run whose halves do not agree after its {@link ROUNDS} plays half as many more, again while they do not, up to this
 * many times {@link ROUNDS}: each round's Map ÷ cache moved ±23-70% (one standard deviation) from round to round at
 * load 8-12 on 2 cores, as much the next round as any later one, so the median of 100 rounds moved about ±4% and a
 * run's halves differed by more than {@link AGREE} by chance as often as not; a median over twice the rounds moves
 * 1/√2 as far.
 */
export const ROUND_LIMIT = 2;
/**
 * A timing lasts about this long: short, so that most fit between two switches to other programs, and a turn has
 * several, whose median leaves out the one a switch stretched. At 0.5 ms the cache's turns at 16,384 keys were 1-3
 * slices, and at load 12 on 2 cores a tenth or more of its rounds ran 10-16 times their median (its hit: p90 839 ns,
 * median 53), all in its round's figure.
 */
const SLICE_MS = 0.2;
/** ...and at least this many steps of the timer, which rounds every timing to a step (by 2.5% at most). */
const TIMER_STEPS = 40;
/**
 * A turn has at least this many slices, where each can last {@link MIN_SLICE_STEPS} steps of the timer (as many as
 * can, else), so that its median slice is never its whole turn or the mean of two: then the first slice after the
 * sweep (the cache's misses at 16,384 keys: 2.6 times the others) and a switch to another program land in the figure,
 * as they do not where a turn has more slices (the Map's every row). A turn's count used to cross that line with
 * the load at planning: the cache's misses at 16,384 keys ran 1 or 2 slices a turn (then 2 or 3 under a floor of
 * 5 slices of 20 steps, the row 5.50x or 7.30x). Every turn from 16,384 keys lasts 0.25 ms or more: 3 slices at least.
 */
export const MIN_SLICES = 3;
export const MIN_SLICE_STEPS = 10;
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
 * Bytes read, one 64-byte line at a time, before every turn: more than the last-level cache of common
 * CPUs (32 MiB on this machine's EPYC), so every turn starts with both tables in main memory whatever
 * ran before, as after a profiler has decoded its next batch of sample records.
 */
export const SWEEP_BYTES = 64 << 20;
/** Untimed passes of each body before the rounds run at least this long: V8 and Liftoff tier up. */
const WARM_UP_MS = 60;
/**
 * ...each pass in calls of this many keys, as the rounds call a body slice by slice, so that V8 optimizes the
 * body at its entry with feedback from all of it. Warmed in whole passes (one long loop a call), a body ran as
 * code compiled on the stack in its first loop, before the lines after the loop had run, and that code
 * deoptimized at the loop's end on every later call, inside a timed slice: Chromium 156's V8 (`--trace-deopt`)
 * deoptimized the `Map`'s batched lookup once a round, Node 24's its batched and evicting bodies at every slice
 * of the first rounds.
 */
export const WARM_CALL_KEYS = 256;
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
/** Bytes the memory probe chases through, one random 64-byte line after another: as large as the `Map` at 65,536 keys. */
export const PROBE_BYTES = 16 << 20;
/** Loads in a turn of the memory probe: dependent ones, then overlapping ones (more, so a turn lasts long enough to time). */
const PROBE_LOADS = [16_384, 131_072] as const;
/** The memory probe's rows: dependent loads, overlapping loads, the re-read ({@link MemoryProbe}). */
export const PROBE_ROWS = [0, 1, 2] as const;
/** Sizes, in MiB, of the buffers the probe's third row reads and then re-reads ({@link cachedMiB}). */
export const REREAD_MIB = [2, 4, 8, 16, 32] as const;
/** Dependent loads of a buffer's re-read, in timings of {@link REREAD_CHUNK}, the figure their median. */
const REREAD_LOADS = 16_384;
const REREAD_CHUNK = 4096;

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

/** The smallest step `performance.now()` takes, in ms. */
export function timerResolution(): number {
  let smallest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    let next = performance.now();
    while (next === start) next = performance.now();
    smallest = Math.min(smallest, next - start);
  }
  return smallest;
}

/** How long one timing lasts, about, given the timer's step `resolution` in ms: {@link SLICE_MS}, or longer for a coarse timer. */
const sliceFor = (resolution: number) => Math.max(SLICE_MS, TIMER_STEPS * resolution);

/** Does keys `[from, to)` of a pass; a pass is `body(0, keys)`. */
type Body = (from: number, to: number) => void;

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
    for (let i = from; i < to; i++) cache.set(present[i]!, ids[i]!);
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
      for (let i = from; i < to; i++) cache.set(evict[i]!, ids[i]!);
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

/** One side of one row: a turn of {@link turnPasses} passes, timed slice by slice. */
class Timed {
  readonly body: Body;
  /** Where each slice starts, counted in keys from the turn's start; the last one ends at the turn's end. */
  #bounds = [0];
  /** Keys in each slice of a turn of `ops` keys, as planned. */
  #sliceKeys: number[] = [];
  /** Each timed round's slices, in ms, in the order the rounds ran; the untimed rounds' apart. */
  readonly #slices: Float64Array[] = [];
  readonly #untimedSlices: Float64Array[] = [];
  /** Each round's turn, in ns per operation; the untimed rounds' apart. */
  readonly rounds: number[] = [];
  readonly #untimed: number[] = [];
  /** When each timed round's turn started, in ms since the epoch ({@link performance.timeOrigin}: one clock for every worker). */
  readonly starts: number[] = [];

  constructor(body: Body) {
    this.body = body;
  }

  /** Splits a turn of `ops` keys into `slices` slices ({@link planSlices}). */
  plan(ops: number, slices: number): void {
    this.#bounds = Array.from({ length: slices }, (_, i) => Math.floor((i * ops) / slices));
    this.#sliceKeys = this.#bounds.map((from, i) => (this.#bounds[i + 1] ?? ops) - from);
  }

  /** Does keys `[from, to)` of a turn of passes over `keys` keys. */
  run(keys: number, from: number, to: number): void {
    while (from < to) {
      const start = from - (from % keys);
      const end = Math.min(to, start + keys);
      this.body(from - start, end - start);
      from = end;
    }
  }

  /**
   * Times one round's turn of `ops` keys (whole passes over `keys` keys), slice by slice; a round below 0 is one
   * of the {@link WARM_ROUNDS}, timed and kept the same way, apart from the figures. Returns the turn's median
   * slice in ns per operation.
   */
  turn(keys: number, ops: number, round: number): number {
    const slices = new Float64Array(this.#bounds.length);
    let total = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      const from = this.#bounds[i]!;
      const to = this.#bounds[i + 1] ?? ops;
      const start = performance.now();
      if (i === 0 && round >= 0) this.starts.push(performance.timeOrigin + start);
      this.run(keys, from, to);
      const ms = performance.now() - start;
      total += ms;
      slices[i] = ms;
    }
    (round < 0 ? this.#untimedSlices : this.#slices).push(slices);
    (round < 0 ? this.#untimed : this.rounds).push((total * 1e6) / ops);
    return median(this.#rates(slices));
  }

  #rates(slices: Float64Array): number[] {
    return Array.from(slices, (ms, i) => (ms * 1e6) / this.#sliceKeys[i]!);
  }

  /** Each timed round's slices in ns per operation of the slice (their keys: the plan's bounds). */
  sliceRates(): number[][] {
    return this.#slices.map((slices) => this.#rates(slices));
  }
}

/** What one side reports at the end of a run. */
export interface SideResult {
  /** Per row, each round's turn in ns per operation, as timed. */
  rounds: number[][];
  /** Per row, when each round's turn started (ms since the epoch). */
  starts: number[][];
  /** Per row, each round's slices in ns per operation. */
  slices: number[][][];
  /** The memory probe's: each round's ns per dependent load re-reading each of {@link REREAD_MIB} just read. */
  reread?: number[][];
  /** The cache's counters after the last round; none for the Map. */
  stats?: BuildIdCacheStats;
  checksum: number;
}

/** {@link SWEEP_BYTES} of a worker's own, read before every timed turn. */
class Sweep {
  // Written once, so its pages are its own rather than the kernel's one page of zeros.
  readonly #bytes = new Int32Array(SWEEP_BYTES / 4).fill(1);
  /** What the reads returned, folded with XOR, so none is dropped. */
  value = 0;

  /** Reads every 64-byte line once. */
  read(): void {
    this.value = readLines(this.#bytes, this.value);
  }
}

// The sweep's loop alone, its end a return: a long loop runs as code compiled on the stack, and a store after
// it (as `this.value = ...` was) had no feedback when that code was compiled, so it deoptimized after every sweep.
function readLines(bytes: Int32Array, value: number): number {
  for (let i = 0; i < bytes.length; i += 16) value ^= bytes[i]!;
  return value;
}

/** One untimed pass of `body` over `keys` keys in calls of {@link WARM_CALL_KEYS} keys. */
function warmPass(body: Body, keys: number): void {
  for (let from = 0; from < keys; from += WARM_CALL_KEYS) body(from, Math.min(keys, from + WARM_CALL_KEYS));
}

/**
 * Turns timed, apart from the figures, to plan a row's slices, each right after the sweep as a timed turn is, each in
 * {@link PLAN_PIECES} pieces timed apart: the plan takes the median piece, which a switch to another program rarely
 * stretches. The plan used to take the fastest whole turn, and at load 8-12 on 2 cores every one of them was stretched:
 * the same row got 37, 132 and 205 slices in three runs (the Map's batched lookups at 16,384 keys), and a figure
 * follows its slice length (the same rounds' slices merged four to one moved the Map's median slice up 2-4%, its
 * inserts into an empty table 16-27%). Before that, passes timed right after the warm-up found the Map's table in the
 * CPU's last-level cache or not (the cache's hits at 65,536 keys got 3 slices in one run, 129 in the next).
 */
export const PLAN_TURNS = 5;
export const PLAN_PIECES = 16;

/**
 * Slices in a turn of `ops` keys, given `msPerKey`, the pieces of {@link PLAN_TURNS} turns in ms per key: the median
 * piece's turn cut in slices of about `sliceMs`, and in {@link MIN_SLICES} at least where each still lasts `minSliceMs`
 * (as many as do, else).
 */
export function planSlices(ops: number, msPerKey: readonly number[], sliceMs: number, minSliceMs: number): number {
  const turnMs = median(msPerKey) * ops;
  const floor = Math.min(MIN_SLICES, Math.floor(turnMs / minSliceMs));
  return Math.max(1, Math.min(ops, Math.max(floor, Math.round(turnMs / sliceMs))));
}

/**
 * Untimed passes of `timed`'s body over `keys` keys for at least {@link WARM_UP_MS} (V8 and Liftoff tier up), in
 * calls of {@link WARM_CALL_KEYS} keys, then its turn of `ops` keys planned in slices ({@link planSlices}) from
 * {@link PLAN_TURNS} whole turns in pieces, each after `before` (the sweep), on a timer stepping `resolution` ms.
 */
function warmAndPlan(timed: Timed, keys: number, ops: number, resolution: number, before: () => void): void {
  const { body } = timed;
  const start = performance.now();
  for (let passes = 0; passes < 3 || performance.now() - start < WARM_UP_MS; passes++) warmPass(body, keys);
  const msPerKey: number[] = [];
  for (let turn = 0; turn < PLAN_TURNS; turn++) {
    before();
    for (let piece = 0; piece < PLAN_PIECES; piece++) {
      const from = Math.floor((piece * ops) / PLAN_PIECES);
      const to = Math.floor(((piece + 1) * ops) / PLAN_PIECES);
      const t0 = performance.now();
      timed.run(keys, from, to);
      msPerKey.push((performance.now() - t0) / (to - from));
    }
  }
  timed.plan(ops, planSlices(ops, msPerKey, sliceFor(resolution), MIN_SLICE_STEPS * resolution));
}

/** What the benchmark times in a worker: a {@link BenchSide} or the {@link MemoryProbe}, each call one of its rows. */
export interface Timer {
  warm(row: number): void;
  /** Plays round `round`'s turn of row `row`; its figure: the median slice in ns per operation (the re-read's: of its buffers). */
  turn(row: number, round: number): number;
  finish(): SideResult;
}

/** One random cycle through the 64-byte lines of `bytes` bytes, from `seed` (Sattolo's shuffle): each line's first word the index of the next line's. */
function chaseCycle(bytes: number, seed: number): { next: Int32Array; order: Int32Array } {
  const lines = bytes / 64;
  const order = Int32Array.from({ length: lines }, (_, i) => i);
  for (let i = lines - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const j = seed % i;
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const next = new Int32Array(bytes / 4);
  for (let i = 0; i < lines; i++) next[order[i]! * 16] = order[(i + 1) % lines]! * 16;
  return { next, order };
}

/** `steps` dependent loads along `next` from `at`; where they ended. */
function chase(next: Int32Array, at: number, steps: number): number {
  for (let i = 0; i < steps; i++) at = next[at]!;
  return at;
}

/**
 * MiB of a buffer just read that the CPU's caches still hold, from `rereadNs`, ns per dependent load re-reading each of
 * {@link REREAD_MIB} right after reading it, and `coldNs`, the same load from main memory (the probe's chase after the
 * sweep): for each size, the share of its loads that hit, (cold - re-read) ÷ (cold - the smallest size's re-read),
 * times its size; the most of them. A core's own caches (1 MiB of L2 here) hold the smallest; the last-level cache,
 * shared with other programs and, in a VM, other machines, holds what they leave: the `Map`'s table at 65,536 keys
 * (several MiB) runs as fast as that lets it.
 */
export function cachedMiB(rereadNs: readonly number[], coldNs: number): number {
  const hot = rereadNs[0]!;
  if (!(coldNs > hot)) return 0;
  return Math.max(
    ...REREAD_MIB.map((mib, i) => mib * Math.min(1, Math.max(0, (coldNs - rereadNs[i]!) / (coldNs - hot)))),
  );
}

/**
 * The machine's memory, timed beside the rows and as they are, after the same sweep, each round a turn of
 * loads ({@link PROBE_LOADS}) of random 64-byte lines of {@link PROBE_BYTES} in each of two ways (its rows 0 and 1):
 * "chase", each load's address the value the one before read (one random cycle through every line), so no
 * two overlap: the latency of one step of a `Map` hit's chain of loads; "scatter", each load's address from
 * an array read in order, so the core overlaps as many as it can, as the lookups of a pass overlap: the
 * memory's throughput for random lines. Row 2, "re-read": each of {@link REREAD_MIB} read in order, then
 * {@link REREAD_LOADS} dependent loads of its lines in random order, timed: how much of what was just read the
 * caches kept ({@link cachedMiB}).
 */
export class MemoryProbe implements Timer {
  readonly #timed: [Timed, Timed];
  readonly #sweep = new Sweep();
  readonly #buffers = REREAD_MIB.map((mib, i) => chaseCycle(mib << 20, 0x9e3779b9 + i).next);
  /** Where each buffer's chase stopped: the next re-read goes on from there. */
  readonly #rereadAt = REREAD_MIB.map(() => 0);
  /** Each timed round's re-read, ns per load for each of {@link REREAD_MIB}. */
  readonly #reread: number[][] = [];
  readonly #untimedReread: number[][] = [];
  #at = 0;
  #sink = 0;
  readonly #resolution: number;

  constructor(resolution: number) {
    this.#resolution = resolution;
    const { next, order } = chaseCycle(PROBE_BYTES, 0x2545f491);
    const scattered = order.subarray(0, PROBE_LOADS[1]).map((line) => line * 16);
    this.#timed = [
      new Timed((from, to) => {
        this.#at = chase(next, this.#at, to - from);
      }),
      new Timed((from, to) => {
        let sink = this.#sink;
        for (let i = from; i < to; i++) sink ^= next[scattered[i]!]!;
        this.#sink = sink;
      }),
    ];
  }

  warm(row: number): void {
    if (row === 2) {
      const start = performance.now();
      for (let n = 0; n < 3 || performance.now() - start < WARM_UP_MS; n++) this.#rereadAll();
      return;
    }
    const loads = PROBE_LOADS[row as 0 | 1];
    warmAndPlan(this.#timed[row]!, loads, loads, this.#resolution, () => this.#sweep.read());
  }

  /** Each buffer read in order, then re-read along its cycle: ns per load, the median of its timings. */
  #rereadAll(): number[] {
    return this.#buffers.map((next, b) => {
      this.#sink ^= readLines(next, 0);
      const rates: number[] = [];
      for (let done = 0; done < REREAD_LOADS; done += REREAD_CHUNK) {
        const start = performance.now();
        this.#rereadAt[b] = chase(next, this.#rereadAt[b]!, REREAD_CHUNK);
        rates.push(((performance.now() - start) * 1e6) / REREAD_CHUNK);
      }
      return median(rates);
    });
  }

  turn(row: number, round: number): number {
    if (row === 2) {
      const ns = this.#rereadAll();
      // Kept apart as a timed round's, not skipped: code that skipped it in the untimed rounds had no feedback for
      // the push, and deoptimized at the first timed round.
      (round < 0 ? this.#untimedReread : this.#reread).push(ns);
      return median(ns);
    }
    this.#sweep.read();
    const loads = PROBE_LOADS[row as 0 | 1];
    return this.#timed[row]!.turn(loads, loads, round);
  }

  finish(): SideResult {
    return {
      rounds: this.#timed.map((t) => t.rounds),
      starts: this.#timed.map((t) => t.starts),
      slices: this.#timed.map((t) => t.sliceRates()),
      reread: this.#reread,
      checksum: this.#rereadAt.reduce((x, at) => x ^ at, this.#at ^ this.#sink ^ this.#sweep.value),
    };
  }
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
    this.#sweep.read();
    const ns = timed.turn(this.#keys, this.#ops[row]!, round);
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

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

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
  /** Timed rounds a run plays first: {@link ROUNDS} unless given (tests take fewer); more while the halves disagree. */
  rounds?: number;
}

/** A row's figures from both sides' turns of the same rounds: {@link pairedMedian}. */
export interface Paired {
  cacheNs: number;
  mapNs: number;
  ratio: number;
}

/**
 * A row's figures from both sides' slices of the same rounds (`cache[r]`, `map[r]`: round r's slices, ns per operation):
 * each side's median slice of each round; the ratio the median over the rounds of each round's Map ÷ cache, each side's
 * figure the median of its rounds'. What moves a figure here is the part of the last-level cache the host leaves this
 * machine, from minute to minute: the `Map`'s side follows it and the cache's much less, so each round's two turns,
 * back to back, are taken in the same state and divided before the median. A slice's fastest round took a figure
 * from the rare moment with much of that cache free: in a Node mirror of the page at 65,536 keys, 5 of 589 ticks gave
 * 95% of the `Map`'s batched slice minima, and the ratio so taken moved ±28.4% over six 3-minute windows, the paired
 * median ±5.8% (hits ±6.1% and ±5.9%). The median slice, not the whole turn: a slice another program stretched is at
 * one end of its turn's.
 */
export function pairedMedian(cache: readonly (readonly number[])[], map: readonly (readonly number[])[]): Paired {
  if (cache.length !== map.length || cache.length === 0) {
    throw new RangeError(`both sides need the same rounds, at least one: ${cache.length} and ${map.length}`);
  }
  const c = cache.map(median);
  const m = map.map(median);
  return { cacheNs: median(c), mapNs: median(m), ratio: median(m.map((ns, r) => ns / c[r]!)) };
}

/**
 * A row's ratio from the first half of the rounds played and from the second, each the median of its rounds' Map ÷ cache
 * ({@link pairedMedian}), from `cache[b][r]` and `map[b][r]`: build b's median slice in round r.
 */
export function halves(cache: readonly (readonly number[])[], map: readonly (readonly number[])[]): [number, number] {
  const played = cache[0]!.length;
  const ratio = (from: number, to: number) =>
    median(cache.flatMap((rounds, b) => rounds.slice(from, to).map((ns, r) => map[b]![from + r]! / ns)));
  return [ratio(0, played >> 1), ratio(played >> 1, played)];
}

/** Whether a row's halves ({@link halves}) come within {@link AGREE} of each other. */
export const agrees = ([first, second]: readonly number[]) =>
  Math.abs(first! - second!) <= AGREE * Math.min(first!, second!);

/**
 * Rounds a run plays next, having played `played` of a run that starts with `rounds`, its rows' halves agreeing or not:
 * none once they agree or it has played {@link ROUND_LIMIT} times `rounds`, else half of `rounds` more (fewer at the limit).
 */
export function moreRounds(played: number, rounds: number, agreed: boolean): number {
  return agreed ? 0 : Math.max(0, Math.min(Math.ceil(rounds / 2), ROUND_LIMIT * rounds - played));
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
 * ratios from the first and the second half of its rounds disagree ({@link moreRounds}). `progress` hears each step
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
    // Until every row's halves agree, or the limit: what the turns answered, each build's rounds apart.
    const agreed = () => OPERATIONS.every((_, row) => agrees(halves(cache.figures[row]!, map.figures[row]!)));
    let played = 0;
    for (let next = rounds; next > 0; next = moreRounds(played, rounds, agreed())) {
      const more =
        played === 0 ? "" : ` (the halves differed by more than ${AGREE * 100}%: at most ${ROUND_LIMIT * rounds})`;
      for (const end = played + next; played < end; played++) {
        progress({ step: `round ${played + 1} of ${end}${more}` });
        await play(played);
      }
    }
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
        halves: halves(builds(cacheSlices), builds(mapSlices)),
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
      converged: rows.every((row) => agrees(row.halves)),
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
