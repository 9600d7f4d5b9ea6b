// Index file format, version 1. Every integer is little-endian.
//
//   header: magic "BIDINDX1" (8 bytes) | count u32 (4 bytes)
//
//   then `count` records:
//
//      0     8     16    24      32      40    41    42     44          44+len
//     +-----+-----+-----+-------+-------+-----+-----+------+-----------+-------------+
//     | dev | ino | size| mtime | ctime | kind| len | plen | id (len)  | path (plen) |
//     +-----+-----+-----+-------+-------+-----+-----+------+-----------+-------------+
//
//     mtime, ctime in ns; kind: KIND bits; len: build ID bytes (up to ID_MAX), 0 unless kind has BUILD_ID;
//     plen: UTF-8 bytes of the path.
//
//   then the CRC-32 (IEEE) of every byte before it, u32.
import CRC32 from "crc-32";
import { BUILD_ID_MAX } from "../../layout.js";
import { type FileTable, ID_MAX, idOf, KIND, STAMP_WORDS } from "./file-table.js";

const MAGIC = "BIDINDX1";
const HEADER = MAGIC.length + 4;
const FIXED = STAMP_WORDS * 8 + 4;
const CHECKSUM = 4;
const KNOWN_KINDS = KIND.EXECUTABLE | KIND.DEBUGINFO | KIND.BUILD_ID;

/** Why an index file was refused. */
export type IndexFileErrorCode = "TRUNCATED" | "BAD_MAGIC" | "CHECKSUM_MISMATCH" | "BAD_RECORD" | "TRAILING_BYTES";

/** An index file that cannot be loaded; nothing was changed, the file is left as it is. */
export class IndexFileError extends Error {
  /** Always "IndexFileError", so the error can be told apart after serialisation. */
  override name = "IndexFileError";
  /**
   * @param code The class of fault.
   * @param path The file refused.
   * @param detail What was wrong, with the value.
   */
  constructor(
    readonly code: IndexFileErrorCode,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: index file refused (${code}): ${detail}`);
  }
}

/** The bytes of an index file holding `files`. @internal */
export function encodeIndexFile(files: FileTable): Uint8Array {
  const encoder = new TextEncoder();
  const paths = files.paths.slice(0, files.count).map((p) => encoder.encode(p));
  let total = HEADER + CHECKSUM;
  for (let i = 0; i < files.count; i++) total += FIXED + files.idLengths[i]! + paths[i]!.length;
  const bytes = new Uint8Array(total);
  const v = new DataView(bytes.buffer);
  bytes.set(encoder.encode(MAGIC));
  v.setUint32(MAGIC.length, files.count, true);
  let at = HEADER;
  for (let i = 0; i < files.count; i++) {
    for (let w = 0; w < STAMP_WORDS; w++) v.setBigUint64(at + w * 8, files.stamps[i * STAMP_WORDS + w]!, true);
    at += STAMP_WORDS * 8;
    const len = files.idLengths[i]!;
    const path = paths[i]!;
    if (path.length > 0xffff) throw new RangeError(`path of ${path.length} bytes is too long for an index file`);
    v.setUint8(at, files.kinds[i]!);
    v.setUint8(at + 1, len);
    v.setUint16(at + 2, path.length, true);
    at += 4;
    if (len) bytes.set(idOf(files, i)!, at);
    at += len;
    bytes.set(path, at);
    at += path.length;
  }
  v.setUint32(at, CRC32.buf(bytes.subarray(0, at)) >>> 0, true);
  return bytes;
}

/**
 * The files of the index file `bytes` (read from `path`, named in errors).
 * @throws {@link IndexFileError} naming the first fault. @internal
 */
export function decodeIndexFile(bytes: Uint8Array, path: string): FileTable {
  const fail = (code: IndexFileErrorCode, detail: string): never => {
    throw new IndexFileError(code, path, detail);
  };
  if (bytes.length < HEADER + CHECKSUM) fail("TRUNCATED", `${bytes.length} bytes, shorter than a header`);
  if (new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC)
    fail("BAD_MAGIC", `does not start with ${MAGIC}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - CHECKSUM;
  const stored = v.getUint32(end, true);
  const actual = CRC32.buf(bytes.subarray(0, end)) >>> 0;
  if (stored !== actual)
    fail("CHECKSUM_MISMATCH", `stored CRC 0x${stored.toString(16)}, bytes give 0x${actual.toString(16)}`);
  const count = v.getUint32(MAGIC.length, true);
  if (count > (end - HEADER) / FIXED) fail("TRUNCATED", `count ${count} does not fit in ${bytes.length} bytes`);
  const files: FileTable = {
    count,
    paths: [],
    stamps: new BigUint64Array(count * STAMP_WORDS),
    kinds: new Uint8Array(count),
    ids: new Uint8Array(count * BUILD_ID_MAX),
    idLengths: new Uint8Array(count),
    longIds: new Map(),
  };
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    if (at + FIXED > end) fail("TRUNCATED", `record ${i} at ${at} runs past the end`);
    for (let w = 0; w < STAMP_WORDS; w++) files.stamps[i * STAMP_WORDS + w] = v.getBigUint64(at + w * 8, true);
    at += STAMP_WORDS * 8;
    const kind = v.getUint8(at);
    const len = v.getUint8(at + 1);
    const plen = v.getUint16(at + 2, true);
    at += 4;
    if ((kind & ~KNOWN_KINDS) !== 0) fail("BAD_RECORD", `record ${i} has kind ${kind}`);
    if ((len !== 0) !== ((kind & KIND.BUILD_ID) !== 0) || len > ID_MAX) {
      fail("BAD_RECORD", `record ${i} has build ID length ${len} with kind ${kind}`);
    }
    if (plen === 0 || at + len + plen > end) fail("BAD_RECORD", `record ${i} has path length ${plen}`);
    files.kinds[i] = kind;
    files.idLengths[i] = len;
    files.ids.set(bytes.subarray(at, at + Math.min(len, BUILD_ID_MAX)), i * BUILD_ID_MAX);
    if (len > BUILD_ID_MAX) files.longIds.set(i, bytes.slice(at, at + len));
    at += len;
    try {
      files.paths.push(decoder.decode(bytes.subarray(at, at + plen)));
    } catch {
      fail("BAD_RECORD", `record ${i} has a path that is not UTF-8`);
    }
    at += plen;
  }
  if (at !== end) fail("TRAILING_BYTES", `${end - at} bytes after record ${count - 1}`);
  return files;
}
