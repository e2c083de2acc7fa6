/*
** arena.c: the allocator of the Lua state that loads the core first.
**
** A task costs a handful of small blocks (its coroutine, stack, call frames,
** userdata), and a program that starts 100k tasks touches hundreds of
** megabytes of fresh memory at once. With malloc's 4 KiB pages, each page
** costs a page fault: on a virtual machine, more than the tasks' own work.
** The arena serves blocks of up to ARENA_SMALL bytes from chunks it asks
** the previous allocator for (advised as transparent huge pages only with
** ASYNCIO_HUGEPAGES=1: see arena_hugepages). A chunk
** is cut into 64 KiB pages, each serving one 16-byte size class with a
** free list of its own; a page left empty serves any class again, and a
** chunk left empty goes back, so a burst of tasks does not keep its memory.
** Blocks of BIGBLOCK_MIN (2 MiB) and more, the array parts of big tables
** among them, get mappings of their own (bigblock.c); a block
** that grows past that size moves into one. A program that has grown to
** chunks of the largest size keeps a spare one, which a thread faults in
** ahead (prefault.c). Everything else, and every
** block the previous allocator made before the arena came, goes to that
** allocator.
**
** Anchoring rule: the arena holds no Lua values; the one Lua object it
** owns, the sentinel whose finalizer tells it the state is closing, is kept
** by the registry until lua_close.
**
** One arena per process, for the first state that claims it: the states of
** worker and loop threads keep the allocator they were made with. It is off
** under AddressSanitizer (which must see every block) and when the
** environment variable ASYNCIO_ARENA is "0".
*/
#define _GNU_SOURCE  /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_SANITIZED 1
#endif
#endif

#define ARENA_SMALL    1024           /* largest block the arena serves */
#define ARENA_NCLASSES (ARENA_SMALL / 16 + 1)
#define PAGE_SHIFT     16             /* pages of 64 KiB, one size class each */
#define PAGE           ((size_t)1 << PAGE_SHIFT)
#define CHUNK_MIN      ((size_t)256 << 10)
#define CHUNK_MAX      ((size_t)8 << 20)
#define SPARE_SIZE     ((size_t)4 << 20) /* as fast as 8 MiB in spawn and timers,
                                            40-80 bytes less per task at the peak */
#define HUGE_PAGE      ((size_t)2 << 20)

struct Chunk;

/* A page serves blocks of one size class, or none while it is free. */
typedef struct Page {
  struct Page *next, *prev;  /* in its class's list of pages with room,
                                or in the list of free pages */
  void *free;                /* blocks given back, linked by first word */
  struct Chunk *chunk;
  unsigned bump;             /* offset of the first byte never handed out */
  unsigned used;             /* blocks handed out */
  unsigned cls;              /* size class; 0: the page is free */
  int listed;                /* in its class's list */
} Page;

typedef struct Chunk {
  struct Chunk *next, *prev; /* every chunk */
  void *raw;                 /* as the previous allocator returned it */
  size_t rawsize;
  char *base;                /* the first page, aligned */
  unsigned npages, nfree;    /* pages, and those with no block out */
  int prefaulted;            /* the spare, its pages being faulted in ahead
                                (prefault.c) */
  Page *freepages;           /* those pages, for any class */
  Page pages[];              /* this metadata is a block of its own */
} Chunk;

typedef struct Arena {
  lua_Alloc prev;            /* the state's allocator before the arena */
  void *prevud;
  Page *avail[ARENA_NCLASSES]; /* per size class: pages with room */
  size_t nfreepages;         /* pages no block is out of, in all chunks */
  size_t nempty;             /* chunks none of whose pages has a block out */
  Chunk *chunks;             /* oldest first: free pages are taken from the
                                oldest chunk that has one, so blocks that
                                outlive a burst do not pin its chunks */
  size_t nchunks;
  size_t nextchunk;          /* size of the next chunk to ask for */
  Chunk *spare;              /* the next chunk, its pages faulted in ahead
                                (make_spare), or NULL */
  uintptr_t *keys;           /* open addressing: page number + 1 ... */
  Page **vals;               /* ... and its Page */
  size_t nkeys, keycap;      /* entries, capacity (a power of two) */
  size_t live;               /* blocks handed out and not yet returned */
  int closing;               /* lua_close has begun: release when live is 0 */
  int released;              /* chunks given back: forward everything */
  size_t nshrunk;            /* big blocks Lua knows by a size under
                                BIGBLOCK_MIN (see resize_big) */
} Arena;

