/**
 * Stacks already resolved, keyed by a sample's words as recorded (pid, cpumode, IP and call chain): a
 * sample with the same words, while no event has changed a space (the same generation) and no older than
 * any mapping or space its frames resolved through, resolves to the same stack, so it skips resolution.
 * Real profiles repeat their stacks; the cache is bounded and starts over when full. A sample is first
 * compared with the entry last found for its IP, nr and three chain words: one pass, not a hash and a compare.
 *
 * Key layout, in u32 words (a {@link SampleArena} record's, without its time and period):
 * ```
 * +-----+------+-------+-------+----+-------------------+
 * | pid | misc | ip lo | ip hi | nr | nr x (lo, hi)     |
 * +-----+------+-------+-------+----+-------------------+
 * ```
 *
 * @module
 */
import { HEADER_WORDS, W } from "./sample-arena.js";

/** Entries to start with (growth met in optimized code deoptimizes it). */
const INITIAL = 1 << 14;

/** Key words before the call chain's: pid and misc, then IP and nr. */
const KEY_HEAD = 2;

/** Guess slots, as bits ({@link guessOf}). */
const GUESS_BITS = 12;

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** A sample's guess slot: its IP, nr and the third, middle and last chain entries' low words (deep chains cut at one nr differ inside). */
function guessOf(ints: Int32Array, at: number, nr: number): number {
  const chain = at + HEADER_WORDS;
  let h = Math.imul(ints[at + W.IP_LO]! ^ nr, 0x9e3779b1);
  if (nr > 0) {
    const third = ints[chain + 2 * Math.min(2, nr - 1)]!;
    const middle = ints[chain + 2 * (nr >> 1)]!;
    h = Math.imul(h ^ third ^ Math.imul(middle, 0x85ebca6b), 0x9e3779b1);
    h = Math.imul(h ^ ints[chain + 2 * (nr - 1)]!, 0xc2b2ae35);
  }
  return h >>> (32 - GUESS_BITS);
}

