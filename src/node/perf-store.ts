/**
 * perf's build-ID store (`perf buildid-cache`), written and read in perf's own layout, so that
 * `perf buildid-cache --list`, `perf report` and this package see the same files:
 *
 * ```
 * DIR/.build-id/c8/9156…51          symlink to ../../usr/bin/true/c89156…51 (relative, to the ID folder)
 * DIR/usr/bin/true/c89156…51/elf    the file: a hard link where one can be made, else a copy
 * DIR/usr/bin/true/c89156…51/debug  its separate debug file, when /usr/lib/debug/.build-id has one
 * ```
 *
 * DIR is `$PERF_BUILDID_DIR`, else `~/.debug` (perf itself takes `buildid.dir` from its config or
 * `perf --buildid-dir`, and exports `PERF_BUILDID_DIR` to the scripts it runs). As in perf's
 * `util/build-id.c`, IDs longer than 20 bytes are cut to 20 and the first link made for an ID stays:
 * the link is made by `symlink(2)`, which fails rather than replace, so of two adds at once the
 * first wins and the second learns it (`linkedElsewhere`).
 *
 * What the store holds is what was verified. A copy is of the open file, not of its path: it must
 * reach the size the file had when its build ID was read, and the file's size, mtime and ctime on
 * the handle must be the same after the copy as at the open, or the add fails ({@link PerfStoreError})
 * and leaves nothing. Any write to the file changes its mtime and ctime, except one in the same
 * timestamp tick as its last change (the "racy" case git knows): when the file changed within a tick
 * of its open, the add waits out the tick and compares the file with the copy byte for byte. A hard
 * link is the file itself, not a copy: the add checks that its size and mtime are those it verified
 * when the link is made, but a later rewrite in place rewrites the stored file too (as in perf).
 *
 * @packageDocumentation
 */
import type { BigIntStats } from "node:fs";
import {
  type FileHandle,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  rmdir,
  stat,
  symlink,
  unlink,
} from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { string } from "../check.js";
import { ElfError } from "../elf.js";
import { BUILD_ID_MAX } from "../layout.js";
import { readBuildIdFromFile } from "./elf-file.js";
import { sameIdentity } from "./identity.js";
import { type OpenedFile, openRegular } from "./safe-open.js";

/** perf's `BUILD_ID_SIZE`, the kernel's limit: the bytes of an ID perf keeps; longer ones are cut to this. */
export const PERF_BUILD_ID_MAX = BUILD_ID_MAX;

/** Where the store is: `dir` when given, else `$PERF_BUILDID_DIR`, else `~/.debug`. */
export function perfStoreDir(dir?: string): string {
  if (dir !== undefined) string("dir", dir);
  return dir ?? process.env.PERF_BUILDID_DIR ?? join(homedir(), ".debug");
}

/** Options for {@link addToPerfStore}. */
export interface PerfStoreAddOptions {
  /** The store; see {@link perfStoreDir}. */
  dir?: string;
  /** Where separate debug files live, as perf looks for them (`ROOT/.build-id/xx/rest.debug`). Default `/usr/lib/debug`. */
  debugRoot?: string;
  /**
   * @internal For tests: `copy` copies where a hard link could be made; `afterChunk` runs after each
   * chunk of a copy is written, with the bytes copied so far, before the next is read.
   */
  testHooks?: { copy?: boolean; afterChunk?: (copied: number) => Promise<void> };
}

/** Why {@link addToPerfStore} refused to store a file it had verified; see {@link PerfStoreError}. */
export type PerfStoreErrorCode =
  /** The copy ended before the size the file had when its build ID was read: it was cut short meanwhile. */
  | "SHORT"
  /** The file changed between the read of its build ID and the end of its copy or link. */
  | "CHANGED";

/** A file that changed while {@link addToPerfStore} stored it; nothing of it was left in the store. */
export class PerfStoreError extends Error {
  /** Always "PerfStoreError", so the error can be told apart after serialisation. */
  override readonly name = "PerfStoreError";

