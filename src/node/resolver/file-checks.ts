/**
 * What each mapped file turned out to be, and when: {@link FileChecks} checks a file through a
 * mapping of it (`procfs/map-files.ts`), asks {@link FileBuildIds} for its build ID, and holds the
 * answer per file, by the model's file id, for `fileMaxAgeMs`: a call checks each file it meets
 * at most once, however many of its mappings the call's addresses fall in, and a file checked for
 * one process serves every process that maps it. The vdso is read from memory, once per ABI.
 *
 * @packageDocumentation
 */
import { ElfError } from "../../elf.js";
import { errorCode, isGone } from "../errno.js";
import type { FileIdentity } from "../identity.js";
import { checkRange, fallbackPaths } from "../procfs/map-files.js";
import { type Mapping, mappingIdentity } from "../procfs/maps.js";
import { elfAbi, ownVdso, readVdsoAt, VDSO_NAME } from "../procfs/vdso.js";
import { FileChangedError, openRegular } from "../safe-open.js";
import { type FileResolution, type FileVia, fileFail } from "./answers.js";
import { type FileBuildIds, openFailure } from "./file-build-ids.js";
import { expired, type Tracked } from "./processes.js";
import type { Stamp } from "./stamps.js";

/** A file's check, held for the bound. */
export interface Held {
  /** What the file turned out to be (`cached` is set: later uses are served from what is held). */
  file: FileResolution;
  /** How the file was reached. */
  via: FileVia;
  /** When it was checked (resolver clock, ms). */
  checkedAt: number;
  /** For an ID in the cache: its key and the stamp stored with it, confirmed on every use. */
  key?: bigint;
  /** See {@link key}. */
  stamp?: Stamp;
}

/** The mapping's range no longer holds the file the maps named: read them again. */
export interface RangeChanged {
  /** What the `map_files/` entry showed. */
  changed: string;
}

/** The checks' settings, from the resolver's options. */
export interface FileChecksOptions {
  fileMaxAgeMs: number;
  procRoot: string;
  /** Most files whose checks are held (the model's file ids). */
  maxFiles: number;
}

/** Counters the checks keep in the resolver's stats. */
export interface FileCheckCounts {
  fileChecks: number;
  rangeChanges: number;
  vdsoReads: number;
}

const SELF_MEM = "/proc/self/mem";
const SELF_EXE = "/proc/self/exe";

/** Whether a failure is the file's own (it holds for every process that maps it) rather than this process's. */
function intrinsic(file: FileResolution): boolean {
  return file.ok || file.reason === "not-elf" || file.reason === "bad-elf" || file.reason === "no-build-id";
}

/** Checks mapped files and holds what they turned out to be; see the module comment. */
export class FileChecks {
  readonly #ids: FileBuildIds;
  readonly #options: FileChecksOptions;
  readonly #counts: FileCheckCounts;
  readonly #held = new Map<number, Held>();
  readonly #vdsos = new Map<string, Promise<FileResolution>>();
  #own: Promise<readonly [Mapping | undefined, string | undefined]> | undefined;

  constructor(ids: FileBuildIds, options: FileChecksOptions, counts: FileCheckCounts) {
    this.#ids = ids;
    this.#options = options;
    this.#counts = counts;
  }

