/**
 * A space's mappings as immutable, shareable pieces: a {@link Layout} is a sorted run of
 * {@link Chunk}s of at most {@link CHUNK_MAX} mappings each. A change builds a new layout that
 * copies only the chunks it touches and shares the rest, so a fork copies nothing (parent and
 * child hold the same layout until either changes) and a change rebuilds at most a few chunks and
 * copies the list of chunks, however large the space.
 *
 * Addresses are searched on 32-bit halves: each chunk keeps its
 * starts, ends, `pgoff - start` and map times as u64s viewed as `Uint32Array` words, and the layout
 * keeps each chunk's last end the same way, so a lookup is two binary searches comparing small
 * integers, with no bigint made.
 *
 * @module
 */
import type { FileRef } from "./events.js";
import { type LookupResults, LookupStatus } from "./lookup.js";

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
export const CHUNK_BITS = 7;
/** Most mappings in a chunk; a change that leaves more splits it. */
export const CHUNK_MAX = 1 << CHUNK_BITS;
/** What one node of a {@link FlatTree} takes: its end and start (doubles), slot, delta (two words) and file id. */
export const FLAT_NODE_BYTES = 8 + 8 + 4 + 8 + 4;
/** What a {@link FlatTree} takes beside its nodes: its object and its five arrays' objects (1-2 kB measured in V8). */
export const FLAT_TREE_BYTES = 4096;
/**
 * What one held mapping is reckoned to cost, beside its path (2 bytes a character): the object and
 * its four bigints (~200 bytes in V8), its search words (36) and its slot. A layout's flat search
 * tree is not in it: it is counted per layout that built one ({@link flatTreeBytes}).
 */
export const MAPPING_BYTES = 256;
/** Fewest mappings a chunk keeps when it has a neighbour; a change that leaves fewer merges it into one. */
export const CHUNK_MIN = 32;

