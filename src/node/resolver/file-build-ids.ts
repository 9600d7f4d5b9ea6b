/**
 * {@link FileBuildIds}: file identity -> build ID, each file read once while it stays unchanged.
 * The layer under the `/proc` resolver and the perf.data commands alike: whoever names a file by
 * its (device, inode) asks here, and the file is read (through safe-open.ts: non-blocking, checked
 * on the handle) only when no held answer vouches for it.
 *
 * Exactness. The cache key is {@link identityKey}: the (device, inode) pair packed into 64 bits
 * when it fits exactly (inode below 2^32), else a 64-bit mix of it. Beside every entry sits a
 * stamp holding the full pair, mtime, ctime and size; a hit is served only when the pair is equal
 * and the file's stat shows the same times and size. So a mixed key that collides, and a file
 * rewritten in place under the same inode, read as misses.
 *
 * Files without a build ID (not ELF, malformed, no note) are negative entries that expire. Build
 * IDs longer than the cache's {@link BUILD_ID_MAX} bytes (`--build-id=0x…`, mold's sha256) are kept
 * in a small side table with their stamps, not in the cache: they are rare (10 of 4,883 files in a
 * real corpus), and the table's fixed slots stay the kernel's size.
 *
 * @packageDocumentation
 */
import type { BigIntStats } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { BuildIdCache } from "../../cache.js";
import { integer, string, u64 } from "../../check.js";
import { describe } from "../../describe.js";
import { ElfError, hasElfMagic } from "../../elf.js";
import { BUILD_ID_MAX } from "../../layout.js";
import type { InodeFileRef } from "../../spaces/index.js";
import type { WasmSource } from "../../wasm.js";
import { readBuildIdFromFile } from "../elf-file.js";
import { errorCode, isDenied } from "../errno.js";
import { deviceOf, type FileIdentity, identityKey, sameIdentity } from "../identity.js";
import { FileChangedError, NotRegularFileError, type OpenedFile, openRegular } from "../safe-open.js";
import { type FileResolution, fileFail, type ResolveFailure } from "./answers.js";
import { decodeStamps, encodeStamps, type SavedStamp, type Stamp, sameStamp, stampOf } from "./stamps.js";

/** Options for {@link FileBuildIds.create}. */
export interface FileBuildIdsOptions {
  /** Build IDs kept (CLOCK eviction beyond it). Default 16384, the OpenTelemetry profiler's size. */
  capacity?: number;
  /** Lifetime of a negative entry (no build ID, not ELF, malformed), in ms. Default 60000. */
  negativeTtlMs?: number;
  /** Most negative entries kept; the oldest goes first. Default 4096. */
  negativeCapacity?: number;
  /** Clock for negative lifetimes, in ms. Default `performance.now`. */
  now?: () => number;
  /** The cache core to load instead of the packaged one. */
  wasm?: WasmSource;
  /**
   * Saved state to start from: a {@link BuildIdCache.snapshot} and the {@link FileBuildIds.exportStamps}
   * saved with it. An entry is kept only when a stamp vouches for its exact build ID; the rest are dropped.
   */
  restore?: {
    /** The cache's bytes, from {@link BuildIdCache.snapshot}. */
    cache: Uint8Array;
    /** The stamps from {@link FileBuildIds.exportStamps}; without them every restored entry is dropped. */
    stamps?: Uint8Array;
  };
}

/** Counters of a {@link FileBuildIds}, from {@link FileBuildIds.stats}. */
export interface FileBuildIdsStats {
  /** Lookups answered from the cache (or the long IDs) with a build ID, stamp checked. */
  hits: number;
  /** Lookups answered from a live negative entry. */
  negativeHits: number;
  /** Lookups that read the file. */
  reads: number;
  /** Held entries found stale: the file changed under the same (device, inode). */
  stale: number;
  /** Live negative entries. */
  negativeEntries: number;
  /** Build IDs longer than {@link BUILD_ID_MAX} bytes, held beside the cache. */
  longIds: number;
  /** Entries kept from {@link FileBuildIdsOptions.restore}. */
  restored: number;
  /** Entries of the restored cache dropped for want of a matching stamp. */
  restoreDropped: number;
}

