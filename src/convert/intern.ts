/**
 * The converter's two interning tables, in typed arrays so a sample costs no allocation: locations
 * (a file and an offset in it, or an unresolved address) and stacks (a process and its locations).
 * Open addressing with linear probing, power-of-two sizes, grown at half load so a probe always ends.
 *
 * @module
 */

/** The most entries either table takes: ids go into `Int32Array`s. */
export const MAX_ENTRIES = 2 ** 30;

/** Thrown when a table would pass the bound it was given. */
export class InternLimitError extends RangeError {
  /** Always "InternLimitError". */
  override readonly name = "InternLimitError";
  /** Always "LIMIT". */
  readonly code = "LIMIT";
  /** @param what the table; @param limit its bound */
  constructor(
    readonly what: string,
    readonly limit: number,
  ) {
    super(`more than ${limit} distinct ${what}`);
  }
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h ^ (h >>> 15)) | 0;
}

/** Entries to start with: a 250k-sample -g recording never grows them (growth met in optimized code deoptimizes it). */
const INITIAL = 1 << 14;

function grown<T extends Uint32Array | Int32Array | Float64Array>(array: T, size: number): T {
  const next = new (array.constructor as new (n: number) => T)(size);
  next.set(array);
  return next;
}

/**
 * Locations keyed by three u32s: a tag (a file id, or an unresolved frame's tag), and the offset's or
 * address's high and low words. Location ids count from 0 in first-seen order.
 */
export class LocationTable {
  /** Per location, its tag. */
  tags = new Uint32Array(INITIAL);
  /** Per location, the high word of its offset or address. */
  his = new Uint32Array(INITIAL);
  /** Per location, the low word. */
  los = new Uint32Array(INITIAL);
  #slots = new Int32Array(4 * INITIAL).fill(-1);
  #size = 0;

  /** @param limit most locations held */
  constructor(readonly limit: number) {}

  /** How many locations are held. */
  get size(): number {
    return this.#size;
  }

  /** The id of `(tag, hi, lo)`, made now if new. */
  intern(tag: number, hi: number, lo: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = mix(mix(mix(0x2545f491, tag), hi), lo) & mask;
    for (;;) {
      const id = slots[i]!;
      if (id < 0) break;
      if (this.los[id] === lo && this.his[id] === hi && this.tags[id] === tag) return id;
      i = (i + 1) & mask;
    }
    const id = this.#size;
    if (id >= this.limit) throw new InternLimitError("locations", this.limit);
    if (id === this.tags.length) {
      this.tags = grown(this.tags, 2 * id);
      this.his = grown(this.his, 2 * id);
      this.los = grown(this.los, 2 * id);
    }
    this.tags[id] = tag;
    this.his[id] = hi;
    this.los[id] = lo;
    this.#size = id + 1;
    slots[i] = id;
    if (2 * this.#size > slots.length) this.#rehash(2 * slots.length);
    return id;
  }

  #rehash(size: number): void {
    const slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let id = 0; id < this.#size; id++) {
      let i = mix(mix(mix(0x2545f491, this.tags[id]!), this.his[id]!), this.los[id]!) & mask;
      while (slots[i]! >= 0) i = (i + 1) & mask;
      slots[i] = id;
    }
    this.#slots = slots;
  }
}

/**
 * Stacks keyed by a process index and a run of location ids, each with a sample count and a period
 * sum. Stack ids count from 0 in first-seen order; the runs sit end to end in one arena.
 */
export class StackTable {
  /** Per stack, its samples. */
  counts = new Float64Array(INITIAL);
  /** Per stack, the sum of its samples' periods. */
  periods = new Float64Array(INITIAL);
  /** Per stack, its process index. */
  procs = new Int32Array(INITIAL);
  /** Per stack, where its run starts in {@link arena}; the run ends where the next starts. */
  starts = new Int32Array(INITIAL + 1);
  /** The location ids of every stack, leaf first. */
  arena = new Int32Array(16 * INITIAL);
  #hashes = new Int32Array(INITIAL);
  #slots = new Int32Array(4 * INITIAL).fill(-1);
  #size = 0;

  /** @param limit most stacks held; @param arenaLimit most location ids held over all stacks */
  constructor(
    readonly limit: number,
    readonly arenaLimit: number,
  ) {}

  /** How many stacks are held. */
  get size(): number {
    return this.#size;
  }

  /** Adds one sample of `period` to the stack `locs[0, n)` of process `proc`; returns the stack's id. */
  add(proc: number, locs: Int32Array, n: number, period: number): number {
    let h = mix(0x68e31da4, proc);
    for (let k = 0; k < n; k++) h = mix(h, locs[k]!);
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = h & mask;
    for (;;) {
      const id = slots[i]!;
      if (id < 0) break;
      if (this.#hashes[id] === h && this.#same(id, proc, locs, n)) {
        this.count(id, period);
        return id;
      }
      i = (i + 1) & mask;
    }
    const id = this.#push(h, proc, locs, n, period);
    slots[i] = id;
    if (2 * this.#size > slots.length) this.#rehash(2 * slots.length);
    return id;
  }

  /** Adds one sample of `period` to stack `id`. */
  count(id: number, period: number): void {
    this.counts[id] = this.counts[id]! + 1;
    this.periods[id] = this.periods[id]! + period;
  }

  #same(id: number, proc: number, locs: Int32Array, n: number): boolean {
    const start = this.starts[id]!;
    if (this.procs[id] !== proc || this.starts[id + 1]! - start !== n) return false;
    const arena = this.arena;
    for (let k = 0; k < n; k++) if (arena[start + k] !== locs[k]) return false;
    return true;
  }

  #push(h: number, proc: number, locs: Int32Array, n: number, period: number): number {
    const id = this.#size;
    if (id >= this.limit) throw new InternLimitError("stacks", this.limit);
    const start = this.starts[id]!;
    if (start + n > this.arenaLimit) throw new InternLimitError("stack frames over all stacks", this.arenaLimit);
    if (id + 1 === this.counts.length) {
      const size = 2 * this.counts.length;
      this.counts = grown(this.counts, size);
      this.periods = grown(this.periods, size);
      this.procs = grown(this.procs, size);
      this.#hashes = grown(this.#hashes, size);
      this.starts = grown(this.starts, size + 1);
    }
    if (start + n > this.arena.length) this.arena = grown(this.arena, Math.max(2 * this.arena.length, start + n));
    const arena = this.arena;
    for (let k = 0; k < n; k++) arena[start + k] = locs[k]!;
    this.starts[id + 1] = start + n;
    this.counts[id] = 1;
    this.periods[id] = period;
    this.procs[id] = proc;
    this.#hashes[id] = h;
    this.#size = id + 1;
    return id;
  }

  #rehash(size: number): void {
    const slots = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let id = 0; id < this.#size; id++) {
      let i = this.#hashes[id]! & mask;
      while (slots[i]! >= 0) i = (i + 1) & mask;
      slots[i] = id;
    }
    this.#slots = slots;
  }
}
