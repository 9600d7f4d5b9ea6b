// buildid-cache core: a bounded map from u64 keys (inode addresses, packed file
// identities) to ELF build IDs of 1..20 bytes, in linear memory, with no
// allocation after init(). One instance holds one table.
//
// Two arrays, reserved once by init():
//
//   buckets: `bucketCount` records of BUCKET_SIZE bytes, one cache line each, any count (not a
//   power of two: the home bucket is Lemire's multiply-shift, so the load sits near its cap).
//
//      0                       15   16                                  61      64
//     +-------------------------+----+-----------------------------------+-------+
//     | tag 0 | tag 1 | .. | 14 |over| entry 0 | entry 1 | .. | entry 14 | (pad) |
//     +-------------------------+----+-----------------------------------+-------+
//        1 byte per slot                 3 bytes (24 bits) per slot
//
//     tag: EMPTY, or 8 hash bits forced non-zero; one v128 compare matches all 15 at once.
//     over: live keys whose probe passed this bucket full (saturates at OVER_STUCK and stays).
//     entry: the entry number of the slot's key.
//
//   entries: `capacity` records of ENTRY_SIZE bytes; live ones are dense in [0, count).
//
//      0        8                     28     29
//     +--------+---------------------+------+
//     |  key   |  build id (20 B)    | meta |
//     +--------+---------------------+------+
//
//     meta: the build id's length in the low 5 bits (LEN_MASK), the CLOCK reference bit on top
//     (REF_BIT). Records are not aligned: wasm loads any address, and 29 bytes instead of 32
//     keep a live entry, buckets and batch regions included, under 36 bytes.
//
// Why buckets over dense entries (measured against fat slots and a separate control array,
// figures in the README): a hit loads one bucket line, then the entry; a miss loads one bucket
// line; CLOCK, iteration and snapshots stay a linear scan of the entries.
//
// Invariants (verify() checks them all; the debug build asserts them where they are kept):
//   1. At most 7/8 of the slots are full, so an insert always finds an empty one.
//   2. Each live entry has exactly one slot, with its key's tag, in a bucket on its probe path,
//      and every bucket between its home and that bucket counts it in `over`.
//   3. Keys compare in full; a matching tag only says "look".
//   4. count <= capacity; only a full cache evicts, and only a key it holds.
//   5. Memory grows in init() and nowhere else; a lookup writes only a reference bit, the
//      counters, its output and its own scratch (ioHomes).

// ---- layout -------------------------------------------------------------------------------

// Every exported constant here is mirrored once in src/layout.ts; test/layout.test.ts ties the two.

/** Where an entry's u64 key starts. */
export const KEY_OFFSET: usize = 0;
const KEY_SIZE: usize = 8;
/** Where an entry's build id starts. */
export const ID_OFFSET: usize = KEY_OFFSET + KEY_SIZE;
/** Longest build ID stored: the kernel's BUILD_ID_SIZE_MAX. */
export const BUILD_ID_MAX: u32 = 20;
/** Where an entry's meta byte sits: its length and its CLOCK reference bit. */
export const META_OFFSET: usize = ID_OFFSET + <usize>BUILD_ID_MAX;
/** The meta bits holding the build id's length (1..BUILD_ID_MAX). */
export const LEN_MASK: u32 = 0x1F;
/** The meta bit CLOCK's reference bit is. */
export const REF_BIT: u32 = 0x80;
/** Bytes per entry record. */
export const ENTRY_SIZE: u32 = <u32>(META_OFFSET + 1);

/** Slots per bucket: 15 tags and the overflow count fill one v128. */
export const BUCKET_SLOTS: u32 = 15;
/** Where a bucket's overflow count sits, right after its tags. */
export const OVER_OFFSET: usize = <usize>BUCKET_SLOTS;
/** Where a bucket's 3-byte entry numbers start. */
export const SLOT_ENTRY_OFFSET: usize = OVER_OFFSET + 1;
const SLOT_ENTRY_SIZE: usize = 3;
/** Bytes per bucket: one cache line. */
export const BUCKET_SIZE: u32 = 64;
const SLOT_BITS: i32 = (1 << BUCKET_SLOTS) - 1;
const ENTRY_MASK: u32 = (1 << <u32>(SLOT_ENTRY_SIZE * 8)) - 1;
/** Largest capacity: an entry number fits in a slot's 3 bytes. */
export const MAX_CAPACITY: u32 = ENTRY_MASK;
/** Slots are at least capacity / MAX_LOAD, so the table is never more than 7/8 full. */
const MAX_LOAD_NUM: u64 = 7;
const MAX_LOAD_DEN: u64 = 8;
/** An overflow count this high has lost track and is never decremented again. */
export const OVER_STUCK: u32 = 255;

