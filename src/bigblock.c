/*
** bigblock.c: blocks of 2 MiB and more, each in a mapping of its own that
** starts on a huge page, for the arena.
**
** Lua's big blocks are the array parts of big tables (a gather's arguments
** and results, the ready ring, the table of unfinished tasks), long strings
** and deep stacks. Each gets a mapping of its own: one that grows is
** extended with mremap, without copying a byte (a table's array part
** doubles), and one that is freed goes back to the system at once. The
** mapping starts on a 2 MiB boundary, so that with ASYNCIO_HUGEPAGES=1
** (arena_hugepages) it is advised as transparent huge pages, a fault
** filling 2 MiB: on hosts where fresh huge pages are cheap, that took a
** gather of 200,000 coroutine objects from 11,800 page faults to 1,000.
**
** Anchoring rule: no Lua values; a process-wide table maps each block's
** address to the length of its mapping, for the one state that uses the
** arena (arena.c), whose allocator is the only caller.
*/
#define _GNU_SOURCE  /* mremap */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define HUGE ((size_t)2 << 20)

/* Open addressing with linear probing: address (0: empty) -> length. */
static uintptr_t *keys;
static size_t *lens;
static size_t nblocks, cap;

static size_t slot_of (uintptr_t key, size_t n) {
  return (size_t)(((key >> 21) * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (n - 1);
}

/* The slot of key, or of the empty one where it would go. */
static size_t find (uintptr_t key) {
  size_t i = slot_of(key, cap);
  while (keys[i] != 0 && keys[i] != key) i = (i + 1) & (cap - 1);
  return i;
}

/* Room for one more block, the table at most half full. [0 when out of memory] */
static int reserve (void) {
  size_t newcap = cap ? 2 * cap : 64, i;
  uintptr_t *nk, *ok = keys;
  size_t *nl, *ol = lens, oldcap = cap;
  if (2 * (nblocks + 1) <= cap) return 1;
  nk = (uintptr_t *)calloc(newcap, sizeof *nk);
  nl = (size_t *)calloc(newcap, sizeof *nl);
  if (nk == NULL || nl == NULL) {
    free(nk);
    free(nl);
    return 0;
  }
  keys = nk;
  lens = nl;
  cap = newcap;
  for (i = 0; i < oldcap; i++)
    if (ok[i] != 0) {
      size_t j = find(ok[i]);
      keys[j] = ok[i];
      lens[j] = ol[i];
    }
  free(ok);
  free(ol);
  return 1;
}

/* Takes the entry at slot i out, moving back the ones probed past it. */
static void remove_slot (size_t i) {
  size_t j = i;
  keys[i] = 0;
  nblocks--;
  for (;;) {
    size_t home;
    j = (j + 1) & (cap - 1);
    if (keys[j] == 0) return;
    home = slot_of(keys[j], cap);
    /* entry j may fill the hole at i unless its home lies in (i, j] */
    if ((i < j) ? (home <= i || home > j) : (home <= i && home > j)) {
      keys[i] = keys[j];
      lens[i] = lens[j];
      keys[j] = 0;
      i = j;
    }
  }
}

/* n rounded up to whole pages of the system (0 if that overflows) */
static size_t round_up (size_t n) {
  static size_t page;
  if (page == 0) {
    long ps = sysconf(_SC_PAGESIZE);
    page = ps > 0 ? (size_t)ps : 4096;
  }
  return (n + page - 1) & ~(page - 1);
}

/*
** Advises the whole huge pages of the mapping p of len bytes as such; the
** tail past the last one keeps small pages, so a block just over a
** multiple of 2 MiB does not hold a huge page for a few bytes.
*/
static void advise (char *p, size_t len) {
#ifdef MADV_HUGEPAGE
  if (len >= HUGE && arena_hugepages())
    madvise(p, len & ~(HUGE - 1), MADV_HUGEPAGE);  /* advice:
                                                    failing is harmless */
#else
  (void)p; (void)len;
#endif
}

/* A mapping of len bytes (whole pages) that starts on a huge page. */
static char *map_aligned (size_t len) {
  char *raw, *p;
  size_t head;
  if (len == 0 || len + HUGE < len) return NULL;
  raw = (char *)mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  p = (char *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
  head = (size_t)(p - raw);
  if (head > 0) munmap(raw, head);
  munmap(p + len, HUGE - head);
  advise(p, len);
  return p;
}

/* A new block of n bytes (n >= BIGBLOCK_MIN). [NULL when it cannot] */
void *bigblock_new (size_t n) {
  size_t len = round_up(n);
  char *p;
  if (len < n || !reserve()) return NULL;
  if ((p = map_aligned(len)) == NULL) return NULL;
  {
    size_t i = find((uintptr_t)p);
    keys[i] = (uintptr_t)p;
    lens[i] = len;
    nblocks++;
  }
  return p;
}

/* Whether p is a block of ours. */
int bigblock_owns (const void *p) {
  return cap != 0 && keys[find((uintptr_t)p)] != 0;
}

/* Gives the block p back to the system. */
void bigblock_free (void *p) {
  size_t i = find((uintptr_t)p);
  munmap(p, lens[i]);
  remove_slot(i);
}

/*
** The block p of osize bytes resized to n (n >= BIGBLOCK_MIN): in place
** when its mapping has room or can grow where it is, else moved to a new
** one. [NULL, p untouched, when it cannot grow]
*/
void *bigblock_resize (void *p, size_t osize, size_t n) {
  size_t i = find((uintptr_t)p), len = lens[i], newlen = round_up(n);
  char *q;
  if (newlen < n) return NULL;
  if (newlen <= len) {  /* the tail beyond what it keeps goes back */
    if (newlen < len) {
      munmap((char *)p + newlen, len - newlen);
      lens[i] = newlen;
    }
    return p;
  }
  q = (char *)mremap(p, len, newlen, 0);  /* no move: stays aligned */
  if (q != MAP_FAILED) {
    advise(q, newlen);
    lens[i] = newlen;
    return q;
  }
  if ((q = (char *)bigblock_new(n)) == NULL) return NULL;
  memcpy(q, p, osize < n ? osize : n);
  bigblock_free(p);
  return q;
}

/* How many blocks there are, and the bytes their mappings hold. */
size_t bigblock_stats (size_t *bytes) {
  size_t i, total = 0;
  for (i = 0; i < cap; i++)
    if (keys[i] != 0) total += lens[i];
  *bytes = total;
  return nblocks;
}
