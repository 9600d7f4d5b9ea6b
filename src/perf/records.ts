// The parse step: one raw record (header and body view) to a typed record, per record type. Layouts from
// the kernel's perf_event.h and perf's event.h; sample fields in perf's evsel__parse_sample order.

import { type AttrSet, attrSize, type ParsePlan, type PerfEventAttr, readAttr, readValueSize } from "./attr.js";
import { Feature, Misc, ReadFormat, RecordType, Sample, USER_TYPE_START } from "./constants.js";
import { PerfDataError } from "./errors.js";
import { type CompressionInfo, readBuildIdEntry, readCompressionInfo } from "./header.js";
import { decodeString } from "./strings.js";

/** A record as the reader yields it, before parsing: its header, a view of its body, and where it was. */
export interface RawRecord {
  /** `PERF_RECORD_*` type ({@link RecordType}). */
  type: number;
  /** `header.misc`. */
  misc: number;
  /** `header.size`: the record's bytes, header included. */
  size: number;
  /** Byte offset in the input; records decompressed from a COMPRESSED record have that record's offset, as perf gives them. */
  offset: number;
  /** Whether the record came out of a COMPRESSED record. */
  compressed: boolean;
  /** The bytes after the 8-byte header: a view into the input or the decompressed data, not a copy. */
  body: Uint8Array;
}

/** The `sample_id` fields at the end of a non-sample kernel record (present with `sample_id_all`). */
export interface SampleId {
  /** Process ID (PERF_SAMPLE_TID). */
  pid?: number;
  /** Thread ID (PERF_SAMPLE_TID). */
  tid?: number;
  /** Time in ns (PERF_SAMPLE_TIME). */
  time?: bigint;
  /** Event ID (PERF_SAMPLE_ID or IDENTIFIER). */
  id?: bigint;
  /** PERF_SAMPLE_STREAM_ID. */
  streamId?: bigint;
  /** CPU (PERF_SAMPLE_CPU). */
  cpu?: number;
}

/** Fields every parsed record has. */
export interface RecordBase {
  /** `PERF_RECORD_*` type. */
  type: number;
  /** `header.misc`. */
  misc: number;
  /** `header.size`: the record's bytes, header included. */
  size: number;
  /** Byte offset of the record (see {@link RawRecord.offset}). */
  offset: number;
  /** The record's time: a sample's TIME, a kernel record's `sample_id` time; undefined for perf's own records and without TIME. */
  time: bigint | undefined;
}

/** Fields of a kernel record other than a sample. */
export interface KernelRecordBase extends RecordBase {
  /** Its `sample_id` trailer, or undefined without `sample_id_all`. */
  sampleId: SampleId | undefined;
}

/** PERF_RECORD_MMAP: a mapping, without file identity. */
export interface MmapRecord extends KernelRecordBase {
  /** Discriminant. */
  kind: "mmap";
  /** Process ID (-1 for the kernel). */
  pid: number;
  /** Thread ID. */
  tid: number;
  /** Start address of the mapping. */
  start: bigint;
  /** Length in bytes. */
  len: bigint;
  /** File offset of `start` (the kernel's address for the kernel map). */
  pgoff: bigint;
  /** The mapped file's path, or a pseudo name (`[kernel.kallsyms]_text`). */
  filename: string;
}

/** A file named by device and inode (MMAP2's default form). */
export interface InodeIdentity {
  /** Discriminant. */
  kind: "inode";
  /** Device major number. */
  maj: number;
  /** Device minor number. */
  min: number;
  /** Inode number. */
  ino: bigint;
  /** Inode generation. */
  inoGeneration: bigint;
}

/** A file named by its build ID (MMAP2 with PERF_RECORD_MISC_MMAP_BUILD_ID, `perf record --buildid-mmap`). */
export interface BuildIdIdentity {
  /** Discriminant. */
  kind: "build-id";
  /** Lowercase hex of the `build_id_size` bytes. */
  buildId: string;
}

/** PERF_RECORD_MMAP2: a mapping with the identity of its file. */
export interface Mmap2Record extends KernelRecordBase {
  /** Discriminant. */
  kind: "mmap2";
  /** Process ID (-1 for the kernel). */
  pid: number;
  /** Thread ID. */
  tid: number;
  /** Start address of the mapping. */
  start: bigint;
  /** Length in bytes. */
  len: bigint;
  /** File offset of `start`. */
  pgoff: bigint;
  /** The file: device and inode, or build ID. */
  identity: InodeIdentity | BuildIdIdentity;
  /** `PROT_*` bits. */
  prot: number;
  /** `MAP_*` bits. */
  flags: number;
  /** The mapped file's path, or a pseudo name (`[vdso]`, `//anon`). */
  filename: string;
}

