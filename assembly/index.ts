// buildid-cache core: a bounded map from u64 keys (inode addresses, packed file
// identities) to ELF build IDs of 1..20 bytes, in linear memory, with no
// allocation after init(). One instance holds one table.
//
// Two arrays, reserved once by init():
//
//   index: 2^bits u32 slots; linear probing from the key's home slot.
//
//      31     24 23                         0
//     +--------+----------------------------+
//     |  tag   |         entry + 1          |    all zero: EMPTY
//     +--------+----------------------------+
//
//     tag: 8 more hash bits, so most non-matching slots never touch an entry.
//
//   entries: `capacity` records of ENTRY_SIZE bytes; live ones are dense in [0, count).
//
//      0        8                     28    29    30       32
//     +--------+---------------------+-----+-----+--------+
//     |  key   |  build id (20 B)    | len | ref | (spare)|
//     +--------+---------------------+-----+-----+--------+
//
//     len: bytes of the build id in use; ref: CLOCK reference bit;
//     spare: room for a per-entry version word (a seqlock for readers on other threads).
//
// Why an index over dense entries rather than fat slots: a 32-byte slot at load factor
// 0.375..0.75 costs 43..85 bytes per live entry; a 4-byte index slot costs 5.3..10.7 on top of
// the 32-byte entry. Dense entries also make CLOCK, iteration and snapshots a linear scan.
//
// Invariants (verify() checks them all; the debug build asserts them where they are kept):
//   1. The index is at most 3/4 full, so every probe ends at an empty slot.
//   2. Each live entry has exactly one slot, with its key's tag, on the probe path from its home.
//   3. Keys compare in full; a matching tag only says "look".
//   4. count <= capacity; only a full cache evicts, and only a key it holds.
//   5. Memory grows in init() and nowhere else; a lookup writes only a reference bit, the
//      counters and its output.

// ---- layout -------------------------------------------------------------------------------

// Every exported constant here is mirrored once in src/layout.ts; test/layout.test.ts ties the two.

/** Where an entry's u64 key starts. */
export const KEY_OFFSET: usize = 0;
const KEY_SIZE: usize = 8;
/** Where an entry's build id starts. */
export const ID_OFFSET: usize = KEY_OFFSET + KEY_SIZE;
/** Longest build ID stored: the kernel's BUILD_ID_SIZE_MAX. */
export const BUILD_ID_MAX: u32 = 20;
/** Where an entry's length byte sits. */
export const LEN_OFFSET: usize = ID_OFFSET + <usize>BUILD_ID_MAX;
/** Where an entry's CLOCK reference byte sits. */
export const REF_OFFSET: usize = LEN_OFFSET + 1;
/** Where an entry's spare bytes start; they run to ENTRY_SIZE. */
export const SPARE_OFFSET: usize = REF_OFFSET + 1;
const SPARE_SIZE: usize = 2;
/** Bytes per entry record. */
export const ENTRY_SIZE: u32 = <u32>(SPARE_OFFSET + SPARE_SIZE);

const SLOT_SIZE: usize = 4;
const CACHE_LINE: usize = 64;
const TAG_SHIFT: u32 = 24;
const ENTRY_MASK: u32 = (1 << TAG_SHIFT) - 1;
/** Largest capacity: entry + 1 must fit below the tag. */
export const MAX_CAPACITY: u32 = ENTRY_MASK;
/** Slots are at least capacity / MAX_LOAD, so the index is never more than 3/4 full. */
const MAX_LOAD_NUM: u64 = 3;
const MAX_LOAD_DEN: u64 = 4;
const MIN_SLOT_BITS: u32 = 3;

/** Batch entry points work on this many keys per call. */
export const BATCH: u32 = 1024;

// ---- status codes (the TypeScript side turns them into errors or results) -----------------

