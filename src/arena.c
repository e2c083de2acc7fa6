/*
** arena.c: the allocator of the Lua state that loads the core first.
**
** A task costs a handful of small blocks (its coroutine, stack, call frames,
** userdata), and a program that starts 100k tasks touches hundreds of
** megabytes of fresh memory at once. With malloc's 4 KiB pages, each page
** costs a page fault: on a virtual machine, more than the tasks' own work.
** The arena serves blocks of up to ARENA_SMALL bytes from chunks it asks
** the previous allocator for, advised as transparent huge pages, with one
** free list per 16-byte size class; everything else, and every block the
** previous allocator made before the arena came, goes to that allocator.
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
#define GRANULE_SHIFT  16             /* ownership is tracked per 64 KiB */
#define GRANULE        ((size_t)1 << GRANULE_SHIFT)
#define CHUNK_MIN      ((size_t)256 << 10)
#define CHUNK_MAX      ((size_t)8 << 20)
#define HUGE_PAGE      ((size_t)2 << 20)

typedef struct Chunk {
  struct Chunk *next;
  void *raw;                 /* as the previous allocator returned it */
  size_t rawsize;
} Chunk;

typedef struct Arena {
  lua_Alloc prev;            /* the state's allocator before the arena */
  void *prevud;
  void *freelist[ARENA_NCLASSES]; /* per size class: blocks linked by first word */
  char *bump, *end;          /* the unused rest of the newest chunk */
  Chunk *chunks;             /* every chunk, newest first */
  size_t nextchunk;          /* size of the next chunk to ask for */
  uintptr_t *owned;          /* open-addressing set of granule numbers + 1 */
  size_t nowned, ownedcap;   /* entries used, capacity (a power of two) */
  size_t live;               /* blocks handed out and not yet returned */
  int closing;               /* lua_close has begun: release when live is 0 */
  int released;              /* chunks given back: forward everything */
} Arena;

static Arena arena;
static atomic_int arena_claimed;

