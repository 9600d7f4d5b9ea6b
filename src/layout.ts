// The core's layout facts on the TypeScript side, each typed once; `assembly/index.ts` exports
// every one under the same name, and test/layout.test.ts compares the two.
//
// An entry record (the core's; a snapshot record has a layout of its own, see src/snapshot.ts):
//
//      0        8                     28     29
//     +--------+---------------------+------+
//     |  key   |  build id (20 B)    | meta |   meta: length in LEN_MASK, CLOCK bit REF_BIT
//     +--------+---------------------+------+
//
// A bucket (one 64-byte line: 15 tags, an overflow count, 15 three-byte entry numbers):
//
//      0                       15   16                                  61      64
//     +-------------------------+----+-----------------------------------+-------+
//     | tag 0 | tag 1 | .. | 14 |over| entry 0 | entry 1 | .. | entry 14 | (pad) |
//     +-------------------------+----+-----------------------------------+-------+

/** Longest build ID the cache stores, in bytes: the kernel's `BUILD_ID_SIZE_MAX`. */
export const BUILD_ID_MAX = 20;

/** Offset of an entry's u64 key (little-endian). @internal */
export const KEY_OFFSET = 0;
/** Offset of an entry's build ID, {@link BUILD_ID_MAX} bytes, zero past its length. @internal */
export const ID_OFFSET = KEY_OFFSET + 8;
/** Offset of an entry's meta byte: the build-ID length and the CLOCK reference bit. @internal */
export const META_OFFSET = ID_OFFSET + BUILD_ID_MAX;
/** The meta bits holding the build-ID length (1 to {@link BUILD_ID_MAX}). @internal */
export const LEN_MASK = 0x1f;
/** The meta bit that is CLOCK's reference bit. @internal */
export const REF_BIT = 0x80;
/** Bytes per entry record. @internal */
export const ENTRY_SIZE = META_OFFSET + 1;

/** Slots per bucket. @internal */
export const BUCKET_SLOTS = 15;
/** Offset of a bucket's overflow count, after its tags. @internal */
export const OVER_OFFSET = BUCKET_SLOTS;
/** Offset of a bucket's 3-byte entry numbers. @internal */
export const SLOT_ENTRY_OFFSET = OVER_OFFSET + 1;
/** Bytes per bucket: one cache line. @internal */
export const BUCKET_SIZE = 64;
/** An overflow count that has saturated and stays. @internal */
export const OVER_STUCK = 255;

/** Largest `capacity` a cache accepts: entry numbers are 24 bits wide in a bucket. */
export const MAX_CAPACITY = 0xff_ffff;
/** Keys per call of the core's batch entry points. @internal */
export const BATCH = 1024;

/** `init()` reserved the table. @internal */
export const OK = 0;
/** `insert()` added a new key. @internal */
export const INSERTED = 0;
/** `insert()` replaced a present key's build ID. @internal */
export const UPDATED = 1;
/** `insert()` added a new key and evicted another (`evictedKey`). @internal */
export const INSERTED_EVICTING = 2;
/** `init()`: capacity 0, over {@link MAX_CAPACITY}, or a second `init()`. @internal */
export const ERR_CAPACITY = -1;
/** `init()`: linear memory could not grow to the table. @internal */
export const ERR_NO_MEMORY = -2;
/** `insert()`: a length of 0 or over {@link BUILD_ID_MAX}. @internal */
export const ERR_LENGTH = -3;
/** `attachWriter()` (shared build only): another thread holds the table as its writer. @internal */
export const ERR_WRITER = -4;

/** Most pages of a shared cache's memory: asconfig.json's `maximumMemory` for the shared targets. @internal */
export const SHARED_MAX_PAGES = 16384;

/**
 * Slots in the table of a cache of `capacity`: the fewest whole buckets that keep it at most
 * 7/8 full (the core's `init()` rule; any bucket count, not a power of two).
 * @internal
 */
export function slotCount(capacity: number): number {
  return Math.ceil(Math.ceil((capacity * 8) / 7) / BUCKET_SLOTS) * BUCKET_SLOTS;
}