/** init() reserved the table. */
export const OK: i32 = 0;
/** insert() added a new key. */
export const INSERTED: i32 = 0;
/** insert() replaced a present key's build id. */
export const UPDATED: i32 = 1;
/** insert() added a new key and evicted `evictedKey` to make room. */
export const INSERTED_EVICTING: i32 = 2;
/** init(): a capacity of 0, over MAX_CAPACITY, or a second init. */
export const ERR_CAPACITY: i32 = -1;
/** init(): memory could not grow to the table. */
export const ERR_NO_MEMORY: i32 = -2;
/** insert(): a length of 0 or over BUILD_ID_MAX; nothing changed. */
export const ERR_LENGTH: i32 = -3;

// ---- table state --------------------------------------------------------------------------

let index: usize = 0;
let entries: usize = 0;
let slotBits: u32 = 0;
let mask: u32 = 0;
export let capacity: u32 = 0;
export let count: u32 = 0;
let hand: u32 = 0;

// Batch I/O regions, written by the host and read by the batch entry points in one call.
export let ioKeys: usize = 0;     // BATCH u64 keys
export let ioIds: usize = 0;      // BATCH build ids, BUILD_ID_MAX bytes apart
export let ioLens: usize = 0;     // BATCH u8 lengths (0: miss) or per-key statuses
export let ioEvicted: usize = 0;  // BATCH u64 keys evicted by setMany, per input key

/** Key evicted by the last insert that returned INSERTED_EVICTING. */
export let evictedKey: u64 = 0;

export let inserts: u64 = 0;
export let updates: u64 = 0;
export let hits: u64 = 0;
export let misses: u64 = 0;
export let removals: u64 = 0;
export let evictions: u64 = 0;

// ---- slots and entries --------------------------------------------------------------------

const EMPTY: u32 = 0;

// @ts-ignore: decorator
@inline function isEmpty(slot: u32): bool { return slot == EMPTY; }
// @ts-ignore: decorator
@inline function isFull(slot: u32): bool { return slot != EMPTY; }
// @ts-ignore: decorator
@inline function makeSlot(tag: u32, entry: u32): u32 { return (tag << TAG_SHIFT) | (entry + 1); }
// @ts-ignore: decorator
@inline function slotEntry(slot: u32): u32 { return (slot & ENTRY_MASK) - 1; }
// @ts-ignore: decorator
@inline function slotTag(slot: u32): u32 { return slot >>> TAG_SHIFT; }

// @ts-ignore: decorator
@inline function slotAt(pos: u32): u32 { return load<u32>(index + (<usize>pos << 2)); }
// @ts-ignore: decorator
@inline function setSlot(pos: u32, slot: u32): void { store<u32>(index + (<usize>pos << 2), slot); }
// @ts-ignore: decorator
@inline function entryAt(entry: u32): usize { return entries + <usize>entry * <usize>ENTRY_SIZE; }
// @ts-ignore: decorator
@inline function keyOf(entry: u32): u64 { return load<u64>(entryAt(entry), KEY_OFFSET); }

// ---- hash ---------------------------------------------------------------------------------

/** The kernel's hash_64 multiplier (include/linux/hash.h); high bits of the product are the most mixed. */
const GOLDEN_RATIO_64: u64 = 0x61C8864680B583EB;

// @ts-ignore: decorator
@inline function hash(key: u64): u64 { return key * GOLDEN_RATIO_64; }
// @ts-ignore: decorator
@inline function homeOf(h: u64): u32 { return <u32>(h >> (64 - slotBits)); }
// @ts-ignore: decorator
@inline function tagOf(h: u64): u32 { return <u32>(h >> (56 - slotBits)) & 0xFF; }

// ---- the probe loop -----------------------------------------------------------------------

/**
 * The slot holding `key`, or `~pos` for the empty slot where its probe ended.
 * Ends because the load cap leaves at least a quarter of the slots empty.
 */
function find(key: u64, h: u64): i32 {
  let pos = homeOf(h);
  const tag = tagOf(h);
  while (true) {
    const slot = slotAt(pos);
    if (isEmpty(slot)) return ~(<i32>pos);
    // Equality is always the full key: a matching tag only says "look".
    if (slotTag(slot) == tag && keyOf(slotEntry(slot)) == key) return <i32>pos;
    pos = (pos + 1) & mask;
  }
}

