import { bool, func, instance, integer, room, u64 } from "./check.js";
import { describe } from "./describe.js";
import { parseHexInto, toHex } from "./hex.js";
import {
  BATCH,
  BUILD_ID_MAX,
  ENTRY_SIZE,
  ERR_NO_MEMORY,
  ERR_WRITER,
  ID_OFFSET,
  INSERTED_EVICTING,
  KEY_OFFSET,
  LEN_MASK,
  MAX_CAPACITY,
  META_OFFSET,
  OK,
  REF_BIT,
  SHARED_MAX_PAGES,
  UPDATED,
} from "./layout.js";
import type { BuildIdCacheReader } from "./shared.js";
import { checkHandle, type SharedCacheHandle } from "./shared-handle.js";
import {
  decodeSnapshot,
  encodeSnapshot,
  RECORD_ID_OFFSET,
  RECORD_KEY_OFFSET,
  RECORD_LEN_OFFSET,
  RECORD_REF_OFFSET,
  SNAPSHOT_ENTRY_SIZE,
  SnapshotError,
} from "./snapshot.js";
import { type CoreExports, compileCore, instantiateModule, type SharedCoreExports, type WasmSource } from "./wasm.js";

export { BUILD_ID_MAX, MAX_CAPACITY } from "./layout.js";

/** Options for {@link BuildIdCache.create}. */
export interface BuildIdCacheOptions {
  /** Most live entries; an insert beyond it evicts one (CLOCK). A positive integer up to {@link MAX_CAPACITY}. */
  capacity: number;
  /** Called with each key that an insert evicted to make room. Costs nothing when absent. */
  onEvict?: (key: bigint) => void;
  /** The core to load instead of the packaged one: a compiled module, its bytes, or a URL. */
  wasm?: WasmSource;
  /**
   * Puts the table in a shared memory that {@link BuildIdCache.share} hands to other threads,
   * where {@link BuildIdCacheReader.attach} reads it. The creating thread is the one writer.
   * Loads the shared build of the core (`wasm`, when given, must be that build). Default false.
   */
  shared?: boolean;
}

/** Thrown by {@link BuildIdCache.attach} while another thread holds the shared table as its writer. */
export class WriterClaimedError extends Error {
  /** Always "WriterClaimedError", so the error can be told apart after serialisation. */
  override name = "WriterClaimedError";
  constructor() {
    super("BuildIdCache.attach: the shared table already has a writer (one writer at a time; dispose it first)");
  }
}

/** Counters and shape of a cache, from {@link BuildIdCache.stats}. */
export interface BuildIdCacheStats {
  /** Live entries. */
  size: number;
  /** Most live entries. */
  capacity: number;
  /** Slots in the open-addressing table (15 per 64-byte bucket, at most 7/8 of them full). */
  slots: number;
  /** Inserts of new keys (including those that evicted another). */
  inserts: number;
  /** Inserts that replaced the build ID of a present key. */
  updates: number;
  /** Lookups that found their key (`get`, `getBytes`, `getMany`). */
  hits: number;
  /** Lookups that did not. */
  misses: number;
  /** Keys removed by `delete` or `deleteMany`. */
  removals: number;
  /** Keys evicted by inserts into a full cache. */
  evictions: number;
  /** Mean buckets probed to find a live key (1: in its home bucket); 0 when empty. */
  probeMean: number;
  /** Most buckets probed to find any live key. */
  probeMax: number;
  /** Bytes the table reserved at creation: buckets, entries and batch buffers. */
  reservedBytes: number;
  /** Bytes of the cache's linear memory, everything included. */
  memoryBytes: number;
}

/** Thrown by every method of a cache after {@link BuildIdCache.dispose}. */
export class CacheDisposedError extends Error {
  /** Always "CacheDisposedError", so the error can be told apart after serialisation. */
  override name = "CacheDisposedError";
  constructor() {
    super("BuildIdCache: the cache was disposed");
  }
}

