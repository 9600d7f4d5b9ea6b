/**
 * Viro's stolen-bit design as a working model, and the two designs it argued against, all over
 * the same simulated kernel objects: inodes at slab addresses in the direct map, `struct file`s
 * that refer to them, and executable mappings of those files.
 *
 * - {@link InodeModel}: one spare bit of each inode's flags word plus a side hash keyed by inode
 *   address (a {@link BuildIdCache}); eviction with the bit clear does no hash work.
 * - {@link PointerPerFileModel}: PATCHv3, a build-ID pointer in every `struct file`.
 * - {@link PointerPerInodeModel}: RFC v2, a build-ID pointer and a spinlock in every `struct inode`.
 *
 * All three implement {@link BuildIdModel}, so one operation stream drives them side by side.
 * @module
 */
import { BUILD_ID_MAX, BuildIdCache } from "./cache.js";
import { describe } from "./describe.js";
import {
  BUILD_ID_STRUCT_BYTES,
  type DesignName,
  FILE_POINTER_BYTES,
  INODE_FIELDS_BYTES,
  type Population,
  SIDE_BUCKET_BYTES,
  SIDE_BUCKET_SLOTS,
  SIDE_ENTRY_BYTES,
  STOLEN_BIT_INODE_BYTES,
} from "./design-costs.js";
import { parseHexInto, toHex } from "./hex.js";
import type { WasmSource } from "./wasm.js";

// ---- slab allocator -----------------------------------------------------------------------

/** Start of the x86-64 kernel's direct map of physical memory (`page_offset_base` without KASLR). */
export const DIRECT_MAP_BASE = 0xffff888000000000n;

/** How a {@link SlabCache} places new slabs in physical memory. */
export type SlabPlacement = "scattered" | "sequential";

/** Shape of a {@link SlabCache}; the defaults are `ext4_inode_cache` from a real `/proc/slabinfo`. */
export interface SlabOptions {
  /** Bytes per object (`objsize`). Default 1128. */
  objectSize?: number;
  /** Objects per slab (`objperslab`). Default 14. */
  objectsPerSlab?: number;
  /** Bytes per slab, a power of two (`pagesperslab` × 4096). Default 16384. */
  slabSize?: number;
  /** Address of physical byte 0. Default {@link DIRECT_MAP_BASE}. */
  base?: bigint;
  /** `"scattered"` (default): slabs at random free frames, as the page allocator hands them out; `"sequential"`: back to back. */
  placement?: SlabPlacement;
  /** Physical memory that slabs are placed in, a multiple of `slabSize`. Default 64 GiB. */
  physicalBytes?: number;
  /** Seed for scattered placement; the same seed gives the same addresses. Default 1. */
  seed?: number;
}

/** Thrown for an operation on an object in the wrong state (a freed inode, a closed file) or a bad handle. */
export class ModelStateError extends Error {
  /** Always "ModelStateError", so the error can be told apart after serialisation. */
  override name = "ModelStateError";
}

/** Thrown by `verify()` when a model's own invariant is broken. */
export class ModelInvariantError extends Error {
  /** Always "ModelInvariantError", so the error can be told apart after serialisation. */
  override name = "ModelInvariantError";
}

const END = -1;
const ALLOCATED = -2;

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function grow<T extends Int32Array | Uint8Array | Uint32Array | BigUint64Array>(array: T, length: number): T {
  if (length <= array.length) return array;
  const bigger = new (array.constructor as new (n: number) => T)(Math.max(length, array.length * 2));
  bigger.set(array as never);
  return bigger;
}

/** mulberry32: a small seeded PRNG, enough to scatter slabs reproducibly. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A slab cache of fixed-size objects, as the kernel's SLUB keeps inodes. Object handles are
 * `slab * objectsPerSlab + index`; each handle always has the same address. A freed object goes
 * to the head of its slab's free list and is the next one handed out from that slab (LIFO), and
 * the slab that most recently gained a free object serves first, so addresses are reused at once.
 * Empty slabs are never handed back to the page allocator, as under no memory pressure.
 */
export class SlabCache {
  /** Bytes per object. */
  readonly objectSize: number;
  /** Objects per slab. */
  readonly objectsPerSlab: number;
  /** Bytes per slab. */
  readonly slabSize: number;
  /** Address of physical byte 0. */
  readonly base: bigint;
  #frames: number;
  #placement: SlabPlacement;
  #random: () => number;
  #usedFrames = new Set<number>();
  #addresses = new BigUint64Array(0);
  #nextFree = new Int32Array(0); // per object: next free object in its slab, END, or ALLOCATED
  #slabHead = new Int32Array(0); // per slab: first free object, or END
  #partial = new Int32Array(0); // stack of slabs with a free object; the top serves next
  #listed = new Uint8Array(0); // per slab: 1 while on the partial stack
  #partialTop = 0;
  #slabs = 0;
  #live = 0;

