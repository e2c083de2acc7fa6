/*
** ioorder.c: what one poll made ready runs in the order the kernel
** reported it, as in Python.
**
** Python's selector loop handles the events of a poll in the order epoll
** returns them: readiness order, so of four clients that wrote at once the
** first is served first. libev hands a poll's events to their watchers in
** the reverse order (it runs its pending list from the end). So while
** ev_run runs, every I/O callback opens a group (ioorder_event, numbered in
** libev's order), every entry it adds to the ready queue is tagged with its
** group, and after the poll the entries added are put back in descending
** group order, stable within a group (one callback that accepts three
** connections queues them in their order). A stream's reader, woken later
** by the Readers' check, is tagged with the group of the read that
** satisfied it.
**
** Anchoring rule: none; the tags are plain integers in a malloc'd array
** owned by the loop, and the entries are moved inside the loop's ready
** table, which the loop anchors.
*/
#include <stdlib.h>

#include "internal.h"

/* A poll begins: entries queued from now on are tagged. */
void ioorder_begin (Loop *loop) {
  loop->polling = 1;
  loop->npolled = 0;
  loop->poll_base = loop->tail - loop->head;
  loop->order_lost = 0;
}

/* Tags the entry just queued with the running callback's group. */
void ioorder_record (Loop *loop) {
  if (loop->npolled == loop->polledcap) {
    lua_Integer ncap = loop->polledcap ? 2 * loop->polledcap : 64;
    unsigned *ng = (unsigned *)realloc(loop->polled, (size_t)ncap * sizeof *ng);
    if (ng == NULL) {  /* the order is lost, not an entry */
      loop->order_lost = 1;
      return;
    }
    loop->polled = ng;
    loop->polledcap = ncap;
  }
  loop->polled[loop->npolled++] = loop->iogroup;
}

/*
** Sorts idx[0, n) by descending group, stably (merge sort, tmp as scratch).
*/
static void sort_by_group (const unsigned *group, lua_Integer *idx,
                           lua_Integer *tmp, lua_Integer n) {
  lua_Integer width, i;
  for (width = 1; width < n; width *= 2) {
    for (i = 0; i < n; i += 2 * width) {
      lua_Integer lo = i, mid = i + width, hi = i + 2 * width, a, b, k;
      if (mid > n) mid = n;
      if (hi > n) hi = n;
      for (a = lo, b = mid, k = lo; k < hi; k++) {
        if (a < mid && (b >= hi || group[idx[a]] >= group[idx[b]]))
          tmp[k] = idx[a++];
        else
          tmp[k] = idx[b++];
      }
    }
    for (i = 0; i < n; i++) idx[i] = tmp[i];
  }
}

/* The table slot of the ready entry p places after the head. */
static lua_Integer slot_of (Loop *loop, lua_Integer p) {
  return ((loop->head + p) % loop->cap) * 2;
}

/*
** Moves the entries: the one at source[k] goes to place k, following the
** permutation's cycles with one entry held on the stack. The ready table
** is at the top of the stack. Allocates nothing. [-0, +0, -]
*/
static void permute (lua_State *L, Loop *loop, lua_Integer base,
                     lua_Integer *source, lua_Integer n) {
  lua_Integer k;
  for (k = 0; k < n; k++) {
    lua_Integer j = k, from;
    if (source[k] < 0 || source[k] == k) continue;
    lua_rawgeti(L, -1, slot_of(loop, base + k) + 1);  /* hold entry k */
    lua_rawgeti(L, -2, slot_of(loop, base + k) + 2);
    while ((from = source[j]) != k) {
      lua_Integer to = slot_of(loop, base + j), at = slot_of(loop, base + from);
      lua_rawgeti(L, -3, at + 1);
      lua_rawseti(L, -4, to + 1);
      lua_rawgeti(L, -3, at + 2);
      lua_rawseti(L, -4, to + 2);
      source[j] = -1;
      j = from;
    }
    lua_rawseti(L, -3, slot_of(loop, base + j) + 2);
    lua_rawseti(L, -2, slot_of(loop, base + j) + 1);
    source[j] = -1;
  }
}

/*
** The poll is over: puts what it queued in the kernel's order. Leaves
** libev's order if the tags were lost or the scratch space cannot be had.
** [-0, +0, -]
*/
void ioorder_end (lua_State *L, Loop *loop, int loopidx) {
  lua_Integer n = loop->npolled, i, *idx;
  int sorted = 1;
  loop->polling = 0;
  loop->npolled = 0;
  if (n < 2 || loop->order_lost || loop->tail - loop->head != loop->poll_base + n)
    return;
  for (i = 1; i < n && sorted; i++)
    sorted = loop->polled[i - 1] >= loop->polled[i];
  if (sorted) return;  /* one callback's entries, or already in order */
  idx = (lua_Integer *)malloc(2 * (size_t)n * sizeof *idx);
  if (idx == NULL) return;
  for (i = 0; i < n; i++) idx[i] = i;
  sort_by_group(loop->polled, idx, idx + n, n);
  if (!lua_checkstack(L, 4)) { free(idx); return; }
  lua_getiuservalue(L, loopidx, LOOP_UV_READY);
  permute(L, loop, loop->poll_base, idx, n);
  lua_pop(L, 1);
  free(idx);
}

void ioorder_free (Loop *loop) {
  free(loop->polled);
  loop->polled = NULL;
  loop->npolled = loop->polledcap = 0;
}