/**
 * Thrown by {@link BuildIdCache.setMany} when it stopped part way: keys `[0, applied)` of the
 * batch were inserted, and every eviction they made was reported; the rest were not inserted.
 * `errors` holds why: what `onEvict` threw, in order, or the check that failed after it (it
 * disposed the cache, or shrank a caller's resizable array).
 */
export class SetManyError extends AggregateError {
  /** Always "SetManyError", so the error can be told apart after serialisation. */
  override name = "SetManyError";
  /** Keys of the batch, from its start, that were inserted. */
  readonly applied: number;
  /** `prefix` leads the first error's message in this one's: what threw it. */
  constructor(errors: unknown[], applied: number, total: number, prefix: string) {
    const first = errors[0] instanceof Error ? errors[0].message : describe(errors[0]);
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
    super(errors, `setMany applied ${applied} of ${total} keys, then stopped: ${prefix}${first}${more}`);
    this.applied = applied;
  }
}

const isBuildIdLength = (length: number): boolean => Number.isInteger(length) && length >= 1 && length <= BUILD_ID_MAX;

function badBuildIdLength(length: number, what: string): never {
  throw new RangeError(`${what} must be 1 to ${BUILD_ID_MAX} bytes, got ${describe(length)}`);
}

function badOffset(out: Uint8Array, offset: number): never {
  integer("offset", offset, 0);
  throw new RangeError(`offset ${offset} leaves no room for ${BUILD_ID_MAX} bytes in out of length ${out.length}`);
}

function badIndex(keys: BigUint64Array, index: number): never {
  integer("index", index, 0);
  throw new RangeError(`index ${index} is past the end of keys (length ${keys.length})`);
}

function checkBytes(name: string, array: Uint8Array, needed: number): void {
  room(name, instance(name, array, Uint8Array), needed);
}

const disposed = new Proxy({} as CoreExports, {
  get() {
    throw new CacheDisposedError();
  },
});

/**
 * A bounded map from 64-bit keys (inode addresses, packed `(device, inode)` pairs) to ELF
 * build IDs of 1 to {@link BUILD_ID_MAX} bytes, kept in WebAssembly linear memory.
 *
 * Lookups allocate nothing; the batch forms ({@link BuildIdCache.getMany},
 * {@link BuildIdCache.setMany}, {@link BuildIdCache.deleteMany}) do a thousand keys per call
 * into the core. When full, an insert evicts one entry chosen by CLOCK.
 *
 * @example
 * ```ts
 * const cache = await BuildIdCache.create({ capacity: 16384 });
 * cache.set(0xffff888012345678n, "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567");
 * cache.get(0xffff888012345678n); // "4a1b2c3d…"
 * ```
 */
export class BuildIdCache implements Iterable<[bigint, string]> {
  #core: CoreExports;
  #bytes: Uint8Array;
  #words: BigUint64Array;
  #u32: Uint32Array;
  #view: DataView;
  #out: Uint8Array | undefined;
  #outView: DataView | undefined;
  #out32: Uint32Array = new Uint32Array(0);
  #found: Uint8Array;
  /** The last `keys` getBytesAt, findAt or setAt checked. */
  #keys: BigUint64Array | undefined;
  #onEvict: ((key: bigint) => void) | undefined;
  #capacity: number;
  #ioKeys: number;
  #ioIds: number;
  #ioLens: number;
  #ioEvicted: number;
  #version = 0;
  #handle: SharedCacheHandle | undefined;

  private constructor(
    core: CoreExports,
    capacity: number,
    onEvict: ((key: bigint) => void) | undefined,
    handle?: SharedCacheHandle,
  ) {
    this.#core = core;
    this.#handle = handle;
    this.#capacity = capacity;
    this.#onEvict = onEvict;
    this.#ioKeys = core.ioKeys.value as number;
    this.#ioIds = core.ioIds.value as number;
    this.#ioLens = core.ioLens.value as number;
    this.#ioEvicted = core.ioEvicted.value as number;
    // Memory grew in init() and never grows again, so these views stay attached.
    this.#bytes = new Uint8Array(core.memory.buffer);
    this.#words = new BigUint64Array(core.memory.buffer);
    this.#u32 = new Uint32Array(core.memory.buffer);
    this.#view = new DataView(core.memory.buffer);
    this.#found = new Uint8Array(core.memory.buffer, this.#ioIds, BUILD_ID_MAX);
  }

