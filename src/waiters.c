/*
** waiters.c: FIFO lists of parked tasks, the way Python's queues keep
** their getters and putters (a deque of waiter futures, each awaited by one
** task). A task that must wait appends itself and parks (task_park);
** whoever makes progress possible wakes the first task of the list, which
** queues its step, and the task retries when it runs. A task cancelled
** while parked is taken out of its list at once (waiters_remove).
**
** Anchoring rule: the tasks of a list sit in a Lua table owned by the
** object they wait on (a user value of the queue); the C struct only holds
** the bounds of the occupied keys.
*/
#include "internal.h"
#include "queue.h"

/* Appends the task at tidx to the list kept in the table at listidx. */
void waiters_push (lua_State *L, Waiters *w, int listidx, int tidx) {
  lua_pushvalue(L, tidx);
  lua_rawseti(L, AIO_BELOW_PUSH(listidx), ++w->tail);
}

/*
** Pops the first waiter, pushing it, or returns 0 (pushing nothing) if the
** list is empty. Keys restart at 1 whenever the list empties, so they stay
** in the table's array part. [-0, +(0|1), -]
*/
static int popfirst (lua_State *L, Waiters *w, int listidx) {
  if (w->head == w->tail) return 0;
  lua_rawgeti(L, listidx, ++w->head);
  lua_pushnil(L);
  lua_rawseti(L, listidx, w->head);
  if (w->head == w->tail) w->head = w->tail = 0;
  return 1;
}

/*
** Python's _wakeup_next: wakes the first task still parked. listidx is
** absolute (or a pseudo-index); loopidx, as for task_unpark, is where the
** loop of the tasks is, or 0. Returns whether one was woken. [-0, +0, m]
*/
int waiters_wake_next (lua_State *L, Waiters *w, int listidx, int loopidx) {
  while (popfirst(L, w, listidx))
    if (task_unpark_top(L, AIO_BELOW_PUSH(loopidx))) return 1;
  return 0;
}

/* Empties the list, waking every task. [-0, +0, m] */
void waiters_wake_all (lua_State *L, Waiters *w, int listidx) {
  listidx = lua_absindex(L, listidx);
  while (popfirst(L, w, listidx)) task_unpark_top(L, 0);
}

/* Whether slot i of the list at listidx holds the value at tidx. */
static int holds (lua_State *L, int listidx, lua_Integer i, int tidx) {
  int same;
  lua_rawgeti(L, listidx, i);
  same = lua_rawequal(L, -1, tidx);
  lua_pop(L, 1);
  return same;
}

/*
** Removes the task at tidx from the list if it is there, keeping the
** others in order. It is looked for from both ends at once, and the
** shorter side moves into the gap: tasks cancelled in the order they
** came, or in the reverse order, cost one step each, not the length of
** the list. [-0, +0, -]
*/
void waiters_remove (lua_State *L, Waiters *w, int listidx, int tidx) {
  lua_Integer front = w->head + 1, back = w->tail, i;
  listidx = lua_absindex(L, listidx);
  tidx = lua_absindex(L, tidx);
  for (;;) {
    if (front > back) return;  /* not there */
    if (holds(L, listidx, front, tidx)) { i = front; break; }
    if (holds(L, listidx, back, tidx)) { i = back; break; }
    front++;
    back--;
  }
  if (i - w->head <= w->tail - i) {  /* nearer the head: shift those up */
    for (; i > w->head + 1; i--) {
      lua_rawgeti(L, listidx, i - 1);
      lua_rawseti(L, listidx, i);
    }
    lua_pushnil(L);
    lua_rawseti(L, listidx, ++w->head);
  } else {
    for (; i < w->tail; i++) {
      lua_rawgeti(L, listidx, i + 1);
      lua_rawseti(L, listidx, i);
    }
    lua_pushnil(L);
    lua_rawseti(L, listidx, w->tail--);
  }
  if (w->head == w->tail) w->head = w->tail = 0;
}
