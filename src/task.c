/*
** task.c: Task, a Future driven by a Lua coroutine: the coroutine it
** takes, the step that resumes it, its end, and its methods. How it waits
** is in task_wait.c, how it is cancelled in task_cancel.c.
**
** Anchoring rule: a task holds its coroutine, body and waiter in its user
** values; while it is unfinished it is held by exactly what will resume it
** (the ready ring, the timer table, the done callbacks of the future it
** awaits, or the object it is parked on), so a task waiting on something
** nobody holds is collected and reported, as in Python. loop->current_L
** (the state that resumed the running task) needs no anchor: it is on the
** C stack, suspended in that resume, for as long as the field is set.
*/
#include <string.h>

#include "internal.h"

#if LUA_VERSION_NUM == 504 && defined(LUA_VERSION_RELEASE_NUM) \
    && LUA_VERSION_RELEASE_NUM >= 50406
#define closethread(co, from) lua_closethread(co, from)
#else
#define closethread(co, from) lua_resetthread(co)
#endif

Task *task_check (lua_State *L, int idx) {
  return (Task *)aio_checkobj(L, idx, AIO_TTASK, AIO_TASK);
}

/* The task whose coroutine is L, or NULL. */
static Task *running_task (Runtime *rt, lua_State *L) {
  Loop *loop = rt->running;
  if (loop != NULL && loop->current != NULL && loop->current->co == L)
    return loop->current;
  return NULL;
}

/* Like running_task, but raises the errors API.md specifies. */
static Task *check_running_task (lua_State *L, Runtime *rt) {
  Task *t = running_task(rt, L);
  if (t == NULL) {
    if (rt->running != NULL && rt->running->current != NULL)
      aio_errorf(L, "await called outside of a running task "
                    "(from a coroutine nested inside the task)");
    aio_errorf(L, "await called outside of a running task");
  }
  if (!lua_isyieldable(L))
    aio_errorf(L, "await cannot suspend the task here: a C function "
                  "(such as a metamethod, table.sort or gsub callback) "
                  "is between the task and this await");
  return t;
}

/*
** Pushes the running task and its loop onto L. While a task is stepped,
** the state that resumed it (current_L: the loop's own state in run_loop's
** frame, or the caller of an eager create_task) is suspended inside that
** resume, and holds both at known indices of its current frame: they are
** reachable without touching a table. [-0, +2, -]
*/
void task_push_loop_and_task (lua_State *L, Loop *loop) {
  lua_pushvalue(loop->current_L, loop->current_loopidx);
  lua_pushvalue(loop->current_L, loop->current_idx);
  lua_xmove(loop->current_L, L, 2);
}

/* Pushes the task being stepped on loop (there must be one). [-0, +1, -] */
void task_pushcurrent (lua_State *L, Loop *loop) {
  lua_pushvalue(loop->current_L, loop->current_idx);
  lua_xmove(loop->current_L, L, 1);
}

/* The running task of L, raising as await outside a task does. */
Task *task_check_running (lua_State *L) {
  return check_running_task(L, aio_rt(L));
}

/* ---------- finishing ---------- */

/*
** Forgets the coroutine of the task at idx, keeping it for reuse if it is
** clean: ended, and with no debug hook (one the task set on itself would
** follow the next task to start on it). loop (at loopidx) is the task's.
** It goes to the spare slot at spareidx if that is empty (run_once's
** frame: see SPARE), else to the pool, whose array part has room for all
** it keeps: storing allocates nothing, so no finalizer can change the pool
** meanwhile. [-0, +0, -]
*/
static void release_coroutine (lua_State *L, Loop *loop, int loopidx, Task *t,
                               int idx, int reusable, int spareidx) {
  lua_State *co = t->co;
  t->co = NULL;
  if (co == NULL) return;  /* released already */
  if (reusable && !loop->closed && lua_status(co) == LUA_OK
      && lua_gethook(co) == NULL) {
    if (spareidx != 0 && lua_isnil(L, spareidx)) {
      lua_settop(co, 0);
      lua_getiuservalue(L, idx, TASK_UV_CORO);
      lua_replace(L, spareidx);
    } else if (loop->npool < LOOP_POOL_MAX) {
      lua_settop(co, 0);
      lua_getiuservalue(L, loopidx, LOOP_UV_POOL);
      lua_getiuservalue(L, idx, TASK_UV_CORO);
      lua_rawseti(L, -2, ++loop->npool);
      lua_pop(L, 1);
    }
  }
  lua_pushnil(L);
  lua_setiuservalue(L, idx, TASK_UV_CORO);
  if (t->waiter != NULL) {  /* what it was parked on last: task_unpark
                               leaves it (t->waiter is NULL iff it is nil) */
    lua_pushnil(L);
    lua_setiuservalue(L, idx, TASK_UV_WAITER);
    t->waiter = NULL;
  }
}

