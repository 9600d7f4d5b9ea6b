// The error every package-archive reader throws, and the bounds on what one archive may cost.
import { integer } from "../../check.js";
import { describe } from "../../describe.js";

/** Why an archive could not be read. */
export type ArchiveErrorCode =
  /** Not an archive of its kind: no `!<arch>` or RPM lead magic, a malformed ar or RPM header, no `data.tar` member. */
  | "FORMAT"
  /** A compression or payload format this reader does not decode (bzip2, lzma, a stripped cpio payload). */
  | "UNSUPPORTED"
  /** The compressed stream, tar or cpio data is malformed (a bad checksum, a decoder error). */
  | "CORRUPT"
  /** The archive ends before its headers or data do. */
  | "TRUNCATED"
  /** A bound of {@link ArchiveLimits} or of a decoder was passed; reading stopped there. */
  | "LIMIT"
  /** The archive is no longer the file that was indexed: its device, inode, size, mtime or ctime differ. */
  | "CHANGED"
  /** The member asked for is not a regular file of the archive with the size indexed. */
  | "NO_MEMBER";

/** An archive that could not be read; its message starts with the archive's path. Nothing was left on disk. */
export class ArchiveError extends Error {
  /** Always "ArchiveError", so the error can be told apart after serialisation. */
  override readonly name = "ArchiveError";

  /**
   * @param code The class of fault.
   * @param archive The archive's path.
   * @param detail What was wrong, with the value and the bound involved.
   */
  constructor(
    readonly code: ArchiveErrorCode,
    readonly archive: string,
    detail: string,
  ) {
    super(`${archive}: ${detail}`);
  }
}

/** Bounds on the work, memory and disk one archive may cost; passing one ends the read with an {@link ArchiveError} `LIMIT`. */
export interface ArchiveLimits {
  /** Most bytes the archive's payload (a `.deb`'s `data.tar`, an `.rpm`'s cpio) may decompress to. */
  maxExpandedBytes: number;
  /** Most bytes the payload may decompress to per byte of the archive file: a bomb ends early, whatever `maxExpandedBytes` allows. */
  maxRatio: number;
  /** Most entries (files, directories, links) in the payload. */
  maxMembers: number;
  /** Longest member name, in bytes. */
  maxNameBytes: number;
  /** Largest member read for its build ID or extracted; larger members are counted and skipped. */
  maxMemberBytes: number;
  /** Members up to this size are read for their build ID in memory; larger ones through an unlinked temporary file. */
  maxMemoryMemberBytes: number;
  /** Largest zstd window a frame may name (the decoder allocates it); xz dictionaries are bounded at 64 MiB by the decoder itself. */
  maxZstdWindow: number;
  /**
   * Most source paths kept over all the archive's debuginfo members (each member's DWARF is bounded
   * on its own, as a file's). The exception to ending the read: a member that would pass it keeps
   * none and is counted ({@link ArchiveScan.sourcesOverLimit}); its build ID is indexed all the same.
   */
  maxSourceNames: number;
}

/**
 * The bounds used when none are given. 8 GiB covers the largest debug packages distributions ship
 * (a few GiB expanded); a ratio of 1000 is past what xz or zstd reach on real binaries and debug
 * data (10x at most here), so a bomb ends within 1000 bytes per byte it has; 8 MiB is the window of
 * `zstd -19`, the level Fedora and Ubuntu build packages with.
 */
export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxExpandedBytes: 8 * 1024 ** 3,
  maxRatio: 1000,
  maxMembers: 500_000,
  maxNameBytes: 4096,
  maxMemberBytes: 4 * 1024 ** 3,
  maxMemoryMemberBytes: 32 * 1024 ** 2,
  maxZstdWindow: 8 * 1024 ** 2,
  maxSourceNames: 2_000_000,
});

/**
 * `limits` over {@link DEFAULT_ARCHIVE_LIMITS}, each checked.
 * @throws TypeError or RangeError naming a bound that is not a positive safe integer, or an unknown one.
 */
export function archiveLimits(limits: Partial<ArchiveLimits> = {}): ArchiveLimits {
  if (typeof limits !== "object" || limits === null)
    throw new TypeError(`limits must be an object, got ${describe(limits)}`);
  const out = { ...DEFAULT_ARCHIVE_LIMITS };
  for (const [key, value] of Object.entries(limits)) {
    if (!(key in DEFAULT_ARCHIVE_LIMITS)) throw new TypeError(`limits.${key} is not an archive limit`);
    if (value !== undefined) out[key as keyof ArchiveLimits] = integer(`limits.${key}`, value, 1);
  }
  return out;
}
