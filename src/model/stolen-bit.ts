/**
 * Viro's design: one bit stolen from each inode's `i_flags` and a side hash keyed by inode
 * address (a {@link BuildIdCache}); eviction with the bit clear does no hash work.
 * @module
 */
import { BuildIdCache } from "../cache.js";
import type { WasmSource } from "../wasm.js";
import { ModelBase, type ModelCounters, type ModelOptions, newCounters } from "./base.js";
import { SIDE_ENTRY_BYTES, SIDE_SLOT_BYTES, STOLEN_BIT_INODE_BYTES } from "./costs.js";
import { ModelInvariantError } from "./errors.js";
import { grow } from "./grow.js";
import { SlabCache } from "./slab.js";

/** The stolen `i_flags` bit: set while the side hash may hold the inode's build ID. Above every `S_*` flag in `include/linux/fs.h`. */
export const S_BUILD_ID = 0x8000_0000;

/** Counters of {@link StolenBitModel}: the shared ones plus what the bit decided. */
export interface StolenBitModelCounters extends ModelCounters {
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

/** Options for {@link StolenBitModel.create}. */
export interface StolenBitModelOptions extends ModelOptions {
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
 * const model = await StolenBitModel.create({ capacity: 16384 });
 * const libc = model.allocate();
 * const file = model.open(libc);
 * model.attach(file, "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
 * model.lookup(file); // "4a1b2c3d…"
 * model.close(file);
 * model.free(libc); // bit set: the entry leaves the hash before the address is reused
 * ```
 */
export class StolenBitModel extends ModelBase<StolenBitModelCounters> {
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
   * @throws TypeError or RangeError naming the bad capacity or slab option.
   */
  static async create(options: StolenBitModelOptions): Promise<StolenBitModel> {
    const holder: { model?: StolenBitModel } = {};
    new SlabCache(options?.slab); // reject a bad slab shape before reserving the table
    const cache = await BuildIdCache.create({
      capacity: options?.capacity,
      wasm: options?.wasm,
      onEvict: () => holder.model!.counters.capacityEvictions++,
    });
    holder.model = new StolenBitModel(cache, options);
    return holder.model;
  }

  /** Whether `inode`'s stolen bit is set. */
  isFlagged(inode: number): boolean {
    return this.slab.isAllocated(inode) && (this.#flags[inode]! & S_BUILD_ID) !== 0;
  }

  /** The side hash's table: its index slots and entries as reserved (batch buffers excluded). */
  override memoryBytes(): number {
    const stats = this.cache.stats();
    return this.slab.live * STOLEN_BIT_INODE_BYTES + stats.slots * SIDE_SLOT_BYTES + stats.capacity * SIDE_ENTRY_BYTES;
  }

  /**
   * Checks invariant 2 of the design: every key in the side hash is the address of an allocated
   * inode ("entry without an inode" otherwise) whose bit is set ("entry without its bit").
   * @throws ModelInvariantError naming the broken invariant and the first entry that breaks it.
   */
  verify(): void {
    const byAddress = new Map<bigint, number>();
    for (let h = 0; h < this.slab.handles; h++) if (this.slab.isAllocated(h)) byAddress.set(this.slab.address(h), h);
    for (const key of this.cache.keys()) {
      const inode = byAddress.get(key);
      if (inode === undefined) {
        throw new ModelInvariantError(
          `entry without an inode: side hash holds 0x${key.toString(16)}, not an allocated inode`,
        );
      }
      if (!this.isFlagged(inode)) {
        throw new ModelInvariantError(
          `entry without its bit: side hash holds 0x${key.toString(16)} but inode ${inode}'s bit is clear`,
        );
      }
    }
  }

  /** @internal White-box access for tests that corrupt a model on purpose: the live flags words. */
  static exposeInternals(model: StolenBitModel): { readonly flags: Uint32Array } {
    return {
      get flags() {
        return model.#flags;
      },
    };
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
