/**
 * File identities as small integers: each distinct {@link FileRef} gets a `fileId` once, so callers
 * key their caches by an integer. Ids are never reused: a ref the table forgot (it holds at most
 * `maxFiles`, forgetting the least recently mapped) gets a new id when next mapped, so two ids may
 * name one file (a cache miss) but one id never names two files.
 *
 * @module
 */
import { toHex } from "../hex.js";
import { SpaceEventError } from "./errors.js";
import type { FileRef } from "./events.js";

/** The largest id: ids go into `Int32Array`s. */
export const MAX_FILE_ID = 2 ** 31 - 1;

/**
 * Whether a mapping's path names anonymous memory, which has no file and so no build ID: `//anon`
 * (perf's name for it), an empty path, `[heap]`, `[stack]`, `[anon:NAME]`, `anon_inode:…`, shared
 * anonymous memory (`/dev/zero`, `/SYSV…`) and `/anon_hugepage`, as perf's `is_anon_memory` and
 * `is_no_dso_memory` read them. `[vdso]` and `[kernel.kallsyms]` are not: they have build IDs.
 */
export function isAnonymousPath(path: string): boolean {
  return (
    path === "" ||
    path === "//anon" ||
    path === "[heap]" ||
    path.startsWith("[stack") ||
    path.startsWith("[anon:") ||
    path.startsWith("[anon_shmem:") ||
    path.startsWith("anon_inode:") ||
    path.startsWith("/dev/zero") ||
    path.startsWith("/SYSV") ||
    path.startsWith("/anon_hugepage")
  );
}

/** The string two refs share exactly when they name the same file; pseudo and unknown refs are named by path. */
export function fileKey(file: FileRef, path: string): string {
  switch (file.kind) {
    case "inode":
      return `i${file.major}:${file.minor}:${file.inode}:${file.generation ?? "?"}`;
    case "build-id":
      return `b${toHex(file.buildId)}`;
    case "pseudo":
      return `p${path}`;
    case "unknown":
      return `u${path}`;
  }
}

/** A remembered file: its id and the ref every mapping of it shares. */
export interface FileEntry {
  readonly id: number;
  readonly file: FileRef;
}

/** A frozen copy of `file`, which the caller can no longer change (a reader may reuse a build ID's bytes). */
export function copyFileRef(file: FileRef): FileRef {
  switch (file.kind) {
    case "inode":
      return Object.freeze({
        kind: "inode",
        major: file.major,
        minor: file.minor,
        inode: file.inode,
        generation: file.generation,
      });
    case "build-id":
      return Object.freeze({ kind: "build-id", buildId: file.buildId.slice() });
    default:
      return Object.freeze({ kind: file.kind });
  }
}

/** Interns file refs: key -> entry, least recently mapped first. */
export class FileTable {
  readonly #entries = new Map<string, FileEntry>();
  readonly #max: number;
  readonly #lastId: number;
  #next = 0;

  /** @param max how many refs to remember; @param lastId the largest id to hand out. */
  constructor(max: number, lastId = MAX_FILE_ID) {
    this.#max = max;
    this.#lastId = lastId;
  }

  /** How many refs are remembered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Throws unless {@link intern} can hand out `count` more ids. */
  checkRoom(count: number): void {
    if (this.#next + count - 1 > this.#lastId) {
      throw new SpaceEventError(
        "LIMIT",
        `the model has named ${this.#next} files and cannot name ${count} more: ids end at ${this.#lastId}`,
      );
    }
  }

  /** The entry of `file` (at `path`), made now if it has none (call {@link checkRoom} first). */
  intern(file: FileRef, path: string): FileEntry {
    const entries = this.#entries;
    const key = fileKey(file, path);
    let entry = entries.get(key);
    if (entry !== undefined) {
      entries.delete(key);
    } else {
      entry = { id: this.#next++, file: copyFileRef(file) };
      if (entries.size >= this.#max) entries.delete(entries.keys().next().value!);
    }
    entries.set(key, entry);
    return entry;
  }
}
