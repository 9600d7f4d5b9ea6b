/**
 * perf's rounds (`ordered_events`, as `src/perf/order.ts` keeps them) for a converter, where only the
 * records that change address spaces need sorting: those are queued by time; samples wait in a
 * {@link SampleArena}, unsorted. At each flush bound the events due are delivered in time order, and
 * before each one the samples due that come before it (in time, then arrival), so every sample sees the
 * spaces as perf's order makes them at its time; samples between two events go together, in any order
 * (aggregation does not care). Bounds, half flushes and counters are perf's.
 *
 * @module
 */
import { RecordType, USER_TYPE_START } from "../perf/constants.js";
import type { OrderOptions, OrderStats } from "../perf/order.js";
import type { PerfSession } from "../perf/reader.js";
import type { PerfRecord, RawRecord } from "../perf/records.js";
import type { RecordSink } from "../perf/splitter.js";
import { HAS_TIME, SampleArena, W } from "./sample-arena.js";

/** Where the windows deliver. */
export interface WindowSink {
  /** A kernel record other than a sample, in perf's delivery order. */
  event(record: PerfRecord): void;
  /** Samples whose events have all been delivered: `starts[0, count)` are their records in `arena`. */
  samples(arena: SampleArena, starts: Int32Array, count: number): void;
  /** One of perf's own records (a build-ID table entry, ...), as it is read: perf handles these at once. */
  user?(raw: RawRecord): void;
}

/** 2^64 - 1, a time perf delivers at once. */
export const U64_MAX = (1n << 64n) - 1n;
/** The queue's default bounds: records queued, and their bytes. */
export const MAX_QUEUED = 250_000;
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
const TWO_32 = 4294967296;
const ALL = 0xffffffff;
/** Samples to start with (growth met in optimized code deoptimizes it). */
const INITIAL_SAMPLES = 1 << 16;

/** Indices of the round state's times: the next flush bound (0 until the first round ends); the latest time queued since the queue was last empty (perf's max_timestamp); the bound of the last flush that delivered something; the time of the record queued last. */
const T = {
  NEXT_HI: 0,
  NEXT_LO: 1,
  MAX_HI: 2,
  MAX_LO: 3,
  FLUSHED_HI: 4,
  FLUSHED_LO: 5,
  LAST_HI: 6,
  LAST_LO: 7,
} as const;

interface Queued {
  time: bigint;
  seq: number;
  record: PerfRecord;
  /** The raw record's size, counted in the queue's bytes. */
  bytes: number;
}