  /**
   * @param code What happened.
   * @param path The file being stored.
   * @param message What was seen, with the values involved.
   */
  constructor(
    readonly code: PerfStoreErrorCode,
    readonly path: string,
    message: string,
  ) {
    super(`${path} ${message}; nothing was stored`);
  }
}

/** How a file came into the store. */
export type PerfStoreMethod =
  /** A hard link to the file, as perf makes when it can. */
  | "hardlink"
  /** A copy, where a link cannot be made (another file system, protected hard links). */
  | "copy"
  /** The store already held a file under that name; it was left as it is. */
  | "present";

/** What {@link addToPerfStore} did for one file. */
export interface PerfStoreAdded {
  /** The build ID as perf names it: lowercase hex, at most {@link PERF_BUILD_ID_MAX} bytes. */
  buildId: string;
  /** The file's real path (symbolic links resolved), under which the store files it. */
  path: string;
  /** The stored file, `DIR/PATH/ID/elf`. */
  elf: string;
  /** How `elf` was made. */
  method: PerfStoreMethod;
  /** The stored debug file `DIR/PATH/ID/debug`, when a separate debug file with the same ID was found. */
  debug?: string;
  /** The link `DIR/.build-id/xx/rest`. */
  link: string;
  /** Where the link points when it was there before, for another path with the same ID (perf keeps the first). */
  linkedElsewhere?: string;
}

/** Names a file in the ID folder as perf's `build_id_cache__basename` does. */
function basenameFor(path: string): string {
  if (path === "[kernel.kallsyms]") return "kallsyms";
  if (path === "[vdso]") return "vdso";
  return "elf";
}

let temporaries = 0;

/**
 * Creates a new temporary beside `path`, named per process and per call, starting with a dot so that neither
 * perf's listing nor ours reads it; one a killed process with this PID left behind is passed over, never removed.
 */
async function openTemporary(path: string, mode: number): Promise<[string, FileHandle]> {
  for (let tries = 1; ; tries++) {
    const temporary = join(dirname(path), `.${process.pid}-${temporaries++}.tmp`);
    try {
      return [temporary, await open(temporary, "wx+", mode)];
    } catch (error) {
      if (errno(error) !== "EEXIST" || tries === 100) throw error;
    }
  }
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

async function syncDirectory(folder: string): Promise<void> {
  const handle = await open(folder, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errno(error) === "ENOENT") return false;
    throw error;
  }
}

/** A file opened for the store: the handle, its `fstat` then, and the real time just before the open (ns). */
interface Source extends OpenedFile {
  path: string;
  openedAt: bigint;
}

