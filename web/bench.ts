// The in-page benchmark: BuildIdCache against Map<bigint, Uint8Array>, in ns per operation.
// It runs in its own worker (bench-worker.ts): a fresh heap and fresh JIT feedback for every run.
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
  /**
   * ns per operation of a turn made of each slice's fastest round: other programs only ever add
   * time to a timing, so the fastest of many short ones is what the code costs.
   */
  cacheNs: number;
  mapNs: number;
  /** mapNs / cacheNs: how many times faster the cache is. */
  ratio: number;
  /** The ratio from the even rounds alone and from the odd ones: how far one run's figure can be trusted. */
  halves: [number, number];
  /** ns per operation of each round's whole turn, as timed (other programs' time included). */
  cacheRounds: number[];
  mapRounds: number[];
}

/** The outcome of {@link runBenchmark}. */
export interface BenchResult {
  keys: number;
  rounds: number;
  /** Whether every row's ratios from the even and from the odd rounds came within 4% of each other. */
  converged: boolean;
  /** The smallest step of `performance.now()` seen, in ms: 0.005 cross-origin isolated, 0.1 not (Chromium). */
  timerResolutionMs: number;
  /** How long one timing lasts, about, in ms: a slice of a turn, or the whole turn when it is shorter. */
  sliceMs: number;
  /** Whole passes in each side's turn, the same for every row and both sides: {@link turnPasses}. */
  turnPasses: number;
  rows: BenchRow[];
  /** The benchmark cache's counters after the last round. */
  stats: BuildIdCacheStats;
  /** What the lookups returned, folded with XOR: consuming it keeps the JIT from dropping them. */
  checksum: number;
}

/** What the benchmark reports while it runs. */
export interface BenchProgress {
  /** "warming up", "round 3 of 20", "round 23, until the halves agree". */
  step: string;
}

/** Inode addresses as the kernel hands them out: 1128-byte ext4 inodes in the direct map. */
const DIRECT_MAP = 0xffff_8881_0000_0000n;
const INODE_SIZE = 1128n;

/**
 * Timed rounds, each timing every row's pass on both implementations back to back: at least
 * these, then more until every row's ratio from the even rounds and from the odd ones agree
 * within {@link AGREE}, for at most MAX_ROUNDS or EXTRA_MS. A busy machine needs more rounds
 * before each slice has had a quiet one.
 */
export const MIN_ROUNDS = 20;
/** How close, relatively, the ratios from the even and from the odd rounds must come. */
export const AGREE = 0.04;
const MAX_ROUNDS = 200;
const EXTRA_MS = 60_000;
/** A timing lasts about this long: short, so that most fit between two switches to other programs. */
const SLICE_MS = 0.5;
/** ...and at least this many steps of the timer, which rounds every timing to a step. */
const TIMER_STEPS = 100;
/**
 * A side's turn in a round covers at least this many keys in whole passes: one pass from 16,384 keys
 * up, more below, where one pass is too short to time.
 */
export const TURN_KEYS = 16_384;
/**
 * Bytes read, one 64-byte line at a time, before every turn: more than the L2 cache of common CPUs,
 * as a profiler decoding its next sample records reads them between lookups.
 */
export const SWEEP_BYTES = 8 << 20;
/** Untimed passes of each body before the rounds run at least this long: V8 and Liftoff tier up. */
const WARM_UP_MS = 60;

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

const yieldToEventLoop = () => new Promise((resolve) => setTimeout(resolve, 0));

/** Does keys `[from, to)` of a pass; a pass is `body(0, keys)`. */
type Body = (from: number, to: number) => void;

/** One row: its two bodies, and the table each pass starts from. */
interface Subject {
  operation: Operation;
  /**
   * "nothing": the pass empties the table first; "present": full of the present keys, each looked up
   * once since it went in; "full": any full table.
   */
  needs: "nothing" | "present" | "full";
  cache: Body;
  map: Body;
}

/** Sum of `values`. */
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Whole passes in one side's turn: at least {@link TURN_KEYS} keys, whatever the calibration says, so
 * every turn mixes the same cold start and warm rest on both sides and in every run.
 */
