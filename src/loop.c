/*
** loop.c: the event loop: the ready queue, one iteration, run_forever
** and stop (loop_make.c makes a loop and closes it).
**
** Anchoring rule: everything scheduled sits in the loop's own user values
** (the ready ring, the timer table, the watcher table), so it lives while the
** loop does; the loop itself is held by whoever runs it (the stack of
** run_forever and Runtime user value RT_UV_RUNNING) or by its objects.
** run_loop's frame also holds a copy of the ready ring and a spare
** coroutine (SPARE), which no task holds: nothing else refers to them.
*/
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "thread.h"  /* inbox_let_go */

/* Poll for I/O at least this often while callbacks keep the queue busy. */
#define POLL_EVERY_ITERATIONS 64
#define POLL_INTERVAL 0.0002

/*
** A clock that only moves once per kernel tick (a few milliseconds), for a
** sixth of the monotonic clock's price: when it has moved, a busy loop
** reads the real clock to see whether it is time to poll, so a loop whose
** callbacks are slow still polls within an iteration or two.
*/
static long long coarse_clock (void) {
#ifdef CLOCK_MONOTONIC_COARSE
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
#else
  return 0;  /* never moves: the clock is read every 16 iterations */
#endif
}

Loop *loop_check (lua_State *L, int idx) {
  Loop *loop = (Loop *)aio_toobj(L, aio_rt(L), idx, AIO_TLOOP);
  if (loop == NULL) luaL_typeerror(L, idx, "event loop");
  return loop;
}

Loop *loop_checkopen (lua_State *L, int idx) {
  Loop *loop = loop_check(L, idx);
  if (loop->closed) aio_loop_closed(L);
  return loop;
}

/*
** Pushes the userdata of loop: the loop user value of the object at objidx
** when objidx is not 0, else the running loop, else nil. Returns whether
** the pushed value is the loop. [-0, +1, -]
*/
int loop_pushself (lua_State *L, Loop *loop, int objidx) {
  if (objidx != 0) lua_getiuservalue(L, objidx, 1);
  else if (loop->rt->running == loop)
    lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
  else lua_pushnil(L);
  return lua_touserdata(L, -1) == (void *)loop;
}

/* ---------- the ready queue ---------- */

