// perf_event_attr as perf.data stores it, and the layout plan each attribute gives its records
// (samply's RecordParseInfo::from_attr; perf's evsel__calc_id_pos and evlist__event2id).

import { ATTR_SIZE_VER0, AttrFlag, BRANCH_HW_INDEX, ReadFormat, SAMPLE_BIT_NAMES, Sample } from "./constants.js";
import { PerfDataError } from "./errors.js";

/** One event's `perf_event_attr` (the fields this reader uses) and the sample IDs perf recorded for it. */
export interface PerfEventAttr {
  /** `type`: 0 hardware, 1 software (cpu-clock is software config 0), 2 tracepoint, ... */
  type: number;
  /** `size` of the attr structure as written (0 in old files means 64). */
  size: number;
  /** `config`: which event of its type. */
  config: bigint;
  /** `sample_period`, or `sample_freq` when {@link PerfEventAttr.freq} is set. */
  samplePeriod: bigint;
  /** `sample_type`: which `PERF_SAMPLE_*` fields a sample carries (every bit is a known one: unknown bits are refused). */
  sampleType: number;
  /** `read_format` (`PERF_FORMAT_*`). */
  readFormat: number;
  /** Whether `sample_period` is a frequency. */
  freq: boolean;
  /** `sample_id_all`: non-sample records end with the sample ID fields. */
  sampleIdAll: boolean;
  /** `mmap2`: mappings are reported as MMAP2 records. */
  mmap2: boolean;
  /** `comm_exec`: COMM records flag an `exec` in `misc`. */
  commExec: boolean;
  /** `build_id`: MMAP2 records carry build IDs (`perf record --buildid-mmap`). */
  buildId: boolean;
  /** `use_clockid`: event times are on {@link PerfEventAttr.clockid} (`perf record -k`), not perf's own clock. */
  useClockid: boolean;
  /** `clockid`: the `clock_gettime` clock of event times when {@link PerfEventAttr.useClockid} is set. */
  clockid: number;
  /** `branch_sample_type`. */
  branchSampleType: bigint;
  /** `sample_regs_user`: which user registers a sample carries. */
  sampleRegsUser: bigint;
  /** `sample_stack_user`: bytes of user stack a sample asks for. */
  sampleStackUser: number;
  /** `sample_regs_intr`: which interrupt registers a sample carries. */
  sampleRegsIntr: bigint;
  /** Sample IDs of this event (one per CPU or thread it was opened on). */
  ids: bigint[];
}

/** Reads an attr of `size` bytes at `at`; `le` is the file's byte order. The ids are filled in by the caller. */
export function readAttr(view: DataView, at: number, size: number, le: boolean, offset: number): PerfEventAttr {
  const u64 = (field: number): bigint => (field + 8 <= size ? view.getBigUint64(at + field, le) : 0n);
  const sampleType = u64(24);
  if (sampleType >> BigInt(SAMPLE_BIT_NAMES.length) !== 0n) {
    const bits: string[] = [];
    for (let bit = SAMPLE_BIT_NAMES.length; bit < 64; bit++)
      if ((sampleType >> BigInt(bit)) & 1n) bits.push(`bit ${bit}`);
    throw new PerfDataError(
      "UNSUPPORTED",
      offset,
      `sample_type 0x${sampleType.toString(16)} has ${bits.join(", ")}, unknown to this reader (known: ${SAMPLE_BIT_NAMES.join("|")})`,
    );
  }
  // Bitfields: a big-endian writer fills each byte from its high bit (perf's swap_bitfield reverses bits per byte).
  const flag = (bit: number): boolean => {
    const byte = view.getUint8(at + 40 + (bit >> 3));
    return ((byte >> (le ? bit & 7 : 7 - (bit & 7))) & 1) === 1;
  };
  const attr: PerfEventAttr = {
    type: view.getUint32(at, le),
    size: size,
    config: u64(8),
    samplePeriod: u64(16),
    sampleType: Number(sampleType),
    readFormat: Number(u64(32) & 0xffffn),
    freq: flag(10),
    sampleIdAll: flag(AttrFlag.SAMPLE_ID_ALL),
    mmap2: flag(AttrFlag.MMAP2),
    commExec: flag(AttrFlag.COMM_EXEC),
    buildId: flag(AttrFlag.BUILD_ID),
    useClockid: flag(AttrFlag.USE_CLOCKID),
    clockid: 92 + 4 <= size ? view.getInt32(at + 92, le) : 0,
    branchSampleType: u64(72),
    sampleRegsUser: u64(80),
    sampleStackUser: 88 + 4 <= size ? view.getUint32(at + 88, le) : 0,
    sampleRegsIntr: u64(96),
    ids: [],
  };
  return attr;
}

/** The attr size to use for a stored `size` field: perf reads 0 as the first ABI's 64 bytes. */
export function attrSize(stored: number): number {
  return stored === 0 ? ATTR_SIZE_VER0 : stored;
}

/** How one attribute's records are laid out, computed once per attribute (samply's RecordParseInfo). */
export interface ParsePlan {
  /** Index of the attribute in {@link AttrSet.attrs}. */
  index: number;
  attr: PerfEventAttr;
  sampleType: number;
  readFormat: number;
  /** Bytes of the fixed part of a sample, `IDENTIFIER` through `PERIOD` (perf's sample_size check). */
  fixedSize: number;
  /** Bytes of the `sample_id` trailer on non-sample records; 0 without `sample_id_all`. */
  trailerSize: number;
  /** Branch stacks carry `hw_idx`. */
  hwIndex: boolean;
  /** Registers in a user / interrupt register dump. */
  userRegs: number;
  intrRegs: number;
}