/** Batch entry points work on this many keys per call. */
export const BATCH: u32 = 1024;
/** lookupMany loads the buckets of this many keys before reading any of their entries. */
const LOOKUP_GROUP: u32 = 32;
const HOMES_SIZE: usize = <usize>LOOKUP_GROUP * 8;

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

let buckets: usize = 0;
let entries: usize = 0;
let bucketCount: u32 = 0;
export let capacity: u32 = 0;
export let count: u32 = 0;
let hand: u32 = 0;
/** Most buckets past its home that any key was placed since init or clear: no probe goes further. */
export let reach: u32 = 0;

// Batch I/O regions, written by the host and read by the batch entry points in one call.
export let ioKeys: usize = 0;     // BATCH u64 keys
export let ioIds: usize = 0;      // BATCH build ids, BUILD_ID_MAX bytes apart
export let ioLens: usize = 0;     // BATCH u8 lengths (0: miss) or per-key statuses
export let ioEvicted: usize = 0;  // BATCH u64 keys evicted by setMany, per input key
/** lookupMany's scratch: each key of a group's home bucket and probe state, a u32 pair per key. */
let ioHomes: usize = 0;           // LOOKUP_GROUP u32 pairs; per instance, as static data is shared

/** Key evicted by the last insert that returned INSERTED_EVICTING. */
export let evictedKey: u64 = 0;

export let inserts: u64 = 0;
export let updates: u64 = 0;
export let hits: u64 = 0;
export let misses: u64 = 0;
export let removals: u64 = 0;
export let evictions: u64 = 0;

// ---- buckets, slots and entries -----------------------------------------------------------

/** A slot no key holds; wasm's zeroed memory is an empty table. */
const EMPTY: u8 = 0;

// A slot is named by its bucket's address (64-aligned) plus its index in the low bits; 0 is none.

// @ts-ignore: decorator
@inline function isEmpty(tag: u32): bool { return tag == EMPTY; }
// @ts-ignore: decorator
@inline function isFull(tag: u32): bool { return tag != EMPTY; }
// @ts-ignore: decorator
@inline function bucketAt(b: u32): usize { return buckets + <usize>b * <usize>BUCKET_SIZE; }
// @ts-ignore: decorator
@inline function bucketOf(slot: usize): usize { return slot & ~(<usize>BUCKET_SIZE - 1); }
// @ts-ignore: decorator
@inline function bucketNumber(p: usize): u32 { return <u32>((p - buckets) / <usize>BUCKET_SIZE); }
// @ts-ignore: decorator
@inline function tagAt(slot: usize): u32 { return load<u8>(slot); }
// @ts-ignore: decorator
@inline function slotEntry(slot: usize): u32 {
  const i = slot & (<usize>BUCKET_SIZE - 1);
  const entry = load<u32>(bucketOf(slot) + SLOT_ENTRY_OFFSET + i * SLOT_ENTRY_SIZE) & ENTRY_MASK;
  // A reader may load a torn entry number; bounded, it fails the key compare or the epoch check.
  return ASC_FEATURE_THREADS ? (entry < capacity ? entry : 0) : entry;
}
// @ts-ignore: decorator
@inline function setSlot(slot: usize, tag: u32, entry: u32): void {
  const i = slot & (<usize>BUCKET_SIZE - 1);
  const at = bucketOf(slot) + SLOT_ENTRY_OFFSET + i * SLOT_ENTRY_SIZE;
  store<u16>(at, <u16>entry);
  store<u8>(at, <u8>(entry >> 16), 2);
  store<u8>(slot, <u8>tag);
}
// @ts-ignore: decorator
@inline function overOf(p: usize): u32 { return load<u8>(p, OVER_OFFSET); }
/** Slots of bucket `p` whose tag is `tag`, one bit each. */
// @ts-ignore: decorator
@inline function matches(p: usize, tag: u32): i32 {
  return i8x16.bitmask(i8x16.eq(v128.load(p), i8x16.splat(<i8>tag))) & SLOT_BITS;
}
// @ts-ignore: decorator
@inline function nextBucket(b: u32): u32 { return b + 1 == bucketCount ? 0 : b + 1; }
// @ts-ignore: decorator
@inline function entryAt(entry: u32): usize { return entries + <usize>entry * <usize>ENTRY_SIZE; }
// @ts-ignore: decorator
@inline function keyOf(entry: u32): u64 { return load<u64>(entryAt(entry), KEY_OFFSET); }

// ---- hash ---------------------------------------------------------------------------------

/** The kernel's hash_64 multiplier (include/linux/hash.h); high bits of the product are the most mixed. */
const GOLDEN_RATIO_64: u64 = 0x61C8864680B583EB;