/* The task finished: it leaves the unfinished set of its loop, at loopidx. */
static void forget_task (lua_State *L, Loop *loop, int loopidx, Task *t) {
  if (t->tslot == 0) return;
  lua_getiuservalue(L, loopidx, LOOP_UV_TASKS);
  lua_pushnil(L);
  lua_rawseti(L, -2, t->tslot);
  lua_pop(L, 1);
  loop_free_task_slot(loop, t->tslot);
  t->tslot = 0;
}

/* Moves the traceback recorded by task_msgh for co into the task. */
static void keep_traceback (lua_State *L, int idx, lua_State *co) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_TRACEBACKS);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushvalue(L, -1);
  lua_rawget(L, -3);
  if (!lua_isnil(L, -1)) {
    lua_setiuservalue(L, idx, TASK_UV_TRACEBACK);
    lua_pushnil(L);
    lua_rawset(L, -3);
  } else lua_pop(L, 2);
  lua_pop(L, 1);
}

/* Cancels the task as a future, with its pending cancel message. */
static void finish_cancelled (lua_State *L, Task *t, int idx, int erridx) {
  if (erridx == 0) {
    lua_getiuservalue(L, idx, TASK_UV_CANCELMSG);
    erridx = lua_gettop(L);
  }
  future_cancel_self(L, &t->fut, idx, erridx);
}

/* set_results(task, results...): future_set_results, for a protected call. */
static int set_results (lua_State *L) {
  future_set_results(L, (Future *)lua_touserdata(L, 1), 1, 2, lua_gettop(L) - 1);
  return 0;
}

/*
** The body returned: co holds (results..., true) or (error, false).
** [-0, +0, e]
*/
static void finish (lua_State *L, Loop *loop, int loopidx, Task *t, int idx,
                    lua_State *co, int nres, int spareidx) {
  int base = lua_gettop(L);
  int ok = lua_toboolean(co, -1);
  if (!lua_checkstack(L, 2 * nres + 4)) luaL_error(L, "too many results");
  lua_xmove(co, L, nres);
  forget_task(L, loop, loopidx, t);
  if (ok) {
    if (t->must_cancel) {  /* cancelled right before it returned */
      t->must_cancel = 0;
      finish_cancelled(L, t, idx, 0);
    } else if (nres - 1 > 1) {
      /* several results go in a table, made under protection: without
         memory for it the task fails with that error (as a Python task
         with MemoryError) rather than staying pending, forgotten */
      int i;
      lua_pushcfunction(L, set_results);
      lua_pushvalue(L, idx);
      for (i = 1; i < nres; i++) lua_pushvalue(L, base + i);
      if (lua_pcall(L, nres, 0, 0) != LUA_OK && t->fut.state == FUT_PENDING)
        future_set_error(L, &t->fut, idx, lua_gettop(L));
    } else future_set_results(L, &t->fut, idx, base + 1, nres - 1);
  } else {
    int erridx = base + 1;
    if (lua_isnil(L, erridx)) {  /* error(nil) */
      lua_pushliteral(L, AIO_NIL_ERROR);
      lua_replace(L, erridx);
    }
    keep_traceback(L, idx, co);
    if (aio_is_cancelled_error(L, erridx)) finish_cancelled(L, t, idx, erridx);
    else future_set_error(L, &t->fut, idx, erridx);
  }
  release_coroutine(L, loop, loopidx, t, idx, 1, spareidx);
  lua_settop(L, base);
}

/* An error escaped the protected body (it failed while failing). */
static void finish_broken (lua_State *L, Loop *loop, int loopidx, Task *t,
                           int idx, lua_State *co) {
  int base = lua_gettop(L);
  lua_xmove(co, L, 1);
  aio_traceback(L, co, NULL, 0);
  lua_setiuservalue(L, idx, TASK_UV_TRACEBACK);
  closethread(co, L);
  forget_task(L, loop, loopidx, t);
  future_set_error(L, &t->fut, idx, base + 1);
  release_coroutine(L, loop, loopidx, t, idx, 0, 0);
  lua_settop(L, base);
}