function popcount64(value: bigint): number {
  let count = 0;
  for (let v = value; v !== 0n; v &= v - 1n) count++;
  return count;
}

function bits(sampleType: number, mask: number): number {
  let count = 0;
  for (let v = sampleType & mask; v !== 0; v &= v - 1) count++;
  return count;
}

function plan(attr: PerfEventAttr, index: number): ParsePlan {
  const t = attr.sampleType;
  const fixedMask =
    Sample.IDENTIFIER | Sample.IP | Sample.TID | Sample.TIME | Sample.ADDR | Sample.ID | Sample.STREAM_ID | Sample.CPU;
  const trailerMask = Sample.TID | Sample.TIME | Sample.ID | Sample.STREAM_ID | Sample.CPU | Sample.IDENTIFIER;
  return {
    index,
    attr,
    sampleType: t,
    readFormat: attr.readFormat,
    fixedSize: 8 * bits(t, fixedMask | Sample.PERIOD),
    trailerSize: attr.sampleIdAll ? 8 * bits(t, trailerMask) : 0,
    hwIndex: (attr.branchSampleType & BigInt(BRANCH_HW_INDEX)) !== 0n,
    userRegs: popcount64(attr.sampleRegsUser),
    intrRegs: popcount64(attr.sampleRegsIntr),
  };
}

/** perf's `__perf_evsel__calc_id_pos`: the u64 index of the event ID in a sample, or -1. */
function idPos(t: number): number {
  if (t & Sample.IDENTIFIER) return 0;
  if (!(t & Sample.ID)) return -1;
  return bits(t, Sample.IP | Sample.TID | Sample.TIME | Sample.ADDR);
}

/** perf's `__perf_evsel__calc_is_pos`: the u64 index of the event ID counted from a non-sample record's end, or -1. */
function isPos(t: number): number {
  if (t & Sample.IDENTIFIER) return 1;
  if (!(t & Sample.ID)) return -1;
  return 1 + bits(t, Sample.CPU | Sample.STREAM_ID);
}

/** The attributes of a recording (perf's evlist) and how a record is matched to one. */
export class AttrSet {
  /** The attributes in file order. */
  readonly attrs: PerfEventAttr[] = [];
  /** @internal One plan per attribute. */
  readonly plans: ParsePlan[] = [];
  private readonly byId = new Map<bigint, number>();
  private idPos = -1;
  private isPos = -1;

  /** Adds an attribute with its IDs (file header entry or HEADER_ATTR record); `offset` names it in errors. */
  add(attr: PerfEventAttr, offset: number, maxIds: number): void {
    const first = this.plans[0];
    if (first !== undefined) {
      const t = attr.sampleType;
      if (this.plans.length === 1 && (this.idPos < 0 || this.isPos < 0))
        throw new PerfDataError(
          "BAD_HEADER",
          offset,
          "more than one event, and the first has no sample ID (ID or IDENTIFIER)",
        );
      if (idPos(t) !== this.idPos || isPos(t) !== this.isPos)
        throw new PerfDataError(
          "BAD_HEADER",
          offset,
          `non matching sample_type: 0x${t.toString(16)} after 0x${first.sampleType.toString(16)}`,
        );
      if (attr.sampleIdAll !== first.attr.sampleIdAll)
        throw new PerfDataError("BAD_HEADER", offset, "non matching sample_id_all");
    } else {
      this.idPos = idPos(attr.sampleType);
      this.isPos = isPos(attr.sampleType);
    }
    if (this.byId.size + attr.ids.length > maxIds)
      throw new PerfDataError(
        "LIMIT",
        offset,
        `${this.byId.size + attr.ids.length} sample IDs exceed the limit of ${maxIds}`,
      );
    const index = this.attrs.length;
    this.attrs.push(attr);
    this.plans.push(plan(attr, index));
    for (const id of attr.ids) this.byId.set(id, index);
  }

  /**
   * The plan for a kernel record (perf's evlist__event2evsel): the only attribute, the first one when
   * non-sample records carry no ID or the ID is 0 (synthesized records), else the one the record's ID names.
   */
  planFor(type: number, view: DataView, bodyAt: number, bodySize: number, le: boolean, offset: number): ParsePlan {
    const first = this.plans[0];
    if (first === undefined)
      throw new PerfDataError("BAD_RECORD", offset, `record type ${type} before any event attribute`);
    if (this.plans.length === 1) return first;
    if (type !== 9 && !first.attr.sampleIdAll) return first;
    const words = bodySize >> 3;
    let at: number;
    if (type === 9) {
      if (this.idPos >= words) throw new PerfDataError("BAD_RECORD", offset, `sample of ${bodySize} bytes has no ID`);
      at = bodyAt + 8 * this.idPos;
    } else {
      if (this.isPos > words)
        throw new PerfDataError("BAD_RECORD", offset, `record of ${bodySize} bytes has no sample ID`);
      at = bodyAt + 8 * (words - this.isPos);
    }
    const id = view.getBigUint64(at, le);
    if (id === 0n) return first;
    const index = this.byId.get(id);
    if (index === undefined)
      throw new PerfDataError("UNKNOWN_ID", offset, `record type ${type} names event ID ${id}, which no attribute has`);
    return this.plans[index]!;
  }
}

/** Bytes of `read_format` values in a sample (perf's sample_read_value_size and the fixed fields before it). */
export function readValueSize(readFormat: number): number {
  return 8 * (1 + (readFormat & ReadFormat.ID ? 1 : 0) + (readFormat & ReadFormat.LOST ? 1 : 0));
}