/** A cache entry's key and the stamp object stored with it: another stamp object later means the entry was replaced. */
export interface HeldEntry {
  /** The cache key ({@link identityKey}). */
  key: bigint;
  /** The stamp stored with the entry. */
  stamp: Stamp;
}

interface Negative extends Stamp {
  reason: ResolveFailure;
  detail: string;
  expires: number;
}

// A real profile meets a handful; each costs a Map entry and its stamp.
const LONG_IDS_KEPT = 1024;

/** The answer for a path that could not be opened as a regular file. */
export function openFailure(path: string, error: unknown, identity?: FileIdentity): FileResolution {
  if (error instanceof NotRegularFileError) return fileFail("not-elf", error.message, path, identity);
  const code = errorCode(error);
  return fileFail(isDenied(code) ? "permission" : "missing", `${path}: ${code}`, path, identity);
}

function identityOf(ref: FileIdentity | InodeFileRef): FileIdentity {
  if (ref === null || typeof ref !== "object") throw new TypeError(`identity must be an object, got ${describe(ref)}`);
  if ("kind" in ref) {
    if (ref.kind !== "inode") throw new TypeError(`identity must be an inode ref, got kind ${describe(ref.kind)}`);
    integer("identity.major", ref.major, 0, 2 ** 32 - 1);
    integer("identity.minor", ref.minor, 0, 2 ** 32 - 1);
    return { dev: deviceOf(ref.major, ref.minor), ino: u64("identity.inode", ref.inode) };
  }
  return { dev: u64("identity.dev", ref.dev), ino: u64("identity.ino", ref.ino) };
}

/** How far a file's ctime must precede the moment its inode was known live: ctime comes from the kernel's coarse clock, up to a tick (10 ms at `HZ` 100) behind `Date.now()`. */
const CTIME_SLACK_MS = 10;

/**
 * File identity -> build ID, cached: see the module comment. Every answer is a
 * {@link FileResolution}; nothing a file on a live system does is thrown.
 *
 * - {@link lookupStat}: what is held for a file whose stat the caller took (no I/O), or `undefined`.
 * - {@link lookupOpened}: the build ID of a file the caller opened, from what is held or read from the handle.
 * - {@link lookupIdentity}: the build ID of the file with a given (device, inode), reached through
 *   the first candidate path that opens as that very file.
 * - {@link lookupPath}: the build ID of whatever file is at a path.
 *
 * @example
 * ```ts
 * const ids = await FileBuildIds.create();
 * const r = await ids.lookupIdentity({ kind: "inode", major: 254, minor: 0, inode: 339380n }, ["/usr/lib/x86_64-linux-gnu/libc.so.6"]);
 * if (r.ok) console.log(r.buildId);
 * ```
 */
export class FileBuildIds {
  /** The build-ID cache: key {@link identityKey}, value the build ID. */
  readonly cache: BuildIdCache;
  /** Beside each cache entry: its full identity and the file's stamp when read; dropped on eviction. */
  readonly #stamps: Map<bigint, Stamp>;
  readonly #long = new Map<bigint, { stamp: Stamp; buildId: string }>();
  readonly #negatives = new Map<bigint, Negative>();
  readonly #negativeTtlMs: number;
  readonly #negativeCapacity: number;
  readonly #now: () => number;
  #ids = new Uint8Array(64 * BUILD_ID_MAX);
  #lengths = new Uint8Array(64);
  readonly #stats = { hits: 0, negativeHits: 0, reads: 0, stale: 0, restored: 0, restoreDropped: 0 };

  private constructor(
    cache: BuildIdCache,
    stamps: Map<bigint, Stamp>,
    settings: { negativeTtlMs: number; negativeCapacity: number; now: () => number },
  ) {
    this.cache = cache;
    this.#stamps = stamps;
    this.#negativeTtlMs = settings.negativeTtlMs;
    this.#negativeCapacity = settings.negativeCapacity;
    this.#now = settings.now;
  }

