/*
 * assembly/index.ts in C, for the native row of the benchmark. Same layout:
 *
 *   index: 2^bits u32 slots, tag (8 more hash bits) << 24 | (entry + 1); all zero: EMPTY
 *   entries: capacity records of 32 bytes, dense in [0, count):
 *     0 key u64 | 8 build id [20] | 28 len u8 | 29 ref u8 | 30 spare [2]
 *
 * Same hash (key * 0x61C8864680B583EB, high bits), linear probing, backward-shift deletion,
 * compaction by moving the last entry, CLOCK eviction with the hand advanced past the victim.
 */
#include "table.h"

#include <stdlib.h>
#include <string.h>

#define KEY_OFFSET 0u
#define ID_OFFSET 8u
#define LEN_OFFSET (ID_OFFSET + BUILD_ID_MAX)
#define REF_OFFSET (LEN_OFFSET + 1u)
#define ENTRY_SIZE 32u
#define TAG_SHIFT 24u
#define ENTRY_MASK ((1u << TAG_SHIFT) - 1u)
#define GOLDEN_RATIO_64 0x61C8864680B583EBull

/** One table: u32 index slots (8-bit tag | entry + 1) over dense 32-byte entries. */
struct table {
  uint32_t *index;
  uint8_t *entries;
  uint32_t slot_bits, mask, capacity, count, hand;
  uint64_t evicted_key;
  /* The core's counters, kept here too so both do the same work per call. */
  uint64_t inserts, updates, hits, misses, removals, evictions;
};

const int table_evicts = 1;

static inline uint64_t hash(uint64_t key) { return key * GOLDEN_RATIO_64; }
static inline uint32_t home_of(const table_t *t, uint64_t h) { return (uint32_t)(h >> (64 - t->slot_bits)); }
static inline uint32_t tag_of(const table_t *t, uint64_t h) { return (uint32_t)(h >> (56 - t->slot_bits)) & 0xFFu; }
static inline uint32_t slot_entry(uint32_t slot) { return (slot & ENTRY_MASK) - 1u; }
static inline uint32_t make_slot(uint32_t tag, uint32_t entry) { return (tag << TAG_SHIFT) | (entry + 1u); }
static inline uint8_t *entry_at(const table_t *t, uint32_t e) { return t->entries + (size_t)e * ENTRY_SIZE; }
static inline uint64_t key_of(const table_t *t, uint32_t e) {
  uint64_t k;
  memcpy(&k, entry_at(t, e) + KEY_OFFSET, 8);
  return k;
}

void table_free(table_t *t) {
  free(t->index);
  free(t->entries);
  free(t);
}

table_t *table_new(uint32_t capacity) {
  uint64_t min_slots = ((uint64_t)capacity * 4 + 2) / 3;
  uint32_t bits = 3;
  while ((1ull << bits) < min_slots) bits++;
  table_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->index = calloc((size_t)1 << bits, 4);
  t->entries = calloc(capacity, ENTRY_SIZE);
  t->slot_bits = bits;
  t->mask = (1u << bits) - 1u;
  t->capacity = capacity;
  if (!t->index || !t->entries) {
    table_free(t);
    return NULL;
  }
  return t;
}

size_t table_bytes(const table_t *t) { return ((size_t)t->mask + 1) * 4 + (size_t)t->capacity * ENTRY_SIZE; }
uint32_t table_count(const table_t *t) { return t->count; }
uint64_t table_evictions(const table_t *t) { return t->evictions; }

/* The slot holding key, or ~pos for the empty slot where its probe ended. */
static int32_t find(const table_t *t, uint64_t key, uint64_t h) {
  uint32_t pos = home_of(t, h);
  uint32_t tag = tag_of(t, h);
  for (;;) {
    uint32_t slot = t->index[pos];
    if (slot == 0) return ~(int32_t)pos;
    if ((slot >> TAG_SHIFT) == tag && key_of(t, slot_entry(slot)) == key) return (int32_t)pos;
    pos = (pos + 1) & t->mask;
  }
}

static uint32_t slot_of_entry(const table_t *t, uint32_t e) {
  uint32_t pos = home_of(t, hash(key_of(t, e)));
  while (slot_entry(t->index[pos]) != e) pos = (pos + 1) & t->mask;
  return pos;
}

