/**
 * The debuginfod client cache on disk, laid out as elfutils' client keeps it: `CACHE/ID/executable`,
 * `debuginfo`, `section-NAME` and `sourcePATH` (names escaped as elfutils escapes them), an empty
 * file for a recorded miss, and the `cache_miss_s`, `cache_clean_interval_s` and
 * `max_unused_age_s` settings. Below the cache folder, which the user names and which may be a
 * link, every path is reached through an open handle of its folder (`/proc/self/fd/N/NAME`, the
 * `openat` Node lacks) and opened with `O_NOFOLLOW`: an ID folder or an entry that is a symbolic
 * link is refused, never followed, even when it is swapped in between a check and a use.
 *
 * @packageDocumentation
 */
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  type Stats,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileKind } from "../safe-open.js";
import type { Artifact } from "./artifact.js";

/** What `find` can ask for: the server's artifacts and, from a server only, a `source` file. */
export type ClientArtifact = Artifact | "source";

/** The artifact types `find` takes. */
export const CLIENT_ARTIFACTS: readonly ClientArtifact[] = Object.freeze([
  "executable",
  "debuginfo",
  "section",
  "source",
]);

/** The cache could not be written, or holds a folder it must not write through: the query stops there (before any server is asked, unless a write failed mid-download). */
export class CacheWriteError extends Error {
  /** Always "CacheWriteError", so the error can be told apart after serialisation. */
  override name = "CacheWriteError";
  /**
   * @param path The cache path that could not be written.
   * @param code The errno code (`EROFS`, `EACCES`, `ENOSPC`, …), or `ELOOP` for a symbolic link refused.
   * @param reason What happened, e.g. "EROFS: read-only file system".
   */
  constructor(
    readonly path: string,
    readonly code: string,
    reason: string,
  ) {
    super(`cannot write the debuginfod cache at ${path}: ${reason}`);
  }
}

/** The file in the cache holding how long a recorded miss stands, in seconds. */
export const CACHE_MISS_FILE = "cache_miss_s";
/** elfutils' default for {@link CACHE_MISS_FILE}: 10 minutes. */
export const CACHE_MISS_DEFAULT_S = 600;
/** The file whose content is the seconds between cleanings and whose mtime is the last cleaning. */
export const CLEAN_INTERVAL_FILE = "cache_clean_interval_s";
/** elfutils' default for {@link CLEAN_INTERVAL_FILE}: a day. */
export const CLEAN_INTERVAL_DEFAULT_S = 86_400;
/** The file holding how long an entry may go unread (by atime) before a cleaning removes it. */
export const MAX_UNUSED_AGE_FILE = "max_unused_age_s";
/** elfutils' default for {@link MAX_UNUSED_AGE_FILE}: a week. */
export const MAX_UNUSED_AGE_DEFAULT_S = 604_800;
/** A temporary file untouched this long belongs to no live download (one writes at least every no-progress timeout). */
export const STALE_TEMP_S = 3600;

/** Mode of a finished entry, as elfutils' client leaves it (PR27571: "casually unwriteable"); a temporary file is 0600. */
const ENTRY_MODE = 0o400;
const OWNER_WRITE = 0o200;
const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW;
const FOLDER_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const SETTING_MAX_BYTES = 64;
/** An entry name: what elfutils' cleaning matches (`debuginfo`, `executable`, `source…`), plus `section-…`. */
const ENTRY_NAME = /^(executable|debuginfo|section-.+|source.+)$/;
/** Our temporary names: an entry name, a dot and 12 hex digits. */
const TEMP_NAME = /^(executable|debuginfo|section-.+|source.+)\.[0-9a-f]{12}$/;
const ID_FOLDER = /^[0-9a-f]+$/;

/**
 * The client cache directory, as elfutils' client picks it: `$DEBUGINFOD_CACHE_PATH`; else
 * `$HOME/.debuginfod_client_cache` when it exists; else `$XDG_CACHE_HOME/debuginfod_client`
 * or `$HOME/.cache/debuginfod_client`.
 */
export function debuginfodCachePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DEBUGINFOD_CACHE_PATH) return env.DEBUGINFOD_CACHE_PATH;
  const home = env.HOME || homedir() || "/";
  const legacy = join(home, ".debuginfod_client_cache");
  if (existsSync(legacy)) return legacy;
  return join(env.XDG_CACHE_HOME || join(home, ".cache"), "debuginfod_client");
}