/** `a < b` for times as (high, low) words. */
function before(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** See the module comment. */
export class StackCache {
  readonly #maxEntries: number;
  readonly #maxWords: number;
  /** Open addressing at most half full, so a probe always ends at an empty (-1) slot. */
  #slots = new Int32Array(2 * INITIAL).fill(-1);
  /** Keys as int32s, as the words are read here: a u32 past 2^31 is a heap number until the optimising compiler runs. */
  #keys = new Int32Array(16 * INITIAL);
  #keyLength = 0;
  #starts = new Int32Array(INITIAL + 1);
  #hashes = new Int32Array(INITIAL);
  #stacks = new Int32Array(INITIAL);
  #frames = new Int32Array(INITIAL);
  #failed = new Int32Array(INITIAL);
  #codes = new Int32Array(INITIAL);
  #generations = new Int32Array(INITIAL);
  #sinceHi = new Uint32Array(INITIAL);
  #sinceLo = new Uint32Array(INITIAL);
  #size = 0;
  /** The entry last found or added in each {@link guessOf} slot (tried below the size only: a clear leaves them). */
  readonly #guesses = new Int32Array(1 << GUESS_BITS).fill(-1);
  /** What the last {@link find} left for {@link remember}: the entry whose key matched (or -1), the key's hash, slot and guess. */
  readonly #last = new Int32Array(4);

  /** @param maxEntries most stacks held; @param maxWords most key words held */
  constructor(maxEntries = 1 << 16, maxWords = 1 << 22) {
    this.#maxEntries = maxEntries;
    this.#maxWords = maxWords;
  }

  /** Stacks held. */
  get size(): number {
    return this.#size;
  }

  /**
   * The stack of the sample at `at` in `ints` (an arena's words) if known for `generation` at its time, else -1;
   * `frames` gets its frames, failed frames and failure codes.
   */
  find(ints: Int32Array, at: number, generation: number, timeHi: number, timeLo: number, frames: Int32Array): number {
    const nr = ints[at + W.NR]!;
    const end = at + HEADER_WORDS + 2 * nr;
    const last = this.#last;
    const g = guessOf(ints, at, nr);
    let e = this.#guesses[g]!;
    if (e < 0 || e >= this.#size || !this.#same(e, ints, at, end)) {
      let h = mix(mix(0x2545f491, ints[at + W.PID]!), ints[at + W.MISC]!);
      // mix() by hand: a call per word costs more than the word until the optimising compiler inlines it.
      for (let i = at + W.IP_LO; i < end; i++) {
        h = Math.imul(h ^ ints[i]!, 0x9e3779b1);
        h ^= h >>> 15;
      }
      const slots = this.#slots;
      const mask = slots.length - 1;
      let i = h & mask;
      for (e = slots[i]!; e >= 0; e = slots[i]!) {
        if (this.#hashes[e] === h && this.#same(e, ints, at, end)) break;
        i = (i + 1) & mask;
      }
      last[1] = h;
      last[2] = i;
      last[3] = g;
      if (e >= 0) this.#guesses[g] = e;
    }
    last[0] = e;
    if (e < 0 || this.#generations[e] !== generation || before(timeHi, timeLo, this.#sinceHi[e]!, this.#sinceLo[e]!))
      return -1;
    frames[0] = this.#frames[e]!;
    frames[1] = this.#failed[e]!;
    frames[2] = this.#codes[e]!;
    return this.#stacks[e]!;
  }

  #same(e: number, w: Int32Array, at: number, end: number): boolean {
    const keys = this.#keys;
    let k = this.#starts[e]!;
    if (this.#starts[e + 1]! - k !== KEY_HEAD + end - (at + W.IP_LO)) return false;
    if (keys[k] !== w[at + W.PID] || keys[k + 1] !== w[at + W.MISC]) return false;
    k += KEY_HEAD;
    if (keys[k] !== w[at + W.IP_LO] || keys[k + 1] !== w[at + W.IP_HI]) return false;
    // nr is equal as the lengths are; the chain a frame a step.
    k += HEADER_WORDS - W.IP_LO;
    for (let i = at + HEADER_WORDS; i < end; i += 2, k += 2)
      if (keys[k] !== w[i] || keys[k + 1] !== w[i + 1]) return false;
    return true;
  }

  /**
   * Holds `stack` (`frames` frames, `failed` of them failed for `codes`) for the sample the last {@link find}
   * was given, valid in `generation` for samples no older than `(sinceHi, sinceLo)`.
   */
  remember(
    ints: Int32Array,
    at: number,
    stack: number,
    frames: number,
    failed: number,
    codes: number,
    generation: number,
    sinceHi: number,
    sinceLo: number,
  ): void {
    let e = this.#last[0]!;
    if (e < 0) {
      const length = KEY_HEAD + HEADER_WORDS - W.IP_LO + 2 * ints[at + W.NR]!;
      if (this.#size === this.#maxEntries || this.#keyLength + length > this.#maxWords) this.#clear();
      else if (this.#size === this.#hashes.length) this.#grow();
      e = this.#size++;
      const start = this.#keyLength;
      if (start + length > this.#keys.length) {
        const next = new Int32Array(Math.min(this.#maxWords, Math.max(2 * this.#keys.length, start + length)));
        next.set(this.#keys.subarray(0, start));
        this.#keys = next;
      }
      const keys = this.#keys;
      keys[start] = ints[at + W.PID]!;
      keys[start + 1] = ints[at + W.MISC]!;
      // Not set(subarray()): a view per stack.
      for (let i = 0, from = at + W.IP_LO; i < length - KEY_HEAD; i++) keys[start + KEY_HEAD + i] = ints[from + i]!;
      this.#keyLength = start + length;
      this.#starts[e + 1] = this.#keyLength;
      this.#hashes[e] = this.#last[1]!;
      this.#slots[this.#last[2]!] = e;
      this.#guesses[this.#last[3]!] = e;
    }
    this.#stacks[e] = stack;
    this.#frames[e] = frames;
    this.#failed[e] = failed;
    this.#codes[e] = codes;
    this.#generations[e] = generation;
    this.#sinceHi[e] = sinceHi;
    this.#sinceLo[e] = sinceLo;
  }

  #clear(): void {
    this.#slots.fill(-1);
    this.#size = 0;
    this.#keyLength = 0;
    this.#last[2] = this.#last[1]! & (this.#slots.length - 1);
  }

  /** Doubles the entries and the slots; the last key's slot moves with them. */
  #grow(): void {
    const size = 2 * this.#hashes.length;
    const grown = <T extends Int32Array | Uint32Array>(a: T, length = size): T => {
      const next = new (a.constructor as new (n: number) => T)(length);
      next.set(a);
      return next;
    };
    this.#starts = grown(this.#starts, size + 1);
    this.#hashes = grown(this.#hashes);
    this.#stacks = grown(this.#stacks);
    this.#frames = grown(this.#frames);
    this.#failed = grown(this.#failed);
    this.#codes = grown(this.#codes);
    this.#generations = grown(this.#generations);
    this.#sinceHi = grown(this.#sinceHi);
    this.#sinceLo = grown(this.#sinceLo);
    const slots = new Int32Array(2 * size).fill(-1);
    const mask = slots.length - 1;
    const place = (h: number) => {
      let i = h & mask;
      while (slots[i]! >= 0) i = (i + 1) & mask;
      return i;
    };
    for (let e = 0; e < this.#size; e++) slots[place(this.#hashes[e]!)] = e;
    this.#slots = slots;
    this.#last[2] = place(this.#last[1]!);
  }
}
