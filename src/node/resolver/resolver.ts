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
import { integer, u64 } from "../../check.js";
import { LookupResults, LookupStatus, type Mapping as SpaceMapping } from "../../spaces/index.js";
import type { WasmSource } from "../../wasm.js";
import { exactName } from "../procfs/map-files.js";
import { type Mapping, mappingIdentity } from "../procfs/maps.js";
import { readProcessIdentity } from "../procfs/proc-stat.js";
import { VDSO_NAME } from "../procfs/vdso.js";
import { type FileResolution, fileFail, type Resolution, type ResolveFailure } from "./answers.js";
import { FileBuildIds } from "./file-build-ids.js";
import { FileChecks, type Held, type RangeChanged } from "./file-checks.js";
import { expired, type ProcessFailure, ProcessTracker, type Tracked } from "./processes.js";
import type { Stamp } from "./stamps.js";

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
  /** Clock for negative lifetimes, the bounds and `verifiedAt`, in ms. Default `performance.now`. */
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

/** What a call's addresses met, once per file: the file's check, or that the mapping has no file. */
interface Met {
  /** The check behind the answers; `undefined` for a pseudo mapping other than the vdso. */
  held: Held | undefined;
  /** A model mapping of the file the call met (the first). */
  mapping: SpaceMapping;
}

/** A call's working arrays: its addresses, the model's answers, the files it met, held IDs to confirm. */
class Scratch {
  addresses: BigUint64Array;
  out: LookupResults;
  readonly met = new Map<number, Met>();
  keys = new BigUint64Array(64);
  stamps: Stamp[] = [];
  confirmed = new Uint8Array(64);

  constructor(n: number) {
    this.addresses = new BigUint64Array(n);
    this.out = new LookupResults(n);
  }

  /** Room for `n` addresses. */
  fit(n: number): this {
    if (this.addresses.length < n) {
      this.addresses = new BigUint64Array(Math.max(n, 2 * this.addresses.length));
      this.out = new LookupResults(this.addresses.length);
    }
    return this;
  }

