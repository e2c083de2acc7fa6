/*
** timer.c: the loop's timer heap, call_later and call_at.
**
** Anchoring rule: an object with a deadline in the heap (a TimerHandle, or
** a Task inside sleep) is the value of its slot in the loop's LOOP_UV_TIMERS
** table until it is popped or removed; the heap itself holds only slots.
*/
#include <math.h>
#include <stdlib.h>

#include "internal.h"

/* (a.when, a.seq) < (b.when, b.seq): equal deadlines keep their order. */
static int before (const TimerEntry *a, const TimerEntry *b) {
  return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place (Loop *loop, int i, TimerEntry e) {
  loop->heap[i] = e;
  loop->slotpos[e.slot] = i;
}

static void sift_up (Loop *loop, int i) {
  TimerEntry e = loop->heap[i];
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (!before(&e, &loop->heap[parent])) break;
    place(loop, i, loop->heap[parent]);
    i = parent;
  }
  place(loop, i, e);
}

static void sift_down (Loop *loop, int i) {
  TimerEntry e = loop->heap[i];
  int n = loop->nheap;
  for (;;) {
    int child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && before(&loop->heap[child + 1], &loop->heap[child]))
      child++;
    if (!before(&loop->heap[child], &e)) break;
    place(loop, i, loop->heap[child]);
    i = child;
  }
  place(loop, i, e);
}

/* Makes room for one more entry and one more slot. [-0, +0, m] */
static void reserve (lua_State *L, Loop *loop) {
  if (loop->nheap == loop->heapcap) {
    int cap = loop->heapcap ? 2 * loop->heapcap : 64;
    TimerEntry *h = (TimerEntry *)realloc(loop->heap, cap * sizeof(*h));
    if (h == NULL) luaL_error(L, "not enough memory for timers");
    loop->heap = h;
    loop->heapcap = cap;
  }
  if (loop->freeslot == 0) {
    int i, n = loop->nslots ? 2 * loop->nslots : 64;
    int *pos = (int *)realloc(loop->slotpos, n * sizeof(int));
    int *next;
    if (pos == NULL) luaL_error(L, "not enough memory for timers");
    loop->slotpos = pos;
    next = (int *)realloc(loop->slotnext, n * sizeof(int));
    if (next == NULL) luaL_error(L, "not enough memory for timers");
    loop->slotnext = next;
    /* slot 0 is never used: it means "none" */
    for (i = loop->nslots ? loop->nslots : 1; i < n; i++) {
      pos[i] = -1;
      next[i] = loop->freeslot;
      loop->freeslot = i;
    }
    if (loop->nslots == 0) pos[0] = -1;
    loop->nslots = n;
  }
}

/*
** Puts the object at objidx in the heap with deadline when and returns its
** slot. [-0, +0, m]
*/
int timer_add (lua_State *L, Loop *loop, int loopidx, double when, int objidx) {
  TimerEntry e;
  objidx = lua_absindex(L, objidx);
  reserve(L, loop);
  lua_getiuservalue(L, loopidx, LOOP_UV_TIMERS);
  e.slot = loop->freeslot;
  lua_pushvalue(L, objidx);
  lua_rawseti(L, -2, e.slot);
  lua_pop(L, 1);
  loop->freeslot = loop->slotnext[e.slot];
  e.when = when;
  e.seq = loop->seq++;
  loop->heap[loop->nheap++] = e;
  sift_up(loop, loop->nheap - 1);
  return e.slot;
}

/* Frees slot, whose LOOP_UV_TIMERS entry is nil (or soon will be). */
static void free_slot (Loop *loop, int slot) {
  loop->slotpos[slot] = -1;
  loop->slotnext[slot] = loop->freeslot;
  loop->freeslot = slot;
}

static void release_slot (lua_State *L, Loop *loop, int loopidx, int slot) {
  lua_getiuservalue(L, loopidx, LOOP_UV_TIMERS);
  lua_pushnil(L);
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
  free_slot(loop, slot);
}

/* Takes entry i out of the heap. */
static void heap_delete (Loop *loop, int i) {
  int last = --loop->nheap;
  if (i != last) {
    place(loop, i, loop->heap[last]);
    if (i > 0 && before(&loop->heap[i], &loop->heap[(i - 1) / 2]))
      sift_up(loop, i);
    else sift_down(loop, i);
  }
}

/* Removes the deadline of slot (no-op if it is not in the heap). */
void timer_remove (lua_State *L, Loop *loop, int loopidx, int slot) {
  int i;
  if (slot <= 0 || slot >= loop->nslots || loop->heap == NULL) return;
  i = loop->slotpos[slot];
  if (i < 0) return;
  heap_delete(loop, i);
  release_slot(L, loop, loopidx, slot);
}