/** The real time in nanoseconds, as file timestamps count it. */
function now(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function openSource(path: string): Promise<Source> {
  const openedAt = now();
  return { ...(await openRegular(path)), path, openedAt };
}

const COPY_CHUNK = 1 << 20;

/**
 * How long after a change of a file a second write may leave its mtime and ctime as they were: the
 * file system's timestamp granularity (2 s when the ctime is a whole second, as on FAT or ext4's
 * small inodes; else finer) plus a jiffy of the kernel's coarse clock, with a margin.
 */
function racyWindow(st: BigIntStats): bigint {
  return st.ctimeNs % 1_000_000_000n === 0n ? 2_020_000_000n : 20_000_000n;
}

/** The stamps of `before` that `after` does not repeat: any write changes one of them (the racy tick aside). */
function changed(before: BigIntStats, after: BigIntStats, fields: readonly ("size" | "mtimeNs" | "ctimeNs")[]) {
  return fields.filter((f) => before[f] !== after[f]).map((f) => `${f.replace("Ns", "")} ${before[f]} -> ${after[f]}`);
}

/** Throws unless the open file's size, mtime and ctime are what they were at its open. */
async function unchanged(source: Source): Promise<void> {
  const differ = changed(source.stat, await source.handle.stat({ bigint: true }), ["size", "mtimeNs", "ctimeNs"]);
  if (differ.length > 0)
    throw new PerfStoreError("CHANGED", source.path, `changed while it was copied (${differ.join(", ")})`);
}

/** The file's bytes again, compared with the copy's: for a file that changed within a racy window of its open. */
async function sameBytes(source: Source, copy: FileHandle, size: number): Promise<void> {
  const ours = new Uint8Array(COPY_CHUNK);
  const theirs = new Uint8Array(COPY_CHUNK);
  for (let at = 0; at < size; at += COPY_CHUNK) {
    const n = Math.min(COPY_CHUNK, size - at);
    const [a, b] = await Promise.all([source.handle.read(theirs, 0, n, at), copy.read(ours, 0, n, at)]);
    if (a.bytesRead !== n || b.bytesRead !== n || Buffer.compare(theirs.subarray(0, n), ours.subarray(0, n)) !== 0)
      throw new PerfStoreError(
        "CHANGED",
        source.path,
        `changed while it was copied (bytes at ${at} differ from the copy's)`,
      );
  }
}

/**
 * Copies the open file (not its path, which may name another file by now) to `dest`: a temporary
 * file, checked against what was verified (see the module comment), fsynced and renamed.
 */
async function copyFrom(source: Source, dest: string, hooks: PerfStoreAddOptions["testHooks"]): Promise<void> {
  const before = source.stat;
  const size = Number(before.size);
  const [temporary, out] = await openTemporary(dest, Number(before.mode & 0o777n));
  try {
    try {
      const buffer = new Uint8Array(COPY_CHUNK);
      for (let at = 0; at < size; ) {
        const { bytesRead } = await source.handle.read(buffer, 0, Math.min(buffer.length, size - at), at);
        if (bytesRead === 0) {
          const why = `ended at ${at} bytes while it was copied, short of the ${size} it had when its build ID was read`;
          throw new PerfStoreError("SHORT", source.path, why);
        }
        await out.write(buffer, 0, bytesRead, at);
        at += bytesRead;
        await hooks?.afterChunk?.(at);
      }
      await unchanged(source);
      const window = racyWindow(before);
      if (source.openedAt < before.ctimeNs + window) {
        const left = Number(before.ctimeNs + window - now()) / 1e6;
        if (left > 0) await sleep(Math.min(left, Number(window) / 1e6) + 1); // a ctime in the future (another clock) waits no longer
        await sameBytes(source, out, size);
        await unchanged(source);
      }
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(temporary, dest);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
}

// Errors of link(2) after which perf falls back to a copy.
const NO_HARD_LINK = new Set(["EXDEV", "EPERM", "EACCES", "EMLINK", "ENOTSUP", "EOPNOTSUPP"]);

/**
 * Stores the open file at `dest` as perf does (a hard link, else a copy). A link is kept only if it
 * names the file that was read, with the size and mtime it had then (linking changes its ctime).
 */
async function storeFile(
  source: Source,
  dest: string,
  hooks: PerfStoreAddOptions["testHooks"],
): Promise<PerfStoreMethod> {
  if (await exists(dest)) return "present";
  let method: PerfStoreMethod = "copy";
  if (!hooks?.copy) {
    try {
      await link(source.path, dest);
      method = "hardlink";
    } catch (error) {
      if (errno(error) === "EEXIST") return "present";
      if (!NO_HARD_LINK.has(errno(error) ?? "")) throw error;
    }
  }
  if (method === "hardlink") {
    const linked = await lstat(dest, { bigint: true });
    const differ = changed(source.stat, linked, ["size", "mtimeNs"]);
    if (!sameIdentity(linked, source.stat)) {
      await unlink(dest); // the path was replaced after it was read
      method = "copy";
    } else if (differ.length > 0) {
      await unlink(dest);
      throw new PerfStoreError("CHANGED", source.path, `changed before it was linked (${differ.join(", ")})`);
    }
  }
  if (method === "copy") await copyFrom(source, dest, hooks);
  await syncDirectory(dirname(dest));
  return method;
}

/** The build ID of an open file as perf names it, or the typed error that refuses the file. */
async function perfBuildId(file: OpenedFile, path: string): Promise<string> {
  try {
    const info = await readBuildIdFromFile(file.handle, { size: Number(file.stat.size) });
    return info.buildId.slice(0, 2 * PERF_BUILD_ID_MAX);
  } catch (error) {
    if (error instanceof ElfError) throw new ElfError(error.code, `${path}: ${error.message}`);
    throw error;
  }
}

/** The separate debug file perf would store with `buildId`, opened, if there is one that carries the same ID. */
async function findDebugFile(buildId: string, debugRoot: string): Promise<Source | undefined> {
  let path: string;
  try {
    path = await realpath(join(debugRoot, ".build-id", buildId.slice(0, 2), `${buildId.slice(2)}.debug`));
  } catch (error) {
    if (errno(error) === "ENOENT" || errno(error) === "ENOTDIR") return undefined;
    throw error;
  }
  const file = await openSource(path);
  try {
    if ((await perfBuildId(file, path)) === buildId) return file;
  } catch (error) {
    if (!(error instanceof ElfError)) throw error;
  }
  await file.handle.close();
  return undefined;
}

/**
 * Makes `linkPath` point at `target` unless it exists; returns where an existing link points when
 * that is elsewhere. `symlink(2)` fails with EEXIST rather than replace, so of two adds at once the
 * first one's link stays and the second reads it.
 */
async function linkOnce(target: string, linkPath: string): Promise<string | undefined> {
  await mkdir(dirname(linkPath), { recursive: true, mode: 0o755 });
  try {
    await symlink(target, linkPath);
  } catch (error) {
    if (errno(error) !== "EEXIST") throw error;
    try {
      const existing = await readlink(linkPath);
      return existing === target ? undefined : existing;
    } catch (error) {
      if (errno(error) === "EINVAL") return "(not a symbolic link)";
      throw error;
    }
  }
  await syncDirectory(dirname(linkPath));
  return undefined;
}

/** Removes what a failed add made: the files it stored, then the folders it created, deepest first, while empty. */
async function undo(stored: string[], folder: string, created: string | undefined): Promise<void> {
  for (const file of stored) await unlink(file).catch(() => {});
  if (created === undefined) return;
  for (let at = folder; ; at = dirname(at)) {
    if (
      !(await rmdir(at).then(
        () => true,
        () => false,
      )) ||
      at === created
    )
      return;
  }
}

/**
 * Adds the ELF file at `file` to perf's build-ID store, as `perf buildid-cache --add FILE` does.
 * The file is opened through the safe open and read before anything is written, so a file that is
 * refused leaves the store as it was; a file that changes while it is stored is refused too, and
 * what had been written for it is removed (see the module comment for what is checked).
 *
 * @throws TypeError when `file` is not a string; NotRegularFileError (a FIFO, a directory, …);
 *   {@link ElfError} naming the path for a file that is not ELF or has no build ID (`NOT_ELF`,
 *   `NO_BUILD_ID`, …); {@link PerfStoreError} naming the path for a file cut short (`SHORT`) or
 *   changed (`CHANGED`) while it was copied or linked; Node's errors (`ENOENT`, `EACCES`) when it
 *   cannot be opened or the store written.
 */
export async function addToPerfStore(file: string, options: PerfStoreAddOptions = {}): Promise<PerfStoreAdded> {
  string("file", file);
  const dir = perfStoreDir(options.dir);
  const hooks = options.testHooks;
  const path = await realpath(file);
  const source = await openSource(path);
  try {
    const buildId = await perfBuildId(source, path);
    const debug = path.endsWith(".ko")
      ? undefined
      : await findDebugFile(buildId, options.debugRoot ?? "/usr/lib/debug");
    const idDir = join(dir, path, buildId);
    const stored: string[] = [];
    let created: string | undefined;
    try {
      created = await mkdir(idDir, { recursive: true, mode: 0o755 });
      const elf = join(idDir, "elf");
      const method = await storeFile(source, elf, hooks);
      if (method !== "present") stored.push(elf);
      const added: PerfStoreAdded = { buildId, path, elf, method, link: linkPath(dir, buildId) };
      if (debug) {
        added.debug = join(idDir, "debug");
        if ((await storeFile(debug, added.debug, hooks)) !== "present") stored.push(added.debug);
      }
      const elsewhere = await linkOnce(`../..${path}/${buildId}`, added.link);
      if (elsewhere !== undefined) added.linkedElsewhere = elsewhere;
      return added;
    } catch (error) {
      await undo(stored, idDir, created);
      throw error;
    } finally {
      await debug?.handle.close();
    }
  } finally {
    await source.handle.close();
  }
}

/** `DIR/.build-id/xx/rest` for `buildId`: perf's `build_id_cache__linkname`. */
function linkPath(dir: string, buildId: string): string {
  return join(dir, ".build-id", buildId.slice(0, 2), buildId.slice(2));
}

/** One ID in perf's store, from {@link listPerfStore}. */
export interface PerfStoreEntry {
  /** The build ID, lowercase hex as the store names it. */
  buildId: string;
  /**
   * The path it was added from, as perf's `build_id_cache__origname` reads it from the link
   * (`[kernel.kallsyms]` and `[vdso]` for those); `undefined` when the link is not of perf's form.
   */
  path: string | undefined;
  /** The link `DIR/.build-id/xx/rest`. */
  link: string;
  /** The stored file (`elf`, `kallsyms` or `vdso` in the ID folder; the link's target itself in perf's old layout); `undefined` when it is missing. */
  file: string | undefined;
}

const HEAD = /^[0-9a-f]{2}$/;
const TAIL = /^[0-9a-f]{1,38}$/;

/** perf's `build_id_cache__origname`: the link is `../..PATH/ID`; `[name]` paths carry one more slash. */
function originOf(target: string): string | undefined {
  const cut = target.lastIndexOf("/");
  if (!target.startsWith("../../") || cut <= 5) return undefined;
  const folder = target.slice(0, cut);
  return folder.slice(folder[6] === "[" ? 6 : 5);
}

async function statOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(path, { bigint: true });
  } catch (error) {
    if (errno(error) === "ENOENT" || errno(error) === "ENOTDIR" || errno(error) === "ELOOP") return undefined;
    throw error;
  }
}

/**
 * Every build ID in perf's store at `dir` (see {@link perfStoreDir}), sorted, with the path it was
 * added from: what `perf buildid-cache --list` prints, but also the IDs whose file has changed or
 * gone since (perf lists only IDs the file at the path still carries) and IDs shorter than 16 bytes.
 * A store that does not exist is empty.
 */
export async function listPerfStore(dir?: string): Promise<PerfStoreEntry[]> {
  const root = join(perfStoreDir(dir), ".build-id");
  let heads: string[];
  try {
    heads = await readdir(root);
  } catch (error) {
    if (errno(error) === "ENOENT") return [];
    throw error;
  }
  const entries: PerfStoreEntry[] = [];
  for (const head of heads.filter((name) => HEAD.test(name)).sort()) {
    const tails = await readdir(join(root, head)).catch((error) => {
      if (errno(error) === "ENOTDIR") return [];
      throw error;
    });
    for (const tail of tails.filter((name) => TAIL.test(name)).sort()) {
      const linkAt = join(root, head, tail);
      let path: string | undefined;
      try {
        path = originOf(await readlink(linkAt));
      } catch (error) {
        if (errno(error) !== "EINVAL") throw error;
      }
      const target = await statOrUndefined(linkAt);
      let file: string | undefined;
      if (target?.isFile()) file = linkAt;
      else if (target?.isDirectory() && path !== undefined) {
        const inside = join(linkAt, basenameFor(path));
        if ((await statOrUndefined(inside))?.isFile()) file = inside;
      }
      entries.push({ buildId: head + tail, path, link: linkAt, file });
    }
  }
  return entries;
}
