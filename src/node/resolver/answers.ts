/**
 * What the resolver answers: a {@link FileResolution} per file, a {@link Resolution} per address,
 * and the {@link ResolveFailure} that says why there is no build ID.
 *
 * @packageDocumentation
 */
import type { FileIdentity } from "../identity.js";
import type { Mapping } from "../procfs/maps.js";

/** Why an address or a file yielded no build ID. */
export type ResolveFailure =
  /** No mapping of the process contains the address (maps re-read, at most once per {@link BuildIdResolverOptions.mapsMaxAgeMs}). */
  | "no-mapping"
  /** The mapping has no file: anonymous memory, `[heap]`, `[stack]`, `[vsyscall]`, `anon_inode:…`, `/dev/zero`. */
  | "anonymous"
  /** The process exited (or its PID does not exist). */
  | "exited"
  /** The kernel refused to show the process's maps or its file (EACCES, EPERM). */
  | "permission"
  /** The mapped file cannot be reached from here: deleted, in another mount namespace, or replaced at its path. */
  | "missing"
  /** The file is not an ELF object (or not a regular file). */
  | "not-elf"
  /** The file starts like ELF but its headers or notes are malformed. */
  | "bad-elf"
  /** A valid ELF object without an `NT_GNU_BUILD_ID` note. */
  | "no-build-id"
  /** A procfs file is not what the kernel makes: not a regular file, too large, or unparseable (a fake or hostile procfs). */
  | "bad-procfs"
  /**
   * The mapping changed while it was checked: its `map_files/` entry was gone, or named another
   * file, even after the maps were read again. Nothing is claimed about the address; ask again.
   */
  | "changed";

/**
 * How the file behind an answer was reached when it was last checked:
 * - `map_files`: through the mapping itself (`/proc/PID/map_files/START-END`): exactly the file mapped there;
 * - `root`: `/proc/PID/map_files/` may not be followed (`EPERM`, `EACCES`: it takes `CAP_SYS_ADMIN`),
 *   so the range was checked by name (`readlink`) and the file reached by its path in the process's
 *   root, checked by (device, inode) and a ctime not after that check;
 * - `path`: by its path in this mount namespace, checked likewise: the process's root was not
 *   reachable either, or the process has exited (then the ctime must not be after the moment the
 *   mapping was first seen: a newer file may have taken a deleted file's inode number);
 * - `memory`: the vdso, read from memory.
 */
export type FileVia = "map_files" | "root" | "path" | "memory";

/** A file's build ID, or why there is none; from {@link BuildIdResolver.resolveFile} and {@link FileBuildIds}. */
export type FileResolution =
  | {
      /** A build ID was found. */
      ok: true;
      /** Lowercase hex build ID. */
      buildId: string;
      /** The path the file was reached by. */
      path: string;
      /** Its (device, inode). */
      identity: FileIdentity;
      /** Served from the cache, without reading the file. */
      cached: boolean;
    }
  | {
      /** No build ID: see `reason`. */
      ok: false;
      /** Why there is no build ID. */
      reason: ResolveFailure;
      /** What exactly failed, with the path and error code. */
      detail: string;
      /** The path the file was sought at, when there is one (absent for a mapping with no file). */
      path?: string;
      /** The file's (device, inode), when known. */
      identity?: FileIdentity;
      /** Served from the negative cache. */
      cached: boolean;
    };

/** What {@link BuildIdResolver.resolve} found for one address. */
export type Resolution =
  | {
      /** A build ID was found. */
      ok: true;
      /** Lowercase hex build ID of the file mapped at the address. */
      buildId: string;
      /**
       * The mapped file's path as the process sees it (`" (deleted)"` removed), exact where the maps
       * line is ambiguous: taken from `map_files/` (a file named `x (deleted)`, a name with `\012`).
       */
      path: string;
      /** Offset of the address in that file: `address - start + offset`. */
      fileOffset: bigint;
      /** The mapping that holds the address. */
      mapping: Mapping;
      /** Served from the cache, without reading the file. */
      cached: boolean;
      /**
       * When the view behind the answer was confirmed, on the resolver's clock (its `now` option,
       * ms): the later of the read of the process's maps and the check of the file, whichever is
       * older. The answer is exact for a sample taken then; a later sample may have met a change
       * made since (an `exec`, a `dlopen`), at most {@link BuildIdResolverOptions.fileMaxAgeMs} ago.
       */
      verifiedAt: number;
      /** How long before the answer `verifiedAt` was, in ms. */
      ageMs: number;
      /** How the file was reached: see {@link FileVia}. */
      via: FileVia;
    }
  | {
      /** No build ID: see `reason`. */
      ok: false;
      /** Why there is no build ID. */
      reason: ResolveFailure;
      /** What exactly failed. */
      detail: string;
      /** The mapped file's path, when the address is in a file mapping. */
      path?: string;
      /** The address's offset in that file, when known. */
      fileOffset?: bigint;
      /** The mapping that holds the address, when there is one. */
      mapping?: Mapping;
      /** When the view behind the answer was confirmed (as for a build ID), when a view was consulted. */
      verifiedAt?: number;
      /** How long before the answer `verifiedAt` was, in ms. */
      ageMs?: number;
    };

/** A failed {@link FileResolution}. */
export function fileFail(
  reason: ResolveFailure,
  detail: string,
  path?: string,
  identity?: FileIdentity,
  cached = false,
): FileResolution {
  return { ok: false, reason, detail, path, identity, cached };
}
