/**
 * The reverse index: build ID -> the files that carry it, over scanned roots, kept in an SQLite
 * database (index-db.ts). Lookups are indexed queries (microseconds), so an index opened from its
 * database answers at once; a scan writes only the files that changed, in transactions of bounded
 * size, so what it has read is answered while it goes on.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, type Dirent, realpathSync } from "node:fs";
import { resolve } from "node:path";
import { ElfError } from "../../elf.js";
import { ProcfsMissingError, RootDir, relativeNames } from "../files/under-root.js";
import { archiveFormat, scanArchive } from "./archive.js";
import { buildIdBytes, MAX_ID_BYTES } from "./build-id.js";
import { DwarfError, readSourceNames } from "./dwarf-lines.js";
import { ID_MAX, KIND } from "./file-table.js";
import { type ArchivedMemberRow, IndexDatabase, type MemberRow, type SourceRow, type Stamp } from "./index-db.js";
import { buildIdThrough, HEAD, pagedReader } from "./reads.js";
import { readElfLayout } from "./sections.js";
import { matchSource, type OpenedSource, SourceFiles, type SourceRecord } from "./sources.js";

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
}

/** The kinds of file a scan reads, as elfutils' scanners. */
export interface Scanners {
  /** ELF files (elfutils' `-F`). */
  files: boolean;
  /** `.deb` and `.ddeb` packages (`-U`). */
  deb: boolean;
  /** `.rpm` packages (`-R`). */
  rpm: boolean;
}

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

/** A directory the walk is to list: its root (and the root's row), its components below the root, its path, and the files in it to read. */
interface WalkedDir {
  root: RootDir;
  rootId: number;
  names: string[];
  path: string;
  /** Names of the regular files in it to read. */
  files: string[];
}

/** Longest a scan works without a pause for other work (a server's requests), in ms; one file's read is never split. */
const SLICE_MS = 10;

function stampOf(st: BigIntStats): bigint[] {
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs];
}

/** Whether `path` is the first name met of the file of `stamp` (dev, ino first); records it. */
function firstLink(seen: Map<string, string>, stamp: readonly bigint[], path: string): boolean {
  const id = `${stamp[0]}:${stamp[1]}`;
  const first = seen.get(id);
  if (first === undefined) seen.set(id, path);
  return first === undefined || first === path;
}

/** Whether the directory gave the entry's type (`d_type` is not `DT_UNKNOWN`). */
function hasType(entry: Dirent): boolean {
  return (
    entry.isFile() ||
    entry.isDirectory() ||
    entry.isSymbolicLink() ||
    entry.isFIFO() ||
    entry.isSocket() ||
    entry.isCharacterDevice() ||
    entry.isBlockDevice()
  );
}

const sameStamp = (a: readonly bigint[], b: readonly bigint[]): boolean => a.every((w, i) => w === b[i]);

type Classified = { kind: number; id?: Uint8Array; long?: boolean };

/** The first page of the file being classified: one buffer for every file, not one each. */
const page = new Uint8Array(HEAD);
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

// Reads the regular file `name` of `dir`, opened under its root; returns its stamp and link count (from the handle) and kind.
function classify(dir: WalkedDir, name: string): { stamp: bigint[]; links: number; found: Classified } {
  const { fd, stat } = dir.root.openFile(dir.names, name);
  const links = Number(stat.nlink);
  try {
    const size = Number(stat.size);
    const read = pagedReader(fd, size, page);
    const stamp = stampOf(stat);
    // Most files under a root are not ELF: told at the magic, without an error thrown for each.
    if (size < ELF_MAGIC.length || ELF_MAGIC.some((b, i) => page[i] !== b)) return { stamp, links, found: { kind: 0 } };
    let layout: ReturnType<typeof readElfLayout>;
    let info: ReturnType<typeof buildIdThrough>;
    try {
      layout = readElfLayout(read, size);
      info = buildIdThrough(read, size);
    } catch (error) {
      if (error instanceof ElfError) return { stamp, links, found: { kind: 0 } };
      throw error;
    }
    const kind = (layout.executable ? KIND.EXECUTABLE : 0) | (layout.debuginfo ? KIND.DEBUGINFO : 0);
    if (info.length > ID_MAX) return { stamp, links, found: { kind, long: true } };
    return { stamp, links, found: { kind: kind | KIND.BUILD_ID, id: info.bytes.slice() } };
  } finally {
    closeSync(fd);
  }
}

