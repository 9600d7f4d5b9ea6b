/**
 * Samples waiting for their window, as words in one growing array instead of an object each: a
 * sample is copied out of its record (the reader's buffers are reused) into a fixed header and its
 * call chain, in native word order. The usual layouts (native byte order, no `READ` values) are read
 * straight from the record's bytes; any other goes through the reader's parser.
 *
 * Record layout, in u32 words:
 * ```
 *  0       1       2     3      4         5         6      7      8    9 ...
 * +-------+-------+-----+------+---------+---------+------+------+----+-------------------+
 * |time lo|time hi| pid | misc | period lo period hi| ip lo| ip hi| nr | nr x (lo, hi)     |
 * +-------+-------+-----+------+---------+---------+------+------+----+-------------------+
 * misc: the record's cpumode (low 3 bits) | HAS_TIME | HAS_PID | HAS_IP
 * ```
 *
 * @module
 */
import type { AttrSet, ParsePlan } from "../perf/attr.js";
import { RecordType, Sample } from "../perf/constants.js";
import type { PerfSession } from "../perf/reader.js";
import type { RawRecord, SampleRecord } from "../perf/records.js";
import { HI, LO } from "../spaces/layout.js";

/** Words before a sample's call chain. */
export const HEADER_WORDS = 9;
/** Word offsets in a sample record. */
export const W = {
  TIME_LO: 0,
  TIME_HI: 1,
  PID: 2,
  MISC: 3,
  PERIOD_LO: 4,
  PERIOD_HI: 5,
  IP_LO: 6,
  IP_HI: 7,
  NR: 8,
} as const;
/** Bits of the misc word beyond the cpumode. */
export const HAS_TIME = 1 << 8;
/** The sample has a process ID. */
export const HAS_PID = 1 << 9;
/** The sample has an IP. */
export const HAS_IP = 1 << 10;

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const FIXED_BEFORE_TIME = Sample.IDENTIFIER | Sample.IP | Sample.TID;
const FIXED_BEFORE_PERIOD =
  Sample.IDENTIFIER | Sample.IP | Sample.TID | Sample.TIME | Sample.ADDR | Sample.ID | Sample.STREAM_ID | Sample.CPU;

function words(sampleType: number, mask: number): number {
  let n = 0;
  for (let v = sampleType & mask; v !== 0; v &= v - 1) n++;
  return n;
}

// keep()'s loops, apart: compiled mid-loop (OSR), code after a loop deoptimised them at each call.

/** Words of the records at `starts[0, count)` in `w`. */
function liveWords(w: Uint32Array, starts: Int32Array, count: number): number {
  let live = 0;
  for (let i = 0; i < count; i++) live += HEADER_WORDS + 2 * w[starts[i]! + W.NR]!;
  return live;
}

/** Moves the records at `starts[0, count)` to the front; returns their words. */
function compact(w: Uint32Array, starts: Int32Array, count: number): number {
  let to = 0;
  for (let i = 0; i < count; i++) {
    const from = starts[i]!;
    const size = HEADER_WORDS + 2 * w[from + W.NR]!;
    if (from !== to) w.copyWithin(to, from, from + size);
    starts[i] = to;
    to += size;
  }
  return to;
}

/** Where one attribute's samples keep the fields read here (byte offsets in the body; -1: absent). */
interface Fields {
  ip: number;
  tid: number;
  time: number;
  period: number;
  chain: number;
  /** The sample's bytes before its call chain, or before its end without one. */
  fixed: number;
  /** A default period for samples without one: the attribute's fixed period, or 1 with `-F`. */
  period0: number;
}

