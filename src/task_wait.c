/*
** task_wait.c: how a running task waits: await on a future, parking on a
** C object (queues, stream reads), one iteration's yield, and sleep.
**
** Anchoring rule: a waiting task is held by exactly what will wake it: the
** done callbacks of the future it awaits, the object it is parked on (which
** keeps it in a user value or a list of its own), the ready ring, or the
** loop's timer table; the task keeps what it waits on in TASK_UV_WAITER.
*/
#include "internal.h"

/* After a resume: raise a thrown error, else nothing to do. */
static void check_throw (lua_State *L, int nkept) {
  if (lua_gettop(L) >= nkept + 2
      && lua_touserdata(L, nkept + 1) == &aio_mark_throw) {
    lua_pushvalue(L, nkept + 2);
    lua_error(L);
  }
}

static int await_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_throw(L, 1);
  lua_settop(L, 1);
  return future_pushresults(L, (Future *)lua_touserdata(L, 1), 1);
}

/*
** core.await_future(fut) -> ...: the results of a future or task, at once
** if it is done, else after suspending the running task until it is.
*/
static int core_await_future (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Future *f = future_test(L, rt, 1);
  Task *t;
  if (f == NULL) return luaL_typeerror(L, 1, "Future");
  lua_settop(L, 1);
  if (f->state != FUT_PENDING) return future_pushresults(L, f, 1);
  t = task_running_or_raise(L, rt);
  if (&t->fut == f) {  /* Python's message, no line of ours */
    lua_pushfstring(L, "Task cannot await on itself: %s", luaL_tolstring(L, 1, NULL));
    return lua_error(L);
  }
  if (f->loop != t->fut.loop) {  /* Python's message, no line of ours */
    const char *task, *fut;
    task_pushcurrent(L, rt->running);
    task = luaL_tolstring(L, -1, NULL);
    fut = luaL_tolstring(L, 1, NULL);
    lua_pushfstring(L, "Task %s got Future %s attached to a different loop",
                    task, fut);
    return lua_error(L);
  }
  task_pushcurrent(L, rt->running);  /* 2: the task */
  future_add_callback(L, f, 1, 2);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 2, TASK_UV_WAITER);
  t->waiter = f;
  t->wait = WAIT_FUTURE;
  if (t->must_cancel) {  /* cancel() ran while the task was running */
    lua_getiuservalue(L, 2, TASK_UV_CANCELMSG);
    if (future_cancel(L, f, 1, -1)) t->must_cancel = 0;
  }
  lua_settop(L, 1);
  return lua_yieldk(L, 0, 0, await_k);
}

/* ---------- parking ---------- */

/* Pushes the running task of L, raising as await does. [-0, +1, v] */
Task *task_push_running (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Task *t = task_running_or_raise(L, rt);
  task_pushcurrent(L, rt->running);
  return t;
}

/*
** Pushes the task being stepped on loop, which its caller knows to be the
** running task of L (a queue bound to that loop checked it), raising as
** await does if L cannot yield. [-0, +1, v]
*/
Task *task_push_current (lua_State *L, Loop *loop) {
  if (!lua_isyieldable(L)) task_check_running(L);
  task_pushcurrent(L, loop);
  return loop->current;
}

/*
** Suspends the running task t, at tidx on the stack (task_push_running),
** which the object at owneridx has just taken in, until task_unpark; the
** stack is cut to the tidx - 1 values below the task, and the task then
** continues in k(L, LUA_YIELD, ctx) with them, plus an error to raise if
** it was cancelled (see task_park_ended). If cancel() ran while the task
** was running, the park is cancelled at once, as Python cancels the
** waiter future the task yields then: unpark takes the task out again.
** [-?, +0, e]
*/
int task_park (lua_State *L, int owneridx, int tidx, Task *t,
               ParkCancel unpark, int arg, lua_KFunction k, lua_KContext ctx) {
  return task_park_at(L, owneridx, lua_topointer(L, owneridx), tidx, t,
                      unpark, arg, k, ctx);
}

/* task_park, told the owner's address (lua_topointer) by a caller that
   has it at hand. */
int task_park_at (lua_State *L, int owneridx, const void *owner, int tidx,
                  Task *t, ParkCancel unpark, int arg, lua_KFunction k,
                  lua_KContext ctx) {
  owneridx = lua_absindex(L, owneridx);
  if (t->must_cancel) {
    Loop *loop = t->fut.loop;
    unpark(L, owneridx, tidx, arg);
    task_force_cancel(L, t, tidx);
    t->parked = PARK_CANCELLED;
    t->wait = WAIT_READY;
    loop_pushself(L, loop, tidx);
    loop_ready_push(L, loop, -1, tidx, 0);
  } else {
    t->wait = WAIT_PARKED;
    t->unpark = unpark;
    t->unpark_arg = arg;
    t->parked = 0;
    if (t->waiter != owner) {  /* often parked there last time */
      lua_pushvalue(L, owneridx);
      lua_setiuservalue(L, tidx, TASK_UV_WAITER);
      t->waiter = owner;
    }
  }
  lua_settop(L, tidx - 1);
  return lua_yieldk(L, 0, ctx, k);
}

