// Snapshot format, version 1. Every integer is little-endian, as in WebAssembly memory.
//
//   header (HEADER_SIZE bytes):
//
//      0          8     10    12    14    16          20          24
//     +----------+-----+-----+-----+-----+-----------+-----------+
//     |  magic   | ver | esz | idm | 0   | capacity  |   count   |
//     +----------+-----+-----+-----+-----+-----------+-----------+
//
//     magic "BIDCSNAP"; ver: format version; esz: bytes per record; idm: longest build ID;
//     capacity: the saved cache's capacity; count: records that follow.
//
//   then `count` records of ENTRY_SIZE bytes, the core's entry record byte for byte (drawn in
//   src/layout.ts), its spare bytes written as zero:
//
//     len: 1..BUILD_ID_MAX, the id's bytes past len are zero; ref: the CLOCK reference bit (0 or 1).
//
//   then the CRC-32 (IEEE) of every byte before it, u32.

// crc-32 (SheetJS): synchronous, dependency-free and browser-ready, unlike hash-wasm's async-initialised CRC.
import CRC32 from "crc-32";
import { instance, integer } from "./check.js";
import { describe } from "./describe.js";
import { BUILD_ID_MAX, ENTRY_SIZE, ID_OFFSET, LEN_OFFSET, REF_OFFSET, SPARE_OFFSET } from "./layout.js";

/** The format version this library writes and reads. */
export const SNAPSHOT_VERSION = 1;

const MAGIC = "BIDCSNAP";
const HEADER_SIZE = 24;
const CHECKSUM_SIZE = 4;
/** Bytes per snapshot record: a record is the core's entry, so this is its `ENTRY_SIZE`. */
export const SNAPSHOT_ENTRY_SIZE = ENTRY_SIZE;

/** Why a snapshot was refused; see docs/errors.md. */
export type SnapshotErrorCode =
  /** Shorter than its header or than the records its header announces. */
  | "TRUNCATED"
  /** Bytes follow the checksum. */
  | "TRAILING_BYTES"
  /** Does not start with the snapshot magic: not a snapshot. */
  | "BAD_MAGIC"
  /** Written by a format version this library does not read. */
  | "UNSUPPORTED_VERSION"
  /** Entry size or longest build ID differ from this library's. */
  | "LAYOUT_MISMATCH"
  /** Capacity or count impossible (zero, over the limit, more entries than capacity). */
  | "BAD_HEADER"
  /** The stored CRC-32 does not match the bytes. */
  | "CHECKSUM_MISMATCH"
  /** A record with a bad length, non-zero padding or a reference bit other than 0 or 1. */
  | "BAD_ENTRY"
  /** Two records with the same key. */
  | "DUPLICATE_KEY";

/** A snapshot that cannot be restored; `code` says why, the message names the bad value. */
export class SnapshotError extends Error {
  /** Always "SnapshotError", so the error can be told apart after serialisation. */
  override name = "SnapshotError";
  /** The class of fault, stable across releases. */
  readonly code: SnapshotErrorCode;
  constructor(code: SnapshotErrorCode, message: string) {
    super(`snapshot refused (${code}): ${message}`);
    this.code = code;
  }
}