export function turnPasses(keys: number): number {
  return Math.max(1, Math.ceil(TURN_KEYS / keys));
}

/** One side of one row: a turn of {@link turnPasses} passes, timed slice by slice. */
class Timed {
  readonly body: Body;
  /** Where each slice starts, counted in keys from the turn's start; the last one ends at the turn's end. */
  #bounds = [0];
  /** The fastest time of each slice, in ms, over the even rounds and over the odd ones. */
  #best: [number[], number[]] = [[], []];
  /** Each round's turn, in ns per operation. */
  readonly rounds: number[] = [];

  constructor(body: Body) {
    this.body = body;
  }

  /** Splits a turn of `ops` keys into slices of about `sliceMs` (one at least) from the time of one turn. */
  plan(ops: number, turnMs: number, sliceMs: number): void {
    const slices = Math.max(1, Math.min(ops, Math.round(turnMs / sliceMs)));
    this.#bounds = Array.from({ length: slices }, (_, i) => Math.floor((i * ops) / slices));
    this.#best = [this.#bounds.map(() => Number.POSITIVE_INFINITY), this.#bounds.map(() => Number.POSITIVE_INFINITY)];
  }

  /** Does keys `[from, to)` of a turn of passes over `keys` keys. */
  #run(keys: number, from: number, to: number): void {
    while (from < to) {
      const start = from - (from % keys);
      const end = Math.min(to, start + keys);
      this.body(from - start, end - start);
      from = end;
    }
  }

  /** Times one round's turn of `ops` keys (whole passes over `keys` keys), slice by slice. */
  turn(keys: number, ops: number, round: number): void {
    const best = this.#best[round % 2]!;
    let total = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      const from = this.#bounds[i]!;
      const to = this.#bounds[i + 1] ?? ops;
      const start = performance.now();
      this.#run(keys, from, to);
      const ms = performance.now() - start;
      total += ms;
      if (ms < best[i]!) best[i] = ms;
    }
    this.rounds.push((total * 1e6) / ops);
  }

  /** ns per operation of a turn made of each slice's fastest round: of all rounds, of the even or of the odd ones. */
  fastest(ops: number, half?: 0 | 1): number {
    const [even, odd] = this.#best;
    const best = half === undefined ? even.map((ms, i) => Math.min(ms, odd[i]!)) : this.#best[half];
    return (sum(best) * 1e6) / ops;
  }
}

/**
 * Times each of {@link OPERATIONS} over `keys` keys on a {@link BuildIdCache} of that capacity and
 * on a `Map` bounded the same way (oldest out first, through a ring of its keys), as a profiler
 * calls them: keys come from a `BigUint64Array` as from decoded sample records, each side taking
 * them the fastest way its API has: a lookup on the cache by the array and an index
 * ({@link BuildIdCache.getBytesAt}), on the `Map` by the BigInt it is keyed by; a hit reads the ID it found.
 * The lookup rows start from a table whose keys were each looked up once since they went in (untimed,
 * on both), as a profiler's keys are after their first samples. Every round times every row on both, back to
 * back, the rows rotated and the side going first alternating. Each side's turn is
 * {@link turnPasses} whole passes, started right after an untimed read of {@link SWEEP_BYTES}, so
 * both sides' turns start with their tables pushed out of the CPU's near caches the same way; a turn
 * is timed in short slices, and the figure is the sum of each slice's fastest round.
 * `progress` hears each step before it runs.
 */
