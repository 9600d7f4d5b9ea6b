/**
 * {@link BuildIdResolver}: (process, address) to (build ID, file, offset) for profilers, over
 * `/proc/PID/maps`, a {@link BuildIdCache} keyed by file identity, and the ELF reader.
 *
 * Exactness. The cache key is {@link identityKey}: the (device, inode) pair packed into 64 bits
 * when it fits exactly (inode below 2^32), else a 64-bit mix of it. Beside every entry the
 * resolver keeps a stamp holding the full pair, mtime, ctime and size; a hit is served only when
 * the pair is equal and the file's `fstat` (on the handle it opened) shows the same times and size.
 * So a mixed key that collides, and a file rewritten in place under the same inode, read as misses.
 *
 * Freshness. Per process the resolver holds a {@link ProcessView}: maps read at one moment and
 * the process's identity then (start time and exec layout, from `/proc/PID/stat`). Within
 * `mapsMaxAgeMs` of the last check and `fileMaxAgeMs` of a file's check, a sample costs a search
 * and a cache lookup, no system call. Past them, see {@link BuildIdResolverOptions}.
 *
 * Build IDs longer than the cache's {@link BUILD_ID_MAX} bytes (`--build-id=0x…`, mold's sha256)
 * are kept in a small side table with their stamps, not in the cache: they are rare (10 of 4,883
 * files in a real corpus), and the table's fixed slots stay the kernel's size.
 */
import type { BuildIdCache, BuildIdCacheStats } from "../cache.js";
import { integer, u64 } from "../check.js";
import { ElfError } from "../elf.js";
import type { WasmSource } from "../wasm.js";
import { errorCode, isDenied, isGone } from "./errno.js";
import { type Mapping, MapsParseError, mapFilesPath, mappingIdentity, readMaps } from "./maps.js";
import { type ProcessIdentity, ProcStatParseError, readProcessIdentity, sameProcess } from "./proc-stat.js";
import { ProcessView } from "./process-view.js";
import { type FileResolution, fileFail, type Resolution, type ResolveFailure } from "./resolver/answers.js";
import { FileBuildIds, openFailure } from "./resolver/file-build-ids.js";
import type { Stamp } from "./resolver/stamps.js";
import { FileChangedError, FileTooLargeError, NotRegularFileError, type OpenedFile, openRegular } from "./safe-open.js";
import { elfAbi, ownVdso, readVdsoAt, VDSO_NAME } from "./vdso.js";

export type { FileResolution, Resolution, ResolveFailure } from "./resolver/answers.js";

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
  /**
   * How old a process's maps may be, in ms, before they are re-checked: the next call for that
   * process re-reads `/proc/PID/stat` (a new process behind the PID, or an `exec`, re-reads the
   * maps), and an address outside every file mapping re-reads the maps. Default 100: at 100 Hz-1 kHz
   * that is 10-100 samples per check, at most 10 maps reads a second per process.
   */
  mapsMaxAgeMs?: number;
  /**
   * How old the check of a mapped file may be, in ms, before it is checked again (open of
   * `/proc/PID/map_files/…` and `fstat`: same file, same stamp). Default 1000.
   */
  fileMaxAgeMs?: number;
  /** Clock for negative lifetimes and the freshness bounds, in ms. Default `performance.now`. */
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
  /** Maps re-read for a process already held: a miss past the bound, a mapped file gone, or a new process or program behind the PID. */
  refreshes: number;
  /** Of the refreshes, those where `/proc/PID/stat` showed another process (PID reuse) or another program (`exec`). */
  replaced: number;
  /** Reads of `/proc/PID/maps`. */
  mapsReads: number;
  /** Reads of `/proc/PID/stat`. */
  statReads: number;
  /** Checks of a mapped file (open and `fstat` on the handle). */
  fileChecks: number;
  /** Failures by reason (addresses and files). */
  failures: Record<ResolveFailure, number>;
  /** Live negative entries. */
  negativeEntries: number;
  /** Build IDs longer than {@link BUILD_ID_MAX} bytes, held beside the cache. */
  longIds: number;
  /** Processes whose maps are held. */
  processes: number;
  /** Entries kept from {@link BuildIdResolverOptions.restore}. */
  restored: number;
  /** Entries of the restored cache dropped for want of a matching stamp. */
  restoreDropped: number;
}

