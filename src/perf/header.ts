// The perf.data headers (perf's util/header.c): the file header with its attribute table and feature
// sections, the pipe header, and the feature payloads this reader decodes (the build-ID table, compression).

import { attrSize, type PerfEventAttr, readAttr } from "./attr.js";
import { Misc } from "./constants.js";
import { PerfDataError } from "./errors.js";
import { decodeString } from "./strings.js";

/** Bytes of `struct perf_file_header`. */
export const FILE_HEADER_SIZE = 104;
/** Bytes of `struct perf_pipe_file_header`. */
export const PIPE_HEADER_SIZE = 16;
/** Bytes of `struct perf_file_section` (offset and size). */
const SECTION_SIZE = 16;

/** How the input is laid out, from its first 16 bytes. */
export interface Magic {
  /** File mode (`perf record -o FILE`) or pipe mode (`-o -`). */
  mode: "file" | "pipe";
  littleEndian: boolean;
}

/** Reads the magic and the header size (perf's check_magic_endian and the pipe-header probe). */
export function readMagic(bytes: Uint8Array): Magic {
  if (bytes.length < PIPE_HEADER_SIZE)
    throw new PerfDataError(
      bytes.length < 8 ? "NOT_PERF_DATA" : "TRUNCATED",
      0,
      `the input has ${bytes.length} bytes, fewer than a perf.data header`,
    );
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  let littleEndian: boolean;
  if (magic === "PERFILE2") littleEndian = true;
  else if (magic === "2ELIFREP") littleEndian = false;
  else if (magic === "PERFFILE")
    throw new PerfDataError("UNSUPPORTED", 0, "the legacy PERFFILE format (perf before 2011) is not read");
  else {
    const shown = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new PerfDataError("NOT_PERF_DATA", 0, `not perf.data: it starts with ${shown}, not PERFILE2`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getBigUint64(8, littleEndian);
  if (size === BigInt(PIPE_HEADER_SIZE)) return { mode: "pipe", littleEndian };
  if (size === BigInt(FILE_HEADER_SIZE)) return { mode: "file", littleEndian };
  throw new PerfDataError(
    "BAD_HEADER",
    8,
    `header size ${size} is neither the file header's ${FILE_HEADER_SIZE} nor the pipe header's ${PIPE_HEADER_SIZE}`,
  );
}

/** A region of the file (`struct perf_file_section`). */
export interface Section {
  /** Byte offset in the file. */
  offset: number;
  /** Bytes. */
  size: number;
}

/** The file-mode header (`struct perf_file_header`). */
export interface FileHeader {
  /** Bytes of one attribute table entry (an attr and its ids section). */
  attrSize: number;
  attrs: Section;
  data: Section;
  /** Feature bits set in `adds_features`, ascending. */
  features: number[];
}

function u64(view: DataView, at: number, le: boolean, what: string): number {
  const value = view.getBigUint64(at, le);
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new PerfDataError("BAD_HEADER", at, `${what} ${value} is past 2^53`);
  return Number(value);
}

function section(view: DataView, at: number, le: boolean, what: string): Section {
  return { offset: u64(view, at, le, `${what} offset`), size: u64(view, at + 8, le, `${what} size`) };
}

/** Reads the 104-byte file header; `fileSize` (when known) bounds its sections. */
export function readFileHeader(bytes: Uint8Array, le: boolean, fileSize: number | undefined): FileHeader {
  if (bytes.length < FILE_HEADER_SIZE)
    throw new PerfDataError(
      "TRUNCATED",
      0,
      `the file has ${bytes.length} bytes, fewer than the ${FILE_HEADER_SIZE}-byte header`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, FILE_HEADER_SIZE);
  const attrSize = u64(view, 16, le, "attr_size");
  const attrs = section(view, 24, le, "attrs");
  const data = section(view, 40, le, "data");
  const features: number[] = [];
  for (let word = 0; word < 4; word++) {
    const bits = view.getBigUint64(72 + 8 * word, le);
    for (let bit = 0; bit < 64; bit++) if ((bits >> BigInt(bit)) & 1n) features.push(64 * word + bit);
  }
  if (attrSize < 64 + SECTION_SIZE)
    throw new PerfDataError(
      "BAD_HEADER",
      16,
      `attr_size ${attrSize} is below the smallest attribute entry (${64 + SECTION_SIZE} bytes)`,
    );
  if (attrs.size % attrSize !== 0)
    throw new PerfDataError(
      "BAD_HEADER",
      24,
      `the attrs section of ${attrs.size} bytes is not a whole number of ${attrSize}-byte entries`,
    );
  if (data.offset < FILE_HEADER_SIZE)
    throw new PerfDataError("BAD_HEADER", 40, `data offset ${data.offset} lies inside the header`);
  if (attrs.offset < FILE_HEADER_SIZE || attrs.offset + attrs.size > data.offset)
    throw new PerfDataError(
      "BAD_HEADER",
      24,
      `the attrs section [${attrs.offset}, ${attrs.offset + attrs.size}) is not between the header and the data at ${data.offset}`,
    );
  if (fileSize !== undefined && data.offset + data.size > fileSize)
    throw new PerfDataError(
      "TRUNCATED",
      40,
      `the data section [${data.offset}, ${data.offset + data.size}) runs past the end of the ${fileSize}-byte file`,
    );
  return { attrSize, attrs, data, features };
}

/** Limits on the header region the attribute table lives in. */
export interface AttrTableLimits {
  maxAttrs: number;
  maxIds: number;
}

/**
 * Reads the attribute table and each attribute's ids from `region`, the file's bytes from 0 up to the data
 * section (perf's perf_session__read_header).
 */
export function readAttrTable(
  region: Uint8Array,
  header: FileHeader,
  le: boolean,
  limits: AttrTableLimits,
): PerfEventAttr[] {
  const view = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const count = header.attrs.size / header.attrSize;
  if (count > limits.maxAttrs)
    throw new PerfDataError("LIMIT", 24, `${count} attributes exceed the limit of ${limits.maxAttrs}`);
  const attrs: PerfEventAttr[] = [];
  let idCount = 0;
  for (let i = 0; i < count; i++) {
    const at = header.attrs.offset + i * header.attrSize;
    const size = attrSize(view.getUint32(at + 4, le));
    if (size + SECTION_SIZE > header.attrSize)
      throw new PerfDataError(
        "BAD_HEADER",
        at + 4,
        `attribute ${i} says it has ${size} bytes, more than its ${header.attrSize - SECTION_SIZE}-byte slot`,
      );
    const attr = readAttr(view, at, size, le, at);
    const ids = section(view, at + header.attrSize - SECTION_SIZE, le, `attribute ${i} ids`);
    if (ids.size % 8 !== 0 || ids.offset + ids.size > region.length)
      throw new PerfDataError(
        "BAD_HEADER",
        at + header.attrSize - SECTION_SIZE,
        `attribute ${i}'s ids [${ids.offset}, ${ids.offset + ids.size}) are not whole u64s before the data section`,
      );
    idCount += ids.size / 8;
    if (idCount > limits.maxIds)
      throw new PerfDataError("LIMIT", at, `${idCount} sample IDs exceed the limit of ${limits.maxIds}`);
    for (let j = 0; j < ids.size; j += 8) attr.ids.push(view.getBigUint64(ids.offset + j, le));
    attrs.push(attr);
  }
  return attrs;
}

/**
 * Reads the feature section table at the start of `tail` (the file from the end of the data section on,
 * where perf writes it) and returns each feature's section, keyed by feature bit.
 */
export function readFeatureTable(
  tail: Uint8Array,
  tailOffset: number,
  header: FileHeader,
  le: boolean,
): Map<number, Section> {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const sections = new Map<number, Section>();
  if (header.features.length * SECTION_SIZE > tail.length)
    throw new PerfDataError(
      "TRUNCATED",
      tailOffset,
      `the table of ${header.features.length} feature sections runs past the end of the file`,
    );
  header.features.forEach((feature, i) => {
    const s = section(view, i * SECTION_SIZE, le, `feature ${feature} section`);
    if (s.offset < tailOffset || s.offset + s.size > tailOffset + tail.length)
      throw new PerfDataError(
        "BAD_HEADER",
        tailOffset + i * SECTION_SIZE,
        `feature ${feature}'s section [${s.offset}, ${s.offset + s.size}) is not within the ${tail.length} bytes after the data`,
      );
    sections.set(feature, s);
  });
  return sections;
}

/** One entry of perf's build-ID table: a HEADER_BUILD_ID record, or an entry of the BUILD_ID feature section. */
export interface BuildIdEntry {
  /** The process it belongs to as perf wrote it: -1 for the host (perf's HOST_KERNEL_ID), a guest's machine PID otherwise. */
  pid: number;
  /** The build ID as lowercase hex (20 bytes unless the record's `size` byte says otherwise). */
  buildId: string;
  /** The file's path as perf wrote it (`[kernel.kallsyms]`, `[vdso]`, or an absolute path). */
  filename: string;
  /** `header.misc`: the CPU mode in its low bits (1 kernel, 2 user), {@link Misc.BUILD_ID_SIZE} when `size` is valid. */
  misc: number;
  /** Byte offset of the entry in the file. */
  offset: number;
}

/** Bytes of `struct perf_record_header_build_id` before the filename: header, pid, build_id[24]. */
export const BUILD_ID_RECORD_MIN = 8 + 4 + 24;

/**
 * Reads one build-ID entry from its body (the bytes after the 8-byte header) at `at`, `size` bytes with the
 * header; `bytes` and `view` index the same buffer (perf's __event_process_build_id).
 */
export function readBuildIdEntry(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  size: number,
  misc: number,
  le: boolean,
  offset: number,
): BuildIdEntry {
  if (size < BUILD_ID_RECORD_MIN)
    throw new PerfDataError(
      "BAD_RECORD",
      offset,
      `build-ID record of ${size} bytes, fewer than its ${BUILD_ID_RECORD_MIN}-byte fields`,
    );
  let length = 20;
  if (misc & Misc.BUILD_ID_SIZE) {
    length = bytes[at + 4 + 20]!;
    if (length > 20)
      throw new PerfDataError("BAD_RECORD", offset, `build-ID record says its ID has ${length} bytes, over 20`);
  }
  let buildId = "";
  for (let i = 0; i < length; i++) buildId += bytes[at + 4 + i]!.toString(16).padStart(2, "0");
  return {
    pid: view.getInt32(at, le),
    buildId,
    filename: decodeString(bytes, at + BUILD_ID_RECORD_MIN - 8, at + size - 8),
    misc,
    offset,
  };
}

/** Reads the BUILD_ID feature section: a run of build-ID records (perf's perf_header__read_build_ids). */
export function readBuildIdTable(bytes: Uint8Array, sectionOffset: number, le: boolean): BuildIdEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: BuildIdEntry[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 8 > bytes.length)
      throw new PerfDataError("TRUNCATED", sectionOffset + at, "the build-ID table ends inside a record header");
    const misc = view.getUint16(at + 4, le);
    const size = view.getUint16(at + 6, le);
    if (size < BUILD_ID_RECORD_MIN || at + size > bytes.length)
      throw new PerfDataError(
        size < BUILD_ID_RECORD_MIN ? "BAD_RECORD" : "TRUNCATED",
        sectionOffset + at,
        `build-ID table entry of ${size} bytes does not fit [${BUILD_ID_RECORD_MIN}, ${bytes.length - at}]`,
      );
    entries.push(readBuildIdEntry(bytes, view, at + 8, size, misc, le, sectionOffset + at));
    at += size;
  }
  return entries;
}