  /**
   * Creates one with its own cache (restored from `options.restore` when given).
   * @throws TypeError or RangeError naming the option when a count is not an integer or out of range;
   *   StampsFormatError for restored stamps that cannot be read; the cache's errors for a bad snapshot.
   */
  static async create(options: FileBuildIdsOptions = {}): Promise<FileBuildIds> {
    const settings = {
      negativeTtlMs: integer("negativeTtlMs", options.negativeTtlMs ?? 60_000, 0),
      negativeCapacity: integer("negativeCapacity", options.negativeCapacity ?? 4096, 0),
      now: options.now ?? (() => performance.now()),
    };
    const stamps = new Map<bigint, Stamp>();
    const onEvict = (key: bigint) => stamps.delete(key);
    if (options.restore === undefined) {
      const cache = await BuildIdCache.create({ capacity: options.capacity ?? 16_384, onEvict, wasm: options.wasm });
      return new FileBuildIds(cache, stamps, settings);
    }
    const saved = options.restore.stamps === undefined ? [] : decodeStamps(options.restore.stamps);
    const cache = await BuildIdCache.restore(options.restore.cache, {
      onEvict,
      wasm: options.wasm,
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
    });
    const ids = new FileBuildIds(cache, stamps, settings);
    ids.#adopt(saved);
    return ids;
  }

  /**
   * What is held for the file whose stat is `stat` (a `BigIntStats` or a {@link Stamp}), reached at
   * `path`: a build ID whose stamp matches, or a live negative entry; `undefined` when the file must
   * be read ({@link lookupOpened}). Makes no system call.
   */
  lookupStat(stat: Stamp, path: string): FileResolution | undefined {
    const key = identityKey(stat);
    const identity: FileIdentity = { dev: stat.dev, ino: stat.ino };
    const stamp = this.#stamps.get(key);
    if (stamp !== undefined) {
      if (sameStamp(stamp, stat)) {
        const buildId = this.cache.get(key);
        if (buildId !== undefined) {
          this.#stats.hits++;
          return { ok: true, buildId, path, identity, cached: true };
        }
      } else if (sameIdentity(stamp, stat)) {
        this.#stats.stale++;
      }
    }
    const long = this.#long.get(key);
    if (long !== undefined) {
      if (sameStamp(long.stamp, stat)) {
        this.#stats.hits++;
        return { ok: true, buildId: long.buildId, path, identity, cached: true };
      }
      if (sameIdentity(long.stamp, stat)) this.#stats.stale++;
      this.#long.delete(key);
    }
    const negative = this.#negatives.get(key);
    if (negative !== undefined) {
      if (sameStamp(negative, stat) && this.#now() < negative.expires) {
        this.#stats.negativeHits++;
        return fileFail(negative.reason, negative.detail, path, identity, true);
      }
      if (sameIdentity(negative, stat) && !sameStamp(negative, stat)) this.#stats.stale++;
      this.#negatives.delete(key);
    }
    return undefined;
  }

  /**
   * The build ID of the file open as `handle`, whose `fstat` is `stat`, reached at `path`: from what
   * is held when its stamp still matches, else read from the handle (ELF header, program headers,
   * notes) and kept. The caller closes the handle.
   */
  async lookupOpened(handle: FileHandle, stat: BigIntStats, path: string): Promise<FileResolution> {
    const held = this.lookupStat(stat, path);
    if (held !== undefined) return held;
    const key = identityKey(stat);
    const now = stampOf(stat);
    const identity: FileIdentity = { dev: stat.dev, ino: stat.ino };
    this.#stats.reads++;
    try {
      const head = new Uint8Array(4);
      const { bytesRead } = await handle.read(head, 0, 4, 0);
      if (!hasElfMagic(head.subarray(0, bytesRead)))
        return this.#negative(key, now, "not-elf", `${path} is not ELF`, path);
      let buildId: string;
      try {
        buildId = (await readBuildIdFromFile(handle, { size: Number(now.size) })).buildId;
      } catch (error) {
        if (!(error instanceof ElfError)) throw error;
        const reason = error.code === "NO_BUILD_ID" ? "no-build-id" : "bad-elf";
        return this.#negative(key, now, reason, `${path}: ${error.message}`, path);
      }
      this.#negatives.delete(key);
      if (buildId.length > 2 * BUILD_ID_MAX) {
        if (this.#stamps.delete(key)) this.cache.delete(key);
        this.#keepLong(key, now, buildId);
      } else {
        this.#long.delete(key);
        this.#stamps.set(key, now);
        this.cache.set(key, buildId);
      }
      return { ok: true, buildId, path, identity, cached: false };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === undefined) throw error;
      return fileFail(isDenied(code) ? "permission" : "missing", `${path}: ${code}`, path, identity);
    }
  }