// One mapping's four u64s, written as bigints and read back as words (only for new mappings).
const scratch = new BigUint64Array(4);
const scratchWords = new Uint32Array(scratch.buffer);

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

  /**
   * @param mappings sorted by start, none overlapping, 1 to {@link CHUNK_MAX} of them.
   * @param origins per mapping, where an unchanged one sits in `source` (`chunk << CHUNK_BITS | index`,
   *   its words copied from there), or -1 for a new one (its words computed); omitted: all new.
   * @param source the chunks `origins` point into.
   */
  constructor(mappings: readonly Mapping[], origins?: readonly number[], source?: readonly Chunk[]) {
    const n = mappings.length;
    const buffer = new ArrayBuffer(32 * n);
    const starts = new Uint32Array(buffer, 0, 2 * n);
    const ends = new Uint32Array(buffer, 8 * n, 2 * n);
    const deltas = new Uint32Array(buffer, 16 * n, 2 * n);
    const sinces = new Uint32Array(buffer, 24 * n, 2 * n);
    const fileIds = new Int32Array(n);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const m = mappings[i]!;
      bytes += MAPPING_BYTES + 2 * m.path.length;
      fileIds[i] = m.fileId;
      const origin = origins?.[i] ?? -1;
      let from: Chunk | Uint32Array;
      let j: number;
      if (origin >= 0) {
        from = source![origin >>> CHUNK_BITS]!;
        j = origin & (CHUNK_MAX - 1);
        starts[2 * i] = from.starts[2 * j]!;
        starts[2 * i + 1] = from.starts[2 * j + 1]!;
        ends[2 * i] = from.ends[2 * j]!;
        ends[2 * i + 1] = from.ends[2 * j + 1]!;
        deltas[2 * i] = from.deltas[2 * j]!;
        deltas[2 * i + 1] = from.deltas[2 * j + 1]!;
        sinces[2 * i] = from.sinces[2 * j]!;
        sinces[2 * i + 1] = from.sinces[2 * j + 1]!;
        continue;
      }
      scratch[0] = m.start;
      scratch[1] = m.end > U64_MAX ? U64_MAX : m.end;
      scratch[2] = BigInt.asUintN(64, m.pgoff - m.start);
      scratch[3] = m.since;
      from = scratchWords;
      starts[2 * i] = from[0]!;
      starts[2 * i + 1] = from[1]!;
      ends[2 * i] = from[2]!;
      ends[2 * i + 1] = from[3]!;
      deltas[2 * i] = from[4]!;
      deltas[2 * i + 1] = from[5]!;
      sinces[2 * i] = from[6]!;
      sinces[2 * i + 1] = from[7]!;
    }
    this.mappings = mappings;
    this.starts = starts;
    this.ends = ends;
    this.deltas = deltas;
    this.sinces = sinces;
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
  /** A batch searched its flat tree since the model last passed it when forgetting trees (its second chance). */
  searched = false;
  /** The flat search tree, once a batch asked for it; `null` when a mapping straddles 2^53. */
  #flat: FlatTree | null | undefined = undefined;

  private constructor(chunks: readonly Chunk[], lastEnds: Uint32Array, size: number) {
    this.chunks = chunks;
    this.lastEnds = lastEnds;
    this.size = size;
  }

  /** A layout of `chunks`, in address order, none empty. */
  static of(chunks: readonly Chunk[]): Layout {
    const lastEnds = new Uint32Array(2 * chunks.length);
    let size = 0;
    chunks.forEach((chunk, c) => {
      setLastEnd(lastEnds, c, chunk);
      size += chunk.mappings.length;
    });
    return new Layout(chunks, lastEnds, size);
  }

  /** This layout with chunks `[a, b)` replaced by `pieces`; costs a copy of the chunk list, nothing per mapping. */
  spliced(a: number, b: number, pieces: readonly Chunk[]): Layout {
    const chunks = this.chunks.slice(0, a).concat(pieces, this.chunks.slice(b));
    const lastEnds = new Uint32Array(2 * chunks.length);
    lastEnds.set(this.lastEnds.subarray(0, 2 * a));
    lastEnds.set(this.lastEnds.subarray(2 * b), 2 * (a + pieces.length));
    let size = this.size;
    for (let c = a; c < b; c++) size -= this.chunks[c]!.mappings.length;
    pieces.forEach((chunk, k) => {
      setLastEnd(lastEnds, a + k, chunk);
      size += chunk.mappings.length;
    });
    return new Layout(chunks, lastEnds, size);
  }

  /** The mapping at `slot` (`chunk << CHUNK_BITS | index`, as {@link locate} gives it); `undefined` when none is there. */
  mappingAt(slot: number): Mapping | undefined {
    return this.chunks[slot >>> CHUNK_BITS]?.mappings[slot & (CHUNK_MAX - 1)];
  }

  /** The mappings in address order. */
  *mappings(): IterableIterator<Mapping> {
    for (const chunk of this.chunks) yield* chunk.mappings;
  }

  /** The layout as a {@link FlatTree}, built on first use (the layout never changes); `null` when a mapping straddles 2^53. */
  flat(): FlatTree | null {
    if (this.#flat === undefined) this.#flat = flatTree(this);
    return this.#flat;
  }

  /** Whether {@link flat} has answered (a tree, or `null`) and keeps its answer. */
  get flatBuilt(): boolean {
    return this.#flat !== undefined;
  }

  /** Forgets the tree {@link flat} built: the next call builds it again. */
  dropFlat(): void {
    this.#flat = undefined;
  }
}

/** What the {@link FlatTree} of a layout of `size` mappings takes: {@link FLAT_TREE_BYTES} and its nodes (at most two a mapping). */
export function flatTreeBytes(size: number): number {
  return FLAT_TREE_BYTES + FLAT_NODE_BYTES * treeSlots(size);
}

/** Levels of the full tree that holds `size` nodes. */
function treeDepth(size: number): number {
  let depth = 0;
  while (2 ** depth - 1 < size) depth++;
  return depth;
}