static Arena arena;
static atomic_int arena_claimed;

static size_t page_hash (uintptr_t key, size_t cap) {
  return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (cap - 1);
}

/* The page of the arena's that p lies in, or NULL if p is not the arena's. */
static inline Page *arena_page (const Arena *a, const void *p) {
  uintptr_t key = ((uintptr_t)p >> PAGE_SHIFT) + 1;
  size_t i;
  if (a->keycap == 0) return NULL;
  for (i = page_hash(key, a->keycap); a->keys[i] != 0; i = (i + 1) & (a->keycap - 1))
    if (a->keys[i] == key) return a->vals[i];
  return NULL;
}

static char *page_base (const Page *pg) {
  return pg->chunk->base + (size_t)(pg - pg->chunk->pages) * PAGE;
}

static void *prev_alloc (Arena *a, size_t n) {
  return a->prev(a->prevud, NULL, 0, n);
}

static void prev_free (Arena *a, void *p, size_t n) {
  a->prev(a->prevud, p, n, 0);
}

/*
** Rebuilds the page table for the chunks there are, with room for extra
** pages more, at most half full. [0 when out of memory: nothing changed]
*/
static int rebuild_pages (Arena *a, size_t extra) {
  size_t need = extra, cap = 256, i;
  uintptr_t *keys;
  Page **vals;
  Chunk *c;
  for (c = a->chunks; c != NULL; c = c->next) need += c->npages;
  while (cap < 2 * need) cap *= 2;
  keys = (uintptr_t *)prev_alloc(a, cap * sizeof *keys);
  vals = (Page **)prev_alloc(a, cap * sizeof *vals);
  if (keys == NULL || vals == NULL) {
    if (keys != NULL) prev_free(a, keys, cap * sizeof *keys);
    if (vals != NULL) prev_free(a, vals, cap * sizeof *vals);
    return 0;
  }
  memset(keys, 0, cap * sizeof *keys);
  for (c = a->chunks; c != NULL; c = c->next)
    for (i = 0; i < c->npages; i++) {
      uintptr_t key = ((uintptr_t)(c->base + i * PAGE) >> PAGE_SHIFT) + 1;
      size_t j = page_hash(key, cap);
      while (keys[j] != 0) j = (j + 1) & (cap - 1);
      keys[j] = key;
      vals[j] = &c->pages[i];
    }
  if (a->keys != NULL) {
    prev_free(a, a->keys, a->keycap * sizeof *a->keys);
    prev_free(a, a->vals, a->keycap * sizeof *a->vals);
  }
  a->keys = keys;
  a->vals = vals;
  a->keycap = cap;
  a->nkeys = need - extra;
  return 1;
}

/* Adds pg to the head of the doubly linked list at *list. */
static void link_page (Page **list, Page *pg) {
  pg->prev = NULL;
  pg->next = *list;
  if (*list != NULL) (*list)->prev = pg;
  *list = pg;
}

static void unlink_page (Page **list, Page *pg) {
  if (pg->prev != NULL) pg->prev->next = pg->next;
  else *list = pg->next;
  if (pg->next != NULL) pg->next->prev = pg->prev;
  pg->next = pg->prev = NULL;
}

/* Appends c to the chunks, the youngest. */
static void link_chunk_last (Arena *a, Chunk *c) {
  Chunk *last = a->chunks;
  c->next = NULL;
  if (last == NULL) {
    c->prev = NULL;
    a->chunks = c;
  } else {
    while (last->next != NULL) last = last->next;
    last->next = c;
    c->prev = last;
  }
  a->nchunks++;
}

static void unlink_chunk (Arena *a, Chunk *c) {
  if (c->prev != NULL) c->prev->next = c->next;
  else a->chunks = c->next;
  if (c->next != NULL) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  a->nchunks--;
}

/*
** Whether the arena advises its memory as transparent huge pages: only
** when the environment variable ASYNCIO_HUGEPAGES is "1". A huge page
** costs one fault where small ones cost 512, but on the VMs measured here
** a fresh one costs more than those 512: the kernel takes huge pages from
** memory that has been free long enough for the host to have taken it
** back, and small ones from memory freed a moment ago (docs/internals.md).
*/
int arena_hugepages (void) {
  static atomic_int cached;  /* 0: not read yet, 1: off, 2: on */
  int v = atomic_load(&cached);
  if (v == 0) {
    const char *env = getenv("ASYNCIO_HUGEPAGES");
    v = env != NULL && strcmp(env, "1") == 0 ? 2 : 1;
    atomic_store(&cached, v);
  }
  return v == 2;
}

