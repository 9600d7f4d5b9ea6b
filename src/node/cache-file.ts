/**
 * Cache files treated as a database treats its files: read only when they are regular files
 * (through `safe-open.ts`), replaced only atomically (temporary file in the target's folder,
 * fsync, rename, fsync of the folder) with the old file's mode and owner, a symbolic link
 * followed to its target (the link stays a link), every error naming its path, and writers of
 * one file serialised by a lock file.
 *
 * A save is written once, as a generator of the steps that may wait (an fsync, a sleep while
 * another process holds the lock): {@link runSync} drives it in `process.on("exit")`, where
 * nothing async runs, and {@link runAsync} everywhere else, so the event loop never waits on a disk.
 *
 * @packageDocumentation
 */
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsync,
  fsyncSync,
  lstatSync,
  openSync,
  readlinkSync,
  renameSync,
  type Stats,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { string } from "../check.js";
import { describe } from "../describe.js";
import { readProcessIdentity, startedAfter } from "./procfs/proc-stat.js";
import { fileKind, NotRegularFileError, readRegularFileSync } from "./safe-open.js";

/** An I/O error naming its path; `code` is the system's (`ENOSPC`, `EACCES`, …). */
export class PathError extends Error {
  /** Always "PathError", so the error can be told apart after serialisation. */
  override name = "PathError";
  /** The system's error code, or `ELOCKED` when the lock could not be taken in time. */
  readonly code: string;
  /**
   * @param path The file the error is about.
   * @param cause The system's error (its message follows the path).
   */
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    // Node's message ends with the call and the path it was given (a temporary's, say): `path` names it already.
    const text = cause instanceof Error ? cause.message.replace(/, \w+ '.*'$/s, "") : String(cause);
    super(`${path}: ${text}`, { cause });
    this.code = (cause as NodeJS.ErrnoException)?.code ?? "EIO";
  }
}

/**
 * A cache file that exists but could not be read or understood (corrupt, another format version,
 * more entries than the capacity, unreadable, not a regular file): it was left as it was.
 */
export class CacheFileRefusedError extends Error {
  /** Always "CacheFileRefusedError", so the error can be told apart after serialisation. */
  override name = "CacheFileRefusedError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EREFUSED";
  /**
   * @param path The cache file.
   * @param cause Why it could not be used.
   */
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    const why = cause instanceof Error ? cause.message : String(cause);
    const replace = cause instanceof NotRegularFileError ? "" : " (reset: true or --reset-cache replaces it)";
    super(`cannot use cache file ${path}: ${why}; it was left as it was${replace}`, { cause });
  }
}

/** A cache file's path that names no file: the empty string. Nothing was read or written. */
export class CacheFilePathError extends RangeError {
  /** Always "CacheFilePathError", so the error can be told apart after serialisation. */
  override name = "CacheFilePathError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EINVAL";
  /**
   * @param what What the path was given as: "cache file", or the option that gave it ("--cache-file").
   * @param path The value given.
   */
  constructor(
    what: string,
    readonly path: string,
  ) {
    super(`${what} must be a path, got ${describe(path)}`);
  }
}

/**
 * `path` as a cache file's path, checked before it is used: a string that names a file.
 * @param what How the message names it; default "cache file".
 * @throws TypeError when it is not a string, {@link CacheFilePathError} when it is empty (which
 *   `path.resolve` would turn into the current folder).
 */
export function cacheFilePath(path: unknown, what = "cache file"): string {
  const checked = string(what, path);
  if (checked === "") throw new CacheFilePathError(what, checked);
  return checked;
}

const NAME_MAX = 255;
const MAX_LINKS = 40;
let temporaries = 0;

function named<T>(path: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof PathError || error instanceof NotRegularFileError) throw error;
    throw new PathError(path, error);
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PathError(path, error);
  }
}

/**
 * The path a cache file's writes go to: `path` with every symbolic link along its last component
 * followed. Every write, lock and companion file goes through it.
 * @throws CacheFilePathError for an empty path, PathError for a loop of links or an I/O error.
 */
