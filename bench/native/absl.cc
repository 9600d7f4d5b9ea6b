/*
 * absl::flat_hash_map behind table.h, the native anchor of the benchmark: a SwissTable with the
 * default absl::Hash, keys u64, values a 20-byte id and its length (32-byte slots). It is reserved
 * for the live count up front, as the core is; it never evicts, so churn and Zipf rows skip it.
 * Every allocation goes through a counting allocator, so table_bytes() is what it really holds.
 */
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "absl/container/flat_hash_map.h"
#include "table.h"

namespace {

size_t allocated = 0;

template <class T>
struct Counting {
  using value_type = T;
  Counting() = default;
  template <class U>
  Counting(const Counting<U> &) {}
  T *allocate(size_t n) {
    allocated += n * sizeof(T);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T *p, size_t n) {
    allocated -= n * sizeof(T);
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const Counting<U> &) const { return true; }
  template <class U>
  bool operator!=(const Counting<U> &) const { return false; }
};

struct Id {
  uint8_t bytes[BUILD_ID_MAX];
  uint8_t len;
};

using Map = absl::flat_hash_map<uint64_t, Id, absl::Hash<uint64_t>, std::equal_to<uint64_t>,
                                Counting<std::pair<const uint64_t, Id>>>;

}  // namespace

struct table {
  Map map;
};

extern "C" {

const int table_evicts = 0;

table_t *table_new(uint32_t capacity) {
  table_t *t = new (std::nothrow) table_t;
  if (!t) return nullptr;
  t->map.reserve(capacity);
  return t;
}

void table_free(table_t *t) { delete t; }

size_t table_bytes(const table_t *) { return allocated; }

uint32_t table_count(const table_t *t) { return (uint32_t)t->map.size(); }

uint64_t table_evictions(const table_t *) { return 0; }

int table_insert(table_t *t, uint64_t key, const uint8_t *src, uint32_t len) {
  if (len == 0 || len > BUILD_ID_MAX) return ERR_LENGTH;
  Id id{};
  std::memcpy(id.bytes, src, len);
  id.len = (uint8_t)len;
  return t->map.insert_or_assign(key, id).second ? INSERTED : UPDATED;
}

static inline uint32_t probe(const table_t *t, uint64_t key, uint8_t *dst) {
  auto it = t->map.find(key);
  if (it == t->map.end()) return 0;
  std::memcpy(dst, it->second.bytes, BUILD_ID_MAX);
  return it->second.len;
}

uint32_t table_lookup(table_t *t, uint64_t key, uint8_t *dst) { return probe(t, key, dst); }

/* table.c's batch loop, written again so that each table inlines its own probe into it. */
uint32_t table_lookup_many(table_t *t, const uint64_t *keys, uint8_t *ids, uint8_t *lens, uint32_t n) {
  uint32_t found = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t len = probe(t, keys[i], ids + (size_t)i * BUILD_ID_MAX);
    lens[i] = (uint8_t)len;
    found += len != 0;
  }
  return found;
}

int table_remove(table_t *t, uint64_t key) { return (int)t->map.erase(key); }

}
