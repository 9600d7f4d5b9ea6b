/*
 * assembly/index.ts in C, for the native row of the benchmark. Same layout:
 *
 *   buckets: `bucket_count` records of BUCKET_SIZE (64) bytes, 64-aligned, any count:
 *     0 tag[15] | 15 over u8 | 16 entry number (24 bits LE)[15] | 61 pad[3]
 *     tag: EMPTY (0) or 8 hash bits forced non-zero; over: live keys whose probe passed this
 *     bucket full, saturating at OVER_STUCK (then never decremented)
 *   entries: capacity records of 29 bytes, unaligned, dense in [0, count):
 *     0 key u64 | 8 build id [20] | 28 meta u8 (length in the low 5 bits, CLOCK reference bit 0x80)
 *
 * Same hash (key * 0x61C8864680B583EB), Lemire home ((h >> 32) * buckets) >> 32, tag from bits
 * 24..31, buckets for a load <= 7/8, linear probing by bucket ended by a zero overflow count,
 * compaction by moving the last entry, CLOCK eviction with the hand advanced past the victim,
 * and lookupMany's three passes over groups of LOOKUP_GROUP keys (the last resuming from the others' state). The 15-tag compare is SSE2
 * (_mm_cmpeq_epi8 + _mm_movemask_epi8, baseline on x86-64) where the compiler has it, a byte loop elsewhere.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define KEY_OFFSET 0u
#define ID_OFFSET (KEY_OFFSET + 8u)
#define META_OFFSET (ID_OFFSET + BUILD_ID_MAX)
#define LEN_MASK 0x1Fu
#define REF_BIT 0x80u
#define ENTRY_SIZE (META_OFFSET + 1u)

#define BUCKET_SLOTS 15u
#define OVER_OFFSET BUCKET_SLOTS
#define SLOT_ENTRY_OFFSET (OVER_OFFSET + 1u)
#define SLOT_ENTRY_SIZE 3u
#define BUCKET_SIZE 64u
#define SLOT_BITS ((1u << BUCKET_SLOTS) - 1u)
#define ENTRY_MASK ((1u << (SLOT_ENTRY_SIZE * 8u)) - 1u)
#define MAX_LOAD_NUM 7u
#define MAX_LOAD_DEN 8u
#define OVER_STUCK 255u
#define LOOKUP_GROUP 32u
#define EMPTY 0u
#define GOLDEN_RATIO_64 0x61C8864680B583EBull

_Static_assert(ENTRY_SIZE == 29, "entry: key | id | meta");
_Static_assert(SLOT_ENTRY_OFFSET + BUCKET_SLOTS * SLOT_ENTRY_SIZE <= BUCKET_SIZE, "a bucket fits one line");

/** One table: 64-byte buckets of tags, an overflow count and entry numbers, over dense 29-byte entries. */
struct table {
  uint8_t *buckets;
  uint8_t *entries;
  uint32_t bucket_count, capacity, count, hand;
  uint32_t reach; /* most buckets past its home that any key was placed: no probe goes further */
  uint64_t evicted_key;
  /* The core's counters, kept here too so both do the same work per call. */
  uint64_t inserts, updates, hits, misses, removals, evictions;
};

const int table_evicts = 1;

/* A slot is named by its bucket's address (64-aligned) plus its index in the low bits; 0 is none. */
typedef uintptr_t slot_t;