// The sources the debuginfo `name` of `dir` names that lie under a root now (sources.ts), read if it is
// still the file of `stamp`; none when its DWARF cannot be read, undefined when it changed since.
function sourceRows(dir: WalkedDir, name: string, stamp: Stamp, sources: SourceFiles): SourceRow[] | undefined {
  const { fd, stat } = dir.root.openFile(dir.names, name);
  let names: ReturnType<typeof readSourceNames>;
  try {
    if (!sameStamp(stampOf(stat), stamp)) return undefined;
    names = readSourceNames(pagedReader(fd, Number(stat.size), page), Number(stat.size));
  } catch (error) {
    if (error instanceof DwarfError || error instanceof ElfError) return [];
    throw error;
  } finally {
    closeSync(fd);
  }
  return [...sources.record(names.sources).values()].map((r) => ({
    name: r.name,
    stamp: [r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs],
  }));
}

// The ELF members with a build ID of the package archive `name` of `dir` (archive.ts, its bounds), and
// what it holds for `/source` (when `sources`); null when it cannot be read.
async function readArchive(dir: WalkedDir, name: string, path: string, sources: boolean): Promise<ArchiveRows | null> {
  const { fd, stat } = dir.root.openFile(dir.names, name);
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
  };
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
  #include: readonly RegExp[];
  #exclude: readonly RegExp[];
  #writeBatch: number;
  #scanners: Scanners;
  #recordsSources: boolean;
  #stats: ScanStats | undefined;
  #progress: ScanProgress | undefined;
  #busy: Promise<unknown> = Promise.resolve();
  #want = new Uint8Array(MAX_ID_BYTES);
  #sources: SourceFiles | undefined;

  private constructor(db: IndexDatabase, roots: readonly string[], options: BuildIdIndexOptions) {
    this.#db = db;
    this.#roots = roots;
    this.#include = patterns("include", options.include);
    this.#exclude = patterns("exclude", options.exclude);
    const batch = options.writeBatch ?? DEFAULT_WRITE_BATCH;
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > 1_000_000)
      throw new RangeError(`writeBatch must be an integer from 1 to 1000000, got ${String(batch)}`);
    this.#writeBatch = batch;
    this.#scanners = checkScanners(options.scanners);
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
    try {
      const rootIds = roots.map((root) => this.#db.rootId(root.path));
      await this.#update(roots, rootIds, stats, slice, writes, progress, options.hooks);
      this.#db.dropUnusedRoots(rootIds);
    } finally {
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
    stats: ScanStats,
    slice: Slices,
    writes: Writes,
    progress: ScanProgress,
    hooks: ScanHooks | undefined,
  ): Promise<void> {
    const db = this.#db;
    const seenFiles = new Map<string, string>();
    const kept = new Set<number>();
    // Nothing to compare with: regular files go unstamped to classify, whose handle stamps them.
    const stampFiles = !db.isEmpty();
    const found = await this.#walk(roots, rootIds, stats, slice, { seenFiles, stampFiles, kept, progress, hooks });
    // The reads open every folder afresh from its root: none held since the walk, which may be elsewhere by now.
    for (const root of roots) root.release();
    hooks?.walked?.();
    progress.phase = "read";
    progress.handled = stats.reused;
    // Debuginfo files read, whose sources are recorded once every build ID is answered.
    const debuginfo: { dir: WalkedDir; name: string; stamp: Stamp; id: number }[] = [];
    for (let n = 0; n < found.length; n++) {
      const dir = found[n]!;
      found[n] = undefined as never; // let what was handled go
      const prefix = dir.path.endsWith("/") ? dir.path : `${dir.path}/`;
      for (const name of dir.files) {
        const path = prefix + name;
        try {
          const { stamp, links, found: c } = classify(dir, name);
          if (links > 1 && !firstLink(seenFiles, stamp, path)) {
            stats.files--;
            stats.hardLinks++;
            continue;
          }
          stats.reads++;
          progress.reads++;
          if (c.long) stats.longBuildIds++;
          const archive =
            c.kind === 0 && archiveFormat(path) ? await readArchive(dir, name, path, this.#recordsSources) : undefined;
          if (archive === null) stats.unreadable++;
          const later = c.id && c.kind & KIND.DEBUGINFO ? { dir, name, stamp, id: 0 } : undefined;
          if (later) debuginfo.push(later);
          writes.add(() => {
            if (stampFiles) db.deleteFileAt(path);
            const id = db.insertFile(dir.rootId, path, stamp, c.kind, c.id);
            kept.add(id);
            if (later) later.id = id;
            if (archive?.members.length) db.setMembers(id, archive.members);
            if (archive?.srefs.length || archive?.sdefs.length) db.setArchiveSources(id, archive.srefs, archive.sdefs);
          });
        } catch {
          stats.unreadable++;
        } finally {
          progress.handled++;
        }
        if (slice.due()) await slice.pause();
      }
    }
    writes.flush();
    progress.phase = "sources";
    if (this.#recordsSources) await this.#recordSources(debuginfo, slice, writes);
    writes.flush();
    const gone = db.fileIds().filter((id) => !kept.has(id));
    stats.removed = gone.length;
    for (const id of gone) {
      writes.add(() => db.deleteFile(id));
      if (slice.due()) await slice.pause();
    }
    writes.flush();
  }

  // Records the sources each debuginfo read names (the DWARF line tables: the costly part of a first
  // scan, so done after every build ID is answered); one that changed since is left to the next rescan.
  async #recordSources(
    debuginfo: { dir: WalkedDir; name: string; stamp: Stamp; id: number }[],
    slice: Slices,
    writes: Writes,
  ): Promise<void> {
    const sources = this.#sourceFiles();
    for (const { dir, name, stamp, id } of debuginfo) {
      let rows: SourceRow[] | undefined;
      try {
        rows = sourceRows(dir, name, stamp, sources);
      } catch (error) {
        if (error instanceof ProcfsMissingError) throw error;
      }
      if (rows?.length) writes.add(() => this.#db.setSources(id, rows));
      if (slice.due()) await slice.pause();
    }
  }

  /** Whether the scanners read a file at `path`, and the include and exclude patterns let it in. */
  #included(path: string): boolean {
    const format = archiveFormat(path);
    if (!(format ? this.#scanners[format] : this.#scanners.files)) return false;
    if (this.#include.length > 0 && !this.#include.some((r) => r.test(path))) return false;
    return !this.#exclude.some((r) => r.test(path));
  }

  // Lists the directories under the roots, each with its regular files to read: all of them in a
  // first scan; in a rescan (`stampFiles`), those whose lstat stamp differs from the one held, the
  // others noted in `kept` unread. Never follows a link.
  async #walk(
    roots: RootDir[],
    rootIds: number[],
    stats: ScanStats,
    slice: Slices,
    walk: {
      seenFiles: Map<string, string>;
      stampFiles: boolean;
      kept: Set<number>;
      progress: ScanProgress;
      hooks: ScanHooks | undefined;
    },
  ): Promise<WalkedDir[]> {
    const { seenFiles, stampFiles, kept, progress, hooks } = walk;
    const found: WalkedDir[] = [];
    const pending: WalkedDir[] = roots.map((root, i) => ({
      root,
      rootId: rootIds[i]!,
      names: [],
      path: root.path,
      files: [],
    }));
    const seenDirs = new Set(roots.map((root) => `${root.stat.dev}:${root.stat.ino}`));
    while (pending.length > 0) {
      const dir = pending.pop()!;
      let entries: Dirent[] | undefined;
      try {
        if (dir.names.length > 0) {
          const st = dir.root.dirStat(dir.names);
          const id = `${st.dev}:${st.ino}`;
          // Each directory once, by the identity of what was opened: a nested root, a bind mount, one moved mid-walk.
          if (seenDirs.has(id)) continue;
          seenDirs.add(id);
        }
        entries = dir.root.list(dir.names).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      } catch {}
      stats.directories++;
      progress.directories++;
      if (entries === undefined) {
        stats.unreadable++;
        continue;
      }
      const subdirs: WalkedDir[] = [];
      // Root and names are real and plain: their paths join without path.join's normalising.
      const prefix = dir.path.endsWith("/") ? dir.path : `${dir.path}/`;
      for (const entry of entries) {
        if (slice.due()) await slice.pause();
        const { name } = entry;
        const path = prefix + name;
        // The directory's own type where it gives one; lstat only for a file's stamp (rescans) or an unknown type.
        let st: BigIntStats | undefined;
        if ((stampFiles && entry.isFile() && this.#included(path)) || !hasType(entry)) {
          try {
            st = dir.root.lstat(dir.names, name);
          } catch {}
          if (st === undefined) {
            stats.unreadable++;
            continue;
          }
        }
        const type = st ?? entry;
        if (type.isSymbolicLink()) {
          stats.links++;
        } else if (type.isDirectory()) {
          subdirs.push({ root: dir.root, rootId: dir.rootId, names: [...dir.names, name], path, files: [] });
        } else if (!type.isFile()) {
          stats.special++;
        } else if (!this.#included(path)) {
          stats.excluded++;
        } else if (st === undefined) {
          stats.files++;
          progress.files++;
          dir.files.push(name);
        } else {
          const stamp = stampOf(st);
          // Only a file with more than one name can be met again under another.
          if (st.nlink > 1n && !firstLink(seenFiles, stamp, path)) {
            stats.hardLinks++;
            continue;
          }
          stats.files++;
          progress.files++;
          const same = stampFiles ? this.#db.unchangedFile(path, dir.rootId, stamp) : undefined;
          if (same !== undefined) {
            kept.add(same);
            stats.reused++;
          } else {
            dir.files.push(name);
          }
        }
      }
      if (dir.files.length > 0) found.push(dir);
      hooks?.listed?.(dir.path);
      for (let i = subdirs.length - 1; i >= 0; i--) pending.push(subdirs[i]!);
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
          if (!same || !this.#included(f.path)) {
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

  /** Closes the database; the index answers nothing afterwards. */
  dispose(): void {
    this.#db.close();
  }
}
