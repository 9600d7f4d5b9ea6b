/**
 * The reading side of a shared cache, `buildid-cache/shared`: a thread that attaches to the table
 * another thread writes ({@link BuildIdCache.share}). Its own entry, so a program that never
 * shares a cache carries none of it.
 * @module
 */
import type { BuildIdCache } from "./cache.js";
import { instance, integer, room, u64 } from "./check.js";
import { toHex } from "./hex.js";
import { BATCH, BUILD_ID_MAX, ERR_NO_MEMORY, OK } from "./layout.js";
import { checkHandle, type SharedCacheHandle } from "./shared-handle.js";
import { instantiateModule, type SharedCoreExports } from "./wasm.js";

export type { SharedCacheHandle } from "./shared-handle.js";

/** Counters and shape of a reader, from {@link BuildIdCacheReader.stats}; counters are this reader's own. */
export interface BuildIdCacheReaderStats {
  /** Live entries, as the writer last published them. */
  size: number;
  /** Most live entries. */
  capacity: number;
  /** Lookups by this reader that found their key. */
  hits: number;
  /** Lookups by this reader that did not, contended ones included. */
  misses: number;
  /** Reads (`has` included) that reported a miss because the writer changed the table meanwhile. */
  contendedMisses: number;
}

/**
 * A thread's read-only view of a shared {@link BuildIdCache}: the table stays where the writer
 * keeps it, and every lookup reads it there. Wait-free: a lookup never waits for the writer; one
 * that overlaps a change reports a miss (counted in `contendedMisses`), never a torn build ID or
 * another key's. One writer: a reader has no method that changes the table.
 *
 * @example
 * ```ts
 * // main thread
 * const cache = await BuildIdCache.create({ capacity: 16384, shared: true });
 * worker.postMessage(cache.share());
 * // worker
 * const reader = await BuildIdCacheReader.attach(handle);
 * reader.get(0xffff888012345678n);
 * ```
 */
export class BuildIdCacheReader {
  #core: SharedCoreExports;
  #bytes: Uint8Array;
  #words: BigUint64Array;
  #ioKeys: number;
  #ioIds: number;
  #ioLens: number;

  private constructor(core: SharedCoreExports) {
    this.#core = core;
    this.#ioKeys = core.ioKeys.value as number;
    this.#ioIds = core.ioIds.value as number;
    this.#ioLens = core.ioLens.value as number;
    // attach() grew the memory for this reader's batch buffers; nothing grows it on its behalf again.
    this.#bytes = new Uint8Array(core.memory.buffer);
    this.#words = new BigUint64Array(core.memory.buffer);
  }

  /**
   * Attaches to the table of a {@link SharedCacheHandle}, in this thread or another one. Each
   * reader takes one 64 KiB page of the shared memory for its batch buffers, for good.
   * @throws TypeError naming the bad field of `handle`; RangeError when the memory has no room left.
   */
  static async attach(handle: SharedCacheHandle): Promise<BuildIdCacheReader> {
    const { module, memory, header } = checkHandle(handle);
    const core = (await instantiateModule(module, memory)) as SharedCoreExports;
    const status = core.attach(header);
    if (status === ERR_NO_MEMORY) throw new RangeError("the shared memory has no room for this reader's batch buffers");
    if (status !== OK) throw new Error(`BuildIdCacheReader: attach failed with status ${status}`);
    return new BuildIdCacheReader(core);
  }

  /** Live entries, as the writer last published them. */
  get size(): number {
    return this.#core.sharedSize();
  }

  /** Most live entries; set at creation. */
  get capacity(): number {
    return this.#core.capacity.value as number;
  }

  /** The build ID for `key` in lowercase hex, or `undefined` (also when the read was contended). */
  get(key: bigint): string | undefined {
    u64("key", key);
    const length = this.#core.readLookup(key, this.#ioIds);
    return length === 0 ? undefined : toHex(this.#bytes, this.#ioIds, length);
  }

  /**
   * Copies the build ID for `key` into `out` at `offset` and returns its length, or 0 on a miss,
   * as {@link BuildIdCache.getBytes} does: a hit writes {@link BUILD_ID_MAX} bytes.
   */
  getBytes(key: bigint, out: Uint8Array, offset = 0): number {
    u64("key", key);
    instance("out", out, Uint8Array);
    integer("offset", offset, 0);
    if (offset + BUILD_ID_MAX > out.length) {
      throw new RangeError(`offset ${offset} leaves no room for ${BUILD_ID_MAX} bytes in out of length ${out.length}`);
    }
    const length = this.#core.readLookup(key, this.#ioIds);
    if (length === 0) return 0;
    for (let i = 0; i < BUILD_ID_MAX; i++) out[offset + i] = this.#bytes[this.#ioIds + i]!;
    return length;
  }

  /** Whether `key` is present (false also when the read was contended). */
  has(key: bigint): boolean {
    u64("key", key);
    return this.#core.readContains(key) !== 0;
  }

  /**
   * Looks up every key as {@link BuildIdCache.getMany} does: build IDs to `out` at
   * `i * BUILD_ID_MAX`, lengths to `lengths[i]` (0: miss). Returns the number of hits.
   */
  getMany(keys: BigUint64Array, out: Uint8Array, lengths: Uint8Array): number {
    const count = instance("keys", keys, BigUint64Array).length;
    room("out", instance("out", out, Uint8Array), count * BUILD_ID_MAX);
    room("lengths", instance("lengths", lengths, Uint8Array), count);
    const bytes = this.#bytes;
    let hits = 0;
    for (let start = 0; start < count; start += BATCH) {
      const n = Math.min(BATCH, count - start);
      this.#words.set(keys.subarray(start, start + n), this.#ioKeys / 8);
      hits += this.#core.readMany(n);
      out.set(bytes.subarray(this.#ioIds, this.#ioIds + n * BUILD_ID_MAX), start * BUILD_ID_MAX);
      lengths.set(bytes.subarray(this.#ioLens, this.#ioLens + n), start);
    }
    return hits;
  }

  /** This reader's counters and the table's shape. */
  stats(): BuildIdCacheReaderStats {
    const core = this.#core;
    return {
      size: this.size,
      capacity: this.capacity,
      hits: Number(core.hits.value),
      misses: Number(core.misses.value),
      contendedMisses: Number(core.contendedMisses()),
    };
  }

  /**
   * The reader's lookup as its three steps, for the test that interleaves them with writes.
   * @internal
   */
  get steps(): {
    begin(): bigint;
    probe(key: bigint): number;
    end(begun: bigint): boolean;
    id(length: number): string;
  } {
    const core = this.#core;
    return {
      begin: () => core.readBegin(),
      probe: (key) => core.readProbe(key, this.#ioIds),
      end: (begun) => core.readEnd(begun) !== 0,
      id: (length) => toHex(this.#bytes, this.#ioIds, length),
    };
  }
}
