/**
 * The reverse index: build ID -> the files that carry it, over scanned roots. The distinct IDs live
 * in the wasm table ({@link BuildIdCache}: key = the ID's first 8 bytes, value = the whole ID, so a
 * hit is checked in full); the files live beside it in typed arrays, sorted by that key. IDs longer
 * than the table's {@link BUILD_ID_MAX} bytes (rare: `--build-id=0x…` with more than 20 bytes) are
 * kept beside it in a map keyed by their whole hex.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, type Dirent, realpathSync } from "node:fs";
import cliProgress from "cli-progress";
import { BuildIdCache } from "../../cache.js";
import { ElfError } from "../../elf.js";
import { toHex } from "../../hex.js";
import { BUILD_ID_MAX } from "../../layout.js";
import { ProcfsMissingError, RootDir, relativeNames } from "../files/under-root.js";
import { loadSnapshotFile, saveSnapshotAtomic } from "../snapshot-file.js";
import { buildIdBytes } from "./build-id.js";
import { emptyTable, type FileTable, ID_MAX, idOf, KIND, STAMP_WORDS, TableBuilder } from "./file-table.js";
import { decodeIndexFile, encodeIndexFile } from "./index-file.js";
import { buildIdThrough, fdReader, headFirst } from "./reads.js";
import { readElfLayout } from "./sections.js";

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

/** One file the index holds for a build ID. */
export interface IndexedFile {
  /** Its path. */
  path: string;
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
  /** Regular files found. */
  files: number;
  /** Files opened and read by this scan. */
  reads: number;
  /** Files whose stamp was unchanged, taken from the previous scan without a read. */
  reused: number;
  /** Files the previous scan held that this one did not find (dropped from the index). */
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
  /** ELF files whose build ID is longer than the index file's length byte holds (`ID_MAX`), so not indexed. */
  longBuildIds: number;
  /** Wall time of the scan in milliseconds. */
  durationMs: number;
}

/** Options for {@link BuildIdIndex.create} and {@link BuildIdIndex.load}. */
export interface BuildIdIndexOptions {
  /** Directories to scan; default {@link DEFAULT_ROOTS}. */
  roots?: readonly string[];
}

/** Options for {@link BuildIdIndex.scan}. */
export interface ScanOptions {
  /** Show a progress bar on standard error when it is a terminal. */
  progress?: boolean;
  /** Stops the scan at its next pause (every few milliseconds); it then rejects with the signal's reason and the index keeps its previous contents. */
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

/** A directory the walk is to list: its root, its components below the root, and its path. */
interface WalkedDir {
  root: RootDir;
  names: string[];
  path: string;
}

/** A regular file the walk found (its name is the last component of `path`), with its `lstat` stamp when the walk took one. */
interface WalkedFile {
  dir: WalkedDir;
  path: string;
  stamp: bigint[] | undefined;
}

const ID_PREFIX = 8;
const GOLDEN = 0x9e3779b97f4a7c15n;
/** Longest a scan works without a pause for other work (a server's requests), in ms; one file's read is never split. */
const SLICE_MS = 10;

/** The table key of probe `i` for an ID whose first 8 bytes are `prefix`: IDs sharing a prefix take the next free probe. */
function probeKey(prefix: bigint, i: number): bigint {
  return i === 0 ? prefix : BigInt.asUintN(64, prefix ^ (BigInt(i) * GOLDEN));
}

function prefixOf(bytes: Uint8Array, at: number): bigint {
  let key = 0n;
  for (let i = 0; i < ID_PREFIX; i++) key = (key << 8n) | BigInt(bytes[at + i]!);
  return key;
}

function stampOf(st: BigIntStats): bigint[] {
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs];
}