/* ---------- stepping ---------- */

/*
** Whether awaiting the done future at futidx raises a CancelledError: it
** was cancelled, or failed with one. Needs the Runtime as upvalue 1.
** [-0, +0, -]
*/
static int waiter_raises_cancel (lua_State *L, int futidx) {
  Future *w = (Future *)lua_touserdata(L, futidx);
  int cancel;
  if (w->state == FUT_CANCELLED) return 1;
  if (w->state != FUT_FINISHED || !w->failed) return 0;
  lua_getiuservalue(L, futidx, FUT_UV_RESULT);
  cancel = aio_is_cancelled_error(L, -1);
  lua_pop(L, 1);
  return cancel;
}

/*
** Puts the body and the coroutine object (or function) of the task at idx
** on its coroutine co, which has an empty stack, for its first resume.
** [-0, +0, m]
*/
static void task_load_body (lua_State *L, lua_State *co, int idx) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_BODY);
  if (lua_getiuservalue(L, idx, TASK_UV_OBJ) == LUA_TTABLE) coro_wrap_reusable(L, -1);
  lua_xmove(L, co, 2);
}

static int new_thread (lua_State *L) {
  lua_newthread(L);
  return 1;
}

/*
** Gives the task at idx, of the loop at loopidx, its coroutine when it
** first runs, with the body and the coroutine object on it: the spare one
** at spareidx (0: none), a pooled one (a task that finished without
** suspending hands its coroutine straight to the next), or a new one. Only
** tasks that run hold one, so that a burst of tasks made before any runs
** costs no thread each. A new one is made under a protected call: a memory
** error there would leave the task neither queued nor running, so it
** returns NULL with the error pushed instead. [-0, +(0|1), m]
*/
static lua_State *acquire_coroutine (lua_State *L, Loop *loop, int loopidx,
                                     Task *t, int idx, int spareidx) {
  lua_State *co;
  if (spareidx != 0 && !lua_isnil(L, spareidx) && !loop->closed) {
    lua_pushvalue(L, spareidx);
    lua_pushnil(L);
    lua_replace(L, spareidx);
  } else if (loop->npool > 0) {
    lua_getiuservalue(L, loopidx, LOOP_UV_POOL);
    lua_rawgeti(L, -1, loop->npool);
    lua_pushnil(L);
    lua_rawseti(L, -3, loop->npool--);
    lua_remove(L, -2);
  } else {
    lua_pushcfunction(L, new_thread);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) return NULL;
  }
  co = lua_tothread(L, -1);
  lua_setiuservalue(L, idx, TASK_UV_CORO);
  t->co = co;
  task_load_body(L, co, idx);
  return co;
}

/*
** Pushes CancelledError(message), the message being user value msguv of
** the task at idx: its pending cancel message (TASK_UV_CANCELMSG), or at
** the wakeup of a task under CANCEL_FORCED the one its cancelled park or
** sleep kept (TASK_UV_WAITER: see task_force_cancel), which a later
** cancel(msg) does not change, as a Python waiter future cancelled already
** keeps its message. Made under a protected call: returns 0, with the
** memory error pushed instead, if it could not be made. [-0, +1, -]
*/
static int push_cancelled_error (lua_State *L, int idx, int msguv) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  lua_getfield(L, -1, "CancelledError");
  lua_remove(L, -2);
  lua_getiuservalue(L, idx, msguv);
  return lua_pcall(L, 1, 1, 0) == LUA_OK;
}