/*
** task_park_at for the running task t, which its caller pushed and the
** object at owneridx has just taken off the stack (into a list of its
** own): the stack is as the continuation gets it. The task is pushed again
** only where task_park_at needs it (a cancel() came, or it parks on
** another object than last time). [-?, +0, e]
*/
int task_park_top (lua_State *L, int owneridx, const void *owner, Task *t,
                   ParkCancel unpark, int arg, lua_KFunction k,
                   lua_KContext ctx) {
  if (t->must_cancel || t->waiter != owner) {
    task_pushcurrent(L, t->fut.loop);
    return task_park_at(L, owneridx, owner, lua_gettop(L), t, unpark, arg,
                        k, ctx);
  }
  t->wait = WAIT_PARKED;
  t->unpark = unpark;
  t->unpark_arg = arg;
  t->parked = 0;
  return lua_yieldk(L, 0, ctx, k);
}

/*
** Wakes the parked task at idx: its step is queued, as the done callback
** of a waiter future would be. loopidx is where its loop is on the stack,
** or 0. Returns 0 if there is no task parked there (cancelled meanwhile).
** TASK_UV_WAITER keeps the object until the task parks again or finishes.
** [-0, +0, m]
*/
/* The wakeup of task t, if it is parked (else 0): its step is due. */
static int unpark_mark (Task *t) {
  if (t == NULL || t->wait != WAIT_PARKED) return 0;
  t->wait = WAIT_READY;
  t->parked = PARK_WOKEN;
  t->unpark = NULL;
  return 1;
}

int task_unpark (lua_State *L, int idx, int loopidx) {
  Task *t = (Task *)lua_touserdata(L, idx);
  Loop *loop;
  if (!unpark_mark(t)) return 0;
  loop = t->fut.loop;
  if (!loop->closed) {
    if (loopidx != 0) loop_ready_push(L, loop, loopidx, idx, 0);
    else {
      lua_getiuservalue(L, idx, FUT_UV_LOOP);
      loop_ready_push(L, loop, -1, AIO_BELOW_PUSH(idx), 0);
      lua_pop(L, 1);
    }
  }
  return 1;
}

/*
** task_unpark of the task on top of the stack, which it pops (the task a
** list of waiters just gave up, moved into the ready ring). [-1, +0, m]
*/
int task_unpark_top (lua_State *L, int loopidx) {
  Task *t = (Task *)lua_touserdata(L, -1);
  Loop *loop;
  if (!unpark_mark(t)) {
    lua_pop(L, 1);
    return 0;
  }
  loop = t->fut.loop;
  if (loop->closed) lua_pop(L, 1);
  else if (loopidx != 0) loop_ready_push_top(L, loop, loopidx);
  else {
    lua_getiuservalue(L, -1, FUT_UV_LOOP);
    loop_ready_push(L, loop, -1, -2, 0);
    lua_pop(L, 2);
  }
  return 1;
}

/*
** In the continuation of a park, with nkept values kept below what the
** resume brought: returns 0 if the task simply resumes, or 1 with the
** error to raise (a cancellation) at nkept + 1. *woken tells whether the
** park ended by task_unpark, so that a task cancelled after it was woken
** can pass the wakeup on. [-0, +(0|1), -]
*/
int task_park_ended (lua_State *L, int nkept, int *woken) {
  int top = lua_gettop(L);
  if (top >= nkept + 2 && lua_touserdata(L, nkept + 1) == &aio_mark_throw) {
    Loop *loop = aio_rt(L)->running;
    *woken = loop != NULL && loop->current != NULL
             && loop->current->parked == PARK_WOKEN;
    lua_settop(L, nkept + 2);
    lua_remove(L, nkept + 1);
    return 1;
  }
  *woken = 1;
  if (top != nkept) lua_settop(L, nkept);  /* a plain wakeup brings nothing */
  return 0;
}

static int sleep_k (lua_State *L, int status, lua_KContext ctx) {
  int nargs = (int)ctx;
  (void)status;
  if (lua_gettop(L) != nargs) {  /* a plain step brings nothing */
    check_throw(L, nargs);
    lua_settop(L, nargs);
  }
  return nargs - 1;
}

