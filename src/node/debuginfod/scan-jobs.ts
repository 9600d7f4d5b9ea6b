/**
 * The work of a scan, one job at a time: in a scan worker (scan-worker.ts) off the thread that
 * serves and writes the database, or on that thread between its requests ({@link turnByTurn}, an
 * index's first scan): listing a directory (with the stamps a rescan compares), reading the files
 * found, and reading the sources a debuginfo names. Every directory and file is opened under its
 * root, never through a link (files/under-root.ts), from the thread's own descriptor of the root
 * the scan opened.
 *
 * @packageDocumentation
 */
import { type BigIntStats, closeSync, type Dirent } from "node:fs";
import { ElfError } from "../../elf.js";
import { RootDir } from "../files/under-root.js";
import { archiveFormat } from "./archive-format.js";
import { ID_MAX, KIND } from "./file-table.js";
import type { IndexDatabase, SourceRow, Stamp } from "./index-db.js";
import { buildIdThrough, HEAD, pagedReader } from "./reads.js";
import { readElfLayout } from "./sections.js";

/** The kinds of file a scan reads, as elfutils' scanners. */
export interface Scanners {
  /** ELF files (elfutils' `-F`). */
  files: boolean;
  /** `.deb` and `.ddeb` packages (`-U`). */
  deb: boolean;
  /** `.rpm` packages (`-R`). */
  rpm: boolean;
}

/** Which files a scan takes: by kind (the scanners) and by path (elfutils' `-I` and `-X`). */
export interface FileFilter {
  /** What the scanners read. */
  scanners: Scanners;
  /** A path is taken only when it matches one of these (none: every path). */
  include: readonly RegExp[];
  /** ... and none of these. */
  exclude: readonly RegExp[];
}

/** Whether `filter` takes the file at `path`. */
export function included(filter: FileFilter, path: string): boolean {
  const format = archiveFormat(path);
  if (!(format ? filter.scanners[format] : filter.scanners.files)) return false;
  if (filter.include.length > 0 && !filter.include.some((r) => r.test(path))) return false;
  return !filter.exclude.some((r) => r.test(path));
}

/** A root as the scan opened it: a worker opens its own descriptor of it from `fd` (RootDir.reopenSync). */
export interface SetupRoot {
  /** Real path. */
  path: string;
  /** The scanning thread's descriptor, open for the whole scan. */
  fd: number;
  /** Its device and inode, checked on the worker's descriptor. */
  dev: bigint;
  ino: bigint;
  /** Its row in the database. */
  rootId: number;
}

/** What every job of one scan shares; sent to each worker when the scan starts. */
export interface ScanSetup {
  roots: SetupRoot[];
  filter: FileFilter;
  /** Stamp the regular files a listing finds (a rescan), to keep unread those the database holds unchanged. */
  stampFiles: boolean;
  /** The database to compare stamps with (read only); without one, the scanning thread compares them. */
  database?: string;
  /** Roots the sources a debuginfo names may lie under (SourceFiles). */
  sourceRoots: string[];
}

/** A directory to list: `names` from root number `root` (`[]`: the root). */
export interface ListDir {
  root: number;
  names: string[];
  /** Its path (the root's path and the names). */
  path: string;
}

/** Directories to list, in one message: a message costs both threads more than listing a small directory. */
export interface ListJob {
  kind: "list";
  dirs: ListDir[];
}

/** A file whose stamp the scanning thread must look at: it has more than one name, or no database was at hand. */
export interface CheckedFile {
  name: string;
  stamp: bigint[];
  nlink: number;
  /** The id of its unchanged row; `null`: changed or new; `undefined`: not looked up. */
  kept: number | null | undefined;
}

/** What listing a directory found. */
export interface Listing {
  /** Device and inode of the directory as opened (`dev:ino`); `undefined` for a root, or when it could not be listed. */
  id: string | undefined;
  /** Names of its subdirectories, in name order. */
  subdirs: string[];
  /** Regular files to read, in name order. */
  read: string[];
  /** Rows of files held unchanged (rescans), kept unread. */
  kept: number[];
  /** Files the scanning thread tells apart itself. */
  check: CheckedFile[];
  /** Of the files found, those in `read` and `kept`. */
  files: number;
  links: number;
  special: number;
  excluded: number;
  unreadable: number;
}