function fieldsOf(plan: ParsePlan): Fields | undefined {
  const t = plan.sampleType;
  if (t & Sample.READ) return undefined;
  const fixed = 8 * words(t, FIXED_BEFORE_PERIOD | Sample.PERIOD);
  return {
    ip: t & Sample.IP ? 8 * words(t, Sample.IDENTIFIER) : -1,
    tid: t & Sample.TID ? 8 * words(t, Sample.IDENTIFIER | Sample.IP) : -1,
    time: t & Sample.TIME ? 8 * words(t, FIXED_BEFORE_TIME) : -1,
    period: t & Sample.PERIOD ? 8 * words(t, FIXED_BEFORE_PERIOD) : -1,
    chain: t & Sample.CALLCHAIN ? fixed : -1,
    fixed,
    period0: plan.attr.freq ? 1 : Number(plan.attr.samplePeriod),
  };
}

/** Words to start with: two rounds of a 2-CPU -g recording at 20 kHz take 230,000 (growth met in optimized code deoptimizes it). */
const INITIAL_WORDS = 1 << 19;

/** A growing run of sample records; see the module comment. */
export class SampleArena {
  /** The words; records start at the offsets {@link add} returned. */
  words = new Uint32Array(INITIAL_WORDS);
  /** The same words as int32s, as the stack cache reads them. */
  ints = new Int32Array(this.words.buffer);
  /** Words in use. */
  length = 0;
  readonly #fields = new Map<ParsePlan, Fields | undefined>();
  /** The last sample's plan and fields: samples of one attribute follow each other. */
  #lastPlan: ParsePlan | undefined;
  #lastFields: Fields | undefined;
  #buffer: ArrayBufferLike | undefined;
  #early = 64;
  #view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** The input buffer as words, for records that start on a word (perf aligns them to 8 bytes). */
  #u32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

  /** Empties the arena. */
  clear(): void {
    this.length = 0;
  }

  /**
   * Keeps the records at `starts[0, count)` (ascending) and drops the rest: once the dropped words outnumber
   * the kept ones, the kept records move to the front and `starts` is updated in place.
   */
  keep(starts: Int32Array, count: number): void {
    if (count === 0) {
      this.length = 0;
      return;
    }
    if (2 * liveWords(this.words, starts, count) <= this.length) this.length = compact(this.words, starts, count);
  }

