/**
 * What every design shares: the operations in kernel terms ({@link BuildIdModel}), their counters,
 * and the base class that keeps inode and file states and checks every argument, leaving each
 * design only its hooks.
 * @module
 */
import { instance, integer } from "../check.js";
import { describe } from "../describe.js";
import { parseHexInto, toHex } from "../hex.js";
import { BUILD_ID_MAX } from "../layout.js";
import type { DesignName, Population } from "./costs.js";
import { ModelStateError } from "./errors.js";
import { grow } from "./grow.js";
import { SlabCache, type SlabOptions } from "./slab.js";

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

/** Every shared counter at zero. */
export function newCounters(): ModelCounters {
  return { allocations: 0, frees: 0, opens: 0, closes: 0, attaches: 0, lookups: 0, hits: 0, misses: 0, evictions: 0 };
}

/** Files, inode states and argument checks shared by the three designs. */
export abstract class ModelBase<C extends ModelCounters = ModelCounters> implements BuildIdModel {
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
    instance("out", out, Uint8Array);
    integer("offset", offset, 0);
    if (offset + BUILD_ID_MAX > out.length) {
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
    throw new RangeError(`${what} must be 1 to ${BUILD_ID_MAX} bytes, got ${describe(length)}`);
  }
}