/** Files of some directories to read, in one message. */
export interface ReadJob {
  kind: "read";
  dirs: { root: number; names: string[]; files: string[] }[];
}

/** What reading a file found: `null` when it could not be opened or read. */
export type ReadFile = {
  stamp: bigint[];
  links: number;
  kind: number;
  /** Its build ID, when it has one of at most `ID_MAX` bytes. */
  id?: Uint8Array;
  /** Its build ID is longer than `ID_MAX` bytes. */
  long?: boolean;
} | null;

/** Words of {@link ReadFiles.meta} per file: state (0 unread, 1 read, 2 build ID too long), links, kind, build ID length. */
const META = 4;
/** Words of {@link ReadFiles.stamps} per file. */
const STAMP = 5;

/**
 * What a read job found, file by file in the job's order, packed in three arrays whose buffers are
 * transferred, not copied: a structured clone of an object per file cost more than reading most files.
 */
export interface ReadFiles {
  count: number;
  stamps: BigInt64Array;
  meta: Int32Array;
  ids: Uint8Array;
}

/** File `i` of `files` as an object. */
export function readFileAt(files: ReadFiles, i: number): ReadFile {
  const m = i * META;
  const state = files.meta[m]!;
  if (state === 0) return null;
  const s = files.stamps;
  const at = i * STAMP;
  // Five words by index: spreading a typed subarray through its iterator cost more than the rest of the row.
  const stamp = [s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!];
  const links = files.meta[m + 1]!;
  const kind = files.meta[m + 2]!;
  if (state === 2) return { stamp, links, kind, long: true };
  const length = files.meta[m + 3]!;
  if (length === 0) return { stamp, links, kind };
  return { stamp, links, kind, id: files.ids.slice(i * ID_MAX, i * ID_MAX + length) };
}

/** The buffers of `files`, to transfer. */
export function readFilesBuffers(files: ReadFiles): ArrayBuffer[] {
  return [files.stamps.buffer as ArrayBuffer, files.meta.buffer as ArrayBuffer, files.ids.buffer as ArrayBuffer];
}

/** A debuginfo whose sources to record, if it is still the file of `stamp`. */
export interface SourcesFile {
  root: number;
  names: string[];
  name: string;
  stamp: bigint[];
}

/** Debuginfo files whose sources to record, in one message. */
export interface SourcesJob {
  kind: "sources";
  files: SourcesFile[];
}

/** Any job. */
export type ScanJob = ListJob | ReadJob | SourcesJob;

/** The stamp compared between scans: st_dev, st_ino, st_size, mtime ns, ctime ns. */
export function stampOf(st: BigIntStats): bigint[] {
  return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs];
}

const sameStamp = (a: readonly bigint[], b: readonly bigint[]): boolean => a.every((w, i) => w === b[i]);

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

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** The DWARF line reader and the source files under the roots, loaded by the first sources job. */
interface SourceReader {
  files: import("./sources.js").SourceFiles;
  readSourceNames: typeof import("./dwarf-lines.js").readSourceNames;
  DwarfError: typeof import("./dwarf-lines.js").DwarfError;
}

async function sourceReader(roots: string[]): Promise<SourceReader> {
  const [{ SourceFiles }, { readSourceNames, DwarfError }] = await Promise.all([
    import("./sources.js"),
    import("./dwarf-lines.js"),
  ]);
  return { files: new SourceFiles(roots), readSourceNames, DwarfError };
}

/** One thread's state over a scan: its own descriptors of the roots, the database read only, and a page for file heads. */
export class ScanJobs {
  readonly #setup: ScanSetup;
  readonly #roots: RootDir[] = [];
  #db: IndexDatabase | undefined;
  /** Whether it opened `#db` itself, and closes it. */
  #ownsDb = false;
  #sources: Promise<SourceReader> | undefined;
  /** The first page of the file being read: one buffer for every file, not one each. */
  readonly #page = new Uint8Array(HEAD);

  private constructor(setup: ScanSetup) {
    this.#setup = setup;
  }