/*
** Grows the ring to newcap entries (a power of two, more than it has),
** copying the entries in order to a new table. Making that table may run
** the collector, and a finalizer may queue entries and so grow the ring
** itself: then this one gives up, and the caller looks again.
** [-0, +0, m]
*/
static void ready_grow_to (lua_State *L, Loop *loop, int loopidx,
                           lua_Integer newcap) {
  unsigned int ringgen = loop->ringgen;
  lua_Integer cap = loop->cap, i, n;
  lua_createtable(L, (int)(2 * newcap), 0);
  if (loop->ringgen != ringgen) {  /* grown meanwhile */
    lua_pop(L, 1);
    return;
  }
  /* from here on nothing allocates (the new array part is sized), so no
     finalizer can run */
  n = loop->tail - loop->head;
  lua_getiuservalue(L, loopidx, LOOP_UV_READY);
  for (i = 0; i < n; i++) {
    lua_Integer from = ((loop->head + i) % cap) * 2;
    lua_rawgeti(L, -1, from + 1);
    lua_rawseti(L, -3, 2 * i + 1);
    if (lua_rawgeti(L, -1, from + 2) != LUA_TNIL)  /* often empty */
      lua_rawseti(L, -3, 2 * i + 2);
    else lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_setiuservalue(L, loopidx, LOOP_UV_READY);
  loop->head = 0;
  loop->tail = n;
  loop->cap = newcap;
  loop->ringgen++;
}

static void ready_grow (lua_State *L, Loop *loop, int loopidx) {
  ready_grow_to(L, loop, loopidx, 2 * loop->cap);
}

/*
** Makes room for one more entry in the ready queue, so that the next
** loop_ready_push allocates nothing. [-0, +0, m]
*/
void loop_ready_reserve (lua_State *L, Loop *loop, int loopidx) {
  loopidx = lua_absindex(L, loopidx);
  while (loop->tail - loop->head >= loop->cap) ready_grow(L, loop, loopidx);
}

/* the most loop_ready_reserve_n grows to at once; pushes grow on */
#define READY_CAP_MAX ((lua_Integer)1 << 26)

/*
** Makes room for n more entries at once: gather, about to queue a task
** per argument, grows the ring once instead of copying it at each
** doubling. [-0, +0, m]
*/
void loop_ready_reserve_n (lua_State *L, Loop *loop, int loopidx,
                           lua_Integer n) {
  loopidx = lua_absindex(L, loopidx);
  while (loop->tail - loop->head + n > loop->cap
         && loop->cap < READY_CAP_MAX) {
    lua_Integer newcap = loop->cap;
    while (newcap < loop->tail - loop->head + n && newcap < READY_CAP_MAX)
      newcap *= 2;
    ready_grow_to(L, loop, loopidx, newcap);
  }
}

/*
** Stores the entry (a, b) of L's stack at pos of the ring at ringidx on
** R's, moving the values over if R is another state; b may be 0 for nil.
*/
static inline void ring_store (lua_State *L, lua_State *R, int ringidx,
                               lua_Integer pos, int aidx, int bidx) {
  lua_pushvalue(L, aidx);
  if (L != R) lua_xmove(L, R, 1);
  lua_rawseti(R, ringidx, pos + 1);
  if (bidx) {
    lua_pushvalue(L, bidx);
    if (L != R) lua_xmove(L, R, 1);
    lua_rawseti(R, ringidx, pos + 2);
  }
}

/* The entry stored at the tail joins the queue. */
static inline void ring_appended (Loop *loop, int hasb) {
  if (hasb) loop->nwithb++;
  loop->tail++;
  if (loop->polling) ioorder_record(loop);
}

/*
** Appends the entry (a, b) to the ready queue; b may be 0 for nil. The
** indices are made absolute only when the ring must grow: the hottest
** path of the loop makes no call it can spare. While run_once steps a
** task, the state suspended in that step keeps the ring on its stack
** (current_ringidx; current while slotgen is ringgen): the entry is
** stored there, moved over if L is another state (the task's coroutine),
** with no user value read. [-0, +0, m]
*/
void loop_ready_push (lua_State *L, Loop *loop, int loopidx, int aidx, int bidx) {
  lua_Integer pos;
  if (loop->tail - loop->head >= loop->cap) {
    aidx = lua_absindex(L, aidx);
    if (bidx) bidx = lua_absindex(L, bidx);
    loopidx = lua_absindex(L, loopidx);
    while (loop->tail - loop->head >= loop->cap) ready_grow(L, loop, loopidx);
  }
  pos = (loop->tail % loop->cap) * 2;
  if (loop->current_ringidx != 0 && loop->slotgen == loop->ringgen)
    ring_store(L, loop->current_L, loop->current_ringidx, pos, aidx, bidx);
  else {
    lua_getiuservalue(L, loopidx, LOOP_UV_READY);
    ring_store(L, L, lua_gettop(L), pos, AIO_BELOW_PUSH(aidx),
               AIO_BELOW_PUSH(bidx));
    lua_pop(L, 1);
  }
  ring_appended(loop, bidx);
}

/*
** loop_ready_push made by run_once's own frame on L, where it keeps the
** ring at readyidx (current while slotgen is ringgen): while the ring has
** room, the entry is stored there with no user value read. Nothing is
** allocated on that path, so no finalizer runs in between. [-0, +0, m]
*/
void loop_ready_push_ring (lua_State *L, Loop *loop, int loopidx, int readyidx,
                           int aidx, int bidx) {
  if (loop->tail - loop->head >= loop->cap || loop->slotgen != loop->ringgen) {
    loop_ready_push(L, loop, loopidx, aidx, bidx);
    return;
  }
  ring_store(L, L, readyidx, (loop->tail % loop->cap) * 2, aidx, bidx);
  ring_appended(loop, bidx);
}

/*
** loop_ready_push of the value on top of the stack as an entry (a, nil),
** popping it: a task just taken from a list of waiters moves into the
** ring without a copy. [-1, +0, m]
*/
void loop_ready_push_top (lua_State *L, Loop *loop, int loopidx) {
  if (loop->tail - loop->head < loop->cap && loop->current_ringidx != 0
      && loop->slotgen == loop->ringgen) {
    lua_State *R = loop->current_L;
    lua_xmove(L, R, 1);
    lua_rawseti(R, loop->current_ringidx, (loop->tail % loop->cap) * 2 + 1);
    ring_appended(loop, 0);
  } else {
    loop_ready_push(L, loop, loopidx, -1, 0);
    lua_pop(L, 1);
  }
}

/* ---------- the unfinished tasks ---------- */

/*
** A free index of LOOP_UV_TASKS for a new task. Freed slots are reused
** first, so the table's array part stays dense and never rehashes into a
** hash part. [-0, +0, m]
*/
int loop_task_slot (lua_State *L, Loop *loop) {
  if (loop->ntaskfree > 0) return loop->taskfree[--loop->ntaskfree];
  if (loop->ntaskslots == 0x7fffffff) luaL_error(L, "too many tasks");
  return ++loop->ntaskslots;
}

/* Gives a task's slot back (its table entry must already be nil). */
void loop_free_task_slot (Loop *loop, int slot) {
  if (loop->closed || slot <= 0) return;
  if (loop->ntaskfree == loop->taskfreecap) {
    int cap = loop->taskfreecap ? 2 * loop->taskfreecap : 256;
    int *p = (int *)realloc(loop->taskfree, cap * sizeof(int));
    if (p == NULL) return;  /* the slot is lost, not the task */
    loop->taskfree = p;
    loop->taskfreecap = cap;
  }
  loop->taskfree[loop->ntaskfree++] = slot;
}

/* ---------- one iteration ---------- */

/*
** Runs the entry (a, b) at the top two stack slots, b nil unless hasb;
** the ready ring is at readyidx (task_step). [-2, +0, e]
** Only the C core queues entries with no b: task steps and handles, told
** apart by the type both keep first, which costs less than a metatable
** test on the hottest entries; the others are a task woken by a future or
** by its timer, or a callback a(b).
*/
static void dispatch (lua_State *L, Loop *loop, int loopidx, int readyidx,
                      int hasb) {
  int aidx = lua_gettop(L) - 1, bidx = aidx + 1;
  if (!hasb) {
    Task *t = (Task *)lua_touserdata(L, aidx);
    if (t->fut.type == AIO_TTASK)
      task_step(L, loop, loopidx, aidx, t, 0, readyidx);
    else handle_run(L, loop, aidx);
  } else if (lua_touserdata(L, bidx) == &aio_mark_timer)
    task_timer_fired(L, loop, loopidx, readyidx, aidx);
  else if (lua_type(L, aidx) == LUA_TUSERDATA
           && aio_typeof(L, loop->rt, aidx) == AIO_TTASK)
    task_step(L, loop, loopidx, aidx, (Task *)lua_touserdata(L, aidx), bidx,
              readyidx);
  else if (!gather_dispatch(L, aidx, bidx)) {  /* a done callback: a(b) */
    aio_push_callback_msgh(L);
    lua_pushvalue(L, aidx);
    lua_pushvalue(L, bidx);
    aio_call_callback(L, loop, loopidx, 1, aidx);
  }
  lua_settop(L, aidx - 1);
}

/* Task and Handle entries are told apart by their first byte (dispatch),
   and Tasks and TimerHandles in the heap by their size (timer.c). */
typedef char task_and_handle_type[offsetof(Task, fut.type) == 0
                                  && offsetof(Handle, type) == 0 ? 1 : -1];
typedef char task_and_handle_differ[sizeof(Task) != sizeof(Handle) ? 1 : -1];

/* Hands queued reports to the exception handler. [-0, +0, e] */
static void flush_reports (lua_State *L, Loop *loop, int loopidx) {
  lua_Integer i, n;
  if (loop->nreports == 0) return;
  /* the new table first: making it may run a finalizer whose report goes
     into the current one, which is then taken whole */
  lua_newtable(L);
  loop->nreports = 0;
  lua_getiuservalue(L, loopidx, LOOP_UV_REPORTS);
  lua_insert(L, -2);
  lua_setiuservalue(L, loopidx, LOOP_UV_REPORTS);
  n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0) { lua_pop(L, 1); return; }
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    loop->delivering = 1;  /* deliver now, do not queue again; the loop
                              still runs: the handler may not close it */
    aio_report(L, loop, -1);
    loop->delivering = 0;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Debug mode: reports a callback that ran for dt seconds if that is slow. */
static void report_slow (lua_State *L, Loop *loop, double dt, int objidx) {
  char secs[32];
  if (dt < loop->slow_callback) return;
  objidx = lua_absindex(L, objidx);
  snprintf(secs, sizeof secs, "%.3f", dt);  /* Python's %.3f */
  lua_createtable(L, 0, 2);
  if (lua_type(L, objidx) == LUA_TFUNCTION) {  /* a done callback: a Handle in Python */
    handle_push_fn_name(L, objidx);
    lua_pushfstring(L, "<Handle %s>", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else {
    aio_tolstring_safe(L, objidx);
  }
  lua_pushfstring(L, "Executing %s took %s seconds", lua_tostring(L, -1), secs);
  lua_remove(L, -2);
  lua_setfield(L, -2, "message");
  lua_pushnumber(L, dt);
  lua_setfield(L, -2, "duration");
  aio_report(L, loop, -1);
  lua_pop(L, 1);
}

/*
** Lets libev look for I/O, waiting at most timeout seconds (negative: no
** limit). Watcher callbacks append to the ready queue.
*/
static void poll_io (lua_State *L, Loop *loop, int loopidx, double timeout,
                     double now) {
  if (loop->fresh != NULL) watcher_before_poll(loop);
  watcher_sigint_polled(loop);
  ioorder_begin(loop);
  if (timeout == 0) ev_run(loop->ev, EVRUN_NOWAIT);
  else {
    inbox_let_go();  /* this thread may block: what it posted may run */
    if (timeout > 0) {
      /* libev measures from its cached time: refresh it, or a timer armed
         late in a long iteration would fire early */
      ev_now_update(loop->ev);
      ev_timer_set(&loop->wakeup, timeout, 0.);
      ev_timer_start(loop->ev, &loop->wakeup);
    }
    ev_run(loop->ev, EVRUN_ONCE);
    ev_timer_stop(loop->ev, &loop->wakeup);
    now = aio_now();
  }
  ioorder_end(L, loop, loopidx);
  loop->last_poll = now;
  loop->since_poll = 0;
}

/* Makes the next iteration poll, busy or not: something waits for I/O
   that Python's loop would see at its next poll (reader.c: fresh_end). */
void loop_poll_next (Loop *loop) {
  loop->since_poll = POLL_EVERY_ITERATIONS;
}

/*
** One iteration, as Python's _run_once: poll (without waiting if anything
** is ready), move due timers to the queue, then run exactly the entries
** queued so far; what they schedule runs in the next iteration. Polling is
** skipped while the queue stays busy, but never for long. The ready ring
** is kept at readyidx, replaced there whenever the ring is (slotgen).
*/
static void run_once (lua_State *L, Loop *loop, int loopidx, int readyidx) {
  lua_Integer nqueued, i;
  double now = 0;
  loop->eager_depth = 0;  /* none runs here, even if an error cut one short */
  loop->iterations++;
  if (loop->tail > loop->head || loop->stopping) {
    /* busy: poll every so many iterations, or when time has passed (the
       clock is read only now and then, it costs as much as a step) */
    int n = ++loop->since_poll;
    long long coarse = coarse_clock();
    if (loop->nheap > 0 || (n & 15) == 0 || coarse != loop->coarse_seen) {
      loop->coarse_seen = coarse;
      now = aio_now();
    }
    if (n >= POLL_EVERY_ITERATIONS || aio_sigint_arrived
        || (now != 0 && now - loop->last_poll >= POLL_INTERVAL))
      poll_io(L, loop, loopidx, 0, now != 0 ? now : aio_now());
    else
      threadsafe_take(L, loop, loopidx, 0);
  } else {
    double timeout = -1;
    now = aio_now();
    if (loop->nheap > 0) {
      timeout = loop->heap[0].when - now;
      if (timeout < 0) timeout = 0;
      else if (timeout > 1e9) timeout = -1;  /* sleep(math.huge) */
    }
    poll_io(L, loop, loopidx, timeout, now);
    now = loop->last_poll;
  }
  if (loop->nheap > 0 && loop->heap[0].when <= now)
    timer_pop_due(L, loop, loopidx, readyidx, aio_now());
  nqueued = loop->tail - loop->head;
  for (i = 0; i < nqueued; i++) {
    lua_Integer pos = (loop->head % loop->cap) * 2;
    int timed = loop->debug;  /* as Python: decided before the call */
    double t0 = 0;
    int hasb;
    if (loop->slotgen != loop->ringgen) {  /* the ring was replaced */
      loop->slotgen = loop->ringgen;
      lua_getiuservalue(L, loopidx, LOOP_UV_READY);
      lua_replace(L, readyidx);
    }
    lua_rawgeti(L, readyidx, pos + 1);
    lua_pushnil(L);
    lua_rawseti(L, readyidx, pos + 1);
    if (loop->nwithb == 0) {  /* no slot b is set: none to read */
      lua_pushnil(L);
      hasb = 0;
    } else if ((hasb = lua_rawgeti(L, readyidx, pos + 2) != LUA_TNIL)) {
      lua_pushnil(L);
      lua_rawseti(L, readyidx, pos + 2);
      loop->nwithb--;
    }
    loop->head++;
    if (timed) {  /* keep what runs, to name it in the report */
      lua_pushvalue(L, -2);
      lua_insert(L, -3);
      t0 = aio_now();
    }
    dispatch(L, loop, loopidx, readyidx, hasb);
    if (timed) {
      report_slow(L, loop, aio_now() - t0, -1);
      lua_pop(L, 1);
    }
    /* as Python's Handle._run: a callback's failure is reported before
       the next callback runs, to the handler set at that moment */
    if (loop->nreports > 0) flush_reports(L, loop, loopidx);
  }
  flush_reports(L, loop, loopidx);
}

/* The loop at 1; its ready ring at 2 (run_once), the spare coroutine at
   3 (SPARE(2)). */
static int run_loop (lua_State *L) {
  Loop *loop = (Loop *)lua_touserdata(L, 1);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, LOOP_UV_READY);
  lua_pushnil(L);
  loop->slotgen = loop->ringgen;
  while (!loop->closed) {
    run_once(L, loop, 1, 2);
    if (loop->stopping) break;
  }
  return 0;
}

/* loop:run_forever(): runs iterations until stop() is called. */
static int loop_run_forever (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  Runtime *rt = aio_rt(L);
  int status;
  if (loop->running) return luaL_error(L, "This event loop is already running");
  if (rt->running != NULL)
    return luaL_error(L, "Cannot run the event loop while another loop is running");
  lua_settop(L, 1);
  loop->running = 1;
  loop->delivering = 0;
  /* the first iteration of a run polls, busy or not: a host that runs the
     loop one iteration at a time (stop(), then run_forever()) gets I/O
     each time, as in Python */
  loop->since_poll = POLL_EVERY_ITERATIONS;
  loop->L = L;
  rt->running = loop;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, run_loop, 1);
  lua_pushvalue(L, 1);
  status = lua_pcall(L, 1, 0, 0);
  loop->running = 0;
  loop->stopping = 0;
  loop->L = NULL;
  rt->running = NULL;
  lua_pushnil(L);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
  if (status != LUA_OK) return lua_error(L);
  return 0;
}

/* loop:stop(): run_forever returns after the current iteration. */
static int loop_stop (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  loop->stopping = 1;
  return 0;
}

static int loop_is_running (lua_State *L) {
  lua_pushboolean(L, loop_check(L, 1)->running);
  return 1;
}

static int loop_is_closed (lua_State *L) {
  lua_pushboolean(L, loop_check(L, 1)->closed);
  return 1;
}

/* loop:time(): the monotonic clock, read afresh. */
static int loop_time (lua_State *L) {
  loop_check(L, 1);
  lua_pushnumber(L, aio_now());
  return 1;
}

static int loop_get_debug (lua_State *L) {
  lua_pushboolean(L, loop_check(L, 1)->debug);
  return 1;
}

static int loop_set_debug (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  loop->debug = (unsigned char)lua_toboolean(L, 2);
  return 0;
}

/* loop:call_soon(fn, ...) -> Handle */
static int loop_call_soon (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  int nargs = lua_gettop(L) - 2;
  aio_check_callback(L, loop, 2, "call_soon");
  if (nargs < 0) nargs = 0;
  lua_settop(L, nargs + 2);
  handle_new(L, loop, 1, 2, nargs, 0);
  /* a finalizer run by that allocation may have closed the loop */
  if (loop->closed) return aio_loop_closed(L);
  threadsafe_take(L, loop, 1, 1);
  if (loop->closed) return aio_loop_closed(L);  /* by a finalizer */
  loop_ready_push(L, loop, 1, -1, 0);
  return 1;
}

/* loop:_ready_count() -> number of queued entries (for tests and run) */
static int loop_ready_count (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  lua_pushinteger(L, loop->tail - loop->head);
  return 1;
}

/* loop:_lua() -> the table the Lua layer keeps its per-loop state in */
static int loop_lua (lua_State *L) {
  loop_check(L, 1);
  lua_getiuservalue(L, 1, LOOP_UV_LUA);
  return 1;
}

/* loop:_unretrieved() -> weak {future = n}: the failed futures nobody
   looked at, each with the number of its failure among the loop's */
static int loop_unretrieved (lua_State *L) {
  loop_check(L, 1);
  lua_getiuservalue(L, 1, LOOP_UV_UNRETRIEVED);
  return 1;
}

/* loop:_tasks() -> weak {slot = task} of unfinished tasks */
static int loop_tasks (lua_State *L) {
  loop_check(L, 1);
  lua_getiuservalue(L, 1, LOOP_UV_TASKS);
  return 1;
}

static int loop_tostring (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  lua_pushfstring(L, "<Loop running=%s closed=%s debug=%s>",
                  loop->running ? "true" : "false",
                  loop->closed ? "true" : "false",
                  loop->debug ? "true" : "false");
  return 1;
}

/* core.get_running_loop() -> Loop or nil */
static int core_get_running_loop (lua_State *L) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
  return 1;
}