  /**
   * The build ID of the file `identity` names (a (device, inode) pair, or a model's inode ref, whose
   * generation is not checked: `stat` does not show it), reached through the first of
   * `candidatePaths` that opens as that very file: each is opened without blocking and checked on
   * the handle, a path holding another file is passed over. Fails `missing` (or `permission` when a
   * path was refused) naming every path tried.
   *
   * `liveAt` (realtime clock, ms, as `Date.now()`) is a moment the wanted file was known live (say,
   * mapped): an inode number names one live file at a time, so a file whose ctime is later may be
   * another that took the number after the wanted one was deleted, and is passed over as well. A
   * file's ctime comes from a clock up to a tick coarse: it must precede `liveAt` by 10 ms.
   * @throws TypeError or RangeError for an identity, paths or `liveAt` of the wrong shape.
   */
  async lookupIdentity(
    identity: FileIdentity | InodeFileRef,
    candidatePaths: readonly string[],
    liveAt?: number,
  ): Promise<FileResolution> {
    const want = identityOf(identity);
    if (liveAt !== undefined) integer("liveAt", liveAt, 0);
    const latest = liveAt === undefined ? undefined : BigInt(liveAt - CTIME_SLACK_MS) * 1_000_000n;
    if (!Array.isArray(candidatePaths))
      throw new TypeError(`candidatePaths must be an array, got ${describe(candidatePaths)}`);
    candidatePaths.forEach((p, i) => {
      string(`candidatePaths[${i}]`, p);
    });
    const problems: string[] = [];
    let denied = false;
    for (const path of candidatePaths) {
      let opened: OpenedFile;
      try {
        opened = await openRegular(path, { expect: want });
      } catch (error) {
        if (error instanceof NotRegularFileError) return fileFail("not-elf", error.message, path, want);
        if (error instanceof FileChangedError) {
          problems.push(`${path} is another file`);
          continue;
        }
        const code = errorCode(error);
        if (isDenied(code)) denied = true;
        problems.push(`${path}: ${code}`);
        continue;
      }
      try {
        if (latest !== undefined && opened.stat.ctimeNs > latest) {
          const ctime = new Date(Number(opened.stat.ctimeNs / 1_000_000n)).toISOString();
          problems.push(
            `${path} has the (device, inode) but its ctime ${ctime} is after ${new Date(liveAt!).toISOString()}, when the file was known live: another file may have taken the inode number`,
          );
          continue;
        }
        return await this.lookupOpened(opened.handle, opened.stat, path);
      } finally {
        await opened.handle.close();
      }
    }
    const detail = problems.length === 0 ? "no path to try" : problems.join("; ");
    return fileFail(denied ? "permission" : "missing", detail, candidatePaths[0], want);
  }

  /**
   * The build ID of whatever regular file is at `path` now, opened without blocking.
   * @throws TypeError when `path` is not a string.
   */
  async lookupPath(path: string): Promise<FileResolution> {
    string("path", path);
    let opened: OpenedFile;
    try {
      opened = await openRegular(path);
    } catch (error) {
      return openFailure(path, error);
    }
    try {
      return await this.lookupOpened(opened.handle, opened.stat, path);
    } finally {
      await opened.handle.close();
    }
  }

