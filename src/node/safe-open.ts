/**
 * The one way this package opens a path that comes from outside (a profile, a `/proc` entry, a
 * cache file, a scanned root): non-blocking, then checked on the handle. A FIFO, a device node or
 * a directory opens without blocking and is refused by `fstat` before any read; identity and size
 * come from the open handle, never from an earlier `stat` of the path; reads stop at the size.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { integer, u64 } from "../check.js";
import { describe } from "../describe.js";
import { type FileIdentity, sameIdentity } from "./identity.js";

/** Flags of every open of a file from outside: read-only, non-blocking (a FIFO or device opens without waiting), never a controlling terminal. */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** What kind of file a path named, as error messages say it. */
export function fileKind(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSymbolicLink(): boolean;
}): string {
  if (st.isFile()) return "regular file";
  if (st.isDirectory()) return "directory";
  if (st.isFIFO()) return "FIFO";
  if (st.isSocket()) return "socket";
  if (st.isCharacterDevice()) return "character device";
  if (st.isBlockDevice()) return "block device";
  if (st.isSymbolicLink()) return "symbolic link";
  return "special file";
}

/** A path that names something other than a regular file; nothing was read from it. */
export class NotRegularFileError extends Error {
  /** Always "NotRegularFileError", so the error can be told apart after serialisation. */
  override name = "NotRegularFileError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ENOTREG";
  /**
   * @param path The path as given.
   * @param kind What it named: "FIFO", "character device", "directory", ….
   */
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path} is a ${kind}, not a regular file`);
  }
}

/** A path whose file is not the one expected: another (device, inode) than the caller asked for. */
export class FileChangedError extends Error {
  /** Always "FileChangedError", so the error can be told apart after serialisation. */
  override name = "FileChangedError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "ECHANGED";
  /** @param path The path as given. */
  constructor(readonly path: string) {
    super(`${path} is another file than the one expected (device and inode differ)`);
  }
}

/** A regular file larger than the caller allows; nothing was read from it. */
export class FileTooLargeError extends Error {
  /** Always "FileTooLargeError", so the error can be told apart after serialisation. */
  override name = "FileTooLargeError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EFBIG";
  /**
   * @param path The path as given.
   * @param size Its size in bytes.
   * @param limit The most bytes the caller allows.
   */
  constructor(
    readonly path: string,
    readonly size: bigint,
    readonly limit: number,
  ) {
    super(`${path} is ${size} bytes, more than the limit of ${limit}`);
  }
}

/** Options for {@link openRegular}. */
export interface OpenRegularOptions {
  /** Refuse the file unless its (device, inode), read from the handle, are these. */
  expect?: FileIdentity;
}

/** An open regular file and its `fstat`, taken on the handle. */
export interface OpenedFile {
  /** The open handle; the caller closes it. */
  handle: FileHandle;
  /** `fstat` of the handle, with bigint fields. */
  stat: BigIntStats;
}

// Identity first: a caller that names the file it wants learns it got another before learning its kind.
function check(path: string, st: BigIntStats, options: OpenRegularOptions): Error | undefined {
  if (options.expect !== undefined && !sameIdentity(st, options.expect)) return new FileChangedError(path);
  if (!st.isFile()) return new NotRegularFileError(path, fileKind(st));
  return undefined;
}

/**
 * Opens `path` for reading without blocking and returns the handle with its `fstat`.
 * @throws FileChangedError when `options.expect` does not match, then NotRegularFileError for
 *   anything but a regular file, and Node's errors (`ENOENT`, `EACCES`, …) when it cannot be
 *   opened; the handle is closed in every such case.
 */
export async function openRegular(path: string, options: OpenRegularOptions = {}): Promise<OpenedFile> {
  // Named here, not imported: a command that only reads with blocking calls never loads fs/promises (4-6 ms of a start on Node 22 and 24).
  const handle = await process.getBuiltinModule("node:fs/promises").open(path, READ_FLAGS);
  try {
    const st = await handle.stat({ bigint: true });
    const problem = check(path, st, options);
    if (problem) throw problem;
    return { handle, stat: st };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** {@link openRegular} with blocking calls; returns a descriptor the caller closes. */
export function openRegularSync(path: string, options: OpenRegularOptions = {}): { fd: number; stat: BigIntStats } {
  return checkOpenedSync(path, openSync(path, READ_FLAGS), options);
}

/**
 * The check of {@link openRegularSync} on a descriptor opened from `path` with {@link READ_FLAGS}
 * by other means (under a root: files/under-root.ts). Closes `fd` when it throws.
 * @throws as {@link openRegularSync}.
 */
export function checkOpenedSync(
  path: string,
  fd: number,
  options: OpenRegularOptions = {},
): { fd: number; stat: BigIntStats } {
  try {
    const st = fstatSync(fd, { bigint: true });
    const problem = check(path, st, options);
    if (problem) throw problem;
    return { fd, stat: st };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** Options for {@link readRegularFile}. */
export interface ReadRegularOptions extends OpenRegularOptions {
  /** Most bytes to accept; a larger file is refused unread. Default 256 MiB. */
  maxBytes?: number;
  /** Read to end of file, not to the size `fstat` gives: for procfs files, whose size is 0. Still bounded by `maxBytes`. */
  untilEof?: boolean;
  /** Read only this range (e.g. of `/proc/PID/mem`, whose size is 0): at most `length` bytes from `position`, `length` at most `maxBytes`. */
  range?: {
    /** Offset of the first byte, below 2^53. */
    position: bigint;
    /** Bytes wanted; fewer come back at end of file. */
    length: number;
  };
}

/** Default {@link ReadRegularOptions.maxBytes}. */
export const DEFAULT_READ_LIMIT = 256 * 1024 * 1024;

const CHUNK = 64 * 1024;

// Reads in growing chunks until a read returns 0; one byte past `limit` is refused.
async function readToEof(
  path: string,
  limit: number,
  read: (b: Uint8Array, at: number) => Promise<number>,
): Promise<Uint8Array> {
  let bytes = new Uint8Array(Math.min(CHUNK, limit + 1));
  let got = 0;
  for (;;) {
    if (got === bytes.length) {
      if (got > limit) throw new FileTooLargeError(path, BigInt(got), limit);
      const bigger = new Uint8Array(Math.min(bytes.length * 2, limit + 1));
      bigger.set(bytes);
      bytes = bigger;
    }
    const n = await read(bytes, got);
    if (n === 0) return bytes.subarray(0, got);
    got += n;
  }
}

function readToEofSync(path: string, limit: number, read: (b: Uint8Array, at: number) => number): Uint8Array {
  let bytes = new Uint8Array(Math.min(CHUNK, limit + 1));
  let got = 0;
  for (;;) {
    if (got === bytes.length) {
      if (got > limit) throw new FileTooLargeError(path, BigInt(got), limit);
      const bigger = new Uint8Array(Math.min(bytes.length * 2, limit + 1));
      bigger.set(bytes);
      bytes = bigger;
    }
    const n = read(bytes, got);
    if (n === 0) return bytes.subarray(0, got);
    got += n;
  }
}

function checkRange(range: ReadRegularOptions["range"], limit: number): void {
  if (range === undefined) return;
  u64("range.position", range.position);
  if (range.position > BigInt(Number.MAX_SAFE_INTEGER))
    throw new RangeError(`range.position must be below 2^53, got ${describe(range.position)}`);
  integer("range.length", range.length, 0, limit);
}

/**
 * The whole of the regular file at `path`, read through {@link openRegular}: at most its size at
 * open (a file that grows meanwhile is cut there) and at most `maxBytes`.
 * @throws as {@link openRegular}, and FileTooLargeError past `maxBytes`.
 */
export async function readRegularFile(
  path: string,
  options: ReadRegularOptions = {},
): Promise<{ bytes: Uint8Array; stat: BigIntStats }> {
  const limit = options.maxBytes ?? DEFAULT_READ_LIMIT;
  checkRange(options.range, limit);
  const { handle, stat } = await openRegular(path, options);
  try {
    if (options.range) {
      const bytes = new Uint8Array(options.range.length);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, Number(options.range.position));
      return { bytes: bytes.subarray(0, bytesRead), stat };
    }
    if (options.untilEof)
      return {
        bytes: await readToEof(path, limit, (b, at) => handle.read(b, at, b.length - at, at).then((r) => r.bytesRead)),
        stat,
      };
    if (stat.size > BigInt(limit)) throw new FileTooLargeError(path, stat.size, limit);
    const bytes = new Uint8Array(Number(stat.size));
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await handle.read(bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { bytes: got === bytes.length ? bytes : bytes.subarray(0, got), stat };
  } finally {
    await handle.close();
  }
}

/** {@link readRegularFile} with blocking calls. */
export function readRegularFileSync(
  path: string,
  options: ReadRegularOptions = {},
): { bytes: Uint8Array; stat: BigIntStats } {
  const limit = options.maxBytes ?? DEFAULT_READ_LIMIT;
  checkRange(options.range, limit);
  const { fd, stat } = openRegularSync(path, options);
  try {
    if (options.range) {
      const bytes = new Uint8Array(options.range.length);
      const bytesRead = readSync(fd, bytes, 0, bytes.length, Number(options.range.position));
      return { bytes: bytes.subarray(0, bytesRead), stat };
    }
    if (options.untilEof)
      return { bytes: readToEofSync(path, limit, (b, at) => readSync(fd, b, at, b.length - at, at)), stat };
    if (stat.size > BigInt(limit)) throw new FileTooLargeError(path, stat.size, limit);
    const bytes = new Uint8Array(Number(stat.size));
    let got = 0;
    while (got < bytes.length) {
      const bytesRead = readSync(fd, bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return { bytes: got === bytes.length ? bytes : bytes.subarray(0, got), stat };
  } finally {
    closeSync(fd);
  }
}
