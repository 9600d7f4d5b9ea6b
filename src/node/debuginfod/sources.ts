/**
 * Which files `/buildid/ID/source/PATH` may serve, by elfutils' rule: only a path the build ID's
 * debuginfo names in its DWARF line tables ({@link readSourceNames}), never an arbitrary one. On top
 * of elfutils, a root is a boundary: the file is the one at the name itself (canonicalised as elfutils
 * does), served only when it lies under a root with no symbolic link on the way from the root down,
 * which elfutils' `realpath` would have followed anywhere.
 *
 * Two steps, as elfutils splits them. When the index reads a debuginfo file, {@link SourceFiles.record}
 * notes each named source that exists under a root with its stamp (device, inode, size, mtime, ctime),
 * checking a DWARF 5 MD5 when the table gives one. When a request comes, {@link matchSource} finds the
 * record by the requested path and {@link SourceFiles.open} opens the file only if it is still the one
 * recorded: elfutils compares the source's mtime with the one it recorded at the scan, never with the
 * debuginfo's, so a source edited after its debuginfo was indexed is not served for it.
 *
 * @packageDocumentation
 */
import { createHash } from "node:crypto";
import { type BigIntStats, closeSync, readSync, realpathSync } from "node:fs";
import { openUnderRootSync, ProcfsMissingError, relativeNames } from "../files/under-root.js";
import type { SourceNames } from "./dwarf-lines.js";

/**
 * elfutils' `canon_pathname`: RFC 3986's removal of dot segments (5.2.4) plus `//` -> `/`, on the
 * text alone (symbolic links play no part). As elfutils, a trailing `/..` or `/.` is dropped without
 * removing a segment: these are file names, never directories.
 */
export function canonicalSourcePath(input: string): string {
  let i = input;
  let o = "";
  while (i.length !== 0) {
    if (i.startsWith("../")) i = i.slice(3);
    else if (i.startsWith("./")) i = i.slice(2);
    else if (i.startsWith("/./")) i = i.slice(2);
    else if (i === "/.") i = "";
    else if (i.startsWith("/../")) {
      i = i.slice(3);
      const slash = o.lastIndexOf("/");
      o = slash < 0 ? "" : o.slice(0, slash);
    } else if (i === "/..") i = "";
    else if (i === "." || i === "..") i = "";
    else if (i.startsWith("//")) i = i.slice(1);
    else {
      const next = i.indexOf("/", i[0] === "/" ? 1 : 0);
      o += next < 0 ? i : i.slice(0, next);
      i = next < 0 ? "" : i.slice(next);
    }
  }
  return o;
}

/** A `/source` request that cannot name a file. */
export class SourceRequestError extends Error {
  /** Always "SourceRequestError", so the error can be told apart after serialisation. */
  override readonly name = "SourceRequestError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EINVAL";
  /** The path as requested. */
  readonly path: string;
  /** @param path the path as requested; @param why what is wrong with it. */
  constructor(path: string, why: string) {
    super(`source path ${JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path)} ${why}`);
    this.path = path;
  }
}

/** Longest source path a request may name, in bytes: `PATH_MAX` with its NUL. */
const MAX_REQUEST_PATH = 4095;

/**
 * The path a request names, from the percent-decoded segments after `/buildid/ID/source`, as
 * elfutils takes it: `/` and the segments joined by `/` (a `%2F` inside a segment is a `/` too, as
 * libmicrohttpd decodes the whole path).
 * @throws {@link SourceRequestError} with no segments, a NUL, or a path of `PATH_MAX` bytes or more.
 */
export function sourceRequestPath(segments: readonly string[]): string {
  const path = `/${segments.join("/")}`;
  if (segments.length === 0) throw new SourceRequestError("", "is empty: /buildid/ID/source needs /PATH");
  if (path.includes("\0")) throw new SourceRequestError(path, "holds a NUL byte");
  if (Buffer.byteLength(path) > MAX_REQUEST_PATH)
    throw new SourceRequestError(path, `is longer than ${MAX_REQUEST_PATH} bytes, so names no file`);
  return path;
}

/** A source file noted for a build ID: its canonical path and the stamp it had when noted. */
export interface SourceRecord {
  /** Canonical absolute path ({@link canonicalSourcePath} of the DWARF's name): the key requests match, and the file's path. */
  name: string;
  /** `st_dev` when noted. */
  dev: bigint;
  /** `st_ino` when noted. */
  ino: bigint;
  /** `st_size` when noted. */
  size: bigint;
  /** Modification time in nanoseconds when noted. */
  mtimeNs: bigint;
  /** Status-change time in nanoseconds when noted. */
  ctimeNs: bigint;
}

/**
 * The record a request for `path` matches, as elfutils' query matches `artifactsrc IN (path,
 * canon(path))`: the requested path as given, or canonicalised.
 */
export function matchSource(records: ReadonlyMap<string, SourceRecord>, path: string): SourceRecord | undefined {
  return records.get(path) ?? records.get(canonicalSourcePath(path));
}