/* Advises the chunk c as huge pages, if it can hold one and they are on. */
static void advise_huge (Chunk *c) {
#ifdef MADV_HUGEPAGE
  size_t size = (size_t)c->npages * PAGE;
  if (size >= HUGE_PAGE && arena_hugepages())
    madvise(c->base, size, MADV_HUGEPAGE);  /* advice: failing is harmless */
#else
  (void)c;
#endif
}

/*
** A chunk of size bytes from the previous allocator, not linked yet,
** aligned to a huge page when it is large enough to hold one (else to a
** page), so that no block of anybody else shares a page with it.
** [NULL when it cannot]
*/
static Chunk *chunk_new (Arena *a, size_t size) {
  size_t npages = size / PAGE, i;
  size_t align = size >= HUGE_PAGE ? HUGE_PAGE : PAGE;
  size_t rawsize = size + align, metasize = sizeof(Chunk) + npages * sizeof(Page);
  char *raw;
  Chunk *c = (Chunk *)prev_alloc(a, metasize);
  if (c == NULL) return NULL;
  raw = (char *)prev_alloc(a, rawsize);
  if (raw == NULL) {
    prev_free(a, c, metasize);
    return NULL;
  }
  memset(c, 0, metasize);
  c->raw = raw;
  c->rawsize = rawsize;
  c->base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  c->npages = c->nfree = (unsigned)npages;
  for (i = npages; i-- > 0;) {
    c->pages[i].chunk = c;
    link_page(&c->freepages, &c->pages[i]);
  }
  return c;
}

/* Gives the memory of a chunk that is not linked back. */
static void chunk_free (Arena *a, Chunk *c) {
  prev_free(a, c->raw, c->rawsize);
  prev_free(a, c, sizeof(Chunk) + c->npages * sizeof(Page));
}

/*
** Makes the spare chunk, of SPARE_SIZE, and has its pages faulted in
** on the prefaulting thread (prefault.c) while the chunks before it fill
** up. Only a program that has taken a chunk of the largest size (about
** 16 MiB in all) has one, so a small program stays small. Nothing is lost
** when it cannot be had.
*/
static void make_spare (Arena *a) {
  Chunk *c;
  if (a->spare != NULL || !prefault_enabled()) return;
  if ((c = chunk_new(a, SPARE_SIZE)) == NULL) return;
  advise_huge(c);  /* before its pages are faulted in */
  c->prefaulted = prefault_request(c->base, SPARE_SIZE);
  a->spare = c;
}

/* Takes the spare away, its pages no longer written by the prefaulting
   thread: it may be used or given back. [NULL if there is none] */
static Chunk *take_spare (Arena *a) {
  Chunk *c = a->spare;
  if (c == NULL) return NULL;
  a->spare = NULL;
  if (c->prefaulted) prefault_cancel();
  c->prefaulted = 0;
  return c;
}

/*
** Adds a chunk: the spare if there is one, else a new one from the
** previous allocator. Chunks grow from 256 KiB to 8 MiB, so a small program
** stays small (spares, which follow, are 4 MiB); its pages join the free
** pages. [0 when it cannot]
*/
static int arena_grow (Arena *a) {
  Chunk *c = take_spare(a);
  if (c == NULL) {
    if ((c = chunk_new(a, a->nextchunk)) == NULL) return 0;
    advise_huge(c);
  }
  link_chunk_last(a, c);
  if (!rebuild_pages(a, 0)) {  /* undo */
    unlink_chunk(a, c);
    chunk_free(a, c);
    return 0;
  }
  a->nfreepages += c->npages;
  a->nempty++;
  if (a->nextchunk < CHUNK_MAX) a->nextchunk *= 2;
  else make_spare(a);  /* it took one of the largest */
  return 1;
}

/*
** Gives a chunk none of whose pages has a block out back to the previous
** allocator. Skipped if the page table cannot be rebuilt (out of memory):
** the chunk then stays, whole and usable.
*/
static void release_chunk (Arena *a, Chunk *c) {
  Chunk *after = c->prev;  /* where it goes back if it must */
  unlink_chunk(a, c);
  if (!rebuild_pages(a, 0)) {  /* put it back where it was */
    if (after == NULL) {
      c->next = a->chunks;
      if (a->chunks != NULL) a->chunks->prev = c;
      a->chunks = c;
    } else {
      c->next = after->next;
      c->prev = after;
      if (after->next != NULL) after->next->prev = c;
      after->next = c;
    }
    a->nchunks++;
    return;
  }
  a->nfreepages -= c->npages;
  a->nempty--;
  chunk_free(a, c);
}

