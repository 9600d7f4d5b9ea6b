/**
 * The slab allocator the model's inodes come from: fixed-size objects at direct-map addresses,
 * reused LIFO as SLUB reuses them, so freed inode addresses come back at once.
 * @module
 */
import { integer, oneOf, u64 } from "../check.js";
import { ModelStateError } from "./errors.js";
import { grow } from "./grow.js";

/** Start of the x86-64 kernel's direct map of physical memory (`page_offset_base` without KASLR). */
export const DIRECT_MAP_BASE = 0xffff888000000000n;

/** How a {@link SlabCache} may place new slabs in physical memory; see {@link SlabOptions.placement}. */
export const SLAB_PLACEMENTS = ["scattered", "sequential"] as const;

/** One of {@link SLAB_PLACEMENTS}. */
export type SlabPlacement = (typeof SLAB_PLACEMENTS)[number];

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
  /** Seed for scattered placement, 0 to 2^32 - 1; the same seed gives the same addresses. Default 1. */
  seed?: number;
}

const END = -1;
const ALLOCATED = -2;

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

  /** @throws TypeError or RangeError naming the option when the shape is impossible. */
  constructor(options: SlabOptions = {}) {
    this.objectSize = integer("objectSize", options.objectSize ?? 1128, 1);
    this.objectsPerSlab = integer("objectsPerSlab", options.objectsPerSlab ?? 14, 1);
    this.slabSize = integer("slabSize", options.slabSize ?? 16384, 1);
    if ((this.slabSize & (this.slabSize - 1)) !== 0) {
      throw new RangeError(`slabSize must be a power of two, got ${this.slabSize}`);
    }
    if (this.objectSize * this.objectsPerSlab > this.slabSize) {
      throw new RangeError(
        `objectsPerSlab × objectSize (${this.objectsPerSlab} × ${this.objectSize}) exceeds slabSize (${this.slabSize})`,
      );
    }
    const physical = integer("physicalBytes", options.physicalBytes ?? 64 * 2 ** 30, 1);
    if (physical % this.slabSize !== 0) {
      throw new RangeError(`physicalBytes must be a multiple of slabSize (${this.slabSize}), got ${physical}`);
    }
    this.base = u64("base", options.base ?? DIRECT_MAP_BASE);
    if (this.base + BigInt(physical) > 1n << 64n) {
      throw new RangeError(`base must leave room for physicalBytes below 2^64, got 0x${this.base.toString(16)}`);
    }
    if (this.base % BigInt(this.slabSize) !== 0n) {
      throw new RangeError(`base must be aligned to slabSize (${this.slabSize}), got 0x${this.base.toString(16)}`);
    }
    this.#placement = oneOf("placement", options.placement ?? "scattered", SLAB_PLACEMENTS);
    const seed = integer("seed", options.seed ?? 1, 0, 0xffff_ffff);
    this.#frames = physical / this.slabSize;
    this.#random = mulberry32(seed);
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