  /** @throws RangeError naming the option when the shape is impossible. */
  constructor(options: SlabOptions = {}) {
    this.objectSize = positiveInteger("objectSize", options.objectSize ?? 1128);
    this.objectsPerSlab = positiveInteger("objectsPerSlab", options.objectsPerSlab ?? 14);
    this.slabSize = positiveInteger("slabSize", options.slabSize ?? 16384);
    if ((this.slabSize & (this.slabSize - 1)) !== 0) {
      throw new RangeError(`slabSize must be a power of two, got ${this.slabSize}`);
    }
    if (this.objectSize * this.objectsPerSlab > this.slabSize) {
      throw new RangeError(
        `objectsPerSlab × objectSize (${this.objectsPerSlab} × ${this.objectSize}) exceeds slabSize (${this.slabSize})`,
      );
    }
    const physical = positiveInteger("physicalBytes", options.physicalBytes ?? 64 * 2 ** 30);
    if (physical % this.slabSize !== 0) {
      throw new RangeError(`physicalBytes must be a multiple of slabSize (${this.slabSize}), got ${physical}`);
    }
    this.base = options.base ?? DIRECT_MAP_BASE;
    if (typeof this.base !== "bigint" || this.base < 0n || this.base + BigInt(physical) > 1n << 64n) {
      throw new RangeError(`base must be a bigint with base + physicalBytes <= 2^64, got ${String(this.base)}`);
    }
    if (this.base % BigInt(this.slabSize) !== 0n) {
      throw new RangeError(`base must be aligned to slabSize (${this.slabSize}), got 0x${this.base.toString(16)}`);
    }
    this.#placement = options.placement ?? "scattered";
    if (this.#placement !== "scattered" && this.#placement !== "sequential") {
      throw new RangeError(`placement must be "scattered" or "sequential", got ${JSON.stringify(this.#placement)}`);
    }
    this.#frames = physical / this.slabSize;
    this.#random = mulberry32(options.seed ?? 1);
  }

  /** Objects allocated now. */
  get live(): number {
    return this.#live;
  }

  /** Slabs created so far (none is ever returned). */
  get slabs(): number {
    return this.#slabs;
  }

  /** One more than the largest handle ever handed out: the length per-object arrays need. */
  get handles(): number {
    return this.#slabs * this.objectsPerSlab;
  }

  /** Whether `handle` is allocated now. */
  isAllocated(handle: number): boolean {
    return Number.isInteger(handle) && handle >= 0 && handle < this.handles && this.#nextFree[handle] === ALLOCATED;
  }

  /** The address of object `handle` (allocated or not). */
  address(handle: number): bigint {
    if (!Number.isInteger(handle) || handle < 0 || handle >= this.handles) {
      throw new ModelStateError(`object ${handle} is not a handle of this slab cache (0 to ${this.handles - 1})`);
    }
    return this.#addresses[handle]!;
  }