  /**
   * The cache entry of `identity` with the stamp stored with it, for a caller that holds answers
   * between stat checks and confirms them with {@link confirmMany}; `undefined` when none (a long
   * ID or a negative entry, whose holder needs no confirmation).
   */
  held(identity: FileIdentity): HeldEntry | undefined {
    const key = identityKey(identity);
    const stamp = this.#stamps.get(key);
    return stamp === undefined ? undefined : { key, stamp };
  }

  /**
   * One cache lookup for `count` held entries: `confirmed[i]` is 1 when the cache still holds
   * `keys[i]` under the very stamp `stamps[i]` (see {@link held}), else 0 (evicted, or replaced after
   * the file changed). Confirmed ones count as hits and mark the entries used.
   */
  confirmMany(keys: BigUint64Array, stamps: readonly Stamp[], count: number, confirmed: Uint8Array): void {
    if (this.#lengths.length < count) {
      this.#lengths = new Uint8Array(2 * count);
      this.#ids = new Uint8Array(2 * count * BUILD_ID_MAX);
    }
    const lengths = this.#lengths;
    this.cache.getMany(keys.subarray(0, count), this.#ids, lengths);
    for (let i = 0; i < count; i++) {
      const ok = lengths[i] !== 0 && this.#stamps.get(keys[i]!) === stamps[i];
      confirmed[i] = ok ? 1 : 0;
      if (ok) this.#stats.hits++;
    }
  }

  /**
   * The stamp of every cached entry (and long ID) with its build ID, to save beside
   * {@link BuildIdCache.snapshot} and pass back as {@link FileBuildIdsOptions.restore}.
   * Format: JSON, version 1 (see stamps.ts).
   */
  exportStamps(): Uint8Array {
    const saved: SavedStamp[] = [];
    for (const [key, buildId] of this.cache.entries()) {
      const stamp = this.#stamps.get(key);
      if (stamp) saved.push({ key, stamp, buildId });
    }
    for (const [key, { stamp, buildId }] of this.#long) saved.push({ key, stamp, buildId });
    return encodeStamps(saved);
  }

  /** Counters since creation. */
  stats(): FileBuildIdsStats {
    return { ...this.#stats, negativeEntries: this.#negatives.size, longIds: this.#long.size };
  }

  // Keeps a restored entry only when a saved stamp names its key and its exact build ID.
  #adopt(saved: SavedStamp[]): void {
    const ids = new Map(this.cache.entries());
    for (const { key, stamp, buildId } of saved) {
      if (identityKey(stamp) !== key) continue;
      if (ids.get(key) === buildId) this.#stamps.set(key, stamp);
      else if (buildId.length > 2 * BUILD_ID_MAX && /^[0-9a-f]+$/.test(buildId)) this.#keepLong(key, stamp, buildId);
    }
    for (const key of ids.keys()) {
      if (this.#stamps.has(key)) this.#stats.restored++;
      else {
        this.cache.delete(key);
        this.#stats.restoreDropped++;
      }
    }
  }

  #keepLong(key: bigint, stamp: Stamp, buildId: string): void {
    this.#long.delete(key);
    this.#long.set(key, { stamp, buildId });
    if (this.#long.size > LONG_IDS_KEPT) this.#long.delete(this.#long.keys().next().value!);
  }

  #negative(key: bigint, stamp: Stamp, reason: ResolveFailure, detail: string, path: string): FileResolution {
    if (this.#negativeCapacity > 0 && this.#negativeTtlMs > 0) {
      this.#negatives.delete(key);
      this.#negatives.set(key, { ...stamp, reason, detail, expires: this.#now() + this.#negativeTtlMs });
      if (this.#negatives.size > this.#negativeCapacity) this.#negatives.delete(this.#negatives.keys().next().value!);
    }
    // A file that lost its build ID must not keep its old positive entry.
    if (this.#stamps.delete(key)) this.cache.delete(key);
    this.#long.delete(key);
    return fileFail(reason, detail, path, { dev: stamp.dev, ino: stamp.ino });
  }
}