static void vacate(table_t *t, uint32_t pos) {
  uint32_t hole = pos, next = (pos + 1) & t->mask;
  for (;;) {
    uint32_t slot = t->index[next];
    if (slot == 0) break;
    uint32_t home = home_of(t, hash(key_of(t, slot_entry(slot))));
    if (((next - home) & t->mask) >= ((next - hole) & t->mask)) {
      t->index[hole] = slot;
      hole = next;
    }
    next = (next + 1) & t->mask;
  }
  t->index[hole] = 0;
}

static void write_entry(table_t *t, uint32_t e, uint64_t key, const uint8_t *src, uint32_t len) {
  uint8_t *p = entry_at(t, e);
  memcpy(p + KEY_OFFSET, &key, 8);
  memcpy(p + ID_OFFSET, src, len);
  if (len < BUILD_ID_MAX) memset(p + ID_OFFSET + len, 0, BUILD_ID_MAX - len);
  p[LEN_OFFSET] = (uint8_t)len;
  p[REF_OFFSET] = 0;
}

static void compact(table_t *t, uint32_t e) {
  uint32_t last = t->count - 1;
  if (e != last) {
    uint32_t pos = slot_of_entry(t, last);
    memcpy(entry_at(t, e), entry_at(t, last), ENTRY_SIZE);
    t->index[pos] = make_slot(t->index[pos] >> TAG_SHIFT, e);
  }
  t->count = last;
  if (t->hand >= t->count) t->hand = 0;
}

static uint32_t victim(table_t *t) {
  for (;;) {
    uint8_t *p = entry_at(t, t->hand);
    if (p[REF_OFFSET] == 0) return t->hand;
    p[REF_OFFSET] = 0;
    t->hand = t->hand + 1 == t->count ? 0 : t->hand + 1;
  }
}

int table_insert(table_t *t, uint64_t key, const uint8_t *src, uint32_t len) {
  if (len == 0 || len > BUILD_ID_MAX) return ERR_LENGTH;
  uint64_t h = hash(key);
  int32_t pos = find(t, key, h);
  if (pos >= 0) {
    write_entry(t, slot_entry(t->index[pos]), key, src, len);
    t->updates++;
    return UPDATED;
  }
  int status = INSERTED;
  uint32_t e = t->count;
  if (t->count == t->capacity) {
    e = victim(t);
    t->evicted_key = key_of(t, e);
    vacate(t, slot_of_entry(t, e));
    t->hand = t->hand + 1 == t->count ? 0 : t->hand + 1;
    t->evictions++;
    status = INSERTED_EVICTING;
    pos = find(t, key, h);
  } else {
    t->count++;
  }
  write_entry(t, e, key, src, len);
  t->index[~pos] = make_slot(tag_of(t, h), e);
  t->inserts++;
  return status;
}

static inline uint32_t probe(table_t *t, uint64_t key, uint8_t *dst) {
  int32_t pos = find(t, key, hash(key));
  if (pos < 0) return 0;
  uint8_t *p = entry_at(t, slot_entry(t->index[pos]));
  if (p[REF_OFFSET] == 0) p[REF_OFFSET] = 1; /* test before set, as the core does */
  memcpy(dst, p + ID_OFFSET, BUILD_ID_MAX);
  return p[LEN_OFFSET];
}

uint32_t table_lookup(table_t *t, uint64_t key, uint8_t *dst) {
  uint32_t len = probe(t, key, dst);
  if (len == 0) t->misses++;
  else t->hits++;
  return len;
}

uint32_t table_lookup_many(table_t *t, const uint64_t *keys, uint8_t *ids, uint8_t *lens, uint32_t n) {
  uint32_t found = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t len = probe(t, keys[i], ids + (size_t)i * BUILD_ID_MAX);
    lens[i] = (uint8_t)len;
    found += len != 0;
  }
  t->hits += found;
  t->misses += n - found;
  return found;
}

int table_remove(table_t *t, uint64_t key) {
  int32_t pos = find(t, key, hash(key));
  if (pos < 0) return 0;
  uint32_t e = slot_entry(t->index[pos]);
  vacate(t, (uint32_t)pos);
  compact(t, e);
  t->removals++;
  return 1;
}