/** Whether the file of `stamp` (dev, ino first) is seen for the first time; records it. */
function firstLink(seen: Set<string>, stamp: readonly bigint[]): boolean {
  const id = `${stamp[0]}:${stamp[1]}`;
  if (seen.has(id)) return false;
  seen.add(id);
  return true;
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

function sameStamp(table: FileTable, i: number, stamp: readonly bigint[]): boolean {
  for (let w = 0; w < STAMP_WORDS; w++) if (table.stamps[i * STAMP_WORDS + w] !== stamp[w]) return false;
  return true;
}

type Classified = { kind: number; id?: Uint8Array; long?: boolean };

// Reads one regular file, opened under its root; returns its stamp (from the handle) and kind.
function classify(file: WalkedFile): { stamp: bigint[]; found: Classified } {
  const { fd, stat } = file.dir.root.openFile(file.dir.names, file.path.slice(file.path.lastIndexOf("/") + 1));
  try {
    const size = Number(stat.size);
    const read = headFirst(fdReader(fd), size);
    const stamp = stampOf(stat);
    let layout: ReturnType<typeof readElfLayout>;
    let info: ReturnType<typeof buildIdThrough>;
    try {
      layout = readElfLayout(read, size);
      info = buildIdThrough(read, size);
    } catch (error) {
      if (error instanceof ElfError) return { stamp, found: { kind: 0 } };
      throw error;
    }
    const kind = (layout.executable ? KIND.EXECUTABLE : 0) | (layout.debuginfo ? KIND.DEBUGINFO : 0);
    if (info.length > ID_MAX) return { stamp, found: { kind, long: true } };
    return { stamp, found: { kind: kind | KIND.BUILD_ID, id: info.bytes } };
  } finally {
    closeSync(fd);
  }
}

function progressBar(enabled: boolean | undefined): {
  start(total: number): void;
  update(n: number): void;
  stop(): void;
} {
  if (!enabled || !process.stderr.isTTY) return { start() {}, update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "indexing [{bar}] {value}/{total} files",
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  return {
    start: (total) => bar.start(total, 0),
    update: (n) => bar.update(n),
    stop: () => bar.stop(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Cuts a scan into slices of {@link SLICE_MS}: `if (slices.due()) await slices.pause()` between steps. */
interface Slices {
  due(): boolean;
  /** Lets other work run, then ends the scan (rejects) if `signal` asked for it meanwhile. */
  pause(): Promise<void>;
}

function slices(signal: AbortSignal | undefined): Slices {
  let since = performance.now();
  return {
    due: () => performance.now() - since >= SLICE_MS,
    async pause() {
      await tick();
      signal?.throwIfAborted();
      since = performance.now();
    },
  };
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
 * const index = await BuildIdIndex.create({ roots: ["/usr/bin", "/usr/lib/debug/.build-id"] });
 * await index.scan();
 * index.lookup("4a1b…").filter((f) => f.debuginfo);
 * ```
 */
export class BuildIdIndex {
  #roots: readonly string[];
  #realRoots: string[] | undefined;
  #files: FileTable = emptyTable();
  #table: BuildIdCache;
  #fileKeys = new BigUint64Array(0);
  #order = new Uint32Array(0);
  #long = new Map<string, number[]>();
  #buildIds = 0;
  #stats: ScanStats | undefined;
  #scanning: Promise<unknown> = Promise.resolve();
  #out = new Uint8Array(BUILD_ID_MAX);
  #want = new Uint8Array(ID_MAX);

  private constructor(roots: readonly string[], table: BuildIdCache) {
    this.#roots = roots;
    this.#table = table;
  }

  /**
   * An empty index over `options.roots` (default {@link DEFAULT_ROOTS}); call {@link BuildIdIndex.scan} to fill it.
   * @throws TypeError when `roots` is not an array of strings.
   */
  static async create(options: BuildIdIndexOptions = {}): Promise<BuildIdIndex> {
    const roots = options.roots ?? DEFAULT_ROOTS;
    if (!Array.isArray(roots) || roots.some((r) => typeof r !== "string" || r === "")) {
      throw new TypeError(`roots must be an array of non-empty paths, got ${JSON.stringify(roots)}`);
    }
    return new BuildIdIndex([...roots], await BuildIdCache.create({ capacity: 16 }));
  }

  /**
   * The index saved at `path` by {@link BuildIdIndex.save}, answering at once from what it holds;
   * an empty one when there is no file. A later {@link BuildIdIndex.scan} reads only what changed.
   * @throws {@link IndexFileError} for a file that is not a valid index; the file is left as it is.
   */
  static async load(path: string, options: BuildIdIndexOptions = {}): Promise<BuildIdIndex> {
    const index = await BuildIdIndex.create(options);
    const bytes = await loadSnapshotFile(path);
    if (bytes !== undefined) await index.#adopt(decodeIndexFile(bytes, path));
    return index;
  }

  /** Saves the files and stamps atomically at `path` (through the crash-safe snapshot writer). */
  async save(path: string): Promise<void> {
    await saveSnapshotAtomic(path, encodeIndexFile(this.#files));
  }

  /** The roots this index scans. */
  get roots(): readonly string[] {
    return this.#roots;
  }

  /**
   * The root holding `path`, as the last scan opened it (a real path; before any scan, the roots'
   * real paths now), the innermost when roots nest; `undefined` when none does. @internal
   */
  rootOf(path: string): string | undefined {
    this.#realRoots ??= this.#roots.flatMap((root) => {
      try {
        return [realpathSync(root)];
      } catch {
        return [];
      }
    });
    let best: string | undefined;
    for (const root of this.#realRoots)
      if ((best === undefined || root.length > best.length) && relativeNames(root, path)) best = root;
    return best;
  }

  /** Distinct build IDs held. */
  get size(): number {
    return this.#buildIds;
  }

  /** Every file the last scan looked at (read-only view; do not change it). @internal */
  get files(): Readonly<FileTable> {
    return this.#files;
  }

  /** Figures of the last scan; `undefined` before the first. */
  get lastScan(): ScanStats | undefined {
    return this.#stats;
  }

  /**
   * Walks the roots and brings the index up to date: new and changed files are read, unchanged
   * ones (same stamp) kept unread, vanished ones dropped. Unreadable entries are counted, never fatal.
   * Lookups meanwhile answer from the previous scan (it pauses every few milliseconds, so a server
   * on the same thread keeps answering); a scan called during another runs after it.
   */
  scan(options: ScanOptions = {}): Promise<ScanStats> {
    const run = this.#scanning.then(() => this.#scanOnce(options));
    this.#scanning = run.catch(() => {});
    return run;
  }

  async #scanOnce(options: ScanOptions): Promise<ScanStats> {
    const started = performance.now();
    const stats: ScanStats = {
      roots: 0,
      missingRoots: 0,
      directories: 0,
      files: 0,
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
    const roots = this.#openRoots(stats);
    try {
      await this.#update(roots, stats, options);
    } finally {
      for (const root of roots) root.close();
    }
    const t = this.#files;
    for (let i = 0; i < t.count; i++) {
      const kind = t.kinds[i]!;
      if (!(kind & KIND.BUILD_ID)) continue;
      stats.withBuildId++;
      if (kind & KIND.EXECUTABLE) stats.executables++;
      if (kind & KIND.DEBUGINFO) stats.debuginfo++;
    }
    stats.buildIds = this.#buildIds;
    this.#realRoots = roots.map((root) => root.path);
    stats.durationMs = performance.now() - started;
    this.#stats = stats;
    return stats;
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

  // Walks the opened roots, reads what is new or changed and adopts the result.
  async #update(roots: RootDir[], stats: ScanStats, options: ScanOptions): Promise<void> {
    const slice = slices(options.signal);
    const previous = this.#files;
    // Nothing to compare with: regular files go unstamped to classify, whose handle stamps them.
    const seenFiles = new Set<string>();
    const found = await this.#walk(roots, stats, slice, seenFiles, previous.count > 0, options.hooks);
    // The reads open every folder afresh from its root: none held since the walk, which may be elsewhere by now.
    for (const root of roots) root.release();
    options.hooks?.walked?.();
    const byPath = new Map<string, number>();
    for (let i = 0; i < previous.count; i++) {
      byPath.set(previous.paths[i]!, i);
      if (slice.due()) await slice.pause();
    }
    let kept = 0;
    const builder = new TableBuilder();
    const bar = progressBar(options.progress);
    bar.start(found.length);
    try {
      for (let n = 0; n < found.length; n++) {
        const file = found[n]!;
        const { path, stamp } = file;
        const old = byPath.get(path);
        if (old !== undefined) kept++;
        if (old !== undefined && stamp !== undefined && sameStamp(previous, old, stamp)) {
          builder.copy(previous, old);
          stats.reused++;
        } else {
          try {
            const { stamp: opened, found: c } = classify(file);
            if (stamp === undefined && !firstLink(seenFiles, opened)) {
              stats.files--;
              stats.hardLinks++;
              continue;
            }
            stats.reads++;
            if (c.long) stats.longBuildIds++;
            builder.add(path, opened, c.kind, c.id);
          } catch {
            stats.unreadable++;
          }
        }
        if (slice.due()) {
          bar.update(n + 1);
          await slice.pause();
        }
      }
      bar.update(found.length);
    } finally {
      bar.stop();
    }
    stats.removed = previous.count - kept;
    // Nothing read and nothing gone: every file was copied as it was, so the table stands.
    if (stats.reads > 0 || builder.table.count !== previous.count) await this.#adopt(builder.table, slice);
  }

  // Lists the regular files under the roots, with their lstat stamps when `stampFiles`; never follows a link.
  async #walk(
    roots: RootDir[],
    stats: ScanStats,
    slice: Slices,
    seenFiles: Set<string>,
    stampFiles: boolean,
    hooks: ScanHooks | undefined,
  ): Promise<WalkedFile[]> {
    const found: WalkedFile[] = [];
    const pending: WalkedDir[] = roots.map((root) => ({ root, names: [], path: root.path }));
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
        if ((stampFiles && entry.isFile()) || !hasType(entry)) {
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
          subdirs.push({ root: dir.root, names: [...dir.names, name], path });
        } else if (!type.isFile()) {
          stats.special++;
        } else if (st === undefined) {
          stats.files++;
          found.push({ dir, path, stamp: undefined });
        } else {
          const stamp = stampOf(st);
          if (!firstLink(seenFiles, stamp)) {
            stats.hardLinks++;
            continue;
          }
          stats.files++;
          found.push({ dir, path, stamp });
        }
      }
      hooks?.listed?.(dir.path);
      for (let i = subdirs.length - 1; i >= 0; i--) pending.push(subdirs[i]!);
    }
    return found;
  }

  // Makes `files` the index's contents: one table entry per distinct ID, files sorted by its key.
  async #adopt(files: FileTable, slice = slices(undefined)): Promise<void> {
    let withId = 0;
    for (let i = 0; i < files.count; i++) if (files.idLengths[i]) withId++;
    const table = await BuildIdCache.create({ capacity: Math.max(16, Math.ceil(withId * 1.25)) });
    const keys = new BigUint64Array(files.count);
    const order: number[] = [];
    const long = new Map<string, number[]>();
    let distinct = 0;
    const out = new Uint8Array(BUILD_ID_MAX);
    for (let i = 0; i < files.count; i++) {
      if (slice.due()) {
        await slice.pause().catch((error) => {
          table.dispose();
          throw error;
        });
      }
      const id = idOf(files, i);
      if (id === undefined) continue;
      const { length } = id;
      if (length > BUILD_ID_MAX) {
        const hex = toHex(id);
        const same = long.get(hex);
        if (same) same.push(i);
        else long.set(hex, [i]);
        continue;
      }
      const prefix = prefixOf(files.ids, i * BUILD_ID_MAX);
      for (let probe = 0; ; probe++) {
        const key = probeKey(prefix, probe);
        const got = table.getBytes(key, out);
        if (got === 0) {
          table.set(key, id);
          distinct++;
          keys[i] = key;
          break;
        }
        if (got === length && out.subarray(0, got).every((b, j) => b === id[j])) {
          keys[i] = key;
          break;
        }
      }
      order.push(i);
    }
    order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));
    this.#table.dispose();
    this.#table = table;
    this.#files = files;
    this.#fileKeys = keys;
    this.#order = Uint32Array.from(order);
    this.#long = long;
    this.#buildIds = distinct + long.size;
  }

  /** The table key holding exactly this ID, or `undefined`. */
  #keyOf(length: number): bigint | undefined {
    const want = this.#want;
    const out = this.#out;
    const prefix = prefixOf(want, 0);
    for (let probe = 0; ; probe++) {
      const key = probeKey(prefix, probe);
      const got = this.#table.getBytes(key, out);
      if (got === 0) return undefined;
      if (got !== length) continue;
      let same = true;
      for (let j = 0; j < length && same; j++) same = out[j] === want[j];
      if (same) return key;
    }
  }

  /**
   * The files carrying `buildId` (hex, either case, or bytes), most recently modified first; `[]`
   * when the index has none.
   * @throws TypeError or RangeError naming a malformed build ID.
   */
  lookup(buildId: string | Uint8Array): IndexedFile[] {
    const length = buildIdBytes(buildId, this.#want);
    if (length > ID_MAX) return [];
    const numbers =
      length > BUILD_ID_MAX ? (this.#long.get(toHex(this.#want, 0, length)) ?? []) : this.#numbers(length);
    const t = this.#files;
    const files = numbers.map((i): IndexedFile => {
      const s = i * STAMP_WORDS;
      return {
        path: t.paths[i]!,
        executable: (t.kinds[i]! & KIND.EXECUTABLE) !== 0,
        debuginfo: (t.kinds[i]! & KIND.DEBUGINFO) !== 0,
        dev: t.stamps[s]!,
        ino: t.stamps[s + 1]!,
        size: t.stamps[s + 2]!,
        mtimeNs: t.stamps[s + 3]!,
        ctimeNs: t.stamps[s + 4]!,
      };
    });
    return files.sort((a, b) => (a.mtimeNs > b.mtimeNs ? -1 : a.mtimeNs < b.mtimeNs ? 1 : 0));
  }

  // The file numbers of the table-held ID of `length` bytes in #want.
  #numbers(length: number): number[] {
    this.#want.fill(0, length, ID_PREFIX);
    const key = this.#keyOf(length);
    if (key === undefined) return [];
    const order = this.#order;
    const keys = this.#fileKeys;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[order[mid]!]! < key) lo = mid + 1;
      else hi = mid;
    }
    const numbers: number[] = [];
    for (let k = lo; k < order.length && keys[order[k]!] === key; k++) numbers.push(order[k]!);
    return numbers;
  }

  /** Every distinct build ID held, in lowercase hex: the table's in table order, then the longer ones. */
  *buildIds(): IterableIterator<string> {
    yield* this.#table.values();
    yield* this.#long.keys();
  }

  /** Releases the wasm table; the index answers nothing afterwards. */
  dispose(): void {
    this.#table.dispose();
  }
}