/** The COMPRESSED feature: how `perf record -z` compressed the data. */
export interface CompressionInfo {
  /** Format version (0). */
  version: number;
  /** 1 is zstd. */
  type: number;
  /** The zstd level (`-z` is 1). */
  level: number;
  /** The compression ratio perf reported. */
  ratio: number;
  /** Bytes of a ring buffer: perf's bound on what one COMPRESSED record decompresses to. */
  mmapLen: number;
}

/** Reads the COMPRESSED feature payload (five u32s). */
export function readCompressionInfo(bytes: Uint8Array, offset: number, le: boolean): CompressionInfo {
  if (bytes.length < 20)
    throw new PerfDataError("TRUNCATED", offset, `the COMPRESSED feature has ${bytes.length} bytes, fewer than 20`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (i: number) => view.getUint32(4 * i, le);
  return { version: u32(0), type: u32(1), level: u32(2), ratio: u32(3), mmapLen: u32(4) };
}

/**
 * The CLOCK_DATA feature (`perf record -k CLOCK`): the clock event times are on, and one moment read on
 * that clock and on the wall clock (perf's record__init_clock).
 */
export interface PerfClock {
  /** The `clock_gettime` clock: 0 CLOCK_REALTIME, 1 CLOCK_MONOTONIC, 4 CLOCK_MONOTONIC_RAW, 7 CLOCK_BOOTTIME, 11 CLOCK_TAI. */
  clockid: number;
  /**
   * Wall-clock time at the reference moment, ns since the epoch (from `gettimeofday`, so whole µs). perf
   * reads it before it opens any event or reads any process's maps: no event of the recording is older.
   */
  realtimeNs: bigint;
  /** The clock's own time at that moment, ns. */
  clockNs: bigint;
}

/** Bytes of the CLOCK_DATA payload: version and clockid (u32 each), then the two u64 times. */
const CLOCK_DATA_SIZE = 24;

/** Reads the CLOCK_DATA feature payload at input offset `offset` (perf's process_clock_data: version 1 only). */
export function readClockData(bytes: Uint8Array, offset: number, le: boolean): PerfClock {
  if (bytes.length < CLOCK_DATA_SIZE)
    throw new PerfDataError(
      "TRUNCATED",
      offset,
      `the CLOCK_DATA feature has ${bytes.length} bytes, fewer than its ${CLOCK_DATA_SIZE}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(0, le);
  if (version !== 1)
    throw new PerfDataError("UNSUPPORTED", offset, `CLOCK_DATA version ${version}; this reader reads version 1`);
  return { clockid: view.getUint32(4, le), realtimeNs: view.getBigUint64(8, le), clockNs: view.getBigUint64(16, le) };
}

/** Reads the CLOCKID feature payload: the clock's resolution in ns (perf's process_clockid). */
export function readClockResolution(bytes: Uint8Array, offset: number, le: boolean): bigint {
  if (bytes.length < 8)
    throw new PerfDataError("TRUNCATED", offset, `the CLOCKID feature has ${bytes.length} bytes, fewer than 8`);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, le);
}

/** The wall-clock time (ns since the epoch) of an event at `time` on `clock`: what `perf script -F tod` prints. */
export function realtimeOf(clock: PerfClock, time: bigint): bigint {
  return clock.realtimeNs + (time - clock.clockNs);
}

/** Whether every attribute's event times are on `clock` (`use_clockid` with its clockid), so {@link realtimeOf} places them. */
export function timesOnClock(attrs: readonly PerfEventAttr[], clock: PerfClock): boolean {
  return attrs.length > 0 && attrs.every((a) => a.useClockid && a.clockid === clock.clockid);
}