export async function runBenchmark(keys: number, progress: (step: BenchProgress) => void): Promise<BenchResult> {
  const present = shuffledInodes(keys, 0, 0x9e3779b9);
  const absent = shuffledInodes(keys, keys, 0x85ebca6b);
  // The present keys in another order: lookups never follow the order the Map allocated its entries in.
  const lookups = shuffledInodes(keys, 0, 0xc2b2ae35);
  const ids = randomIds(keys);
  const one = new Uint8Array(BUILD_ID_MAX);
  const out = new Uint8Array(keys * BUILD_ID_MAX);
  const lengths = new Uint8Array(keys);
  const cache = await BuildIdCache.create({ capacity: keys });
  const map = new Map<bigint, Uint8Array>();
  // The Map's own insertion-order ring: map.keys().next() after many deletes is O(n) in V8.
  const ring = new BigUint64Array(keys);
  let oldest = 0;
  // Folded with XOR so it stays a small integer: a sum passes 2^30 within a run, and from then on every
  // body allocates a HeapNumber per operation to store it, timed on both sides.
  let sink = 0;
  let evictCache = absent;
  let evictMap = absent;

  // Each pass empties the table first, timed: an insert into an empty table is only ever had that way.
  const fillCache: Body = (from, to) => {
    if (from === 0) {
      cache.clear();
      evictCache = absent;
    }
    for (let i = from; i < to; i++) cache.set(present[i]!, ids[i]!);
  };
  const fillMap: Body = (from, to) => {
    if (from === 0) {
      map.clear();
      oldest = 0;
      evictMap = absent;
    }
    for (let i = from; i < to; i++) {
      map.set(present[i]!, ids[i]!.slice());
      ring[i] = present[i]!;
    }
  };
  const hitCache: Body = (from, to) => {
    for (let i = from; i < to; i++) if (cache.getBytesAt(lookups, i, one) !== 0) sink ^= one[19]!;
  };
  const hitMap: Body = (from, to) => {
    for (let i = from; i < to; i++) {
      const id = map.get(lookups[i]!);
      if (id !== undefined) sink ^= id[19]!;
    }
  };
  const subjects: Subject[] = [
    { operation: "insert into empty", needs: "nothing", cache: fillCache, map: fillMap },
    { operation: "lookup, hit", needs: "present", cache: hitCache, map: hitMap },
    {
      operation: "lookup, miss",
      needs: "present",
      cache(from, to) {
        for (let i = from; i < to; i++) sink ^= cache.getBytesAt(absent, i, one);
      },
      map(from, to) {
        for (let i = from; i < to; i++) if (map.get(absent[i]!) !== undefined) sink ^= 1;
      },
    },
    {
      operation: "batched lookup",
      needs: "present",
      cache(from, to) {
        sink ^= cache.getMany(
          lookups.subarray(from, to),
          out.subarray(from * BUILD_ID_MAX, to * BUILD_ID_MAX),
          lengths.subarray(from, to),
        );
      },
      map(from, to) {
        for (let i = from; i < to; i++) {
          const id = map.get(lookups[i]!);
          lengths[i] = id?.length ?? 0;
          if (id !== undefined) out.set(id, i * BUILD_ID_MAX);
        }
        sink ^= lengths[to - 1]!;
      },
    },
    {
      operation: "insert, evicting",
      needs: "full",
      cache(from, to) {
        for (let i = from; i < to; i++) cache.set(evictCache[i]!, ids[i]!);
        if (to === keys) evictCache = evictCache === absent ? present : absent;
      },
      map(from, to) {
        for (let i = from; i < to; i++) {
          const key = evictMap[i]!;
          map.delete(ring[oldest]!);
          map.set(key, ids[i]!.slice());
          ring[oldest] = key;
          oldest = oldest + 1 === keys ? 0 : oldest + 1;
        }
        if (to === keys) evictMap = evictMap === absent ? present : absent;
      },
    },
  ];

  // Untimed, before each row's turns: the table the row starts from, the same for both implementations.
  // A lookup row's keys were each looked up once since they went in: else the hit row, each round right
  // after "insert into empty" or a refill, times only first hits (the cache marks an entry on its first).
  let holds: "nothing" | "inserted" | "present" | "churned" = "nothing";
  const prepare = ({ needs }: Subject, side: "cache" | "map") => {
    if (needs === "nothing" || holds === "present" || (needs === "full" && holds !== "nothing")) return;
    if (holds !== "inserted") (side === "cache" ? fillCache : fillMap)(0, keys);
    if (needs === "present") (side === "cache" ? hitCache : hitMap)(0, keys);
  };
  const after = ({ needs }: Subject) => {
    holds = needs === "full" ? "churned" : needs === "nothing" ? "inserted" : "present";
  };

  const resolution = timerResolution();
  const sliceMs = Math.max(SLICE_MS, TIMER_STEPS * resolution);
  const passes = turnPasses(keys);
  const ops = passes * keys;
  const timed = subjects.map((subject) => ({ subject, cache: new Timed(subject.cache), map: new Timed(subject.map) }));
  progress({ step: "warming up" });
  for (const row of timed) {
    for (const side of ["cache", "map"] as const) {
      const { body } = row[side];
      prepare(row.subject, side);
      const start = performance.now();
      for (let passes = 0; passes < 3 || performance.now() - start < WARM_UP_MS; passes++) body(0, keys);
      // A pass's time from enough passes in one timing that the timer's step is a small part of it;
      // the fastest of three, as a collection or a deoptimization can stretch any one of them.
      let passMs = Number.POSITIVE_INFINITY;
      for (let trial = 0; trial < 3; trial++) {
        for (let passes = 1; ; passes *= 2) {
          const t0 = performance.now();
          for (let p = 0; p < passes; p++) body(0, keys);
          const ms = performance.now() - t0;
          if (ms < TIMER_STEPS * resolution) continue;
          passMs = Math.min(passMs, ms / passes);
          break;
        }
      }
      row[side].plan(ops, passes * passMs, sliceMs);
      await yieldToEventLoop();
    }
    after(row.subject);
  }

  // Written once, so its pages are its own rather than the kernel's one page of zeros.
  const sweep = new Int32Array(SWEEP_BYTES / 4).fill(1);
  const evict = () => {
    for (let i = 0; i < sweep.length; i += 16) sink ^= sweep[i]!;
  };
  const halvesAgree = () =>
    timed.every(({ cache: c, map: m }) => {
      const even = m.fastest(ops, 0) / c.fastest(ops, 0);
      const odd = m.fastest(ops, 1) / c.fastest(ops, 1);
      return Math.abs(even - odd) <= AGREE * Math.min(even, odd);
    });
  let round = 0;
  let extraSince = 0;
  for (; round < MAX_ROUNDS; round++) {
    if (round >= MIN_ROUNDS && round % 2 === 0) {
      if (halvesAgree()) break;
      extraSince ||= performance.now();
      if (performance.now() - extraSince > EXTRA_MS) break;
    }
    progress({
      step: round < MIN_ROUNDS ? `round ${round + 1} of ${MIN_ROUNDS}` : `round ${round + 1}, until the halves agree`,
    });
    for (let k = 0; k < timed.length; k++) {
      const row = timed[(k + round) % timed.length]!;
      const order = round % 2 === 0 ? (["cache", "map"] as const) : (["map", "cache"] as const);
      for (const side of order) prepare(row.subject, side);
      for (const side of order) {
        // Whatever ran last (either side, a refill, another row), every turn starts after the same sweep.
        evict();
        row[side].turn(keys, ops, round);
      }
      after(row.subject);
      await yieldToEventLoop();
    }
  }

  const rows = timed.map(({ subject, cache: c, map: m }): BenchRow => {
    const cacheNs = c.fastest(ops);
    const mapNs = m.fastest(ops);
    return {
      operation: subject.operation,
      cacheNs,
      mapNs,
      ratio: mapNs / cacheNs,
      halves: [m.fastest(ops, 0) / c.fastest(ops, 0), m.fastest(ops, 1) / c.fastest(ops, 1)],
      cacheRounds: c.rounds,
      mapRounds: m.rounds,
    };
  });
  const stats = cache.stats();
  cache.dispose();
  const converged = halvesAgree();
  return {
    keys,
    rounds: round,
    converged,
    timerResolutionMs: resolution,
    sliceMs,
    turnPasses: passes,
    rows,
    stats,
    checksum: sink,
  };
}
