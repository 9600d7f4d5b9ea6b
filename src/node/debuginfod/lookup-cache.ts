/**
 * The server's lookups by build ID, remembered while the index's database is unchanged. A lookup
 * of the index (a query and an object per row) costs several times what the request path spends
 * on everything else but the socket; most requests ask for IDs asked for a moment ago.
 *
 * Whether the database changed is SQLite's own word: `PRAGMA data_version`, read on a connection of
 * the cache's own, changes whenever another connection commits, the index's scans and grooms in this
 * process or another process's writing a database this server reads as a replica. Everything
 * remembered is dropped when it changes. It is read once per turn of the event loop (forgotten by a
 * `setImmediate`, before the next wait for I/O): requests are read in that turn's I/O callbacks, so
 * none is answered from before a commit that preceded it. (A read costs two `fcntl` locks and a query.)
 * An index without a database file (in memory) is asked every time.
 *
 * @packageDocumentation
 */
import Database from "better-sqlite3";
import type { BuildIdIndex, IndexedFile } from "./build-id-index.js";

/** Build IDs remembered at most; the oldest is dropped to make room. */
export const LOOKUPS_HELD = 4096;

interface Remembered {
  files: IndexedFile[];
  /** Archive members carry the ID; asked when first wanted. */
  inArchives?: boolean;
}

/** Lookups of an index by build ID, remembered until its database changes. @internal */
export class LookupCache {
  readonly #index: BuildIdIndex;
  readonly #capacity: number;
  readonly #remembered = new Map<string, Remembered>();
  #db: Database.Database | undefined;
  #version: Database.Statement | undefined;
  #seen: unknown;
  /** `data_version` was read in this turn of the event loop. */
  #fresh = false;
  readonly #stale = (): void => {
    this.#fresh = false;
  };

  constructor(index: BuildIdIndex, capacity = LOOKUPS_HELD) {
    this.#index = index;
    this.#capacity = capacity;
    const path = index.database.path;
    if (path === undefined) return;
    try {
      this.#db = new Database(path, { readonly: true, fileMustExist: true });
      this.#version = this.#db.prepare("PRAGMA data_version").pluck();
    } catch {
      this.close(); // a second connection refused: every lookup asks the index, as in memory
    }
  }

  // What the index holds for `id`, remembered or asked now.
  #get(id: string): Remembered {
    if (this.#version === undefined) return { files: this.#index.lookup(id) };
    if (!this.#fresh) {
      const version = this.#version.get();
      if (version !== this.#seen) {
        this.#remembered.clear();
        this.#seen = version;
      }
      this.#fresh = true;
      setImmediate(this.#stale);
    }
    let found = this.#remembered.get(id);
    if (found === undefined) {
      found = { files: this.#index.lookup(id) };
      if (this.#remembered.size >= this.#capacity)
        this.#remembered.delete(this.#remembered.keys().next().value as string);
      this.#remembered.set(id, found);
    }
    return found;
  }

  /** As {@link BuildIdIndex.lookup}: the files carrying `id` (lowercase hex), newest first. Do not change what it returns. */
  lookup(id: string): IndexedFile[] {
    return this.#get(id).files;
  }

  /** Whether archive members carry `id` (lowercase hex). */
  inArchives(id: string): boolean {
    const found = this.#get(id);
    found.inArchives ??= this.#index.members(id).length > 0;
    return found.inArchives;
  }

  /** Closes its connection; it asks the index every time afterwards. */
  close(): void {
    this.#db?.close();
    this.#db = undefined;
    this.#version = undefined;
    this.#remembered.clear();
  }
}