/** PERF_RECORD_COMM: a thread's name; `exec` when an exec set it. */
export interface CommRecord extends KernelRecordBase {
  /** Discriminant. */
  kind: "comm";
  /** Process ID. */
  pid: number;
  /** Thread ID. */
  tid: number;
  /** The new name. */
  comm: string;
  /** PERF_RECORD_MISC_COMM_EXEC: the name changed because the process called exec. */
  exec: boolean;
}

/** PERF_RECORD_FORK and PERF_RECORD_EXIT. */
export interface TaskRecord extends KernelRecordBase {
  /** Discriminant: a fork or an exit. */
  kind: "fork" | "exit";
  /** Process ID. */
  pid: number;
  /** Parent process ID. */
  ppid: number;
  /** Thread ID. */
  tid: number;
  /** Parent thread ID. */
  ptid: number;
  /** The record's own `time` field (the ordering key is {@link RecordBase.time}, from the `sample_id`). */
  taskTime: bigint;
}

/** PERF_RECORD_LOST: the kernel dropped records. */
export interface LostRecord extends KernelRecordBase {
  /** Discriminant. */
  kind: "lost";
  /** The event the records were lost for. */
  id: bigint;
  /** How many records were lost. */
  lost: bigint;
}

/** The `read_format` values of a sample of one (not grouped) event. */
export interface SampleRead {
  /** The counter value. */
  value: bigint;
  /** PERF_FORMAT_TOTAL_TIME_ENABLED. */
  timeEnabled?: bigint;
  /** PERF_FORMAT_TOTAL_TIME_RUNNING. */
  timeRunning?: bigint;
  /** PERF_FORMAT_ID. */
  id?: bigint;
  /** PERF_FORMAT_LOST. */
  lost?: bigint;
}

/** PERF_RECORD_SAMPLE, with the fields its attribute's `sample_type` has. */
export interface SampleRecord extends RecordBase {
  /** Discriminant. */
  kind: "sample";
  /** Index of the sample's attribute. */
  attrIndex: number;
  /** `misc & 7`: 1 kernel, 2 user, ... */
  cpumode: number;
  /** Event ID (PERF_SAMPLE_IDENTIFIER or ID). */
  id?: bigint;
  /** Instruction pointer (PERF_SAMPLE_IP). */
  ip?: bigint;
  /** Process ID (PERF_SAMPLE_TID). */
  pid?: number;
  /** Thread ID (PERF_SAMPLE_TID). */
  tid?: number;
  /** PERF_SAMPLE_ADDR. */
  addr?: bigint;
  /** PERF_SAMPLE_STREAM_ID. */
  streamId?: bigint;
  /** CPU (PERF_SAMPLE_CPU). */
  cpu?: number;
  /** The period this sample stands for (PERF_SAMPLE_PERIOD). */
  period?: bigint;
  /** The counter values (PERF_SAMPLE_READ without PERF_FORMAT_GROUP; a group read is skipped). */
  read?: SampleRead;
  /** The call chain, innermost first, with the PERF_CONTEXT_* markers (values >= `PERF_CONTEXT_MAX`, 2^64 - 4095) kept. A copy. */
  callchain?: BigUint64Array;
}

/** PERF_RECORD_HEADER_ATTR (pipe mode): an event's attribute and IDs. */
export interface HeaderAttrRecord extends RecordBase {
  /** Discriminant. */
  kind: "header-attr";
  /** The attribute, with its IDs. */
  attr: PerfEventAttr;
}

/** PERF_RECORD_HEADER_FEATURE (pipe mode): one header feature section. */
export interface HeaderFeatureRecord extends RecordBase {
  /** Discriminant. */
  kind: "header-feature";
  /** The feature bit (`HEADER_*`). */
  feature: number;
  /** The section's payload (a view). */
  data: Uint8Array;
  /** The decoded payload of the COMPRESSED feature. */
  compression?: CompressionInfo;
}

/** PERF_RECORD_HEADER_BUILD_ID (pipe mode): one entry of the build-ID table. */
export interface HeaderBuildIdRecord extends RecordBase {
  /** Discriminant. */
  kind: "header-build-id";
  /** -1 for the host; a guest's machine PID otherwise. */
  pid: number;
  /** Lowercase hex: 20 bytes, or `size` bytes when `misc` has {@link Misc.BUILD_ID_SIZE}. */
  buildId: string;
  /** The file's path as perf wrote it. */
  filename: string;
}

