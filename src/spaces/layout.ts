/**
 * A space's mappings as immutable, shareable pieces: a {@link Layout} is a sorted run of
 * {@link Chunk}s of at most {@link CHUNK_MAX} mappings each. A change builds a new layout that
 * copies only the chunks it touches and shares the rest, so a fork copies nothing (parent and
 * child hold the same layout until either changes) and a change costs O(CHUNK_MAX + chunks), not
 * O(mappings), however large the space.
 *
 * Addresses are searched on 32-bit halves, as `src/node/process-view.ts` does: each chunk keeps its
 * starts, ends, `pgoff - start` and map times as u64s viewed as `Uint32Array` words, and the layout
 * keeps each chunk's last end the same way, so a lookup is two binary searches comparing small
 * integers, with no bigint made.
 *
 * @module
 */
import type { FileRef } from "./events.js";

/** A mapping a space holds. Immutable; shared between the spaces and layouts that hold it. */
export interface Mapping {
  /** First address. */
  readonly start: bigint;
  /** One past the last address (at most 2^64). */
  readonly end: bigint;
  /** File offset of {@link start}. */
  readonly pgoff: bigint;
  /** `PROT_*` bits, as given. */
  readonly prot: number;
  /** `MAP_*` bits, as given. */
  readonly flags: number;
  /** The path, as given. */
  readonly path: string;
  /** The file's identity, as given. */
  readonly file: FileRef;
  /** The file's interned id (see `FileTable`); -1 for anonymous memory. */
  readonly fileId: number;
  /** Anonymous memory: no file behind it (see `isAnonymousPath`). */
  readonly anonymous: boolean;
  /** Time of the event that mapped it: it has held its range continuously since then. */
  readonly since: bigint;
}

/** Which word of a u64 holds its high half, in this host's byte order. */
export const HI = new Uint32Array(BigUint64Array.of(1n).buffer)[0] === 1 ? 1 : 0;
/** Which word of a u64 holds its low half. */
export const LO = 1 - HI;

const U64_MAX = (1n << 64n) - 1n;

/** log2 of {@link CHUNK_MAX}: {@link locate} packs a chunk and an index into one integer. */
export const CHUNK_BITS = 8;
/** Most mappings in a chunk; a change that leaves more splits it. */
export const CHUNK_MAX = 1 << CHUNK_BITS;
/**
 * What one held mapping is reckoned to cost, beside its path (2 bytes a character): the object and
 * its four bigints (~200 bytes in V8), its search words (36) and its slot.
 */
export const MAPPING_BYTES = 256;
/** Fewest mappings a chunk keeps when it has a neighbour; a change that leaves fewer merges it into one. */
export const CHUNK_MIN = 64;

/** Up to {@link CHUNK_MAX} consecutive mappings and their search words. */
export class Chunk {
  /** The mappings, sorted by start, none overlapping. */
  readonly mappings: readonly Mapping[];
  /** Per mapping, its start as two u32 words ({@link HI}, {@link LO}). */
  readonly starts: Uint32Array;
  /** Per mapping, its end as two words (an end of 2^64 is kept as 2^64 - 1). */
  readonly ends: Uint32Array;
  /** Per mapping, `pgoff - start` mod 2^64 as two words: a file offset is one addition. */
  readonly deltas: Uint32Array;
  /** Per mapping, {@link Mapping.since} as two words. */
  readonly sinces: Uint32Array;
  /** Per mapping, its file id (-1: anonymous). */
  readonly fileIds: Int32Array;
  /** What its mappings are reckoned to cost in memory ({@link MAPPING_BYTES} each, and their paths). */
  readonly bytes: number;
  /** How many held layouts contain this chunk (kept by the model, to count what is held). */
  refs = 0;

  /** @param mappings sorted by start, none overlapping, 1 to {@link CHUNK_MAX} of them. */
  constructor(mappings: readonly Mapping[]) {
    const n = mappings.length;
    const words = new BigUint64Array(4 * n);
    const fileIds = new Int32Array(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const m = mappings[i]!;
      bytes += MAPPING_BYTES + 2 * m.path.length;
      words[i] = m.start;
      words[n + i] = m.end > U64_MAX ? U64_MAX : m.end;
      words[2 * n + i] = BigInt.asUintN(64, m.pgoff - m.start);
      words[3 * n + i] = m.since;
      fileIds[i] = m.fileId;
    }
    this.mappings = mappings;
    this.starts = new Uint32Array(words.buffer, 0, 2 * n);
    this.ends = new Uint32Array(words.buffer, 8 * n, 2 * n);
    this.deltas = new Uint32Array(words.buffer, 16 * n, 2 * n);
    this.sinces = new Uint32Array(words.buffer, 24 * n, 2 * n);
    this.fileIds = fileIds;
    this.bytes = bytes;
  }
}

/** A space's mappings at one moment: chunks in address order. */
export class Layout {
  /** The chunks, in address order, none empty. */
  readonly chunks: readonly Chunk[];
  /** Per chunk, the end of its last mapping as two words: the top level of the search. */
  readonly lastEnds: Uint32Array;
  /** How many mappings. */
  readonly size: number;
  /** How many spaces hold this layout (kept by the model). */
  refs = 0;

