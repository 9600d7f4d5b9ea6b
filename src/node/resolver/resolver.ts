/**
 * {@link BuildIdResolver}: (process, address) to (build ID, file, offset) for profilers. A facade
 * over three rooms: the address-space model fed from `/proc` ({@link ProcessTracker}: when to read,
 * `procfs/feed.ts`: reads to events), the mapped files' checks ({@link FileChecks}: through the
 * mapping itself), and file identity -> build ID ({@link FileBuildIds}: the cache, its stamps,
 * negative entries, long IDs).
 *
 * Exactness. A build ID is served only for the file at (device, inode) the maps named, with the
 * stamp it was read with; a mapping whose `map_files/` entry is gone or names another file has
 * changed, and the maps are read again (never the old path checked instead).
 *
 * Freshness. Two bounds, both options: within them a sample costs an address -> mapping search in
 * the model and, once per distinct file of the call, one batched cache lookup; past them, see
 * {@link BuildIdResolverOptions}. Every answer says how old its view is ({@link Resolution}
 * `verifiedAt`, `ageMs`).
 *
 * @packageDocumentation
 */
import type { BuildIdCache, BuildIdCacheStats } from "../../cache.js";
import { instance, integer, u64 } from "../../check.js";
import { type InodeFileRef, LookupStatus } from "../../spaces/index.js";
import type { WasmSource } from "../../wasm.js";
import { exactName } from "../procfs/map-files.js";
import { type Mapping, mappingIdentity } from "../procfs/maps.js";
import { type LiveProcess, readLiveProcess, startedAfter, threadLives } from "../procfs/proc-stat.js";
import { VDSO_NAME } from "../procfs/vdso.js";
import { type FileResolution, fileFail, type Resolution, type ResolveFailure } from "./answers.js";
import { FileBuildIds } from "./file-build-ids.js";
import { FileChecks, type Held, type RangeChanged } from "./file-checks.js";
import { expired, type ProcessFailure, ProcessTracker, type Tracked } from "./processes.js";
import {
  RESOLVE_FAILURES,
  ResolutionResults,
  ResolveStatus,
  type ResolveStatusCode,
  resolveFailure,
  resolveStatus,
} from "./results.js";
import { LOST, type Met, Scratch, UNCOVERED, UNPLACED } from "./scratch.js";

/** Options for {@link BuildIdResolver.create}. */
export interface BuildIdResolverOptions {
  /** Build IDs kept (CLOCK eviction beyond it). Default 16384, the OpenTelemetry profiler's size. */
  capacity?: number;
  /** Lifetime of a negative entry (no build ID, not ELF, malformed), in ms. Default 60000. */
  negativeTtlMs?: number;
  /** Most negative entries kept; the oldest goes first. Default 4096. */
  negativeCapacity?: number;
  /** Most processes held; the least recently asked about goes first. Default 1024. */
  maxProcesses?: number;
  /** Where procfs is mounted. Default `/proc`. */
  procRoot?: string;
  /** The cache core to load instead of the packaged one. */
  wasm?: WasmSource;
  /**
   * How old the check of who a process is may be, in ms: past it, the next call for the process
   * reads `/proc/PID/stat` (a new start time, another process behind the PID, or a new exec layout,
   * another program, re-reads the maps). Also how often an address outside every mapping may re-read
   * the maps: at most once per bound. An address in a known mapping, anonymous ones included, is an
   * answer and re-reads nothing. Default 100: at 100 Hz-1 kHz that is 10-100 samples per check.
   */
  mapsMaxAgeMs?: number;
  /**
   * How old the view behind an answer may be, in ms: past it, the next call for a process reads its
   * maps again (unchanged mappings keep their place; changed ones are replaced), and each file the
   * call meets is checked again, once per file, through one of its mappings (`stat` of its
   * `map_files/` entry: the same file with the same stamp, or read again). Default 1000.
   */
  fileMaxAgeMs?: number;
  /** Clock for negative lifetimes, the bounds and `verifiedAt`, in ms. Default `performance.now()` in whole ms (rounded down). */
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
  /** File lookups that read the file (or the vdso). */
  reads: number;
  /** Cached entries found stale: the file changed under the same (device, inode). */
  stale: number;
  /** Maps re-read for a process already held: past `fileMaxAgeMs`, an address outside every mapping, a changed mapping, or a new process or program behind the PID. */
  refreshes: number;
  /** Of the refreshes, those where `/proc/PID/stat` showed another process (PID reuse) or another program (`exec`). */
  replaced: number;
  /** Reads of `/proc/PID/maps`. */
  mapsReads: number;
  /** Reads of `/proc/PID/stat`. */
  statReads: number;
  /** Checks of a mapped file (`stat` of its `map_files/` entry, or an open by path). */
  fileChecks: number;
  /** Checks that found a mapping's range changed (its `map_files/` entry gone or another file). */
  rangeChanges: number;
  /** Failures by reason (addresses and files). */
  failures: Record<ResolveFailure, number>;
  /** Live negative entries. */
  negativeEntries: number;
  /** Build IDs longer than {@link BUILD_ID_MAX} bytes, held beside the cache. */
  longIds: number;
  /** Processes held. */
  processes: number;
  /** Entries kept from {@link BuildIdResolverOptions.restore}. */
  restored: number;
  /** Entries of the restored cache dropped for want of a matching stamp. */
  restoreDropped: number;
}

