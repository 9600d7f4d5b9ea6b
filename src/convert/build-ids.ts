/**
 * The build ID of each file samples resolved into, from the most exact source that names it: the
 * kernel's own (an MMAP2 in build-ID form, `perf record --buildid-mmap`), else the recording's
 * build-ID table (the BUILD_ID feature or HEADER_BUILD_ID records, which perf keys by path), else a
 * caller's reader keyed by the file's identity. A file none of them names exactly keeps no build ID
 * and a reason; it never gets another file's.
 *
 * @module
 */
import { toHex } from "../hex.js";
import type { BuildIdEntry } from "../perf/header.js";
import type { BuildIdAnswer } from "../pprof.js";
import { type FileRef, fileKey, KERNEL_PID } from "../spaces/index.js";
import { KERNEL_NAME } from "./feed.js";

/**
 * Reads the build ID of a file a recording names, where the recording has none for it: `file` is its
 * identity (an `inode` ref, or a `pseudo` one for `[vdso]` and the kernel), `path` the name it was mapped
 * under, `pid` a process that mapped it ({@link KERNEL_PID} for the kernel). Answer the build ID as hex
 * only for that exact file (compare its device and inode); a reason or `undefined` otherwise. Called at
 * most once per file identity.
 */
export type ReadBuildId = (file: FileRef, path: string, pid: number) => BuildIdAnswer | Promise<BuildIdAnswer>;

/** Where a file's build ID came from. */
export type BuildIdSource =
  /** The MMAP2 record itself (`--buildid-mmap`): the kernel read it from the mapped file. */
  | "mmap"
  /** The recording's build-ID table, by path (what `perf report` uses). */
  | "table"
  /** The caller's {@link ReadBuildId}. */
  | "read";

/** A file's build ID, or why it has none. */
export type FileBuildId =
  | {
      /** The build ID, lower-case hex. */
      readonly buildId: string;
      /** Where it came from. */
      readonly source: BuildIdSource;
    }
  | {
      /** None: the file could not be named exactly. */
      readonly buildId: undefined;
      /** Why, in words. */
      readonly reason: string;
    };

/** The name perf gives a mapped path's dso: `[kernel.kallsyms]` for the kernel's text maps, the path otherwise. */
export function dsoName(path: string, pid: number): string {
  return pid === KERNEL_PID && path.startsWith(KERNEL_NAME) ? KERNEL_NAME : path;
}

const HEX_ID = /^(?:[0-9a-f]{2}){1,255}$/;

/** Finds build IDs for files by the rules of the module comment; one per file identity. */
export class BuildIdFinder {
  readonly #paths = new Map<string, Set<string>>();
  readonly #answers = new Map<string, Promise<FileBuildId>>();
  readonly #read: ReadBuildId | undefined;

  /** @param read the reader of last resort, or none */
  constructor(read?: ReadBuildId) {
    this.#read = read;
  }

  /** Notes that `path` was mapped as `file`: a table keyed by path names none of a path's files once it names two. */
  mapped(file: FileRef, path: string): void {
    if (file.kind !== "inode" && file.kind !== "build-id") return;
    let keys = this.#paths.get(path);
    if (keys === undefined) {
      keys = new Set();
      this.#paths.set(path, keys);
    }
    if (keys.size < 2) keys.add(fileKey(file, path));
  }

  /** The build ID of `file` mapped at `path` by `pid`, given the recording's build-ID `table` (host entries are used). */
  find(file: FileRef, path: string, pid: number, table: readonly BuildIdEntry[]): Promise<FileBuildId> {
    const key = fileKey(file, path);
    let answer = this.#answers.get(key);
    if (answer === undefined) {
      answer = this.#find(file, path, pid, table);
      this.#answers.set(key, answer);
    }
    return answer;
  }

  async #find(file: FileRef, path: string, pid: number, table: readonly BuildIdEntry[]): Promise<FileBuildId> {
    if (file.kind === "build-id") return { buildId: toHex(file.buildId), source: "mmap" };
    const names = this.#paths.get(path)?.size ?? 1;
    const name = dsoName(path, pid);
    const ids = new Set(table.filter((e) => e.pid === KERNEL_PID && e.filename === name).map((e) => e.buildId));
    let why: string;
    if (names > 1) why = `${path} names more than one file in the recording, and its build-ID table is keyed by path`;
    else if (ids.size === 1) return { buildId: [...ids][0]!, source: "table" };
    else if (ids.size > 1) why = `the recording's build-ID table gives ${path} ${ids.size} different build IDs`;
    else why = `the recording has no build ID for ${name}`;
    if (file.kind === "unknown")
      return { buildId: undefined, reason: `${why}, and its MMAP record has no device and inode to read it by` };
    if (this.#read === undefined) return { buildId: undefined, reason: why };
    let read: BuildIdAnswer;
    try {
      read = await this.#read(file, path, pid);
    } catch (error) {
      return {
        buildId: undefined,
        reason: `${why}; reading it failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    if (typeof read === "string") {
      const id = read.toLowerCase();
      if (HEX_ID.test(id)) return { buildId: id, source: "read" };
      return { buildId: undefined, reason: `${why}; the reader answered ${JSON.stringify(read)}, not a hex build ID` };
    }
    return { buildId: undefined, reason: `${why}; ${read?.reason ?? "the reader found none"}` };
  }
}
