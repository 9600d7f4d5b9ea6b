// The benchmark's timing of a turn: slices of whole passes after a sweep of the CPU's caches, planned from timed pieces.
import type { BuildIdCacheStats } from "../src/index.js";
import { median } from "./bench-stats.js";

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
 * sweep (the cache's misses at 16,384 keys: 2-2.6 times the others) and a switch to another program land in the
 * figure, as they do not where a turn has more slices (the Map's every row). At 10 steps a slice the cache's misses
 * at 16,384 keys (0.12-0.16 ms a pass) got 2 slices in some runs and 3 in others, 6.00x or 7.92x; at 5 steps every
 * pass from 16,384 keys clears 3 with room.
 */
export const MIN_SLICES = 3;
export const MIN_SLICE_STEPS = 5;
/**
 * A turn's timed work lasts at least this many steps of the timer: a row whose pass is shorter plays it again, each
 * time after the sweep, up to {@link MAX_REPEATS} times, its slices pooled. Else one step more or less is a tenth of
 * a slice of the cache's misses at 16,384 keys, and of its round's figure.
 */
export const MIN_TURN_STEPS = 120;
export const MAX_REPEATS = 8;
/**
 * Bytes read, one 64-byte line at a time, before every turn: more than the last-level cache of common
 * CPUs (32 MiB on this machine's EPYC), so every turn starts with both tables in main memory whatever
 * ran before, as after a profiler has decoded its next batch of sample records.
 */
export const SWEEP_BYTES = 64 << 20;
/** Untimed passes of each body before the rounds run at least this long: V8 and Liftoff tier up. */
export const WARM_UP_MS = 60;
/**
 * ...each pass in calls of this many keys, as the rounds call a body slice by slice, so that V8 optimizes the
 * body at its entry with feedback from all of it. Warmed in whole passes (one long loop a call), a body ran as
 * code compiled on the stack in its first loop, before the lines after the loop had run, and that code
 * deoptimized at the loop's end on every later call, inside a timed slice: Chromium 156's V8 (`--trace-deopt`)
 * deoptimized the `Map`'s batched lookup once a round, Node 24's its batched and evicting bodies at every slice
 * of the first rounds.
 */
export const WARM_CALL_KEYS = 256;

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
export const sliceFor = (resolution: number) => Math.max(SLICE_MS, TIMER_STEPS * resolution);

/** Does keys `[from, to)` of a pass; a pass is `body(0, keys)`. */
export type Body = (from: number, to: number) => void;

/** One side of one row: a turn of {@link turnPasses} passes, timed slice by slice. */
export class Timed {
  readonly body: Body;
  /** Where each slice starts, counted in keys from the turn's start; the last one ends at the turn's end. */
  #bounds = [0];
  /** Keys in each slice of a pass of the turn's `ops` keys, as planned. */
  #sliceKeys: number[] = [];
  /** Times the turn's `ops` keys are played, each after the sweep ({@link MIN_TURN_STEPS}). */
  #repeats = 1;
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

  /** Splits a turn of `ops` keys into `slices` slices ({@link planSlices}), played `repeats` times ({@link planRepeats}). */
  plan(ops: number, slices: number, repeats: number): void {
    this.#bounds = Array.from({ length: slices }, (_, i) => Math.floor((i * ops) / slices));
    this.#sliceKeys = this.#bounds.map((from, i) => (this.#bounds[i + 1] ?? ops) - from);
    this.#repeats = repeats;
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
   * Times one round's turn of `ops` keys (whole passes over `keys` keys), each of its repeats after `before` (the
   * sweep), slice by slice; a round below 0 is one of the {@link WARM_ROUNDS}, timed and kept the same way, apart
   * from the figures. Returns the turn's median slice in ns per operation.
   */
  turn(keys: number, ops: number, round: number, before: () => void): number {
    const count = this.#bounds.length;
    const slices = new Float64Array(count * this.#repeats);
    let total = 0;
    for (let repeat = 0; repeat < this.#repeats; repeat++) {
      before();
      for (let i = 0; i < count; i++) {
        const from = this.#bounds[i]!;
        const to = this.#bounds[i + 1] ?? ops;
        const start = performance.now();
        if (i === 0 && repeat === 0 && round >= 0) this.starts.push(performance.timeOrigin + start);
        this.run(keys, from, to);
        const ms = performance.now() - start;
        total += ms;
        slices[repeat * count + i] = ms;
      }
    }
    (round < 0 ? this.#untimedSlices : this.#slices).push(slices);
    (round < 0 ? this.#untimed : this.rounds).push((total * 1e6) / (ops * this.#repeats));
    return median(this.#rates(slices));
  }

  #rates(slices: Float64Array): number[] {
    const keys = this.#sliceKeys;
    return Array.from(slices, (ms, i) => (ms * 1e6) / keys[i % keys.length]!);
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
export class Sweep {
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
export function readLines(bytes: Int32Array, value: number): number {
  for (let i = 0; i < bytes.length; i += 16) value ^= bytes[i]!;
  return value;
}

/** One untimed pass of `body` over `keys` keys in calls of {@link WARM_CALL_KEYS} keys. */
export function warmPass(body: Body, keys: number): void {
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

/** Times a turn of `ops` keys is played so that it lasts `minTurnMs` by the median piece ({@link planSlices}): {@link MAX_REPEATS} at most. */
export function planRepeats(ops: number, msPerKey: readonly number[], minTurnMs: number): number {
  return Math.max(1, Math.min(MAX_REPEATS, Math.ceil(minTurnMs / (median(msPerKey) * ops))));
}

/**
 * Untimed passes of `timed`'s body over `keys` keys for at least {@link WARM_UP_MS} (V8 and Liftoff tier up), in
 * calls of {@link WARM_CALL_KEYS} keys, then its turn of `ops` keys planned in slices ({@link planSlices}) from
 * {@link PLAN_TURNS} whole turns in pieces, each after `before` (the sweep), on a timer stepping `resolution` ms.
 */
export function warmAndPlan(timed: Timed, keys: number, ops: number, resolution: number, before: () => void): void {
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
  timed.plan(
    ops,
    planSlices(ops, msPerKey, sliceFor(resolution), MIN_SLICE_STEPS * resolution),
    planRepeats(ops, msPerKey, MIN_TURN_STEPS * resolution),
  );
}

/** What the benchmark times in a worker: a {@link BenchSide} or the {@link MemoryProbe}, each call one of its rows. */
export interface Timer {
  warm(row: number): void;
  /** Plays round `round`'s turn of row `row`; its figure: the median slice in ns per operation (the re-read's: of its buffers). */
  turn(row: number, round: number): number;
  finish(): SideResult;
}
