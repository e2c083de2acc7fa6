/*
** task_cancel.c: Task's cancel(), cancelling() and uncancel(): a cancel
** reaches what the task waits on (the future it awaits, the object it is
** parked on, its sleep) or marks the task, and walks chains of tasks
** awaiting one another without recursion.
**
** Anchoring rule: nothing here holds a value beyond a call, except the
** cancels deferred by nested cancel() calls, which the registry's
** pending_cancels table holds until the outermost cancel() makes them.
*/
#include "internal.h"

/*
** Makes the pending cancellation of the task t at idx one that uncancel()
** cannot withdraw: what it was parked on or asleep in is cancelled for
** good (Python: its waiter future). The message its wakeup raises is kept
** in TASK_UV_WAITER, free while the task is ready, as that future keeps
** its own. [-0, +0, -]
*/
void task_force_cancel (lua_State *L, Task *t, int idx) {
  idx = lua_absindex(L, idx);
  t->must_cancel = CANCEL_FORCED;
  lua_getiuservalue(L, idx, TASK_UV_CANCELMSG);
  lua_setiuservalue(L, idx, TASK_UV_WAITER);
  t->waiter = NULL;
}

/*
** The end of a cancel() of the pending task at idx that did not cancel it
** through what it awaits: marks it, with the message at msgidx, and wakes
** it where it is parked or asleep. [-0, +0, e]
*/
static void mark_cancelled (lua_State *L, Task *t, int idx, int msgidx) {
  Loop *loop = t->fut.loop;
  t->must_cancel = 1;
  lua_pushvalue(L, msgidx);
  lua_setiuservalue(L, idx, TASK_UV_CANCELMSG);
  if (t->wait != WAIT_PARKED && t->wait != WAIT_TIMER) return;
  /* parked or asleep: what it waits on (Python: its waiter future, which
     sleep(d) awaits too) is cancelled for good, so its wakeup raises
     whatever uncancel() does meanwhile, and a later cancel() answers true.
     In a closed loop nothing is woken: cancel_now raises for the wakeup */
  if (loop->closed) {
    t->must_cancel = CANCEL_FORCED;
    return;
  }
  if (t->wait == WAIT_PARKED) {
    ParkCancel unpark = t->unpark;
    int top = lua_gettop(L);
    lua_getiuservalue(L, idx, TASK_UV_WAITER);
    t->wait = WAIT_READY;
    t->unpark = NULL;
    t->parked = PARK_CANCELLED;
    unpark(L, top + 1, idx, t->unpark_arg);
    task_force_cancel(L, t, idx);
    lua_getiuservalue(L, idx, FUT_UV_LOOP);
    loop_ready_push(L, loop, -1, idx, 0);
    lua_settop(L, top);
  } else {  /* sleeping: wake it now */
    task_force_cancel(L, t, idx);
    lua_getiuservalue(L, idx, FUT_UV_LOOP);
    timer_remove(L, loop, lua_gettop(L), t->slot);
    t->slot = 0;
    t->wait = WAIT_READY;
    loop_ready_push(L, loop, -1, idx, 0);
    lua_pop(L, 1);
  }
}

/*
** task:cancel([msg]) -> bool. A task awaiting a future cancels that future
** instead, as Python's; a chain of tasks awaiting one another is walked in
** a loop, not by recursion, so that cancelling the top of a chain of
** thousands reaches its bottom (each step a C call, Lua would stop at 200).
** (task, msg) at 1 and 2.
*/
static int cancel_now (lua_State *L) {
  int base, n = 0, ok = 0, woke = 0;
  task_check(L, 1);
  lua_settop(L, 2);
  base = lua_gettop(L);  /* the chain goes above: base + 1 is this task */
  lua_pushvalue(L, 1);
  for (;;) {  /* down the chain: n + 1 tasks from base + 1 */
    int idx = base + 1 + n;
    Task *t = (Task *)lua_touserdata(L, idx);
    if (t->fut.state != FUT_PENDING) {
      future_mark_retrieved(L, &t->fut, idx);  /* as Python's Task.cancel */
      ok = 0;
      break;
    }
    t->ncancels++;
    if (t->must_cancel == CANCEL_FORCED) {
      /* what it waited on is cancelled already (Python: its waiter
         future): that CancelledError, first message included, is what it
         gets; this message becomes Python's _cancel_message, which gather
         raises if the task swallows the error */
      t->msg_kept = 1;
      lua_pushvalue(L, 2);
      lua_setiuservalue(L, idx, TASK_UV_CANCELMSG);
      ok = 1;
      break;
    }
    if (t->wait == WAIT_FUTURE) {
      Future *w;
      lua_getiuservalue(L, idx, TASK_UV_WAITER);
      w = future_test(L, aio_rt(L), -1);
      if (w != NULL && w->type == AIO_TTASK) {  /* one more link */
        if (!lua_checkstack(L, 4)) luaL_error(L, "chain of tasks too long to cancel");
        n++;
        continue;
      }
      if (w != NULL && future_cancel(L, w, -1, 2)) {
        /* its done callbacks, the task's wakeup among them, unless a
           cancel hook (gather's) answered for it and left it pending */
        woke = w->state != FUT_PENDING;
        lua_pop(L, 1);
        ok = 1;
        break;
      }
      lua_pop(L, 1);
    }
    /* parked or asleep, it is woken (Python: its waiter future cancelled);
       otherwise nothing was cancelled in its place, and Python's Task
       keeps the message as its _cancel_message */
    woke = t->wait == WAIT_PARKED || t->wait == WAIT_TIMER;
    if (!woke) t->msg_kept = 1;
    mark_cancelled(L, t, idx, 2);
    ok = 1;
    break;
  }
  /* back up: a task whose awaited task was not cancelled is marked itself */
  while (n-- > 0) {
    int idx = base + 1 + n;
    if (!ok) {
      Task *t = (Task *)lua_touserdata(L, idx);
      t->msg_kept = 1;
      mark_cancelled(L, t, idx, 2);
      ok = 1;
    }
  }
  /* the wakeup of a task waiting in a closed loop: Python's call_soon of
     it raises (the cancel is made all the same), as fut:cancel() does; a
     task with nothing to wake (ready to run, or its waiter cancelled
     already) answers true, as there */
  if (woke && ((Task *)lua_touserdata(L, 1))->fut.loop->closed)
    return aio_loop_closed(L);
  lua_pushboolean(L, ok);
  return 1;
}