/** The slot that points at `entry`, whose key is in the table. */
function slotOfEntry(entry: u32): u32 {
  let pos = homeOf(hash(keyOf(entry)));
  while (slotEntry(slotAt(pos)) != entry) {
    assert(isFull(slotAt(pos)), "slotOfEntry: every live entry has a slot on its probe path");
    pos = (pos + 1) & mask;
  }
  return pos;
}

/**
 * Empties slot `pos` by shifting later members of its cluster back. No tombstones: lookups
 * stay as short as on a table that never saw a delete, and a full-of-deletes table cannot
 * make a probe run forever.
 */
function vacate(pos: u32): void {
  let hole = pos;
  let next = (pos + 1) & mask;
  while (true) {
    const slot = slotAt(next);
    if (isEmpty(slot)) break;
    const home = homeOf(hash(keyOf(slotEntry(slot))));
    // The slot may fill the hole unless its home lies cyclically in (hole, next].
    if (((next - home) & mask) >= ((next - hole) & mask)) {
      setSlot(hole, slot);
      hole = next;
    }
    next = (next + 1) & mask;
  }
  setSlot(hole, EMPTY);
}

// ---- entries ------------------------------------------------------------------------------

/** Copies a build id of `len` bytes from `src` into `entry`, zeroing the unused tail. */
function writeEntry(entry: u32, key: u64, src: usize, len: u32): void {
  const p = entryAt(entry);
  store<u64>(p, key, KEY_OFFSET);
  memory.copy(p + ID_OFFSET, src, len);
  if (len < BUILD_ID_MAX) memory.fill(p + ID_OFFSET + len, 0, BUILD_ID_MAX - len);
  store<u8>(p, <u8>len, LEN_OFFSET);
  store<u8>(p, 0, REF_OFFSET);
}

/** Copies the build id of the entry at `p` to `dst` (BUILD_ID_MAX bytes) and returns its length. */
// @ts-ignore: decorator
@inline function readEntry(p: usize, dst: usize): u32 {
  store<u64>(dst, load<u64>(p, ID_OFFSET));
  store<u64>(dst, load<u64>(p, ID_OFFSET + 8), 8);
  store<u32>(dst, load<u32>(p, ID_OFFSET + 16), 16);
  return load<u8>(p, LEN_OFFSET);
}

/** Frees a dead entry by moving the last live entry into it, keeping entries dense. */
function compact(entry: u32): void {
  const last = count - 1;
  if (entry != last) {
    const pos = slotOfEntry(last);
    memory.copy(entryAt(entry), entryAt(last), ENTRY_SIZE);
    setSlot(pos, makeSlot(slotTag(slotAt(pos)), entry));
  }
  count = last;
  if (hand >= count) hand = 0;
}

/**
 * CLOCK: sweep from the hand, clearing reference bits, and take the first entry whose bit is
 * clear. New entries start clear, so a key seen once leaves before a key seen twice.
 */
function victim(): u32 {
  assert(count == capacity, "victim: only a full cache evicts");
  while (true) {
    const p = entryAt(hand);
    if (load<u8>(p, REF_OFFSET) == 0) return hand;
    store<u8>(p, 0, REF_OFFSET);
    hand = hand + 1 == count ? 0 : hand + 1;
  }
}

// ---- operations (one key) -----------------------------------------------------------------

/**
 * Reserves the table for `cap` entries. Memory grows here and nowhere else.
 * Returns OK, ERR_CAPACITY or ERR_NO_MEMORY; on error nothing is reserved.
 */
