/*
 * Drives a table.h table (table.c or absl.cc) over the keys bench/native.ts writes, and prints its own timings (ns/op) and
 * checks as one line of JSON.
 *
 *   harness ops <data> <min_samples> <min_ms>   the pass sequence (see ops()), then churn
 *   harness zipf <data>                         get-or-insert over the Zipf stream at each capacity
 *
 * <data>, little-endian: u32 live, hits, misses, subset, churn, zipf, ncaps; u32 caps[ncaps];
 * u64 keys[2 * live]; u32 key numbers: hit[hits], miss[misses], subset[subset], zipf[zipf].
 * The build ID of key number i is i as u32 LE, then byte j = (i * 7 + j * 13 + 0x5a) & 0xff.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table.h"

#define BATCH 1024u

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "harness: %s\n", what);
  exit(2);
}

static void *must(void *p) {
  if (!p) die("out of memory");
  return p;
}

static void build_id(uint32_t i, uint8_t *out) {
  out[0] = i & 0xff;
  out[1] = (i >> 8) & 0xff;
  out[2] = (i >> 16) & 0xff;
  out[3] = i >> 24;
  for (uint32_t j = 4; j < BUILD_ID_MAX; j++) out[j] = (uint8_t)((i * 7u + j * 13u + 0x5au) & 0xffu);
}

typedef struct {
  uint32_t live, hits, misses, subset, churn, zipf, ncaps;
  uint32_t *caps, *hit, *miss, *sub, *stream;
  uint64_t *keys;
} data_t;

static void read_exact(FILE *f, void *to, size_t bytes) {
  if (fread(to, 1, bytes, f) != bytes) die("data file too short");
}

static void load(const char *path, data_t *d) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open the data file");
  read_exact(f, &d->live, 7 * sizeof(uint32_t));
  d->caps = must(malloc((d->ncaps + 1) * sizeof(uint32_t)));
  d->keys = must(malloc((size_t)d->live * 2 * sizeof(uint64_t)));
  d->hit = must(malloc((d->hits + 1) * sizeof(uint32_t)));
  d->miss = must(malloc((d->misses + 1) * sizeof(uint32_t)));
  d->sub = must(malloc((d->subset + 1) * sizeof(uint32_t)));
  d->stream = must(malloc(((size_t)d->zipf + 1) * sizeof(uint32_t)));
  read_exact(f, d->caps, d->ncaps * sizeof(uint32_t));
  read_exact(f, d->keys, (size_t)d->live * 2 * sizeof(uint64_t));
  read_exact(f, d->hit, d->hits * sizeof(uint32_t));
  read_exact(f, d->miss, d->misses * sizeof(uint32_t));
  read_exact(f, d->sub, d->subset * sizeof(uint32_t));
  read_exact(f, d->stream, (size_t)d->zipf * sizeof(uint32_t));
  fclose(f);
}

/* Keys and build IDs of the given key numbers, laid out as the batch entry points take them. */
static void gather(const data_t *d, const uint32_t *numbers, uint32_t n, uint64_t **keys, uint8_t **ids) {
  *keys = must(malloc(((size_t)n + 1) * 8));
  *ids = must(malloc(((size_t)n + 1) * BUILD_ID_MAX));
  for (uint32_t i = 0; i < n; i++) {
    (*keys)[i] = d->keys[numbers[i]];
    build_id(numbers[i], *ids + (size_t)i * BUILD_ID_MAX);
  }
}

static uint64_t io_keys[BATCH];
static uint8_t io_ids[BATCH * BUILD_ID_MAX];
static uint8_t io_lens[BATCH];

/* lookupMany over keys in chunks of BATCH, timing only the lookups, as the wasm row does. */
static double lookup_batched(table_t *t, const uint64_t *keys, uint32_t n, uint32_t *checksum, uint32_t *found) {
  double ns = 0;
  for (uint32_t start = 0; start < n; start += BATCH) {
    uint32_t m = n - start < BATCH ? n - start : BATCH;
    memcpy(io_keys, keys + start, (size_t)m * 8);
    double t0 = now_ns();
    table_lookup_many(t, io_keys, io_ids, io_lens, m);
    ns += now_ns() - t0;
    for (uint32_t i = 0; i < m; i++) {
      if (io_lens[i] == 0) continue;
      (*found)++;
      for (uint32_t j = 0; j < io_lens[i]; j++) *checksum = *checksum * 31u + io_ids[(size_t)i * BUILD_ID_MAX + j];
    }
  }
  return ns;
}