interface Unlocated {
  reason: ResolveFailure;
  detail: string;
  /** The process's view of the mapping no longer holds: re-read its maps. */
  stale: boolean;
}

/** What a mapping's file was found to be, and when. */
interface FileCheck {
  file: FileResolution;
  /** For an ID in the cache: its key, looked up on every warm use. */
  key?: bigint;
  /** For an ID in the cache: the stamp it was stored with; another stamp object means the entry was replaced. */
  stamp?: Stamp;
  checkedAt: number;
}

type View = ProcessView<FileCheck>;

const SELF_MEM = "/proc/self/mem";
const SELF_EXE = "/proc/self/exe";

function fail(reason: ResolveFailure, detail: string, mapping?: Mapping): Resolution {
  return mapping === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, mapping };
}

/** A procfs file that is not the kernel's: a FIFO, too large, or not parseable. */
function isBadProcfs(error: unknown): error is Error {
  return (
    error instanceof NotRegularFileError ||
    error instanceof FileTooLargeError ||
    error instanceof MapsParseError ||
    error instanceof ProcStatParseError
  );
}

/** A mapping that resolves through a file check: a file, or the vdso. */
function hasFile(mapping: Mapping): boolean {
  return mapping.kind === "file" || mapping.path === VDSO_NAME;
}

