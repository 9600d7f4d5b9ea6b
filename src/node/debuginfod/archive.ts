/**
 * Package archives as the reverse index and the server meet them: `.deb` and `.ddeb` (an ar archive
 * whose data.tar is read) and `.rpm` (a cpio payload). One pass streams the payload through its
 * decoder and a tar or cpio reader; {@link scanArchive} reads each ELF member's build ID on the way,
 * {@link extractMember} copies one member out. Member names are only ever labels: nothing is written
 * under a name taken from an archive, so `../` or absolute names and links cannot reach the disk.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, fstatSync, openSync, unlinkSync, writeSync } from "node:fs";
import { mkdtemp, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { ElfError } from "../../elf.js";
import { openRegularSync } from "../safe-open.js";
import { bounded, decompress, readRange } from "./archive-decode.js";
import type { PayloadEntry } from "./archive-entry.js";
import { ArchiveError, type ArchiveLimits, archiveLimits } from "./archive-error.js";
import { type ArchiveFormat, archiveFormat } from "./archive-format.js";
import { debPayload, type Payload, tarEntries } from "./deb.js";
import { DwarfError, readSourceNames } from "./dwarf-lines.js";
import { buildIdThrough, fdReader } from "./reads.js";
import { cpioEntries, rpmPayload } from "./rpm.js";
import { type ReadAt, readElfLayout } from "./sections.js";
import { canonicalSourcePath } from "./sources.js";

/** An archive's identity and state when read, as the index stamps a plain file: a rescan rereads it when one differs. */
export interface ArchiveStamp {
  /** `st_dev`. */
  dev: bigint;
  /** `st_ino`. */
  ino: bigint;
  /** `st_size`. */
  size: bigint;
  /** Modification time in nanoseconds. */
  mtimeNs: bigint;
  /** Status-change time in nanoseconds. */
  ctimeNs: bigint;
}

/** An archive already opened (e.g. through a root-bounded open) with `fstat` of its descriptor; the caller closes it. */
export interface OpenedArchive {
  /** Its path, for messages and `X-DEBUGINFOD-ARCHIVE`. */
  path: string;
  /** The open descriptor. */
  fd: number;
  /** `fstat` of the descriptor, with bigint fields. */
  stat: BigIntStats;
}

/** A path (opened here through the safe open, `openRegularSync`) or an {@link OpenedArchive}. */
export type ArchiveSource = string | OpenedArchive;

/** One ELF member with a build ID. */
export interface ArchivedElf {
  /** Its name in the archive with one leading `/`, as elfutils names it: `./usr/bin/ls` is `/usr/bin/ls`. */
  member: string;
  /** Its size in bytes. */
  size: number;
  /** Its modification time in the archive, in seconds (for `Last-Modified`). */
  mtime: number;
  /** Its build ID, lowercase hex. */
  buildId: string;
  /** Has loadable code (as {@link readElfLayout} decides for plain files). */
  executable: boolean;
  /** Has DWARF. */
  debuginfo: boolean;
  /**
   * The absolute source paths its DWARF line tables name, canonicalised as elfutils stores them (its
   * `r_sref` rows): what `/source` may answer for its build ID from a member of this or another
   * archive. Empty for a member without DWARF, with unreadable DWARF, or when sources are not read.
   */
  sources: string[];
}

/** A regular member that is not an ELF file with a build ID: one a source request may be answered from (elfutils' `r_sdef`). */
export interface ArchivedOther {
  /** Its name with one leading `/`, as {@link ArchivedElf.member}. */
  member: string;
  /** Its size in bytes. */
  size: number;
  /** Its modification time in the archive, in seconds. */
  mtime: number;
}

/** What {@link scanArchive} found. */
export interface ArchiveScan {
  /** The archive's path as given. */
  path: string;
  /** Its format. */
  format: ArchiveFormat;
  /** Its stamp, taken on the handle; the same after the read (else the scan is {@link ArchiveError} `CHANGED`). */
  stamp: ArchiveStamp;
  /** The payload read: "data.tar.xz", "cpio.zstd", …. */
  payload: string;
  /** ELF members with a build ID, in archive order. */
  elves: ArchivedElf[];
  /** Every other regular member with a name, in archive order. */
  otherFiles: ArchivedOther[];
  /** Entries of every type in the payload. */
  members: number;
  /** Regular files among them. */
  files: number;
  /** Regular files that are ELF but unreadable as such or without a build ID. */
  elfWithoutBuildId: number;
  /** Regular files larger than {@link ArchiveLimits.maxMemberBytes}, skipped unread. */
  tooLarge: number;
  /** Entries whose name has a `..` component or a NUL, skipped. */
  refusedNames: number;
  /** Debuginfo members whose source paths were not kept: they would have passed {@link ArchiveLimits.maxSourceNames}. */
  sourcesOverLimit: number;
  /** Bytes the payload decompressed to. */
  expandedBytes: number;
}