export function cacheFileTarget(path: string): string {
  let at = resolve(cacheFilePath(path));
  for (let links = 0; links < MAX_LINKS; links++) {
    if (lstatOrUndefined(at)?.isSymbolicLink() !== true) return at;
    at = resolve(
      dirname(at),
      named(at, () => readlinkSync(at)),
    );
  }
  throw new PathError(path, Object.assign(new Error("too many levels of symbolic links"), { code: "ELOOP" }));
}

// `name` cut (by whole characters) so that `name + suffix` fits in NAME_MAX bytes.
function fitName(name: string, suffix: string): string {
  const room = NAME_MAX - Buffer.byteLength(suffix);
  let cut = name;
  while (Buffer.byteLength(cut) > room) cut = [...cut].slice(0, -1).join("");
  return cut + suffix;
}

/**
 * The bytes of the cache file at `path`, or `undefined` when there is none (a dangling symbolic
 * link included). Only a regular file is read; anything else is refused unread.
 * @throws NotRegularFileError (a FIFO, device, directory…), PathError for any other I/O error.
 */
export function readCacheFileSync(path: string): Uint8Array | undefined {
  try {
    return readRegularFileSync(path).bytes;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (error instanceof NotRegularFileError) throw error;
    throw new PathError(path, error);
  }
}

/**
 * Replaces the file at `path` (or, for a symbolic link, its target) with `bytes`, atomically and
 * durably. The new file keeps the old one's mode, and its owner where this process may set it; a
 * new file gets mode 0644 less the umask. A crash leaves the old or the new file, and perhaps a
 * `.NAME.PID-N.tmp` beside it that is never read.
 * @throws NotRegularFileError when the target exists and is not a regular file (nothing is
 *   written), PathError naming the path for any I/O error (the old file is then intact).
 */
export function replaceFileSync(path: string, bytes: Uint8Array): void {
  runSync(replaceFile(path, bytes));
}

/** {@link replaceFileSync} as steps for {@link runSync} or {@link runAsync}. */
export function* replaceFile(path: string, bytes: Uint8Array): Steps<void> {
  const target = cacheFileTarget(path);
  const old = lstatOrUndefined(target);
  if (old !== undefined && !old.isFile()) throw new NotRegularFileError(path, fileKind(old));
  const folder = dirname(target);
  let temporary: string;
  let fd: number;
  try {
    [temporary, fd] = openTemporary(folder, basename(target));
  } catch (error) {
    throw new PathError(path, error);
  }
  try {
    try {
      if (old !== undefined) keepOwnerAndMode(fd, old);
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      yield { fsync: fd };
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, target);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {}
    throw new PathError(path, error);
  }
  if (process.platform === "win32") return; // directories cannot be opened for fsync there
  try {
    const fd = openSync(folder, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      yield { fsync: fd };
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new PathError(folder, error);
  }
}

/** Temporaries tried before a save gives up on EEXIST. */
const TEMPORARY_TRIES = 100;

/**
 * Creates a new temporary in `folder` for `name`: one a killed process with this PID left behind is passed
 * over, never removed (a process in another PID namespace may be writing it).
 */
function openTemporary(folder: string, name: string): [string, number] {
  for (let tries = 1; ; tries++) {
    const temporary = join(folder, fitName(`.${name}`, `.${process.pid}-${temporaries++}.tmp`));
    try {
      return [temporary, openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)];
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || tries === TEMPORARY_TRIES) throw error;
    }
  }
}

function keepOwnerAndMode(fd: number, old: Stats): void {
  const now = fstatSync(fd);
  if (now.uid !== old.uid || now.gid !== old.gid) {
    try {
      fchownSync(fd, old.uid, old.gid);
    } catch (error) {
      if (!["EPERM", "EINVAL"].includes((error as NodeJS.ErrnoException).code ?? "")) throw error;
    }
  }
  fchmodSync(fd, old.mode & 0o7777);
}