/*
** Moves every entry due at now (deadline <= now) to the ready queue, in
** (deadline, order of scheduling) order; run_once, the caller, keeps the
** ring at readyidx (loop_ready_push_ring). [-0, +0, m]
*/
void timer_pop_due (lua_State *L, Loop *loop, int loopidx, int readyidx,
                    double now) {
  int timersidx, markidx;
  loopidx = lua_absindex(L, loopidx);
  /* the table stays the loop's while there are entries: only loop_close,
     which empties the heap, replaces it */
  lua_getiuservalue(L, loopidx, LOOP_UV_TIMERS);
  timersidx = lua_gettop(L);
  lua_pushlightuserdata(L, &aio_mark_timer);
  markidx = timersidx + 1;
  while (loop->nheap > 0 && loop->heap[0].when <= now) {
    int slot = loop->heap[0].slot;
    heap_delete(loop, 0);
    lua_rawgeti(L, timersidx, slot);
    lua_pushnil(L);
    lua_rawseti(L, timersidx, slot);
    free_slot(loop, slot);
    /* only sleeping tasks and TimerHandles are in the heap: told apart by
       size, without a metatable lookup */
    if (lua_rawlen(L, -1) == sizeof(Task)) {
      Task *t = (Task *)lua_touserdata(L, -1);
      t->slot = 0;
      loop_ready_push_ring(L, loop, loopidx, readyidx, -1, markidx);
    } else {
      Handle *h = (Handle *)lua_touserdata(L, -1);
      h->slot = 0;
      loop_ready_push_ring(L, loop, loopidx, readyidx, -1, 0);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

void timer_free (Loop *loop) {
  free(loop->heap);
  free(loop->slotpos);
  free(loop->slotnext);
  loop->heap = NULL;
  loop->slotpos = loop->slotnext = NULL;
  loop->nheap = loop->heapcap = loop->nslots = loop->freeslot = 0;
}

/* Checks a delay or deadline argument: a number, not NaN. */
static double checktime (lua_State *L, int arg) {
  double d;
  /* not a numeric string: as sleep's and wait_for's, and Python's */
  if (lua_type(L, arg) != LUA_TNUMBER) luaL_typeerror(L, arg, "number");
  d = lua_tonumber(L, arg);
  luaL_argcheck(L, !isnan(d), arg, "number is NaN");
  return d;
}

/*
** Pushes a TimerHandle of the loop at loopidx (absolute) calling the
** function at fnidx with the nargs values after it, due at when.
** [-0, +1, e]
*/
void timer_schedule (lua_State *L, Loop *loop, int loopidx, int fnidx,
                     int nargs, double when) {
  handle_new(L, loop, loopidx, fnidx, nargs, 1);
  timer_arm(L, loop, loopidx, when);
}

/*
** Puts the TimerHandle at the top, just made (or handle_reuse'd), of the
** loop at loopidx (absolute) in the heap, due at when. [-0, +0, e]
*/
void timer_arm (lua_State *L, Loop *loop, int loopidx, double when) {
  Handle *h;
  /* a finalizer run by its allocation may have closed the loop */
  if (loop->closed) aio_loop_closed(L);
  h = (Handle *)lua_touserdata(L, -1);
  h->when = when;
  h->slot = timer_add(L, loop, loopidx, when, -1);
}

static int schedule (lua_State *L, Loop *loop, double when) {
  int nargs = lua_gettop(L) - 3;
  aio_check_callback(L, loop, 3, "call_at");  /* Python's call_later too */
  if (nargs < 0) nargs = 0;
  if (nargs > AIO_MAX_ARGS)  /* named here, before the delay leaves the stack */
    luaL_argerror(L, 3 + 1 + AIO_MAX_ARGS,
                  lua_pushfstring(L, "too many arguments, at most %d", AIO_MAX_ARGS));
  lua_settop(L, nargs + 3);
  lua_remove(L, 2);  /* loop, fn, args... */
  timer_schedule(L, loop, 1, 2, nargs, when);
  return 1;
}

/* loop:call_later(delay, fn, ...) -> TimerHandle */
static int loop_call_later (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  double delay = checktime(L, 2);
  /* no clamp: as in Python, a negative delay is a deadline in the past,
     due before the handles of delay 0 */
  return schedule(L, loop, aio_now() + delay);
}

/* loop:call_at(when, fn, ...) -> TimerHandle */
static int loop_call_at (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  return schedule(L, loop, checktime(L, 2));
}

/* loop:_timer_count() -> deadlines in the heap (for tests) */
static int loop_timer_count (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  lua_pushinteger(L, loop->nheap);
  return 1;
}

int timer_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"call_later", loop_call_later},
    {"call_at", loop_call_at},
    {"_timer_count", loop_timer_count},
    {NULL, NULL}
  };
  lua_getfield(L, 1, "Loop");
  aio_setmethods(L, methods);
  lua_pop(L, 1);
  return 0;
}
