/**
 * The reverse index: build ID -> the files that carry it, over scanned roots, kept in an SQLite
 * database (index-db.ts). Lookups are indexed queries (microseconds), so an index opened from its
 * database answers at once; a scan writes only the files that changed, in transactions of bounded
 * size, so what it has read is answered while it goes on.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, realpathSync } from "node:fs";
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import type { Worker } from "node:worker_threads";
import { ProcfsMissingError, RootDir, relativeNames } from "../files/under-root.js";
import { scanArchive } from "./archive.js";
import { archiveFormat } from "./archive-format.js";
import { buildIdBytes, MAX_ID_BYTES } from "./build-id.js";
import { ID_MAX, KIND } from "./file-table.js";
import { type ArchivedMemberRow, IndexDatabase, type MemberRow, type SourceRow, type Stamp } from "./index-db.js";
import {
  type CheckedFile,
  type FileFilter,
  included,
  type ListDir,
  type Listing,
  type ReadFiles,
  readFileAt,
  type ScanJob,
  ScanJobs,
  type Scanners,
  type ScanSetup,
  stampOf,
  turnByTurn,
} from "./scan-jobs.js";
import { ScanPool } from "./scan-pool.js";
import { matchSource, type OpenedSource, SourceFiles, type SourceRecord } from "./sources.js";

export type { Scanners } from "./scan-jobs.js";

/** Roots scanned when none are given (those that exist). */
export const DEFAULT_ROOTS: readonly string[] = Object.freeze([
  "/usr/lib/debug/.build-id",
  "/usr/bin",
  "/usr/sbin",
  "/usr/lib",
  "/usr/libexec",
  "/lib",
  "/opt",
]);

/** Files a scan writes in one transaction when not told otherwise. */
export const DEFAULT_WRITE_BATCH = 1000;

/** One file the index holds for a build ID. */
export interface IndexedFile {
  /** Its path. */
  path: string;
  /** The root it was found under (a real path): it is opened from there, never through a link. */
  root: string;
  /** Has loadable code. */
  executable: boolean;
  /** Has DWARF. */
  debuginfo: boolean;
  /** `st_dev` when scanned. */
  dev: bigint;
  /** `st_ino` when scanned. */
  ino: bigint;
  /** `st_size` when scanned. */
  size: bigint;
  /** Modification time in nanoseconds when scanned. */
  mtimeNs: bigint;
  /** Status-change time in nanoseconds when scanned. */
  ctimeNs: bigint;
}

/** Figures of the last {@link BuildIdIndex.scan}. */
export interface ScanStats {
  /** Roots walked (after resolving and dropping duplicates). */
  roots: number;
  /** Roots given that do not exist or are not directories. */
  missingRoots: number;
  /** Directories walked. */
  directories: number;
  /** Regular files found (and not excluded). */
  files: number;
  /** Regular files left out by the include and exclude patterns. */
  excluded: number;
  /** Files opened and read by this scan. */
  reads: number;
  /** Files whose stamp was unchanged, taken from the previous scan without a read. */
  reused: number;
  /** Files the index held that this scan did not find (dropped from the index). */
  removed: number;
  /** ELF files with a build ID the index holds. */
  withBuildId: number;
  /** Of those, executables. */
  executables: number;
  /** Of those, debuginfo files. */
  debuginfo: number;
  /** Distinct build IDs. */
  buildIds: number;
  /** Files that could not be opened or read (counted, skipped). */
  unreadable: number;
  /** Symbolic links met (never followed). */
  links: number;
  /** FIFOs, sockets and devices met (never opened). */
  special: number;
  /** Further names of a file already seen (same device and inode). */
  hardLinks: number;
  /** ELF files whose build ID is longer than `ID_MAX` bytes, so not indexed. */
  longBuildIds: number;
  /** Wall time of the scan in milliseconds. */
  durationMs: number;
}

/** Where a scan under way is, for progress lines and `/metrics`. */
export interface ScanProgress {
  /** "walk": listing directories; "read": reading the files found; "sources": recording the sources the debuginfo read names. */
  phase: "walk" | "read" | "sources";
  /** Directories listed so far. */
  directories: number;
  /** Regular files found so far. */
  files: number;
  /** Files the read phase has handled (read, or kept unread as unchanged). */
  handled: number;
  /** Of those, read. */
  reads: number;
  /** Milliseconds since the scan started. */
  elapsedMs: number;
}

/** Figures of a {@link BuildIdIndex.groom}. */
export interface GroomStats {
  /** Files checked. */
  checked: number;
  /** Files dropped: gone, no longer a regular file, another file in their place, or now excluded. */
  removed: number;
  /** Wall time in milliseconds. */
  durationMs: number;
}

