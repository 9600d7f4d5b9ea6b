/**
 * The reverse index's database: SQLite through better-sqlite3, as elfutils' debuginfod keeps its
 * index. Durable and updated in place (a scan writes the files that changed, in transactions of
 * bounded size), in WAL mode so readers (this process's requests, a `--passive` replica) never
 * block on the writer. Without a path it lives in memory.
 *
 * Schema (version {@link SCHEMA_VERSION}, `PRAGMA user_version`; `PRAGMA application_id` marks the
 * file as ours so another program's database is refused, never changed):
 *
 * ```text
 * roots    id | path (real path of a scanned root)
 * files    id | root -> roots | path (unique) | dev ino size mtime_ns ctime_ns | kind | build_id (blob, null: none)
 *          every regular file a scan saw, with or without a build ID, so a rescan reads only what changed
 * members  archive -> files (a package) | member (its name, one leading /) | build_id | kind | size | mtime_s
 *          ELF members of .deb/.rpm archives (src/node/debuginfod/archive.ts)
 * sources  file -> files (a debuginfo) | name (canonical path the DWARF gives) | dev ino size mtime_ns ctime_ns
 *          source files a debuginfo's line tables name, as found under a root (src/node/debuginfod/sources.ts)
 * archive_srefs  archive -> files | build_id | name: source paths an archive's debuginfo member names (elfutils' r_sref)
 * archive_sdefs  archive -> files | member | size | mtime_s: its other regular members, which may answer them (r_sdef)
 * ```
 * Rows of `members` and `sources` go with their file (`ON DELETE CASCADE`): a file that changed is
 * deleted and inserted anew, so nothing read from its old contents outlives them.
 *
 * @packageDocumentation
 */
import { closeSync, constants, fstatSync, openSync, readSync, renameSync, rmSync } from "node:fs";
import Database from "better-sqlite3";
import { toHex } from "../../hex.js";
import { readCacheFileSync } from "../cache-file.js";
import { idOf, STAMP_WORDS } from "./file-table.js";
import { decodeIndexFile } from "./index-file.js";

/** Version of the schema this code writes; a database of a newer one is refused. */
export const SCHEMA_VERSION = 2;

/** `PRAGMA application_id` of an index database: "BIDX". */
const APPLICATION_ID = 0x42494458;

/** SQLite's page cache per connection, in KiB. */
const CACHE_KIB = 2048;

const SQLITE_MAGIC = "SQLite format 3\0";
const INDEX_FILE_MAGIC = "BIDINDX1";

/** Why an index database could not be opened. */
export type IndexDatabaseErrorCode = "NOT_AN_INDEX" | "NEWER_SCHEMA" | "MISSING" | "CANNOT_OPEN";

