/**
 * Extracted archive members on disk, as elfutils' server keeps its fdcache: the first request for a
 * member decompresses the archive up to it into a private directory; later requests (a section, a
 * range, the other artifact of the same file) open that copy. Files are named by a hash of the
 * archive's stamp and the member's name, never by a name from the archive, and the least recently
 * used are removed past a byte and a file bound.
 *
 * @packageDocumentation
 */
import { createHash } from "node:crypto";
import type { BigIntStats } from "node:fs";
import { closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { integer } from "../../check.js";
import { describe } from "../../describe.js";
import type { FileIdentity } from "../identity.js";
import { FileChangedError, openRegularSync } from "../safe-open.js";
import { type ArchiveStamp, archiveStamp, extractMember, sameStamp } from "./archive.js";
import { ArchiveError, type ArchiveLimits, archiveLimits } from "./archive-error.js";

/** Options for {@link ArchiveMemberCache.create}. */
export interface MemberCacheOptions {
  /** Directory to keep members in; a new private one under the system's temp directory by default. Removed by {@link ArchiveMemberCache.dispose} only when created here. */
  dir?: string;
  /** Most bytes of members kept. Default 1 GiB. A larger member is extracted, served from its open descriptor, and not kept. */
  maxBytes?: number;
  /** Most members kept. Default 1024. */
  maxFiles?: number;
  /** Bounds on reading the archives, over {@link DEFAULT_ARCHIVE_LIMITS}. */
  limits?: Partial<ArchiveLimits>;
  /**
   * Opens an archive to extract from, refusing another file than `expect` (`FileChangedError`):
   * a server passes its root-bounded open here. Default: the safe open, `openRegularSync`.
   */
  openArchive?: (path: string, expect: FileIdentity) => { fd: number; stat: BigIntStats };
}

/** Counters of a {@link ArchiveMemberCache}. */
export interface MemberCacheStats {
  /** Members kept now. */
  files: number;
  /** Their bytes. */
  bytes: number;
  /** Opens answered from a kept member. */
  hits: number;
  /** Opens that read the archive. */
  extractions: number;
  /** Members removed to stay within the bounds. */
  evictions: number;
}

interface Kept {
  path: string;
  size: number;
}

/** Members of archives extracted on demand and kept within bounds; see the module's description. */
export class ArchiveMemberCache {
  #dir: string;
  #owned: boolean;
  #maxBytes: number;
  #maxFiles: number;
  #limits: ArchiveLimits;
  #openArchive: NonNullable<MemberCacheOptions["openArchive"]>;
  // Insertion order is recency: a hit moves its key to the end.
  #kept = new Map<string, Kept>();
  #pending = new Map<string, Promise<void>>();
  #bytes = 0;
  #serial = 0;
  #stats = { hits: 0, extractions: 0, evictions: 0 };

  private constructor(dir: string, owned: boolean, maxBytes: number, maxFiles: number, options: MemberCacheOptions) {
    this.#dir = dir;
    this.#owned = owned;
    this.#maxBytes = maxBytes;
    this.#maxFiles = maxFiles;
    this.#limits = archiveLimits(options.limits);
    this.#openArchive = options.openArchive ?? ((path, expect) => openRegularSync(path, { expect }));
  }

  /**
   * A cache in `options.dir` (created if missing, mode 0700) or a new private temp directory.
   * @throws TypeError or RangeError naming a bad option.
   */
  static async create(options: MemberCacheOptions = {}): Promise<ArchiveMemberCache> {
    const maxBytes = integer("maxBytes", options.maxBytes ?? 1024 ** 3, 0);
    const maxFiles = integer("maxFiles", options.maxFiles ?? 1024, 0);
    archiveLimits(options.limits);
    if (options.openArchive !== undefined && typeof options.openArchive !== "function")
      throw new TypeError(`openArchive must be a function, got ${describe(options.openArchive)}`);
    if (options.dir !== undefined) {
      if (typeof options.dir !== "string" || options.dir === "")
        throw new TypeError(`dir must be a non-empty path, got ${JSON.stringify(options.dir)}`);
      await mkdir(options.dir, { recursive: true, mode: 0o700 });
      return new ArchiveMemberCache(options.dir, false, maxBytes, maxFiles, options);
    }
    const dir = await mkdtemp(join(tmpdir(), "buildid-members-"));
    return new ArchiveMemberCache(dir, true, maxBytes, maxFiles, options);
  }

  /** The directory members are kept in. */
  get dir(): string {
    return this.#dir;
  }

  /** Current counters. */
  get stats(): MemberCacheStats {
    return { files: this.#kept.size, bytes: this.#bytes, ...this.#stats };
  }

  /**
   * A read-only descriptor (the caller closes it) on member `member` of `size` bytes of the archive
   * at `archive`, extracting it first unless kept. The archive is read only while it still has `stamp`.
   * @throws {@link ArchiveError} `CHANGED` when the archive's stamp differs (or it is gone: the
   *   file system's error), `NO_MEMBER`, and as {@link extractMember} for a bad archive.
   */
  async open(archive: string, stamp: ArchiveStamp, member: string, size: number): Promise<number> {
    const key = createHash("sha256")
      .update(
        JSON.stringify([
          archive,
          `${stamp.dev}`,
          `${stamp.ino}`,
          `${stamp.size}`,
          `${stamp.mtimeNs}`,
          `${stamp.ctimeNs}`,
          member,
          size,
        ]),
      )
      .digest("hex");
    for (;;) {
      const kept = this.#kept.get(key);
      if (kept) {
        try {
          const fd = openSync(kept.path, constants.O_RDONLY | constants.O_NOFOLLOW);
          this.#kept.delete(key);
          this.#kept.set(key, kept);
          this.#stats.hits++;
          return fd;
        } catch {
          this.#forget(key);
        }
      }
      const pending = this.#pending.get(key);
      if (!pending) break;
      await pending.catch(() => {});
    }
    let fd = -1;
    const run = this.#extract(archive, stamp, member, size, key, (opened) => {
      fd = opened;
    });
    this.#pending.set(key, run);
    try {
      await run;
    } finally {
      this.#pending.delete(key);
    }
    return fd;
  }

  async #extract(
    archive: string,
    stamp: ArchiveStamp,
    member: string,
    size: number,
    key: string,
    give: (fd: number) => void,
  ): Promise<void> {
    let opened: { fd: number; stat: BigIntStats };
    try {
      opened = this.#openArchive(archive, { dev: stamp.dev, ino: stamp.ino });
    } catch (error) {
      if (error instanceof FileChangedError)
        throw new ArchiveError("CHANGED", archive, "another file than the one indexed (device and inode differ)");
      throw error;
    }
    const { fd: archiveFd, stat } = opened;
    const path = join(this.#dir, key);
    const part = `${path}.${process.pid}.${++this.#serial}.part`;
    let out = -1;
    try {
      if (!sameStamp(archiveStamp(stat), stamp))
        throw new ArchiveError("CHANGED", archive, "the archive changed since it was indexed (size, mtime or ctime)");
      out = openSync(part, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      this.#stats.extractions++;
      await extractMember(
        { path: archive, fd: archiveFd, stat },
        member,
        size,
        (chunk) => {
          for (let at = 0; at < chunk.length; ) at += writeSync(out, chunk, at);
        },
        { limits: this.#limits },
      );
      fsyncSync(out);
      renameSync(part, path);
    } catch (error) {
      if (out >= 0) {
        closeSync(out);
        unlinkSync(part);
      }
      throw error;
    } finally {
      closeSync(archiveFd);
    }
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    closeSync(out);
    this.#kept.set(key, { path, size });
    this.#bytes += size;
    give(fd);
    this.#evict();
  }

  // Removes least recently used members until within bounds; open descriptors stay valid.
  #evict(): void {
    for (const key of this.#kept.keys()) {
      if (this.#bytes <= this.#maxBytes && this.#kept.size <= this.#maxFiles) return;
      this.#forget(key);
      this.#stats.evictions++;
    }
  }

  #forget(key: string): void {
    const kept = this.#kept.get(key);
    if (!kept) return;
    this.#kept.delete(key);
    this.#bytes -= kept.size;
    try {
      unlinkSync(kept.path);
    } catch {}
  }

  /** Removes every kept member, and the directory when this cache created it. */
  async dispose(): Promise<void> {
    for (const key of [...this.#kept.keys()]) this.#forget(key);
    if (this.#owned) await rm(this.#dir, { recursive: true, force: true });
  }
}