static inline uint64_t hash(uint64_t key) { return key * GOLDEN_RATIO_64; }
static inline uint32_t home_of(const table_t *t, uint64_t h) { return (uint32_t)(((h >> 32) * t->bucket_count) >> 32); }
static inline uint32_t tag_of(uint64_t h) {
  uint32_t tag = (uint32_t)(h >> 24) & 0xFFu;
  return tag | (tag == 0);
}
static inline uint8_t *bucket_at(const table_t *t, uint32_t b) { return t->buckets + (size_t)b * BUCKET_SIZE; }
static inline uint8_t *bucket_of(slot_t slot) { return (uint8_t *)(slot & ~(uintptr_t)(BUCKET_SIZE - 1)); }
static inline uint32_t next_bucket(const table_t *t, uint32_t b) { return b + 1 == t->bucket_count ? 0 : b + 1; }
static inline uint32_t tag_at(slot_t slot) { return *(const uint8_t *)slot; }
static inline uint32_t over_of(const uint8_t *p) { return p[OVER_OFFSET]; }
static inline uint32_t slot_entry(slot_t slot) {
  const uint8_t *at = bucket_of(slot) + SLOT_ENTRY_OFFSET + (slot & (BUCKET_SIZE - 1)) * SLOT_ENTRY_SIZE;
  return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16;
}
static inline void set_slot(slot_t slot, uint32_t tag, uint32_t entry) {
  uint8_t *at = bucket_of(slot) + SLOT_ENTRY_OFFSET + (slot & (BUCKET_SIZE - 1)) * SLOT_ENTRY_SIZE;
  at[0] = (uint8_t)entry;
  at[1] = (uint8_t)(entry >> 8);
  at[2] = (uint8_t)(entry >> 16);
  *(uint8_t *)slot = (uint8_t)tag;
}
/** Slots of bucket `p` whose tag is `tag`, one bit each. */
static inline uint32_t matches(const uint8_t *p, uint32_t tag) {
#if defined(__SSE2__)
  __m128i tags = _mm_load_si128((const __m128i *)p);
  return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(tags, _mm_set1_epi8((char)tag))) & SLOT_BITS;
#else
  uint32_t m = 0;
  for (uint32_t i = 0; i < BUCKET_SLOTS; i++) m |= (uint32_t)(p[i] == tag) << i;
  return m;
#endif
}
static inline uint8_t *entry_at(const table_t *t, uint32_t e) { return t->entries + (size_t)e * ENTRY_SIZE; }
static inline uint64_t key_of(const table_t *t, uint32_t e) {
  uint64_t k;
  memcpy(&k, entry_at(t, e) + KEY_OFFSET, 8);
  return k;
}

void table_free(table_t *t) {
  free(t->buckets);
  free(t->entries);
  free(t);
}

/** The fewest buckets whose slots keep `capacity` entries at most 7/8 full. */
static uint32_t buckets_for(uint32_t capacity) {
  uint64_t slots = ((uint64_t)capacity * MAX_LOAD_DEN + MAX_LOAD_NUM - 1) / MAX_LOAD_NUM;
  return (uint32_t)((slots + BUCKET_SLOTS - 1) / BUCKET_SLOTS);
}

table_t *table_new(uint32_t capacity) {
  if (capacity == 0 || capacity > ENTRY_MASK) return NULL;
  table_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->bucket_count = buckets_for(capacity);
  size_t bytes = (size_t)t->bucket_count * BUCKET_SIZE;
  t->buckets = aligned_alloc(BUCKET_SIZE, bytes); /* bytes is a multiple of 64: each bucket one line */
  t->entries = calloc(capacity, ENTRY_SIZE);
  t->capacity = capacity;
  if (!t->buckets || !t->entries) {
    table_free(t);
    return NULL;
  }
  memset(t->buckets, 0, bytes);
  return t;
}

size_t table_bytes(const table_t *t) { return (size_t)t->bucket_count * BUCKET_SIZE + (size_t)t->capacity * ENTRY_SIZE; }
uint32_t table_count(const table_t *t) { return t->count; }
uint64_t table_evictions(const table_t *t) { return t->evictions; }

/** find() from home bucket `b`, whose slots matching `tag` are `m`: lookup_many computes those a pass early. */
static inline slot_t find_from(const table_t *t, uint64_t key, uint32_t tag, uint32_t b, uint32_t m) {
  const uint8_t *p = bucket_at(t, b);
  for (uint32_t step = 0;;) {
    for (; m != 0; m &= m - 1) {
      slot_t slot = (uintptr_t)p | (uintptr_t)__builtin_ctz(m);
      if (key_of(t, slot_entry(slot)) == key) return slot;
    }
    if (over_of(p) == 0 || step++ >= t->reach) return 0;
    b = next_bucket(t, b);
    p = bucket_at(t, b);
    m = matches(p, tag);
  }
}

