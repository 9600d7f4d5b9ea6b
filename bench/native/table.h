/*
 * The table interface bench/native/harness.c drives. Two implementations: table.c (the core's
 * table in C: same buckets, entries, hash, probing, CLOCK and batch lookup as assembly/index.ts) and absl.cc
 * (absl::flat_hash_map, unbounded: it never evicts).
 */
#ifndef BUILDID_TABLE_H
#define BUILDID_TABLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BUILD_ID_MAX 20u

enum { INSERTED = 0, UPDATED = 1, INSERTED_EVICTING = 2, ERR_LENGTH = -3 };

typedef struct table table_t;

/** 1 when a full table evicts on insert (churn and Zipf rows run), 0 when it grows instead. */
extern const int table_evicts;

/** A table reserved for `capacity` entries, or NULL when memory runs out. */
table_t *table_new(uint32_t capacity);
void table_free(table_t *t);
/** Bytes the table holds now: buckets and entries, or everything its allocator handed out. */
size_t table_bytes(const table_t *t);
uint32_t table_count(const table_t *t);
uint64_t table_evictions(const table_t *t);
int table_insert(table_t *t, uint64_t key, const uint8_t *src, uint32_t len);
/** Copies the id to dst (BUILD_ID_MAX bytes) and returns its length, or 0 on a miss. */
uint32_t table_lookup(table_t *t, uint64_t key, uint8_t *dst);
/* lookupMany: n keys in, ids at BUILD_ID_MAX strides and lengths out; counts the batch once. */
uint32_t table_lookup_many(table_t *t, const uint64_t *keys, uint8_t *ids, uint8_t *lens, uint32_t n);
int table_remove(table_t *t, uint64_t key);

#ifdef __cplusplus
}
#endif

#endif