// @ts-ignore: decorator
@inline function hash(key: u64): u64 { return key * GOLDEN_RATIO_64; }
/** Lemire's range reduction of the top 32 bits: any bucket count, no division. */
// @ts-ignore: decorator
@inline function homeOf(h: u64): u32 { return <u32>(((h >> 32) * <u64>bucketCount) >> 32); }
/** 8 bits below the ones homeOf uses, never EMPTY. */
// @ts-ignore: decorator
@inline function tagOf(h: u64): u32 { const t = <u32>(h >> 24) & 0xFF; return t | <u32>(t == 0); }

// ---- the probe loop -----------------------------------------------------------------------

/**
 * The slot holding `key`, or 0. Ends at the first bucket no key probed past, or past the reach:
 * under churn at load 7/8 the overflow counts can keep every bucket non-zero, and a miss would
 * otherwise walk the whole table.
 */
function find(key: u64, h: u64): usize {
  const b = homeOf(h);
  const tag = tagOf(h);
  return findFrom(key, tag, b, matches(bucketAt(b), tag));
}

/** find() from home bucket `b`, whose slots matching `tag` are `m`: lookupMany computes those a pass early. */
// @ts-ignore: decorator
@inline function findFrom(key: u64, tag: u32, b: u32, m: i32): usize {
  const last = reachNow();
  let p = bucketAt(b);
  let step: u32 = 0;
  while (true) {
    // Equality is always the full key: a matching tag only says "look".
    for (; m != 0; m &= m - 1) {
      const slot = p | <usize>ctz(m);
      if (keyOf(slotEntry(slot)) == key) return slot;
    }
    if (overOf(p) == 0 || step++ >= last) return 0;
    b = nextBucket(b);
    p = bucketAt(b);
    m = matches(p, tag);
  }
}

/** Adds `delta` to the overflow count of every bucket from `h`'s home up to `last`, exclusive. */
function countPassing(h: u64, last: usize, delta: i32): void {
  for (let b = homeOf(h); bucketAt(b) != last; b = nextBucket(b)) {
    const over = overOf(bucketAt(b));
    assert(over > 0 || delta > 0, "countPassing: a key leaving counted itself on the way");
    if (over != OVER_STUCK) store<u8>(bucketAt(b), <u8>(<i32>over + delta), OVER_OFFSET);
  }
}

/**
 * An empty slot for a new key of hash `h`: the first one on its probe path, counted in the
 * overflow of every full bucket before it. Ends because the load cap leaves 1/8 of the slots empty.
 */
function claim(h: u64): usize {
  let b = homeOf(h);
  let step: u32 = 0;
  while (true) {
    const free = matches(bucketAt(b), EMPTY);
    if (free != 0) {
      const slot = bucketAt(b) | <usize>ctz(free);
      countPassing(h, bucketAt(b), 1);
      if (step > reach) setReach(step);
      return slot;
    }
    b = nextBucket(b);
    step++;
  }
}

/** The reach a probe may trust: the writer's own, or for a reader the header's, bounded by the table. */
// @ts-ignore: decorator
@inline function reachNow(): u32 {
  if (!ASC_FEATURE_THREADS) return reach;
  const r = load<u32>(header, H_REACH);
  return r < bucketCount ? r : bucketCount - 1;
}

// @ts-ignore: decorator
@inline function setReach(r: u32): void {
  reach = r;
  if (ASC_FEATURE_THREADS) store<u32>(header, r, H_REACH);
}

/**
 * Empties `slot` and uncounts its key from the buckets it passed. No tombstones: the overflow
 * counts end a miss as early as on a table that never saw a delete (Folly F14's scheme).
 */
function vacate(slot: usize, h: u64): void {
  store<u8>(slot, EMPTY);
  countPassing(h, bucketOf(slot), -1);
}

// ---- entries ------------------------------------------------------------------------------

/**
 * Copies a build id of `len` bytes from `src` (BUILD_ID_MAX readable bytes: a batch slot) into
 * `entry`, zeroing the unused tail, with reference bit `ref`. Word moves: memory.copy is a call
 * out of the wasm in V8.
 */
function writeEntry(entry: u32, key: u64, src: usize, len: u32, ref: u32): void {
  const p = entryAt(entry);
  store<u64>(p, key, KEY_OFFSET);
  v128.store(p, v128.load(src), ID_OFFSET);
  store<u32>(p, load<u32>(src, 16), ID_OFFSET + 16);
  if (len < BUILD_ID_MAX) memory.fill(p + ID_OFFSET + len, 0, BUILD_ID_MAX - len);
  store<u8>(p, <u8>(len | ref), META_OFFSET);
}