  /** @param chunks in address order, none empty. */
  constructor(chunks: readonly Chunk[]) {
    const lastEnds = new BigUint64Array(chunks.length);
    let size = 0;
    for (let c = 0; c < chunks.length; c++) {
      const m = chunks[c]!.mappings;
      const end = m[m.length - 1]!.end;
      lastEnds[c] = end > U64_MAX ? U64_MAX : end;
      size += m.length;
    }
    this.chunks = chunks;
    this.lastEnds = new Uint32Array(lastEnds.buffer);
    this.size = size;
  }

  /** The mappings in address order. */
  *mappings(): IterableIterator<Mapping> {
    for (const chunk of this.chunks) yield* chunk.mappings;
  }
}

/** A layout of `mappings` (sorted by start, none overlapping), in chunks of even size. */
export function layoutOf(mappings: readonly Mapping[]): Layout {
  return new Layout(chunked(mappings));
}

/** `mappings` cut into the fewest chunks of at most {@link CHUNK_MAX}, of even sizes. */
function chunked(mappings: readonly Mapping[]): Chunk[] {
  const count = Math.ceil(mappings.length / CHUNK_MAX);
  const chunks: Chunk[] = [];
  for (let k = 0; k < count; k++) {
    const from = Math.floor((k * mappings.length) / count);
    const to = Math.floor(((k + 1) * mappings.length) / count);
    chunks.push(new Chunk(mappings.slice(from, to)));
  }
  return chunks;
}

/** The part `[start, end)` of `m`, its file offset moved with its start. */
function trimmed(m: Mapping, start: bigint, end: bigint): Mapping {
  return { ...m, start, end, pgoff: BigInt.asUintN(64, m.pgoff + (start - m.start)) };
}

/**
 * `layout` with `[start, end)` cleared (mappings overlapping it trimmed, or split in two when it
 * falls inside one) and `inserted`, which covers exactly that range, put there. Returns `layout`
 * itself when nothing changes.
 */
export function replaceRange(layout: Layout, start: bigint, end: bigint, inserted: Mapping | undefined): Layout {
  const chunks = layout.chunks;
  const n = chunks.length;
  let a = 0;
  while (a < n && lastOf(chunks[a]!).end <= start) a++;
  let b = a;
  while (b < n && chunks[b]!.mappings[0]!.start < end) b++;
  if (a === b) {
    if (inserted === undefined) return layout;
    if (n === 0) return layoutOf([inserted]);
    // Nothing overlaps: the new mapping joins the chunk after the gap (or the last chunk).
    if (a === n) a = n - 1;
    b = a + 1;
  }
  const kept: Mapping[] = [];
  for (let c = a; c < b; c++) {
    for (const m of chunks[c]!.mappings) {
      if (m.end <= start || m.start >= end) {
        kept.push(m);
        continue;
      }
      if (m.start < start) kept.push(trimmed(m, m.start, start));
      if (m.end > end) kept.push(trimmed(m, end, m.end));
    }
  }
  if (inserted !== undefined) {
    let at = kept.length;
    while (at > 0 && kept[at - 1]!.start >= end) at--;
    kept.splice(at, 0, inserted);
  }
  if (kept.length > 0 && kept.length < CHUNK_MIN) {
    if (b < n) kept.push(...chunks[b++]!.mappings);
    else if (a > 0) kept.unshift(...chunks[--a]!.mappings);
  }
  return new Layout([...chunks.slice(0, a), ...chunked(kept), ...chunks.slice(b)]);
}

function lastOf(chunk: Chunk): Mapping {
  return chunk.mappings[chunk.mappings.length - 1]!;
}

/**
 * Where the mapping holding the address `hi:lo` (its u32 halves) is, as `chunk << CHUNK_BITS | index`,
 * or -1 when no mapping holds it.
 */
export function locate(layout: Layout, hi: number, lo: number): number {
  const tops = layout.lastEnds;
  let left = 0;
  let right = tops.length >>> 1;
  while (left < right) {
    const mid = (left + right) >>> 1;
    const endHi = tops[2 * mid + HI]!;
    if (endHi < hi || (endHi === hi && tops[2 * mid + LO]! <= lo)) left = mid + 1;
    else right = mid;
  }
  const chunk = layout.chunks[left];
  if (chunk === undefined) return -1;
  const ends = chunk.ends;
  let i = 0;
  let j = ends.length >>> 1;
  while (i < j) {
    const mid = (i + j) >>> 1;
    const endHi = ends[2 * mid + HI]!;
    if (endHi < hi || (endHi === hi && ends[2 * mid + LO]! <= lo)) i = mid + 1;
    else j = mid;
  }
  // The chunk's last end is past the address, so i is in range.
  const starts = chunk.starts;
  const startHi = starts[2 * i + HI]!;
  return startHi < hi || (startHi === hi && starts[2 * i + LO]! <= lo) ? (left << CHUNK_BITS) | i : -1;
}