/** The slot holding `key`, or 0. Ends at the first bucket no key probed past, or past the reach. */
static slot_t find(const table_t *t, uint64_t key, uint64_t h) {
  uint32_t tag = tag_of(h), b = home_of(t, h);
  return find_from(t, key, tag, b, matches(bucket_at(t, b), tag));
}

/** Adds `delta` to the overflow count of every bucket from `h`'s home up to `last`, exclusive. */
static void count_passing(const table_t *t, uint64_t h, const uint8_t *last, int delta) {
  for (uint32_t b = home_of(t, h); bucket_at(t, b) != last; b = next_bucket(t, b)) {
    uint8_t *p = bucket_at(t, b);
    if (p[OVER_OFFSET] != OVER_STUCK) p[OVER_OFFSET] = (uint8_t)(p[OVER_OFFSET] + delta);
  }
}

/** The first empty slot on `h`'s probe path, counted in every full bucket before it; the load cap ends the loop. */
static slot_t claim(table_t *t, uint64_t h) {
  for (uint32_t b = home_of(t, h), step = 0;; b = next_bucket(t, b), step++) {
    uint32_t free_slots = matches(bucket_at(t, b), EMPTY);
    if (free_slots != 0) {
      count_passing(t, h, bucket_at(t, b), 1);
      if (step > t->reach) t->reach = step;
      return (uintptr_t)bucket_at(t, b) | (uintptr_t)__builtin_ctz(free_slots);
    }
  }
}

/** Empties `slot` and uncounts its key from the buckets it passed (no tombstones). */
static void vacate(const table_t *t, slot_t slot, uint64_t h) {
  *(uint8_t *)slot = EMPTY;
  count_passing(t, h, bucket_of(slot), -1);
}

static void write_entry(table_t *t, uint32_t e, uint64_t key, const uint8_t *src, uint32_t len, uint32_t ref) {
  uint8_t *p = entry_at(t, e);
  memcpy(p + KEY_OFFSET, &key, 8);
  memcpy(p + ID_OFFSET, src, len);
  if (len < BUILD_ID_MAX) memset(p + ID_OFFSET + len, 0, BUILD_ID_MAX - len);
  p[META_OFFSET] = (uint8_t)(len | ref);
}

/** Frees a dead entry by moving the last live entry into it, keeping entries dense. */
static void compact(table_t *t, uint32_t e) {
  uint32_t last = t->count - 1;
  if (e != last) {
    uint64_t key = key_of(t, last);
    slot_t slot = find(t, key, hash(key));
    memcpy(entry_at(t, e), entry_at(t, last), ENTRY_SIZE);
    set_slot(slot, tag_at(slot), e);
  }
  t->count = last;
  if (t->hand >= t->count) t->hand = 0;
}

/** CLOCK: sweep from the hand, clearing reference bits, and take the first entry whose bit is clear. */
static uint32_t victim(table_t *t) {
  for (;;) {
    uint8_t *p = entry_at(t, t->hand);
    if ((p[META_OFFSET] & REF_BIT) == 0) return t->hand;
    p[META_OFFSET] &= LEN_MASK;
    t->hand = t->hand + 1 == t->count ? 0 : t->hand + 1;
  }
}