  /**
   * Opens the roots of `setup` again from their descriptors, which must stay open until this
   * settles. A rescan compares stamps with `db` (the thread's own, left open) or else with
   * `setup.database` opened read only (SQLite is loaded only then, as the DWARF reader only for a
   * sources job: a worker loads what it uses).
   */
  static async open(setup: ScanSetup, db?: IndexDatabase): Promise<ScanJobs> {
    const jobs = new ScanJobs(setup);
    try {
      for (const r of setup.roots) jobs.#roots.push(RootDir.reopenSync(r.path, r.fd, r));
      if (setup.stampFiles && db) jobs.#db = db;
      else if (setup.stampFiles && setup.database) {
        const { IndexDatabase } = await import("./index-db.js");
        jobs.#db = IndexDatabase.open(setup.database, { readonly: true });
        jobs.#ownsDb = true;
      }
    } catch (error) {
      jobs.close();
      throw error;
    }
    return jobs;
  }

  /** Runs one job. */
  run(job: ScanJob): Listing[] | ReadFiles | Promise<(SourceRow[] | undefined)[]> {
    switch (job.kind) {
      case "list":
        // The job's stamp comparisons in one transaction: one lock of the database, not one per run of names.
        return this.#db
          ? this.#db.transaction(() => job.dirs.map((dir) => this.list(dir)))
          : job.dirs.map((dir) => this.list(dir));
      case "read":
        return this.read(job);
      case "sources":
        return this.sources(job);
      default:
        throw new TypeError(`unknown scan job ${JSON.stringify((job as { kind: unknown }).kind)}`);
    }
  }