  /** The held check of file `fileId` for process `tracked`, if one is within the bound at `now`. */
  fresh(fileId: number, tracked: Tracked, now: number): Held | undefined {
    const own = tracked.failures.get(fileId);
    if (own !== undefined && !expired(own.at, now, this.#options.fileMaxAgeMs))
      return { file: own.file, via: "map_files", checkedAt: own.at };
    const held = this.#held.get(fileId);
    return held === undefined || expired(held.checkedAt, now, this.#options.fileMaxAgeMs) ? undefined : held;
  }

  /**
   * Checks the file `mapping` maps in process `pid` (model file id `fileId`) through that mapping,
   * and holds the answer. A process that is gone is checked by the path, by (device, inode), and
   * its ctime: not after `seenAt`, when the mapping was first seen (realtime clock, ms).
   */
  async check(
    pid: number,
    mapping: Mapping,
    fileId: number,
    tracked: Tracked,
    now: number,
    seenAt: number,
  ): Promise<Held | RangeChanged> {
    this.#counts.fileChecks++;
    const found = await this.#reach(pid, mapping, tracked.gone ? seenAt : undefined);
    if ("changed" in found) {
      this.#counts.rangeChanges++;
      return found;
    }
    const { file, via } = found;
    if (!intrinsic(file)) {
      tracked.failures.set(fileId, { file, at: now });
      return { file, via, checkedAt: now };
    }
    const entry = file.ok ? this.#ids.held(file.identity) : undefined;
    const held: Held = { file: file.cached ? file : { ...file, cached: true }, via, checkedAt: now, ...entry };
    this.#held.delete(fileId);
    this.#held.set(fileId, held);
    if (this.#held.size > this.#options.maxFiles) this.#held.delete(this.#held.keys().next().value!);
    return { ...held, file };
  }

  /** Drops the held check of file `fileId`: the next call that meets it checks it again. */
  drop(fileId: number): void {
    this.#held.delete(fileId);
  }

  /**
   * The build ID of the file `mapping` maps in `pid`, checked as {@link check} does, without holding
   * it; `goneSeenAt`, for a process that is gone: when `mapping` was read (by path, as {@link check}).
   */
  async checkOnce(pid: number, mapping: Mapping, goneSeenAt?: number): Promise<FileResolution | RangeChanged> {
    this.#counts.fileChecks++;
    const found = await this.#reach(pid, mapping, goneSeenAt);
    return "changed" in found ? found : found.file;
  }

  /**
   * Reaches the file through the range, or for a process gone (`goneSeenAt` given) by its path,
   * proven by (device, inode) and a ctime not after `goneSeenAt`. A path also stands in for a range
   * that may not be followed: then the file's ctime must not be after the range's check.
   */
  async #reach(
    pid: number,
    mapping: Mapping,
    goneSeenAt: number | undefined,
  ): Promise<{ file: FileResolution; via: FileVia } | RangeChanged> {
    const identity = mappingIdentity(mapping);
    const { procRoot } = this.#options;
    if (goneSeenAt !== undefined)
      return this.#byPath(identity, fallbackPaths(pid, mapping, procRoot).slice(1), mapping, pid, goneSeenAt);
    // readlink at this moment shows the range's file linked at the path: it was live then.
    const checkedAt = Date.now();
    const range = checkRange(pid, mapping, procRoot);
    switch (range.kind) {
      case "changed":
        return { changed: range.detail };
      case "not-regular":
        return { file: fileFail("not-elf", range.detail, mapping.path, identity), via: "map_files" };
      case "denied":
        return this.#byPath(identity, fallbackPaths(pid, mapping, procRoot), mapping, pid, checkedAt);
      case "file": {
        const held = this.#ids.lookupStat(range.stat, range.path);
        if (held !== undefined) return { file: held, via: "map_files" };
        return this.#read(range.path, identity);
      }
    }
  }

  /** Reads the file through its `map_files/` entry, which must still name it. */
  async #read(path: string, identity: FileIdentity): Promise<{ file: FileResolution; via: FileVia } | RangeChanged> {
    let opened: Awaited<ReturnType<typeof openRegular>>;
    try {
      opened = await openRegular(path, { expect: identity });
    } catch (error) {
      if (error instanceof FileChangedError) return { changed: `${path} is another file than the maps named` };
      if (isGone(errorCode(error))) return { changed: `${path} is gone: the range was unmapped or remapped` };
      return { file: openFailure(path, error, identity), via: "map_files" };
    }
    try {
      return { file: await this.#ids.lookupOpened(opened.handle, opened.stat, path), via: "map_files" };
    } finally {
      await opened.handle.close();
    }
  }

  /** The file by `paths`, proven by (device, inode) and a ctime not after `liveAt` (see `lookupIdentity`). */
  async #byPath(
    identity: FileIdentity,
    paths: string[],
    mapping: Mapping,
    pid: number,
    liveAt: number,
  ): Promise<{ file: FileResolution; via: FileVia }> {
    if (paths.length === 0)
      return {
        file: fileFail("missing", `${mapping.path} (deleted) of process ${pid} is reachable only through its mapping`),
        via: "path",
      };
    const file = await this.#ids.lookupIdentity(identity, paths, liveAt);
    return { file, via: file.path?.startsWith(`${this.#options.procRoot}/`) ? "root" : "path" };
  }

  /** The vdso's build ID in `pid`: this process's image when the target has the same ABI, else the target's own; read once per ABI. */
  async vdso(pid: number, mapping: Mapping): Promise<FileResolution> {
    this.#own ??= Promise.all([ownVdso(), elfAbi(SELF_EXE)]).catch(() => [undefined, undefined] as const);
    const [own, ownAbi] = await this.#own;
    const abi = await elfAbi(`${this.#options.procRoot}/${pid}/exe`).catch(() => undefined);
    const size = mapping.end - mapping.start;
    const mine = own !== undefined && abi !== undefined && abi === ownAbi && own.end - own.start === size;
    // An image of unknown ABI is its process's alone.
    const key = mine ? "self" : abi === undefined ? `pid ${pid}` : `${abi} ${size}`;
    const known = this.#vdsos.get(key);
    if (known !== undefined) return known.then((r) => (r.ok ? { ...r, cached: true } : r));
    const answer = this.#readVdso(
      mine ? SELF_MEM : `${this.#options.procRoot}/${pid}/mem`,
      mine ? own : mapping,
      mapping,
    );
    this.#vdsos.set(key, answer);
    // A failure (say, a target's memory we may not read) is not kept: another process may allow it.
    answer.then((r) => r.ok || this.#vdsos.delete(key));
    return answer;
  }

  async #readVdso(memPath: string, at: Mapping, mapping: Mapping): Promise<FileResolution> {
    const identity = mappingIdentity(mapping);
    this.#counts.vdsoReads++;
    try {
      const { buildId } = await readVdsoAt(memPath, at);
      return { ok: true, buildId, path: VDSO_NAME, identity, cached: false };
    } catch (error) {
      if (error instanceof ElfError) {
        const reason = error.code === "NO_BUILD_ID" ? "no-build-id" : "bad-elf";
        return fileFail(reason, `${VDSO_NAME} read from ${memPath}: ${error.message}`, VDSO_NAME, identity);
      }
      const failed = openFailure(memPath, error, identity);
      return failed.ok ? failed : { ...failed, path: VDSO_NAME };
    }
  }
}