/** elfutils' `path_escape`: `/` to `##`, `#` to `#_`, so no name leaves its folder and none collide. */
function escapeName(name: string): string {
  return name.replace(/#/g, "#_").replace(/\//g, "##");
}

/** An entry's file name in its ID folder, as elfutils names it: `executable`, `debuginfo`, `section-NAME` or `source` and the escaped path. */
export function cacheEntryName(artifact: ClientArtifact, name = ""): string {
  if (artifact === "section") return `section-${escapeName(name)}`;
  if (artifact === "source") return `source${escapeName(name)}`;
  return artifact;
}

/** The cache file of an artifact: `CACHE/ID/executable`, `CACHE/ID/debuginfo`, `CACHE/ID/section-NAME` or `CACHE/ID/sourcePATH`. */
export function cacheEntryPath(cachePath: string, buildId: string, artifact: ClientArtifact, name = ""): string {
  return join(cachePath, buildId, cacheEntryName(artifact, name));
}

/** Longest entry name that still leaves room for a temporary name's suffix within the 255 bytes of a file name. */
export const MAX_ENTRY_NAME_BYTES = 255 - 13;

/** An open folder; names in it are reached through its handle, so a link swapped in for the folder is never followed. */
class Folder {
  constructor(
    readonly path: string,
    readonly fd: number,
  ) {}
  /** `name` in this folder, resolved through the open handle. */
  at(name: string): string {
    return `/proc/self/fd/${this.fd}/${name}`;
  }
  close(): void {
    closeSync(this.fd);
  }
}

let procChecked = false;

// The cache folder itself, as the user named it (a link there is theirs to make); undefined when absent.
function openRoot(cachePath: string): Folder | undefined {
  if (!procChecked) {
    if (!existsSync("/proc/self/fd"))
      throw new Error("the debuginfod client needs procfs at /proc: it reaches cache entries through /proc/self/fd");
    procChecked = true;
  }
  try {
    return new Folder(cachePath, openSync(cachePath, constants.O_RDONLY | constants.O_DIRECTORY));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Why `name` in `root` is not a folder we may use: its kind when it is a link or a file, else undefined (absent). */
function notAFolder(root: Folder, name: string): string | undefined {
  try {
    return fileKind(lstatSync(root.at(name)));
  } catch {
    return undefined;
  }
}

// The ID folder `id` in `root`, never through a link: a Folder, undefined when absent, or what is there instead.
function openIdFolder(root: Folder, id: string): Folder | undefined | { kind: string } {
  try {
    return new Folder(join(root.path, id), openSync(root.at(id), FOLDER_FLAGS));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ENOTDIR" || code === "ELOOP") return { kind: notAFolder(root, id) ?? "special file" };
    throw error;
  }
}

/** A Node errno error as "CODE: what", without the syscall and the /proc path Node appends. */
function errnoText(error: unknown): { code: string; text: string } {
  const e = error as NodeJS.ErrnoException;
  const code = e.code ?? "EIO";
  return { code, text: /^[A-Z0-9]+: [^,]*/.exec(e.message)?.[0] ?? `${code}: ${e.message}` };
}

function writeError(path: string, error: unknown): CacheWriteError {
  if (error instanceof CacheWriteError) return error;
  const { code, text } = errnoText(error);
  return new CacheWriteError(path, code, text);
}

/** A setting file's number and mtime (seconds); a missing or empty file is written with `fallback` when `create`, as elfutils does. */
function setting(root: Folder, file: string, fallback: number, create: boolean): { value: number; mtimeS: number } {
  const flags = create
    ? constants.O_RDWR | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOFOLLOW
    : READ_FLAGS;
  let fd: number;
  try {
    fd = openSync(root.at(file), flags, 0o666);
  } catch {
    return { value: fallback, mtimeS: Date.now() / 1000 };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { value: fallback, mtimeS: st.mtimeMs / 1000 };
    if (st.size === 0) {
      if (create) writeSync(fd, String(fallback));
      return { value: fallback, mtimeS: st.mtimeMs / 1000 };
    }
    const bytes = Buffer.alloc(SETTING_MAX_BYTES);
    const text = bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, 0)).toString("latin1");
    return { value: /^\s*[0-9]+\s*$/.test(text) ? Number(text) : fallback, mtimeS: st.mtimeMs / 1000 };
  } catch {
    return { value: fallback, mtimeS: Date.now() / 1000 };
  } finally {
    closeSync(fd);
  }
}

/** What the cache holds for one entry. */
export type CacheAnswer =
  /** A file of `size` bytes, checked. */
  | { size: number }
  /** A recorded miss, `ageS` old, standing for `standsS` (the cache's `cache_miss_s`). */
  | { missAgeS: number; standsS: number }
  /** Something is there that is not used; `why` says what, for the not-found error. */
  | { refused: string }
  /** Nothing. */
  | undefined;

/**
 * The entry `name` of `id` in the cache at `cachePath`. `check(fd, size)` vets a non-empty file
 * (an ELF file's build ID). A recorded miss older than `cache_miss_s` is removed, as elfutils
 * removes it, and so is a mode-000 one left by old clients; a link, as the entry or as its
 * folder, is refused and left alone.
 */
export function readEntry(
  cachePath: string,
  id: string,
  name: string,
  check: (fd: number, size: number) => string | undefined,
): CacheAnswer {
  const root = openRoot(cachePath);
  if (!root) return undefined;
  try {
    const folder = openIdFolder(root, id);
    if (folder === undefined) return undefined;
    if (!(folder instanceof Folder)) return { refused: `${join(cachePath, id)} is a ${folder.kind}, not a folder` };
    try {
      return readOpenEntry(root, folder, name, check);
    } finally {
      folder.close();
    }
  } finally {
    root.close();
  }
}

function readOpenEntry(
  root: Folder,
  folder: Folder,
  name: string,
  check: (fd: number, size: number) => string | undefined,
): CacheAnswer {
  const path = join(folder.path, name);
  let fd: number;
  try {
    fd = openSync(folder.at(name), READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return { refused: `${path} is a symbolic link` };
    if (code === "EACCES") unlinkQuietly(folder.at(name));
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { refused: `${path} is a ${fileKind(st)}, not a regular file` };
    if (st.size === 0) {
      const ageS = Math.max(0, Math.floor(Date.now() / 1000 - st.mtimeMs / 1000));
      const standsS = setting(root, CACHE_MISS_FILE, CACHE_MISS_DEFAULT_S, false).value;
      if (ageS <= standsS) return { missAgeS: ageS, standsS };
      unlinkQuietly(folder.at(name));
      return undefined;
    }
    const wrong = check(fd, st.size);
    return wrong === undefined ? { size: st.size } : { refused: `${path} ${wrong}` };
  } finally {
    closeSync(fd);
  }
}

/** A cache entry opened for reading by {@link openEntry}. */
export interface OpenEntry {
  /** Open descriptor; the caller closes it. */
  fd: number;
  /** Its size in bytes, from `fstat` of the handle. */
  size: number;
  /** Its mtime in ms (the server's `Last-Modified`, as the client leaves it). */
  mtimeMs: number;
}

/**
 * Opens the entry `name` of `id` for reading, as {@link readEntry} reaches it (through the open
 * folders, never through a link), when it is a non-empty regular file; else undefined.
 */
export function openEntry(cachePath: string, id: string, name: string): OpenEntry | undefined {
  const root = openRoot(cachePath);
  if (!root) return undefined;
  try {
    const folder = openIdFolder(root, id);
    if (!(folder instanceof Folder)) return undefined;
    let fd: number;
    try {
      fd = openSync(folder.at(name), READ_FLAGS);
    } catch {
      return undefined;
    } finally {
      folder.close();
    }
    const st = fstatSync(fd);
    if (st.isFile() && st.size > 0) return { fd, size: st.size, mtimeMs: st.mtimeMs };
    closeSync(fd);
    return undefined;
  } finally {
    root.close();
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Another client removed or replaced it first: either way it is not ours to keep.
  }
}

// mkdir -p with mode 0700, by hand: Node's recursive mkdir says ENOENT where a parent's mkdir failed with EROFS or EACCES.
function makeDirs(path: string, parentMade = false): void {
  try {
    mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code !== "ENOENT" || parentMade || dirname(path) === path) throw writeError(path, error);
    makeDirs(dirname(path));
    makeDirs(path, true);
  }
}

// Creates the cache folder (0700 and its parents, as elfutils creates the XDG one) and the ID folder (0700), then opens both.
function makeFolders(cachePath: string, id: string): { root: Folder; folder: Folder } {
  makeDirs(cachePath);
  const root = openRoot(cachePath);
  if (!root) throw new CacheWriteError(cachePath, "ENOENT", "ENOENT: removed while being used");
  const path = join(cachePath, id);
  try {
    try {
      mkdirSync(root.at(id), { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw writeError(path, error);
    }
    const folder = openIdFolder(root, id);
    if (folder instanceof Folder) return { root, folder };
    throw folder === undefined
      ? new CacheWriteError(path, "ENOENT", "ENOENT: removed while being used")
      : new CacheWriteError(path, "ELOOP", `a ${folder.kind}, not a folder: the cache never writes through one`);
  } catch (error) {
    root.close();
    throw error;
  }
}

/** Records that no server has the entry: an empty file, as elfutils' client leaves one; best effort. */
export function recordMiss(cachePath: string, id: string, name: string): void {
  let folders: ReturnType<typeof makeFolders>;
  try {
    folders = makeFolders(cachePath, id);
  } catch {
    return; // the cache is not writable: the next call asks again
  }
  try {
    closeSync(
      openSync(
        folders.folder.at(name),
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o666,
      ),
    );
  } catch {
    // Already recorded by another client, or not writable: the next call asks again.
  } finally {
    folders.folder.close();
    folders.root.close();
  }
}

/** Whether the file `name` with `st` is a temporary file of ours no download is writing: our name, not yet made read-only, untouched for `staleS`. */
function isStaleTemp(name: string, st: Stats, nowS: number, staleS: number): boolean {
  return TEMP_NAME.test(name) && st.isFile() && (st.mode & OWNER_WRITE) !== 0 && nowS - st.mtimeMs / 1000 >= staleS;
}

// Removes the stale temporary files of one open ID folder; returns how many.
function sweepFolder(folder: Folder, nowS: number, staleS: number): number {
  let removed = 0;
  for (const name of readdirSync(folder.at("."))) {
    try {
      if (isStaleTemp(name, lstatSync(folder.at(name)), nowS, staleS)) {
        unlinkSync(folder.at(name));
        removed++;
      }
    } catch {
      // Gone meanwhile, or not ours to remove.
    }
  }
  return removed;
}

/** A cache entry being written: a temporary file beside it (`NAME.` and 12 hex digits, as elfutils' `NAME.XXXXXX`). */
export interface PendingEntry {
  /** The temporary file, open for reading and writing. */
  readonly file: FileHandle;
  /** Appends `chunk`. @throws CacheWriteError naming the entry (`ENOSPC`, …). */
  append(chunk: Uint8Array): Promise<void>;
  /** Empties it, for another server's answer. */
  restart(): Promise<void>;
  /** Syncs it, makes it read-only, gives it `mtime` if known, and renames it into place. @throws CacheWriteError. */
  commit(mtime?: Date): Promise<void>;
  /** Removes it, and the ID folder if that is left empty; nothing stays behind. */
  discard(): Promise<void>;
}

interface LiveTemp {
  root: Folder;
  folder: Folder;
  id: string;
  temp: string;
}

/** Temporary files being written, removed by the `exit` hook if the process ends first (the CLI exits this way on SIGINT and SIGTERM). */
const live = new Set<LiveTemp>();
let exitHooked = false;

function removeLive(): void {
  for (const t of live) {
    unlinkQuietly(t.folder.at(t.temp));
    try {
      rmdirSync(t.root.at(t.id));
    } catch {
      // Not empty: other entries live there.
    }
  }
  live.clear();
}

/**
 * Opens a new temporary file for the entry `name` of `id`, creating the folders (0700), after
 * removing the ID folder's stale temporary files (ours, still writable, untouched for
 * `staleS`). Registered until committed or discarded so that an `exit` removes it.
 * @throws CacheWriteError when the cache cannot be written (naming the path and the errno) or the ID folder is a link.
 */
export async function beginEntry(cachePath: string, id: string, name: string, staleS: number): Promise<PendingEntry> {
  const { root, folder } = makeFolders(cachePath, id);
  const entryPath = join(folder.path, name);
  // Unique, not secret (created O_EXCL in a folder of ours): Math.random spares a start node:crypto (15-20 ms).
  const temp = `${name}.${Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, "0")}`;
  let file: FileHandle;
  try {
    sweepFolder(folder, Date.now() / 1000, staleS);
    file = await open(
      folder.at(temp),
      constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    folder.close();
    root.close();
    throw writeError(entryPath, error);
  }
  const me: LiveTemp = { root, folder, id, temp };
  live.add(me);
  if (!exitHooked) {
    process.on("exit", removeLive);
    exitHooked = true;
  }
  let done = false;
  const finish = async (): Promise<void> => {
    done = true;
    live.delete(me);
    await file.close().catch(() => {});
  };
  const guard = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      throw writeError(entryPath, error);
    }
  };
  let end = 0; // writes go at explicit offsets: a truncate does not move the file position back
  return {
    file,
    append: (chunk) =>
      guard(async () => {
        await file.write(chunk, 0, chunk.length, end);
        end += chunk.length;
      }),
    restart: () =>
      guard(async () => {
        await file.truncate(0);
        end = 0;
      }),
    async commit(mtime) {
      await guard(async () => {
        await file.sync();
        await file.chmod(ENTRY_MODE);
        if (mtime) await file.utimes((await file.stat()).atime, mtime);
        renameSync(folder.at(temp), folder.at(name));
      });
      await finish();
      folder.close();
      root.close();
    },
    async discard() {
      if (done) return;
      await finish();
      unlinkQuietly(folder.at(temp));
      try {
        rmdirSync(root.at(id)); // fails while other entries are in it, as elfutils' does
      } catch {}
      folder.close();
      root.close();
    },
  };
}

/** What a cleaning did. */
export interface CleanReport {
  /** Entries (and recorded misses) unread for `max_unused_age_s`, removed. */
  entries: number;
  /** Stale temporary files removed. */
  temps: number;
  /** Empty ID folders unchanged for `max_unused_age_s`, removed. */
  folders: number;
}

/**
 * Cleans the cache as elfutils' client does, when `cache_clean_interval_s` (default a day; the
 * file is created with it) has passed since the file's mtime: the mtime is set to now first,
 * then every entry of every ID folder whose atime is `max_unused_age_s` (default a week) old or
 * more is removed, and every such folder left empty whose mtime is that old. Unlike elfutils
 * 0.188, whose pattern misses them, `section-` entries are cleaned too; and stale temporary
 * files (ours, still writable, untouched for `staleS`) go at any age of the interval. Links are
 * never followed. Best effort: a cache that cannot be written is left as it is.
 * @returns what was removed, or undefined when it was not time (or there is no cache).
 */
export function cleanCache(cachePath: string, staleS: number): CleanReport | undefined {
  const root = openRoot(cachePath);
  if (!root) return undefined;
  try {
    const nowS = Date.now() / 1000;
    const interval = setting(root, CLEAN_INTERVAL_FILE, CLEAN_INTERVAL_DEFAULT_S, true);
    if (nowS - interval.mtimeS < interval.value) return undefined;
    try {
      utimesSync(root.at(CLEAN_INTERVAL_FILE), nowS, nowS);
    } catch {
      return undefined; // a cache we cannot write is not ours to clean
    }
    const maxAgeS = setting(root, MAX_UNUSED_AGE_FILE, MAX_UNUSED_AGE_DEFAULT_S, true).value;
    const report: CleanReport = { entries: 0, temps: 0, folders: 0 };
    for (const id of readdirSync(root.at("."))) {
      if (!ID_FOLDER.test(id)) continue;
      const folder = openIdFolder(root, id);
      if (!(folder instanceof Folder)) continue;
      try {
        const before = fstatSync(folder.fd);
        report.temps += sweepFolder(folder, nowS, staleS);
        for (const name of readdirSync(folder.at("."))) {
          if (!ENTRY_NAME.test(name)) continue;
          try {
            const st = lstatSync(folder.at(name));
            if (st.isFile() && nowS - st.atimeMs / 1000 >= maxAgeS) {
              unlinkSync(folder.at(name));
              report.entries++;
            }
          } catch {}
        }
        if (nowS - before.mtimeMs / 1000 >= maxAgeS) {
          try {
            rmdirSync(root.at(id));
            report.folders++;
          } catch {}
        }
      } finally {
        folder.close();
      }
    }
    return report;
  } finally {
    root.close();
  }
}