/** A snapshot that passed every check but the key-uniqueness one (done while restoring). */
export interface DecodedSnapshot {
  /** Capacity of the cache that was saved. */
  capacity: number;
  /** Records in `records`. */
  count: number;
  /** `count` records of {@link SNAPSHOT_ENTRY_SIZE} bytes, a view into the decoded bytes. */
  records: Uint8Array;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checksum(bytes: Uint8Array): number {
  return CRC32.buf(bytes) >>> 0;
}

const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, "0")}`;

/**
 * Encodes a snapshot of a cache of `capacity` holding the entry records in `records`
 * (a multiple of {@link SNAPSHOT_ENTRY_SIZE} bytes, copied; its spare bytes are written as zero).
 * @internal Called by `BuildIdCache.snapshot`.
 */
export function encodeSnapshot(capacity: number, records: Uint8Array): Uint8Array {
  const count = records.length / SNAPSHOT_ENTRY_SIZE;
  const out = new Uint8Array(HEADER_SIZE + records.length + CHECKSUM_SIZE);
  const header = view(out);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  header.setUint16(8, SNAPSHOT_VERSION, true);
  header.setUint16(10, SNAPSHOT_ENTRY_SIZE, true);
  header.setUint16(12, BUILD_ID_MAX, true);
  header.setUint32(16, capacity, true);
  header.setUint32(20, count, true);
  out.set(records, HEADER_SIZE);
  for (let at = HEADER_SIZE; at < HEADER_SIZE + records.length; at += SNAPSHOT_ENTRY_SIZE) {
    out.fill(0, at + SPARE_OFFSET, at + SNAPSHOT_ENTRY_SIZE);
  }
  const body = out.length - CHECKSUM_SIZE;
  header.setUint32(body, checksum(out.subarray(0, body)), true);
  return out;
}

function checkRecord(records: Uint8Array, i: number): void {
  const at = i * SNAPSHOT_ENTRY_SIZE;
  const len = records[at + LEN_OFFSET]!;
  const bad = (what: string) => new SnapshotError("BAD_ENTRY", `entry ${i}: ${what}`);
  if (len < 1 || len > BUILD_ID_MAX) throw bad(`build ID length ${len} is not 1 to ${BUILD_ID_MAX}`);
  for (let b = len; b < BUILD_ID_MAX; b++) {
    if (records[at + ID_OFFSET + b] !== 0) throw bad(`build ID byte ${b} is past its length ${len} but not zero`);
  }
  const ref = records[at + REF_OFFSET]!;
  if (ref > 1) throw bad(`reference bit ${ref} is not 0 or 1`);
  for (let b = SPARE_OFFSET; b < SNAPSHOT_ENTRY_SIZE; b++) {
    if (records[at + b] !== 0) throw bad("reserved bytes are not zero");
  }
}

/**
 * Checks a snapshot completely (magic, version, layout, header, length, checksum, every record)
 * and returns its records without copying them. Keys are checked distinct when restored.
 * @param maxCapacity the largest capacity the reader accepts.
 * @throws TypeError when `bytes` is not a Uint8Array; {@link SnapshotError} for every fault.
 */
export function decodeSnapshot(bytes: Uint8Array, maxCapacity: number): DecodedSnapshot {
  instance("snapshot", bytes, Uint8Array);
  integer("maxCapacity", maxCapacity, 1);
  if (bytes.length < HEADER_SIZE) {
    throw new SnapshotError("TRUNCATED", `${bytes.length} bytes, shorter than the ${HEADER_SIZE}-byte header`);
  }
  const magic = String.fromCharCode(...bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) throw new SnapshotError("BAD_MAGIC", `starts with ${describe(magic)}, not ${describe(MAGIC)}`);
  const header = view(bytes);
  const version = header.getUint16(8, true);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(
      "UNSUPPORTED_VERSION",
      `version ${version}; this library reads version ${SNAPSHOT_VERSION}`,
    );
  }
  const entrySize = header.getUint16(10, true);
  const buildIdMax = header.getUint16(12, true);
  if (entrySize !== SNAPSHOT_ENTRY_SIZE || buildIdMax !== BUILD_ID_MAX || header.getUint16(14, true) !== 0) {
    throw new SnapshotError(
      "LAYOUT_MISMATCH",
      `entry size ${entrySize}, build ID max ${buildIdMax}, flags ${header.getUint16(14, true)}; ` +
        `this library uses ${SNAPSHOT_ENTRY_SIZE}, ${BUILD_ID_MAX}, 0`,
    );
  }
  const capacity = header.getUint32(16, true);
  const count = header.getUint32(20, true);
  if (capacity < 1 || capacity > maxCapacity) {
    throw new SnapshotError("BAD_HEADER", `capacity ${capacity} is not 1 to ${maxCapacity}`);
  }
  if (count > capacity) throw new SnapshotError("BAD_HEADER", `count ${count} exceeds capacity ${capacity}`);
  const body = HEADER_SIZE + count * SNAPSHOT_ENTRY_SIZE;
  if (bytes.length < body + CHECKSUM_SIZE) {
    throw new SnapshotError("TRUNCATED", `${bytes.length} bytes, but ${count} entries need ${body + CHECKSUM_SIZE}`);
  }
  if (bytes.length > body + CHECKSUM_SIZE) {
    throw new SnapshotError("TRAILING_BYTES", `${bytes.length - body - CHECKSUM_SIZE} bytes after the checksum`);
  }
  const stored = header.getUint32(body, true);
  const computed = checksum(bytes.subarray(0, body));
  if (stored !== computed) {
    throw new SnapshotError("CHECKSUM_MISMATCH", `stored CRC-32 ${hex32(stored)}, computed ${hex32(computed)}`);
  }
  const records = bytes.subarray(HEADER_SIZE, body);
  for (let i = 0; i < count; i++) checkRecord(records, i);
  return { capacity, count, records };
}
