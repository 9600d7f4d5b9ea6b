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
 * `util/build-id.c`, IDs longer than 20 bytes are cut to 20 and the first link made for an ID stays.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from "node:fs";
import { link, lstat, mkdir, open, readdir, readlink, realpath, rename, stat, symlink, unlink } from "node:fs/promises";
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

// Unique per process and per call; starts with a dot, so neither perf's listing nor ours reads it.
function temporaryPath(path: string): string {
  return join(dirname(path), `.${process.pid}-${temporaries++}.tmp`);
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

// Copies the open file (not its path, which may name another file by now) to dest: temporary file, fsync, rename.
async function copyFrom(source: OpenedFile, dest: string): Promise<void> {
  const temporary = temporaryPath(dest);
  try {
    const out = await open(temporary, "wx", Number(source.stat.mode & 0o777n));
    try {
      const buffer = new Uint8Array(1 << 20);
      const size = Number(source.stat.size);
      for (let at = 0; at < size; ) {
        const { bytesRead } = await source.handle.read(buffer, 0, Math.min(buffer.length, size - at), at);
        if (bytesRead === 0) break;
        await out.write(buffer, 0, bytesRead);
        at += bytesRead;
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

/** Stores the open file at `dest` as perf does (a hard link, else a copy); a link is kept only if it names the file that was read. */
async function storeFile(source: OpenedFile, path: string, dest: string): Promise<PerfStoreMethod> {
  if (await exists(dest)) return "present";
  let method: PerfStoreMethod = "copy";
  try {
    await link(path, dest);
    if (sameIdentity(await lstat(dest, { bigint: true }), source.stat)) method = "hardlink";
    else await unlink(dest); // the path was replaced after it was read
  } catch (error) {
    if (errno(error) === "EEXIST") return "present";
    if (!NO_HARD_LINK.has(errno(error) ?? "")) throw error;
  }
  if (method === "copy") await copyFrom(source, dest);
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
async function findDebugFile(buildId: string, debugRoot: string): Promise<[OpenedFile, string] | undefined> {
  let path: string;
  try {
    path = await realpath(join(debugRoot, ".build-id", buildId.slice(0, 2), `${buildId.slice(2)}.debug`));
  } catch (error) {
    if (errno(error) === "ENOENT" || errno(error) === "ENOTDIR") return undefined;
    throw error;
  }
  const file = await openRegular(path);
  try {
    if ((await perfBuildId(file, path)) === buildId) return [file, path];
  } catch (error) {
    if (!(error instanceof ElfError)) throw error;
  }
  await file.handle.close();
  return undefined;
}

/** Makes `link` point at `target` unless it already exists: a symbolic link at a temporary name, renamed into place. */
async function linkOnce(target: string, linkPath: string): Promise<string | undefined> {
  await mkdir(dirname(linkPath), { recursive: true, mode: 0o755 });
  try {
    const existing = await readlink(linkPath);
    return existing === target ? undefined : existing;
  } catch (error) {
    if (errno(error) === "EINVAL") return "(not a symbolic link)";
    if (errno(error) !== "ENOENT") throw error;
  }
  const temporary = temporaryPath(linkPath);
  await symlink(target, temporary);
  try {
    await rename(temporary, linkPath);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(linkPath));
  return undefined;
}

/**
 * Adds the ELF file at `file` to perf's build-ID store, as `perf buildid-cache --add FILE` does.
 * The file is opened through the safe open and read before anything is written, so a file that is
 * refused leaves the store as it was.
 *
 * @throws TypeError when `file` is not a string; NotRegularFileError (a FIFO, a directory, …);
 *   {@link ElfError} naming the path for a file that is not ELF or has no build ID (`NOT_ELF`,
 *   `NO_BUILD_ID`, …); Node's errors (`ENOENT`, `EACCES`) when it cannot be opened or the store written.
 */
export async function addToPerfStore(file: string, options: PerfStoreAddOptions = {}): Promise<PerfStoreAdded> {
  string("file", file);
  const dir = perfStoreDir(options.dir);
  const path = await realpath(file);
  const source = await openRegular(path);
  try {
    const buildId = await perfBuildId(source, path);
    const debug = path.endsWith(".ko")
      ? undefined
      : await findDebugFile(buildId, options.debugRoot ?? "/usr/lib/debug");
    try {
      const idDir = join(dir, path, buildId);
      await mkdir(idDir, { recursive: true, mode: 0o755 });
      const elf = join(idDir, "elf");
      const method = await storeFile(source, path, elf);
      const added: PerfStoreAdded = { buildId, path, elf, method, link: linkPath(dir, buildId) };
      if (debug) {
        added.debug = join(idDir, "debug");
        await storeFile(debug[0], debug[1], added.debug);
      }
      const elsewhere = await linkOnce(`../..${path}/${buildId}`, added.link);
      if (elsewhere !== undefined) added.linkedElsewhere = elsewhere;
      return added;
    } finally {
      await debug?.[0].handle.close();
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