/**
 * Copies the build id of the entry at `p` to `dst` (BUILD_ID_MAX bytes) and returns its length.
 * Five u32 stores: the host reads them back as five u32 loads, which store-to-load forwarding serves.
 */
// @ts-ignore: decorator
@inline function readEntry(p: usize, dst: usize): u32 {
  store<u32>(dst, load<u32>(p, ID_OFFSET));
  store<u32>(dst, load<u32>(p, ID_OFFSET + 4), 4);
  store<u32>(dst, load<u32>(p, ID_OFFSET + 8), 8);
  store<u32>(dst, load<u32>(p, ID_OFFSET + 12), 12);
  store<u32>(dst, load<u32>(p, ID_OFFSET + 16), 16);
  return load<u8>(p, META_OFFSET) & LEN_MASK;
}

/** Copies the ENTRY_SIZE (29) bytes of the entry at `from` over the one at `to`, in four moves. */
// @ts-ignore: decorator
@inline function moveEntry(to: usize, from: usize): void {
  v128.store(to, v128.load(from));
  store<u64>(to, load<u64>(from, 16), 16);
  store<u32>(to, load<u32>(from, 24), 24);
  store<u8>(to, load<u8>(from, 28), 28);
}

/** Frees a dead entry by moving the last live entry into it, keeping entries dense. */
function compact(entry: u32): void {
  const last = count - 1;
  if (entry != last) {
    const key = keyOf(last);
    const slot = find(key, hash(key));
    assert(slot != 0, "compact: every live entry has a slot");
    moveEntry(entryAt(entry), entryAt(last));
    setSlot(slot, tagAt(slot), entry);
  }
  count = last;
  if (hand >= count) hand = 0;
}

/**
 * CLOCK: sweep from the hand, clearing reference bits, and take the first entry whose bit is
 * clear. New entries start clear and a lookup or a second set marks them, so a key seen once
 * leaves before a key seen twice.
 */