/*
** Gives back the empty chunks, youngest first, for which as many free
** pages stay elsewhere: a chunk that was kept when it emptied (the rest had
** too few) can go once other chunks have emptied too.
*/
static void release_spare_chunks (Arena *a) {
  Chunk *c = a->chunks, *prev;
  if (c == NULL) return;
  while (c->next != NULL) c = c->next;
  for (; c != NULL && a->nempty > 0; c = prev) {
    prev = c->prev;
    if (c->nfree == c->npages && a->nfreepages >= 2 * (size_t)c->npages)
      release_chunk(a, c);
  }
}

/* A free page made to serve class cls. [NULL if none can be had] */
static Page *take_page (Arena *a, unsigned cls) {
  Chunk *c;
  Page *pg;
  if (a->nfreepages == 0 && !arena_grow(a)) return NULL;
  for (c = a->chunks; c->freepages == NULL; c = c->next) {}  /* the oldest with one */
  pg = c->freepages;
  unlink_page(&c->freepages, pg);
  a->nfreepages--;
  if (c->nfree-- == c->npages) a->nempty--;
  pg->cls = cls;
  pg->bump = 0;
  pg->used = 0;
  pg->free = NULL;
  link_page(&a->avail[cls], pg);
  pg->listed = 1;
  return pg;
}

/* A block of the size class of n (1 <= n <= ARENA_SMALL). [NULL if none] */
static void *arena_take (Arena *a, size_t n) {
  unsigned cls = (unsigned)((n + 15) >> 4), size = cls << 4;
  Page *pg = a->avail[cls];
  void *p;
  if (pg == NULL && (pg = take_page(a, cls)) == NULL) return NULL;
  if (pg->free != NULL) {
    p = pg->free;
    pg->free = *(void **)p;
  } else {
    p = page_base(pg) + pg->bump;
    pg->bump += size;
  }
  pg->used++;
  if (pg->free == NULL && pg->bump + size > PAGE) {  /* full */
    unlink_page(&a->avail[cls], pg);
    pg->listed = 0;
  }
  a->live++;
  return p;
}

/* Gives every chunk back to the previous allocator (no block is out). */
static void arena_release (Arena *a) {
  Chunk *c;
  while ((c = a->chunks) != NULL) {
    a->chunks = c->next;
    chunk_free(a, c);
  }
  if ((c = take_spare(a)) != NULL) chunk_free(a, c);
  if (a->keys != NULL) {
    prev_free(a, a->keys, a->keycap * sizeof *a->keys);
    prev_free(a, a->vals, a->keycap * sizeof *a->vals);
  }
  a->keys = NULL;
  a->vals = NULL;
  a->keycap = a->nkeys = a->nchunks = 0;
  a->nfreepages = a->nempty = 0;
  memset(a->avail, 0, sizeof a->avail);
  a->released = 1;
}

/*
** Takes back the block p of page pg. A page left with no block out serves
** any class again, unless it is the only one of its class (a block taken
** and given back in turn must not move a page each time); a chunk left
** with no block out goes back to the previous allocator once as many free
** pages stay elsewhere (so tasks that come and go in waves do not make
** the arena give a chunk back and ask for it again, faults and all).
*/
static void arena_give (Arena *a, Page *pg, void *p) {
  *(void **)p = pg->free;
  pg->free = p;
  if (!pg->listed) {
    link_page(&a->avail[pg->cls], pg);
    pg->listed = 1;
  }
  if (--pg->used == 0 && (pg->prev != NULL || pg->next != NULL)) {
    Chunk *c = pg->chunk;
    unlink_page(&a->avail[pg->cls], pg);
    pg->listed = 0;
    pg->cls = 0;
    link_page(&c->freepages, pg);
    a->nfreepages++;
    if (++c->nfree == c->npages) a->nempty++;
    if (a->nempty > 0) release_spare_chunks(a);
  }
  if (--a->live == 0 && a->closing) arena_release(a);
}

#if defined(__GNUC__)
#define ARENA_NOINLINE __attribute__((noinline))
#else
#define ARENA_NOINLINE
#endif

