/* The native reference: assembly/index.ts's table in C, same layout, hash, probing and CLOCK. */
#ifndef BUILDID_TABLE_H
#define BUILDID_TABLE_H

#include <stddef.h>
#include <stdint.h>

#define BUILD_ID_MAX 20u

enum { INSERTED = 0, UPDATED = 1, INSERTED_EVICTING = 2, ERR_LENGTH = -3 };

/** One table: u32 index slots (8-bit tag | entry + 1) over dense 32-byte entries. */
typedef struct {
  uint32_t *index;
  uint8_t *entries;
  uint32_t slot_bits, mask, capacity, count, hand;
  uint64_t evicted_key;
  /* The core's counters, kept here too so both do the same work per call. */
  uint64_t inserts, updates, hits, misses, removals, evictions;
} table_t;

/** Reserves a table for `capacity` entries; returns 0, or -1 when memory runs out. */
int table_init(table_t *t, uint32_t capacity);
void table_free(table_t *t);
/** Bytes of index and entries. */
size_t table_bytes(const table_t *t);
int table_insert(table_t *t, uint64_t key, const uint8_t *src, uint32_t len);
/** Copies the id to dst (BUILD_ID_MAX bytes) and returns its length, or 0 on a miss. */
uint32_t table_lookup(table_t *t, uint64_t key, uint8_t *dst);
/* lookupMany: n keys in, ids at BUILD_ID_MAX strides and lengths out; counts the batch once. */
uint32_t table_lookup_many(table_t *t, const uint64_t *keys, uint8_t *ids, uint8_t *lens, uint32_t n);
int table_remove(table_t *t, uint64_t key);

#endif