/** The u64 of (high, low) words. */
export function bigOf(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Takes from `events`, in time order, those at or before (`limitHi`:`limitLo`); a high word of 2^32 or more takes all. */
export function takeDue<E extends { time: bigint }>(events: E[], limitHi: number, limitLo: number): E[] {
  const limit = limitHi >= TWO_32 ? U64_MAX : bigOf(limitHi, limitLo);
  let n = 0;
  while (n < events.length && events[n]!.time <= limit) n++;
  return events.splice(0, n);
}

/** `a < b` for times as (high, low) words. */
export function before(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** See the module comment. Times are kept as two u32 words, so samples cost no bigint. */
export class RoundWindows {
  /** Counters, as perf's ordering counts them (none when the records lack `sample_id_all` and are taken in input order). */
  readonly stats: OrderStats = { unordered: 0, halfFlushes: 0, maxQueued: 0 };
  readonly #sink: WindowSink;
  readonly #arena: SampleArena;
  /** Where the `#queued` samples start in the arena; compacted in place (a field reassigned per flush deoptimized its readers). */
  #starts = new Int32Array(INITIAL_SAMPLES);
  /** Per queued sample, its arrival number (shared with the events: ties in time keep arrival order). */
  #seqs = new Float64Array(INITIAL_SAMPLES);
  /** The samples a flush delivers, in the arena. */
  #due = new Int32Array(INITIAL_SAMPLES);
  #queued = 0;
  readonly #events: Queued[] = [];
  #seq = 0;
  #eventBytes = 0;
  /** The times below as (high, low) words, in a typed array: u32 words past 2^31 in fields would change their objects' shapes and cost deoptimisations (a Float64Array's read back as heap numbers). */
  readonly #t = new Uint32Array(8);
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #now = new Int32Array(1);
  /** A sample in the arena that is taken but not yet queued, while its queueing may flush half the queue (-1: none). */
  #pending = -1;
  #inputOrder: boolean | undefined;

  /**
   * @param sink receives events and samples
   * @param options queue bounds (perf's half flush past them)
   */
  constructor(sink: WindowSink, options: OrderOptions = {}) {
    this.#sink = sink;
    this.#arena = new SampleArena();
    this.#maxEvents = options.maxQueuedEvents ?? MAX_QUEUED;
    this.#maxBytes = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  }

  /** Records queued now (events and samples). */
  get size(): number {
    return this.#events.length + this.#queued;
  }

  /** Takes the next raw record of `session` in input order. */
  push(raw: RawRecord, session: PerfSession): void {
    if (raw.type >= USER_TYPE_START) {
      this.#sink.user?.(raw);
      if (raw.type === RecordType.FINISHED_ROUND) this.flushRound();
      return;
    }
    // perf takes records in input order when they lack sample_id_all: it cannot order them.
    this.#inputOrder ??= session.attrs[0]?.sampleIdAll === false;
    if (raw.type === RecordType.SAMPLE) {
      this.#took(this.#arena.add(raw, session));
      return;
    }
    const record = session.parse(raw);
    const time = record.time;
    if (this.#inputOrder || time === undefined || time === 0n || time === U64_MAX) {
      this.#sink.event(record);
      return;
    }
    this.#queue(Number(time >> 32n), Number(time & 0xffffffffn), raw.size);
    const events = this.#events;
    let i = events.length;
    while (i > 0 && events[i - 1]!.time > time) i--;
    events.splice(i, 0, { time, seq: this.#seq++, record, bytes: raw.size });
  }

  /** @internal A reader's sink for `session`'s records (`PerfDataStream.scan`). */
  sinkFor(session: PerfSession): RecordSink {
    return {
      record: (raw) => this.push(raw, session),
      sample: (bytes, bodyAt, bodyLength, misc, offset, compressed) => {
        this.#inputOrder ??= session.attrs[0]?.sampleIdAll === false;
        this.#took(this.#arena.addSample(bytes, bodyAt, bodyLength, misc, offset, compressed, session));
      },
    };
  }

  /** Queues the sample at `at`, or delivers it now when it cannot be ordered. */
  #took(at: number): void {
    const arena = this.#arena;
    const w = arena.words;
    const hi = w[at + W.TIME_HI]!;
    const lo = w[at + W.TIME_LO]!;
    if (this.#inputOrder || !(w[at + W.MISC]! & HAS_TIME) || (hi === 0 && lo === 0) || (hi === ALL && lo === ALL)) {
      this.#now[0] = at;
      this.#sink.samples(arena, this.#now, 1);
      if (this.#queued === 0) arena.clear();
      return;
    }
    if (this.#queued === this.#starts.length) this.#grow();
    this.#pending = at;
    this.#queue(hi, lo, 0);
    this.#starts[this.#queued] = this.#pending;
    this.#pending = -1;
    this.#seqs[this.#queued++] = this.#seq++;
  }

  #grow(): void {
    const size = 2 * this.#starts.length;
    const starts = new Int32Array(size);
    starts.set(this.#starts);
    this.#starts = starts;
    const seqs = new Float64Array(size);
    seqs.set(this.#seqs);
    this.#seqs = seqs;
    this.#due = new Int32Array(size);
  }

  /** Delivers everything (perf's final flush, at the end of the input). */
  finish(): void {
    this.#flush(TWO_32, 0);
  }

  /** At FINISHED_ROUND: delivers up to the previous round's bound, and takes this round's maximum as the next bound. */
  flushRound(): void {
    if (this.size === 0) return;
    this.#flush(this.#t[T.NEXT_HI]!, this.#t[T.NEXT_LO]!);
    this.#t[T.NEXT_HI] = this.#t[T.MAX_HI]!;
    this.#t[T.NEXT_LO] = this.#t[T.MAX_LO]!;
  }

  #queue(hi: number, lo: number, bytes: number): void {
    if (before(hi, lo, this.#t[T.FLUSHED_HI]!, this.#t[T.FLUSHED_LO]!)) this.stats.unordered++;
    if (this.size >= this.#maxEvents || this.#eventBytes + 4 * this.#arena.length + bytes > this.#maxBytes)
      this.#flushHalf();
    if (this.size === 0 || !before(hi, lo, this.#t[T.MAX_HI]!, this.#t[T.MAX_LO]!)) {
      this.#t[T.MAX_HI] = hi;
      this.#t[T.MAX_LO] = lo;
    }
    this.#t[T.LAST_HI] = hi;
    this.#t[T.LAST_LO] = lo;
    this.#eventBytes += bytes;
    if (this.size + 1 > this.stats.maxQueued) this.stats.maxQueued = this.size + 1;
  }

  /** perf's half flush: delivers the older half of the queued span, from the earliest queued time to the last one queued. */
  #flushHalf(): void {
    if (this.size === 0) return;
    let first = this.#events[0]?.time;
    const w = this.#arena.words;
    for (let k = 0; k < this.#queued; k++) {
      const at = this.#starts[k]!;
      const t = bigOf(w[at + W.TIME_HI]!, w[at + W.TIME_LO]!);
      if (first === undefined || t < first) first = t;
    }
    const bound = first! + (bigOf(this.#t[T.LAST_HI]!, this.#t[T.LAST_LO]!) - first!) / 2n;
    this.stats.halfFlushes++;
    this.#t[T.NEXT_HI] = Number(bound >> 32n);
    this.#t[T.NEXT_LO] = Number(bound & 0xffffffffn);
    this.#flush(this.#t[T.NEXT_HI]!, this.#t[T.NEXT_LO]!);
  }

  /**
   * Delivers what is due up to the bound in perf's order: the events in time order, and before each
   * event the samples that come before it (in time, then arrival); a bound of 0 delivers nothing.
   * Each event's samples go by the pass every flush makes, so one loop runs hot: a loop of its own for
   * the few flushes with events due ran cold, deoptimised and recompiled (3 compiles a run).
   */
  #flush(limitHi: number, limitLo: number): void {
    if (limitHi === 0 && limitLo === 0) return;
    const dueEvents = takeDue(this.#events, limitHi, limitLo);
    let ready = 0;
    for (const q of dueEvents) {
      ready += this.#deliverSamples(Number(q.time >> 32n), Number(q.time & 0xffffffffn), q.seq);
      this.#eventBytes -= q.bytes;
      this.#sink.event(q.record);
    }
    // 2^32 and Infinity would be heap numbers in partition().
    ready += limitHi >= TWO_32 ? this.#deliverAll() : this.#deliverSamples(limitHi, limitLo, this.#seq);
    // The delivered samples leave the arena once a flush, not once an event.
    const arena = this.#arena;
    const kept = this.#queued;
    if (this.#pending < 0) arena.keep(this.#starts, kept);
    else {
      // The sample whose queueing forced this (half) flush is in the arena, after the kept ones: it stays, maybe moved.
      this.#starts[kept] = this.#pending;
      arena.keep(this.#starts, kept + 1);
      this.#pending = this.#starts[kept]!;
    }
    if (dueEvents.length > 0 || ready > 0) {
      this.#t[T.FLUSHED_HI] = Math.min(limitHi, ALL);
      this.#t[T.FLUSHED_LO] = limitHi >= TWO_32 ? ALL : limitLo;
    }
  }

  /** Delivers every queued sample; returns how many. */
  #deliverAll(): number {
    const n = this.#queued;
    this.#queued = 0;
    if (n > 0) this.#sink.samples(this.#arena, this.#starts, n);
    return n;
  }

  /** Keeps the samples after (`limitHi`:`limitLo`, `limitSeq`) in time, then arrival, and delivers the rest in one call; returns how many it delivered. */
  #deliverSamples(limitHi: number, limitLo: number, limitSeq: number): number {
    const arena = this.#arena;
    let n = 0;
    // In runs: compiled once, not also mid-loop.
    for (let k = 0; k < this.#queued; k += 256)
      n = partition(
        arena.words,
        this.#starts,
        this.#seqs,
        this.#due,
        k,
        Math.min(this.#queued, k + 256),
        n,
        limitHi,
        limitLo,
        limitSeq,
      );
    this.#queued -= n;
    if (n > 0) this.#sink.samples(arena, this.#due, n);
    return n;
  }
}

/** {@link RoundWindows}' loop over `starts[from, to)`, `n` due before: the due to `due`, the rest kept in front; returns how many are due. */
function partition(
  w: Uint32Array,
  starts: Int32Array,
  seqs: Float64Array,
  due: Int32Array,
  from: number,
  to: number,
  n: number,
  limitHi: number,
  limitLo: number,
  limitSeq: number,
): number {
  let kept = from - n;
  for (let k = from; k < to; k++) {
    const at = starts[k]!;
    const hi = w[at + W.TIME_HI]!;
    const lo = w[at + W.TIME_LO]!;
    const seq = seqs[k]!;
    // Written whether kept or not: every access runs before the loop is optimised.
    starts[kept] = at;
    seqs[kept] = seq;
    due[n] = at;
    // Each compare and count runs every time (rare ones went untyped and deoptimised); the sign is exact.
    const ahead = (hi - limitHi) * TWO_32 + (lo - limitLo);
    const tie = ahead === 0;
    const later = seq > limitSeq;
    const keep = ahead > 0 || (tie && later) ? 1 : 0;
    kept += keep;
    n += 1 - keep;
  }
  return n;
}