/*
** Resizes or frees the big block ptr (bigblock.c). One that shrinks below
** BIGBLOCK_MIN moves to a smaller block, or stays where it is if there is
** no memory for one, since Lua's allocator must not fail a shrink. Lua
** then knows it by its new size, under BIGBLOCK_MIN: while there is such
** a block (nshrunk), every free or resize looks its pointer up among the
** big blocks, whatever its size.
*/
static void *resize_big (Arena *a, void *ptr, size_t osize, size_t nsize) {
  int shrunk = osize < BIGBLOCK_MIN;  /* kept by such a shrink */
  void *p;
  if (nsize >= BIGBLOCK_MIN) {
    p = bigblock_resize(ptr, osize, nsize);
    if (p != NULL && shrunk) a->nshrunk--;
    return p;
  }
  if (nsize == 0) p = NULL;
  else {
    p = nsize <= ARENA_SMALL ? arena_take(a, nsize) : NULL;
    if (p == NULL && (p = a->prev(a->prevud, NULL, 0, nsize)) == NULL) {
      if (!shrunk) a->nshrunk++;
      return ptr;
    }
    memcpy(p, ptr, nsize);
  }
  if (shrunk) a->nshrunk--;
  bigblock_free(ptr);
  if (--a->live == 0 && a->closing) arena_release(a);
  return p;
}

/*
** The lua_Alloc of the state. A block the arena made is found by its page,
** which knows its size class; a block shrunk in place (only when moving it
** failed) keeps its larger class. Blocks of the previous allocator stay its
** own. arena_alloc serves the common cases, and this one everything.
*/
static ARENA_NOINLINE void *arena_alloc_any (void *ud, void *ptr, size_t osize,
                                             size_t nsize) {
  Arena *a = (Arena *)ud;
  Page *pg;
  void *p;
  if (ptr == NULL) {  /* osize tells the kind of object: not a size */
    if (nsize == 0) return NULL;
    if (nsize <= ARENA_SMALL && !a->released && (p = arena_take(a, nsize)) != NULL)
      return p;
    if (nsize >= BIGBLOCK_MIN && !a->released && (p = bigblock_new(nsize)) != NULL) {
      a->live++;
      return p;
    }
    return a->prev(a->prevud, NULL, 0, nsize);
  }
  if ((osize >= BIGBLOCK_MIN || a->nshrunk > 0) && bigblock_owns(ptr))
    return resize_big(a, ptr, osize, nsize);
  if (nsize >= BIGBLOCK_MIN && !a->released && (p = bigblock_new(nsize)) != NULL) {
    /* a block grows big (a table's array part doubling): it moves */
    a->live++;
    memcpy(p, ptr, osize < nsize ? osize : nsize);
    if (osize <= ARENA_SMALL && (pg = arena_page(a, ptr)) != NULL) arena_give(a, pg, ptr);
    else a->prev(a->prevud, ptr, osize, 0);
    return p;
  }
  if (osize > ARENA_SMALL || a->released || (pg = arena_page(a, ptr)) == NULL)
    return a->prev(a->prevud, ptr, osize, nsize);
  if (nsize == 0) {
    arena_give(a, pg, ptr);
    return NULL;
  }
  if (nsize <= ((size_t)pg->cls << 4) && nsize > ((size_t)(pg->cls - 1) << 4))
    return ptr;  /* the same class */
  p = nsize <= ARENA_SMALL ? arena_take(a, nsize) : NULL;
  if (p == NULL) p = a->prev(a->prevud, NULL, 0, nsize);
  if (p == NULL) return nsize < osize ? ptr : NULL;  /* shrinking never fails */
  memcpy(p, ptr, osize < nsize ? osize : nsize);
  arena_give(a, pg, ptr);
  return p;
}