/** 2^{@link treeDepth}, a small integer (`2 ** d` is a heap number). */
function treeSlots(size: number): number {
  let slots = 1;
  while (slots - 1 < size) slots *= 2;
  return slots;
}

/** Addresses whose high word is below this are exact as doubles (below 2^53): the {@link FlatTree}'s range. */
export const FLAT_HI = 1 << 21;

/**
 * A layout's mappings below 2^53 as an implicit search tree in breadth-first (Eytzinger) order over doubles,
 * node k's children at 2k and 2k + 1, padded to a full tree with +Infinity: a search takes the
 * same number of steps for every address, each a load and a comparison used as a number (no
 * branch to mispredict), where the two-level search over u32 words mispredicts about half of its
 * branches on sampled addresses. Each node also holds its mapping's answer (slot, `pgoff - start`,
 * file id), so a batch writes its answers from the arrays it searched, loading no chunk.
 */
export interface FlatTree {
  /** Levels of the tree. */
  readonly depth: number;
  /** Per node (from 1), the mapping's end; padding +Infinity. */
  readonly ends: Float64Array;
  /** Per node, the mapping's start; padding, and node 0 (a search right of every end), +Infinity. */
  readonly starts: Float64Array;
  /** Per node, the mapping's place in the layout (`chunk << CHUNK_BITS | index`); padding -1. */
  readonly at: Int32Array;
  /** Per node, the mapping's `pgoff - start` as two words ({@link HI}, {@link LO}), as {@link Chunk.deltas}. */
  readonly deltas: Uint32Array;
  /** Per node, the mapping's file id (-1: anonymous, and padding). */
  readonly fileIds: Int32Array;
}

function flatTree(layout: Layout): FlatTree | null {
  const depth = treeDepth(layout.size);
  const size = treeSlots(layout.size);
  const ends = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
  const starts = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
  const at = new Int32Array(size).fill(-1);
  const deltas = new Uint32Array(2 * size);
  const fileIds = new Int32Array(size).fill(-1);
  let c = 0;
  let j = 0;
  let past = false;
  // In-order over the implicit tree visits the nodes in sorted order: the mappings go there in turn.
  const fill = (k: number): boolean => {
    if (k >= size) return true;
    if (!fill(2 * k)) return false;
    const chunk = past ? undefined : layout.chunks[c];
    if (chunk !== undefined && chunk.ends[2 * j + HI]! >= FLAT_HI) {
      // Mappings wholly past 2^53 (the kernel's, [vsyscall]) hold no address the tree is asked about.
      if (chunk.starts[2 * j + HI]! < FLAT_HI) return false;
      past = true;
    } else if (chunk !== undefined) {
      ends[k] = chunk.ends[2 * j + HI]! * 2 ** 32 + chunk.ends[2 * j + LO]!;
      starts[k] = chunk.starts[2 * j + HI]! * 2 ** 32 + chunk.starts[2 * j + LO]!;
      at[k] = (c << CHUNK_BITS) | j;
      deltas[2 * k] = chunk.deltas[2 * j]!;
      deltas[2 * k + 1] = chunk.deltas[2 * j + 1]!;
      fileIds[k] = chunk.fileIds[j]!;
      if (++j === chunk.mappings.length) {
        c++;
        j = 0;
      }
    }
    return fill(2 * k + 1);
  };
  return fill(1) ? { depth, ends, starts, at, deltas, fileIds } : null;
}

/**
 * Looks up the addresses `words[2from, 2to)` (u32 halves) in `layout` through its flat tree, and
 * writes each one's answer into `out` at the same index: its slot ({@link locate}'s), its file
 * offset, and `OK` or `ANONYMOUS`; for an address no mapping holds, slot -1, offset 0 and
 * `uncovered`. Four searches at a time, so that their loads overlap. Writes neither `fileId` nor
 * `mapping`, nor checks a time: the caller does, for the batches that need them.
 */