/** Options for {@link BuildIdIndex.create} and {@link BuildIdIndex.open}. */
export interface BuildIdIndexOptions {
  /** Directories to scan; default {@link DEFAULT_ROOTS}. A `readonly` index takes its roots from the database. */
  roots?: readonly string[];
  /** A file is indexed only when its path matches one of these (elfutils' `-I`); default: every file. */
  include?: readonly RegExp[];
  /** ... and none of these (elfutils' `-X`). */
  exclude?: readonly RegExp[];
  /** Files a scan writes in one transaction, at most (1 to 1,000,000); default {@link DEFAULT_WRITE_BATCH}. */
  writeBatch?: number;
  /** Open the database for reading only (a replica of another process's scans): no scan, no groom. Only with a path. */
  readonly?: boolean;
  /** What a scan indexes, as elfutils' scanners (`-F`, `-U`, `-R`); default all. A file of a kind left out is counted as excluded. */
  scanners?: Scanners;
  /** Record the sources each debuginfo's DWARF line tables name, for `/source` (default); `false` as elfutils' `--disable-source-scan`. */
  sources?: boolean;
  /**
   * Most worker threads a rescan lists and reads files with, as elfutils' `-c` (1 to
   * {@link MAX_SCAN_THREADS}); default the CPUs (`os.availableParallelism()`). The index's first
   * scan in a process runs on the calling thread; at a later one a worker starts, another only
   * while jobs wait and a CPU is idle; each ends after a short while idle.
   */
  scanThreads?: number;
  /** Whether a CPU is idle for one more scan worker (default: by the load average; tests: always). @internal */
  scanSpare?: () => boolean;
}

/** Most worker threads a scan runs ({@link BuildIdIndexOptions.scanThreads}). */
export const MAX_SCAN_THREADS = 256;

function checkScanners(value: Scanners | undefined): Scanners {
  if (value === undefined) return { files: true, deb: true, rpm: true };
  const keys = ["files", "deb", "rpm"] as const;
  if (typeof value !== "object" || value === null || keys.some((k) => typeof value[k] !== "boolean"))
    throw new TypeError(`scanners must be { files, deb, rpm } booleans, got ${JSON.stringify(value)}`);
  if (!keys.some((k) => value[k])) throw new RangeError("scanners must turn on at least one of files, deb, rpm");
  return { files: value.files, deb: value.deb, rpm: value.rpm };
}

/** Options for {@link BuildIdIndex.scan}. */
export interface ScanOptions {
  /** Called at every pause (every few milliseconds) with where the scan is. */
  onProgress?: (progress: Readonly<ScanProgress>) => void;
  /** Stops the scan at its next pause; it then rejects with the signal's reason. What it wrote stays: each file as read. */
  signal?: AbortSignal;
  /** Points inside the scan where tests change the tree. @internal */
  hooks?: ScanHooks;
}

/** Called at fixed points of a scan, for tests that swap files at exactly that moment. @internal */
export interface ScanHooks {
  /** After the entries of directory `dir` were looked at, before any of them is opened. */
  listed?(dir: string): void;
  /** After the walk, before the first file is read. */
  walked?(): void;
  /** Once the scan's workers have its setup, before any job: the workers (none for a scan on the index's thread), for tests that end one. */
  started?(workers: () => readonly Worker[]): void;
}

/** A scan or groom asked of an index opened for reading only. */
export class IndexReadOnlyError extends Error {
  /** Always "IndexReadOnlyError", so the error can be told apart after serialisation. */
  override name = "IndexReadOnlyError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EROFS";
  /** @param path The database. */
  constructor(readonly path: string) {
    super(`${path}: the index is open for reading only (a replica): another process scans it`);
  }
}

/** A directory the walk found regular files to read in: root number, its components below the root, its path, and the files. */
interface WalkedDir {
  root: number;
  names: string[];
  path: string;
  /** Names of the regular files in it to read. */
  files: string[];
  /** Of those, names whose link count the walk looked at already (rescans). */
  linkChecked?: Set<string>;
}

/** Longest a scan works without a pause for other work (a server's requests), in ms; one file's read is never split. */
const SLICE_MS = 10;

/** Files one read job takes, at most, from one directory or several. */
const READ_CHUNK = 64;

/** Directories one list job takes, at most. */
const LIST_CHUNK = 32;

/** Debuginfo files one sources job takes, at most. */
const SOURCES_CHUNK = 8;

/** Jobs a scan keeps with its workers per worker: enough to keep each busy, few enough to stop soon when aborted. */
const JOBS_PER_WORKER = 4;

/** Depth-first order of the walk one thread would take: by root, then name by name. */
function walkOrder(a: WalkedDir, b: WalkedDir): number {
  if (a.root !== b.root) return a.root - b.root;
  const n = Math.min(a.names.length, b.names.length);
  for (let i = 0; i < n; i++) if (a.names[i] !== b.names[i]) return a.names[i]! < b.names[i]! ? -1 : 1;
  return a.names.length - b.names.length;
}

/** Whether the file of `stamp` (dev, ino first) is seen for the first time; records it. */
function firstLink(seen: Set<string>, stamp: readonly bigint[]): boolean {
  const id = `${stamp[0]}:${stamp[1]}`;
  if (seen.has(id)) return false;
  seen.add(id);
  return true;
}

