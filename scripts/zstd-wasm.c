/*
 * zstd's streaming decoder for WebAssembly without a C library: the exports src/zstd-wasm.ts calls, the
 * memory functions zstd needs (bulk memory), and a first-fit allocator for the few large blocks a stream
 * holds (its context, window, input and output). Built by scripts/build-zstd-wasm.sh.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "zstd.h"

void *memcpy(void *d, const void *s, size_t n) { __builtin_memcpy(d, s, n); return d; }
void *memmove(void *d, const void *s, size_t n) { __builtin_memmove(d, s, n); return d; }
void *memset(void *d, int c, size_t n) { __builtin_memset(d, c, n); return d; }

/*
 * Heap layout, from __heap_base to the end of memory, in address order:
 *   | size | free | bytes ... | size | free | bytes ... | ...
 * size counts a block's bytes after its 8-byte header, a multiple of 8. A freed block merges with the free
 * blocks after it; malloc takes the first free block that fits (splitting off what is left) or grows memory.
 */
typedef struct { size_t size; size_t free; } Block;
extern unsigned char __heap_base;
static Block *first;
static Block *end;

#define HEADER sizeof(Block)
#define NEXT(b) ((Block *)((unsigned char *)(b) + HEADER + (b)->size))

static void merge(Block *b) {
  while (NEXT(b) != end && NEXT(b)->free) b->size += HEADER + NEXT(b)->size;
}

void *malloc(size_t n) {
  if (n > 0x7ff00000) return 0;
  n = (n + 7) & ~(size_t)7;
  if (!first) first = end = (Block *)(((size_t)&__heap_base + 7) & ~(size_t)7);
  for (Block *b = first; b != end; b = NEXT(b)) {
    if (!b->free) continue;
    merge(b);
    if (b->size < n) continue;
    if (b->size >= n + HEADER + 64) {
      Block *rest = (Block *)((unsigned char *)b + HEADER + n);
      rest->size = b->size - n - HEADER;
      rest->free = 1;
      b->size = n;
    }
    b->free = 0;
    return b + 1;
  }
  size_t top = (size_t)end + HEADER + n;
  if (top < (size_t)end) return 0; /* past 4 GiB */
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (top > have && __builtin_wasm_memory_grow(0, (top - have + 65535) / 65536) == (size_t)-1) return 0;
  Block *b = end;
  b->size = n;
  b->free = 0;
  end = NEXT(b);
  return b + 1;
}

void free(void *p) {
  if (p) ((Block *)p - 1)->free = 1;
}

void *calloc(size_t count, size_t size) {
  if (size && count > (size_t)-1 / size) return 0;
  void *p = malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}