export function locateMany(
  layout: Layout,
  tree: FlatTree,
  words: Uint32Array,
  from: number,
  to: number,
  out: LookupResults,
  uncovered: number,
): void {
  const { depth, ends, starts, at, deltas, fileIds } = tree;
  const { slot, status, offsetWords } = out;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    const h0 = words[2 * i + HI]!;
    const h1 = words[2 * i + 2 + HI]!;
    const h2 = words[2 * i + 4 + HI]!;
    const h3 = words[2 * i + 6 + HI]!;
    if ((h0 | h1 | h2 | h3) >>> 0 >= FLAT_HI) {
      locateRest(layout, tree, words, i, i + 4, out, uncovered);
      continue;
    }
    const l0 = words[2 * i + LO]!;
    const l1 = words[2 * i + 2 + LO]!;
    const l2 = words[2 * i + 4 + LO]!;
    const l3 = words[2 * i + 6 + LO]!;
    const a0 = h0 * 2 ** 32 + l0;
    const a1 = h1 * 2 ** 32 + l1;
    const a2 = h2 * 2 ** 32 + l2;
    const a3 = h3 * 2 ** 32 + l3;
    let k0 = 1;
    let k1 = 1;
    let k2 = 1;
    let k3 = 1;
    for (let d = 0; d < depth; d++) {
      k0 = 2 * k0 + +(ends[k0]! <= a0);
      k1 = 2 * k1 + +(ends[k1]! <= a1);
      k2 = 2 * k2 + +(ends[k2]! <= a2);
      k3 = 2 * k3 + +(ends[k3]! <= a3);
    }
    put(starts, at, deltas, fileIds, lastLeft(k0), a0, h0, l0, slot, status, offsetWords, i, uncovered);
    put(starts, at, deltas, fileIds, lastLeft(k1), a1, h1, l1, slot, status, offsetWords, i + 1, uncovered);
    put(starts, at, deltas, fileIds, lastLeft(k2), a2, h2, l2, slot, status, offsetWords, i + 2, uncovered);
    put(starts, at, deltas, fileIds, lastLeft(k3), a3, h3, l3, slot, status, offsetWords, i + 3, uncovered);
  }
  if (i < to) locateRest(layout, tree, words, i, to, out, uncovered);
}

/**
 * Address `i`'s answer (`address`, its words `hi`, `lo`) from node `k` of the tree (`starts`, `at`,
 * `deltas`, `fileIds`), where its search ended: the node's mapping when that starts at or before it,
 * else none (node 0's start is +Infinity). The arrays come one by one so that the loop keeps them at hand.
 */
function put(
  starts: Float64Array,
  at: Int32Array,
  deltas: Uint32Array,
  fileIds: Int32Array,
  k: number,
  address: number,
  hi: number,
  lo: number,
  slot: Int32Array,
  status: Uint8Array,
  offsetWords: Uint32Array,
  i: number,
  uncovered: number,
): void {
  if (starts[k]! <= address) {
    const low = lo + deltas[2 * k + LO]!;
    offsetWords[2 * i + LO] = low;
    offsetWords[2 * i + HI] = hi + deltas[2 * k + HI]! + (low > 0xffffffff ? 1 : 0);
    slot[i] = at[k]!;
    status[i] = fileIds[k]! < 0 ? LookupStatus.ANONYMOUS : LookupStatus.OK;
  } else {
    status[i] = uncovered;
    slot[i] = -1;
    offsetWords[2 * i] = 0;
    offsetWords[2 * i + 1] = 0;
  }
}

/** Locates `words[2from, 2to)` one by one: below 2^53 in the flat tree, above it in the chunks. */
function locateRest(
  layout: Layout,
  tree: FlatTree,
  words: Uint32Array,
  from: number,
  to: number,
  out: LookupResults,
  uncovered: number,
): void {
  const { starts, at, deltas, fileIds } = tree;
  const { slot, status, offsetWords } = out;
  for (let i = from; i < to; i++) {
    const hi = words[2 * i + HI]!;
    const lo = words[2 * i + LO]!;
    if (hi >= FLAT_HI) {
      answerChunk(layout, locate(layout, hi, lo), hi, lo, out, i, uncovered);
      continue;
    }
    const address = hi * 2 ** 32 + lo;
    put(starts, at, deltas, fileIds, nodeOf(tree, address), address, hi, lo, slot, status, offsetWords, i, uncovered);
  }
}