int table_insert(table_t *t, uint64_t key, const uint8_t *src, uint32_t len) {
  if (len == 0 || len > BUILD_ID_MAX) return ERR_LENGTH;
  uint64_t h = hash(key);
  slot_t found = find(t, key, h);
  if (found != 0) {
    write_entry(t, slot_entry(found), key, src, len, REF_BIT); /* a key set again is used again */
    t->updates++;
    return UPDATED;
  }
  int status = INSERTED;
  uint32_t e = t->count;
  if (t->count == t->capacity) {
    e = victim(t);
    t->evicted_key = key_of(t, e);
    uint64_t old = hash(t->evicted_key);
    vacate(t, find(t, t->evicted_key, old), old);
    t->hand = t->hand + 1 == t->count ? 0 : t->hand + 1;
    t->evictions++;
    status = INSERTED_EVICTING;
  } else {
    t->count++;
  }
  write_entry(t, e, key, src, len, 0);
  set_slot(claim(t, h), tag_of(h), e);
  t->inserts++;
  return status;
}

static inline uint32_t copy_out(table_t *t, slot_t slot, uint8_t *dst) {
  uint8_t *p = entry_at(t, slot_entry(slot));
  if ((p[META_OFFSET] & REF_BIT) == 0) p[META_OFFSET] |= REF_BIT; /* test before set, as the core does */
  memcpy(dst, p + ID_OFFSET, BUILD_ID_MAX);
  return p[META_OFFSET] & LEN_MASK;
}

static inline uint32_t probe(table_t *t, uint64_t key, uint8_t *dst) {
  slot_t slot = find(t, key, hash(key));
  return slot == 0 ? 0 : copy_out(t, slot, dst);
}

uint32_t table_lookup(table_t *t, uint64_t key, uint8_t *dst) {
  uint32_t len = probe(t, key, dst);
  if (len == 0) t->misses++;
  else t->hits++;
  return len;
}

/** Folds the loads of table_lookup_many's first pass, so the optimizer keeps them. */
static volatile uint32_t touched;

/*
 * As the core: per group, load every key's home bucket; then match its tags and load its candidate
 * entry (both ends), keeping home, matches, tag and overflow count; then resume each key's probe.
 */
uint32_t table_lookup_many(table_t *t, const uint64_t *keys, uint8_t *ids, uint8_t *lens, uint32_t n) {
  uint32_t found = 0, sink = 0;
  uint32_t homes[LOOKUP_GROUP], states[LOOKUP_GROUP];
  for (uint32_t g = 0; g < n; g += LOOKUP_GROUP) {
    uint32_t end = g + LOOKUP_GROUP < n ? g + LOOKUP_GROUP : n;
    for (uint32_t i = g; i < end; i++) {
      uint64_t h = hash(keys[i]);
      homes[i - g] = home_of(t, h);
      states[i - g] = tag_of(h);
      sink += over_of(bucket_at(t, homes[i - g]));
    }
    for (uint32_t i = g; i < end; i++) {
      const uint8_t *p = bucket_at(t, homes[i - g]);
      uint32_t tag = states[i - g], m = matches(p, tag);
      states[i - g] = m | tag << 16 | over_of(p) << 24;
      if (m != 0) {
        const uint8_t *e = entry_at(t, slot_entry((uintptr_t)p | (uintptr_t)__builtin_ctz(m)));
        sink += e[0] + e[ENTRY_SIZE - 1];
      }
    }
    for (uint32_t i = g; i < end; i++) {
      uint32_t state = states[i - g];
      slot_t slot = (state & ~(0xFFu << 16)) == 0
        ? 0
        : find_from(t, keys[i], (state >> 16) & 0xFFu, homes[i - g], state & SLOT_BITS);
      uint32_t len = slot == 0 ? 0 : copy_out(t, slot, ids + (size_t)i * BUILD_ID_MAX);
      lens[i] = (uint8_t)len;
      found += len != 0;
    }
  }
  touched = sink;
  t->hits += found;
  t->misses += n - found;
  return found;
}

int table_remove(table_t *t, uint64_t key) {
  uint64_t h = hash(key);
  slot_t slot = find(t, key, h);
  if (slot == 0) return 0;
  uint32_t e = slot_entry(slot);
  vacate(t, slot, h);
  compact(t, e);
  t->removals++;
  return 1;
}