/*
** Queues the next step of t, the running task of loop, for the next
** iteration; top is the stack's top, above which it may push two values
** the caller drops. While the ring has room, the entry is written from the
** state that resumed the task, which holds the task and the loop (see
** task_push_loop_and_task): nothing is allocated, so nothing can be raised
** there. A ring that must grow grows from L, where a memory error may be
** raised. top is the stack's top, left as it is. [-0, +0, m]
*/
static void step_next_iteration (lua_State *L, Task *t, Loop *loop, int top) {
  t->wait = WAIT_READY;
  if (loop->tail - loop->head < loop->cap && !loop->closed) {
    lua_pushvalue(loop->current_L, loop->current_idx);
    loop_ready_push_top(loop->current_L, loop, loop->current_loopidx);
  } else {
    task_push_loop_and_task(L, loop);
    loop_ready_push(L, loop, top + 1, top + 2, 0);
    lua_settop(L, top);
  }
}

/*
** For C operations that wait one iteration first, as Python's `await
** sleep(0)` inside them: suspends the running task of L, keeping its
** nkept values, for one iteration; k(ctx) continues, and must first call
** task_check_resumed. [yields]
*/
int task_yield_iteration (lua_State *L, int nkept, lua_KContext ctx,
                          lua_KFunction k) {
  Runtime *rt = aio_rt(L);
  Task *t = task_running_or_raise(L, rt);
  lua_settop(L, nkept);
  step_next_iteration(L, t, rt->running, nkept);
  return lua_yieldk(L, 0, ctx, k);
}

/* In such a continuation: raises what was thrown in (a cancellation), else
   leaves the nkept values alone. [-?, +0, e] */
void task_check_resumed (lua_State *L, int nkept) {
  check_throw(L, nkept);
  lua_settop(L, nkept);
}

/*
** core.sleep(delay, ...) -> ...: suspends the running task for delay
** seconds (one iteration if delay <= 0) and returns the extra values.
*/
static int core_sleep (lua_State *L) {
  Runtime *rt = aio_rt(L);
  int nargs = lua_gettop(L);
  double delay = luaL_checknumber(L, 1);
  Task *t = task_running_or_raise(L, rt);
  Loop *loop = rt->running;
  if (delay > 0 && !t->must_cancel) {
    task_push_loop_and_task(L, loop);
    t->slot = timer_add(L, loop, nargs + 1, aio_now() + delay, nargs + 2);
    t->wait = WAIT_TIMER;
  } else {
    /* cancelled while running: Python cancels the future sleep(d) yields
       at once, for good; sleep(0) yields no future */
    if (t->must_cancel && delay > 0) {
      task_push_loop_and_task(L, loop);  /* the task at nargs + 2 */
      task_force_cancel(L, t, nargs + 2);
      lua_settop(L, nargs);
    }
    step_next_iteration(L, t, loop, nargs);
  }
  lua_settop(L, nargs);
  return lua_yieldk(L, 0, nargs, sleep_k);
}

/*
** core.sleep0(obj): await on the shared sleep(0) object obj, its entry in
** coroutines.reusable: core.sleep(0) without the argument to check.
*/
static int core_sleep0 (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Task *t = task_running_or_raise(L, rt);
  if (lua_gettop(L) != 1) lua_settop(L, 1);  /* await passes only obj */
  step_next_iteration(L, t, rt->running, 1);
  return lua_yieldk(L, 0, 1, sleep_k);  /* no results */
}

/*
** asyncio.sleep(delay, ...) -> coroutine object, made in C because it is
** the hottest constructor: upvalues are the Runtime, the shared sleep(0)
** object, the coroutine state (unused here) and core.sleep.
*/
static int sleep_new (lua_State *L) {
  int nargs = lua_gettop(L);
  double delay;
  if (lua_isinteger(L, 1))  /* sleep(0): no float conversion */
    delay = (double)lua_tointeger(L, 1);
  else {
    if (lua_type(L, 1) != LUA_TNUMBER)  /* named as users call it */
      return luaL_error(L, "bad argument #1 to 'sleep' (number expected, got %s)",
                        luaL_typename(L, 1));
    delay = lua_tonumber(L, 1);
    if (delay != delay)
      return luaL_error(L, "bad argument #1 to 'sleep' (number is NaN)");
  }
  if (delay <= 0 && nargs == 1) {
    lua_pushvalue(L, lua_upvalueindex(2));
    return 1;
  }
  coro_push(L, lua_upvalueindex(4), 1, nargs);
  return 1;
}

/* core.make_sleep(sleep0, state) -> the sleep function */
static int core_make_sleep (lua_State *L) {
  luaL_checktype(L, 1, LUA_TUSERDATA);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, core_sleep, 1);
  lua_pushcclosure(L, sleep_new, 4);
  return 1;
}

int task_wait_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"await_future", core_await_future},
    {"sleep", core_sleep},
    {"sleep0", core_sleep0},
    {"make_sleep", core_make_sleep},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  return 0;
}