/** Options for {@link scanArchive} and {@link extractMember}. */
export interface ArchiveOptions {
  /** Bounds over {@link DEFAULT_ARCHIVE_LIMITS}. */
  limits?: Partial<ArchiveLimits>;
  /** Ends the read at the next member (the error is the signal's reason). */
  signal?: AbortSignal;
  /** Directory for the unlinked temporary file large members are read through; default the system's. */
  tmpdir?: string;
  /** Read the source paths each ELF member's DWARF names ({@link ArchivedElf.sources}); default true (elfutils' `--disable-source-scan` is false). */
  sources?: boolean;
}

/** The stamp of a file from its `fstat` (bigint fields). */
export function archiveStamp(st: BigIntStats): ArchiveStamp {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

/** Whether two stamps are equal in every field. */
export function sameStamp(a: ArchiveStamp, b: ArchiveStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * Calls `visit` for each entry of the payload of the archive open at `opened.fd`, in order, until it
 * returns true or the payload ends; every bound of `limits` holds throughout. @internal
 */
export async function walkArchive(
  opened: OpenedArchive,
  format: ArchiveFormat,
  limits: ArchiveLimits,
  visit: (entry: PayloadEntry) => Promise<boolean | undefined>,
  signal?: AbortSignal,
): Promise<{ payload: Payload; members: number; expandedBytes: number }> {
  const { path, fd, stat } = opened;
  const size = Number(stat.size);
  const payload = format === "deb" ? await debPayload(fd, path, size) : await rpmPayload(fd, path, size);
  const limit = Math.min(limits.maxExpandedBytes, limits.maxRatio * Math.max(size, 1));
  let expandedBytes = 0;
  const range = readRange(fd, path, payload.start, payload.length);
  const counted = (async function* () {
    for await (const chunk of bounded(
      decompress(range, payload.compression, path, limits),
      limit,
      path,
      `${payload.name} (limit ${limits.maxExpandedBytes} bytes, or ${limits.maxRatio} per byte of the archive)`,
    )) {
      expandedBytes += chunk.length;
      yield chunk;
    }
  })();
  const entries = format === "deb" ? tarEntries(counted, path, limits) : cpioEntries(counted, path, limits);
  let members = 0;
  try {
    for await (const entry of entries) {
      signal?.throwIfAborted();
      if (++members > limits.maxMembers)
        throw new ArchiveError("LIMIT", path, `${payload.name} has more than ${limits.maxMembers} members`);
      if (await visit(entry)) break;
    }
  } finally {
    await entries.return(undefined);
    // A decoder may stop pulling without closing its source: end the reads here, before the caller closes `fd`.
    await range.return(undefined);
  }
  return { payload, members, expandedBytes };
}

async function opening<T>(
  source: ArchiveSource,
  work: (opened: OpenedArchive, format: ArchiveFormat) => Promise<T>,
): Promise<T> {
  const path = typeof source === "string" ? source : source.path;
  const format = archiveFormat(path);
  if (format === undefined) throw new ArchiveError("FORMAT", path, "not named .deb, .ddeb or .rpm");
  if (typeof source !== "string") return work(source, format);
  const { fd, stat } = openRegularSync(path);
  try {
    return await work({ path, fd, stat }, format);
  } finally {
    closeSync(fd);
  }
}

// The first `want` bytes of `body` gathered, and an iterator over the rest.
async function head(
  body: AsyncIterable<Uint8Array>,
  want: number,
): Promise<{ first: Uint8Array; rest: AsyncIterator<Uint8Array> }> {
  const rest = body[Symbol.asyncIterator]();
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < want) {
    const next = await rest.next();
    if (next.done) break;
    parts.push(next.value);
    got += next.value.length;
  }
  const first = new Uint8Array(got);
  let at = 0;
  for (const p of parts) {
    first.set(p, at);
    at += p.length;
  }
  return { first, rest };
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** An ELF member's bytes held for positional reads, in memory or in an unlinked temporary file. */
interface HeldMember {
  read: ReadAt;
  release(): void;
}

// Reads `entry` to its end: `undefined` unless it starts with the ELF magic; else held in memory up to
// `maxMemoryMemberBytes`, past that in a file made in the directory `spool()` gives and unlinked at once.
async function holdElf(
  entry: PayloadEntry,
  limits: ArchiveLimits,
  spool: () => Promise<string>,
): Promise<HeldMember | undefined> {
  const { first, rest } = await head(entry.body, Math.min(entry.size, 4096));
  try {
    if (first.length < 4 || ELF_MAGIC.some((b, i) => first[i] !== b)) return undefined;
    if (entry.size <= limits.maxMemoryMemberBytes) {
      const bytes = new Uint8Array(entry.size);
      bytes.set(first);
      let at = first.length;
      for (let next = await rest.next(); !next.done; next = await rest.next()) {
        bytes.set(next.value, at);
        at += next.value.length;
      }
      return { read: (offset, length) => bytes.subarray(offset, offset + length), release() {} };
    }
    const file = join(await spool(), "member");
    const fd = openSync(file, "wx+", 0o600);
    unlinkSync(file);
    try {
      writeSync(fd, first);
      for (let next = await rest.next(); !next.done; next = await rest.next()) writeSync(fd, next.value);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return { read: fdReader(fd), release: () => closeSync(fd) };
  } finally {
    await rest.return?.();
  }
}

// The absolute paths a member's DWARF names, canonicalised; none when its DWARF cannot be read.
function sourcePaths(read: ReadAt, size: number): string[] {
  let names: ReturnType<typeof readSourceNames>;
  try {
    names = readSourceNames(read, size);
  } catch (error) {
    if (error instanceof DwarfError || error instanceof ElfError) return [];
    throw error;
  }
  const paths = new Set<string>();
  for (const name of names.sources.keys()) {
    const path = canonicalSourcePath(name);
    if (path.startsWith("/")) paths.add(path);
  }
  return [...paths];
}

/** Reads the archive's payload once and returns the build ID, kind and size of every ELF member that has a build ID. */
export async function scanArchive(source: ArchiveSource, options: ArchiveOptions = {}): Promise<ArchiveScan> {
  const limits = archiveLimits(options.limits);
  const readsSources = options.sources ?? true;
  return opening(source, async (opened, format) => {
    const { path, stat, fd } = opened;
    const result: ArchiveScan = {
      path,
      format,
      stamp: archiveStamp(stat),
      payload: "",
      elves: [],
      otherFiles: [],
      members: 0,
      files: 0,
      elfWithoutBuildId: 0,
      tooLarge: 0,
      refusedNames: 0,
      sourcesOverLimit: 0,
      expandedBytes: 0,
    };
    let sourceBudget = limits.maxSourceNames;
    let spoolDir: string | undefined;
    const spool = async (): Promise<string> =>
      (spoolDir ??= await mkdtemp(join(options.tmpdir ?? tmpdir(), "buildid-archive-")));
    const classify = async (entry: PayloadEntry): Promise<undefined> => {
      if (entry.member === undefined) {
        result.refusedNames++;
        return;
      }
      if (!entry.regular) return;
      result.files++;
      const { member, size, mtime } = entry;
      const other = { member, size, mtime };
      if (entry.size > limits.maxMemberBytes) {
        result.tooLarge++;
        result.otherFiles.push(other);
        return;
      }
      const held = await holdElf(entry, limits, spool);
      if (!held) {
        result.otherFiles.push(other);
        return;
      }
      try {
        const layout = readElfLayout(held.read, entry.size);
        const { buildId } = buildIdThrough(held.read, entry.size);
        let sources = layout.debuginfo && readsSources ? sourcePaths(held.read, entry.size) : [];
        if (sources.length > sourceBudget) {
          result.sourcesOverLimit++;
          sources = [];
        }
        sourceBudget -= sources.length;
        const { executable, debuginfo } = layout;
        result.elves.push({ member, size, mtime, buildId, executable, debuginfo, sources });
      } catch (error) {
        if (!(error instanceof ElfError)) throw error;
        result.elfWithoutBuildId++;
        result.otherFiles.push(other);
      } finally {
        held.release();
      }
    };
    try {
      const walked = await walkArchive(opened, format, limits, classify, options.signal);
      result.payload = walked.payload.name;
      result.members = walked.members;
      result.expandedBytes = walked.expandedBytes;
      if (!sameStamp(archiveStamp(fstatSync(fd, { bigint: true })), result.stamp))
        throw new ArchiveError("CHANGED", path, "the archive changed while it was read");
      return result;
    } finally {
      if (spoolDir) await rmdir(spoolDir).catch(() => {});
    }
  });
}

/**
 * Streams the bytes of regular member `member` (a name as {@link ArchivedElf.member} gives it) to
 * `write`, in order; returns its size. The archive is read up to that member only.
 * @throws {@link ArchiveError} `NO_MEMBER` when the payload has no such regular file or its size is
 *   not `size`, and as {@link scanArchive} for a bad archive.
 */
export async function extractMember(
  source: ArchiveSource,
  member: string,
  size: number,
  write: (chunk: Uint8Array) => Promise<void> | void,
  options: ArchiveOptions = {},
): Promise<number> {
  const limits = archiveLimits(options.limits);
  return opening(source, async (opened, format) => {
    let found = false;
    await walkArchive(
      opened,
      format,
      limits,
      async (entry) => {
        if (entry.member !== member || !entry.regular || entry.size !== size) return;
        let written = 0;
        for await (const chunk of entry.body) {
          written += chunk.length;
          await write(chunk);
        }
        if (written !== size)
          throw new ArchiveError("TRUNCATED", opened.path, `${member} ended at ${written} of its ${size} bytes`);
        found = true;
        return true;
      },
      options.signal,
    );
    if (!found)
      throw new ArchiveError("NO_MEMBER", opened.path, `no regular member ${JSON.stringify(member)} of ${size} bytes`);
    return size;
  });
}

/** The headers elfutils' server sends with an artifact from an archive: the archive's path, and the member's file name. */
export function archiveHeaders(archive: string, member: string): Record<string, string> {
  return { "X-DEBUGINFOD-ARCHIVE": archive, "X-DEBUGINFOD-FILE": basename(member) };
}