/** An open source file, checked. */
export interface OpenedSource {
  /** Open descriptor; the caller closes it. */
  fd: number;
  /** `fstat` of the descriptor. */
  stat: BigIntStats;
  /** The file's path. */
  path: string;
}

/** Options for {@link SourceFiles}. */
export interface SourceFilesOptions {
  /** Largest source file read to check a DWARF 5 MD5, in bytes (a larger one is not noted). Default 64 MiB. */
  maxHashBytes?: number;
}

function sameStamp(st: BigIntStats, r: SourceRecord): boolean {
  return (
    st.dev === r.dev && st.ino === r.ino && st.size === r.size && st.mtimeNs === r.mtimeNs && st.ctimeNs === r.ctimeNs
  );
}

/** Source files under a set of roots: which names map to a file, and opening them without leaving a root. */
export class SourceFiles {
  /** The roots, as real paths (symbolic links in them resolved once, here). */
  readonly roots: readonly string[];
  private readonly maxHashBytes: number;

  /**
   * @param roots directories whose files may be served; each is resolved to its real path now, and one
   *   that does not exist is left out.
   * @throws TypeError for a root that is not an absolute path.
   */
  constructor(roots: readonly string[], options: SourceFilesOptions = {}) {
    const real: string[] = [];
    for (const root of roots) {
      if (typeof root !== "string" || !root.startsWith("/"))
        throw new TypeError(`a root must be an absolute path, got ${JSON.stringify(root)}`);
      try {
        real.push(realpathSync(root));
      } catch {}
    }
    this.roots = real;
    this.maxHashBytes = options.maxHashBytes ?? 64 << 20;
  }

  /** The canonical path of a DWARF source name when it lies under a root (no check of the file system); else `undefined`. */
  within(name: string): string | undefined {
    const path = canonicalSourcePath(name);
    if (!path.startsWith("/")) return undefined;
    return this.roots.some((root) => root === "/" || path.startsWith(`${root}/`)) ? path : undefined;
  }

  /**
   * Opens `path` (canonical) from the innermost root holding it, one component at a time and never
   * through a symbolic link (files/under-root.ts, as the server opens every file it serves), and
   * checks it on the handle: `undefined` when the path is under no root, absent, reached through a
   * link, or not a regular file (a FIFO is opened without blocking and never read).
   * @throws ProcfsMissingError without procfs at `/proc`, which opening under a root needs.
   */
  openWithin(path: string): OpenedSource | undefined {
    if (this.within(path) !== path) return undefined;
    const root = this.roots.filter((r) => relativeNames(r, path) !== undefined).sort((a, b) => b.length - a.length)[0];
    if (root === undefined) return undefined;
    try {
      const { fd, stat } = openUnderRootSync(root, path);
      return { fd, stat, path };
    } catch (error) {
      if (error instanceof ProcfsMissingError) throw error;
      return undefined;
    }
  }

  /**
   * Notes each source a debuginfo's DWARF names that is a regular file under a root now, reached
   * without a link, whose MD5 is one the DWARF gives for it (when it gives any): what the index keeps
   * for the build ID, keyed by canonical name. Names outside the roots cost no system call.
   */
  record(sources: SourceNames["sources"]): Map<string, SourceRecord> {
    const records = new Map<string, SourceRecord>();
    for (const [name, md5] of sources) {
      const path = this.within(name);
      if (path === undefined || records.has(path)) continue;
      const opened = this.openWithin(path);
      if (!opened) continue;
      try {
        const { stat } = opened;
        if (md5.length > 0 && !md5.includes(this.md5(opened) ?? "")) continue;
        records.set(path, {
          name: path,
          dev: stat.dev,
          ino: stat.ino,
          size: stat.size,
          mtimeNs: stat.mtimeNs,
          ctimeNs: stat.ctimeNs,
        });
      } finally {
        closeSync(opened.fd);
      }
    }
    return records;
  }

  /**
   * Opens a recorded source if it is still the file recorded: under a root, reached without a link,
   * the same device, inode, size, mtime and ctime. `undefined` otherwise (the caller answers 404).
   */
  open(record: SourceRecord): OpenedSource | undefined {
    const opened = this.openWithin(record.name);
    if (opened && !sameStamp(opened.stat, record)) {
      closeSync(opened.fd);
      return undefined;
    }
    return opened;
  }

  // The file's MD5 as lowercase hex, read to the size fstat gave; undefined past maxHashBytes or if it shrank.
  private md5(opened: OpenedSource): string | undefined {
    const size = Number(opened.stat.size);
    if (size > this.maxHashBytes) return undefined;
    const hash = createHash("md5");
    const chunk = new Uint8Array(Math.min(size, 1 << 20) || 1);
    for (let at = 0; at < size; ) {
      const n = readSync(opened.fd, chunk, 0, Math.min(chunk.length, size - at), at);
      if (n === 0) return undefined;
      hash.update(chunk.subarray(0, n));
      at += n;
    }
    return hash.digest("hex");
  }
}