/*
** Cancels nested in one another (a task awaiting a gather cancels its
** children from Lua, each child's cancel a C call nested in the last; a
** gather of gathers, cancelled, does the same) go that deep at most;
** deeper ones wait in pending_cancels for the outermost cancel() to make
** them, in the order they came, before it returns. A pending task's, or a
** pending gather's, cancel() is then true, as Python's mostly is (a
** gather whose children are all done would say false there).
*/
#define CANCEL_DEPTH_MAX 50
static const char pending_cancels = 0;  /* registry key: {obj, msg, ...} */

/*
** The outermost cancel(): now(obj, msg) (upvalue 2), then the deferred
** ones, each through its object's cancel method. Upvalue 1 is the
** Runtime.
*/
static int cancel_outermost (lua_State *L) {
  Runtime *rt = aio_rt(L);
  int i;
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, 2, 1);  /* the answer, at 1 */
  lua_settop(L, 1);
  if (rt->cancels_deferred == 0) return 1;  /* the usual case */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_cancels);  /* 2 */
  /* the count is read again each time: these cancels may defer more */
  for (i = 1; i <= rt->cancels_deferred; i++) {
    lua_rawgeti(L, 2, 2 * i - 1);  /* the task or future */
    lua_getfield(L, -1, "cancel");
    lua_insert(L, -2);
    lua_rawgeti(L, 2, 2 * i);      /* its message, maybe nil */
    lua_call(L, 2, 0);
  }
  lua_settop(L, 1);
  return 1;
}

/*
** The cancel() of the task or future at 1, message at 2, made by now
** under the depth rule above; pending says whether the object is, for an
** answer given before the cancel is made. key names the registry entry
** where the outermost closure for now is kept, made once.
*/
int task_guarded_cancel (lua_State *L, lua_CFunction now, int pending,
                         const void *key) {
  Runtime *rt = aio_rt(L);
  int status;
  lua_settop(L, 2);
  if (rt->cancel_depth >= CANCEL_DEPTH_MAX && pending) {
    lua_Integer n;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &pending_cancels) != LUA_TTABLE) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_cancels);
    }
    n = 2 * (lua_Integer)rt->cancels_deferred;  /* pairs: a nil message is a hole */
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, n + 1);
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, n + 2);
    rt->cancels_deferred++;
    lua_pushboolean(L, 1);
    return 1;
  }
  if (rt->cancel_depth > 0) {  /* nested: an error unwinds to the outermost */
    rt->cancel_depth++;
    now(L);
    rt->cancel_depth--;
    return 1;
  }
  /* the outermost: protected, so that the depth and the deferred cancels
     are reset whatever happens (the depth is set once nothing but the
     protected call can raise) */
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) != LUA_TFUNCTION) {
    lua_pop(L, 1);  /* made once: the closure of every outermost cancel() */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, now, 1);
    lua_pushcclosure(L, cancel_outermost, 2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  }
  lua_insert(L, 1);
  rt->cancel_depth = 1;
  status = lua_pcall(L, 2, 1, 0);
  rt->cancel_depth = 0;
  if (rt->cancels_deferred) {
    rt->cancels_deferred = 0;
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &pending_cancels);
  }
  if (status != LUA_OK) return lua_error(L);
  return 1;
}

static const char task_outermost_key = 0;  /* registry key: its closure */

static int task_cancel (lua_State *L) {
  Task *t = task_check(L, 1);
  return task_guarded_cancel(L, cancel_now, t->fut.state == FUT_PENDING,
                             &task_outermost_key);
}

static int task_cancelling (lua_State *L) {
  lua_pushinteger(L, task_check(L, 1)->ncancels);
  return 1;
}

/* task:uncancel() -> remaining cancel requests */
static int task_uncancel (lua_State *L) {
  Task *t = task_check(L, 1);
  if (t->ncancels > 0 && --t->ncancels == 0
      && t->must_cancel != CANCEL_FORCED)
    t->must_cancel = 0;
  lua_pushinteger(L, t->ncancels);
  return 1;
}

/* Task's methods defined here, for task_open. */
const luaL_Reg task_cancel_methods[] = {
  {"cancel", task_cancel},
  {"cancelling", task_cancelling},
  {"uncancel", task_uncancel},
  {NULL, NULL}
};