/*
** Resumes the task t at idx, its loop being at loopidx (both absolute
** indices). futidx is the future whose completion woke it (its waiter),
** or 0 for a plain step. Stale entries (the task moved on since they were
** queued) are ignored. An eager start steps a task inside another one:
** what was current is restored after. ringidx is where run_once keeps the
** ready ring on L's stack, or 0 (see loop_ready_push); the spare coroutine
** is next to it (SPARE). [-0, +0, e]
*/
void task_step (lua_State *L, Loop *loop, int loopidx, int idx, Task *t,
                int futidx, int ringidx) {
  lua_State *co = t->co;
  Task *outer = loop->current;
  lua_State *outer_L = loop->current_L;
  int outer_idx = loop->current_idx, outer_loopidx = loop->current_loopidx;
  int outer_ringidx = loop->current_ringidx;
  int nargs = 0, nres = 0, status, fresh = 0;
  int spareidx = ringidx != 0 ? SPARE(ringidx) : 0;
  if (t->fut.state != FUT_PENDING) return;
  /* collected while pending, its coroutine closed (task_gc), and reached
     again by a finalizer that woke it: there is nothing left to run */
  if (t->started && co == NULL) return;
  if (futidx) {
    int same;
    if (t->wait != WAIT_FUTURE) return;
    lua_getiuservalue(L, idx, TASK_UV_WAITER);
    same = lua_rawequal(L, -1, futidx);
    lua_pop(L, 1);
    if (!same) return;
    lua_pushnil(L);
    lua_setiuservalue(L, idx, TASK_UV_WAITER);
    t->waiter = NULL;
  } else if (t->wait != WAIT_READY) return;
  if (t->started && lua_status(co) != LUA_YIELD) {
    /* coroutine.resume or coroutine.close reached the task's coroutine
       from outside the loop: where it was is lost, it fails (running the
       body again would repeat what it did) */
    t->wait = WAIT_NONE;
    lua_settop(co, 0);
    lua_pushliteral(co, "the task's coroutine was resumed or closed outside "
                        "the event loop");
    finish_broken(L, loop, loopidx, t, idx, co);
    return;
  }
  if (!t->started) {
    if (t->reused) {  /* as Python: a coroutine object runs once; a cancel
                         thrown into it meets the same error there */
      t->must_cancel = 0;
      t->wait = WAIT_NONE;
      forget_task(L, loop, loopidx, t);
      lua_pushliteral(L, AIO_REUSED_CORO);
      future_set_error(L, &t->fut, idx, lua_gettop(L));
      lua_pop(L, 1);
      release_coroutine(L, loop, loopidx, t, idx, 1, spareidx);
      return;
    }
    if (t->must_cancel) {
      /* cancelled before it ran: the body never starts. As in Python, the
         CancelledError thrown into it ends it, as a raised one would (so
         it has no _cancel_message: gather lists it with ''); without the
         memory to make one, the message ends it */
      int made = push_cancelled_error(L, idx, TASK_UV_CANCELMSG);
      t->must_cancel = 0;
      t->wait = WAIT_NONE;
      forget_task(L, loop, loopidx, t);
      finish_cancelled(L, t, idx, made ? lua_gettop(L) : 0);
      lua_pop(L, 1);
      release_coroutine(L, loop, loopidx, t, idx, 1, spareidx);
      return;
    }
    co = acquire_coroutine(L, loop, loopidx, t, idx, spareidx);
    if (co == NULL) {  /* no memory for it: it fails with that error, as
                          a Python task with MemoryError */
      t->wait = WAIT_NONE;
      forget_task(L, loop, loopidx, t);
      future_set_error(L, &t->fut, idx, lua_gettop(L));
      lua_pop(L, 1);
      return;
    }
    t->started = 1;
    fresh = 1;
    nargs = 1;
  } else if (t->must_cancel && futidx && waiter_raises_cancel(L, futidx)) {
    /* woken by a waiter that raises a CancelledError (it was cancelled,
       or failed with one): as in Python, that error is the one the task
       gets, its message included */
    t->must_cancel = 0;
  } else if (t->must_cancel) {
    /* Python's __wakeup takes the waiter's result before the cancellation
       replaces it: a failure there counts as retrieved, not reported */
    if (futidx) future_mark_retrieved(L, (Future *)lua_touserdata(L, futidx), futidx);
    /* on a memory error the task gets that error instead, and is not lost */
    if (t->must_cancel == CANCEL_FORCED) {
      push_cancelled_error(L, idx, TASK_UV_WAITER);
      lua_pushnil(L);  /* the message is used */
      lua_setiuservalue(L, idx, TASK_UV_WAITER);
    } else push_cancelled_error(L, idx, TASK_UV_CANCELMSG);
    t->must_cancel = 0;
    lua_pushlightuserdata(co, &aio_mark_throw);
    lua_xmove(L, co, 1);
    nargs = 2;
  }
  t->wait = WAIT_RUNNING;
  loop->current = t;
  loop->current_L = L;
  loop->current_idx = idx;
  loop->current_loopidx = loopidx;
  loop->current_ringidx = ringidx;
  status = lua_resume(co, L, nargs, &nres);
  loop->current = outer;
  loop->current_L = outer_L;
  loop->current_idx = outer_idx;
  loop->current_loopidx = outer_loopidx;
  loop->current_ringidx = outer_ringidx;
  if (fresh && status != LUA_OK && status != LUA_YIELD && lua_status(co) == LUA_OK) {
    /* lua_resume refused to start it (C stack overflow: eager starts
       nested too deep): it starts on the next iteration instead */
    release_coroutine(L, loop, loopidx, t, idx, 1, spareidx);
    t->started = 0;
    t->wait = WAIT_READY;
    loop_ready_push(L, loop, loopidx, idx, 0);
    return;
  }
  if (status == LUA_YIELD) {
    if (nres != 0) lua_pop(co, nres);  /* await yields none */
    if (t->wait == WAIT_RUNNING) {  /* coroutine.yield, not await */
      /* nothing can be raised at a plain yield: the task fails there */
      t->wait = WAIT_NONE;
      lua_pushliteral(co, "task got bad yield: use asyncio.await, not "
                          "coroutine.yield, to suspend a task");
      finish_broken(L, loop, loopidx, t, idx, co);
    }
  } else {
    t->wait = WAIT_NONE;
    if (status == LUA_OK) finish(L, loop, loopidx, t, idx, co, nres, spareidx);
    else finish_broken(L, loop, loopidx, t, idx, co);
  }
}