// The ELF members with a build ID of the package archive `name` in the directory `names` of `root` (archive.ts, its
// bounds), and what it holds for `/source` (when `sources`); null when it cannot be read.
async function readArchive(
  root: RootDir,
  names: string[],
  name: string,
  path: string,
  sources: boolean,
): Promise<ArchiveRows | null> {
  const { fd, stat } = root.openFile(names, name);
  try {
    const scan = await scanArchive({ path, fd, stat }, { sources });
    const members = scan.elves.flatMap((e) => {
      const buildId = Buffer.from(e.buildId, "hex");
      if (buildId.length > ID_MAX) return [];
      const kind = KIND.BUILD_ID | (e.executable ? KIND.EXECUTABLE : 0) | (e.debuginfo ? KIND.DEBUGINFO : 0);
      return [{ member: e.member, kind, size: e.size, mtimeS: e.mtime, buildId, names: e.sources }];
    });
    const sdefs = sources ? scan.otherFiles.map((f) => ({ member: f.member, size: f.size, mtimeS: f.mtime })) : [];
    return { members, srefs: members.filter((m) => m.names.length > 0), sdefs };
  } catch (error) {
    if (error instanceof ProcfsMissingError) throw error;
    return null;
  } finally {
    closeSync(fd);
  }
}

/** What a package archive adds to the index: its ELF members, and the source paths and members `/source` matches (elfutils' r_sref, r_sdef). */
interface ArchiveRows {
  members: (MemberRow & { buildId: Uint8Array })[];
  srefs: { buildId: Uint8Array; names: readonly string[] }[];
  sdefs: { member: string; size: number; mtimeS: number }[];
}

/** Writes queued by a scan or groom, committed in transactions of bounded size. */
interface Writes {
  /** Queues a write; commits the queue when it holds a batch. */
  add(write: () => void): void;
  /** Commits what is queued. */
  flush(): void;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Cuts a scan into slices of {@link SLICE_MS}: `if (slices.due()) await slices.pause()` between steps. */
interface Slices {
  due(): boolean;
  /** Lets other work run, then ends the scan (rejects) if `signal` asked for it meanwhile. */
  pause(): Promise<void>;
  /** What a pause does but letting other work run, for code that waits on workers anyway. */
  check(): void;
}

function slices(signal: AbortSignal | undefined, beforePause: () => void): Slices {
  let since = performance.now();
  return {
    due: () => performance.now() - since >= SLICE_MS,
    async pause() {
      beforePause();
      await tick();
      signal?.throwIfAborted();
      since = performance.now();
    },
    check() {
      beforePause();
      signal?.throwIfAborted();
      since = performance.now();
    },
  };
}

/** What the steps of one scan share. */
interface ScanRun {
  stats: ScanStats;
  slice: Slices;
  writes: Writes;
  progress: ScanProgress;
  rootIds: number[];
  /** Runs a job on the index's workers, or on this thread (a first scan). */
  run<T>(job: ScanJob): Promise<T>;
  /** Jobs given out at once, at most. */
  depth: number;
  /** Has whoever runs the jobs close the directories it holds, so the next jobs open from the roots again. */
  releaseDirs(): Promise<void>;
}

function patterns(what: string, value: readonly RegExp[] | undefined): readonly RegExp[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((r) => !(r instanceof RegExp)))
    throw new TypeError(`${what} must be an array of RegExp, got ${String(value)}`);
  return value.map((r) => new RegExp(r.source, r.flags.replace(/[gy]/g, "")));
}

/**
 * Build ID -> files, over directories scanned for ELF files. A root is a boundary: every
 * directory and file is opened from the root one component at a time and never through a
 * symbolic link (files/under-root.ts), so nothing swapped in during a scan leads it outside, and
 * a link cycle cannot loop. Files are checked on the handle and read in bounded ranges; a rescan
 * reads only the files whose `(dev, ino, size, mtime, ctime)` stamp changed.
 *
 * @example
 * ```ts
 * const index = await BuildIdIndex.open("/var/cache/buildid/index.sqlite", { roots: ["/usr/bin"] });
 * index.lookup("4a1b…"); // at once, from what the last run indexed
 * await index.scan(); // reads only what changed since
 * ```
 */
export class BuildIdIndex {
  #roots: readonly string[];
  #db: IndexDatabase;
  #writeBatch: number;
  #filter: FileFilter;
  #recordsSources: boolean;
  #scanThreads: number;
  #scanSpare: (() => boolean) | undefined;
  #workers: ScanPool | undefined;
  #stats: ScanStats | undefined;
  #progress: ScanProgress | undefined;
  #busy: Promise<unknown> = Promise.resolve();
  #want = new Uint8Array(MAX_ID_BYTES);
  #sources: SourceFiles | undefined;