/** The node the search of the flat tree for `address` (below 2^53) ends at: see {@link put}. */
function nodeOf(tree: FlatTree, address: number): number {
  const { depth, ends } = tree;
  let k = 1;
  for (let d = 0; d < depth; d++) k = 2 * k + +(ends[k]! <= address);
  return lastLeft(k);
}

/** The last node a search that ended at leaf position `k` went left at: k without its trailing ones and the zero before them. */
function lastLeft(k: number): number {
  return k >>> (32 - Math.clz32(~k & (k + 1)));
}

/** Address `i`'s answer (the address `hi:lo`) from the mapping at `slot` ({@link locate}'s, -1 for none), read from its chunk. */
export function answerChunk(
  layout: Layout,
  slot: number,
  hi: number,
  lo: number,
  out: LookupResults,
  i: number,
  uncovered: number,
): void {
  if (slot < 0) {
    missed(out, i, uncovered);
    return;
  }
  const chunk = layout.chunks[slot >>> CHUNK_BITS]!;
  const j = slot & (CHUNK_MAX - 1);
  const deltas = chunk.deltas;
  const low = lo + deltas[2 * j + LO]!;
  out.offsetWords[2 * i + LO] = low;
  out.offsetWords[2 * i + HI] = hi + deltas[2 * j + HI]! + (low > 0xffffffff ? 1 : 0);
  out.slot[i] = slot;
  out.status[i] = chunk.fileIds[j]! < 0 ? LookupStatus.ANONYMOUS : LookupStatus.OK;
}

/** Address `i` has no mapping: `status`, slot -1, offset 0. */
export function missed(out: LookupResults, i: number, status: number): void {
  out.status[i] = status;
  out.slot[i] = -1;
  out.offsetWords[2 * i] = 0;
  out.offsetWords[2 * i + 1] = 0;
}

function setLastEnd(lastEnds: Uint32Array, c: number, chunk: Chunk): void {
  const last = chunk.mappings.length - 1;
  lastEnds[2 * c] = chunk.ends[2 * last]!;
  lastEnds[2 * c + 1] = chunk.ends[2 * last + 1]!;
}

/** A new layout, and which chunks it holds that the old one did not, and the reverse. */
export interface LayoutChange {
  readonly layout: Layout;
  /** Chunks of the new layout that the old one did not hold. */
  readonly added: readonly Chunk[];
  /** Chunks of the old layout that the new one does not hold. */
  readonly removed: readonly Chunk[];
}

/** A layout of `mappings` (sorted by start, none overlapping), in chunks of even size. */
export function layoutOf(mappings: readonly Mapping[]): Layout {
  return Layout.of(chunked(mappings));
}

/** `mappings` cut into the fewest chunks of at most {@link CHUNK_MAX}, of even sizes (see {@link Chunk} for the rest). */
function chunked(mappings: readonly Mapping[], origins?: readonly number[], source?: readonly Chunk[]): Chunk[] {
  const count = Math.ceil(mappings.length / CHUNK_MAX);
  const chunks: Chunk[] = [];
  for (let k = 0; k < count; k++) {
    const from = Math.floor((k * mappings.length) / count);
    const to = Math.floor(((k + 1) * mappings.length) / count);
    chunks.push(new Chunk(mappings.slice(from, to), origins?.slice(from, to), source));
  }
  return chunks;
}

/** The part `[start, end)` of `m`, its file offset moved with its start. */
function trimmed(m: Mapping, start: bigint, end: bigint): Mapping {
  return { ...m, start, end, pgoff: BigInt.asUintN(64, m.pgoff + (start - m.start)) };
}

/**
 * `layout` with `[start, end)` cleared (mappings overlapping it trimmed, or split in two when it
 * falls inside one) and `inserted`, which covers exactly that range, put there; `undefined` when
 * nothing changes. Only the chunks the range touches are rebuilt.
 */