/** An index database that cannot be opened; nothing was changed, the file is left as it is. */
export class IndexDatabaseError extends Error {
  /** Always "IndexDatabaseError", so the error can be told apart after serialisation. */
  override name = "IndexDatabaseError";
  /**
   * @param code The class of fault.
   * @param path The path as given.
   * @param detail What was wrong, with the value.
   */
  constructor(
    readonly code: IndexDatabaseErrorCode,
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: index database refused (${code}): ${detail}`);
  }
}

// Schema 2's tables: sources inside package archives.
const ARCHIVE_SOURCES = `
CREATE TABLE archive_srefs (
  archive INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  build_id BLOB NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (build_id, name, archive)
) WITHOUT ROWID;
CREATE INDEX archive_srefs_archive ON archive_srefs (archive);
CREATE TABLE archive_sdefs (
  archive INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  member TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime_s INTEGER NOT NULL,
  PRIMARY KEY (archive, member)
) WITHOUT ROWID;
CREATE INDEX archive_sdefs_member ON archive_sdefs (member);
`;

const SCHEMA = `
CREATE TABLE roots (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE files (
  id INTEGER PRIMARY KEY,
  root INTEGER NOT NULL REFERENCES roots (id),
  path TEXT NOT NULL UNIQUE,
  dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  build_id BLOB
);
CREATE INDEX files_build_id ON files (build_id) WHERE build_id IS NOT NULL;
CREATE TABLE members (
  archive INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  member TEXT NOT NULL,
  build_id BLOB NOT NULL,
  kind INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_s INTEGER NOT NULL,
  PRIMARY KEY (archive, member)
) WITHOUT ROWID;
CREATE INDEX members_build_id ON members (build_id);
CREATE TABLE sources (
  file INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
  PRIMARY KEY (file, name)
) WITHOUT ROWID;
${ARCHIVE_SOURCES}`;

/** A file's stamp: st_dev, st_ino, st_size, mtime ns, ctime ns ({@link STAMP_WORDS} words). */
export type Stamp = readonly bigint[];

/** A row of `files` as a lookup returns it. */
export interface FileRow {
  /** Row id. */
  id: number;
  /** Real path of the root it was found under. */
  root: string;
  /** Its path. */
  path: string;
  /** Its stamp when read. */
  stamp: bigint[];
  /** KIND bits (file-table.ts). */
  kind: number;
}

/** An ELF member of a package archive, as the index keeps it. */
export interface MemberRow {
  /** Its name in the archive, one leading `/`. */
  member: string;
  /** KIND bits (file-table.ts). */
  kind: number;
  /** Size in bytes. */
  size: number;
  /** Modification time in the archive, seconds. */
  mtimeS: number;
}

/** A member with the archive that holds it, as a lookup by build ID returns it. */
export interface ArchivedMemberRow extends MemberRow {
  /** The archive's row. */
  archive: FileRow;
}

/** A regular member of an archive that a source path of a debuginfo member matches, with its archive. */
export interface ArchivedSourceRow {
  /** The archive's row. */
  archive: FileRow;
  /** The member's name, one leading `/`: the source path. */
  member: string;
  /** Size in bytes. */
  size: number;
  /** Modification time in the archive, seconds. */
  mtimeS: number;
}

/** A source file a debuginfo names, as found under a root. */
export interface SourceRow {
  /** Canonical path. */
  name: string;
  /** Its stamp when recorded. */
  stamp: bigint[];
}

/** Counts over the whole index. */
export interface IndexCounts {
  /** Files held (every regular file the scans saw). */
  files: number;
  /** Of those, with a build ID. */
  withBuildId: number;
  /** Of those, executables. */
  executables: number;
  /** Of those, debuginfo files. */
  debuginfo: number;
  /** Distinct build IDs. */
  buildIds: number;
}

const toInt = (n: bigint): bigint => BigInt.asIntN(64, n);
const fromInt = (n: bigint): bigint => BigInt.asUintN(64, n);

type Row = Record<string, unknown>;

function stampOf(row: Row): bigint[] {
  return [row.dev, row.ino, row.size, row.mtime_ns, row.ctime_ns].map((v) => fromInt(v as bigint));
}

function fileRow(row: Row): FileRow {
  return {
    id: Number(row.id),
    root: row.root as string,
    path: row.path as string,
    stamp: stampOf(row),
    kind: Number(row.kind),
  };
}

// The first bytes of the file at `path` (opened without blocking, checked to be a regular file); undefined when absent.
function headOf(path: string, length: number): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new IndexDatabaseError("CANNOT_OPEN", path, (error as Error).message);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new IndexDatabaseError("NOT_AN_INDEX", path, "not a regular file");
    const head = new Uint8Array(length);
    return head.subarray(0, readSync(fd, head, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

const startsWith = (bytes: Uint8Array, text: string): boolean =>
  bytes.length >= text.length && [...text].every((c, i) => bytes[i] === c.charCodeAt(0));

/** Options for {@link IndexDatabase.open}. */
export interface IndexDatabaseOptions {
  /** Open for reading only (a `--passive` replica): the database must exist; nothing is written. */
  readonly?: boolean;
  /** Roots (real paths) an index file of the old format is migrated under: each file goes to the innermost root holding it, files under none are dropped. */
  migrateRoots?: readonly string[];
}

/** The index's tables and the statements over them. */
export class IndexDatabase {
  /** The path as given (`undefined`: in memory). */
  readonly path: string | undefined;
  /** Opened for reading only. */
  readonly readonly: boolean;
  readonly #db: Database.Database;
  readonly #byBuildId: Database.Statement;
  readonly #byPath: Database.Statement;
  readonly #insertFile: Database.Statement;
  readonly #deleteFile: Database.Statement;
  readonly #deleteFileAt: Database.Statement;
  readonly #membersByBuildId: Database.Statement;
  readonly #sourcesByBuildId: Database.Statement;
  readonly #unchanged: Database.Statement;
  readonly #heldIn: Database.Statement;
  readonly #dataVersion: Database.Statement;
  /** {@link IndexDatabase.archivedSourcesOf}'s statements for one and two names, prepared on first use (a schema-1 replica has no tables for them). */
  #archivedSources: Database.Statement[] | undefined;
  /** Bumped by every write of this connection: with `data_version` (other connections' commits), whether {@link IndexDatabase.counts} may be reused. */
  #generation = 0;
  #counts: { at: string; counts: IndexCounts } | undefined;

  private constructor(db: Database.Database, path: string | undefined, readonly: boolean) {
    this.#db = db;
    this.path = path;
    this.readonly = readonly;
    const select = "SELECT f.id, r.path AS root, f.path, f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns, f.kind";
    this.#byBuildId = db
      .prepare(`${select} FROM files f JOIN roots r ON r.id = f.root WHERE f.build_id = ?`)
      .safeIntegers(true);
    this.#byPath = db
      .prepare(`${select} FROM files f JOIN roots r ON r.id = f.root WHERE f.path = ?`)
      .safeIntegers(true);
    this.#membersByBuildId = db
      .prepare(
        `${select}, m.member, m.kind AS member_kind, m.size AS member_size, m.mtime_s FROM members m ` +
          "JOIN files f ON f.id = m.archive JOIN roots r ON r.id = f.root WHERE m.build_id = ?",
      )
      .safeIntegers(true);
    this.#sourcesByBuildId = db
      .prepare(
        "SELECT DISTINCT s.name, s.dev, s.ino, s.size, s.mtime_ns, s.ctime_ns FROM files f JOIN sources s ON s.file = f.id WHERE f.build_id = ?",
      )
      .safeIntegers(true);
    this.#unchanged = db
      .prepare(
        "SELECT id FROM files WHERE path = ? AND root = ? AND dev = ? AND ino = ? AND size = ? AND mtime_ns = ? AND ctime_ns = ?",
      )
      .pluck();
    this.#heldIn = db
      .prepare(
        "SELECT path, id, dev, ino, size, mtime_ns, ctime_ns FROM files WHERE path >= ? AND path <= ? AND root = ?",
      )
      .safeIntegers(true)
      .raw();
    this.#dataVersion = db.prepare("PRAGMA data_version").pluck();
    if (readonly) {
      this.#insertFile = this.#byPath;
      this.#deleteFile = this.#byPath;
      this.#deleteFileAt = this.#byPath;
      return;
    }
    this.#insertFile = db.prepare(
      "INSERT INTO files (root, path, dev, ino, size, mtime_ns, ctime_ns, kind, build_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.#deleteFile = db.prepare("DELETE FROM files WHERE id = ?");
    this.#deleteFileAt = db.prepare("DELETE FROM files WHERE path = ? RETURNING id").pluck();
  }

  /**
   * The index database at `path` (created when absent; an index file of the old format is migrated
   * into a database at the same path, once), or one in memory without a path.
   * @throws {@link IndexDatabaseError} naming `path`: not an index database, a newer schema, absent
   *   for a reader; {@link IndexFileError} for an old index file that cannot be read. Nothing is changed.
   */
  static open(path: string | undefined, options: IndexDatabaseOptions = {}): IndexDatabase {
    const readonly = options.readonly ?? false;
    if (path === undefined) return IndexDatabase.#init(new Database(":memory:"), undefined, false);
    const head = headOf(path, SQLITE_MAGIC.length);
    if (head === undefined && readonly) throw new IndexDatabaseError("MISSING", path, "no such file");
    if (head !== undefined && startsWith(head, INDEX_FILE_MAGIC)) {
      if (readonly)
        throw new IndexDatabaseError(
          "NOT_AN_INDEX",
          path,
          "an index file of the old format: open it once without --passive to migrate it",
        );
      IndexDatabase.#migrate(path, options.migrateRoots ?? []);
    } else if (head !== undefined && head.length > 0 && !startsWith(head, SQLITE_MAGIC)) {
      throw new IndexDatabaseError("NOT_AN_INDEX", path, "neither an SQLite database nor an index file");
    }
    let db: Database.Database;
    try {
      db = new Database(path, { readonly, fileMustExist: readonly });
    } catch (error) {
      throw new IndexDatabaseError("CANNOT_OPEN", path, (error as Error).message);
    }
    try {
      return IndexDatabase.#init(db, path, readonly);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  // Checks the schema (creating it in an empty database) and sets the connection's pragmas.
  static #init(db: Database.Database, path: string | undefined, readonly: boolean): IndexDatabase {
    const shown = path ?? ":memory:";
    const pragma = (text: string): number => Number(db.pragma(text, { simple: true }));
    let app: number;
    try {
      app = pragma("application_id");
    } catch (error) {
      throw new IndexDatabaseError("NOT_AN_INDEX", shown, (error as Error).message);
    }
    const tables = Number(db.prepare("SELECT count(*) FROM sqlite_schema").pluck().get());
    if (app === 0 && tables === 0 && !readonly) {
      if (path !== undefined) db.pragma("journal_mode = WAL");
      db.transaction(() => {
        db.exec(SCHEMA);
        db.pragma(`application_id = ${APPLICATION_ID}`);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    } else if (app !== APPLICATION_ID) {
      throw new IndexDatabaseError("NOT_AN_INDEX", shown, `application_id is 0x${app.toString(16)}, not an index's`);
    }
    const version = pragma("user_version");
    if (version > SCHEMA_VERSION)
      throw new IndexDatabaseError("NEWER_SCHEMA", shown, `schema ${version}; this version reads ${SCHEMA_VERSION}`);
    if (version === 1 && !readonly) {
      // Schema 1 kept no sources of archives: an impossible mtime has the next scan read each archive again.
      db.transaction(() => {
        db.exec(ARCHIVE_SOURCES);
        db.exec("UPDATE files SET mtime_ns = -1 WHERE path LIKE '%.deb' OR path LIKE '%.ddeb' OR path LIKE '%.rpm'");
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      })();
    }
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    // better-sqlite3 builds SQLite with a 16 MiB page cache, which a scan fills; the files it reads are in the OS's cache anyway.
    db.pragma(`cache_size = -${CACHE_KIB}`);
    if (!readonly) db.pragma("synchronous = NORMAL");
    return new IndexDatabase(db, path, readonly);
  }