/** Where a save's steps wait: an fsync of a descriptor, or a sleep while another process holds the lock. */
export type Pause = { fsync: number } | { sleepMs: number };

/** The steps of a save, yielding where it waits; {@link runSync} or {@link runAsync} drives them. */
export type Steps<T> = Generator<Pause, T, void>;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const fsyncAsync = promisify(fsync);

/** Runs `steps` to the end with blocking waits; returns what they return. */
export function runSync<T>(steps: Steps<T>): T {
  for (let next = steps.next(); ; ) {
    if (next.done) return next.value;
    const pause = next.value;
    try {
      if ("fsync" in pause) fsyncSync(pause.fsync);
      else Atomics.wait(sleeper, 0, 0, pause.sleepMs);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next();
  }
}

/** Runs `steps` to the end, waiting without blocking the event loop. */
export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  for (let next = steps.next(); ; ) {
    if (next.done) return next.value;
    const pause = next.value;
    try {
      if ("fsync" in pause) await fsyncAsync(pause.fsync);
      else await new Promise((resolve) => setTimeout(resolve, pause.sleepMs));
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next();
  }
}

/** Options for {@link lockCacheFileSync}. */
export interface LockOptions {
  /** Give up after this long waiting for another holder; default 30 s. */
  timeoutMs?: number;
  /** A lock file older than this is stale whoever holds it; default 60 s (saves take milliseconds). */
  staleMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

// A process at `pid` that has exited unreaped, or started after `writtenMs`, is not the lock's holder.
function notHolder(pid: number, writtenMs: number): boolean {
  try {
    const identity = readProcessIdentity(pid);
    return identity.exited || startedAfter(identity, writtenMs);
  } catch {
    return false;
  }
}

// The lock's holder is gone (its pid is not alive, or names another process now), is this process (whose
// save an exit cut short: saves of one file within a process are serialised), or the lock is older than any save takes.
function stale(lock: string, staleMs: number): Stats | undefined {
  const st = lstatOrUndefined(lock);
  if (st === undefined) return undefined;
  let pid = Number.NaN;
  try {
    pid = Number(new TextDecoder().decode(readRegularFileSync(lock, { maxBytes: 64 }).bytes).trim());
  } catch {}
  const dead =
    Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || !alive(pid) || notHolder(pid, st.mtimeMs));
  return dead || Date.now() - st.mtimeMs > staleMs ? st : undefined;
}

/**
 * Takes the lock of the cache file at `path`: `TARGET.lock`, created with `O_EXCL` and holding
 * this process's pid. A lock whose pid is not alive, is a zombie or a process started after the lock, or is this process's, or older than
 * `staleMs`, is removed (checked again by inode just before). Returns the function that releases it.
 * @throws PathError `ELOCKED` naming the lock file after `timeoutMs`, or for any I/O error.
 */
export function lockCacheFileSync(path: string, options: LockOptions = {}): () => void {
  return runSync(lockCacheFile(path, options));
}

/** {@link lockCacheFileSync} as steps for {@link runSync} or {@link runAsync}. */
export function* lockCacheFile(path: string, options: LockOptions = {}): Steps<() => void> {
  const { timeoutMs = 30_000, staleMs = 60_000 } = options;
  const lock = `${cacheFileTarget(path)}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      const fd = openSync(
        lock,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o644,
      );
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      const mine = lstatSync(lock).ino;
      return () => {
        if (lstatOrUndefined(lock)?.ino === mine) named(lock, () => unlinkSync(lock));
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new PathError(lock, error);
    }
    const old = stale(lock, staleMs);
    if (old !== undefined && lstatOrUndefined(lock)?.ino === old.ino) {
      try {
        unlinkSync(lock);
      } catch {}
      continue;
    }
    if (Date.now() > deadline) {
      const held = Object.assign(new Error(`held by another process for over ${timeoutMs} ms`), { code: "ELOCKED" });
      throw new PathError(lock, held);
    }
    yield { sleepMs: wait + Math.random() * wait };
  }
}