  #reserve(n: number): Uint32Array {
    if (this.length + n > this.words.length) {
      const next = new Uint32Array(Math.max(2 * this.words.length, this.length + n));
      next.set(this.words.subarray(0, this.length));
      this.words = next;
      this.ints = new Int32Array(next.buffer);
    }
    return this.words;
  }

  /** Copies the SAMPLE record `raw` of `session` in; returns where it starts. Throws the reader's errors for a malformed one. */
  add(raw: RawRecord, session: PerfSession): number {
    const body = raw.body;
    return this.addSample(body, body.byteOffset, body.length, raw.misc, raw.offset, raw.compressed, session);
  }

  /** {@link SampleArena.add} for a sample as a reader's sink takes it (body: `length` bytes of `bytes.buffer` from `b`). */
  addSample(
    bytes: Uint8Array,
    b: number,
    length: number,
    recordMisc: number,
    offset: number,
    compressed: boolean,
    session: PerfSession,
  ): number {
    const buffer = bytes.buffer;
    // And early: run only before V8 kept feedback, it deoptimised.
    if (buffer !== this.#buffer || this.#early > 0) {
      this.#early--;
      this.#buffer = buffer;
      this.#view = new DataView(buffer);
      this.#u32 = new Uint32Array(buffer, 0, buffer.byteLength >> 2);
    }
    const view = this.#view;
    const attrSet: AttrSet = session.attrSet;
    const plan = attrSet.planFor(RecordType.SAMPLE, view, b, length, session.littleEndian, offset);
    let fields = this.#lastFields;
    if (plan !== this.#lastPlan) {
      if (!this.#fields.has(plan)) this.#fields.set(plan, session.littleEndian === LITTLE ? fieldsOf(plan) : undefined);
      fields = this.#fields.get(plan);
      this.#lastPlan = plan;
      this.#lastFields = fields;
    }
    let nr = 0;
    if (fields !== undefined && length >= fields.fixed) {
      const le = LITTLE;
      if (fields.chain >= 0 && length >= fields.chain + 8) {
        const high = view.getUint32(b + fields.chain + 4 * HI, le);
        const n = view.getUint32(b + fields.chain + 4 * LO, le);
        nr = high === 0 && n <= (length - fields.chain - 8) >> 3 ? n : -1;
      } else if (fields.chain >= 0) nr = -1;
      if (nr >= 0) {
        const at = this.length;
        const w = this.#reserve(HEADER_WORDS + 2 * nr);
        let misc = recordMisc & 7;
        if (fields.time >= 0) {
          w[at + W.TIME_LO] = view.getUint32(b + fields.time + 4 * LO, le);
          w[at + W.TIME_HI] = view.getUint32(b + fields.time + 4 * HI, le);
          misc |= HAS_TIME;
        }
        if (fields.tid >= 0) {
          w[at + W.PID] = view.getUint32(b + fields.tid, le);
          misc |= HAS_PID;
        }
        if (fields.ip >= 0) {
          w[at + W.IP_LO] = view.getUint32(b + fields.ip + 4 * LO, le);
          w[at + W.IP_HI] = view.getUint32(b + fields.ip + 4 * HI, le);
          misc |= HAS_IP;
        }
        if (fields.period >= 0) {
          w[at + W.PERIOD_LO] = view.getUint32(b + fields.period + 4 * LO, le);
          w[at + W.PERIOD_HI] = view.getUint32(b + fields.period + 4 * HI, le);
        } else {
          w[at + W.PERIOD_LO] = fields.period0 >>> 0;
          w[at + W.PERIOD_HI] = Math.floor(fields.period0 / 4294967296);
        }
        w[at + W.MISC] = misc;
        w[at + W.NR] = nr;
        const from = b + fields.chain + 8;
        if ((from & 3) === 0) {
          // Native order: copied natively (a loop is interpreted for most of a short recording).
          const src = from >> 2;
          w.set(this.#u32.subarray(src, src + 2 * nr), at + HEADER_WORDS);
        } else {
          for (let i = 0; i < nr; i++) {
            w[at + HEADER_WORDS + 2 * i + LO] = view.getUint32(from + 8 * i + 4 * LO, le);
            w[at + HEADER_WORDS + 2 * i + HI] = view.getUint32(from + 8 * i + 4 * HI, le);
          }
        }
        this.length = at + HEADER_WORDS + 2 * nr;
        return at;
      }
    }
    const raw: RawRecord = {
      type: RecordType.SAMPLE,
      misc: recordMisc,
      size: length + 8,
      offset,
      compressed,
      body: new Uint8Array(buffer, b, length),
    };
    return this.addParsed(session.parse(raw) as SampleRecord, plan.attr.freq ? 1 : Number(plan.attr.samplePeriod));
  }

  /** Copies a parsed sample in (`period0`: its period when it carries none); returns where it starts. */
  addParsed(s: SampleRecord, period0: number): number {
    const nr = s.callchain?.length ?? 0;
    const at = this.length;
    const w = this.#reserve(HEADER_WORDS + 2 * nr);
    let misc = s.cpumode;
    const put = (i: number, v: bigint) => {
      w[at + i] = Number(v & 0xffffffffn);
      w[at + i + 1] = Number(v >> 32n);
    };
    if (s.time !== undefined) {
      put(W.TIME_LO, s.time);
      misc |= HAS_TIME;
    }
    if (s.pid !== undefined) {
      w[at + W.PID] = s.pid >>> 0;
      misc |= HAS_PID;
    }
    if (s.ip !== undefined) {
      put(W.IP_LO, s.ip);
      misc |= HAS_IP;
    }
    put(W.PERIOD_LO, s.period ?? BigInt(period0));
    w[at + W.MISC] = misc;
    w[at + W.NR] = nr;
    for (let i = 0; i < nr; i++) {
      const v = s.callchain![i]!;
      w[at + HEADER_WORDS + 2 * i + LO] = Number(v & 0xffffffffn);
      w[at + HEADER_WORDS + 2 * i + HI] = Number(v >> 32n);
    }
    this.length = at + HEADER_WORDS + 2 * nr;
    return at;
  }
}