  /** Takes a free object, reusing the most recently freed address first. */
  allocate(): number {
    if (this.#partialTop === 0) this.#newSlab();
    const slab = this.#partial[this.#partialTop - 1]!;
    const handle = this.#slabHead[slab]!;
    this.#slabHead[slab] = this.#nextFree[handle]!;
    this.#nextFree[handle] = ALLOCATED;
    if (this.#slabHead[slab] === END) {
      this.#partialTop--;
      this.#listed[slab] = 0;
    }
    this.#live++;
    return handle;
  }

  /** Returns object `handle` to its slab's free list. @throws ModelStateError when it is not allocated. */
  free(handle: number): void {
    if (!this.isAllocated(handle)) throw new ModelStateError(`object ${handle} is not allocated`);
    const slab = Math.floor(handle / this.objectsPerSlab);
    this.#nextFree[handle] = this.#slabHead[slab]!;
    this.#slabHead[slab] = handle;
    if (this.#listed[slab] === 0) {
      this.#listed[slab] = 1;
      this.#partial[this.#partialTop++] = slab;
    }
    this.#live--;
  }

  #newSlab(): void {
    if (this.#slabs === this.#frames) {
      throw new RangeError(`slab cache is out of physical memory: ${this.#slabs} slabs of ${this.slabSize} B`);
    }
    const slab = this.#slabs++;
    const per = this.objectsPerSlab;
    const first = slab * per;
    this.#addresses = grow(this.#addresses, first + per);
    this.#nextFree = grow(this.#nextFree, first + per);
    this.#slabHead = grow(this.#slabHead, slab + 1);
    this.#partial = grow(this.#partial, slab + 1);
    this.#listed = grow(this.#listed, slab + 1);
    const start = this.base + BigInt(this.#frame(slab)) * BigInt(this.slabSize);
    for (let i = 0; i < per; i++) {
      this.#addresses[first + i] = start + BigInt(i * this.objectSize);
      this.#nextFree[first + i] = i + 1 < per ? first + i + 1 : END;
    }
    this.#slabHead[slab] = first;
    this.#listed[slab] = 1;
    this.#partial[this.#partialTop++] = slab;
  }

  #frame(slab: number): number {
    if (this.#placement === "sequential") return slab;
    // Rejection sampling stays cheap while the cache uses a small share of physical memory.
    for (;;) {
      const frame = Math.floor(this.#random() * this.#frames);
      if (!this.#usedFrames.has(frame)) {
        this.#usedFrames.add(frame);
        return frame;
      }
    }
  }
}

// ---- the models ---------------------------------------------------------------------------

/** Counters every model keeps. */
export interface ModelCounters {
  /** Inodes allocated from the slab. */
  allocations: number;
  /** Inodes returned to the slab. */
  frees: number;
  /** Files opened. */
  opens: number;
  /** Files closed. */
  closes: number;
  /** Build IDs attached (executable mappings made). */
  attaches: number;
  /** Lookups through a mapping. */
  lookups: number;
  /** Lookups that found a build ID. */
  hits: number;
  /** Lookups that did not. */
  misses: number;
  /** Inodes evicted. */
  evictions: number;
}

/** Options every model takes. */
export interface ModelOptions {
  /** Where inodes live; see {@link SlabOptions}. */
  slab?: SlabOptions;
}

/**
 * The operations a design supports, in kernel terms. Handles are small integers: inodes are
 * slab objects (see {@link SlabCache}), files are `struct file`s. A file holds its inode: an
 * inode with open files cannot be evicted or freed.
 */
export interface BuildIdModel {
  /** Which design this is. */
  readonly design: DesignName;
  /** Where this model's inodes live. */
  readonly slab: SlabCache;
  /** Operation counts so far. */
  readonly counters: Readonly<ModelCounters>;
  /** Allocates an inode (`alloc_inode`); its flags start clear. */
  allocate(): number;
  /** Opens a file on `inode` (a `struct file`); an inode may have many. */
  open(inode: number): number;
  /** Closes `file` (`fput`); its executable mapping, if any, goes with it. */
  close(file: number): void;
  /**
   * Maps `file` executable with the build ID read from it (`mmap(PROT_EXEC)`): 1 to
   * {@link BUILD_ID_MAX} bytes, or hex. Every mapping of one inode must carry the same build ID.
   */
  attach(file: number, buildId: Uint8Array | string): void;
  /** The build ID for a sample in `file`'s executable mapping, in hex, or `undefined`. */
  lookup(file: number): string | undefined;
  /** As {@link BuildIdModel.lookup}, into `out` at `offset`; returns the length, 0 on a miss. Allocates nothing. */
  lookupInto(file: number, out: Uint8Array, offset?: number): number;
  /** Evicts `inode` from memory (`evict()`): runs the design's hook. Its open files must be closed. */
  evict(inode: number): void;
  /** Frees `inode` back to its slab (`destroy_inode`), evicting it first if it is not yet. */
  free(inode: number): void;
  /** The inode `file` refers to. */
  inodeOf(file: number): number;
  /** The address of `inode`: its key in a side hash. */
  addressOf(inode: number): bigint;
  /** Counts of this model's objects now, for {@link designCosts}. */
  population(): Population;
  /** Bytes this design adds for build IDs now; see {@link designCosts} for what each charges. */
  memoryBytes(): number;
}

const INODE_FREE = 0;
const INODE_LIVE = 1;
const INODE_EVICTED = 2;

const FILE_CLOSED = 0;
const FILE_OPEN = 1;
const FILE_MAPPED = 2;

function newCounters(): ModelCounters {
  return { allocations: 0, frees: 0, opens: 0, closes: 0, attaches: 0, lookups: 0, hits: 0, misses: 0, evictions: 0 };
}

/** Files, inode states and argument checks shared by the three designs. */
abstract class ModelBase<C extends ModelCounters = ModelCounters> implements BuildIdModel {
  /** Which design this is. */
  abstract readonly design: DesignName;
  readonly slab: SlabCache;
  readonly counters: C;
  #inodeState = new Uint8Array(0);
  #openFiles = new Int32Array(0); // per inode
  #mappedFiles = new Int32Array(0); // per inode
  #fileInode = new Int32Array(0);
  #fileState = new Uint8Array(0);
  #freeFiles: number[] = []; // LIFO, as the filp cache reuses struct files
  #fileCount = 0;
  #openCount = 0;
  #mappedCount = 0;
  #mappedInodes = 0;
  #scratch = new Uint8Array(BUILD_ID_MAX);

  constructor(options: ModelOptions, counters: C) {
    this.slab = new SlabCache(options.slab);
    this.counters = counters;
  }

  allocate(): number {
    const inode = this.slab.allocate();
    const n = this.slab.handles;
    this.#inodeState = grow(this.#inodeState, n);
    this.#openFiles = grow(this.#openFiles, n);
    this.#mappedFiles = grow(this.#mappedFiles, n);
    this.#inodeState[inode] = INODE_LIVE;
    this.onAllocate(inode, n);
    this.counters.allocations++;
    return inode;
  }

  open(inode: number): number {
    this.#liveInode(inode);
    const file = this.#freeFiles.pop() ?? this.#fileCount++;
    this.#fileInode = grow(this.#fileInode, file + 1);
    this.#fileState = grow(this.#fileState, file + 1);
    this.#fileInode[file] = inode;
    this.#fileState[file] = FILE_OPEN;
    this.onOpen(file, this.#fileCount);
    this.#openFiles[inode]!++;
    this.#openCount++;
    this.counters.opens++;
    return file;
  }

  close(file: number): void {
    const inode = this.#openFile(file);
    if (this.#fileState[file] === FILE_MAPPED) {
      this.#mappedCount--;
      if (--this.#mappedFiles[inode]! === 0) this.#mappedInodes--;
    }
    this.onClose(file);
    this.#fileState[file] = FILE_CLOSED;
    this.#openFiles[inode]!--;
    this.#openCount--;
    this.#freeFiles.push(file);
    this.counters.closes++;
  }

  attach(file: number, buildId: Uint8Array | string): void {
    const inode = this.#openFile(file);
    const id = this.#buildId(buildId);
    this.onAttach(file, inode, id);
    if (this.#fileState[file] !== FILE_MAPPED) {
      this.#fileState[file] = FILE_MAPPED;
      this.#mappedCount++;
      if (this.#mappedFiles[inode]!++ === 0) this.#mappedInodes++;
    }
    this.counters.attaches++;
  }

  lookup(file: number): string | undefined {
    const length = this.lookupInto(file, this.#scratch);
    return length === 0 ? undefined : toHex(this.#scratch, 0, length);
  }

  lookupInto(file: number, out: Uint8Array, offset = 0): number {
    const inode = this.#openFile(file);
    if (this.#fileState[file] !== FILE_MAPPED) throw new ModelStateError(`file ${file} has no executable mapping`);
    if (!(out instanceof Uint8Array)) throw new TypeError(`out must be a Uint8Array, got ${describe(out)}`);
    if (!Number.isInteger(offset) || offset < 0 || offset + BUILD_ID_MAX > out.length) {
      throw new RangeError(`offset ${offset} leaves no room for ${BUILD_ID_MAX} bytes in out of length ${out.length}`);
    }
    const length = this.onLookup(file, inode, out, offset);
    this.counters.lookups++;
    if (length === 0) this.counters.misses++;
    else this.counters.hits++;
    return length;
  }

  evict(inode: number): void {
    this.#liveInode(inode);
    this.#closed(inode, "evicted");
    this.onEvict(inode);
    this.#inodeState[inode] = INODE_EVICTED;
    this.counters.evictions++;
  }

  free(inode: number): void {
    if (!this.slab.isAllocated(inode)) throw new ModelStateError(`inode ${inode} is not allocated`);
    this.#closed(inode, "freed");
    if (this.#inodeState[inode] === INODE_LIVE) this.evict(inode);
    this.#inodeState[inode] = INODE_FREE;
    this.slab.free(inode);
    this.counters.frees++;
  }

  inodeOf(file: number): number {
    return this.#openFile(file);
  }

  addressOf(inode: number): bigint {
    return this.slab.address(inode);
  }

  population(): Population {
    return {
      files: this.#openCount,
      inodes: this.slab.live,
      elfInodes: this.cachedInodes(this.#mappedInodes),
      executableMappings: this.#mappedCount,
    };
  }

  abstract memoryBytes(): number;

  /** Number of files opened and not closed. */
  protected get openCount(): number {
    return this.#openCount;
  }

  /** Checks that `inode` is allocated and not evicted. */
  #liveInode(inode: number): void {
    if (!this.slab.isAllocated(inode)) throw new ModelStateError(`inode ${inode} is not allocated`);
    if (this.#inodeState[inode] !== INODE_LIVE) throw new ModelStateError(`inode ${inode} was evicted`);
  }

  /** Checks that `file` is open and returns its inode. */
  #openFile(file: number): number {
    const state = this.#fileState[file]; // undefined for a handle out of range or not an integer
    if (state === undefined || state === FILE_CLOSED) throw new ModelStateError(`file ${file} is not open`);
    return this.#fileInode[file]!;
  }

  #closed(inode: number, what: string): void {
    const open = this.#openFiles[inode]!;
    if (open > 0) throw new ModelStateError(`inode ${inode} has ${open} open files and cannot be ${what}`);
  }

  #buildId(buildId: Uint8Array | string): Uint8Array {
    if (typeof buildId === "string") {
      checkLength(buildId.length / 2, `build ID ${JSON.stringify(buildId)}`);
      const length = parseHexInto(buildId, this.#scratch, 0, "build ID");
      return this.#scratch.subarray(0, length);
    }
    if (!(buildId instanceof Uint8Array)) {
      throw new TypeError(`build ID must be a Uint8Array or a hex string, got ${describe(buildId)}`);
    }
    checkLength(buildId.length, "build ID");
    return buildId;
  }

  /** A new inode: reset its design state. `handles` is the slab's handle count, for growing arrays. */
  protected abstract onAllocate(inode: number, handles: number): void;
  /** A new file: `files` is the file-table size, for growing arrays. */
  protected onOpen(_file: number, _files: number): void {}
  /** `file` is closing (still open when called): release what the design holds for it. */
  protected onClose(_file: number): void {}
  /** `file` on live `inode` is mapped executable with build ID `id` (1 to {@link BUILD_ID_MAX} bytes): record it. */
  protected abstract onAttach(file: number, inode: number, id: Uint8Array): void;
  /** A lookup through `file`'s mapping on `inode`: write the build ID to `out` at `offset`; returns its length, 0 on a miss. */
  protected abstract onLookup(file: number, inode: number, out: Uint8Array, offset: number): number;
  /** Live `inode`, with no open files, is being evicted: drop the design's build ID for it. */
  protected abstract onEvict(inode: number): void;
  /** Distinct inodes this design holds a build ID for; `mappedInodes` counts those with a mapped file. */
  protected abstract cachedInodes(mappedInodes: number): number;
}

function checkLength(length: number, what: string): void {
  if (!(length >= 1 && length <= BUILD_ID_MAX)) {
    throw new RangeError(`${what} must be 1 to ${BUILD_ID_MAX} bytes, got ${length}`);
  }
}

// ---- stolen bit ---------------------------------------------------------------------------

/** The stolen `i_flags` bit: set while the side hash may hold the inode's build ID. Above every `S_*` flag in `include/linux/fs.h`. */
export const S_BUILD_ID = 0x8000_0000;

/** Counters of {@link InodeModel}: the shared ones plus what the bit decided. */
export interface InodeModelCounters extends ModelCounters {
  /** Lookups answered "no build ID" by a clear bit, with no hash probe. */
  lookupsByBit: number;
  /** Lookups that found the bit set but the entry gone (capacity-evicted); the bit is cleared then. */
  staleBitMisses: number;
  /** Evictions decided by a clear bit alone: no hash work at all. */
  evictionsByBit: number;
  /** Evictions that found the bit set and removed the inode's entry. */
  evictionRemovals: number;
  /** Evictions that found the bit set and no entry (the cache had evicted it). */
  evictionStaleBits: number;
  /** Entries the side hash evicted to make room (their bits stay set: a later miss). */
  capacityEvictions: number;
}

/** Options for {@link InodeModel.create}. */
export interface InodeModelOptions extends ModelOptions {
  /** Most entries in the side hash; see {@link BuildIdCache.create}. */
  capacity: number;
  /** The core to load; see {@link BuildIdCache.create}. */
  wasm?: WasmSource;
}

/**
 * Viro's design: a bit stolen from each inode's 32-bit flags word and a side hash keyed by
 * inode address. Attaching is a hash insert plus setting the bit; a lookup tests the bit
 * before touching the hash; eviction with the bit clear does no hash work, and with it set
 * removes the entry. Invariant: an entry in the side hash implies its inode's bit is set.
 *
 * @example
 * ```ts
 * const model = await InodeModel.create({ capacity: 16384 });
 * const libc = model.allocate();
 * const file = model.open(libc);
 * model.attach(file, "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
 * model.lookup(file); // "4a1b2c3d…"
 * model.close(file);
 * model.free(libc); // bit set: the entry leaves the hash before the address is reused
 * ```
 */
export class InodeModel extends ModelBase<InodeModelCounters> {
  readonly design = "stolen-bit" as const;
  /** The side hash. */
  readonly cache: BuildIdCache;
  #flags = new Uint32Array(0); // i_flags of every inode handle, S_BUILD_ID among them

  private constructor(cache: BuildIdCache, options: ModelOptions) {
    super(options, {
      ...newCounters(),
      lookupsByBit: 0,
      staleBitMisses: 0,
      evictionsByBit: 0,
      evictionRemovals: 0,
      evictionStaleBits: 0,
      capacityEvictions: 0,
    });
    this.cache = cache;
  }

  /**
   * Creates a model whose side hash holds at most `capacity` entries.
   * @throws RangeError naming the bad capacity or slab option.
   */
  static async create(options: InodeModelOptions): Promise<InodeModel> {
    const holder: { model?: InodeModel } = {};
    new SlabCache(options?.slab); // reject a bad slab shape before reserving the table
    const cache = await BuildIdCache.create({
      capacity: options?.capacity,
      wasm: options?.wasm,
      onEvict: () => holder.model!.counters.capacityEvictions++,
    });
    holder.model = new InodeModel(cache, options);
    return holder.model;
  }

  /** Whether `inode`'s stolen bit is set. */
  isFlagged(inode: number): boolean {
    return this.slab.isAllocated(inode) && (this.#flags[inode]! & S_BUILD_ID) !== 0;
  }

  /** The side hash's table: its buckets and entries as reserved (batch buffers excluded). */
  override memoryBytes(): number {
    const stats = this.cache.stats();
    return (
      this.slab.live * STOLEN_BIT_INODE_BYTES +
      (stats.slots / SIDE_BUCKET_SLOTS) * SIDE_BUCKET_BYTES +
      stats.capacity * SIDE_ENTRY_BYTES
    );
  }

  /**
   * Checks that every key in the side hash is the address of an allocated inode whose bit is set.
   * @throws ModelInvariantError naming the first entry that breaks it.
   */
  verify(): void {
    const byAddress = new Map<bigint, number>();
    for (let h = 0; h < this.slab.handles; h++) if (this.slab.isAllocated(h)) byAddress.set(this.slab.address(h), h);
    for (const key of this.cache.keys()) {
      const inode = byAddress.get(key);
      if (inode === undefined)
        throw new ModelInvariantError(`side hash holds 0x${key.toString(16)}, not an allocated inode`);
      if (!this.isFlagged(inode)) {
        throw new ModelInvariantError(`side hash holds 0x${key.toString(16)} but inode ${inode}'s bit is clear`);
      }
    }
  }

  /** Releases the side hash. */
  dispose(): void {
    this.cache.dispose();
  }

  protected override onAllocate(inode: number, handles: number): void {
    this.#flags = grow(this.#flags, handles);
    this.#flags[inode] = 0; // inode_init_always: a reused object starts with clear flags
  }

  protected override onAttach(_file: number, inode: number, id: Uint8Array): void {
    this.cache.set(this.slab.address(inode), id); // may throw: the bit is set only after the entry exists
    this.#flags[inode]! |= S_BUILD_ID;
  }

  protected override onLookup(_file: number, inode: number, out: Uint8Array, offset: number): number {
    if ((this.#flags[inode]! & S_BUILD_ID) === 0) {
      this.counters.lookupsByBit++;
      return 0;
    }
    const length = this.cache.getBytes(this.slab.address(inode), out, offset);
    if (length === 0) {
      this.#flags[inode]! &= ~S_BUILD_ID; // no entry behind the bit: clearing it keeps the invariant
      this.counters.staleBitMisses++;
    }
    return length;
  }

  protected override onEvict(inode: number): void {
    if ((this.#flags[inode]! & S_BUILD_ID) === 0) {
      this.counters.evictionsByBit++;
      return;
    }
    if (this.cache.delete(this.slab.address(inode))) this.counters.evictionRemovals++;
    else this.counters.evictionStaleBits++;
    this.#flags[inode]! &= ~S_BUILD_ID;
  }

  protected override cachedInodes(): number {
    return this.cache.size;
  }
}

// ---- the rivals ---------------------------------------------------------------------------

/** `struct build_id` objects of {@link BUILD_ID_STRUCT_BYTES} bytes from their own slab: u32 size, then the ID. */
class BuildIdStructs {
  #bytes = new Uint8Array(0);
  #free: number[] = [];
  #count = 0;
  live = 0;

  alloc(id: Uint8Array): number {
    const ref = this.#free.pop() ?? this.#count++;
    this.#bytes = grow(this.#bytes, (ref + 1) * BUILD_ID_STRUCT_BYTES);
    this.write(ref, id);
    this.live++;
    return ref;
  }

  write(ref: number, id: Uint8Array): void {
    const at = ref * BUILD_ID_STRUCT_BYTES;
    this.#bytes[at] = id.length;
    this.#bytes.set(id, at + 4);
  }

  read(ref: number, out: Uint8Array, offset: number): number {
    const at = ref * BUILD_ID_STRUCT_BYTES;
    const length = this.#bytes[at]!;
    for (let i = 0; i < length; i++) out[offset + i] = this.#bytes[at + 4 + i]!;
    return length;
  }

  release(ref: number): void {
    this.#free.push(ref);
    this.live--;
  }
}

const NULL = -1;

/**
 * PATCHv3: every `struct file` carries a build-ID pointer ({@link FILE_POINTER_BYTES} B), set when
 * the file is mapped executable to a `struct build_id` freed on close. Files of one inode each
 * hold their own copy; files never mapped still pay for the pointer.
 */
export class PointerPerFileModel extends ModelBase {
  readonly design = "pointer-per-file" as const;
  #pointer = new Int32Array(0); // f_build_id of every file
  #structs = new BuildIdStructs();

  /** @throws RangeError naming a bad slab option. */
  constructor(options: ModelOptions = {}) {
    super(options, newCounters());
  }

  /** Pointers in open files plus live `struct build_id`s. */
  override memoryBytes(): number {
    return this.openCount * FILE_POINTER_BYTES + this.#structs.live * BUILD_ID_STRUCT_BYTES;
  }

  protected override onAllocate(): void {}

  protected override onOpen(file: number, files: number): void {
    this.#pointer = grow(this.#pointer, files);
    this.#pointer[file] = NULL;
  }

  protected override onClose(file: number): void {
    const ref = this.#pointer[file]!;
    if (ref !== NULL) this.#structs.release(ref);
    this.#pointer[file] = NULL;
  }

  protected override onAttach(file: number, _inode: number, id: Uint8Array): void {
    const ref = this.#pointer[file]!;
    if (ref === NULL) this.#pointer[file] = this.#structs.alloc(id);
    else this.#structs.write(ref, id);
  }

  protected override onLookup(file: number, _inode: number, out: Uint8Array, offset: number): number {
    const ref = this.#pointer[file]!;
    return ref === NULL ? 0 : this.#structs.read(ref, out, offset);
  }

  protected override onEvict(): void {}

  protected override cachedInodes(mappedInodes: number): number {
    return mappedInodes;
  }
}

/**
 * RFC v2: every `struct inode` carries a build-ID pointer and a spinlock
 * ({@link INODE_FIELDS_BYTES} B with padding); the `struct build_id` is set at the first
 * executable mapping and freed at eviction. Inodes never mapped still pay for both fields.
 */
export class PointerPerInodeModel extends ModelBase {
  readonly design = "pointer-per-inode" as const;
  #pointer = new Int32Array(0); // i_build_id of every inode
  #lock = new Uint32Array(0); // i_build_id_lock of every inode
  #structs = new BuildIdStructs();

  /** @throws RangeError naming a bad slab option. */
  constructor(options: ModelOptions = {}) {
    super(options, newCounters());
  }

  /** Pointer and lock in every allocated inode plus live `struct build_id`s. */
  override memoryBytes(): number {
    return this.slab.live * INODE_FIELDS_BYTES + this.#structs.live * BUILD_ID_STRUCT_BYTES;
  }

  protected override onAllocate(inode: number, handles: number): void {
    this.#pointer = grow(this.#pointer, handles);
    this.#lock = grow(this.#lock, handles);
    this.#pointer[inode] = NULL;
    this.#lock[inode] = 0;
  }

  protected override onAttach(_file: number, inode: number, id: Uint8Array): void {
    this.#lock[inode] = 1;
    const ref = this.#pointer[inode]!;
    if (ref === NULL) this.#pointer[inode] = this.#structs.alloc(id);
    else this.#structs.write(ref, id);
    this.#lock[inode] = 0;
  }

  protected override onLookup(_file: number, inode: number, out: Uint8Array, offset: number): number {
    const ref = this.#pointer[inode]!;
    return ref === NULL ? 0 : this.#structs.read(ref, out, offset);
  }

  protected override onEvict(inode: number): void {
    this.#lock[inode] = 1;
    const ref = this.#pointer[inode]!;
    if (ref !== NULL) this.#structs.release(ref);
    this.#pointer[inode] = NULL;
    this.#lock[inode] = 0;
  }

  protected override cachedInodes(): number {
    return this.#structs.live;
  }
}

/** Options for {@link createModel}: `capacity` and `wasm` apply to the stolen-bit design only. */
export type AnyModelOptions = InodeModelOptions;

/** Creates the model of `design`; the rivals ignore `capacity` (they never evict). */
export async function createModel(
  design: DesignName,
  options: AnyModelOptions,
): Promise<
  BuildIdModel & {
    /** Releases the side hash; present only on the stolen-bit model. */
    dispose?(): void;
  }
> {
  switch (design) {
    case "stolen-bit":
      return InodeModel.create(options);
    case "pointer-per-file":
      return new PointerPerFileModel(options);
    case "pointer-per-inode":
      return new PointerPerInodeModel(options);
    default:
      throw new RangeError(
        `design must be "pointer-per-file", "pointer-per-inode" or "stolen-bit", got ${describe(design)}`,
      );
  }
}

// ---- hashing slab addresses ---------------------------------------------------------------

/** The kernel's `GOLDEN_RATIO_64` (include/linux/hash.h), the core's multiplier. */
export const GOLDEN_RATIO_64 = 0x61c8864680b583ebn;

const GOLDEN_HI = Number(GOLDEN_RATIO_64 >> 32n);
const GOLDEN_LO = Number(GOLDEN_RATIO_64 & 0xffffffffn);

/** High 32 bits of the 64-bit product of two u32 values. */
function mulHigh32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid1 = a1 * b0;
  const mid2 = a0 * b1;
  const carry = (((a0 * b0) >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** A hash from a u64 key, given as 32-bit halves, to a home slot in a table of 2^`bits` slots. */
export type HomeFunction = (hi: number, lo: number) => number;

/** The core's hash: the top `bits` (1..32) of `key * GOLDEN_RATIO_64 mod 2^64`. */
export function multiplicativeHome(bits: number): HomeFunction {
  const shift = 32 - bits;
  return (hi, lo) => {
    const top = (mulHigh32(lo, GOLDEN_LO) + Math.imul(lo, GOLDEN_HI) + Math.imul(hi, GOLDEN_LO)) >>> 0;
    return top >>> shift;
  };
}

/** "Middle bits": `(key >> shift) & (2^bits - 1)`, for `shift` 0..31 and `bits` 1..31. */
export function middleBitsHome(shift: number, bits: number): HomeFunction {
  const mask = (1 << bits) - 1;
  return shift === 0 ? (_hi, lo) => lo & mask : (hi, lo) => ((lo >>> shift) | (hi << (32 - shift))) & mask;
}

/**
 * Inserts `keys` in order into a linear-probing table of 2^`bits` slots placed by `home`, and
 * returns each key's probe length (1: at its home), as the core counts them.
 * @throws RangeError when there are more keys than slots.
 */
export function probeLengths(keys: BigUint64Array, bits: number, home: HomeFunction): Uint32Array {
  const slots = 2 ** bits;
  if (keys.length >= slots) {
    throw new RangeError(`${keys.length} keys do not fit a table of ${slots} slots with one empty`);
  }
  const mask = slots - 1;
  // next[p] === p for an empty slot, else a later slot of the same cluster or the empty one after it.
  // Path halving over next finds a cluster's end in near-constant time: a hash that piles every
  // key into one cluster costs O(n) here, not O(n^2).
  const next = new Int32Array(slots);
  for (let p = 0; p < slots; p++) next[p] = p;
  const lengths = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const start = home(Number(key >> 32n), Number(key & 0xffffffffn));
    let pos = start;
    while (next[pos] !== pos) {
      const skip = next[next[pos]!]!;
      next[pos] = skip;
      pos = skip;
    }
    next[pos] = (pos + 1) & mask;
    lengths[i] = ((pos - start) & mask) + 1;
  }
  return lengths;
}
