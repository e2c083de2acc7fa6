/*
** waiters.c: FIFO lists of waiter futures, the way Python's queues keep
** their getters and putters (a deque of futures, each awaited by one task).
** A task that must wait appends a new future and awaits it; whoever makes
** progress possible wakes the first waiter still pending by finishing its
** future, which schedules that task's step through the ready queue.
**
** Anchoring rule: the futures of a list sit in a Lua table owned by the
** object that waits on them (a user value of the queue); the C struct only
** holds the bounds of the occupied keys.
*/
#include "internal.h"
#include "queue.h"

/* The future at idx, known to be one of our waiters. */
static Future *tofuture (lua_State *L, int idx) {
  return (Future *)lua_touserdata(L, idx);
}

/*
** Pushes a new pending future bound to the loop at loopidx: the waiter a
** task awaits. [-0, +1, m]
*/
Future *waiter_new (lua_State *L, int loopidx) {
  Future *f;
  loopidx = lua_absindex(L, loopidx);
  f = (Future *)lua_newuserdatauv(L, sizeof(Future), FUT_NUV - 1);
  aio_setmetatable(L, AIO_TFUTURE);
  future_init(L, f, AIO_TFUTURE, loopidx);
  return f;
}

/* Spare futures kept per list owner: enough for the tasks blocked at once
   in a busy queue, few enough not to matter. */
#define SPARE_MAX 8

/*
** Keeps the waiter at fidx, whose wait just ended with its result, to be
** reused by waiter_reuse: the futures of the table at tidx, *nspare of
** them. Only a waiter that finished normally is kept, once the task it
** woke is running again: by then nothing else refers to it (the list
** popped it, the done callbacks and the ready queue entry that woke the
** task are spent, the task forgot it as its waiter), so making it pending
** again is invisible. [-0, +0, -]
*/
void waiter_spare (lua_State *L, int fidx, int tidx, int *nspare) {
  Future *f = tofuture(L, fidx);
  if (*nspare >= SPARE_MAX || f->state != FUT_FINISHED || f->failed
      || f->nresults != 0 || f->ncallbacks != 0)
    return;
  f->state = FUT_PENDING;
  lua_pushvalue(L, fidx);
  lua_rawseti(L, tidx, ++*nspare);
}

/* Pushes a spare waiter if there is one (returns 1), else nothing. */
int waiter_reuse (lua_State *L, int tidx, int *nspare) {
  if (*nspare == 0) return 0;
  tidx = lua_absindex(L, tidx);
  lua_rawgeti(L, tidx, *nspare);
  lua_pushnil(L);
  lua_rawseti(L, tidx, (*nspare)--);
  return 1;
}

/* Appends the future at fidx to the list kept in the table at tidx. */
void waiters_push (lua_State *L, Waiters *w, int tidx, int fidx) {
  fidx = lua_absindex(L, fidx);
  lua_pushvalue(L, fidx);
  lua_rawseti(L, tidx, ++w->tail);
}

/*
** Pops the first waiter, pushing it, or returns 0 (pushing nothing) if the
** list is empty. Keys restart at 1 whenever the list empties, so they stay
** in the table's array part. [-0, +(0|1), -]
*/
static int popfirst (lua_State *L, Waiters *w, int tidx) {
  if (w->head == w->tail) return 0;
  lua_rawgeti(L, tidx, ++w->head);
  lua_pushnil(L);
  lua_rawseti(L, tidx, w->head);
  if (w->head == w->tail) w->head = w->tail = 0;
  return 1;
}

/*
** Python's _wakeup_next: drops waiters that are already done (cancelled),
** and finishes the first pending one. Returns whether one was woken.
** [-0, +0, m]
*/
int waiters_wake_next (lua_State *L, Waiters *w, int tidx) {
  tidx = lua_absindex(L, tidx);
  while (popfirst(L, w, tidx)) {
    Future *f = tofuture(L, -1);
    if (f->state == FUT_PENDING) {
      future_set_results(L, f, -1, 0, 0);
      lua_pop(L, 1);
      return 1;
    }
    lua_pop(L, 1);
  }
  return 0;
}

/* Empties the list, finishing every waiter still pending. [-0, +0, m] */
void waiters_wake_all (lua_State *L, Waiters *w, int tidx) {
  tidx = lua_absindex(L, tidx);
  while (popfirst(L, w, tidx)) {
    Future *f = tofuture(L, -1);
    if (f->state == FUT_PENDING) future_set_results(L, f, -1, 0, 0);
    lua_pop(L, 1);
  }
}

/*
** Removes the future at fidx from the list if it is still there (a waker
** may have popped it already), keeping the others in order. [-0, +0, -]
*/
void waiters_remove (lua_State *L, Waiters *w, int tidx, int fidx) {
  lua_Integer i;
  tidx = lua_absindex(L, tidx);
  fidx = lua_absindex(L, fidx);
  for (i = w->head + 1; i <= w->tail; i++) {
    int found;
    lua_rawgeti(L, tidx, i);
    found = lua_rawequal(L, -1, fidx);
    lua_pop(L, 1);
    if (found) {
      for (; i < w->tail; i++) {
        lua_rawgeti(L, tidx, i + 1);
        lua_rawseti(L, tidx, i);
      }
      lua_pushnil(L);
      lua_rawseti(L, tidx, w->tail--);
      if (w->head == w->tail) w->head = w->tail = 0;
      return;
    }
  }
}
