// The core's layout facts on the TypeScript side, each typed once; `assembly/index.ts` exports
// every one under the same name, and test/layout.test.ts compares the two.
//
// An entry record (the core's, and a snapshot's record byte for byte):
//
//      0        8                     28    29    30       32
//     +--------+---------------------+-----+-----+--------+
//     |  key   |  build id (20 B)    | len | ref | (spare)|
//     +--------+---------------------+-----+-----+--------+

/** Longest build ID the cache stores, in bytes: the kernel's `BUILD_ID_SIZE_MAX`. */
export const BUILD_ID_MAX = 20;

/** Offset of an entry's u64 key (little-endian). @internal */
export const KEY_OFFSET = 0;
/** Offset of an entry's build ID, {@link BUILD_ID_MAX} bytes, zero past its length. @internal */
export const ID_OFFSET = KEY_OFFSET + 8;
/** Offset of an entry's build-ID length byte (1 to {@link BUILD_ID_MAX}). @internal */
export const LEN_OFFSET = ID_OFFSET + BUILD_ID_MAX;
/** Offset of an entry's CLOCK reference byte (0 or 1). @internal */
export const REF_OFFSET = LEN_OFFSET + 1;
/** Offset of an entry's spare bytes, which run to {@link ENTRY_SIZE}. @internal */
export const SPARE_OFFSET = REF_OFFSET + 1;
/** Bytes per entry record. @internal */
export const ENTRY_SIZE = SPARE_OFFSET + 2;

/** Largest `capacity` a cache accepts: entry numbers are 24 bits wide in the index. */
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

/**
 * Slots in the index of a cache of `capacity`: the smallest power of two, at least 8, that keeps
 * the index at most 3/4 full (the core's `init()` rule).
 * @internal
 */
export function slotCount(capacity: number): number {
  const minSlots = Math.ceil((capacity * 4) / 3);
  let slots = 8;
  while (slots < minSlots) slots *= 2;
  return slots;
}