static const luaL_Reg loop_methods[] = {
  {"run_forever", loop_run_forever},
  {"stop", loop_stop},
  {"is_running", loop_is_running},
  {"is_closed", loop_is_closed},
  {"time", loop_time},
  {"get_debug", loop_get_debug},
  {"_set_debug", loop_set_debug},
  {"call_soon", loop_call_soon},
  {"_ready_count", loop_ready_count},
  {"_lua", loop_lua},
  {"_unretrieved", loop_unretrieved},
  {"_tasks", loop_tasks},
  {NULL, NULL}
};

static const luaL_Reg loop_meta[] = {
  {"__tostring", loop_tostring},
  {NULL, NULL}
};

static const luaL_Reg loop_funcs[] = {
  {"get_running_loop", core_get_running_loop},
  {NULL, NULL}
};

/*
** loop.key: a method, or the per-loop setting slow_callback_duration. In C
** because every method call on a loop goes through it. Upvalue 2 is the
** methods table.
*/
static int loop_index (lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return 1;
  if (lua_type(L, 2) == LUA_TSTRING
      && strcmp(lua_tostring(L, 2), "slow_callback_duration") == 0) {
    lua_pushnumber(L, loop_check(L, 1)->slow_callback);
    return 1;
  }
  return 1;
}

/* loop.slow_callback_duration = seconds; no other field can be set. */
static int loop_newindex (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  double d;
  if (lua_type(L, 2) != LUA_TSTRING
      || strcmp(lua_tostring(L, 2), "slow_callback_duration") != 0)
    return luaL_error(L, "cannot set field '%s' of an event loop",
                      luaL_tolstring(L, 2, NULL));
  if (lua_type(L, 3) != LUA_TNUMBER)  /* luaL_checknumber would name 'newindex' */
    return luaL_error(L, "slow_callback_duration must be a number, got %s",
                      luaL_typename(L, 3));
  d = lua_tonumber(L, 3);
  if (!(d >= 0)) return luaL_error(L, "slow_callback_duration must be a non-negative number");
  loop->slow_callback = d;
  return 0;
}

int loop_open (lua_State *L) {
  aio_newclass(L, AIO_TLOOP, AIO_LOOP, loop_methods, loop_meta);
  aio_setfuncs(L, loop_funcs);
  luaL_getmetatable(L, AIO_LOOP);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_getfield(L, 1, "Loop");
  lua_pushcclosure(L, loop_index, 2);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, loop_newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pop(L, 1);
  return 0;
}
