/**
 * What the resolver answers: a {@link FileResolution} per file, a {@link Resolution} per address,
 * and the {@link ResolveFailure} that says why there is no build ID.
 *
 * @packageDocumentation
 */
import type { FileIdentity } from "../identity.js";
import type { Mapping } from "../maps.js";

/** Why an address or a file yielded no build ID. */
export type ResolveFailure =
  /** No mapping of the process contains the address (maps re-read if older than {@link BuildIdResolverOptions.mapsMaxAgeMs}). */
  | "no-mapping"
  /** The mapping has no file: anonymous memory, `[heap]`, `[stack]`, `[vsyscall]`, `anon_inode:…` (maps re-read as for `no-mapping`). */
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
  | "bad-procfs";

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
      /** The mapped file's path as the process sees it (`" (deleted)"` removed). */
      path: string;
      /** Offset of the address in that file: `address - start + offset`. */
      fileOffset: bigint;
      /** The mapping that holds the address. */
      mapping: Mapping;
      /** Served from the cache, without reading the file. */
      cached: boolean;
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