/** What the model said about a call's addresses, beside the answers it wrote. */
enum Lookup {
  /** Every address fell in a known mapping (or the process is gone, its space final). */
  Covered,
  /** An address fell outside every known mapping. */
  Uncovered,
  /** The model holds no space for the process (it was evicted): read it again. */
  Lost,
}

/**
 * Resolves sampled addresses of live processes to the build ID and file offset of the ELF
 * object mapped there, reading each file once while it stays unchanged.
 *
 * Nothing it meets on a live system is fatal: exited processes, permission errors, deleted or
 * unreachable files, a hostile procfs come back as a {@link ResolveFailure} and are counted in
 * {@link stats}. Every file it reads is opened through `openRegular` (safe-open.ts): nothing blocks.
 *
 * @example
 * ```ts
 * const resolver = await BuildIdResolver.create();
 * const r = await resolver.resolve(pid, 0x7f3a12345678n);
 * if (r.ok) console.log(r.buildId, r.path, r.fileOffset, `${r.ageMs} ms old`);
 * else console.log(r.reason, r.detail);
 * ```
 */
export class BuildIdResolver {
  readonly #ids: FileBuildIds;
  readonly #tracker: ProcessTracker;
  readonly #checks: FileChecks;
  readonly #mapsMaxAgeMs: number;
  readonly #now: () => number;
  readonly #stats = {
    addresses: 0,
    refreshes: 0,
    replaced: 0,
    mapsReads: 0,
    statReads: 0,
    fileChecks: 0,
    rangeChanges: 0,
    vdsoReads: 0,
    failures: Object.fromEntries(RESOLVE_FAILURES.map((r) => [r, 0])) as Record<ResolveFailure, number>,
  };
  readonly #procRoot: string;
  /** The working arrays, while no call holds them (a call that finds them taken makes its own). */
  #scratch: Scratch | undefined = new Scratch(64);
  /** The object API's answers, while no call holds them (likewise). */
  #spare: ResolutionResults | undefined = undefined;

  private constructor(
    ids: FileBuildIds,
    settings: { maxProcesses: number; mapsMaxAgeMs: number; fileMaxAgeMs: number; procRoot: string; now: () => number },
  ) {
    this.#ids = ids;
    this.#mapsMaxAgeMs = settings.mapsMaxAgeMs;
    this.#now = settings.now;
    this.#procRoot = settings.procRoot;
    this.#tracker = new ProcessTracker(settings, this.#stats, (tid, line) => exactName(tid, line, settings.procRoot));
    this.#checks = new FileChecks(
      ids,
      { fileMaxAgeMs: settings.fileMaxAgeMs, procRoot: settings.procRoot, maxFiles: 16_384 },
      this.#stats,
    );
  }

  /**
   * Creates a resolver with its own cache.
   * @throws TypeError or RangeError naming the option when a count is not an integer or out of range.
   */
  static async create(options: BuildIdResolverOptions = {}): Promise<BuildIdResolver> {
    // Whole ms: the bounds are whole ms, and an integer time is stored in an answer without a heap number of its own.
    const now = options.now ?? (() => Math.floor(performance.now()));
    const settings = {
      maxProcesses: integer("maxProcesses", options.maxProcesses ?? 1024, 1, 2 ** 24),
      mapsMaxAgeMs: integer("mapsMaxAgeMs", options.mapsMaxAgeMs ?? 100, 0),
      fileMaxAgeMs: integer("fileMaxAgeMs", options.fileMaxAgeMs ?? 1000, 0),
      procRoot: options.procRoot ?? "/proc",
      now,
    };
    return new BuildIdResolver(await FileBuildIds.create({ ...options, now }), settings);
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
   * {@link resolve} for many addresses of one process, in order: a thin layer over
   * {@link resolveInto}, one {@link Resolution} per address. Within the freshness bounds
   * ({@link BuildIdResolverOptions.mapsMaxAgeMs}, {@link BuildIdResolverOptions.fileMaxAgeMs})
   * it makes no system call; past them the maps are read at most twice and each distinct file
   * checked once.
   * @throws as {@link resolve} does, before doing anything.
   */
  async resolveMany(pid: number, addresses: Iterable<bigint>): Promise<Resolution[]> {
    integer("pid", pid, 1);
    let list: BigUint64Array;
    if (addresses instanceof BigUint64Array) list = addresses;
    else {
      const given = Array.isArray(addresses) ? addresses : [...addresses];
      for (const a of given) u64("address", a);
      list = BigUint64Array.from(given);
    }
    const n = list.length;
    const out =
      this.#spare !== undefined && this.#spare.capacity >= n ? this.#spare : new ResolutionResults(Math.max(n, 64));
    this.#spare = undefined;
    try {
      this.#stats.addresses += n;
      await this.#resolveAll(pid, list, n, out);
      return out.resolutions();
    } finally {
      this.#spare = out;
    }
  }

  /**
   * {@link resolveMany} without an object per address: the answers are written into `out`, index
   * for index with `addresses` (see {@link ResolutionResults}); each answer is the one
   * {@link resolveMany} gives ({@link ResolutionResults.resolution}), under the same freshness
   * bounds. `out` is the caller's, reused across calls; it must not be given to two calls at once.
   * @returns `out`.
   * @throws RangeError when `pid` is not an integer >= 1 or `out` holds fewer than `addresses.length`; TypeError when an argument has the wrong type.
   */
  async resolveInto(pid: number, addresses: BigUint64Array, out: ResolutionResults): Promise<ResolutionResults> {
    integer("pid", pid, 1);
    instance("addresses", addresses, BigUint64Array);
    instance("out", out, ResolutionResults);
    if (addresses.length > out.capacity) {
      throw new RangeError(`out holds ${out.capacity} answers, fewer than the ${addresses.length} addresses`);
    }
    this.#stats.addresses += addresses.length;
    await this.#resolveAll(pid, addresses, addresses.length, out);
    return out;
  }

  async #resolveAll(pid: number, addresses: BigUint64Array, n: number, out: ResolutionResults): Promise<void> {
    out.begin(pid, addresses, n);
    const now = this.#now();
    let tracked = this.#tracker.current(pid, now);
    if ("reason" in tracked) return this.#failAll(n, tracked, out);
    const scratch = (this.#scratch ?? new Scratch(n)).begin(n);
    this.#scratch = undefined;
    try {
      let reread = false;
      for (;;) {
        const seen = this.#lookup(pid, tracked, addresses, out, n, scratch);
        const outdated =
          seen === Lookup.Lost || (seen === Lookup.Uncovered && expired(tracked.readAt, now, this.#mapsMaxAgeMs));
        const changed = outdated && !reread ? undefined : await this.#files(pid, tracked, scratch, now, reread);
        if (changed === false) return this.#write(tracked, scratch, out, n);
        if (typeof changed === "object") return this.#failAll(n, changed, out);
        reread = true;
        scratch.forget();
        const again = this.#tracker.reread(pid, tracked, now);
        if ("reason" in again) return this.#failAll(n, again, out);
        tracked = again;
      }
    } finally {
      this.#scratch = scratch;
    }
  }

  /** Looks the call's addresses up in the model, answers into `out`, the mappings they fell in noted in `scratch` (and each address's place). */
  #lookup(
    pid: number,
    tracked: Tracked,
    addresses: BigUint64Array,
    out: ResolutionResults,
    n: number,
    scratch: Scratch,
  ): Lookup {
    const time = tracked.gone ? tracked.endedAt - 1n : undefined;
    this.#tracker.spaces.lookupMany(pid, addresses, out.lookup, time, 0, n);
    const seen = scratch.note(out.lookup, n, out.place);
    if (tracked.gone) return Lookup.Covered;
    return seen & LOST ? Lookup.Lost : seen & UNCOVERED ? Lookup.Uncovered : Lookup.Covered;
  }

  /**
   * Finds the file behind each mapping the call's addresses met, once per file, into
   * `scratch.met`: held answers first, confirmed in one cache lookup, then the rest checked.
   * Returns true when a mapping was found changed (unless `settled`: the maps were just read
   * again, and a mapping changed since is answered `changed`). Files are reached through the
   * process's {@link Tracked.tid}: should that thread exit meanwhile, what was found through its
   * TID is dropped and the maps read again (true), or, when `settled`, the call fails `changed`.
   */
  async #files(
    pid: number,
    tracked: Tracked,
    scratch: Scratch,
    now: number,
    settled: boolean,
  ): Promise<boolean | ProcessFailure> {
    const { fileOf, met } = scratch;
    const feed = this.#tracker.feed;
    let batch = 0;
    for (let d = 0; d < scratch.mappings; d++) {
      const m = scratch.found[d]!;
      const id = m.fileId;
      if (id < 0) {
        fileOf[d] = -1;
        continue;
      }
      const known = scratch.find(id);
      if (known >= 0) {
        fileOf[d] = known;
        continue;
      }
      const at = scratch.add(id, m, feed.lineOf(m)!);
      fileOf[d] = at;
      const held = m.file.kind === "inode" ? this.#checks.fresh(id, tracked, now) : undefined;
      met[at]!.held = held;
      if (held?.stamp !== undefined) batch = scratch.batch(batch, held.key!, held.stamp);
    }
    if (batch > 0) this.#ids.confirmMany(scratch.keys, scratch.stamps, batch, scratch.confirmed);
    let at = 0;
    let reached = false;
    for (let e = 0; e < scratch.count; e++) {
      const entry = met[e]!;
      const held = entry.held;
      if (held?.stamp !== undefined && scratch.confirmed[at++] === 1) continue;
      const m = entry.mapping!;
      const line = entry.line!;
      if (m.file.kind === "pseudo") {
        if (m.path !== VDSO_NAME) continue;
        reached ||= tracked.vdso === undefined;
        entry.held = await this.#vdso(tracked, line, now);
        continue;
      }
      if (held !== undefined && held.stamp === undefined) continue;
      reached = true;
      const checked = await this.#checks.check(tracked.tid, line, entry.id, tracked, now, feed.seenAt(m)!);
      if (!("changed" in checked)) entry.held = checked;
      else if (!settled) return true;
      else entry.held = changedHeld(checked, line, now);
    }
    // A process gone is checked by path: no thread's TID was read through.
    if (!reached || tracked.gone || this.#tracker.readsThrough(pid, tracked)) return false;
    tracked.failures.clear();
    tracked.vdso = undefined;
    if (!settled) return true;
    return {
      reason: "changed",
      detail: `thread ${tracked.tid} of process ${pid}, its memory read through, exited during the checks`,
    };
  }

  async #vdso(tracked: Tracked, line: Mapping, now: number): Promise<Held> {
    tracked.vdso ??= this.#checks.vdso(tracked.tid, line);
    const file = await tracked.vdso;
    return { file, via: "memory", checkedAt: now };
  }

  /** Writes the call's answers into `out`: per mapping met a place (the `d`th mapping met is place `d`, as {@link Scratch.note} wrote per address), then per address a status. */
  #write(tracked: Tracked, scratch: Scratch, out: ResolutionResults, n: number): void {
    const { fileOf, met, codes, tally } = scratch;
    const readAt = tracked.readAt;
    const feed = this.#tracker.feed;
    out.verifiedAt = readAt;
    let failed = (scratch.seen & UNPLACED) !== 0;
    for (let d = 0; d < scratch.mappings; d++) {
      const m = scratch.found[d]!;
      const f = fileOf[d]!;
      let p: number;
      if (f < 0) {
        p = out.add({
          mapping: feed.lineOf(m)!,
          file: undefined,
          via: undefined,
          verifiedAt: readAt,
          status: ResolveStatus.ANONYMOUS,
        });
      } else {
        const entry = met[f]!;
        p = this.#filePlace(entry, entry.mapping === m ? entry.line! : feed.lineOf(m)!, readAt, out);
      }
      const code = out.places[p]!.status;
      codes[p] = code;
      if (code !== ResolveStatus.OK) failed = true;
    }
    out.answeredAt = this.#now();
    // Every address placed, every place OK: no per-address work left but the status.
    if (!failed) {
      out.status.fill(ResolveStatus.OK, 0, n);
      return;
    }
    tally.fill(0);
    statusAll(n, out.place, codes, out.lookup.status, out.status, tally);
    const failures = this.#stats.failures;
    for (let code = 1; code < tally.length; code++)
      failures[resolveFailure(code as ResolveStatusCode)!] += tally[code]!;
  }

  /** The place of `line`, a mapping of file `entry` the call met. */
  #filePlace(entry: Met, line: Mapping, readAt: number, out: ResolutionResults): number {
    const held = entry.held;
    const verifiedAt = held === undefined || held.checkedAt > readAt ? readAt : held.checkedAt;
    const file = held?.file;
    const code = file === undefined ? ResolveStatus.ANONYMOUS : file.ok ? ResolveStatus.OK : resolveStatus(file.reason);
    return out.add({ mapping: line, file, via: held?.via, verifiedAt, status: code });
  }

  #failAll(n: number, failure: ProcessFailure, out: ResolutionResults): void {
    this.#stats.failures[failure.reason] += n;
    out.status.fill(resolveStatus(failure.reason), 0, n);
    out.place.fill(-1, 0, n);
    out.detail = failure.detail;
    out.answeredAt = this.#now();
  }

  /**
   * The build ID of the file mapped by `mapping` (a line of `pid`'s maps) in process `pid`,
   * reached through `/proc/PID/map_files/` and checked there by device and inode (by its path when
   * that may not be followed); for `[vdso]`, the vdso's. A mapping no longer there is `changed`.
   * When the process has exited, the file is reached by its path only given `seenAt`, when the line
   * was read (realtime clock, ms, as `Date.now()` before the read): the file there must have the
   * line's (device, inode) and a ctime not after `seenAt`, or another file may have taken its inode
   * number since (`missing`); without `seenAt` the answer is `exited`.
   * @throws RangeError when `pid` is not an integer >= 1 or `seenAt` not an integer >= 0.
   */
  async resolveMapping(pid: number, mapping: Mapping, seenAt?: number): Promise<FileResolution> {
    integer("pid", pid, 1);
    if (seenAt !== undefined) integer("seenAt", seenAt, 0);
    const r = await this.#mapped(pid, mapping, seenAt);
    if (!r.ok) this.#stats.failures[r.reason]++;
    return r;
  }

  async #mapped(pid: number, mapping: Mapping, seenAt: number | undefined): Promise<FileResolution> {
    const vdso = mapping.path === VDSO_NAME;
    if (!vdso && mapping.kind !== "file")
      return fileFail("anonymous", `${mapping.path || "anonymous memory"} has no file`);
    const reach = (tid: number) => (vdso ? this.#checks.vdso(tid, mapping) : this.#checks.checkOnce(tid, mapping));
    let checked = await reach(pid);
    if (!("changed" in checked) && (checked.ok || !vdso)) return checked;
    const live = this.#live(pid);
    // A leader that exited while its threads run shows no memory: it is read through one of them.
    if (live !== undefined && live.tid !== pid) {
      checked = await reach(live.tid);
      if (!threadLives(pid, live, this.#procRoot))
        return fileFail("changed", `thread ${live.tid} of process ${pid} exited during the check`, mapping.path);
    }
    if (!("changed" in checked)) return checked;
    if (live !== undefined && (seenAt === undefined || !startedAfter(live.identity, seenAt, this.#procRoot)))
      return fileFail("changed", checked.changed, mapping.path, mappingIdentity(mapping));
    if (seenAt === undefined) return fileFail("exited", `process ${pid} exited`);
    const byPath = await this.#checks.checkOnce(pid, mapping, seenAt);
    return "changed" in byPath ? fileFail("exited", `process ${pid} exited`) : byPath;
  }

  /** Who `pid` is and the thread its memory is read through, or undefined when it has exited (or cannot be read). */
  #live(pid: number): LiveProcess | undefined {
    try {
      return readLiveProcess(pid, this.#procRoot);
    } catch {
      return undefined;
    }
  }

  /**
   * The build ID of the file at `path` (in this process's mount namespace), opened without blocking.
   * @throws TypeError when `path` is not a string.
   */
  async resolveFile(path: string): Promise<FileResolution> {
    const r = await this.#ids.lookupPath(path);
    if (!r.ok) this.#stats.failures[r.reason]++;
    return r;
  }

  /**
   * The build ID of the file with `identity`, reached through the first of `paths` that opens as that
   * very file. Given `liveAt` (realtime ms, a moment the file was known live), its ctime must not be
   * after it (within 10 ms) or another file may have taken the inode number since (`missing`, R20).
   * @throws TypeError or RangeError naming the bad argument.
   */
  async resolveIdentity(identity: InodeFileRef, paths: readonly string[], liveAt?: number): Promise<FileResolution> {
    const r = await this.#ids.lookupIdentity(identity, paths, liveAt);
    if (!r.ok) this.#stats.failures[r.reason]++;
    return r;
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
   * Forgets what is held for `pid`: its maps, and the checks of the files it maps (the build IDs
   * stay in the cache; the next call reads the maps and checks each file again). Not needed for
   * correctness: PID reuse and `exec` are caught on the {@link BuildIdResolverOptions.mapsMaxAgeMs}
   * bound. Call it to drop a process's maps at once.
   */
  forget(pid: number): void {
    const space = this.#tracker.spaces.space(pid);
    if (space !== undefined) for (const m of space.mappings()) this.#checks.drop(m.fileId);
    this.#tracker.forget(pid);
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
      processes: this.#tracker.size,
    };
  }

  /** The cache's counters ({@link BuildIdCache.stats}). */
  cacheStats(): BuildIdCacheStats {
    return this.#ids.cache.stats();
  }
}

/**
 * Per address, its status: its place's code, or without a place `no-mapping` or `exited` by what
 * the lookup found (`found`); each counted in `tally` by code. Its own function, so that the loop
 * is compiled on its own.
 */
function statusAll(
  n: number,
  place: Int32Array,
  codes: Uint8Array,
  found: Uint8Array,
  status: Uint8Array,
  tally: Int32Array,
): void {
  for (let i = 0; i < n; i++) {
    const p = place[i]!;
    let code: number;
    if (p >= 0) code = codes[p]!;
    else {
      const s = found[i]!;
      code =
        s === LookupStatus.NO_MAPPING || s === LookupStatus.INCOMPLETE
          ? ResolveStatus.NO_MAPPING
          : ResolveStatus.EXITED;
    }
    status[i] = code;
    tally[code]!++;
  }
}

/** What a file's check holds when its mapping changed after a fresh read of the maps. */
function changedHeld(changed: RangeChanged, line: Mapping, now: number): Held {
  return {
    file: fileFail("changed", changed.changed, line.path, mappingIdentity(line)),
    via: "map_files",
    checkedAt: now,
  };
}