static void print_series(const char *name, const double *v, uint32_t n) {
  printf("\"%s\":[", name);
  for (uint32_t i = 0; i < n; i++) printf("%s%.3f", i ? "," : "", v[i]);
  printf("],");
}

typedef struct {
  uint64_t *hit, *miss, *sub, *pool;
  uint8_t *sub_ids, *pool_ids;
} sets_t;

/* One pass of the sequence every implementation runs: hit, miss, delete, insert (ns per key each). */
static void sequence(table_t *t, const data_t *d, const sets_t *k, double ns[4], uint32_t *checksum, uint32_t *found,
                     uint32_t *miss_found) {
  ns[0] = lookup_batched(t, k->hit, d->hits, checksum, found) / d->hits;
  uint32_t unused = 0;
  ns[1] = lookup_batched(t, k->miss, d->misses, &unused, miss_found) / d->misses;
  double t0 = now_ns();
  for (uint32_t i = 0; i < d->subset; i++) table_remove(t, k->sub[i]);
  ns[2] = (now_ns() - t0) / d->subset;
  t0 = now_ns();
  for (uint32_t i = 0; i < d->subset; i++) table_insert(t, k->sub[i], k->sub_ids + (size_t)i * BUILD_ID_MAX, BUILD_ID_MAX);
  ns[3] = (now_ns() - t0) / d->subset;
}

#define MAX_SAMPLES 1000u

/*
 * Fill; a check of delete and insert (untimed); one untimed sequence; then timed sequences until
 * min_samples ran and min_ms passed; then, for a table that evicts, churn passes the same way.
 */
static int ops(const data_t *d, uint32_t min_samples, double min_ms) {
  uint32_t all = d->live * 2;
  table_t *t = table_new(d->live);
  if (!t) die("out of memory");
  uint8_t id[BUILD_ID_MAX];
  for (uint32_t i = 0; i < d->live; i++) {
    build_id(i, id);
    table_insert(t, d->keys[i], id, BUILD_ID_MAX);
  }
  sets_t k;
  uint8_t *hit_ids, *miss_ids;
  gather(d, d->hit, d->hits, &k.hit, &hit_ids);
  gather(d, d->miss, d->misses, &k.miss, &miss_ids);
  gather(d, d->sub, d->subset, &k.sub, &k.sub_ids);
  uint32_t *pool = must(malloc(((size_t)all + d->churn) * sizeof(uint32_t)));
  for (uint32_t i = 0; i < all + d->churn; i++) pool[i] = i % all;
  gather(d, pool, all + d->churn, &k.pool, &k.pool_ids);

  uint32_t unused = 0, sub_found_after_delete = 0;
  for (uint32_t i = 0; i < d->subset; i++) table_remove(t, k.sub[i]);
  uint32_t size_after_delete = table_count(t);
  lookup_batched(t, k.sub, d->subset, &unused, &sub_found_after_delete);
  for (uint32_t i = 0; i < d->subset; i++) table_insert(t, k.sub[i], k.sub_ids + (size_t)i * BUILD_ID_MAX, BUILD_ID_MAX);

  static double series[4][MAX_SAMPLES], churn[MAX_SAMPLES];
  double warm[4];
  uint32_t checksum = 0, found = 0, miss_found = 0, n = 0;
  sequence(t, d, &k, warm, &unused, &unused, &unused);
  double started = now_ns();
  for (; n < MAX_SAMPLES && (n < min_samples || now_ns() - started < min_ms * 1e6); n++) {
    double ns[4];
    uint32_t sum = 0, hits = 0;
    sequence(t, d, &k, ns, &sum, &hits, &miss_found);
    if (n == 0) checksum = sum, found = hits;
    for (int p = 0; p < 4; p++) series[p][n] = ns[p];
  }
  uint32_t size_after_insert = table_count(t);
  uint64_t evictions_before = table_evictions(t);
  uint32_t churned = 0;
  uint64_t churn_updates = 0; /* sets of a key the table still held: they evict nothing */
  if (table_evicts) {
    uint32_t at = d->live;
    started = now_ns();
    for (uint32_t c = 0; c <= MAX_SAMPLES && (c <= min_samples || now_ns() - started < min_ms * 1e6); c++) {
      double t0 = now_ns();
      for (uint32_t i = at; i < at + d->churn; i++)
        churn_updates += table_insert(t, k.pool[i], k.pool_ids + (size_t)i * BUILD_ID_MAX, BUILD_ID_MAX) == UPDATED;
      if (c > 0) churn[churned++] = (now_ns() - t0) / d->churn; /* pass 0 is the untimed one */
      at = (at + d->churn) % all;
    }
  }
  printf("{");
  print_series("hit", series[0], n);
  print_series("miss", series[1], n);
  print_series("delete", series[2], n);
  print_series("insert", series[3], n);
  print_series("churn", churn, churned);
  printf("\"check\":{\"hitChecksum\":%u,\"hitFound\":%u,\"missFound\":%u,\"sizeAfterDelete\":%u,"
         "\"subsetFoundAfterDelete\":%u,\"sizeAfterInsert\":%u,\"sizeAfterChurn\":%u,\"churnEvictions\":%llu,\"churnUpdates\":%llu},",
         checksum, found, miss_found, size_after_delete, sub_found_after_delete, size_after_insert, table_count(t),
         (unsigned long long)(table_evictions(t) - evictions_before), (unsigned long long)churn_updates);
  printf("\"bytes\":%zu}\n", table_bytes(t));
  table_free(t);
  return 0;
}