  /** Adds a held ID to confirm as the `i`th; returns the count. */
  batch(i: number, key: bigint, stamp: Stamp): number {
    if (i === this.keys.length) {
      const keys = new BigUint64Array(2 * i);
      keys.set(this.keys);
      this.keys = keys;
      this.confirmed = new Uint8Array(2 * i);
    }
    this.keys[i] = key;
    this.stamps[i] = stamp;
    return i + 1;
  }
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

const FAILURES: readonly ResolveFailure[] = [
  "no-mapping",
  "anonymous",
  "exited",
  "permission",
  "missing",
  "not-elf",
  "bad-elf",
  "no-build-id",
  "bad-procfs",
  "changed",
];

function fail(reason: ResolveFailure, detail: string, mapping?: Mapping): Resolution {
  return mapping === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, mapping };
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
    failures: Object.fromEntries(FAILURES.map((r) => [r, 0])) as Record<ResolveFailure, number>,
  };
  readonly #procRoot: string;
  /** The working arrays, while no call holds them (a call that finds them taken makes its own). */
  #scratch: Scratch | undefined = new Scratch(64);

  private constructor(
    ids: FileBuildIds,
    settings: { maxProcesses: number; mapsMaxAgeMs: number; fileMaxAgeMs: number; procRoot: string; now: () => number },
  ) {
    this.#ids = ids;
    this.#mapsMaxAgeMs = settings.mapsMaxAgeMs;
    this.#now = settings.now;
    this.#procRoot = settings.procRoot;
    this.#tracker = new ProcessTracker(settings, this.#stats, (pid, line) => exactName(pid, line, settings.procRoot));
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
    const now = options.now ?? (() => performance.now());
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
    let tracked = this.#tracker.current(pid, now);
    if ("reason" in tracked) return failAll(list, tracked);
    const scratch = (this.#scratch ?? new Scratch(list.length)).fit(list.length);
    this.#scratch = undefined;
    try {
      for (let i = 0; i < list.length; i++) scratch.addresses[i] = list[i]!;
      let reread = false;
      for (;;) {
        const seen = this.#lookup(pid, tracked, scratch, list.length);
        const outdated =
          seen === Lookup.Lost || (seen === Lookup.Uncovered && expired(tracked.readAt, now, this.#mapsMaxAgeMs));
        const met =
          outdated && !reread ? undefined : await this.#files(pid, tracked, scratch, list.length, now, reread);
        if (met !== undefined && !("changed" in met)) return this.#answers(pid, tracked, list, scratch);
        reread = true;
        const again = this.#tracker.reread(pid, tracked, now);
        if ("reason" in again) return failAll(list, again);
        tracked = again;
      }
    } finally {
      this.#scratch = scratch;
    }
  }

  /** Looks the call's addresses up in the model, answers into `scratch.out`. */
  #lookup(pid: number, tracked: Tracked, scratch: Scratch, n: number): Lookup {
    const out = scratch.out;
    const time = tracked.gone ? tracked.endedAt - 1n : undefined;
    this.#tracker.spaces.lookupMany(pid, scratch.addresses, out, time, 0, n);
    if (tracked.gone) return Lookup.Covered;
    const status = out.status;
    let seen = Lookup.Covered;
    for (let i = 0; i < n; i++) {
      const s = status[i]!;
      if (s === LookupStatus.NO_PROCESS || s === LookupStatus.EXITED) return Lookup.Lost;
      if (s === LookupStatus.NO_MAPPING || s === LookupStatus.INCOMPLETE) seen = Lookup.Uncovered;
    }
    return seen;
  }

  /**
   * The file behind each file id the call's addresses met, once per file: held answers first,
   * confirmed in one cache lookup, then the rest checked; or the first mapping found changed
   * (unless `settled`: the maps were just read again, and a mapping changed since is answered so).
   */
  async #files(
    pid: number,
    tracked: Tracked,
    scratch: Scratch,
    n: number,
    now: number,
    settled: boolean,
  ): Promise<Map<number, Met> | RangeChanged> {
    const { status, fileId, mapping } = scratch.out;
    const met = scratch.met;
    met.clear();
    let batch = 0;
    for (let i = 0; i < n; i++) {
      if (status[i] !== LookupStatus.OK) continue;
      const id = fileId[i]!;
      if (met.has(id)) continue;
      const m = mapping[i]!;
      const held = m.file.kind === "inode" ? this.#checks.fresh(id, tracked, now) : undefined;
      met.set(id, { held, mapping: m });
      if (held?.stamp !== undefined) batch = scratch.batch(batch, held.key!, held.stamp);
    }
    if (batch > 0) this.#ids.confirmMany(scratch.keys, scratch.stamps, batch, scratch.confirmed);
    let at = 0;
    for (const [id, entry] of met) {
      const held = entry.held;
      if (held?.stamp !== undefined && scratch.confirmed[at++] === 1) continue;
      const m = entry.mapping;
      const line = this.#tracker.feed.lineOf(m)!;
      if (m.file.kind === "pseudo") {
        if (m.path === VDSO_NAME) entry.held = await this.#vdso(pid, tracked, line, now);
        continue;
      }
      if (held !== undefined && held.stamp === undefined) continue;
      const checked = await this.#checks.check(pid, line, id, tracked, now);
      if (!("changed" in checked)) entry.held = checked;
      else if (!settled) return checked;
      else
        entry.held = {
          file: fileFail("changed", checked.changed, line.path, mappingIdentity(line)),
          via: "map_files",
          checkedAt: now,
        };
    }
    return met;
  }

  async #vdso(pid: number, tracked: Tracked, line: Mapping, now: number): Promise<Held> {
    tracked.vdso ??= this.#checks.vdso(pid, line);
    const file = await tracked.vdso;
    return { file, via: "memory", checkedAt: now };
  }

  #answers(pid: number, tracked: Tracked, list: bigint[], scratch: Scratch): Resolution[] {
    const { status, fileId, fileOffset, mapping } = scratch.out;
    const met = scratch.met;
    const feed = this.#tracker.feed;
    const answeredAt = this.#now();
    const results = new Array<Resolution>(list.length);
    for (let i = 0; i < list.length; i++) {
      const s = status[i]!;
      if (s === LookupStatus.OK) {
        const entry = met.get(fileId[i]!)!;
        const line = feed.lineOf(mapping[i]!)!;
        const held = entry.held;
        const verifiedAt = held === undefined || held.checkedAt > tracked.readAt ? tracked.readAt : held.checkedAt;
        const file = held?.file;
        if (file === undefined) {
          results[i] = this.#anonymous(list[i]!, line, verifiedAt, answeredAt);
        } else if (file.ok) {
          results[i] = {
            ok: true,
            buildId: file.buildId,
            path: line.path,
            fileOffset: fileOffset[i]!,
            mapping: line,
            cached: file.cached,
            verifiedAt,
            ageMs: answeredAt - verifiedAt,
            via: held!.via,
          };
        } else {
          const where = { path: line.path, fileOffset: fileOffset[i]!, mapping: line };
          const age = { verifiedAt, ageMs: answeredAt - verifiedAt };
          results[i] = { ok: false, reason: file.reason, detail: file.detail, ...where, ...age };
        }
      } else if (s === LookupStatus.ANONYMOUS) {
        results[i] = this.#anonymous(list[i]!, feed.lineOf(mapping[i]!)!, tracked.readAt, answeredAt);
      } else if (s === LookupStatus.NO_MAPPING || s === LookupStatus.INCOMPLETE) {
        const detail = `no mapping of process ${pid} holds 0x${list[i]!.toString(16)}`;
        results[i] = {
          ok: false,
          reason: "no-mapping",
          detail,
          verifiedAt: tracked.readAt,
          ageMs: answeredAt - tracked.readAt,
        };
      } else {
        results[i] = fail("exited", `process ${pid} exited`);
      }
    }
    return results;
  }

  #anonymous(address: bigint, line: Mapping, verifiedAt: number, answeredAt: number): Resolution {
    const detail = `0x${address.toString(16)} is in ${line.path || "anonymous memory"}`;
    return { ok: false, reason: "anonymous", detail, mapping: line, verifiedAt, ageMs: answeredAt - verifiedAt };
  }

  /**
   * The build ID of the file mapped by `mapping` (a line of `pid`'s maps) in process `pid`,
   * reached through `/proc/PID/map_files/` and checked there by device and inode (by its path when
   * that may not be followed, or when the process has exited); for `[vdso]`, the vdso's. A mapping
   * no longer there is `changed`.
   */
  async resolveMapping(pid: number, mapping: Mapping): Promise<FileResolution> {
    integer("pid", pid, 1);
    const r = await this.#mapped(pid, mapping);
    if (!r.ok) this.#stats.failures[r.reason]++;
    return r;
  }

  async #mapped(pid: number, mapping: Mapping): Promise<FileResolution> {
    if (mapping.path === VDSO_NAME) return this.#checks.vdso(pid, mapping);
    if (mapping.kind !== "file") return fileFail("anonymous", `${mapping.path || "anonymous memory"} has no file`);
    const checked = await this.#checks.checkOnce(pid, mapping, false);
    if (!("changed" in checked)) return checked;
    if (this.#alive(pid)) return fileFail("changed", checked.changed, mapping.path, mappingIdentity(mapping));
    const byPath = await this.#checks.checkOnce(pid, mapping, true);
    return "changed" in byPath ? fileFail("exited", `process ${pid} exited`) : byPath;
  }

  #alive(pid: number): boolean {
    try {
      readProcessIdentity(pid, this.#procRoot);
      return true;
    } catch {
      return false;
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

function failAll(list: bigint[], failure: ProcessFailure): Resolution[] {
  return list.map(() => fail(failure.reason, failure.detail));
}