  /**
   * Creates a cache holding at most `capacity` entries, reserving all its memory now.
   * @throws TypeError when `capacity` is not a number or `onEvict` not a function; RangeError when
   *   `capacity` is not an integer in [1, {@link MAX_CAPACITY}] or its memory cannot be reserved.
   *   Nothing is allocated for the table in either case.
   */
  static async create(options: BuildIdCacheOptions): Promise<BuildIdCache> {
    const capacity = integer("capacity", options?.capacity, 1, MAX_CAPACITY);
    if (options.onEvict !== undefined) func("onEvict", options.onEvict);
    const isShared = options.shared !== undefined && bool("shared", options.shared);
    const module = await compileCore(options.wasm, isShared);
    const memory = isShared
      ? new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true })
      : undefined;
    const core = await instantiateModule(module, memory);
    const status = core.init(capacity);
    if (status === ERR_NO_MEMORY) {
      throw new RangeError(`capacity ${capacity} does not fit in WebAssembly memory`);
    }
    if (status !== OK) throw new Error(`BuildIdCache: core init failed with status ${status}`);
    const handle = memory && { module, memory, header: (core as SharedCoreExports).headerAddress() };
    return new BuildIdCache(core, capacity, options.onEvict, handle);
  }

  /**
   * Becomes the writer of a shared table another thread created: the one writer, once the last
   * one disposed itself. Readers attach with {@link BuildIdCacheReader.attach} instead.
   * @throws {@link WriterClaimedError} while another thread holds the table as its writer.
   */
  static async attach(
    handle: SharedCacheHandle,
    options?: Pick<BuildIdCacheOptions, "onEvict">,
  ): Promise<BuildIdCache> {
    const { module, memory, header } = checkHandle(handle);
    if (options?.onEvict !== undefined) func("onEvict", options.onEvict);
    const core = (await instantiateModule(module, memory)) as SharedCoreExports;
    const status = core.attachWriter(header);
    if (status === ERR_WRITER) throw new WriterClaimedError();
    if (status === ERR_NO_MEMORY) throw new RangeError("the shared memory has no room for this thread's batch buffers");
    return new BuildIdCache(core, core.capacity.value as number, options?.onEvict, { module, memory, header });
  }

  /**
   * The handle that other threads attach to: post it to a Worker, where
   * {@link BuildIdCacheReader.attach} gives a reader. This thread stays the one writer: other
   * threads only read, and {@link BuildIdCache.attach} refuses a second writer.
   * @throws TypeError when the cache was not created with `shared: true`.
   */
  share(): SharedCacheHandle {
    this.#alive();
    if (!this.#handle) throw new TypeError("share() needs a cache created with shared: true");
    return this.#handle;
  }

  /** Live entries. */
  get size(): number {
    return this.#core.count.value as number;
  }

  /** Most live entries; set at creation. */
  get capacity(): number {
    return this.#capacity;
  }

  // Methods that write the I/O region before calling the core check this first.
  #alive(): void {
    if (this.#core === disposed) throw new CacheDisposedError();
  }

  #stage(buildId: Uint8Array | string, at: number): number {
    this.#alive();
    if (typeof buildId === "string") {
      // The message quotes the whole string: built only on the way to throwing.
      const bytes = buildId.length / 2;
      if (buildId.length % 2 === 0 && !isBuildIdLength(bytes)) badBuildIdLength(bytes, `build ID ${describe(buildId)}`);
      return parseHexInto(buildId, this.#bytes, at, "build ID");
    }
    if (!(buildId instanceof Uint8Array)) {
      throw new TypeError(`build ID must be a Uint8Array or a hex string, got ${describe(buildId)}`);
    }
    if (!isBuildIdLength(buildId.length)) badBuildIdLength(buildId.length, "build ID");
    this.#bytes.set(buildId, at);
    return buildId.length;
  }

  /**
   * Maps `key` to `buildId` (bytes, or hex in either case). In a full cache a new key evicts
   * one entry, reported to `onEvict`; a key already held is updated and marked recently used.
   * @throws TypeError or RangeError naming the bad key or build ID; the cache is unchanged.
   */
  set(key: bigint, buildId: Uint8Array | string): this {
    u64("key", key);
    this.#insert(key, this.#stage(buildId, this.#ioIds));
    return this;
  }

  /**
   * {@link BuildIdCache.set} for `keys[index]`, taken as {@link BuildIdCache.findAt} takes it: no BigInt made.
   * @throws as findAt and set do.
   */
  setAt(keys: BigUint64Array, index: number, buildId: Uint8Array | string): this {
    if (keys !== this.#keys) this.#keys = instance("keys", keys, BigUint64Array);
    if (index >>> 0 !== index || index >= keys.length) badIndex(keys, index);
    this.#insert(keys[index]!, this.#stage(buildId, this.#ioIds));
    return this;
  }

  #insert(key: bigint, length: number): void {
    const status = this.#core.insert(key, this.#ioIds, length);
    this.#version++;
    if (status === INSERTED_EVICTING && this.#onEvict)
      this.#onEvict(BigInt.asUintN(64, this.#core.evictedKey.value as bigint)); // i64 arrives signed
  }

  /** The build ID for `key` in lowercase hex, or `undefined`. Marks the entry as recently used. */
  get(key: bigint): string | undefined {
    u64("key", key);
    const length = this.#core.lookup(key, this.#ioIds);
    return length === 0 ? undefined : toHex(this.#bytes, this.#ioIds, length);
  }

  /**
   * Copies the build ID for `key` into `out` at `offset` and returns its length, or 0 on a
   * miss. A hit writes {@link BUILD_ID_MAX} bytes, zero past the ID's length, so `out` needs
   * that much room at `offset`, and marks the entry as recently used. Allocates nothing (while
   * `out` stays the same array).
   */
  getBytes(key: bigint, out: Uint8Array, offset = 0): number {
    u64("key", key);
    if (out !== this.#out) this.#setOut(out);
    // One test for the usual case: a u32 offset with room; the exact message only on the way to throwing.
    if (offset >>> 0 !== offset || offset + BUILD_ID_MAX > out.length) badOffset(out, offset);
    return this.#copyOut(this.#core.lookup(key, this.#ioIds), offset);
  }

  /**
   * {@link BuildIdCache.getBytes} for the key `keys[index]`, as a profiler holds keys decoded from
   * its sample records: an element of a `BigUint64Array` is a u64 by construction, so no BigInt is
   * made or range-checked per call ({@link BuildIdCache.getBytes} must check the BigInt it is handed).
   * {@link BuildIdCache.findAt} is the same lookup without the copy to `out`.
   * @throws TypeError when `keys` is not a BigUint64Array; RangeError when `index` is not an
   *   index of `keys` or `out` has no room at `offset`. Nothing is looked up then.
   */
  getBytesAt(keys: BigUint64Array, index: number, out: Uint8Array, offset = 0): number {
    if (keys !== this.#keys) this.#keys = instance("keys", keys, BigUint64Array);
    // Its length read at every call: a view over a resizable or detached buffer shrinks.
    if (index >>> 0 !== index || index >= keys.length) badIndex(keys, index);
    if (out !== this.#out) this.#setOut(out);
    if (offset >>> 0 !== offset || offset + BUILD_ID_MAX > out.length) badOffset(out, offset);
    return this.#copyOut(this.#core.lookup(keys[index]!, this.#ioIds), offset);
  }

  /**
   * {@link BuildIdCache.getBytesAt} without the copy: looks up `keys[index]` and returns the length of
   * its build ID, or 0 on a miss. A hit leaves the ID in {@link BuildIdCache.foundId} (zero past its
   * length) and marks the entry as recently used, as `Map.get` hands back the stored value rather than
   * a copy of it. Allocates nothing.
   * @example
   * ```ts
   * const length = cache.findAt(keys, i);
   * if (length !== 0) ids.push(cache.foundId.slice(0, length));
   * ```
   * @throws TypeError when `keys` is not a BigUint64Array; RangeError when `index` is not an index
   *   of `keys`. Nothing is looked up then.
   */
  findAt(keys: BigUint64Array, index: number): number {
    if (keys !== this.#keys) this.#keys = instance("keys", keys, BigUint64Array);
    // Its length read at every call: a view over a resizable or detached buffer shrinks.
    if (index >>> 0 !== index || index >= keys.length) badIndex(keys, index);
    return this.#core.lookup(keys[index]!, this.#ioIds);
  }

  /**
   * The build ID the last {@link BuildIdCache.findAt} hit found: {@link BUILD_ID_MAX} bytes, zero past
   * the length it returned. A view of the cache's own memory, not a copy: any later call on the cache
   * may overwrite it, so read it (or copy it out) before the next one, and only after a hit. Empty
   * once the cache is disposed.
   */
  get foundId(): Uint8Array {
    return this.#found;
  }

  // The lookups' copy from the I/O region to `out`: five u32 moves, at the widths the core stored them
  // (store-to-load forwarding); words are in host order, little-endian as the loader requires. Cold
  // paths are out of line, so V8 inlines this one.
  #copyOut(length: number, offset: number): number {
    if (length === 0) return 0;
    const out32 = this.#out32;
    const k = offset >>> 2;
    if ((offset & 3) !== 0 || k + 5 > out32.length) return this.#copyThroughView(offset, length);
    const words = this.#u32;
    const w = this.#ioIds >>> 2;
    out32[k] = words[w]!;
    out32[k + 1] = words[w + 1]!;
    out32[k + 2] = words[w + 2]!;
    out32[k + 3] = words[w + 3]!;
    out32[k + 4] = words[w + 4]!;
    return length;
  }

  #setOut(out: Uint8Array): void {
    this.#out = instance("out", out, Uint8Array);
    // No length, so over a resizable buffer the view grows with `out`; writes stay in out's checked room.
    this.#outView = new DataView(out.buffer, out.byteOffset);
    // Word stores where out starts on one (cheaper than the view's); fixed length, so a grown buffer's tail goes by the view.
    this.#out32 =
      (out.byteOffset & 3) === 0
        ? new Uint32Array(out.buffer, out.byteOffset, (out.buffer.byteLength - out.byteOffset) >>> 2)
        : new Uint32Array(0);
  }

  // getBytes' copy where `out` at `offset` is not whole words.
  #copyThroughView(offset: number, length: number): number {
    const view = this.#outView!;
    const words = this.#u32;
    const w = this.#ioIds >>> 2;
    view.setUint32(offset, words[w]!, true);
    view.setUint32(offset + 4, words[w + 1]!, true);
    view.setUint32(offset + 8, words[w + 2]!, true);
    view.setUint32(offset + 12, words[w + 3]!, true);
    view.setUint32(offset + 16, words[w + 4]!, true);
    return length;
  }

  /** Whether `key` is present; does not count as a use. */
  has(key: bigint): boolean {
    u64("key", key);
    return this.#core.contains(key) !== 0;
  }

  /** Removes `key`; returns whether it was present, as `Map.delete` does. */
  delete(key: bigint): boolean {
    u64("key", key);
    const removed = this.#core.remove(key) !== 0;
    if (removed) this.#version++;
    return removed;
  }

  /** Removes every entry. Counters keep counting. */
  clear(): void {
    if (this.size > 0) this.#version++;
    this.#core.clear();
  }

  // Returns the batch's length, read once: a length-tracking view over a growing buffer may change it.
  #checkKeys(keys: BigUint64Array): number {
    this.#alive();
    return instance("keys", keys, BigUint64Array).length;
  }

  /**
   * Looks up every key: its build ID goes to `out` at `i * BUILD_ID_MAX`, its length to
   * `lengths[i]` (0: miss). Returns the number of hits, each marked as recently used.
   * Allocates nothing per key.
   */
  getMany(keys: BigUint64Array, out: Uint8Array, lengths: Uint8Array): number {
    const count = this.#checkKeys(keys);
    checkBytes("out", out, count * BUILD_ID_MAX);
    checkBytes("lengths", lengths, count);
    const core = this.#core;
    const bytes = this.#bytes;
    const keyWord = this.#ioKeys / 8;
    let hits = 0;
    for (let start = 0; start < count; start += BATCH) {
      const n = Math.min(BATCH, count - start);
      this.#words.set(keys.subarray(start, start + n), keyWord);
      hits += core.lookupMany(n);
      out.set(bytes.subarray(this.#ioIds, this.#ioIds + n * BUILD_ID_MAX), start * BUILD_ID_MAX);
      lengths.set(bytes.subarray(this.#ioLens, this.#ioLens + n), start);
    }
    return hits;
  }

  /**
   * Inserts every key with the build ID at `ids[i * BUILD_ID_MAX]` of length `lengths[i]`
   * (or `lengths` itself, when a number), as {@link set} does. Returns the number of evictions.
   * `onEvict` may read or change the cache: it is called after each chunk of the batch reaches
   * the core, once per key evicted.
   * @throws RangeError before any insert when a length is not 1 to {@link BUILD_ID_MAX};
   *   {@link SetManyError}, saying how many keys were inserted, when `onEvict` threw.
   */
  setMany(keys: BigUint64Array, ids: Uint8Array, lengths: Uint8Array | number): number {
    const count = this.#checkKeys(keys);
    checkBytes("ids", ids, count * BUILD_ID_MAX);
    let lens = lengths;
    if (typeof lengths === "number") {
      if (!isBuildIdLength(lengths)) badBuildIdLength(lengths, "build ID length");
    } else {
      checkBytes("lengths", lengths, count);
      lens = lengths.slice(0, count); // what is checked is what is inserted, whoever writes the caller's array
      for (let i = 0; i < count; i++) if (!isBuildIdLength(lens[i]!)) badBuildIdLength(lens[i]!, `lengths[${i}]`);
    }
    const bytes = this.#bytes;
    const keyWord = this.#ioKeys / 8;
    let evicted = 0;
    for (let start = 0; start < count; start += BATCH) {
      const n = Math.min(BATCH, count - start);
      this.#words.set(keys.subarray(start, start + n), keyWord);
      bytes.set(ids.subarray(start * BUILD_ID_MAX, (start + n) * BUILD_ID_MAX), this.#ioIds);
      if (typeof lens === "number") bytes.fill(lens, this.#ioLens, this.#ioLens + n);
      else bytes.set(lens.subarray(start, start + n), this.#ioLens);
      const e = this.#core.insertMany(n);
      this.#version++;
      evicted += e;
      if (e > 0 && this.#onEvict) this.#reportEvictions(n, e, start + n, count, keys, ids);
    }
    return evicted;
  }

  // Reports from a copy, so onEvict may call into the cache; stops the batch when it threw or left its arrays short.
  #reportEvictions(n: number, e: number, applied: number, total: number, keys: BigUint64Array, ids: Uint8Array): void {
    const evicted = new BigUint64Array(e);
    for (let i = 0, j = 0; i < n; i++) {
      if (this.#bytes[this.#ioLens + i] === INSERTED_EVICTING) evicted[j++] = this.#words[this.#ioEvicted / 8 + i]!;
    }
    const errors: unknown[] = [];
    for (const key of evicted) {
      try {
        this.#onEvict!(key);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new SetManyError(errors, applied, total, "onEvict threw: ");
    if (applied === total) return;
    try {
      this.#alive();
      room("keys", keys, total);
      room("ids", ids, total * BUILD_ID_MAX);
    } catch (error) {
      throw new SetManyError([error], applied, total, "");
    }
  }

  /**
   * Removes every key; `removed[i]` (when given) becomes 1 where key `i` was present.
   * Returns how many were present.
   */
  deleteMany(keys: BigUint64Array, removed?: Uint8Array): number {
    const total = this.#checkKeys(keys);
    if (removed !== undefined) checkBytes("removed", removed, total);
    const core = this.#core;
    const keyWord = this.#ioKeys / 8;
    let count = 0;
    for (let start = 0; start < total; start += BATCH) {
      const n = Math.min(BATCH, total - start);
      this.#words.set(keys.subarray(start, start + n), keyWord);
      count += core.removeMany(n);
      removed?.set(this.#bytes.subarray(this.#ioLens, this.#ioLens + n), start);
    }
    if (count > 0) this.#version++;
    return count;
  }

  /** Counters and shape; probes every live key once for the probe lengths. */
  stats(): BuildIdCacheStats {
    const core = this.#core;
    core.measureProbes();
    const size = this.size;
    return {
      size,
      capacity: this.#capacity,
      slots: core.slotCount(),
      inserts: Number(core.inserts.value),
      updates: Number(core.updates.value),
      hits: Number(core.hits.value),
      misses: Number(core.misses.value),
      removals: Number(core.removals.value),
      evictions: Number(core.evictions.value),
      probeMean: size === 0 ? 0 : Number(core.probeSum.value) / size,
      probeMax: core.probeMax.value as number,
      reservedBytes: core.reservedBytes(),
      memoryBytes: core.memory.buffer.byteLength,
    };
  }

  /**
   * Entries as `[key, hex build ID]`, in storage order (not recency).
   * @throws Error at the next step after any change to the cache, even one that emptied it.
   */
  *entries(): IterableIterator<[bigint, string]> {
    const version = this.#version;
    for (let i = 0; ; i++) {
      // The version first: a change that shrank the cache must not end the loop quietly.
      if (this.#version !== version) throw new Error("BuildIdCache: changed during iteration");
      if (i >= this.size) return;
      const at = this.#core.entryAddress(i);
      // Entries are 29 bytes apart, so a key is not 8-aligned: read it through the DataView.
      yield [
        this.#view.getBigUint64(at + KEY_OFFSET, true),
        toHex(this.#bytes, at + ID_OFFSET, this.#bytes[at + META_OFFSET]! & LEN_MASK),
      ];
    }
  }

  /** Keys, in storage order. */
  *keys(): IterableIterator<bigint> {
    for (const [key] of this.entries()) yield key;
  }

  /** Build IDs in hex, in storage order. */
  *values(): IterableIterator<string> {
    for (const [, id] of this.entries()) yield id;
  }

  /** The same `[key, build ID in hex]` pairs as {@link BuildIdCache.entries}, so a cache works in `for...of`. */
  [Symbol.iterator](): IterableIterator<[bigint, string]> {
    return this.entries();
  }

  /** Releases the cache's memory; every later call throws {@link CacheDisposedError}. */
  dispose(): void {
    if (this.#handle && this.#core !== disposed) (this.#core as SharedCoreExports).release();
    this.#core = disposed;
    this.#bytes = new Uint8Array(0);
    this.#words = new BigUint64Array(0);
    this.#u32 = new Uint32Array(0);
    this.#view = new DataView(new ArrayBuffer(0));
    this.#out = undefined;
    this.#outView = undefined;
    this.#keys = undefined;
    this.#out32 = new Uint32Array(0);
    this.#found = new Uint8Array(0);
  }

  /** Same as {@link BuildIdCache.dispose}, so `using` releases the cache at the end of its scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Checks every structural invariant of the table (traps with the reason in the debug build). @internal */
  verify(): void {
    this.#core.verify();
  }

  /**
   * The entries with their CLOCK reference bits, in storage order, and the capacity: a
   * versioned, checksummed snapshot (format in `src/snapshot.ts`) for {@link BuildIdCache.restore}.
   * Counters are not saved.
   */
  snapshot(): Uint8Array {
    const count = this.size;
    const records = new Uint8Array(count * SNAPSHOT_ENTRY_SIZE);
    const from = count === 0 ? 0 : this.#core.entryAddress(0);
    for (let i = 0; i < count; i++) {
      const at = from + i * ENTRY_SIZE;
      const to = i * SNAPSHOT_ENTRY_SIZE;
      records.set(this.#bytes.subarray(at + KEY_OFFSET, at + ID_OFFSET), to + RECORD_KEY_OFFSET);
      const meta = this.#bytes[at + META_OFFSET]!;
      records.set(this.#bytes.subarray(at + ID_OFFSET, at + META_OFFSET), to + RECORD_ID_OFFSET);
      records[to + RECORD_LEN_OFFSET] = meta & LEN_MASK;
      records[to + RECORD_REF_OFFSET] = meta & REF_BIT ? 1 : 0;
    }
    return encodeSnapshot(this.#capacity, records);
  }

  /**
   * A new cache holding the entries of a {@link BuildIdCache.snapshot}: same keys and build IDs,
   * same storage order and reference bits (the CLOCK hand starts over at the first entry).
   * The capacity defaults to the snapshot's; another one works when the entries fit.
   * @throws {@link SnapshotError} for a truncated, corrupt, other-version or other-layout
   *   snapshot; RangeError when the entries do not fit `options.capacity`. No cache is returned then.
   */
  static async restore(bytes: Uint8Array, options?: Partial<BuildIdCacheOptions>): Promise<BuildIdCache> {
    const wanted = options?.capacity === undefined ? undefined : integer("capacity", options.capacity, 1, MAX_CAPACITY);
    // A copy: bytes another thread or the caller changes after the checks must not reach the cache.
    const snapshot = decodeSnapshot(new Uint8Array(instance("snapshot", bytes, Uint8Array)), MAX_CAPACITY);
    const capacity = wanted ?? snapshot.capacity;
    if (snapshot.count > capacity) {
      throw new RangeError(`snapshot holds ${snapshot.count} entries, more than capacity ${capacity}`);
    }
    const cache = await BuildIdCache.create({ ...options, capacity });
    try {
      cache.#fill(snapshot.records, snapshot.count);
    } catch (error) {
      cache.dispose();
      throw error;
    }
    return cache;
  }

  // Inserts snapshot records into this new, empty cache, where record i lands in entry i.
  #fill(records: Uint8Array, count: number): void {
    const bytes = this.#bytes;
    for (let start = 0; start < count; start += BATCH) {
      const n = Math.min(BATCH, count - start);
      for (let i = 0; i < n; i++) {
        const at = (start + i) * SNAPSHOT_ENTRY_SIZE;
        bytes.set(records.subarray(at + RECORD_KEY_OFFSET, at + RECORD_ID_OFFSET), this.#ioKeys + i * 8);
        bytes.set(records.subarray(at + RECORD_ID_OFFSET, at + RECORD_LEN_OFFSET), this.#ioIds + i * BUILD_ID_MAX);
        bytes[this.#ioLens + i] = records[at + RECORD_LEN_OFFSET]!;
      }
      this.#core.insertMany(n);
      for (let i = 0; i < n; i++) {
        if (bytes[this.#ioLens + i] === UPDATED) {
          const key = this.#words[this.#ioKeys / 8 + i]!;
          throw new SnapshotError("DUPLICATE_KEY", `entry ${start + i} repeats key 0x${key.toString(16)}`);
        }
      }
    }
    for (let i = 0; i < count; i++) {
      if (records[i * SNAPSHOT_ENTRY_SIZE + RECORD_REF_OFFSET])
        bytes[this.#core.entryAddress(i) + META_OFFSET]! |= REF_BIT;
    }
  }
}