/*
** The lua_Alloc of the state: what arena_alloc_any does, with the most
** frequent cases here, in a function that calls nothing but tail-calls
** arena_alloc_any for the rest, so they cost no saving of registers: a
** block taken from a page that keeps room after it (arena_take without a
** page to link or unlink), and a block given back to a page that keeps
** others out, the arena keeping live ones (arena_give with nothing else
** to do).
*/
static void *arena_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  Arena *a = (Arena *)ud;
  Page *pg;
  if (a->released) return arena_alloc_any(ud, ptr, osize, nsize);
  if (ptr == NULL) {
    unsigned cls = (unsigned)((nsize + 15) >> 4), size = cls << 4;
    void *p;
    if (nsize - 1 >= ARENA_SMALL || (pg = a->avail[cls]) == NULL)
      return arena_alloc_any(ud, ptr, osize, nsize);  /* 0 or large: too */
    if ((p = pg->free) != NULL) {
      if (*(void **)p == NULL && pg->bump + size > PAGE)  /* the last one */
        return arena_alloc_any(ud, ptr, osize, nsize);
      pg->free = *(void **)p;
    } else {
      if (pg->bump + 2 * size > PAGE)  /* the last one */
        return arena_alloc_any(ud, ptr, osize, nsize);
      p = page_base(pg) + pg->bump;
      pg->bump += size;
    }
    pg->used++;
    a->live++;
    return p;
  }
  if (nsize == 0 && osize <= ARENA_SMALL && a->live > 1
      && (pg = arena_page(a, ptr)) != NULL && pg->listed && pg->used > 1) {
    *(void **)ptr = pg->free;
    pg->free = ptr;
    pg->used--;
    a->live--;
    return NULL;
  }
  return arena_alloc_any(ud, ptr, osize, nsize);
}

/* __gc of the sentinel: lua_close has begun freeing everything. */
static int arena_closing (lua_State *L) {
  (void)L;
  arena.closing = 1;
  if (arena.live == 0 && !arena.released) arena_release(&arena);
  return 0;
}

/*
** lua_close unloads C modules (dlclose) before it frees the last objects,
** which it frees through the allocator: so the library that holds
** arena_alloc must stay mapped until the process ends. Opening it once more
** with RTLD_NODELETE pins it. [1 when pinned]
*/
static int pin_library (void) {
  Dl_info info;
  if (dladdr((void *)arena_alloc, &info) == 0 || info.dli_fname == NULL) return 0;
  return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

/*
** Installs the arena as L's allocator, if no state has it yet. Blocks the
** previous allocator made before keep going to it. [-0, +0, m]
*/
void arena_install (lua_State *L) {
  const char *env = getenv("ASYNCIO_ARENA");
  int expected = 0;
#ifdef ARENA_SANITIZED
  return;
#endif
  if (env != NULL && strcmp(env, "0") == 0) return;
  if (!atomic_compare_exchange_strong(&arena_claimed, &expected, 1)) return;
  if (!pin_library()) return;
  lua_newuserdatauv(L, 0, 0);           /* the sentinel, made before the */
  lua_newtable(L);                      /* switch: the previous allocator */
  lua_pushcfunction(L, arena_closing);  /* frees it after the arena is gone */
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &arena);
  arena.prev = lua_getallocf(L, &arena.prevud);
  arena.nextchunk = CHUNK_MIN;
  lua_setallocf(L, arena_alloc, &arena);
}

/* asyncio.core.arena_stats() -> {live =, chunks =, bytes =, free_pages =,
   big_blocks =, big_bytes =, spare_bytes =} or nil when the state does not
   use the arena: for specs and the curious. */
int arena_stats (lua_State *L) {
  lua_Alloc f = lua_getallocf(L, NULL);
  size_t nchunks = 0, bytes = 0, freepages = 0;
  Chunk *c;
  Page *pg;
  if (f != arena_alloc) {
    lua_pushnil(L);
    return 1;
  }
  for (c = arena.chunks; c != NULL; c = c->next) {
    nchunks++;
    for (pg = c->freepages; pg != NULL; pg = pg->next) freepages++;
  }
  lua_createtable(L, 0, 7);
  lua_pushinteger(L, (lua_Integer)(arena.spare != NULL ? arena.spare->rawsize : 0));
  lua_setfield(L, -2, "spare_bytes");
  lua_pushinteger(L, (lua_Integer)bigblock_stats(&bytes));
  lua_setfield(L, -2, "big_blocks");
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_setfield(L, -2, "big_bytes");
  bytes = 0;
  for (c = arena.chunks; c != NULL; c = c->next) bytes += c->rawsize;
  lua_pushinteger(L, (lua_Integer)freepages);
  lua_setfield(L, -2, "free_pages");
  lua_pushinteger(L, (lua_Integer)arena.live);
  lua_setfield(L, -2, "live");
  lua_pushinteger(L, (lua_Integer)nchunks);
  lua_setfield(L, -2, "chunks");
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_setfield(L, -2, "bytes");
  return 1;
}
