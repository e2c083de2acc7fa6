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
** libev's epoll set does not have Python's order, though: libev registers
** a descriptor only when it next polls (Python's selector at add_reader, so
** one ready then comes before those that get ready after), and keeps one
** that is no longer watched. So the add_reader/add_writer descriptors are
** also registered in a shadow epoll set, as Python's selector registers
** them (ioorder_watch), which is read after each poll only for its order:
** the entries of those watchers are put in that order among themselves.
**
** Anchoring rule: none; the tags are plain integers in malloc'd arrays
** owned by the loop, the shadow set holds descriptors only, and the entries
** are moved inside the loop's ready table, which the loop anchors.
*/
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "internal.h"

/* A poll begins: entries queued from now on are tagged. */
void ioorder_begin (Loop *loop) {
  loop->polling = 1;
  loop->npolled = 0;
  loop->poll_base = loop->tail - loop->head;
  loop->order_lost = 0;
}

/* Tags the entry just queued with the running callback's group and key. */
void ioorder_record (Loop *loop) {
  if (loop->npolled == loop->polledcap) {
    lua_Integer ncap = loop->polledcap ? 2 * loop->polledcap : 64;
    unsigned *ng = (unsigned *)realloc(loop->polled, (size_t)ncap * sizeof *ng);
    int *nk;
    if (ng == NULL) {  /* the order is lost, not an entry */
      loop->order_lost = 1;
      return;
    }
    loop->polled = ng;
    nk = (int *)realloc(loop->polledkey, (size_t)ncap * sizeof *nk);
    if (nk == NULL) {
      loop->order_lost = 1;
      return;
    }
    loop->polledkey = nk;
    loop->polledcap = ncap;
  }
  loop->polledkey[loop->npolled] = loop->iokey;
  loop->polled[loop->npolled++] = loop->iogroup;
}

static int shadow_poll (Loop *loop);

/*
** The add_reader/add_writer watchers of fd go from the directions in
** before to those in after (bit 0: read, bit 1: write): the shadow set
** follows as Python's selector does, registering at once, modifying only
** when the directions change, unregistering the last. A failure only
** leaves that descriptor out of the order.
*/
void ioorder_watch (Loop *loop, int fd, int before, int after) {
#ifdef __linux__
  struct epoll_event ev;
  if (before == after || loop->closed) return;
  if (loop->shadow < 0) {
    if (after == 0) return;
    loop->shadow = epoll_create1(EPOLL_CLOEXEC);
    if (loop->shadow < 0) return;
  }
  memset(&ev, 0, sizeof(ev));
  ev.events = ((after & 1) ? EPOLLIN : 0) | ((after & 2) ? EPOLLOUT : 0);
  ev.data.fd = fd;
  if (after == 0) {  /* Python ignores the failure of a closed one too */
    epoll_ctl(loop->shadow, EPOLL_CTL_DEL, fd, &ev);
    if (--loop->nshadow <= 0) {  /* empty: no descriptor kept for it */
      close(loop->shadow);
      loop->shadow = -1;
      loop->nshadow = 0;
    }
  } else if (before == 0) {
    /* the set was not read while it held one descriptor (ioorder_end):
       read it now, as Python's selector had at its last poll */
    if (loop->nshadow == 1) shadow_poll(loop);
    if (epoll_ctl(loop->shadow, EPOLL_CTL_ADD, fd, &ev) == 0) loop->nshadow++;
  } else if (epoll_ctl(loop->shadow, EPOLL_CTL_MOD, fd, &ev) != 0
             && epoll_ctl(loop->shadow, EPOLL_CTL_ADD, fd, &ev) == 0) {
    loop->nshadow++;  /* it was closed, and the number given to a new file */
  }
#else
  (void)loop; (void)fd; (void)before; (void)after;
#endif
}

/*
** Reads the shadow set's ready list, as Python's selector reads its own at
** every poll (which also moves what stays ready to its end). Returns the
** number of events, in shadowev, or 0.
*/
static int shadow_poll (Loop *loop) {
#ifdef __linux__
  int n;
  if (loop->shadow < 0 || loop->nshadow == 0) return 0;
  if (loop->shadowcap < loop->nshadow) {
    void *nev = realloc(loop->shadowev, (size_t)loop->nshadow * sizeof(struct epoll_event));
    if (nev == NULL) return 0;
    loop->shadowev = nev;
    loop->shadowcap = loop->nshadow;
  }
  n = epoll_wait(loop->shadow, (struct epoll_event *)loop->shadowev, loop->nshadow, 0);
  return n < 0 ? 0 : n;
#else
  (void)loop;
  return 0;
#endif
}