export function replaceRange(
  layout: Layout,
  start: bigint,
  end: bigint,
  inserted: Mapping | undefined,
): LayoutChange | undefined {
  const chunks = layout.chunks;
  const n = chunks.length;
  // The first chunk ending after `start`, then every chunk starting before `end`.
  let a = 0;
  for (let right = n; a < right; ) {
    const mid = (a + right) >>> 1;
    if (lastOf(chunks[mid]!).end <= start) a = mid + 1;
    else right = mid;
  }
  let b = a;
  while (b < n && chunks[b]!.mappings[0]!.start < end) b++;
  if (a === b) {
    if (inserted === undefined) return undefined;
    if (n === 0) return replaceAll(layout, layoutOf([inserted]));
    // Nothing overlaps: the new mapping joins the chunk after the gap (or the last chunk).
    if (a === n) a = n - 1;
    b = a + 1;
  }
  const kept: Mapping[] = [];
  const origins: number[] = [];
  const keep = (c: number) => {
    chunks[c]!.mappings.forEach((m, j) => {
      kept.push(m);
      origins.push((c << CHUNK_BITS) | j);
    });
  };
  for (let c = a; c < b; c++) {
    chunks[c]!.mappings.forEach((m, j) => {
      if (m.end <= start || m.start >= end) {
        kept.push(m);
        origins.push((c << CHUNK_BITS) | j);
        return;
      }
      if (m.start < start) {
        kept.push(trimmed(m, m.start, start));
        origins.push(-1);
      }
      if (m.end > end) {
        kept.push(trimmed(m, end, m.end));
        origins.push(-1);
      }
    });
  }
  if (inserted !== undefined) {
    let at = kept.length;
    while (at > 0 && kept[at - 1]!.start >= end) at--;
    kept.splice(at, 0, inserted);
    origins.splice(at, 0, -1);
  }
  if (kept.length > 0 && kept.length < CHUNK_MIN) {
    if (b < n) keep(b++);
    else if (a > 0) {
      const after = kept.splice(0);
      const afterOrigins = origins.splice(0);
      keep(--a);
      kept.push(...after);
      origins.push(...afterOrigins);
    }
  }
  const added = chunked(kept, origins, chunks);
  return { layout: layout.spliced(a, b, added), added, removed: chunks.slice(a, b) };
}

/** The change from `from` to `to` when they share no chunk. */
export function replaceAll(from: Layout, to: Layout): LayoutChange {
  return { layout: to, added: to.chunks, removed: from.chunks };
}

function lastOf(chunk: Chunk): Mapping {
  return chunk.mappings[chunk.mappings.length - 1]!;
}

/** Index of the first of the sorted (hi, lo) pairs in `ends` past the address `hi:lo`; the pair count when none is. */
function firstEndPast(ends: Uint32Array, hi: number, lo: number): number {
  let i = 0;
  let j = ends.length >>> 1;
  while (i < j) {
    const mid = (i + j) >>> 1;
    const endHi = ends[2 * mid + HI]!;
    if (endHi < hi || (endHi === hi && ends[2 * mid + LO]! <= lo)) i = mid + 1;
    else j = mid;
  }
  return i;
}

/**
 * Where the mapping holding the address `hi:lo` (its u32 halves) is, as `chunk << CHUNK_BITS | index`,
 * or -1 when no mapping holds it.
 */
export function locate(layout: Layout, hi: number, lo: number): number {
  const left = firstEndPast(layout.lastEnds, hi, lo);
  const chunk = layout.chunks[left];
  if (chunk === undefined) return -1;
  const i = firstEndPast(chunk.ends, hi, lo);
  // The chunk's last end is past the address, so i is in range.
  const starts = chunk.starts;
  const startHi = starts[2 * i + HI]!;
  return startHi < hi || (startHi === hi && starts[2 * i + LO]! <= lo) ? (left << CHUNK_BITS) | i : -1;
}