/* The deadline of a sleeping task passed: step it next iteration (loop,
   at loopidx, is the task's; run_once keeps the ring at readyidx). */
void task_timer_fired (lua_State *L, Loop *loop, int loopidx, int readyidx,
                       int idx) {
  Task *t = (Task *)lua_touserdata(L, idx);
  if (t->fut.state != FUT_PENDING || t->wait != WAIT_TIMER) return;
  t->wait = WAIT_READY;
  loop_ready_push_ring(L, loop, loopidx, readyidx, idx, 0);
}

/* core.current_task() -> Task or nil */
static int core_current_task (lua_State *L) {
  Runtime *rt = aio_rt(L);
  if (rt->running == NULL || rt->running->current == NULL) lua_pushnil(L);
  else task_pushcurrent(L, rt->running);
  return 1;
}

/* core.in_task() -> true, or raises as await outside a task does */
static int core_check_task (lua_State *L) {
  check_running_task(L, aio_rt(L));
  return 0;
}

/* ---------- methods ---------- */

/* task:_id() -> the task's number: tasks of a runtime count up from 1 in
   the order they were created */
static int task_id (lua_State *L) {
  lua_pushinteger(L, task_check(L, 1)->id);
  return 1;
}

static int task_get_name (lua_State *L) {
  Task *t = task_check(L, 1);
  if (lua_getiuservalue(L, 1, TASK_UV_NAME) == LUA_TNIL)
    lua_pushfstring(L, "Task-%I", t->namenum);
  return 1;
}

static int task_set_name (lua_State *L) {
  task_check(L, 1);
  luaL_checkany(L, 2);
  luaL_tolstring(L, 2, NULL);
  lua_setiuservalue(L, 1, TASK_UV_NAME);
  return 0;
}

static int task_get_coro (lua_State *L) {
  task_check(L, 1);
  lua_getiuservalue(L, 1, TASK_UV_OBJ);
  return 1;
}

/* task:traceback() -> where it is suspended, or where it failed */
static int task_traceback (lua_State *L) {
  Task *t = task_check(L, 1);
  if (t->co != NULL && t->started && lua_status(t->co) == LUA_YIELD)
    aio_traceback(L, t->co, NULL, 0);
  else if (lua_getiuservalue(L, 1, TASK_UV_TRACEBACK) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "stack traceback:");
  }
  return 1;
}

static int task_tostring (lua_State *L) {
  Task *t = task_check(L, 1);
  if (future_in_tostring(L, &t->fut)) {
    lua_pushliteral(L, "...");
    return 1;
  }
  /* Python 3.13 shows a pending task with cancel requests as cancelling */
  if (t->fut.state == FUT_PENDING && t->ncancels > 0) lua_pushliteral(L, "cancelling");
  else future_tostring_state(L, &t->fut, 1);
  lua_pushvalue(L, lua_upvalueindex(1));  /* the Runtime, for task_check */
  lua_pushcclosure(L, task_get_name, 1);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);                 /* state, name: concatenated, not
                                        formatted, so a zero byte stays */
  if (t->fut.state == FUT_PENDING || t->fut.state == FUT_CANCELLED) {
    lua_pushliteral(L, "<Task ");
    lua_rotate(L, -3, 1);            /* "<Task ", state, name */
    lua_pushliteral(L, " name=");
    lua_insert(L, -2);
  } else {
    size_t len;
    const char *s = lua_tolstring(L, -2, &len);  /* "finished result=..." */
    size_t skip = sizeof("finished ") - 1;
    lua_pushliteral(L, "<Task finished name=");
    lua_insert(L, -2);
    lua_pushliteral(L, " ");
    lua_pushlstring(L, s + skip, len - skip);
  }
  lua_getiuservalue(L, 1, FUT_UV_LOOP);
  loop_push_created_at(L, -1, 1);
  lua_remove(L, -2);                 /* the loop */
  lua_pushliteral(L, ">");
  lua_concat(L, 6);
  return 1;
}