export function init(cap: u32): i32 {
  if (cap == 0 || cap > MAX_CAPACITY || capacity != 0) return ERR_CAPACITY;
  const bits = slotBitsFor(cap);
  const slots = <usize>1 << bits;
  const total = tableBytes(cap, slots);
  // Grow exactly once, and report failure instead of letting the allocator trap.
  const end = <u64>__heap_base + <u64>total + 2 * CACHE_LINE;
  const pagesNeeded = <i32>((end + 0xFFFF) >> 16) - memory.size();
  if (pagesNeeded > 0 && memory.grow(pagesNeeded) < 0) return ERR_NO_MEMORY;
  // Entries start on a cache line, so no 32-byte entry straddles two lines.
  const base = (heap.alloc(total + CACHE_LINE) + CACHE_LINE - 1) & ~(CACHE_LINE - 1);
  entries = base;
  index = entries + <usize>cap * <usize>ENTRY_SIZE;
  ioKeys = index + slots * SLOT_SIZE;
  ioEvicted = ioKeys + <usize>BATCH * KEY_SIZE;
  ioIds = ioEvicted + <usize>BATCH * KEY_SIZE;
  ioLens = ioIds + <usize>BATCH * <usize>BUILD_ID_MAX;
  // No fill: init runs once per instance, on memory that nothing has written yet (wasm zeroes it).
  slotBits = bits;
  mask = <u32>slots - 1;
  capacity = cap;
  return OK;
}

/** log2 of the fewest slots (at least 2^MIN_SLOT_BITS) that keep `cap` entries at most 3/4 full. */
function slotBitsFor(cap: u32): u32 {
  const minSlots = (<u64>cap * MAX_LOAD_DEN + MAX_LOAD_NUM - 1) / MAX_LOAD_NUM;
  let bits = MIN_SLOT_BITS;
  while ((<u64>1 << bits) < minSlots) bits++;
  return bits;
}

/** Bytes of entries, index and batch I/O for `cap` entries over `slots` slots. */
function tableBytes(cap: u32, slots: usize): usize {
  return <usize>cap * <usize>ENTRY_SIZE + slots * SLOT_SIZE
    + <usize>BATCH * (KEY_SIZE + <usize>BUILD_ID_MAX + 1 + KEY_SIZE);
}

/** Slots in the index (a power of two). */
export function slotCount(): u32 { return mask + 1; }

/** Bytes reserved by init(): index, entries and batch I/O. */
export function reservedBytes(): f64 {
  return <f64>tableBytes(capacity, <usize>mask + 1);
}

/**
 * Maps `key` to the `len`-byte build id at `src`. Returns INSERTED, UPDATED, or
 * INSERTED_EVICTING (the displaced key is in `evictedKey`); ERR_LENGTH changes nothing.
 */
export function insert(key: u64, src: usize, len: u32): i32 {
  if (len == 0 || len > BUILD_ID_MAX) return ERR_LENGTH;
  const h = hash(key);
  let pos = find(key, h);
  if (pos >= 0) {
    const entry = slotEntry(slotAt(pos));
    writeEntry(entry, key, src, len);
    updates++;
    return UPDATED;
  }
  let status = INSERTED;
  let entry = count;
  if (count == capacity) {
    entry = victim();
    evictedKey = keyOf(entry);
    vacate(slotOfEntry(entry));
    hand = hand + 1 == count ? 0 : hand + 1;
    evictions++;
    status = INSERTED_EVICTING;
    pos = find(key, h); // the shift may have moved the end of our probe
  } else {
    count++;
  }
  writeEntry(entry, key, src, len);
  setSlot(~pos, makeSlot(tagOf(h), entry));
  inserts++;
  assert(count <= capacity, "insert: never more entries than capacity");
  return status;
}

/** Copies the build id for `key` to `dst` and returns its length, or 0 on a miss. */
export function lookup(key: u64, dst: usize): u32 {
  const len = probe(key, dst);
  if (len == 0) misses++;
  else hits++;
  return len;
}

/** lookup() without the counters, for callers that count a whole batch at once. */
// @ts-ignore: decorator
@inline function probe(key: u64, dst: usize): u32 {
  const pos = find(key, hash(key));
  if (pos < 0) return 0;
  const p = entryAt(slotEntry(slotAt(pos)));
  // Test before set: a line that is only read stays clean (and shareable with reader threads).
  if (load<u8>(p, REF_OFFSET) == 0) store<u8>(p, 1, REF_OFFSET);
  return readEntry(p, dst);
}

/** Whether `key` is present; touches no counter and no reference bit. */
export function contains(key: u64): bool {
  return find(key, hash(key)) >= 0;
}