/* A watcher entry: its place in the shadow's order, the entry, and its
   place before (which keeps the order of those of equal rank). */
typedef struct { lua_Integer rank, at, was; } Ranked;

static int compare_fd (const void *a, const void *b) {
  int x = ((const int *)a)[0], y = ((const int *)b)[0];
  return (x > y) - (x < y);
}

static int compare_ranked (const void *a, const void *b) {
  const Ranked *x = (const Ranked *)a, *y = (const Ranked *)b;
  if (x->rank != y->rank) return (x->rank > y->rank) - (x->rank < y->rank);
  return (x->was > y->was) - (x->was < y->was);
}

/*
** Puts the add_reader/add_writer entries among idx[0, n) in the order of
** the nev events in shadowev, each descriptor's reader before its writer,
** as Python's _process_events queues them; those the shadow did not report
** follow, as they were. The other entries keep their places. Nothing moves
** if scratch space cannot be had.
*/
static void order_watchers (Loop *loop, lua_Integer *idx, lua_Integer n, int nev) {
#ifdef __linux__
  struct epoll_event *evs = (struct epoll_event *)loop->shadowev;
  int *byfd = (int *)malloc(2 * (size_t)nev * sizeof *byfd);  /* (fd, j) */
  Ranked *w = (Ranked *)malloc((size_t)n * sizeof *w);
  lua_Integer *places = (lua_Integer *)malloc((size_t)n * sizeof *places);
  lua_Integer k, nw = 0, m;
  int j;
  if (byfd == NULL || w == NULL || places == NULL) {
    free(byfd); free(w); free(places);
    return;
  }
  for (j = 0; j < nev; j++) {
    byfd[2 * j] = evs[j].data.fd;
    byfd[2 * j + 1] = j;
  }
  qsort(byfd, (size_t)nev, 2 * sizeof *byfd, compare_fd);
  for (k = 0; k < n; k++) {
    int key = loop->polledkey[idx[k]], *hit;
    if (key < 0) continue;
    hit = (int *)bsearch(&(int){ key >> 1 }, byfd, (size_t)nev, 2 * sizeof *byfd, compare_fd);
    w[nw].rank = hit != NULL ? 2 * (lua_Integer)hit[1] + (key & 1) : 2 * (lua_Integer)nev;
    w[nw].at = idx[k];
    w[nw].was = k;
    places[nw++] = k;
  }
  qsort(w, (size_t)nw, sizeof *w, compare_ranked);
  for (m = 0; m < nw; m++) idx[places[m]] = w[m].at;
  free(byfd); free(w); free(places);
#else
  (void)loop; (void)idx; (void)n; (void)nev;
#endif
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
  lua_Integer n = loop->npolled, i, *idx, nw = 0;
  /* with one descriptor in the set (a running child's pidfd, most often)
     there is no order to ask the kernel for, so no epoll_wait more per
     poll: its reader goes before its writer already (reader_first) */
  int sorted = 1, nev = loop->nshadow == 1 ? 0 : shadow_poll(loop), moved;
  loop->polling = 0;
  loop->npolled = 0;
  if (n < 2 || loop->order_lost || loop->tail - loop->head != loop->poll_base + n)
    return;
  for (i = 1; i < n && sorted; i++)
    sorted = loop->polled[i - 1] >= loop->polled[i];
  if (nev > 0)
    for (i = 0; i < n; i++) nw += loop->polledkey[i] >= 0;
  if (sorted && nw < 2) return;  /* one callback's entries, or in order */
  idx = (lua_Integer *)malloc(2 * (size_t)n * sizeof *idx);
  if (idx == NULL) return;
  for (i = 0; i < n; i++) idx[i] = i;
  if (!sorted) sort_by_group(loop->polled, idx, idx + n, n);
  if (nw >= 2) order_watchers(loop, idx, n, nev);
  for (i = 0, moved = 0; i < n && !moved; i++) moved = idx[i] != i;
  if (!moved || !lua_checkstack(L, 4)) { free(idx); return; }
  lua_getiuservalue(L, loopidx, LOOP_UV_READY);
  permute(L, loop, loop->poll_base, idx, n);
  lua_pop(L, 1);
  free(idx);
}

void ioorder_free (Loop *loop) {
  free(loop->polled);
  free(loop->polledkey);
  loop->polled = NULL;
  loop->polledkey = NULL;
  loop->npolled = loop->polledcap = 0;
  if (loop->shadow >= 0) close(loop->shadow);
  loop->shadow = -1;
  loop->nshadow = 0;
  free(loop->shadowev);
  loop->shadowev = NULL;
  loop->shadowcap = 0;
}