function victim(): u32 {
  assert(count == capacity, "victim: only a full cache evicts");
  while (true) {
    const p = entryAt(hand);
    const meta = load<u8>(p, META_OFFSET);
    if ((meta & REF_BIT) == 0) return hand;
    store<u8>(p, meta & LEN_MASK, META_OFFSET);
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
  const n = bucketsFor(cap);
  const total = tableBytes(cap, n);
  // Grow exactly once, and report failure instead of letting the allocator trap.
  const end = <u64>__heap_base + <u64>total + <u64>BUCKET_SIZE;
  const pagesNeeded = <i32>((end + 0xFFFF) >> 16) - memory.size();
  if (pagesNeeded > 0 && memory.grow(pagesNeeded) < 0) return ERR_NO_MEMORY;
  // Buckets start on a cache line, so each bucket is exactly one line.
  buckets = (heap.alloc(total + BUCKET_SIZE) + BUCKET_SIZE - 1) & ~(<usize>BUCKET_SIZE - 1);
  // The I/O regions sit between buckets and entries: 8-aligned for the host's BigUint64Array.
  ioKeys = buckets + <usize>n * <usize>BUCKET_SIZE;
  ioEvicted = ioKeys + <usize>BATCH * KEY_SIZE;
  ioIds = ioEvicted + <usize>BATCH * KEY_SIZE;
  ioLens = ioIds + <usize>BATCH * <usize>BUILD_ID_MAX;
  ioHomes = ioLens + <usize>BATCH;
  entries = ioHomes + HOMES_SIZE;
  // No fill: init runs once per instance, on memory that nothing has written yet (wasm zeroes it).
  bucketCount = n;
  capacity = cap;
  if (ASC_FEATURE_THREADS) publishHeader();
  return OK;
}

/** The fewest buckets whose slots keep `cap` entries at most 7/8 full. */
function bucketsFor(cap: u32): u32 {
  const slotsNeeded = (<u64>cap * MAX_LOAD_DEN + MAX_LOAD_NUM - 1) / MAX_LOAD_NUM;
  return <u32>((slotsNeeded + BUCKET_SLOTS - 1) / BUCKET_SLOTS);
}

/** Bytes of buckets, entries and batch I/O for `cap` entries over `n` buckets. */
function tableBytes(cap: u32, n: u32): usize {
  return <usize>n * <usize>BUCKET_SIZE + <usize>cap * <usize>ENTRY_SIZE
    + <usize>BATCH * (KEY_SIZE + <usize>BUILD_ID_MAX + 1 + KEY_SIZE) + HOMES_SIZE
    + (ASC_FEATURE_THREADS ? HEADER_SIZE + KEY_SIZE : 0); // the shared header and its alignment
}

/** Slots in the table: BUCKET_SLOTS per bucket. */
export function slotCount(): u32 { return bucketCount * BUCKET_SLOTS; }

/** Address of the first bucket, for tests that corrupt the table from the host. */
export function bucketAddress(): usize { return buckets; }

/** Bytes reserved by init(): buckets, entries and batch I/O. */
export function reservedBytes(): f64 {
  return <f64>tableBytes(capacity, bucketCount);
}

/**
 * Maps `key` to the `len`-byte build id at `src`. Returns INSERTED, UPDATED, or
 * INSERTED_EVICTING (the displaced key is in `evictedKey`); ERR_LENGTH changes nothing.
 */
export function insert(key: u64, src: usize, len: u32): i32 {
  if (len == 0 || len > BUILD_ID_MAX) return ERR_LENGTH;
  const h = hash(key);
  const found = find(key, h);
  if (ASC_FEATURE_THREADS) writeBegin();
  if (found != 0) {
    // A key set again is a key used again: CLOCK keeps it a sweep longer, as an LRU would.
    writeEntry(slotEntry(found), key, src, len, REF_BIT);
    updates++;
    if (ASC_FEATURE_THREADS) writeEnd();
    return UPDATED;
  }
  let status = INSERTED;
  let entry = count;
  if (count == capacity) {
    entry = victim();
    evictedKey = keyOf(entry);
    const old = hash(evictedKey);
    vacate(find(evictedKey, old), old);
    hand = hand + 1 == count ? 0 : hand + 1;
    evictions++;
    status = INSERTED_EVICTING;
  } else {
    count++;
  }
  writeEntry(entry, key, src, len, 0);
  setSlot(claim(h), tagOf(h), entry);
  inserts++;
  assert(count <= capacity, "insert: never more entries than capacity");
  if (ASC_FEATURE_THREADS) writeEnd();
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
  const slot = find(key, hash(key));
  return slot == 0 ? 0 : copyOut(slot, dst);
}

/** Marks the entry of `slot` used and copies its build id to `dst`; returns its length. */
// @ts-ignore: decorator
@inline function copyOut(slot: usize, dst: usize): u32 {
  const p = entryAt(slotEntry(slot));
  const meta = load<u8>(p, META_OFFSET);
  // Test before set: a line that is only read stays clean (and shareable with reader threads).
  if ((meta & REF_BIT) == 0) {
    // A reader's bit is an atomic or, so it never undoes a length the writer stores meanwhile.
    if (ASC_FEATURE_THREADS) atomic.or<u8>(p + META_OFFSET, <u8>REF_BIT);
    else store<u8>(p, meta | REF_BIT, META_OFFSET);
  }
  return readEntry(p, dst);
}

/** Whether `key` is present; touches no counter and no reference bit. */
export function contains(key: u64): bool {
  return find(key, hash(key)) != 0;
}

/** Removes `key`; returns whether it was present. */
export function remove(key: u64): bool {
  const h = hash(key);
  const slot = find(key, h);
  if (slot == 0) return false;
  if (ASC_FEATURE_THREADS) writeBegin();
  const entry = slotEntry(slot);
  vacate(slot, h);
  compact(entry);
  removals++;
  if (ASC_FEATURE_THREADS) writeEnd();
  return true;
}

/** Removes every entry; counters are kept. */
export function clear(): void {
  if (ASC_FEATURE_THREADS) writeBegin();
  memory.fill(buckets, 0, <usize>bucketCount * <usize>BUCKET_SIZE);
  count = 0;
  hand = 0;
  setReach(0);
  if (ASC_FEATURE_THREADS) writeEnd();
}

// ---- batch operations over the I/O regions ------------------------------------------------

/** Folds the loads of lookupGroup's first passes, so the optimizer keeps them. */
let touched: u32 = 0;

/**
 * lookup() for ioKeys[0..n): ids to ioIds, lengths to ioLens (0: miss). Returns hits.
 * Keys go in groups of LOOKUP_GROUP (lookupGroup).
 */
export function lookupMany(n: u32): u32 {
  assert(n <= BATCH, "lookupMany: n within the batch region");
  let found: u32 = 0;
  for (let g: u32 = 0; g < n; g += LOOKUP_GROUP) found += lookupGroup(g, min(g + LOOKUP_GROUP, n));
  hits += found;
  misses += n - found;
  return found;
}

/**
 * lookupMany() for keys [g, end) of the batch, at most LOOKUP_GROUP, counting nothing; returns hits.
 * Three passes: every key's home bucket is loaded, then its tags matched and its candidate entry
 * loaded, so the cache misses of the group overlap (wasm has no prefetch); then each key's probe
 * resumes from that state, and a key its home bucket rules out ends there.
 */
function lookupGroup(g: u32, end: u32): u32 {
  let found: u32 = 0;
  let sink: u32 = 0;
  // Few instructions a key, so the reorder buffer holds every key's bucket load at once.
  for (let i = g; i < end; i++) {
    const h = hash(load<u64>(ioKeys + (<usize>i << 3)));
    const b = homeOf(h);
    const at = ioHomes + (<usize>(i - g) << 3);
    store<u32>(at, b);
    store<u32>(at, tagOf(h), 4);
    sink += overOf(bucketAt(b));
  }
  for (let i = g; i < end; i++) {
    const at = ioHomes + (<usize>(i - g) << 3);
    const p = bucketAt(load<u32>(at));
    const tag = load<u32>(at, 4);
    const m = matches(p, tag);
    // The probe's state in one word: matches, tag, and the overflow count (a tag is never 0).
    store<u32>(at, <u32>m | tag << 16 | overOf(p) << 24, 4);
    if (m != 0) {
      // Both ends of the candidate entry: a record may straddle two lines.
      const e = entryAt(slotEntry(p | <usize>ctz(m)));
      sink += <u32>load<u8>(e) + <u32>load<u8>(e, ENTRY_SIZE - 1);
    }
  }
  for (let i = g; i < end; i++) {
    const at = ioHomes + (<usize>(i - g) << 3);
    const state = load<u32>(at, 4);
    // No match and no key passed the home bucket: a miss without another load.
    const slot = (state & ~(0xFF << 16)) == 0
      ? 0
      : findFrom(load<u64>(ioKeys + (<usize>i << 3)), (state >> 16) & 0xFF, load<u32>(at), state & SLOT_BITS);
    const len = slot == 0 ? 0 : copyOut(slot, ioIds + <usize>i * BUILD_ID_MAX);
    store<u8>(ioLens + i, <u8>len);
    found += <u32>(len != 0);
  }
  touched += sink;
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

/** Sum of probe lengths over live keys in buckets (1 = found in its home); with probeMax, the cost of a hit. */
export let probeSum: u64 = 0;
export let probeMax: u32 = 0;

/** Buckets a probe for the live key of `entry` visits, counting its home. */
function probeLength(entry: u32): u32 {
  const key = keyOf(entry);
  const h = hash(key);
  const at = bucketNumber(bucketOf(find(key, h)));
  const home = homeOf(h);
  return (at >= home ? at - home : at + bucketCount - home) + 1;
}

/** Scans the entries to fill probeSum and probeMax. Costs nothing on the hot paths. */
export function measureProbes(): void {
  let sum: u64 = 0;
  let most: u32 = 0;
  for (let e: u32 = 0; e < count; e++) {
    const length = probeLength(e);
    sum += length;
    if (length > most) most = length;
  }
  probeSum = sum;
  probeMax = most;
}

/** Checks every structural invariant; traps in debug builds on the first broken one. */
export function verify(): void {
  let full: u32 = 0;
  let over: u64 = 0;
  for (let b: u32 = 0; b < bucketCount; b++) {
    const p = bucketAt(b);
    if (overOf(p) != OVER_STUCK) over += overOf(p);
    for (let i: usize = 0; i < <usize>BUCKET_SLOTS; i++) {
      const slot = p | i;
      if (isEmpty(tagAt(slot))) continue;
      full++;
      const entry = slotEntry(slot);
      assert(entry < count, "verify: a slot points at a live entry");
      const h = hash(keyOf(entry));
      assert(tagAt(slot) == tagOf(h), "verify: the tag is the key's");
      const home = homeOf(h);
      assert((b >= home ? b - home : b + bucketCount - home) <= reach, "verify: no key sits past the reach");
      assert(find(keyOf(entry), h) == slot, "verify: the key is found where it sits");
    }
  }
  assert(full == count, "verify: one slot per live entry");
  let passed: u64 = 0;
  for (let e: u32 = 0; e < count; e++) {
    const key = keyOf(e);
    const h = hash(key);
    const last = bucketOf(find(key, h));
    for (let b = homeOf(h); bucketAt(b) != last; b = nextBucket(b)) passed += <u64>(overOf(bucketAt(b)) != OVER_STUCK);
  }
  assert(over == passed, "verify: overflow counts sum to the buckets the keys passed");
  for (let e: u32 = 0; e < count; e++) {
    const meta = load<u8>(entryAt(e), META_OFFSET);
    const len = meta & LEN_MASK;
    assert(len >= 1 && len <= BUILD_ID_MAX && (meta & ~(LEN_MASK | REF_BIT)) == 0, "verify: a live entry has a valid length");
  }
}

// ---- shared mode (compiled only with --enable threads, by assembly/shared.ts) -------------
//
// One writer thread, any number of reader threads, one table in a shared memory. A reader is
// wait-free: one probe (each bucket at most once, each entry number bounded by capacity in
// slotEntry) between two loads of a per-table epoch, a seqlock the writer holds odd while it
// mutates. A read that saw the epoch odd or changed reports a miss, counted in contendedMisses.
//
// Why one epoch and not versions per bucket or per entry: an insert writes an entry, a slot and
// the overflow count of every bucket its probe passed; an eviction also empties a slot and its
// counts; a delete moves the last entry into the hole and rewrites that entry's slot elsewhere.
// Finer versions need a word in each (entries have no spare byte) and a reader checks them all,
// for at most the contended-miss rate back. Measured (npm run bench:shared, writer at 200k
// changes/s, 2 cores under load 5): 0.06-0.9 % of one reader's reads, 0.2-11.7 % with two, where
// the writer is descheduled mid-change; finer versions would shrink that tail but not end it.
// Writers never wait: begin and end are one atomic store each (and a load).
//
// The header, one per table after its entries, 8-aligned; plain fields never change after init:
//
//      0          8       12       16         20          24        28        32     36      40
//     +----------+-------+--------+----------+-----------+---------+---------+------+-------+
//     |  epoch   | count | writer | capacity | bucket #  | buckets | entries | hand | reach |
//     +----------+-------+--------+----------+-----------+---------+---------+------+-------+
//
//     epoch: u64, even at rest; count: atomic, for readers' size; writer: 1 while a writer holds
//     the table; hand: the CLOCK hand as the last change left it, for a writer that attaches;
//     reach: the writer's `reach`, which readers' probes stop at.

const H_EPOCH: usize = 0;
const H_COUNT: usize = H_EPOCH + 8;
const H_WRITER: usize = H_COUNT + 4;
const H_CAPACITY: usize = H_WRITER + 4;
const H_BUCKET_COUNT: usize = H_CAPACITY + 4;
const H_BUCKETS: usize = H_BUCKET_COUNT + 4;
const H_ENTRIES: usize = H_BUCKETS + 4;
const H_HAND: usize = H_ENTRIES + 4;
const H_REACH: usize = H_HAND + 4;
const HEADER_SIZE: usize = H_REACH + 4;
/** Pages each attached thread grows the memory by for its own batch I/O regions. */
const IO_PAGES: i32 = 1;

/** attachWriter(): another thread holds the table as its writer. */
// @ts-ignore: decorator
@global const SHARED_ERR_WRITER: i32 = -4;

let header: usize = 0;
/** A word of this thread's own I/O page that a reader stores to as its fence. */
let fenceWord: usize = 0;
/** The writer's copy of the epoch: only the writer stores it. */
let epoch: u64 = 0;
/** Reads that reported a miss because the writer changed the table meanwhile. */
// @ts-ignore: decorator
@global let sharedContended: u64 = 0;

/** Places the header after the entries and claims the table for this, the creating, thread. */
function publishHeader(): void {
  header = (entries + <usize>capacity * <usize>ENTRY_SIZE + KEY_SIZE - 1) & ~(KEY_SIZE - 1);
  store<u32>(header, capacity, H_CAPACITY);
  store<u32>(header, bucketCount, H_BUCKET_COUNT);
  store<u32>(header, <u32>buckets, H_BUCKETS);
  store<u32>(header, <u32>entries, H_ENTRIES);
  atomic.store<u32>(header, 1, H_WRITER);
}

// AssemblyScript 0.28's atomic.fence() fails Binaryen's validation, so a fence here is a seq-cst
// store then a seq-cst load: x86 emits xchg (a full barrier), ARMv8 stlr then ldar (never reordered).

/** Makes the epoch odd before a change; the load after it keeps the table's stores after it. */
// @ts-ignore: decorator
@inline function writeBegin(): void {
  atomic.store<u64>(header, ++epoch, H_EPOCH);
  atomic.load<u64>(header, H_EPOCH);
}

/** Publishes count and hand, then makes the epoch even again (a seq-cst store: after every change). */
// @ts-ignore: decorator
@inline function writeEnd(): void {
  store<u32>(header, hand, H_HAND);
  atomic.store<u32>(header, count, H_COUNT);
  atomic.store<u64>(header, ++epoch, H_EPOCH);
}

/**
 * Points this instance at the table whose header is at `at`, and grows the memory by IO_PAGES
 * for this thread's own batch regions. Returns OK, ERR_CAPACITY (this instance has a table) or
 * ERR_NO_MEMORY.
 */
// @ts-ignore: decorator
@global function sharedAttach(at: usize): i32 {
  if (capacity != 0) return ERR_CAPACITY;
  const page = memory.grow(IO_PAGES);
  if (page < 0) return ERR_NO_MEMORY;
  header = at;
  capacity = load<u32>(at, H_CAPACITY);
  bucketCount = load<u32>(at, H_BUCKET_COUNT);
  buckets = load<u32>(at, H_BUCKETS);
  entries = load<u32>(at, H_ENTRIES);
  ioKeys = <usize>page << 16;
  ioEvicted = ioKeys + <usize>BATCH * KEY_SIZE;
  ioIds = ioEvicted + <usize>BATCH * KEY_SIZE;
  ioLens = ioIds + <usize>BATCH * <usize>BUILD_ID_MAX;
  ioHomes = ioLens + <usize>BATCH;
  fenceWord = ioHomes + HOMES_SIZE;
  return OK;
}

/** sharedAttach() as the table's one writer: refused with SHARED_ERR_WRITER while another holds it. */
// @ts-ignore: decorator
@global function sharedAttachWriter(at: usize): i32 {
  if (capacity != 0) return ERR_CAPACITY;
  if (atomic.cmpxchg<u32>(at, 0, 1, H_WRITER) != 0) return SHARED_ERR_WRITER;
  const status = sharedAttach(at);
  if (status != OK) {
    atomic.store<u32>(at, 0, H_WRITER);
    return status;
  }
  epoch = atomic.load<u64>(at, H_EPOCH);
  count = atomic.load<u32>(at, H_COUNT);
  hand = load<u32>(at, H_HAND);
  reach = load<u32>(at, H_REACH);
  return OK;
}

/** Gives the table up, so another thread may attach as its writer. */
// @ts-ignore: decorator
@global function sharedRelease(): void {
  atomic.store<u32>(header, 0, H_WRITER);
}

/** The header's address, for the handle the writer shares. */
// @ts-ignore: decorator
@global function sharedHeader(): usize { return header; }

/** Live entries as the writer last published them. */
// @ts-ignore: decorator
@global function sharedCount(): u32 { return atomic.load<u32>(header, H_COUNT); }

/** A read's first step: the epoch it starts from (odd: the writer is mid-change). */
// @ts-ignore: decorator
@global function sharedReadBegin(): u64 { return atomic.load<u64>(header, H_EPOCH); }

/**
 * A read's middle step: lookup() without counters, on a table that may change under it. The
 * reference bit it sets is a benign race: a lost or misplaced bit changes only which key CLOCK
 * evicts, and an atomic or never touches the length beside it.
 */
// @ts-ignore: decorator
@global function sharedReadProbe(key: u64, dst: usize): u32 { return probe(key, dst); }

/** A read's last step: whether nothing changed since `begun` (the store keeps the probe's loads before). */
// @ts-ignore: decorator
@global function sharedReadEnd(begun: u64): bool {
  atomic.store<u32>(fenceWord, <u32>begun);
  return (begun & 1) == 0 && atomic.load<u64>(header, H_EPOCH) == begun;
}

/** lookup() for a reader: the build id only if the read was not contended, else 0 (counted). */
// @ts-ignore: decorator
@global function sharedLookup(key: u64, dst: usize): u32 {
  const begun = sharedReadBegin();
  const len = (begun & 1) == 0 ? sharedReadProbe(key, dst) : 0;
  if (!sharedReadEnd(begun)) {
    sharedContended++;
    misses++;
    return 0;
  }
  if (len == 0) misses++;
  else hits++;
  return len;
}

/** contains() for a reader: false when contended (counted). */
// @ts-ignore: decorator
@global function sharedContains(key: u64): bool {
  const begun = sharedReadBegin();
  const found = (begun & 1) == 0 && find(key, hash(key)) != 0;
  if (sharedReadEnd(begun)) return found;
  sharedContended++;
  return false;
}

/**
 * lookupMany() for a reader: a group at a time between two epoch loads, and the keys of a group
 * the writer changed the table under again one by one, as sharedLookup() reads them. Returns hits.
 */
// @ts-ignore: decorator
@global function sharedLookupMany(n: u32): u32 {
  assert(n <= BATCH, "sharedLookupMany: n within the batch region");
  let found: u32 = 0;
  for (let g: u32 = 0; g < n; g += LOOKUP_GROUP) {
    const end = min(g + LOOKUP_GROUP, n);
    const begun = sharedReadBegin();
    const got = (begun & 1) == 0 ? lookupGroup(g, end) : 0;
    if (sharedReadEnd(begun)) {
      found += got;
      hits += got;
      misses += end - g - got;
      continue;
    }
    for (let i = g; i < end; i++) {
      const len = sharedLookup(load<u64>(ioKeys + (<usize>i << 3)), ioIds + <usize>i * BUILD_ID_MAX);
      store<u8>(ioLens + i, <u8>len);
      found += <u32>(len != 0);
    }
  }
  return found;
}
