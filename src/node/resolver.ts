/**
 * {@link BuildIdResolver}: (process, address) to (build ID, file, offset) for profilers, over
 * `/proc/PID/maps`, a {@link BuildIdCache} keyed by file identity, and the ELF reader.
 *
 * Exactness. The cache key is {@link identityKey}: the (device, inode) pair packed into 64 bits
 * when it fits exactly (inode below 2^32), else a 64-bit mix of it. Beside every entry the
 * resolver keeps a stamp holding the full pair, mtime, ctime and size; a hit is served only when
 * the pair is equal and the file's current `stat` shows the same times and size. So a mixed key
 * that collides, and a file rewritten in place under the same inode, both read as misses.
 */
import type { BigIntStats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { BuildIdCache, type BuildIdCacheStats } from "../cache.js";
import { integer, u64 } from "../check.js";
import { ElfError } from "../elf.js";
import type { WasmSource } from "../wasm.js";
import { readBuildIdFromFile } from "./elf-file.js";
import { errorCode, isDenied, isGone } from "./errno.js";
import { type FileIdentity, identityKey, sameIdentity } from "./identity.js";
import { fileOffsetOf, findMapping, type Mapping, mapFilesPath, mappingIdentity, readMaps } from "./maps.js";
import { decodeStamps, encodeStamps, type SavedStamp, type Stamp, sameStamp, stampOf } from "./stamps.js";

/** Why an address or a file yielded no build ID. */
export type ResolveFailure =
  /** No mapping of the process contains the address, even after re-reading its maps. */
  | "no-mapping"
  /** The mapping has no file: anonymous memory, `[heap]`, `[stack]`, `[vdso]`, `anon_inode:…`. */
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
  | "no-build-id";

/** A file's build ID, or why there is none; from {@link BuildIdResolver.resolveFile}. */
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

/** Options for {@link BuildIdResolver.create}. */
export interface BuildIdResolverOptions {
  /** Build IDs kept (CLOCK eviction beyond it). Default 16384, the OpenTelemetry profiler's size. */
  capacity?: number;
  /** Lifetime of a negative entry (no build ID, not ELF, malformed), in ms. Default 60000. */
  negativeTtlMs?: number;
  /** Most negative entries kept; the oldest goes first. Default 4096. */
  negativeCapacity?: number;
  /** Most processes whose maps are kept; the least recently used goes first. Default 1024. */
  maxProcesses?: number;
  /** Where procfs is mounted. Default `/proc`. */
  procRoot?: string;
  /** The cache core to load instead of the packaged one. */
  wasm?: WasmSource;
  /** Clock for negative lifetimes, in ms. Default `Date.now`. */
  now?: () => number;
  /**
   * Saved state to start from: a {@link BuildIdCache.snapshot} and the {@link BuildIdResolver.exportStamps}
   * saved with it. An entry is kept only when a stamp vouches for its exact build ID; the rest are dropped.
   */
  restore?: {
    /** The cache's bytes, from {@link BuildIdCache.snapshot}. */
    cache: Uint8Array;
    /** The stamps from {@link BuildIdResolver.exportStamps}; without them every restored entry is dropped. */
    stamps?: Uint8Array;
  };
}

/** Counters of a resolver, from {@link BuildIdResolver.stats}. */
export interface ResolverStats {
  /** Addresses asked for. */
  addresses: number;
  /** File lookups answered from the cache with a build ID (stamp checked). */
  hits: number;
  /** File lookups answered from a live negative entry. */
  negativeHits: number;
  /** File lookups that read the file. */
  reads: number;
  /** Cached entries found stale: the file changed under the same (device, inode). */
  stale: number;
  /** Maps re-read because a miss showed the snapshot was out of date. */
  refreshes: number;
  /** Failures by reason (addresses and files). */
  failures: Record<ResolveFailure, number>;
  /** Live negative entries. */
  negativeEntries: number;
  /** Processes whose maps are held. */
  processes: number;
  /** Entries kept from {@link BuildIdResolverOptions.restore}. */
  restored: number;
  /** Entries of the restored cache dropped for want of a matching stamp. */
  restoreDropped: number;
}

interface Negative extends Stamp {
  reason: ResolveFailure;
  detail: string;
  expires: number;
}

interface Located {
  path: string;
  st: BigIntStats;
}

interface Unlocated {
  reason: ResolveFailure;
  detail: string;
  /** The process's view of the mapping no longer holds: re-read its maps. */
  stale: boolean;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

function fileFail(
  reason: ResolveFailure,
  detail: string,
  path?: string,
  identity?: FileIdentity,
  cached = false,
): FileResolution {
  return { ok: false, reason, detail, path, identity, cached };
}

function fail(
  reason: ResolveFailure,
  detail: string,
  where: { path?: string; fileOffset?: bigint; mapping?: Mapping } = {},
): Resolution {
  return { ok: false, reason, detail, ...where };
}

async function startsWithElfMagic(handle: FileHandle): Promise<boolean> {
  const head = new Uint8Array(4);
  const { bytesRead } = await handle.read(head, 0, 4, 0);
  return bytesRead === 4 && ELF_MAGIC.every((b, i) => head[i] === b);
}

/**
 * Resolves sampled addresses of live processes to the build ID and file offset of the ELF
 * object mapped there, reading each file once while it stays unchanged.
 *
 * Nothing it meets on a live system is fatal: exited processes, permission errors, deleted or
 * unreachable files come back as a {@link ResolveFailure} and are counted in {@link stats}.
 *
 * @example
 * ```ts
 * const resolver = await BuildIdResolver.create();
 * const r = await resolver.resolve(pid, 0x7f3a12345678n);
 * if (r.ok) console.log(r.buildId, r.path, r.fileOffset);
 * else console.log(r.reason, r.detail);
 * ```
 */
export class BuildIdResolver {
  /** The build-ID cache: key {@link identityKey}, value the build ID. */
  readonly cache: BuildIdCache;
  /** Beside each cache entry: its full identity and the file's stamp when read; dropped on eviction. */
  readonly #stamps: Map<bigint, Stamp>;
  readonly #negatives = new Map<bigint, Negative>();
  readonly #maps = new Map<number, Mapping[]>();
  readonly #negativeTtlMs: number;
  readonly #negativeCapacity: number;
  readonly #maxProcesses: number;
  readonly #procRoot: string;
  readonly #now: () => number;
  readonly #stats: ResolverStats = {
    addresses: 0,
    hits: 0,
    negativeHits: 0,
    reads: 0,
    stale: 0,
    refreshes: 0,
    failures: {
      "no-mapping": 0,
      anonymous: 0,
      exited: 0,
      permission: 0,
      missing: 0,
      "not-elf": 0,
      "bad-elf": 0,
      "no-build-id": 0,
    },
    negativeEntries: 0,
    processes: 0,
    restored: 0,
    restoreDropped: 0,
  };

  private constructor(
    cache: BuildIdCache,
    stamps: Map<bigint, Stamp>,
    options: Required<Omit<BuildIdResolverOptions, "wasm" | "restore">>,
  ) {
    this.cache = cache;
    this.#stamps = stamps;
    this.#negativeTtlMs = options.negativeTtlMs;
    this.#negativeCapacity = options.negativeCapacity;
    this.#maxProcesses = options.maxProcesses;
    this.#procRoot = options.procRoot;
    this.#now = options.now;
  }

  /**
   * Creates a resolver with its own cache.
   * @throws TypeError or RangeError naming the option when a count is not an integer or out of range.
   */
  static async create(options: BuildIdResolverOptions = {}): Promise<BuildIdResolver> {
    const settings = {
      capacity: options.capacity ?? 16_384,
      negativeTtlMs: options.negativeTtlMs ?? 60_000,
      negativeCapacity: options.negativeCapacity ?? 4096,
      maxProcesses: options.maxProcesses ?? 1024,
      procRoot: options.procRoot ?? "/proc",
      now: options.now ?? Date.now,
    };
    integer("negativeTtlMs", settings.negativeTtlMs, 0);
    integer("negativeCapacity", settings.negativeCapacity, 0);
    integer("maxProcesses", settings.maxProcesses, 1);
    const stamps = new Map<bigint, Stamp>();
    const onEvict = (key: bigint) => stamps.delete(key);
    if (options.restore === undefined) {
      const cache = await BuildIdCache.create({ capacity: settings.capacity, onEvict, wasm: options.wasm });
      return new BuildIdResolver(cache, stamps, settings);
    }
    const saved = options.restore.stamps === undefined ? [] : decodeStamps(options.restore.stamps);
    const cache = await BuildIdCache.restore(options.restore.cache, {
      onEvict,
      wasm: options.wasm,
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
    });
    const resolver = new BuildIdResolver(cache, stamps, settings);
    resolver.#adopt(saved);
    return resolver;
  }

  /**
   * The build ID, file and file offset of `address` in process `pid`, or why not.
   * @throws RangeError when `pid` is not an integer >= 1 or `address` is out of [0, 2^64); TypeError when either has the wrong type.
   */
  async resolve(pid: number, address: bigint): Promise<Resolution> {
    return (await this.resolveMany(pid, [address]))[0]!;
  }

  /**
   * {@link resolve} for many addresses of one process, in order: the maps are read at most
   * twice and each distinct file is checked once.
   * @throws as {@link resolve} does, before doing anything.
   */
  async resolveMany(pid: number, addresses: Iterable<bigint>): Promise<Resolution[]> {
    integer("pid", pid, 1);
    const list = [...addresses];
    for (const a of list) u64("address", a);
    this.#stats.addresses += list.length;
    const results = await this.#resolveAll(pid, list);
    for (const r of results) if (!r.ok) this.#stats.failures[r.reason]++;
    return results;
  }

  async #resolveAll(pid: number, list: bigint[]): Promise<Resolution[]> {
    let mappings = this.#maps.get(pid);
    let fresh = false;
    for (;;) {
      if (mappings === undefined) {
        const read = await this.#readMaps(pid);
        if ("reason" in read) return list.map(() => fail(read.reason, read.detail));
        mappings = read.mappings;
        fresh = true;
      }
      const found = list.map((a) => findMapping(mappings!, a));
      if (!fresh && found.includes(undefined)) {
        mappings = undefined;
        this.#stats.refreshes++;
        continue;
      }
      const outcome = await this.#resolveFound(pid, list, found, !fresh);
      if (outcome !== "stale") return outcome;
      mappings = undefined;
      this.#stats.refreshes++;
    }
  }

  /**
   * The build ID of the file mapped by `mapping` in process `pid` (reached through
   * `/proc/PID/map_files/`, then `/proc/PID/root/`, then the path, each checked against the
   * mapping's device and inode).
   */
  async resolveMapping(pid: number, mapping: Mapping): Promise<FileResolution> {
    integer("pid", pid, 1);
    if (mapping.kind !== "file")
      return this.#count(fileFail("anonymous", `${mapping.path || "anonymous memory"} has no file`));
    const located = await this.#locate(pid, mapping);
    if ("reason" in located) return this.#count(fileFail(located.reason, located.detail, mapping.path));
    return this.#count(await this.#lookup(located));
  }

  /** The build ID of the file at `path` (in this process's mount namespace). */
  async resolveFile(path: string): Promise<FileResolution> {
    let st: BigIntStats;
    try {
      st = await stat(path, { bigint: true });
    } catch (error) {
      const code = errorCode(error);
      return this.#count(fileFail(isDenied(code) ? "permission" : "missing", `${path}: ${code}`, path));
    }
    return this.#count(await this.#lookup({ path, st }));
  }

  /**
   * The stamp of every cached entry with its build ID, to save beside {@link BuildIdCache.snapshot}
   * and pass back as {@link BuildIdResolverOptions.restore}. Format: JSON, version 1.
   */
  exportStamps(): Uint8Array {
    const saved: SavedStamp[] = [];
    for (const [key, buildId] of this.cache.entries()) {
      const stamp = this.#stamps.get(key);
      if (stamp) saved.push({ key, stamp, buildId });
    }
    return encodeStamps(saved);
  }

  // Keeps a restored entry only when a saved stamp names its key and its exact build ID.
  #adopt(saved: SavedStamp[]): void {
    const ids = new Map(this.cache.entries());
    for (const { key, stamp, buildId } of saved) {
      if (ids.get(key) === buildId && identityKey(stamp) === key) this.#stamps.set(key, stamp);
    }
    for (const key of ids.keys()) {
      if (this.#stamps.has(key)) this.#stats.restored++;
      else {
        this.cache.delete(key);
        this.#stats.restoreDropped++;
      }
    }
  }

  /** Forgets the maps held for `pid` (call when a profiler sees the process exit or exec). */
  forget(pid: number): void {
    this.#maps.delete(pid);
  }

  /** Counters since creation. */
  stats(): ResolverStats {
    return {
      ...this.#stats,
      failures: { ...this.#stats.failures },
      negativeEntries: this.#negatives.size,
      processes: this.#maps.size,
    };
  }

  /** The cache's counters ({@link BuildIdCache.stats}). */
  cacheStats(): BuildIdCacheStats {
    return this.cache.stats();
  }

  async #readMaps(pid: number): Promise<{ mappings: Mapping[] } | { reason: ResolveFailure; detail: string }> {
    try {
      const mappings = await readMaps(pid, this.#procRoot);
      this.#maps.delete(pid);
      this.#maps.set(pid, mappings);
      if (this.#maps.size > this.#maxProcesses) this.#maps.delete(this.#maps.keys().next().value!);
      return { mappings };
    } catch (error) {
      this.#maps.delete(pid);
      const code = errorCode(error);
      if (isGone(code)) return { reason: "exited", detail: `process ${pid} exited (${code})` };
      if (isDenied(code)) return { reason: "permission", detail: `maps of process ${pid}: ${code}` };
      throw error;
    }
  }

  async #resolveFound(
    pid: number,
    addresses: bigint[],
    found: (Mapping | undefined)[],
    mayBeStale: boolean,
  ): Promise<Resolution[] | "stale"> {
    const byMapping = new Map<Mapping, FileResolution>();
    const byFile = new Map<string, FileResolution>();
    for (const mapping of new Set(found)) {
      if (mapping === undefined || mapping.kind !== "file") continue;
      const fileKey = `${mapping.major}:${mapping.minor}:${mapping.inode}`;
      let file = byFile.get(fileKey);
      if (file === undefined) {
        const located = await this.#locate(pid, mapping);
        if ("reason" in located) {
          if (located.stale && mayBeStale) return "stale";
          file = { ok: false, reason: located.reason, detail: located.detail, path: mapping.path, cached: false };
        } else {
          file = await this.#lookup(located);
        }
        byFile.set(fileKey, file);
      }
      byMapping.set(mapping, file);
    }
    return addresses.map((address, i) => {
      const mapping = found[i];
      if (mapping === undefined) {
        return fail("no-mapping", `no mapping of process ${pid} holds 0x${address.toString(16)}`);
      }
      const file = byMapping.get(mapping);
      if (file === undefined) {
        return fail("anonymous", `0x${address.toString(16)} is in ${mapping.path || "anonymous memory"}`, {
          mapping,
        });
      }
      const fileOffset = fileOffsetOf(mapping, address);
      if (file.ok)
        return { ok: true, buildId: file.buildId, path: mapping.path, fileOffset, mapping, cached: file.cached };
      return fail(file.reason, file.detail, { path: mapping.path, fileOffset, mapping });
    });
  }

  /** Finds a path to the very file `mapping` maps, checked by (device, inode). */
  async #locate(pid: number, mapping: Mapping): Promise<Located | Unlocated> {
    const want = mappingIdentity(mapping);
    const viaMapFiles = mapFilesPath(pid, mapping, this.#procRoot);
    const candidates = [viaMapFiles];
    if (!mapping.deleted) candidates.push(`${this.#procRoot}/${pid}/root${mapping.path}`, mapping.path);
    const problems: string[] = [];
    let denied = false;
    let mapFilesGone = false;
    for (const path of candidates) {
      try {
        const st = await stat(path, { bigint: true });
        if (sameIdentity(st, want)) return { path, st };
        problems.push(`${path} is another file`);
        if (path === viaMapFiles) return { reason: "missing", detail: problems.join("; "), stale: true };
      } catch (error) {
        const code = errorCode(error);
        problems.push(`${path}: ${code}`);
        if (isDenied(code)) denied = true;
        if (path === viaMapFiles && code === "ENOENT") mapFilesGone = true;
      }
    }
    if (await this.#exited(pid)) return { reason: "exited", detail: `process ${pid} exited`, stale: false };
    const detail = `${mapping.path}${mapping.deleted ? " (deleted)" : ""}: ${problems.join("; ")}`;
    return { reason: denied && !mapFilesGone ? "permission" : "missing", detail, stale: mapFilesGone };
  }

  async #exited(pid: number): Promise<boolean> {
    try {
      await stat(`${this.#procRoot}/${pid}`);
      return false;
    } catch (error) {
      return isGone(errorCode(error));
    }
  }

  /** Serves the file from the cache when its stamp still holds, else reads it. */
  async #lookup({ path, st }: Located): Promise<FileResolution> {
    const identity: FileIdentity = { dev: st.dev, ino: st.ino };
    const key = identityKey(identity);
    const now = stampOf(st);
    const stamp = this.#stamps.get(key);
    if (stamp !== undefined) {
      if (sameStamp(stamp, now)) {
        const buildId = this.cache.get(key);
        if (buildId !== undefined) {
          this.#stats.hits++;
          return { ok: true, buildId, path, identity, cached: true };
        }
      } else if (sameIdentity(stamp, now)) {
        this.#stats.stale++;
      }
    }
    const negative = this.#negatives.get(key);
    if (negative !== undefined) {
      if (sameStamp(negative, now) && this.#now() < negative.expires) {
        this.#stats.negativeHits++;
        return fileFail(negative.reason, negative.detail, path, identity, true);
      }
      if (sameIdentity(negative, now) && !sameStamp(negative, now)) this.#stats.stale++;
      this.#negatives.delete(key);
    }
    if (!st.isFile()) return fileFail("not-elf", `${path} is not a regular file`, path, identity);
    return this.#read(path, key, identity);
  }

  async #read(path: string, key: bigint, identity: FileIdentity): Promise<FileResolution> {
    this.#stats.reads++;
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (error) {
      const code = errorCode(error);
      return fileFail(isDenied(code) ? "permission" : "missing", `${path}: ${code}`, path, identity);
    }
    try {
      // The stamp comes from the open file, so it describes the bytes read below.
      const stamp = stampOf(await handle.stat({ bigint: true }));
      if (!sameIdentity(stamp, identity)) return fileFail("missing", `${path} was replaced while opening`, path);
      if (!(await startsWithElfMagic(handle))) return this.#negative(key, stamp, "not-elf", `${path} is not ELF`, path);
      let buildId: string;
      try {
        buildId = (await readBuildIdFromFile(handle, { size: Number(stamp.size) })).buildId;
      } catch (error) {
        if (!(error instanceof ElfError)) throw error;
        const reason = error.code === "NO_BUILD_ID" ? "no-build-id" : "bad-elf";
        return this.#negative(key, stamp, reason, `${path}: ${error.message}`, path);
      }
      this.#negatives.delete(key);
      this.#stamps.set(key, stamp);
      this.cache.set(key, buildId);
      return { ok: true, buildId, path, identity, cached: false };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === undefined) throw error;
      return fileFail(isDenied(code) ? "permission" : "missing", `${path}: ${code}`, path, identity);
    } finally {
      await handle.close();
    }
  }

  #negative(key: bigint, stamp: Stamp, reason: ResolveFailure, detail: string, path: string): FileResolution {
    if (this.#negativeCapacity > 0 && this.#negativeTtlMs > 0) {
      this.#negatives.delete(key);
      this.#negatives.set(key, { ...stamp, reason, detail, expires: this.#now() + this.#negativeTtlMs });
      if (this.#negatives.size > this.#negativeCapacity) this.#negatives.delete(this.#negatives.keys().next().value!);
    }
    // A file that lost its build ID must not keep its old positive entry.
    if (this.#stamps.delete(key)) this.cache.delete(key);
    return fileFail(reason, detail, path, { dev: stamp.dev, ino: stamp.ino });
  }

  #count<T extends FileResolution>(r: T): T {
    if (!r.ok) this.#stats.failures[r.reason]++;
    return r;
  }
}
