// The compact per-file arrays of the reverse index, and the builder a scan fills them with.
import { BUILD_ID_MAX } from "../../layout.js";

/** Bits of a file's kind in {@link FileTable.kinds}. */
export const KIND = Object.freeze({
  /** Has loadable code: an `ET_EXEC` or `ET_DYN` file with code in the file. */
  EXECUTABLE: 1,
  /** Has DWARF (`.debug_info` or `.zdebug_info`). */
  DEBUGINFO: 2,
  /** Has a build ID of 1 to {@link ID_MAX} bytes ({@link idOf}). */
  BUILD_ID: 4,
});

/** Longest build ID the index holds, in bytes: the index file keeps its length in one byte. */
export const ID_MAX = 255;

/** Stamp fields per file, in this order: st_dev, st_ino, st_size, mtime ns, ctime ns. */
export const STAMP_WORDS = 5;

/**
 * Every file a scan looked at, in compact arrays indexed by file number: files without a build ID
 * are kept too, so a rescan need not read them again.
 */
export interface FileTable {
  /** Files held. */
  count: number;
  /** Path of each file, as found under its root. */
  paths: string[];
  /** {@link STAMP_WORDS} words per file, taken on the open handle when the file was read. */
  stamps: BigUint64Array;
  /** {@link KIND} bits per file. */
  kinds: Uint8Array;
  /** {@link BUILD_ID_MAX} bytes per file: its build ID, zero-padded (the first {@link BUILD_ID_MAX} bytes of a longer one). */
  ids: Uint8Array;
  /** Length of each file's build ID (0: none). */
  idLengths: Uint8Array;
  /** The whole build ID of each file whose ID is longer than {@link BUILD_ID_MAX} bytes, by file number. */
  longIds: Map<number, Uint8Array>;
}

/** The build ID of file `i` of `table` (a view, not a copy), or `undefined` when it has none. */
export function idOf(table: FileTable, i: number): Uint8Array | undefined {
  const length = table.idLengths[i]!;
  if (length === 0) return undefined;
  if (length > BUILD_ID_MAX) return table.longIds.get(i)!;
  return table.ids.subarray(i * BUILD_ID_MAX, i * BUILD_ID_MAX + length);
}

/** A table holding no files. */
export function emptyTable(): FileTable {
  return {
    count: 0,
    paths: [],
    stamps: new BigUint64Array(0),
    kinds: new Uint8Array(0),
    ids: new Uint8Array(0),
    idLengths: new Uint8Array(0),
    longIds: new Map(),
  };
}

/** Appends records to a {@link FileTable}, growing its arrays by doubling. */
export class TableBuilder {
  readonly table = emptyTable();

  #room(): void {
    const t = this.table;
    if (t.count < t.kinds.length) return;
    const n = Math.max(1024, t.kinds.length * 2);
    const grow = <T extends Uint8Array | BigUint64Array>(old: T, make: (n: number) => T, per: number): T => {
      const next = make(n * per);
      next.set(old as never);
      return next;
    };
    t.stamps = grow(t.stamps, (m) => new BigUint64Array(m), STAMP_WORDS);
    t.kinds = grow(t.kinds, (m) => new Uint8Array(m), 1);
    t.ids = grow(t.ids, (m) => new Uint8Array(m), BUILD_ID_MAX);
    t.idLengths = grow(t.idLengths, (m) => new Uint8Array(m), 1);
  }

  add(path: string, stamp: ArrayLike<bigint>, kind: number, id?: Uint8Array): void {
    this.#room();
    const t = this.table;
    const i = t.count++;
    t.paths.push(path);
    t.stamps.set(stamp, i * STAMP_WORDS);
    t.kinds[i] = kind;
    if (id) {
      if (id.length > ID_MAX) throw new RangeError(`a build ID of ${id.length} bytes is longer than ${ID_MAX}`);
      t.ids.set(id.subarray(0, BUILD_ID_MAX), i * BUILD_ID_MAX);
      t.idLengths[i] = id.length;
      if (id.length > BUILD_ID_MAX) t.longIds.set(i, id.slice());
    }
  }

  copy(from: FileTable, i: number): void {
    this.add(
      from.paths[i]!,
      from.stamps.subarray(i * STAMP_WORDS, (i + 1) * STAMP_WORDS),
      from.kinds[i]!,
      idOf(from, i),
    );
  }
}