static int zipf(const data_t *d) {
  uint8_t *ids = must(malloc((size_t)d->live * BUILD_ID_MAX));
  for (uint32_t i = 0; i < d->live; i++) build_id(i, ids + (size_t)i * BUILD_ID_MAX);
  uint8_t out[BUILD_ID_MAX];
  printf("{\"zipf\":[");
  for (uint32_t c = 0; c < d->ncaps; c++) {
    table_t *t = table_new(d->caps[c]);
    if (!t) die("out of memory");
    uint64_t hits = 0;
    double t0 = now_ns();
    for (uint32_t i = 0; i < d->zipf; i++) {
      uint32_t k = d->stream[i];
      if (table_lookup(t, d->keys[k], out) != 0) hits++;
      else table_insert(t, d->keys[k], ids + (size_t)k * BUILD_ID_MAX, BUILD_ID_MAX);
    }
    double ns = (now_ns() - t0) / d->zipf;
    printf("%s{\"capacity\":%u,\"hits\":%llu,\"ns\":%.3f}", c ? "," : "", d->caps[c], (unsigned long long)hits, ns);
    table_free(t);
  }
  printf("]}\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) die("usage: harness ops <data> <min_samples> <min_ms> | harness zipf <data>");
  data_t d;
  load(argv[2], &d);
  if (strcmp(argv[1], "ops") == 0) {
    long samples = argc > 3 ? strtol(argv[3], NULL, 10) : 5;
    double min_ms = argc > 4 ? strtod(argv[4], NULL) : 0;
    if (samples < 1 || samples > (long)MAX_SAMPLES) die("min_samples must be 1 to 1000");
    if (!(min_ms >= 0 && min_ms <= 60000)) die("min_ms must be 0 to 60000");
    if (d.hits == 0 || d.misses == 0 || d.subset == 0 || (table_evicts && d.churn == 0)) die("empty key lists");
    return ops(&d, (uint32_t)samples, min_ms);
  }
  if (strcmp(argv[1], "zipf") == 0) {
    if (!table_evicts) die("zipf needs a table that evicts");
    return zipf(&d);
  }
  die("mode must be ops or zipf");
  return 2;
}