static size_t granule_hash (uintptr_t g, size_t cap) {
  return (size_t)((g * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (cap - 1);
}

/* Whether p lies in one of the arena's chunks. */
static int arena_owns (const Arena *a, const void *p) {
  uintptr_t key = ((uintptr_t)p >> GRANULE_SHIFT) + 1;
  size_t i;
  if (a->ownedcap == 0) return 0;
  for (i = granule_hash(key, a->ownedcap); a->owned[i] != 0;
       i = (i + 1) & (a->ownedcap - 1))
    if (a->owned[i] == key) return 1;
  return 0;
}

static void owned_insert (uintptr_t *set, size_t cap, uintptr_t key) {
  size_t i = granule_hash(key, cap);
  while (set[i] != 0) i = (i + 1) & (cap - 1);
  set[i] = key;
}

/* Makes room for n more granules, keeping the set at most half full. */
static int owned_reserve (Arena *a, size_t n) {
  size_t cap = a->ownedcap ? a->ownedcap : 256, i;
  uintptr_t *set;
  if (2 * (a->nowned + n) <= a->ownedcap) return 1;
  while (2 * (a->nowned + n) > cap) cap *= 2;
  set = (uintptr_t *)a->prev(a->prevud, NULL, 0, cap * sizeof *set);
  if (set == NULL) return 0;
  memset(set, 0, cap * sizeof *set);
  for (i = 0; i < a->ownedcap; i++)
    if (a->owned[i] != 0) owned_insert(set, cap, a->owned[i]);
  if (a->owned != NULL)
    a->prev(a->prevud, a->owned, a->ownedcap * sizeof *set, 0);
  a->owned = set;
  a->ownedcap = cap;
  return 1;
}

/*
** Asks the previous allocator for a chunk, aligned to a granule so that no
** block of anybody else shares a granule with it. Chunks grow from 256 KiB
** to 4 MiB, so a small program stays small. [0 when it cannot]
*/
static int arena_grow (Arena *a) {
  size_t size = a->nextchunk, g;
  size_t align = size >= HUGE_PAGE ? HUGE_PAGE : GRANULE;
  size_t rawsize = size + align + sizeof(Chunk);
  char *raw, *base;
  Chunk *c;
  if (!owned_reserve(a, size / GRANULE)) return 0;
  raw = (char *)a->prev(a->prevud, NULL, 0, rawsize);
  if (raw == NULL) return 0;
  base = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  c = (Chunk *)(base + size);   /* the bookkeeping sits past the blocks */
  c->raw = raw;
  c->rawsize = rawsize;
  c->next = a->chunks;
  a->chunks = c;
  for (g = 0; g < size / GRANULE; g++) {
    owned_insert(a->owned, a->ownedcap,
                 ((uintptr_t)(base + g * GRANULE) >> GRANULE_SHIFT) + 1);
    a->nowned++;
  }
#ifdef MADV_HUGEPAGE
  if (size >= HUGE_PAGE)
    madvise(base, size, MADV_HUGEPAGE);  /* advice: failing is harmless */
#endif
  a->bump = base;
  a->end = base + size;
  if (a->nextchunk < CHUNK_MAX) a->nextchunk *= 2;
  return 1;
}

/* A block of the size class of n (1 <= n <= ARENA_SMALL). [NULL if none] */
static void *arena_take (Arena *a, size_t n) {
  size_t cls = (n + 15) >> 4, size = cls << 4;
  void *p = a->freelist[cls];
  if (p != NULL) {
    a->freelist[cls] = *(void **)p;
  } else {
    if ((size_t)(a->end - a->bump) < size && !arena_grow(a)) return NULL;
    p = a->bump;
    a->bump += size;
  }
  a->live++;
  return p;
}

/* Gives every chunk back to the previous allocator (no block is out). */
static void arena_release (Arena *a) {
  Chunk *c = a->chunks;
  while (c != NULL) {
    Chunk *next = c->next;
    a->prev(a->prevud, c->raw, c->rawsize, 0);
    c = next;
  }
  if (a->owned != NULL)
    a->prev(a->prevud, a->owned, a->ownedcap * sizeof *a->owned, 0);
  a->chunks = NULL;
  a->owned = NULL;
  a->ownedcap = a->nowned = 0;
  a->bump = a->end = NULL;
  memset(a->freelist, 0, sizeof a->freelist);
  a->released = 1;
}

static void arena_give (Arena *a, void *p, size_t osize) {
  size_t cls = (osize + 15) >> 4;
  *(void **)p = a->freelist[cls];
  a->freelist[cls] = p;
  if (--a->live == 0 && a->closing) arena_release(a);
}

/*
** The lua_Alloc of the state. A block the arena made is returned to it by
** size class, which Lua's osize gives; a block shrunk in place (only when
** moving it failed) is smaller than its class, never larger, so it goes
** back to a class it fills. Blocks of the previous allocator stay its own.
*/
static void *arena_alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  Arena *a = (Arena *)ud;
  void *p;
  if (ptr == NULL) {  /* osize tells the kind of object: not a size */
    if (nsize == 0) return NULL;
    if (nsize <= ARENA_SMALL && !a->released && (p = arena_take(a, nsize)) != NULL)
      return p;
    return a->prev(a->prevud, NULL, 0, nsize);
  }
  if (osize > ARENA_SMALL || a->released || !arena_owns(a, ptr))
    return a->prev(a->prevud, ptr, osize, nsize);
  if (nsize == 0) {
    arena_give(a, ptr, osize);
    return NULL;
  }
  if (((nsize + 15) >> 4) == ((osize + 15) >> 4)) return ptr;
  p = nsize <= ARENA_SMALL ? arena_take(a, nsize) : NULL;
  if (p == NULL) p = a->prev(a->prevud, NULL, 0, nsize);
  if (p == NULL) return nsize < osize ? ptr : NULL;  /* shrinking never fails */
  memcpy(p, ptr, osize < nsize ? osize : nsize);
  arena_give(a, ptr, osize);
  return p;
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

/* asyncio.core.arena_stats() -> {live =, chunks =, bytes =} or nil when the
   state does not use the arena: for specs and for the curious. */
int arena_stats (lua_State *L) {
  lua_Alloc f = lua_getallocf(L, NULL);
  size_t nchunks = 0, bytes = 0;
  Chunk *c;
  if (f != arena_alloc) {
    lua_pushnil(L);
    return 1;
  }
  for (c = arena.chunks; c != NULL; c = c->next) {
    nchunks++;
    bytes += c->rawsize;
  }
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, (lua_Integer)arena.live);
  lua_setfield(L, -2, "live");
  lua_pushinteger(L, (lua_Integer)nchunks);
  lua_setfield(L, -2, "chunks");
  lua_pushinteger(L, (lua_Integer)bytes);
  lua_setfield(L, -2, "bytes");
  return 1;
}