  private constructor(db: IndexDatabase, roots: readonly string[], options: BuildIdIndexOptions) {
    this.#db = db;
    this.#roots = roots;
    const batch = options.writeBatch ?? DEFAULT_WRITE_BATCH;
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > 1_000_000)
      throw new RangeError(`writeBatch must be an integer from 1 to 1000000, got ${String(batch)}`);
    this.#writeBatch = batch;
    this.#filter = {
      scanners: checkScanners(options.scanners),
      include: patterns("include", options.include),
      exclude: patterns("exclude", options.exclude),
    };
    const threads = options.scanThreads ?? Math.min(availableParallelism(), MAX_SCAN_THREADS);
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > MAX_SCAN_THREADS)
      throw new RangeError(`scanThreads must be an integer from 1 to ${MAX_SCAN_THREADS}, got ${String(threads)}`);
    this.#scanThreads = threads;
    this.#scanSpare = options.scanSpare;
    if (options.sources !== undefined && typeof options.sources !== "boolean")
      throw new TypeError(`sources must be a boolean, got ${JSON.stringify(options.sources)}`);
    this.#recordsSources = options.sources ?? true;
  }

  static #checkRoots(options: BuildIdIndexOptions): readonly string[] {
    const roots = options.roots ?? DEFAULT_ROOTS;
    if (!Array.isArray(roots) || roots.some((r) => typeof r !== "string" || r === ""))
      throw new TypeError(`roots must be an array of non-empty paths, got ${JSON.stringify(roots)}`);
    return [...roots];
  }

  /**
   * An empty index in memory over `options.roots` (default {@link DEFAULT_ROOTS}); call {@link BuildIdIndex.scan} to fill it.
   * @throws TypeError or RangeError naming a bad option.
   */
  static async create(options: BuildIdIndexOptions = {}): Promise<BuildIdIndex> {
    if (options.readonly) throw new TypeError("readonly needs a database path: use BuildIdIndex.open");
    const roots = BuildIdIndex.#checkRoots(options);
    const db = IndexDatabase.open(undefined);
    try {
      return new BuildIdIndex(db, roots, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /**
   * The index kept in the database at `path`, answering at once from what it holds; created
   * empty when there is no file, migrated once from an index file of the old format. A later
   * {@link BuildIdIndex.scan} reads only what changed. With `readonly`, the roots are the
   * database's and only lookups are allowed.
   * @throws IndexDatabaseError or IndexFileError naming `path` for a file that is not an
   *   index; the file is left as it is.
   */
  static async open(path: string, options: BuildIdIndexOptions = {}): Promise<BuildIdIndex> {
    if (typeof path !== "string" || path === "")
      throw new TypeError(`path must be a non-empty string, got ${JSON.stringify(path)}`);
    const readonly = options.readonly ?? false;
    const roots = readonly ? [] : BuildIdIndex.#checkRoots(options);
    const real = roots.flatMap((root) => {
      try {
        return [realpathSync(root)];
      } catch {
        return [];
      }
    });
    const db = IndexDatabase.open(path, { readonly, migrateRoots: real });
    try {
      return new BuildIdIndex(db, readonly ? db.rootPaths() : roots, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** The roots this index scans (a read-only index: the roots its database holds files under). */
  get roots(): readonly string[] {
    return this.#db.readonly ? this.#db.rootPaths() : this.#roots;
  }

  /** Opened for reading only. */
  get readonly(): boolean {
    return this.#db.readonly;
  }

  /** Distinct build IDs held. */
  get size(): number {
    return this.#db.counts().buildIds;
  }

  /** Bytes the database takes. */
  get databaseBytes(): number {
    return this.#db.bytes();
  }

  /** The database, for the readers of archives and sources that store their rows in it. @internal */
  get database(): IndexDatabase {
    return this.#db;
  }

  /** Figures of the last scan; `undefined` before the first. */
  get lastScan(): ScanStats | undefined {
    return this.#stats;
  }

  /** Where the scan under way is; `undefined` when none is. */
  get progress(): Readonly<ScanProgress> | undefined {
    return this.#progress;
  }

  // Runs `work` after the scan or groom under way: one at a time.
  #serial<T>(work: () => Promise<T>): Promise<T> {
    if (this.#db.readonly) return Promise.reject(new IndexReadOnlyError(this.#db.path ?? ""));
    const run = this.#busy.then(work);
    this.#busy = run.catch(() => {});
    return run;
  }

  /**
   * Walks the roots and brings the index up to date: new and changed files are read, unchanged
   * ones (same stamp) kept unread, vanished ones dropped. Unreadable entries are counted, never fatal.
   * Lookups meanwhile answer from the database, which holds every file read so far (it pauses
   * every few milliseconds, so a server on the same thread keeps answering); a scan called during
   * another, or during a groom, runs after it.
   * @throws {@link IndexReadOnlyError} for an index opened `readonly`.
   */
  scan(options: ScanOptions = {}): Promise<ScanStats> {
    return this.#serial(() => this.#scanOnce(options));
  }

  async #scanOnce(options: ScanOptions): Promise<ScanStats> {
    const started = performance.now();
    const stats: ScanStats = {
      roots: 0,
      missingRoots: 0,
      directories: 0,
      files: 0,
      excluded: 0,
      reads: 0,
      reused: 0,
      removed: 0,
      withBuildId: 0,
      executables: 0,
      debuginfo: 0,
      buildIds: 0,
      unreadable: 0,
      links: 0,
      special: 0,
      hardLinks: 0,
      longBuildIds: 0,
      durationMs: 0,
    };
    options.signal?.throwIfAborted();
    const progress: ScanProgress = { phase: "walk", directories: 0, files: 0, handled: 0, reads: 0, elapsedMs: 0 };
    this.#progress = progress;
    const writes = this.#writes();
    const slice = slices(options.signal, () => {
      writes.flush();
      progress.elapsedMs = performance.now() - started;
      options.onProgress?.(progress);
    });
    const roots = this.#openRoots(stats);
    // Nothing to compare with: regular files go unstamped to the reads, whose handles stamp them.
    const stampFiles = !this.#db.isEmpty();
    // The index's first scan in this process runs on this thread, between requests, as one thread did
    // before the workers (a worker costs 10 MB RSS on top of the scan's peak); later rescans take the workers.
    const pool = this.#stats !== undefined ? this.#pool : undefined;
    const jobs = new Set<Promise<unknown>>();
    let scanId: number | undefined;
    let setUp = false;
    let here: ScanJobs | undefined;
    try {
      const rootIds = roots.map((root) => this.#db.rootId(root.path));
      const setup: ScanSetup = {
        roots: roots.map((root, i) => ({
          path: root.path,
          fd: root.descriptor,
          dev: root.stat.dev,
          ino: root.stat.ino,
          rootId: rootIds[i]!,
        })),
        filter: this.#filter,
        stampFiles,
        ...(this.#db.path === undefined ? {} : { database: this.#db.path }),
        sourceRoots: this.#sourceFiles().roots.slice(),
      };
      let post: <T>(job: ScanJob) => Promise<T>;
      if (pool) {
        scanId = pool.start();
        await pool.setup(scanId, setup);
        setUp = true;
        options.hooks?.started?.(() => pool.workers);
        post = (job) => pool.run(scanId!, job);
      } else {
        here = await ScanJobs.open(setup, this.#db);
        options.hooks?.started?.(() => []);
        post = turnByTurn(here);
      }
      const run = <T>(job: ScanJob): Promise<T> => {
        const p = post<T>(job);
        jobs.add(p);
        // Settled ones leave the set; a rejection is seen where the job is awaited.
        p.then(
          () => jobs.delete(p),
          () => jobs.delete(p),
        );
        return p;
      };
      const releaseDirs = async (): Promise<void> => {
        if (pool) await pool.releaseDirs(scanId!);
        else here?.release();
      };
      await this.#update(
        roots,
        rootIds,
        stampFiles,
        // On this thread one job at a time: results waiting their turn kept V8's young generation at 32 MiB, not 16.
        {
          stats,
          slice,
          writes,
          progress,
          rootIds,
          run,
          releaseDirs,
          depth: pool ? this.#scanThreads * JOBS_PER_WORKER : 1,
        },
        options.hooks,
      );
      // A root loses its last file only to a drop.
      if (this.#stats === undefined || stats.removed > 0 || stats.reads > 0) this.#db.dropUnusedRoots(rootIds);
    } finally {
      // Workers open nothing from the roots' descriptors once every job is settled and they let go of the roots.
      await Promise.allSettled([...jobs]);
      if (setUp) await pool!.end(scanId!).catch(() => {});
      if (scanId !== undefined) pool!.idle();
      here?.close();
      for (const root of roots) root.close();
      this.#progress = undefined;
    }
    const counts = this.#db.counts();
    stats.withBuildId = counts.withBuildId;
    stats.executables = counts.executables;
    stats.debuginfo = counts.debuginfo;
    stats.buildIds = counts.buildIds;
    stats.durationMs = performance.now() - started;
    this.#stats = stats;
    return stats;
  }

  // The workers, shared with the process's other indexes of as many, started at the first scan.
  get #pool(): ScanPool {
    this.#workers ??= this.#scanSpare
      ? new ScanPool(this.#scanThreads, { spare: this.#scanSpare })
      : ScanPool.acquire(this.#scanThreads);
    return this.#workers;
  }

  // Writes queued and committed together: at most writeBatch at a time, and at every pause.
  #writes(): Writes {
    const queued: (() => void)[] = [];
    const flush = (): void => {
      if (queued.length === 0) return;
      this.#db.transaction(() => {
        for (const write of queued) write();
      });
      queued.length = 0;
    };
    return {
      add: (write) => {
        queued.push(write);
        if (queued.length >= this.#writeBatch) flush();
      },
      flush,
    };
  }

  // Opens each root once (duplicates, by device and inode, are dropped); a root that is missing or not a directory is counted.
  #openRoots(stats: ScanStats): RootDir[] {
    const opened: RootDir[] = [];
    const seen = new Set<string>();
    for (const root of this.#roots) {
      let dir: RootDir;
      try {
        dir = RootDir.openSync(realpathSync(root));
      } catch (error) {
        if (error instanceof ProcfsMissingError) {
          for (const r of opened) r.close();
          throw error;
        }
        stats.missingRoots++;
        continue;
      }
      const id = `${dir.stat.dev}:${dir.stat.ino}`;
      if (seen.has(id)) {
        dir.close();
        continue;
      }
      seen.add(id);
      stats.roots++;
      opened.push(dir);
    }
    return opened;
  }

  // Walks the opened roots, reads what is new or changed, writes it, and drops what was not found.
  async #update(
    roots: RootDir[],
    rootIds: number[],
    stampFiles: boolean,
    scan: ScanRun,
    hooks: ScanHooks | undefined,
  ): Promise<void> {
    const db = this.#db;
    const { stats, slice, writes, progress, run } = scan;
    const seenFiles = new Set<string>();
    const kept = new Set<number>();
    const found = await this.#walk(roots, stampFiles, scan, { seenFiles, kept, hooks });
    // The reads open every folder afresh from its root: none held since the walk, which may be elsewhere by now.
    await scan.releaseDirs();
    hooks?.walked?.();
    progress.phase = "read";
    progress.handled = stats.reused;
    // Debuginfo files read, whose sources are recorded once every build ID is answered.
    const debuginfo: { dir: WalkedDir; name: string; stamp: Stamp; id: number }[] = [];
    // Runs of files from one directory or several, READ_CHUNK at most.
    const chunks = function* (): Generator<{ dir: WalkedDir; files: string[] }[]> {
      let batch: { dir: WalkedDir; files: string[] }[] = [];
      let size = 0;
      for (let n = 0; n < found.length; n++) {
        const dir = found[n]!;
        found[n] = undefined as never; // let what was handled go
        for (let at = 0; at < dir.files.length; ) {
          const files = dir.files.slice(at, at + READ_CHUNK - size);
          at += files.length;
          batch.push({ dir, files });
          size += files.length;
          if (size === READ_CHUNK) {
            yield batch;
            batch = [];
            size = 0;
          }
        }
      }
      if (batch.length > 0) yield batch;
    };
    await this.#inOrder(
      scan.depth,
      chunks(),
      (batch) =>
        run<ReadFiles>({
          kind: "read",
          dirs: batch.map(({ dir, files }) => ({ root: dir.root, names: dir.names, files })),
        }),
      async (batch, read) => {
        let i = 0;
        for (const { dir, files } of batch) {
          const prefix = dir.path.endsWith("/") ? dir.path : `${dir.path}/`;
          const rootId = rootIds[dir.root]!;
          for (const name of files) {
            const c = readFileAt(read, i++);
            progress.handled++;
            if (c === null) {
              stats.unreadable++;
              continue;
            }
            const { stamp } = c;
            if (c.links > 1 && !dir.linkChecked?.has(name) && !firstLink(seenFiles, stamp)) {
              stats.files--;
              stats.hardLinks++;
              continue;
            }
            const path = prefix + name;
            stats.reads++;
            progress.reads++;
            if (c.long) stats.longBuildIds++;
            let archive: ArchiveRows | null | undefined;
            if (c.kind === 0 && archiveFormat(path)) {
              try {
                archive = await readArchive(roots[dir.root]!, dir.names, name, path, this.#recordsSources);
              } catch (error) {
                if (error instanceof ProcfsMissingError) throw error;
                archive = null;
              }
            }
            if (archive === null) stats.unreadable++;
            const later = c.id && c.kind & KIND.DEBUGINFO ? { dir, name, stamp, id: 0 } : undefined;
            if (later) debuginfo.push(later);
            writes.add(() => {
              // Kept ids stay rows held, for the count below.
              if (stampFiles) kept.delete(db.deleteFileAt(path) ?? -1);
              const id = db.insertFile(rootId, path, stamp, c.kind, c.id);
              if (stampFiles) kept.add(id);
              if (later) later.id = id;
              if (archive?.members.length) db.setMembers(id, archive.members);
              if (archive?.srefs.length || archive?.sdefs.length)
                db.setArchiveSources(id, archive.srefs, archive.sdefs);
            });
          }
          if (slice.due()) await slice.pause();
        }
      },
    );
    for (const root of roots) root.release();
    writes.flush();
    progress.phase = "sources";
    if (this.#recordsSources) await this.#recordSources(debuginfo, scan);
    writes.flush();
    // A first scan began on an empty database: nothing it did not write can be there to drop; none either when every row was kept.
    const gone = stampFiles && kept.size !== db.fileCount() ? db.fileIds().filter((id) => !kept.has(id)) : [];
    stats.removed = gone.length;
    for (const id of gone) {
      writes.add(() => db.deleteFile(id));
      if (slice.due()) await slice.pause();
    }
    writes.flush();
  }

  // Posts a job for each item while fewer than `depth` are out and applies the results in the items' order.
  async #inOrder<I, R>(
    depth: number,
    items: Iterable<I>,
    post: (item: I) => Promise<R>,
    apply: (item: I, result: R) => Promise<void> | void,
  ): Promise<void> {
    const posted: { item: I; result: Promise<R> }[] = [];
    const source = items[Symbol.iterator]();
    for (;;) {
      while (posted.length < depth) {
        const next = source.next();
        if (next.done) break;
        posted.push({ item: next.value, result: post(next.value) });
      }
      const head = posted.shift();
      if (!head) return;
      await apply(head.item, await head.result);
    }
  }

  // Records the sources each debuginfo read names (the DWARF line tables: the costly part of a first
  // scan, so done after every build ID is answered); one that changed since is left to the next rescan.
  async #recordSources(
    debuginfo: { dir: WalkedDir; name: string; stamp: Stamp; id: number }[],
    scan: ScanRun,
  ): Promise<void> {
    const { slice, writes, run } = scan;
    const chunks = function* () {
      for (let at = 0; at < debuginfo.length; at += SOURCES_CHUNK) yield debuginfo.slice(at, at + SOURCES_CHUNK);
    };
    await this.#inOrder(
      scan.depth,
      chunks(),
      (files) =>
        run<(SourceRow[] | undefined)[]>({
          kind: "sources",
          files: files.map(({ dir, name, stamp }) => ({ root: dir.root, names: dir.names, name, stamp: [...stamp] })),
        }),
      async (files, found) => {
        for (const [i, { id }] of files.entries()) {
          const rows = found[i];
          if (rows?.length) writes.add(() => this.#db.setSources(id, rows));
        }
        if (slice.due()) await slice.pause();
      },
    );
  }

  // Lists the directories under the roots, through the workers, each with its regular files to read:
  // all of them in a first scan; in a rescan (`stampFiles`), those whose lstat stamp differs from the
  // one held, the others noted in `kept` unread. Never follows a link. Directories are listed in
  // parallel; what they hold is taken in path order, so which name of a hard-linked file is kept does
  // not depend on the workers' timing.
  async #walk(
    roots: RootDir[],
    stampFiles: boolean,
    scan: ScanRun,
    walk: { seenFiles: Set<string>; kept: Set<number>; hooks: ScanHooks | undefined },
  ): Promise<WalkedDir[]> {
    const { stats, slice, progress, run } = scan;
    const { seenFiles, kept, hooks } = walk;
    const listed: { dir: WalkedDir; check: CheckedFile[]; rootId: number }[] = [];
    const pending: ListDir[] = roots.map((root, i) => ({ root: i, names: [], path: root.path }));
    const seenDirs = new Set(roots.map((root) => `${root.stat.dev}:${root.stat.ino}`));
    const { depth, rootIds } = scan;
    await new Promise<void>((resolve, reject) => {
      let inFlight = 0;
      let failed = false;
      const take = (job: ListDir, l: Listing): void => {
        // Each directory once, by the identity of what was opened: a nested root, a bind mount, one moved mid-walk.
        if (l.id !== undefined) {
          if (seenDirs.has(l.id)) return;
          seenDirs.add(l.id);
        }
        stats.directories++;
        progress.directories++;
        stats.unreadable += l.unreadable;
        stats.links += l.links;
        stats.special += l.special;
        stats.excluded += l.excluded;
        stats.files += l.files;
        progress.files += l.files;
        stats.reused += l.kept.length;
        for (const id of l.kept) kept.add(id);
        const dir: WalkedDir = { root: job.root, names: job.names, path: job.path, files: l.read };
        if (l.read.length > 0 || l.check.length > 0) listed.push({ dir, check: l.check, rootId: rootIds[job.root]! });
        hooks?.listed?.(job.path);
        const prefix = job.path.endsWith("/") ? job.path : `${job.path}/`;
        for (let i = l.subdirs.length - 1; i >= 0; i--) {
          const name = l.subdirs[i]!;
          pending.push({ root: job.root, names: [...job.names, name], path: prefix + name });
        }
      };
      const pump = (): void => {
        if (failed) return;
        try {
          if (slice.due()) slice.check();
        } catch (error) {
          failed = true;
          reject(error);
          return;
        }
        while (inFlight < depth && pending.length > 0) {
          // As many directories a job as spreads what is pending over the jobs there is room for.
          const count = Math.min(LIST_CHUNK, Math.ceil(pending.length / (depth - inFlight)));
          const dirs = pending.splice(pending.length - count).reverse();
          inFlight++;
          run<Listing[]>({ kind: "list", dirs }).then(
            (listings) => {
              inFlight--;
              if (failed) return;
              try {
                for (const [i, dir] of dirs.entries()) take(dir, listings[i]!);
              } catch (error) {
                failed = true;
                reject(error);
                return;
              }
              pump();
            },
            (error) => {
              inFlight--;
              if (!failed) reject(error);
              failed = true;
            },
          );
        }
        if (inFlight === 0 && pending.length === 0) resolve();
      };
      pump();
    });
    listed.sort((a, b) => walkOrder(a.dir, b.dir));
    const found: WalkedDir[] = [];
    for (const { dir, check, rootId } of listed) {
      const prefix = dir.path.endsWith("/") ? dir.path : `${dir.path}/`;
      for (const f of check) {
        if (f.nlink > 1 && !firstLink(seenFiles, f.stamp)) {
          stats.hardLinks++;
          continue;
        }
        stats.files++;
        progress.files++;
        const same =
          f.kept !== undefined
            ? (f.kept ?? undefined)
            : stampFiles
              ? this.#db.unchangedFile(prefix + f.name, rootId, f.stamp)
              : undefined;
        if (same !== undefined) {
          kept.add(same);
          stats.reused++;
        } else {
          dir.files.push(f.name);
          if (f.nlink > 1) {
            dir.linkChecked ??= new Set();
            dir.linkChecked.add(f.name);
          }
        }
      }
      if (dir.files.length > 0) found.push(dir);
      if (slice.due()) await slice.pause();
    }
    return found;
  }

  /**
   * Drops the files that are gone since they were indexed, without walking the roots (elfutils'
   * groom, `SIGUSR2`): each is looked up from its root, never through a link, and dropped when
   * it is absent, no longer a regular file, another file or changed (its stamp differs, as elfutils
   * compares the mtime), or now left out by the scanners or the include and exclude patterns. Runs
   * after the scan or groom under way.
   * @throws {@link IndexReadOnlyError} for an index opened `readonly`.
   */
  groom(options: { signal?: AbortSignal } = {}): Promise<GroomStats> {
    return this.#serial(async () => {
      const started = performance.now();
      const writes = this.#writes();
      const slice = slices(options.signal, writes.flush);
      const held = new Map<string, RootDir | undefined>();
      let checked = 0;
      let removed = 0;
      try {
        for (const f of this.#db.allFiles()) {
          checked++;
          if (!held.has(f.root)) {
            let dir: RootDir | undefined;
            try {
              dir = RootDir.openSync(f.root);
            } catch (error) {
              if (error instanceof ProcfsMissingError) throw error;
            }
            held.set(f.root, dir);
          }
          const dir = held.get(f.root);
          const names = relativeNames(f.root, f.path);
          let st: BigIntStats | undefined;
          try {
            if (dir && names) st = dir.lstat(names.slice(0, -1), names[names.length - 1]!);
          } catch {}
          // The whole stamp: a file put in place of a deleted one can get its inode number back.
          const same = st?.isFile() && stampOf(st).every((word, i) => word === f.stamp[i]);
          if (!same || !included(this.#filter, f.path)) {
            removed++;
            writes.add(() => this.#db.deleteFile(f.id));
          }
          if (slice.due()) await slice.pause();
        }
        writes.flush();
        this.#db.optimize();
      } finally {
        for (const dir of held.values()) dir?.close();
      }
      return { checked, removed, durationMs: performance.now() - started };
    });
  }

  /**
   * The files carrying `buildId` (hex, either case, or bytes), most recently modified first; `[]`
   * when the index has none.
   * @throws TypeError or RangeError naming a malformed build ID.
   */
  lookup(buildId: string | Uint8Array): IndexedFile[] {
    const length = buildIdBytes(buildId, this.#want);
    if (length > ID_MAX) return [];
    const files = this.#db.filesOf(this.#want.subarray(0, length)).map(
      (f): IndexedFile => ({
        path: f.path,
        root: f.root,
        executable: (f.kind & KIND.EXECUTABLE) !== 0,
        debuginfo: (f.kind & KIND.DEBUGINFO) !== 0,
        dev: f.stamp[0]!,
        ino: f.stamp[1]!,
        size: f.stamp[2]!,
        mtimeNs: f.stamp[3]!,
        ctimeNs: f.stamp[4]!,
      }),
    );
    return files.sort((a, b) => (a.mtimeNs > b.mtimeNs ? -1 : a.mtimeNs < b.mtimeNs ? 1 : 0));
  }

  // The roots as SourceFiles resolves them, made once.
  #sourceFiles(): SourceFiles {
    this.#sources ??= new SourceFiles(this.roots.map((root) => resolve(root)));
    return this.#sources;
  }

  /**
   * Opens the source file `path` (as a `/source` request names it, matched as given or
   * canonicalised) that a debuginfo of `buildId` names, if it is still the file the scan recorded:
   * under a root, reached without a link, same device, inode, size, mtime and ctime (sources.ts).
   * `undefined` otherwise. The caller closes the descriptor. @internal
   */
  openSource(buildId: string | Uint8Array, path: string): OpenedSource | undefined {
    const length = buildIdBytes(buildId, this.#want);
    if (length > ID_MAX) return undefined;
    const records = new Map<string, SourceRecord>();
    for (const row of this.#db.sourcesOf(this.#want.subarray(0, length))) {
      const [dev, ino, size, mtimeNs, ctimeNs] = row.stamp as [bigint, bigint, bigint, bigint, bigint];
      records.set(row.name, { name: row.name, dev, ino, size, mtimeNs, ctimeNs });
    }
    const record = matchSource(records, path);
    return record && this.#sourceFiles().open(record);
  }

  /** The ELF members of indexed package archives (`.deb`, `.ddeb`, `.rpm`) that carry `buildId`, newest archive first. @internal */
  members(buildId: string | Uint8Array): ArchivedMemberRow[] {
    const length = buildIdBytes(buildId, this.#want);
    if (length > ID_MAX) return [];
    const rows = this.#db.membersOf(this.#want.subarray(0, length));
    return rows.sort((a, b) =>
      a.archive.stamp[3]! > b.archive.stamp[3]! ? -1 : a.archive.stamp[3]! < b.archive.stamp[3]! ? 1 : 0,
    );
  }

  /** Every distinct build ID held, in lowercase hex. */
  buildIds(): IterableIterator<string> {
    return this.#db.buildIds();
  }

  /** Ends the scan workers and closes the database; the index answers nothing afterwards. */
  dispose(): void {
    this.#workers?.release();
    this.#workers = undefined;
    this.#db.close();
  }
}