/**
 * Resolves sampled addresses of live processes to the build ID and file offset of the ELF
 * object mapped there, reading each file once while it stays unchanged.
 *
 * Nothing it meets on a live system is fatal: exited processes, permission errors, deleted or
 * unreachable files, a hostile procfs come back as a {@link ResolveFailure} and are counted in
 * {@link stats}. Every path it opens goes through `openRegular` (safe-open.ts): nothing blocks.
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
  /** File identity -> build ID: the cache, its stamps, negative entries and long IDs. */
  readonly #ids: FileBuildIds;
  readonly #views = new Map<number, View>();
  /** Processes whose last check failed (exited, denied, bad procfs), answered so until the maps bound passes. */
  readonly #failed = new Map<number, { reason: ResolveFailure; detail: string; at: number }>();
  readonly #vdsos = new Map<string, Promise<FileResolution>>();
  #own: Promise<readonly [Mapping | undefined, string | undefined]> | undefined;
  // Scratch for the one cache lookup per call: keys, their mapping indices, IDs and lengths out.
  #batchKeys = new BigUint64Array(64);
  #batchAt = new Int32Array(64);
  #batchStamps: Stamp[] = [];
  #batchConfirmed = new Uint8Array(64);
  readonly #maxProcesses: number;
  readonly #mapsMaxAgeMs: number;
  readonly #fileMaxAgeMs: number;
  readonly #procRoot: string;
  readonly #now: () => number;
  readonly #stats = {
    addresses: 0,
    refreshes: 0,
    replaced: 0,
    mapsReads: 0,
    statReads: 0,
    fileChecks: 0,
    vdsoReads: 0,
    failures: {
      "no-mapping": 0,
      anonymous: 0,
      exited: 0,
      permission: 0,
      missing: 0,
      "not-elf": 0,
      "bad-elf": 0,
      "no-build-id": 0,
      "bad-procfs": 0,
    } satisfies Record<ResolveFailure, number>,
  };

  private constructor(
    ids: FileBuildIds,
    options: Required<
      Omit<BuildIdResolverOptions, "wasm" | "restore" | "capacity" | "negativeTtlMs" | "negativeCapacity">
    >,
  ) {
    this.#ids = ids;
    this.#maxProcesses = options.maxProcesses;
    this.#mapsMaxAgeMs = options.mapsMaxAgeMs;
    this.#fileMaxAgeMs = options.fileMaxAgeMs;
    this.#procRoot = options.procRoot;
    this.#now = options.now;
  }

  /**
   * Creates a resolver with its own cache.
   * @throws TypeError or RangeError naming the option when a count is not an integer or out of range.
   */
  static async create(options: BuildIdResolverOptions = {}): Promise<BuildIdResolver> {
    const now = options.now ?? (() => performance.now());
    const settings = {
      maxProcesses: integer("maxProcesses", options.maxProcesses ?? 1024, 1),
      mapsMaxAgeMs: integer("mapsMaxAgeMs", options.mapsMaxAgeMs ?? 100, 0),
      fileMaxAgeMs: integer("fileMaxAgeMs", options.fileMaxAgeMs ?? 1000, 0),
      procRoot: options.procRoot ?? "/proc",
      now,
    };
    const ids = await FileBuildIds.create({ ...options, now });
    return new BuildIdResolver(ids, settings);
  }

  /** The build-ID cache: key {@link identityKey}, value the build ID. */
  get cache(): BuildIdCache {
    return this.#ids.cache;
  }

  /**
   * The build ID, file and file offset of `address` in process `pid`, or why not.
   * @throws RangeError when `pid` is not an integer >= 1 or `address` is out of [0, 2^64); TypeError when either has the wrong type.
   */
  async resolve(pid: number, address: bigint): Promise<Resolution> {
    return (await this.resolveMany(pid, [address]))[0]!;
  }

  /**
   * {@link resolve} for many addresses of one process, in order. Within the freshness bounds
   * ({@link BuildIdResolverOptions.mapsMaxAgeMs}, {@link BuildIdResolverOptions.fileMaxAgeMs})
   * it makes no system call; past them the maps are read at most twice and each distinct file
   * checked once.
   * @throws as {@link resolve} does, before doing anything.
   */
  async resolveMany(pid: number, addresses: Iterable<bigint>): Promise<Resolution[]> {
    integer("pid", pid, 1);
    const list = Array.isArray(addresses) ? (addresses as bigint[]) : [...addresses];
    for (const a of list) u64("address", a);
    this.#stats.addresses += list.length;
    const results = await this.#resolveAll(pid, list);
    for (const r of results) if (!r.ok) this.#stats.failures[r.reason]++;
    return results;
  }

  async #resolveAll(pid: number, list: bigint[]): Promise<Resolution[]> {
    const now = this.#now();
    let view = this.#views.get(pid);
    let fresh = false;
    if (view === undefined || this.#expired(view.verifiedAt, now, this.#mapsMaxAgeMs)) {
      const failed = this.#failed.get(pid);
      if (failed !== undefined && !this.#expired(failed.at, now, this.#mapsMaxAgeMs))
        return list.map(() => fail(failed.reason, failed.detail));
      const checked = await this.#verify(pid, view, now);
      if ("reason" in checked) {
        this.#failed.delete(pid);
        this.#failed.set(pid, { reason: checked.reason, detail: checked.detail, at: now });
        if (this.#failed.size > this.#maxProcesses) this.#failed.delete(this.#failed.keys().next().value!);
        return list.map(() => fail(checked.reason, checked.detail));
      }
      this.#failed.delete(pid);
      fresh = checked !== view;
      view = checked;
    }
    for (;;) {
      const found = new Int32Array(list.length);
      const outside = view.findAll(list, found);
      const old = !fresh && !view.gone && this.#expired(view.readAt, now, this.#mapsMaxAgeMs);
      if (outside && old) {
        const reread = await this.#reload(pid, view, now);
        if ("reason" in reread) return list.map(() => fail(reread.reason, reread.detail));
        view = reread;
        fresh = true;
        continue;
      }
      const answer = this.#answer(pid, view, list, found, now, !fresh);
      const outcome = answer instanceof Promise ? await answer : answer;
      if (outcome !== "stale") return outcome;
      const reread = await this.#reload(pid, view, now);
      if ("reason" in reread) return list.map(() => fail(reread.reason, reread.detail));
      view = reread;
      fresh = true;
    }
  }

  #expired(since: number, now: number, bound: number): boolean {
    return now - since >= bound || now < since;
  }

  /** Confirms who `pid` is; a new process or program behind it gets its maps read afresh. */
  async #verify(pid: number, view: View | undefined, now: number): Promise<View | Unlocated> {
    const identity = this.#identity(pid);
    if ("reason" in identity) {
      if (identity.reason !== "exited" || view === undefined) {
        this.#views.delete(pid);
        return identity;
      }
      view.gone = true;
      view.verifiedAt = now;
      return view;
    }
    if (view !== undefined && !view.gone && sameProcess(view.identity, identity)) {
      view.verifiedAt = now;
      return view;
    }
    if (view !== undefined) {
      this.#stats.refreshes++;
      if (!view.gone || !sameProcess(view.identity, identity)) this.#stats.replaced++;
    }
    return this.#load(pid, identity, now);
  }

  /** Re-reads the maps of a held process (its identity first, so an exec in between is seen next time). */
  async #reload(pid: number, view: View, now: number): Promise<View | Unlocated> {
    this.#stats.refreshes++;
    const identity = this.#identity(pid);
    if ("reason" in identity) {
      if (identity.reason !== "exited") return identity;
      view.gone = true;
      return view;
    }
    if (!sameProcess(view.identity, identity)) this.#stats.replaced++;
    return this.#load(pid, identity, now);
  }

  #identity(pid: number): ProcessIdentity | Unlocated {
    this.#stats.statReads++;
    try {
      return readProcessIdentity(pid, this.#procRoot);
    } catch (error) {
      return this.#procFailure(pid, "stat", error);
    }
  }

  async #load(pid: number, identity: ProcessIdentity, now: number): Promise<View | Unlocated> {
    this.#stats.mapsReads++;
    try {
      const view: View = new ProcessView(await readMaps(pid, this.#procRoot), identity, now, hasFile);
      this.#views.delete(pid);
      this.#views.set(pid, view);
      if (this.#views.size > this.#maxProcesses) this.#views.delete(this.#views.keys().next().value!);
      return view;
    } catch (error) {
      this.#views.delete(pid);
      return this.#procFailure(pid, "maps", error);
    }
  }

  #procFailure(pid: number, file: string, error: unknown): Unlocated {
    if (isBadProcfs(error)) return { reason: "bad-procfs", detail: error.message, stale: false };
    const code = errorCode(error);
    if (isGone(code)) return { reason: "exited", detail: `process ${pid} exited (${code})`, stale: false };
    if (isDenied(code)) return { reason: "permission", detail: `${file} of process ${pid}: ${code}`, stale: false };
    throw error;
  }

  /** The answers, without an await when every file of the call is held and fresh. */
  #answer(
    pid: number,
    view: View,
    addresses: bigint[],
    found: Int32Array,
    now: number,
    mayBeStale: boolean,
  ): Resolution[] | Promise<Resolution[] | "stale"> {
    // Distinct mappings of this call, each looked at once: held answers first, without an await,
    // their cache entries confirmed in one batch lookup.
    const files = new Array<FileResolution | undefined>(view.mappings.length);
    const resolvable = view.resolvable;
    const pending: number[] = [];
    let batch = 0;
    for (let i = 0; i < found.length; i++) {
      const at = found[i]!;
      if (at < 0 || resolvable[at] === 0 || files[at] !== undefined) continue;
      const held = view.files.get(at);
      if (held === undefined || this.#expired(held.checkedAt, now, this.#fileMaxAgeMs)) {
        if (!pending.includes(at)) pending.push(at);
        continue;
      }
      files[at] = held.file;
      if (held.stamp !== undefined) this.#batch(batch++, held.key!, held.stamp, at);
    }
    if (batch > 0) this.#confirm(batch, files, pending);
    if (pending.length > 0) return this.#checkThen(pid, view, addresses, found, files, pending, now, mayBeStale);
    return this.#results(pid, view, addresses, found, files);
  }

  async #checkThen(
    pid: number,
    view: View,
    addresses: bigint[],
    found: Int32Array,
    files: (FileResolution | undefined)[],
    pending: number[],
    now: number,
    mayBeStale: boolean,
  ): Promise<Resolution[] | "stale"> {
    for (const at of pending) {
      const file = await this.#check(pid, view.mappings[at]!, mayBeStale);
      if (file === "stale") return "stale";
      view.files.set(at, this.#held(file, now));
      files[at] = file;
    }
    return this.#results(pid, view, addresses, found, files);
  }

  #results(
    pid: number,
    view: View,
    addresses: bigint[],
    found: Int32Array,
    files: (FileResolution | undefined)[],
  ): Resolution[] {
    const results = new Array<Resolution>(addresses.length);
    for (let i = 0; i < addresses.length; i++) {
      const address = addresses[i]!;
      const at = found[i]!;
      const file = at < 0 ? undefined : files[at];
      if (file?.ok) {
        // fileOffsetOf(mapping, address), as one addition.
        const fileOffset = address + view.delta[at]!;
        const mapping = view.mappings[at]!;
        results[i] = { ok: true, buildId: file.buildId, path: mapping.path, fileOffset, mapping, cached: file.cached };
      } else if (at < 0) {
        results[i] = fail("no-mapping", `no mapping of process ${pid} holds 0x${address.toString(16)}`);
      } else if (file === undefined) {
        const mapping = view.mappings[at]!;
        results[i] = fail(
          "anonymous",
          `0x${address.toString(16)} is in ${mapping.path || "anonymous memory"}`,
          mapping,
        );
      } else {
        const mapping = view.mappings[at]!;
        const fileOffset = address + view.delta[at]!;
        results[i] = { ok: false, reason: file.reason, detail: file.detail, path: mapping.path, fileOffset, mapping };
      }
    }
    return results;
  }

  /** What to keep of a file's check: for an ID in the cache, its key and the stamp that vouches for it. */
  #held(file: FileResolution, now: number): FileCheck {
    if (!file.ok || file.path === VDSO_NAME) return { file, checkedAt: now };
    const entry = this.#ids.held(file.identity);
    const served = file.cached ? file : { ...file, cached: true };
    // A long ID is not in the cache: within the bound its check itself is the answer.
    return entry === undefined ? { file: served, checkedAt: now } : { file: served, ...entry, checkedAt: now };
  }

  #batch(i: number, key: bigint, stamp: Stamp, at: number): void {
    if (i === this.#batchKeys.length) {
      const keys = new BigUint64Array(2 * i);
      keys.set(this.#batchKeys);
      this.#batchKeys = keys;
      const ats = new Int32Array(2 * i);
      ats.set(this.#batchAt);
      this.#batchAt = ats;
      this.#batchConfirmed = new Uint8Array(2 * i);
    }
    this.#batchKeys[i] = key;
    this.#batchStamps[i] = stamp;
    this.#batchAt[i] = at;
  }

  /** One cache lookup for the held IDs of a call; one whose entry was evicted or replaced since is checked again. */
  #confirm(n: number, files: (FileResolution | undefined)[], pending: number[]): void {
    this.#ids.confirmMany(this.#batchKeys, this.#batchStamps, n, this.#batchConfirmed);
    for (let i = 0; i < n; i++) {
      if (this.#batchConfirmed[i] === 1) continue;
      const at = this.#batchAt[i]!;
      files[at] = undefined;
      pending.push(at);
    }
  }

  /**
   * The build ID of the file mapped by `mapping` in process `pid` (reached through
   * `/proc/PID/map_files/`, then `/proc/PID/root/`, then the path, each opened without blocking
   * and checked on the handle against the mapping's device and inode); for `[vdso]`, the vdso's.
   */
  async resolveMapping(pid: number, mapping: Mapping): Promise<FileResolution> {
    integer("pid", pid, 1);
    const r = await this.#check(pid, mapping, false);
    return this.#count(r as FileResolution);
  }

  async #check(pid: number, mapping: Mapping, mayBeStale: boolean): Promise<FileResolution | "stale"> {
    if (mapping.path === VDSO_NAME) return this.#vdso(pid, mapping);
    if (mapping.kind !== "file") return fileFail("anonymous", `${mapping.path || "anonymous memory"} has no file`);
    this.#stats.fileChecks++;
    const located = await this.#locate(pid, mapping);
    if ("reason" in located) {
      if (located.stale && mayBeStale) return "stale";
      return fileFail(located.reason, located.detail, mapping.path);
    }
    try {
      return await this.#ids.lookupOpened(located.handle, located.stat, located.path);
    } finally {
      await located.handle.close();
    }
  }

  /**
   * The build ID of the file at `path` (in this process's mount namespace), opened without blocking.
   * @throws TypeError when `path` is not a string.
   */
  async resolveFile(path: string): Promise<FileResolution> {
    return this.#count(await this.#ids.lookupPath(path));
  }

  /**
   * The stamp of every cached entry (and long ID) with its build ID, to save beside
   * {@link BuildIdCache.snapshot} and pass back as {@link BuildIdResolverOptions.restore}.
   * Format: JSON, version 1 (see stamps.ts).
   */
  exportStamps(): Uint8Array {
    return this.#ids.exportStamps();
  }

  /**
   * Forgets what is held for `pid`. Not needed for correctness: PID reuse and `exec` are caught on
   * the {@link BuildIdResolverOptions.mapsMaxAgeMs} bound. Call it to drop a process's maps at once.
   */
  forget(pid: number): void {
    this.#views.delete(pid);
    this.#failed.delete(pid);
  }

  /** Counters since creation. */
  stats(): ResolverStats {
    const { vdsoReads, ...counts } = this.#stats;
    const ids = this.#ids.stats();
    return {
      ...counts,
      ...ids,
      reads: ids.reads + vdsoReads,
      failures: { ...counts.failures },
      processes: this.#views.size,
    };
  }

  /** The cache's counters ({@link BuildIdCache.stats}). */
  cacheStats(): BuildIdCacheStats {
    return this.cache.stats();
  }

  /** The vdso's build ID: this process's image when the target has the same ABI, else the target's own; once per ABI. */
  async #vdso(pid: number, mapping: Mapping): Promise<FileResolution> {
    this.#own ??= Promise.all([ownVdso(), elfAbi(SELF_EXE)]).catch(() => [undefined, undefined] as const);
    const [own, ownAbi] = await this.#own;
    const abi = await elfAbi(`${this.#procRoot}/${pid}/exe`).catch(() => undefined);
    const size = mapping.end - mapping.start;
    const mine = own !== undefined && abi !== undefined && abi === ownAbi && own.end - own.start === size;
    // An image of unknown ABI is its process's alone.
    const key = mine ? "self" : abi === undefined ? `pid ${pid}` : `${abi} ${size}`;
    let answer = this.#vdsos.get(key);
    if (answer !== undefined) return answer.then((r) => (r.ok ? { ...r, cached: true } : r));
    answer = this.#readVdso(mine ? SELF_MEM : `${this.#procRoot}/${pid}/mem`, mine ? own : mapping, mapping);
    this.#vdsos.set(key, answer);
    // A failure (say, a target's memory we may not read) is not kept: another process may allow it.
    answer.then((r) => r.ok || this.#vdsos.delete(key));
    return answer;
  }

  async #readVdso(memPath: string, at: Mapping, mapping: Mapping): Promise<FileResolution> {
    const identity = mappingIdentity(mapping);
    this.#stats.vdsoReads++;
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

  /** Opens the very file `mapping` maps, checked on the handle by (device, inode). */
  async #locate(pid: number, mapping: Mapping): Promise<(OpenedFile & { path: string }) | Unlocated> {
    const want = mappingIdentity(mapping);
    const viaMapFiles = mapFilesPath(pid, mapping, this.#procRoot);
    const candidates = [viaMapFiles];
    if (!mapping.deleted) candidates.push(`${this.#procRoot}/${pid}/root${mapping.path}`, mapping.path);
    const problems: string[] = [];
    let denied = false;
    let mapFilesGone = false;
    for (const path of candidates) {
      try {
        return { path, ...(await openRegular(path, { expect: want })) };
      } catch (error) {
        if (error instanceof NotRegularFileError) return { reason: "not-elf", detail: error.message, stale: false };
        if (error instanceof FileChangedError) {
          problems.push(`${path} is another file`);
          if (path === viaMapFiles) return { reason: "missing", detail: problems.join("; "), stale: true };
          continue;
        }
        const code = errorCode(error);
        problems.push(`${path}: ${code}`);
        if (isDenied(code)) denied = true;
        if (path === viaMapFiles && code === "ENOENT") mapFilesGone = true;
      }
    }
    if (this.#exited(pid)) return { reason: "exited", detail: `process ${pid} exited`, stale: false };
    const detail = `${mapping.path}${mapping.deleted ? " (deleted)" : ""}: ${problems.join("; ")}`;
    return { reason: denied && !mapFilesGone ? "permission" : "missing", detail, stale: mapFilesGone };
  }

  #exited(pid: number): boolean {
    const identity = this.#identity(pid);
    return "reason" in identity && identity.reason === "exited";
  }

  #count<T extends FileResolution>(r: T): T {
    if (!r.ok) this.#stats.failures[r.reason]++;
    return r;
  }
}