  /** Lists a directory: its subdirectories, and its regular files, kept or to read. Never follows a link. */
  list(job: ListDir): Listing {
    const root = this.#roots[job.root]!;
    const { filter, stampFiles } = this.#setup;
    const rootId = this.#setup.roots[job.root]!.rootId;
    const out: Listing = {
      id: undefined,
      subdirs: [],
      read: [],
      kept: [],
      check: [],
      files: 0,
      links: 0,
      special: 0,
      excluded: 0,
      unreadable: 0,
    };
    let entries: Dirent[];
    try {
      if (job.names.length > 0) {
        const st = root.dirStat(job.names);
        out.id = `${st.dev}:${st.ino}`;
      }
      entries = root.list(job.names).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch {
      out.id = undefined;
      out.unreadable++;
      return out;
    }
    // Root and names are real and plain: their paths join without path.join's normalising.
    const prefix = job.path.endsWith("/") ? job.path : `${job.path}/`;
    const stamped: { name: string; stamp: bigint[]; nlink: number }[] = [];
    for (const entry of entries) {
      const { name } = entry;
      const path = prefix + name;
      // The directory's own type where it gives one; lstat only for a file's stamp (rescans) or an unknown type.
      let st: BigIntStats | undefined;
      if ((stampFiles && entry.isFile() && included(filter, path)) || !hasType(entry)) {
        try {
          st = root.lstat(job.names, name);
        } catch {}
        if (st === undefined) {
          out.unreadable++;
          continue;
        }
      }
      const type = st ?? entry;
      if (type.isSymbolicLink()) out.links++;
      else if (type.isDirectory()) out.subdirs.push(name);
      else if (!type.isFile()) out.special++;
      else if (!included(filter, path)) out.excluded++;
      else if (st === undefined) {
        out.files++;
        out.read.push(name);
      } else stamped.push({ name, stamp: stampOf(st), nlink: Number(st.nlink) });
    }
    const held = stampFiles && this.#db ? this.#db.unchangedIn(prefix, rootId, stamped, out.subdirs) : undefined;
    for (const [i, { name, stamp, nlink }] of stamped.entries()) {
      const kept = held ? (held[i] ?? null) : undefined;
      // Only a file with more than one name can be met again under another: the scanning thread tells.
      if (nlink > 1 || kept === undefined) out.check.push({ name, stamp, nlink, kept });
      else if (kept === null) {
        out.files++;
        out.read.push(name);
      } else {
        out.files++;
        out.kept.push(kept);
      }
    }
    return out;
  }

  /** Reads each file: its stamp and link count (from the handle), its kind and build ID. */
  read(job: ReadJob): ReadFiles {
    let count = 0;
    for (const dir of job.dirs) count += dir.files.length;
    const out: ReadFiles = {
      count,
      stamps: new BigInt64Array(count * STAMP),
      meta: new Int32Array(count * META),
      ids: new Uint8Array(count * ID_MAX),
    };
    let i = 0;
    for (const dir of job.dirs) {
      const root = this.#roots[dir.root]!;
      for (const name of dir.files) {
        let c: ReadFile = null;
        try {
          c = this.#classify(root, dir.names, name);
        } catch {}
        if (c !== null) {
          const m = i * META;
          out.stamps.set(c.stamp, i * STAMP);
          out.meta[m] = c.long ? 2 : 1;
          out.meta[m + 1] = c.links;
          out.meta[m + 2] = c.kind;
          if (c.id) {
            out.meta[m + 3] = c.id.length;
            out.ids.set(c.id, i * ID_MAX);
          }
        }
        i++;
      }
    }
    return out;
  }

  #classify(root: RootDir, names: string[], name: string): ReadFile {
    const { fd, stat } = root.openFile(names, name);
    const links = Number(stat.nlink);
    const page = this.#page;
    try {
      const size = Number(stat.size);
      const read = pagedReader(fd, size, page);
      const stamp = stampOf(stat);
      // Most files under a root are not ELF: told at the magic, without an error thrown for each.
      if (size < ELF_MAGIC.length || ELF_MAGIC.some((b, i) => page[i] !== b)) return { stamp, links, kind: 0 };
      let layout: ReturnType<typeof readElfLayout>;
      let info: ReturnType<typeof buildIdThrough>;
      try {
        layout = readElfLayout(read, size);
        info = buildIdThrough(read, size);
      } catch (error) {
        if (error instanceof ElfError) return { stamp, links, kind: 0 };
        throw error;
      }
      const kind = (layout.executable ? KIND.EXECUTABLE : 0) | (layout.debuginfo ? KIND.DEBUGINFO : 0);
      if (info.length > ID_MAX) return { stamp, links, kind, long: true };
      return { stamp, links, kind: kind | KIND.BUILD_ID, id: info.bytes };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * For each file, the sources the debuginfo names that lie under a root now (sources.ts), read if
   * it is still the file of its stamp; `[]` when its DWARF cannot be read, `undefined` when it
   * changed since or cannot be opened.
   */
  async sources(job: SourcesJob): Promise<(SourceRow[] | undefined)[]> {
    this.#sources ??= sourceReader(this.#setup.sourceRoots);
    const reader = await this.#sources;
    return job.files.map((file) => this.#sourcesOf(reader, file));
  }

  #sourcesOf({ files, readSourceNames, DwarfError }: SourceReader, job: SourcesFile): SourceRow[] | undefined {
    let opened: { fd: number; stat: BigIntStats };
    try {
      opened = this.#roots[job.root]!.openFile(job.names, job.name);
    } catch {
      return undefined;
    }
    const { fd, stat } = opened;
    let names: ReturnType<SourceReader["readSourceNames"]>;
    try {
      if (!sameStamp(stampOf(stat), job.stamp as Stamp)) return undefined;
      names = readSourceNames(pagedReader(fd, Number(stat.size), this.#page), Number(stat.size));
    } catch (error) {
      if (error instanceof DwarfError || error instanceof ElfError) return [];
      return undefined;
    } finally {
      closeSync(fd);
    }
    return [...files.record(names.sources).values()].map((r) => ({
      name: r.name,
      stamp: [r.dev, r.ino, r.size, r.mtimeNs, r.ctimeNs],
    }));
  }

  /** Closes the directories held since the last call: the next job opens from the root again. */
  release(): void {
    for (const root of this.#roots) root.release();
  }

  /** Closes every descriptor it holds, and the database it opened. */
  close(): void {
    for (const root of this.#roots) root.close();
    this.#roots.length = 0;
    if (this.#ownsDb) this.#db?.close();
  }
}

/**
 * Runs the jobs given to `jobs` on this thread, in order, one per turn of the event loop, so what
 * else the thread does (a server's requests) goes on between them.
 */
export function turnByTurn(jobs: ScanJobs): <T>(job: ScanJob) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return <T>(job: ScanJob): Promise<T> => {
    const next = last.then(() => new Promise<void>((turn) => setImmediate(turn))).then(() => jobs.run(job) as T);
    last = next.catch(() => {});
    return next;
  };
}