/** Removes `key`; returns whether it was present. */
export function remove(key: u64): bool {
  const pos = find(key, hash(key));
  if (pos < 0) return false;
  const entry = slotEntry(slotAt(pos));
  vacate(<u32>pos);
  compact(entry);
  removals++;
  return true;
}

/** Removes every entry; counters are kept. */
export function clear(): void {
  memory.fill(index, 0, (<usize>mask + 1) * SLOT_SIZE);
  count = 0;
  hand = 0;
}

// ---- batch operations over the I/O regions ------------------------------------------------

/** lookup() for ioKeys[0..n): ids to ioIds, lengths to ioLens (0: miss). Returns hits. */
export function lookupMany(n: u32): u32 {
  assert(n <= BATCH, "lookupMany: n within the batch region");
  let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const len = probe(load<u64>(ioKeys + (<usize>i << 3)), ioIds + <usize>i * BUILD_ID_MAX);
    store<u8>(ioLens + i, <u8>len);
    found += <u32>(len != 0);
  }
  hits += found;
  misses += n - found;
  return found;
}

/** insert() for ioKeys[0..n) with ioIds/ioLens; statuses to ioLens, evicted keys to ioEvicted. Returns evictions. */
export function insertMany(n: u32): u32 {
  assert(n <= BATCH, "insertMany: n within the batch region");
  let evicted: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const status = insert(
      load<u64>(ioKeys + (<usize>i << 3)), ioIds + <usize>i * BUILD_ID_MAX, load<u8>(ioLens + i),
    );
    store<u8>(ioLens + i, <u8>status);
    if (status == INSERTED_EVICTING) {
      store<u64>(ioEvicted + (<usize>i << 3), evictedKey);
      evicted++;
    }
  }
  return evicted;
}

/** remove() for ioKeys[0..n); 1 or 0 per key to ioLens. Returns how many were present. */
export function removeMany(n: u32): u32 {
  assert(n <= BATCH, "removeMany: n within the batch region");
  let removed: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const was = remove(load<u64>(ioKeys + (<usize>i << 3)));
    store<u8>(ioLens + i, <u8>was);
    removed += <u32>was;
  }
  return removed;
}

// ---- inspection ---------------------------------------------------------------------------

/** Address of entry `i` (0 <= i < count), for iteration and snapshots from the host. */
export function entryAddress(i: u32): usize {
  assert(i < count, "entryAddress: i within the live entries");
  return entryAt(i);
}

/** Sum of probe lengths over live keys (1 = found at home); with probeMax, the cost of a hit. */
export let probeSum: u64 = 0;
export let probeMax: u32 = 0;

/** Scans the index to fill probeSum and probeMax. Costs nothing on the hot paths. */
export function measureProbes(): void {
  let sum: u64 = 0;
  let most: u32 = 0;
  for (let pos: u32 = 0; pos <= mask; pos++) {
    const slot = slotAt(pos);
    if (isEmpty(slot)) continue;
    const length = ((pos - homeOf(hash(keyOf(slotEntry(slot))))) & mask) + 1;
    sum += length;
    if (length > most) most = length;
  }
  probeSum = sum;
  probeMax = most;
}

/** Checks every structural invariant; traps in debug builds on the first broken one. */
export function verify(): void {
  let full: u32 = 0;
  for (let pos: u32 = 0; pos <= mask; pos++) {
    const slot = slotAt(pos);
    if (isEmpty(slot)) continue;
    full++;
    const entry = slotEntry(slot);
    assert(entry < count, "verify: a slot points at a live entry");
    const h = hash(keyOf(entry));
    assert(slotTag(slot) == tagOf(h), "verify: the tag is the key's");
    assert(find(keyOf(entry), h) == <i32>pos, "verify: the key is found where it sits");
  }
  assert(full == count, "verify: one slot per live entry");
  for (let e: u32 = 0; e < count; e++) {
    const len = load<u8>(entryAt(e), LEN_OFFSET);
    assert(len >= 1 && len <= BUILD_ID_MAX, "verify: a live entry has a valid length");
  }
}
