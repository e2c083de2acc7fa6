/*
** waiters.c: FIFO lists of parked tasks, the way Python's queues keep
** their getters and putters (a deque of waiter futures, each awaited by one
** task). A task that must wait appends itself and parks (task_park);
** whoever makes progress possible wakes the first task of the list, which
** queues its step, and the task retries when it runs. A task cancelled
** while parked is taken out of its list at once (waiters_remove).
**
** A list keeps its tasks on the stack of a Lua thread of its own, never
** resumed: lua_xmove moves a task in or out for a fraction of what a table
** write and a read with its clearing cost, and a task popped off the top
** needs no clearing.
**
** Anchoring rule: the tasks of a list sit on the stack of its thread,
** between the list's head and its top; the thread is held by the object
** they wait on (a user value of the queue), the C struct only points to it.
*/
#include "internal.h"
#include "queue.h"

/*
** Makes the list's thread (it has none), anchored in user value uv of the
** object at ownidx. [-0, +0, m]
*/
lua_State *waiters_thread (lua_State *L, Waiters *w, int ownidx, int uv) {
  lua_State *th = lua_newthread(L);
  if (w->th == NULL) {  /* still: a finalizer the allocation ran could have
                           made one only if it could park, which it cannot */
    w->th = th;
    lua_setiuservalue(L, AIO_BELOW_PUSH(ownidx), uv);
  } else lua_pop(L, 1);
  return w->th;
}

/* Makes room for one more task on the list's thread. [-0, +0, v] */
void waiters_grow (lua_State *L, Waiters *w) {
  if (!lua_checkstack(w->th, 1))
    luaL_error(L, "stack overflow (too many tasks waiting)");
}

/* Appends the task at tidx to the list (its thread is made). */
void waiters_push (lua_State *L, Waiters *w, int tidx) {
  lua_pushvalue(L, tidx);
  waiters_push_top(L, w);
}

/*
** Moves the list's tasks down to the bottom of its thread's stack once the
** nils left below them are the most of it, so that the stack never holds
** more than twice its tasks (and 16 nils). [-0, +0, -]
*/
static inline void settle (lua_State *th, Waiters *w) {
  if (w->head >= 16 && w->head >= w->tail - w->head) {
    lua_rotate(th, 1, -w->head);
    w->tail -= w->head;
    w->head = 0;
    lua_settop(th, w->tail);
  }
}

/*
** Pops the first waiter, pushing it, or returns 0 (pushing nothing) if the
** list is empty. The last one leaves from the top of the stack; one with
** others behind it leaves a nil, and the stack restarts empty whenever the
** list empties, or moves its tasks down once nils are the most of it.
** [-0, +(0|1), -]
*/
static inline int popfirst (lua_State *L, Waiters *w) {
  lua_State *th = w->th;
  if (w->head == w->tail) return 0;
  if (w->head + 1 == w->tail) {
    lua_xmove(th, L, 1);
    if (w->head != 0) lua_settop(th, 0);
    w->head = w->tail = 0;
    return 1;
  }
  lua_pushvalue(th, ++w->head);
  lua_xmove(th, L, 1);
  lua_pushnil(th);
  lua_replace(th, w->head);
  settle(th, w);
  return 1;
}

/*
** Python's _wakeup_next: wakes the first task still parked. loopidx, as
** for task_unpark, is where the loop of the tasks is, or 0. Returns
** whether one was woken. [-0, +0, m]
*/
int waiters_wake_next (lua_State *L, Waiters *w, int loopidx) {
  while (popfirst(L, w))
    if (task_unpark_top(L, AIO_BELOW_PUSH(loopidx))) return 1;
  return 0;
}

/* Empties the list, waking every task. [-0, +0, m] */
void waiters_wake_all (lua_State *L, Waiters *w) {
  while (popfirst(L, w)) task_unpark_top(L, 0);
}

/*
** Removes the task at tidx from the list if it is there, keeping the
** others in order. It is looked for from both ends at once, and the
** shorter side moves into the gap: tasks cancelled in the order they
** came, or in the reverse order, cost one step each, not the length of
** the list. Tasks are full userdata: the same address is the same task.
** [-0, +0, -]
*/
void waiters_remove (lua_State *L, Waiters *w, int tidx) {
  lua_State *th = w->th;
  const void *task = lua_topointer(L, tidx);
  int front = (int)w->head + 1, back = (int)w->tail, i;
  for (;;) {
    if (front > back) return;  /* not there */
    if (lua_topointer(th, front) == task) { i = front; break; }
    if (lua_topointer(th, back) == task) { i = back; break; }
    front++;
    back--;
  }
  if (i - w->head <= w->tail - i) {  /* nearer the head: shift those up */
    for (; i > w->head + 1; i--) lua_copy(th, i - 1, i);
    lua_pushnil(th);
    lua_replace(th, (int)++w->head);
    settle(th, w);  /* cancelled tasks must not pile up nils below */
  } else {
    for (; i < w->tail; i++) lua_copy(th, i + 1, i);
    lua_settop(th, (int)--w->tail);
  }
  if (w->head == w->tail) {
    lua_settop(th, 0);
    w->head = w->tail = 0;
  }
}