/** PERF_RECORD_FINISHED_ROUND and PERF_RECORD_FINISHED_INIT: markers perf writes between passes over its buffers. */
export interface MarkerRecord extends RecordBase {
  /** Discriminant. */
  kind: "finished-round" | "finished-init";
}

/** PERF_RECORD_COMPRESSED (and COMPRESSED2): the records inside it follow it, decompressed. */
export interface CompressedRecord extends RecordBase {
  /** Discriminant. */
  kind: "compressed";
  /** Bytes of zstd data it carries. */
  compressedBytes: number;
}

/** Any other record type, passed through: its body, and for kernel types the `sample_id` trailer. */
export interface OtherRecord extends KernelRecordBase {
  /** Discriminant. */
  kind: "other";
  /** The bytes after the record header (a view). */
  body: Uint8Array;
}

/** A parsed record. */
export type PerfRecord =
  | MmapRecord
  | Mmap2Record
  | CommRecord
  | TaskRecord
  | LostRecord
  | SampleRecord
  | HeaderAttrRecord
  | HeaderFeatureRecord
  | HeaderBuildIdRecord
  | MarkerRecord
  | CompressedRecord
  | OtherRecord;

/** What the parse step needs from the session: the byte order and the attributes. */
export interface ParseContext {
  readonly littleEndian: boolean;
  /** @internal */
  readonly attrSet: AttrSet;
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

let cachedBuffer: ArrayBufferLike | undefined;
let cachedView: DataView = new DataView(new ArrayBuffer(0));

/** A DataView over the whole buffer behind `bytes`, reused while records come from the same buffer. */
function viewOf(bytes: Uint8Array): DataView {
  if (bytes.buffer !== cachedBuffer) {
    cachedBuffer = bytes.buffer;
    cachedView = new DataView(bytes.buffer);
  }
  return cachedView;
}

function short(raw: RawRecord, what: string, need: number): PerfDataError {
  return new PerfDataError(
    "BAD_RECORD",
    raw.offset,
    `${what} record (type ${raw.type}) of ${raw.size} bytes is too short: ${what === "sample" ? "its fields need" : "it needs"} ${need + 8}`,
  );
}

function trailer(raw: RawRecord, plan: ParsePlan, view: DataView, le: boolean): SampleId | undefined {
  if (plan.trailerSize === 0) return undefined;
  const body = raw.body;
  if (plan.trailerSize > body.length) throw short(raw, "kernel", plan.trailerSize);
  const t = plan.sampleType;
  let p = body.byteOffset + body.length - plan.trailerSize;
  const id: SampleId = {};
  if (t & Sample.TID) {
    id.pid = view.getInt32(p, le);
    id.tid = view.getInt32(p + 4, le);
    p += 8;
  }
  if (t & Sample.TIME) {
    id.time = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & Sample.ID) {
    id.id = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & Sample.STREAM_ID) {
    id.streamId = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & Sample.CPU) {
    id.cpu = view.getUint32(p, le);
    p += 8;
  }
  if (t & Sample.IDENTIFIER) id.id = view.getBigUint64(p, le);
  return id;
}

function hex(bytes: Uint8Array, start: number, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += bytes[start + i]!.toString(16).padStart(2, "0");
  return out;
}

/** The fields MMAP and MMAP2 start with: pid, tid, start, len, pgoff. */
function mapping(view: DataView, b: number, le: boolean) {
  return {
    pid: view.getInt32(b, le),
    tid: view.getInt32(b + 4, le),
    start: view.getBigUint64(b + 8, le),
    len: view.getBigUint64(b + 16, le),
    pgoff: view.getBigUint64(b + 24, le),
  };
}

/** Parses a raw record into its typed form; `context` is the session it came from. */
export function parseRecord(raw: RawRecord, context: ParseContext): PerfRecord {
  const le = context.littleEndian;
  const body = raw.body;
  const view = viewOf(body);
  const b = body.byteOffset;
  const n = body.length;
  const base = { type: raw.type, misc: raw.misc, size: raw.size, offset: raw.offset };
  if (raw.type >= USER_TYPE_START) {
    switch (raw.type) {
      case RecordType.FINISHED_ROUND:
        return { ...base, time: undefined, kind: "finished-round" };
      case RecordType.FINISHED_INIT:
        return { ...base, time: undefined, kind: "finished-init" };
      case RecordType.COMPRESSED:
        return { ...base, time: undefined, kind: "compressed", compressedBytes: n };
      case RecordType.COMPRESSED2:
        return {
          ...base,
          time: undefined,
          kind: "compressed",
          compressedBytes: n < 8 ? 0 : Number(view.getBigUint64(b, le)),
        };
      case RecordType.HEADER_ATTR:
        return { ...base, time: undefined, kind: "header-attr", attr: readHeaderAttr(raw, view, le) };
      case RecordType.HEADER_BUILD_ID: {
        const entry = readBuildIdEntry(new Uint8Array(body.buffer), view, b, raw.size, raw.misc, le, raw.offset);
        return {
          ...base,
          time: undefined,
          kind: "header-build-id",
          pid: entry.pid,
          buildId: entry.buildId,
          filename: entry.filename,
        };
      }
      case RecordType.HEADER_FEATURE: {
        if (n < 8) throw short(raw, "HEADER_FEATURE", 8);
        const feature = Number(view.getBigUint64(b, le) & 0xffffn);
        const data = body.subarray(8);
        const record: HeaderFeatureRecord = { ...base, time: undefined, kind: "header-feature", feature, data };
        if (feature === Feature.COMPRESSED) record.compression = readCompressionInfo(data, raw.offset + 16, le);
        return record;
      }
      default:
        return { ...base, time: undefined, kind: "other", body, sampleId: undefined };
    }
  }
  const plan = context.attrSet.planFor(raw.type, view, b, n, le, raw.offset);
  if (raw.type === RecordType.SAMPLE) return parseSample(raw, plan, view, le);
  const sampleId = trailer(raw, plan, view, le);
  const time = sampleId?.time;
  const end = n - plan.trailerSize;
  switch (raw.type) {
    case RecordType.MMAP: {
      if (end < 32) throw short(raw, "MMAP", 32 + plan.trailerSize);
      return {
        ...base,
        time,
        sampleId,
        kind: "mmap",
        ...mapping(view, b, le),
        filename: decodeString(body, 32, end),
      };
    }
    case RecordType.MMAP2: {
      if (end < 64) throw short(raw, "MMAP2", 64 + plan.trailerSize);
      let identity: InodeIdentity | BuildIdIdentity;
      if (raw.misc & Misc.MMAP_BUILD_ID) {
        const size = body[32]!;
        if (size > 20)
          throw new PerfDataError("BAD_RECORD", raw.offset, `MMAP2 says its build ID has ${size} bytes, over 20`);
        identity = { kind: "build-id", buildId: hex(body, 36, size) };
      } else {
        identity = {
          kind: "inode",
          maj: view.getUint32(b + 32, le),
          min: view.getUint32(b + 36, le),
          ino: view.getBigUint64(b + 40, le),
          inoGeneration: view.getBigUint64(b + 48, le),
        };
      }
      return {
        ...base,
        time,
        sampleId,
        kind: "mmap2",
        ...mapping(view, b, le),
        identity,
        prot: view.getUint32(b + 56, le),
        flags: view.getUint32(b + 60, le),
        filename: decodeString(body, 64, end),
      };
    }
    case RecordType.COMM: {
      if (end < 8) throw short(raw, "COMM", 8 + plan.trailerSize);
      return {
        ...base,
        time,
        sampleId,
        kind: "comm",
        pid: view.getInt32(b, le),
        tid: view.getInt32(b + 4, le),
        comm: decodeString(body, 8, end),
        exec: (raw.misc & Misc.COMM_EXEC) !== 0,
      };
    }
    case RecordType.FORK:
    case RecordType.EXIT: {
      if (end < 24) throw short(raw, raw.type === RecordType.FORK ? "FORK" : "EXIT", 24 + plan.trailerSize);
      return {
        ...base,
        time,
        sampleId,
        kind: raw.type === RecordType.FORK ? "fork" : "exit",
        pid: view.getInt32(b, le),
        ppid: view.getInt32(b + 4, le),
        tid: view.getInt32(b + 8, le),
        ptid: view.getInt32(b + 12, le),
        taskTime: view.getBigUint64(b + 16, le),
      };
    }
    case RecordType.LOST: {
      if (end < 16) throw short(raw, "LOST", 16 + plan.trailerSize);
      return {
        ...base,
        time,
        sampleId,
        kind: "lost",
        id: view.getBigUint64(b, le),
        lost: view.getBigUint64(b + 8, le),
      };
    }
    default:
      return { ...base, time, sampleId, kind: "other", body };
  }
}

function readHeaderAttr(raw: RawRecord, view: DataView, le: boolean): PerfEventAttr {
  const body = raw.body;
  if (body.length < 8) throw short(raw, "HEADER_ATTR", 8);
  const size = attrSize(view.getUint32(body.byteOffset + 4, le));
  if (size < 64 || size > body.length)
    throw new PerfDataError(
      "BAD_RECORD",
      raw.offset,
      `HEADER_ATTR says its attr has ${size} bytes; the record has ${body.length}`,
    );
  const attr = readAttr(view, body.byteOffset, size, le, raw.offset);
  for (let p = size; p + 8 <= body.length; p += 8) attr.ids.push(view.getBigUint64(body.byteOffset + p, le));
  return attr;
}

// sample_type bits as plain consts: the sample loop reads them on every record.
const IDENTIFIER = Sample.IDENTIFIER;
const IP = Sample.IP;
const TID = Sample.TID;
const TIME = Sample.TIME;
const ADDR = Sample.ADDR;
const ID = Sample.ID;
const STREAM_ID = Sample.STREAM_ID;
const CPU = Sample.CPU;
const PERIOD = Sample.PERIOD;
const READ = Sample.READ;
const CALLCHAIN = Sample.CALLCHAIN;
const CPUMODE_MASK = Misc.CPUMODE_MASK;
/** Bits whose fields come after the call chain: they are checked and skipped. */
const AFTER_CALLCHAIN =
  Sample.RAW |
  Sample.BRANCH_STACK |
  Sample.REGS_USER |
  Sample.STACK_USER |
  Sample.WEIGHT |
  Sample.DATA_SRC |
  Sample.TRANSACTION |
  Sample.REGS_INTR |
  Sample.PHYS_ADDR |
  Sample.AUX |
  Sample.CGROUP |
  Sample.DATA_PAGE_SIZE |
  Sample.CODE_PAGE_SIZE |
  Sample.WEIGHT_STRUCT;

/** Call chains are views into shared slabs: one ArrayBuffer per slab, not per sample. */
const SLAB_BYTES = 256 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** A copy of `bytes` bytes of `source` from `at` as a native-endian BigUint64Array. */
function chainCopy(source: ArrayBufferLike, at: number, bytes: number): BigUint64Array {
  if (bytes > SLAB_BYTES >> 2) return new BigUint64Array(source.slice(at, at + bytes));
  if (slabUsed + bytes > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  new Uint8Array(slab, slabUsed, bytes).set(new Uint8Array(source, at, bytes));
  const chain = new BigUint64Array(slab, slabUsed, bytes >> 3);
  slabUsed += bytes;
  return chain;
}

function overrun(raw: RawRecord, what: string, at: number, bytes: number | bigint): PerfDataError {
  return new PerfDataError(
    "BAD_RECORD",
    raw.offset,
    `sample's ${what} needs ${bytes} bytes at body offset ${at}; the body has ${raw.body.length}`,
  );
}

function parseSample(raw: RawRecord, plan: ParsePlan, view: DataView, le: boolean): SampleRecord {
  const body = raw.body;
  const n = body.length;
  if (plan.fixedSize > n) throw short(raw, "sample", plan.fixedSize);
  const t = plan.sampleType;
  const b = body.byteOffset;
  let p = b;
  const sample: SampleRecord = {
    type: raw.type,
    misc: raw.misc,
    size: raw.size,
    offset: raw.offset,
    time: undefined,
    kind: "sample",
    attrIndex: plan.index,
    cpumode: raw.misc & CPUMODE_MASK,
  };
  if (t & IDENTIFIER) {
    sample.id = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & IP) {
    sample.ip = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & TID) {
    sample.pid = view.getInt32(p, le);
    sample.tid = view.getInt32(p + 4, le);
    p += 8;
  }
  if (t & TIME) {
    sample.time = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & ADDR) {
    sample.addr = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & ID) {
    sample.id = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & STREAM_ID) {
    sample.streamId = view.getBigUint64(p, le);
    p += 8;
  }
  if (t & CPU) {
    sample.cpu = view.getUint32(p, le);
    p += 8;
  }
  if (t & PERIOD) {
    sample.period = view.getBigUint64(p, le);
    p += 8;
  }
  const end = b + n;
  if (t & READ) p = parseRead(new Fields(raw, view, le, p, end), plan.readFormat, sample);
  if (t & CALLCHAIN) {
    if (p + 8 > end) throw overrun(raw, "callchain nr", p - b, 8);
    const nr = view.getBigUint64(p, le);
    p += 8;
    if (nr > BigInt((end - p) >> 3)) throw overrun(raw, "callchain", p - b, nr * 8n);
    const bytes = Number(nr) * 8;
    let chain: BigUint64Array;
    if (le === hostLittleEndian) chain = chainCopy(body.buffer, p, bytes);
    else {
      chain = new BigUint64Array(bytes >> 3);
      for (let i = 0; i < chain.length; i++) chain[i] = view.getBigUint64(p + 8 * i, le);
    }
    sample.callchain = chain;
    p += bytes;
  }
  if (t & AFTER_CALLCHAIN) skipTail(new Fields(raw, view, le, p, end), plan);
  return sample;
}

/** A sample's variable-length fields from `p`, each read checked against `end` (the end of the record's body). */
class Fields {
  constructor(
    readonly raw: RawRecord,
    readonly view: DataView,
    readonly le: boolean,
    public p: number,
    readonly end: number,
  ) {}

  /** Throws BAD_RECORD naming `what` unless `bytes` are left. */
  need(bytes: number | bigint, what: string): void {
    if (bytes > BigInt(this.end - this.p)) throw overrun(this.raw, what, this.p - this.raw.body.byteOffset, bytes);
  }

  u32(what: string): number {
    this.need(4, what);
    this.p += 4;
    return this.view.getUint32(this.p - 4, this.le);
  }

  u64(what: string): bigint {
    this.need(8, what);
    this.p += 8;
    return this.view.getBigUint64(this.p - 8, this.le);
  }

  skip(bytes: bigint, what: string): void {
    this.need(bytes, what);
    this.p += Number(bytes);
  }
}

function parseRead(f: Fields, format: number, sample: SampleRecord): number {
  if (format & ReadFormat.GROUP) {
    const nr = f.u64("read group nr");
    if (format & ReadFormat.TOTAL_TIME_ENABLED) f.u64("read time_enabled");
    if (format & ReadFormat.TOTAL_TIME_RUNNING) f.u64("read time_running");
    f.skip(nr * BigInt(readValueSize(format)), "read group");
    return f.p;
  }
  const read: SampleRead = { value: f.u64("read value") };
  if (format & ReadFormat.TOTAL_TIME_ENABLED) read.timeEnabled = f.u64("read time_enabled");
  if (format & ReadFormat.TOTAL_TIME_RUNNING) read.timeRunning = f.u64("read time_running");
  if (format & ReadFormat.ID) read.id = f.u64("read id");
  if (format & ReadFormat.LOST) read.lost = f.u64("read lost");
  sample.read = read;
  return f.p;
}

/** Checks and skips the fields after the call chain (raw data, branch stack, registers, user stack, ...). */
function skipTail(f: Fields, plan: ParsePlan): void {
  const t = plan.sampleType;
  if (t & Sample.RAW) f.skip(BigInt(f.u32("raw size")), "raw data");
  if (t & Sample.BRANCH_STACK) {
    const nr = f.u64("branch stack nr");
    if (plan.hwIndex) f.u64("branch hw_idx");
    f.skip(nr * 24n, "branch stack");
  }
  if (t & Sample.REGS_USER && f.u64("user regs abi") !== 0n) f.skip(BigInt(plan.userRegs * 8), "user regs");
  if (t & Sample.STACK_USER) {
    const size = f.u64("user stack size");
    if (size !== 0n) {
      f.skip(size, "user stack");
      f.u64("user stack dyn_size");
    }
  }
  if (t & (Sample.WEIGHT | Sample.WEIGHT_STRUCT)) f.u64("weight");
  if (t & Sample.DATA_SRC) f.u64("data_src");
  if (t & Sample.TRANSACTION) f.u64("transaction");
  if (t & Sample.REGS_INTR && f.u64("intr regs abi") !== 0n) f.skip(BigInt(plan.intrRegs * 8), "intr regs");
  if (t & Sample.PHYS_ADDR) f.u64("phys_addr");
  if (t & Sample.CGROUP) f.u64("cgroup");
  if (t & Sample.DATA_PAGE_SIZE) f.u64("data_page_size");
  if (t & Sample.CODE_PAGE_SIZE) f.u64("code_page_size");
  if (t & Sample.AUX) f.skip(f.u64("aux size"), "aux");
}