  // Turns the old index file at `path` into a database: written beside it, then renamed over it.
  static #migrate(path: string, roots: readonly string[]): void {
    const table = decodeIndexFile(readCacheFileSync(path) ?? new Uint8Array(0), path);
    const next = `${path}.migrating-${process.pid}`;
    rmSync(next, { force: true });
    const db = IndexDatabase.#init(new Database(next), next, false);
    try {
      const sorted = [...roots].sort((a, b) => b.length - a.length);
      const rootIds = new Map(sorted.map((root) => [root, db.rootId(root)]));
      db.transaction(() => {
        for (let i = 0; i < table.count; i++) {
          const filePath = table.paths[i]!;
          const root = sorted.find((r) => filePath.startsWith(r.endsWith("/") ? r : `${r}/`));
          if (root === undefined) continue;
          const stamp = table.stamps.subarray(i * STAMP_WORDS, (i + 1) * STAMP_WORDS);
          db.insertFile(rootIds.get(root)!, filePath, [...stamp], table.kinds[i]!, idOf(table, i));
        }
      });
      db.#db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
      renameSync(next, path);
    } catch (error) {
      db.close();
      rmSync(next, { force: true });
      throw error;
    }
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    this.#generation++;
    return this.#db.transaction(fn)();
  }

  /** The id of the root at `path` (a real path), added when new. */
  rootId(path: string): number {
    // Only a write bumps the generation: a rescan's unchanged roots leave the cached counts valid.
    if (this.#db.prepare("INSERT INTO roots (path) VALUES (?) ON CONFLICT (path) DO NOTHING").run(path).changes > 0)
      this.#generation++;
    return Number(this.#db.prepare("SELECT id FROM roots WHERE path = ?").pluck().get(path));
  }

  /** Drops the roots no file is under any more, but those in `keep`. */
  dropUnusedRoots(keep: readonly number[]): void {
    const kept = new Set(keep);
    for (const id of this.#db.prepare("SELECT id FROM roots WHERE id NOT IN (SELECT root FROM files)").pluck().all())
      if (!kept.has(Number(id))) {
        this.#generation++;
        this.#db.prepare("DELETE FROM roots WHERE id = ?").run(id);
      }
  }

  /** The real paths of the roots the files held are under (what a replica serves from). */
  rootPaths(): string[] {
    return this.#db.prepare("SELECT path FROM roots ORDER BY path").pluck().all() as string[];
  }

  /** The file held at `path`, or `undefined`. */
  fileAt(path: string): FileRow | undefined {
    const row = this.#byPath.get(path) as Row | undefined;
    return row && fileRow(row);
  }

  /**
   * The id of the file held at `path` under root `root` when its stamp is `stamp`: what a rescan
   * keeps unread. `undefined` when none is held there, or another file or another version of it is.
   */
  unchangedFile(path: string, root: number, stamp: Stamp): number | undefined {
    return this.#unchanged.get(path, root, ...stamp.map(toInt)) as number | undefined;
  }

  /** {@link IndexDatabase.unchangedFile} for the files of folder `dir` (ending in `/`) with subfolders `subdirs`: a query per run of names between these. */
  unchangedIn(dir: string, root: number, files: readonly { name: string; stamp: Stamp }[], subdirs: readonly string[]) {
    const out: (number | undefined)[] = [];
    const index = new Map<string, number>();
    // JS sorts as SQLite (UTF-8) but from U+D800: such names one by one.
    files.forEach((f, at) => {
      if (/[\uD800-\uFFFF]/.test(f.name)) out[at] = this.unchangedFile(dir + f.name, root, f.stamp);
      else index.set(f.name, at);
    });
    // A subfolder's rows sort from its name and "/" to its name and "0": a run ends there.
    const keys = [...index.keys(), ...subdirs.map((s) => `${s}/`)].sort();
    for (let i = 0, j = 0; i < keys.length; i = ++j) {
      while (j < keys.length && !keys[j]!.endsWith("/")) j++;
      if (j > i)
        for (const row of this.#heldIn.all(dir + keys[i], dir + keys[j - 1], root) as unknown[][]) {
          const at = index.get((row[0] as string).slice(dir.length));
          if (at !== undefined && files[at]!.stamp.every((w, n) => toInt(w) === row[n + 2])) out[at] = Number(row[1]);
        }
    }
    return out;
  }

  /** Whether no file is held: a first scan, with nothing to compare stamps with. */
  isEmpty(): boolean {
    return this.#db.prepare("SELECT NOT EXISTS (SELECT 1 FROM files)").pluck().get() === 1;
  }

  /** Adds a file (none must be held at its path: {@link IndexDatabase.deleteFile} first); returns its id. */
  insertFile(root: number, path: string, stamp: Stamp, kind: number, buildId: Uint8Array | undefined): number {
    const [dev, ino, size, mtime, ctime] = stamp.map(toInt);
    this.#generation++;
    return Number(
      this.#insertFile.run(root, path, dev, ino, size, mtime, ctime, kind, buildId ? Buffer.from(buildId) : null)
        .lastInsertRowid,
    );
  }

  /** Deletes the file held at `path`, if any, with its members and sources; returns its id. */
  deleteFileAt(path: string): number | undefined {
    this.#generation++;
    return this.#deleteFileAt.get(path) as number | undefined;
  }

  /** Deletes a file, with its members and sources. */
  deleteFile(id: number): void {
    this.#generation++;
    this.#deleteFile.run(id);
  }

  /** Files held. */
  fileCount(): number {
    return this.#db.prepare("SELECT count(*) FROM files").pluck().get() as number;
  }

  /** Every file's id. */
  fileIds(): number[] {
    return this.#db.prepare("SELECT id FROM files").pluck().all() as number[];
  }

  /** Every file, in path order. */
  allFiles(): FileRow[] {
    return (
      this.#db
        .prepare(
          "SELECT f.id, r.path AS root, f.path, f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns, f.kind FROM files f JOIN roots r ON r.id = f.root ORDER BY f.path",
        )
        .safeIntegers(true)
        .all() as Row[]
    ).map(fileRow);
  }

  /** Files held for `buildId`. */
  filesOf(buildId: Uint8Array): FileRow[] {
    return (this.#byBuildId.all(Buffer.from(buildId)) as Row[]).map(fileRow);
  }

  /** Replaces the ELF members recorded for archive `archive` (a file id). */
  setMembers(archive: number, members: readonly (MemberRow & { buildId: Uint8Array })[]): void {
    this.#generation++;
    this.#db.prepare("DELETE FROM members WHERE archive = ?").run(archive);
    const insert = this.#db.prepare(
      "INSERT INTO members (archive, member, build_id, kind, size, mtime_s) VALUES (?, ?, ?, ?, ?, ?)",
    );
    for (const m of members) insert.run(archive, m.member, Buffer.from(m.buildId), m.kind, m.size, m.mtimeS);
  }

  /** Archive members held for `buildId`, with their archives. */
  membersOf(buildId: Uint8Array): ArchivedMemberRow[] {
    return (this.#membersByBuildId.all(Buffer.from(buildId)) as Row[]).map((row) => ({
      archive: fileRow(row),
      member: row.member as string,
      kind: Number(row.member_kind),
      size: Number(row.member_size),
      mtimeS: Number(row.mtime_s),
    }));
  }

  /** Replaces the source files recorded for debuginfo `file` (a file id). */
  setSources(file: number, sources: readonly SourceRow[]): void {
    this.#generation++;
    this.#db.prepare("DELETE FROM sources WHERE file = ?").run(file);
    const insert = this.#db.prepare(
      "INSERT INTO sources (file, name, dev, ino, size, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for (const s of sources) insert.run(file, s.name, ...s.stamp.map(toInt));
  }

  /** Replaces what archive `archive` (a file id) holds for sources: the paths its debuginfo members name, and its other regular members. */
  setArchiveSources(
    archive: number,
    srefs: readonly { buildId: Uint8Array; names: readonly string[] }[],
    sdefs: readonly { member: string; size: number; mtimeS: number }[],
  ): void {
    this.#generation++;
    this.#db.prepare("DELETE FROM archive_srefs WHERE archive = ?").run(archive);
    this.#db.prepare("DELETE FROM archive_sdefs WHERE archive = ?").run(archive);
    const sref = this.#db.prepare("INSERT OR IGNORE INTO archive_srefs (archive, build_id, name) VALUES (?, ?, ?)");
    for (const { buildId, names } of srefs) for (const name of names) sref.run(archive, Buffer.from(buildId), name);
    const sdef = this.#db.prepare(
      "INSERT OR IGNORE INTO archive_sdefs (archive, member, size, mtime_s) VALUES (?, ?, ?, ?)",
    );
    for (const m of sdefs) sdef.run(archive, m.member, m.size, m.mtimeS);
  }

  /**
   * Members of any archive named as one of `names` that a debuginfo member of `buildId` names as a
   * source (elfutils' `_query_s` over `r_sref` and `r_sdef`); none from a schema-1 database read only.
   * `names`: the path as requested and canonicalised (one when they are equal).
   */
  archivedSourcesOf(buildId: Uint8Array, names: readonly string[]): ArchivedSourceRow[] {
    if (names.length === 0 || names.length > 2)
      throw new RangeError(`names must hold 1 or 2 paths, got ${names.length}`);
    if (Number(this.#db.pragma("user_version", { simple: true })) < 2) return [];
    this.#archivedSources ??= [1, 2].map((n) =>
      this.#db
        .prepare(
          "SELECT DISTINCT f.id, r.path AS root, f.path, f.dev, f.ino, f.size, f.mtime_ns, f.ctime_ns, f.kind, " +
            "d.member, d.size AS member_size, d.mtime_s FROM archive_srefs s " +
            "JOIN archive_sdefs d ON d.member = s.name JOIN files f ON f.id = d.archive JOIN roots r ON r.id = f.root " +
            `WHERE s.build_id = ? AND s.name IN (${n === 1 ? "?" : "?, ?"})`,
        )
        .safeIntegers(true),
    );
    const rows = this.#archivedSources[names.length - 1]!.all(Buffer.from(buildId), ...names) as Row[];
    return rows.map((row) => ({
      archive: fileRow(row),
      member: row.member as string,
      size: Number(row.member_size),
      mtimeS: Number(row.mtime_s),
    }));
  }

  /** Source files the debuginfo files of `buildId` name. */
  sourcesOf(buildId: Uint8Array): SourceRow[] {
    return (this.#sourcesByBuildId.all(Buffer.from(buildId)) as Row[]).map((row) => ({
      name: row.name as string,
      stamp: stampOf(row),
    }));
  }

  /** Every distinct build ID held, in lowercase hex. */
  *buildIds(): IterableIterator<string> {
    const ids = this.#db
      .prepare("SELECT DISTINCT build_id FROM files WHERE build_id IS NOT NULL UNION SELECT build_id FROM members")
      .pluck()
      .all() as Buffer[];
    for (const id of ids) yield toHex(id);
  }

  /** Counts over the whole index: counted again only after a write (of this process or another), for `/metrics` polled often. */
  counts(): IndexCounts {
    const at = `${this.#generation}:${this.#dataVersion.get()}`;
    if (this.#counts?.at === at) return { ...this.#counts.counts };
    const row = this.#db
      .prepare(
        "SELECT count(*) AS files, count(build_id) AS withBuildId, " +
          "coalesce(sum(build_id IS NOT NULL AND kind & 1 != 0), 0) AS executables, " +
          "coalesce(sum(build_id IS NOT NULL AND kind & 2 != 0), 0) AS debuginfo, " +
          "(SELECT count(*) FROM (SELECT DISTINCT build_id FROM files WHERE build_id IS NOT NULL)) AS buildIds FROM files",
      )
      .get() as Record<keyof IndexCounts, number>;
    const counts = {
      files: row.files,
      withBuildId: row.withBuildId,
      executables: row.executables,
      debuginfo: row.debuginfo,
      buildIds: row.buildIds,
    };
    this.#counts = { at, counts };
    return { ...counts };
  }

  /** Bytes the database takes: its pages (the WAL not counted). */
  bytes(): number {
    return (
      Number(this.#db.pragma("page_count", { simple: true })) * Number(this.#db.pragma("page_size", { simple: true }))
    );
  }

  /** Folds the WAL back into the database and lets SQLite refresh its statistics (after a groom). */
  optimize(): void {
    this.#db.pragma("optimize");
    if (this.path !== undefined) this.#db.pragma("wal_checkpoint(TRUNCATE)");
  }

  /** Closes the connection. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
