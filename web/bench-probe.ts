// The benchmark's memory probe: main memory's latency and throughput, and how much of the last-level cache is left, timed as a row is.
import { median } from "./bench-stats.js";
import { readLines, type SideResult, Sweep, Timed, type Timer, WARM_UP_MS, warmAndPlan } from "./bench-timing.js";

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
    const loads = PROBE_LOADS[row as 0 | 1];
    return this.#timed[row]!.turn(loads, loads, round, () => this.#sweep.read());
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