static int task_gc (lua_State *L) {
  Task *t = (Task *)aio_checkobj(L, 1, AIO_TTASK, "Task");
  lua_Debug caller;
  if (t->tslot > 0 && !t->fut.loop->closed && lua_getstack(L, 1, &caller)) {
    /* the collector clears the weak entry before it finalizes the task: an
       entry still there means a call by hand on a live task. (lua_close
       finalizes everything without clearing weak entries, and calls the
       finalizers with no frame below them, as loop_gc knows: there the
       task is finalized for good, and reported as Python reports pending
       tasks at exit.) */
    int alive;
    lua_getiuservalue(L, 1, FUT_UV_LOOP);
    lua_getiuservalue(L, -1, LOOP_UV_TASKS);
    lua_rawgeti(L, -1, t->tslot);
    alive = lua_rawequal(L, -1, 1);
    lua_pop(L, 3);
    if (alive) return 0;
  }
  loop_free_task_slot(t->fut.loop, t->tslot);
  t->tslot = 0;
  if (t->fut.state == FUT_PENDING) {
    int closed = LUA_OK;
    if (t->co != NULL && t->started && lua_status(t->co) == LUA_YIELD) {
      /* as Python closes the coroutine of a collected task (its finally
         clauses run): the body's pending to-be-closed variables are
         closed, in its coroutine, which can no longer await */
      lua_State *co = t->co;
      t->co = NULL;
      closed = lua_resetthread(co);
      if (closed != LUA_OK) lua_xmove(co, L, 1);  /* what a __close raised */
    }
    /* run_until_complete's own task is not reported (Python's
       _log_destroy_pending = False), but what its __close raised is, as
       Python prints an "Exception ignored" */
    if (t->quiet && closed == LUA_OK) return 0;
    lua_createtable(L, 0, 5);
    if (closed != LUA_OK) {
      lua_insert(L, -2);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "exception");  /* Python's key */
      lua_setfield(L, -2, "error");
    }
    lua_pushstring(L, t->quiet ? "Exception ignored while closing a collected task"
                               : "Task was destroyed but it is pending!");
    lua_setfield(L, -2, "message");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "task");
    lua_getiuservalue(L, 1, FUT_UV_LOOP);
    loop_add_source(L, -2, -1, 1);
    lua_setfield(L, -2, "loop");
    aio_report(L, t->fut.loop, -1);
    lua_pop(L, 1);
    return 0;
  }
  future_finalize(L, &t->fut);
  return 0;
}

/*
** core.task_set_quiet(task): a task run_until_complete made for a
** coroutine object is not reported if it is collected pending (the caller
** was told by run_until_complete's error), as in Python.
*/
static int core_task_set_quiet (lua_State *L) {
  Task *t = (Task *)aio_checkobj(L, 1, AIO_TTASK, "Task");
  t->quiet = 1;
  return 0;
}

int task_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"get_name", task_get_name},
    {"_id", task_id},
    {"set_name", task_set_name},
    {"get_coro", task_get_coro},
    {"traceback", task_traceback},
    {NULL, NULL}
  };
  static const luaL_Reg meta[] = {
    {"__tostring", task_tostring},
    {"__gc", task_gc},
    {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"task_set_quiet", core_task_set_quiet},
    {"current_task", core_current_task},
    {"check_task", core_check_task},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_TTASK, AIO_TASK, methods, meta);
  lua_getfield(L, 1, "Task");
  aio_setmethods(L, task_cancel_methods);
  /* a Task has every Future method it does not redefine */
  lua_getfield(L, 1, "Future");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    if (lua_rawget(L, -5) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, -5);
    } else lua_pop(L, 2);
  }
  lua_pop(L, 2);
  aio_setfuncs(L, funcs);
  return 0;
}
