/*
** compose.c: the hot paths of asyncio.gather (gather.lua) and wait_for
** (wait_for.lua) in C. For gather, the children's done callback (Python's
** _done_callback) and the wrapping of fresh coroutine objects in tasks:
** each child cost a callback call and half a dozen calls of the Lua loop,
** most of it in the calls themselves. For wait_for, making its coroutine
** object, arming its deadline, and awaiting a future under it, each in
** one call.
**
** Anchoring rule: gather's callback is a C closure holding its state
** userdata, the children and results tables and gather's settle function
** in its upvalues; the children it was added to hold it among their done
** callbacks until they are done. wait_for's deadline is a TimerHandle,
** anchored as loop:call_at's are, holding the task it cancels; the wait
** of a future holds it and the deadline on its stack, and its closure
** the functions it calls and the last deadline, for reuse, in its
** upvalues. No C structure points to a Lua value.
*/
#include <limits.h>
#include <math.h>

#include "internal.h"

typedef struct Gather {
  lua_Integer n;           /* ro: children */
  lua_Integer nfinished;   /* rw: children done so far */
  lua_Integer cursor;      /* rw: first child whose result is not stored */
  unsigned char stored;    /* rw: the children finished in argument order
                              so far, each result stored as it came */
  unsigned char retexc;    /* ro: return_exceptions */
  unsigned char defer;     /* rw: errors are left unretrieved until the end
                              (return_exceptions, once the future exists) */
  unsigned char unmarked;  /* rw: one such error came */
} Gather;

enum { UP_STATE = 2, UP_CHILDREN, UP_RESULTS, UP_SETTLE };

/*
** Pushes what Python's gather lists, with return_exceptions, for the
** cancelled child at idx: a new CancelledError with the child's
** _cancel_message, or '' if it has none (so a task that raised its
** CancelledError is listed with '', while awaiting it still raises the
** one it raised). [-0, +1, e]
*/
static void push_listed_cancellation (lua_State *L, Future *f, int idx) {
  future_push_cancel_message(L, f, idx);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  aio_pusherrorv(L, "CancelledError", -1);
  lua_remove(L, -2);
}

/*
** callback(fut): a child is done. Its result (or error, with
** return_exceptions) is stored at once while the children finish in
** argument order; the last one, or a failure, calls settle(failed, value,
** cursor, unmarked), which settles gather's future unless it is done
** already. callback() with no future says gather's future exists: from
** then on, with return_exceptions, an error is stored without being marked
** retrieved, as Python's _done_callback reads errors only in its loop over
** the children once the last is done (before that, with no future yet, it
** retrieves them at once); unmarked tells settle that such errors came.
*/
static int gather_done (lua_State *L) {
  Gather *g = (Gather *)lua_touserdata(L, lua_upvalueindex(UP_STATE));
  Future *f;
  int ok;
  if (lua_isnoneornil(L, 1)) {
    g->defer = g->retexc;
    return 0;
  }
  f = future_check(L, 1);
  lua_settop(L, 1);
  g->nfinished++;
  if (g->defer && f->state == FUT_FINISHED && f->failed) {
    lua_getiuservalue(L, 1, FUT_UV_RESULT);  /* the error at 2, left unread */
    ok = 0;
    g->unmarked = 1;
  } else if (g->retexc && f->state == FUT_CANCELLED) {
    push_listed_cancellation(L, f, 1);  /* the value at 2 */
    ok = 0;
  } else ok = future_push_first_outcome(L, f, 1);  /* the value at 2 */
  if (ok || g->retexc) {
    if (g->stored) {
      lua_rawgeti(L, lua_upvalueindex(UP_CHILDREN), g->cursor);
      if (lua_rawequal(L, -1, 1)) {  /* futures: identity */
        lua_pushvalue(L, 2);
        lua_rawseti(L, lua_upvalueindex(UP_RESULTS), g->cursor);
        g->cursor++;
      } else g->stored = 0;
      lua_pop(L, 1);
    }
    if (g->nfinished != g->n) return 0;
  }
  lua_pushvalue(L, lua_upvalueindex(UP_SETTLE));
  lua_pushboolean(L, !(ok || g->retexc));
  lua_pushvalue(L, 2);
  lua_pushinteger(L, g->cursor);
  lua_pushboolean(L, g->unmarked);
  lua_call(L, 4, 0);
  return 0;
}

/*
** The loop's dispatch of a done callback a(b) (loop.c), for the commonest
** one: gather_done, called for a child that succeeded in argument order
** and is not the last. What gather_done would do then (count it, store its
** first result at the cursor) is done here without the protected call,
** which cost more than the callback itself: nothing on this path raises
** or allocates (results was made with room for all n, and only gets other
** keys once the last child is done), so there is no error to report.
** Returns 0, with nothing changed, for any other callback or case, which
** the caller then calls as usual. [-0, +0, -]
*/
int gather_dispatch (lua_State *L, int cbidx, int futidx) {
  int top = lua_gettop(L), done = 0;
  Future *f;
  Gather *g;
  if (lua_tocfunction(L, cbidx) != gather_done) return 0;
  /* a first look at the outcome, before any upvalue is read, so that a
     failed or cancelled child costs little here: what is read is within
     the block, whatever it is; children tells below that it is a future */
  if (lua_type(L, futidx) != LUA_TUSERDATA
      || lua_rawlen(L, futidx) < sizeof(Future))
    return 0;
  f = (Future *)lua_touserdata(L, futidx);
  if (f->state != FUT_FINISHED || f->failed) return 0;
  lua_getupvalue(L, cbidx, UP_STATE);
  g = (Gather *)lua_touserdata(L, -1);
  if (g->stored && g->nfinished + 1 < g->n) {
    lua_getupvalue(L, cbidx, UP_CHILDREN);
    lua_rawgeti(L, -1, g->cursor);
    /* the same block is the same object, futidx being a full userdata:
       a future, as children holds futures only */
    if (lua_touserdata(L, -1) == (void *)f) {
      lua_getupvalue(L, cbidx, UP_RESULTS);
      future_push_first_outcome(L, f, futidx);  /* raises only if pending */
      lua_rawseti(L, -2, g->cursor);
      g->cursor++;
      g->nfinished++;
      done = 1;
    }
  }
  lua_settop(L, top);
  return done;
}

/*
** core.gather_listed_cancellation(fut) -> what gather lists for the
** cancelled future or task fut (above), for the children gather.lua reads
** itself.
*/
static int core_gather_listed_cancellation (lua_State *L) {
  Future *f = future_check(L, 1);
  luaL_argcheck(L, f->state == FUT_CANCELLED, 1, "cancelled future expected");
  push_listed_cancellation(L, f, 1);
  return 1;
}

/*
** core.gather_callback(children, n, return_exceptions, settle) ->
** callback, results: the done callback of gather's n children
** (gather.lua), and the table it stores their results in, made with room
** for n of them and for results.n.
*/
static int core_gather_callback (lua_State *L) {
  Gather *g;
  lua_Integer n;
  luaL_checktype(L, 1, LUA_TTABLE);
  n = luaL_checkinteger(L, 2);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  lua_settop(L, 4);
  lua_pushvalue(L, lua_upvalueindex(1));  /* the Runtime, for future_check */
  g = (Gather *)lua_newuserdatauv(L, sizeof(Gather), 0);
  g->n = n;
  g->nfinished = 0;
  g->cursor = 1;
  g->stored = 1;
  g->retexc = (unsigned char)lua_toboolean(L, 3);
  g->defer = 0;
  g->unmarked = 0;
  lua_pushvalue(L, 1);
  /* n is at most the number of gather's arguments; a caller's odd n
     gets no room */
  lua_createtable(L, n > 0 && n < INT_MAX ? (int)n : 0, 1);
  lua_pushvalue(L, 4);
  lua_pushcclosure(L, gather_done, UP_SETTLE);
  lua_getupvalue(L, -1, UP_RESULTS);
  return 2;
}

/*
** core.gather_wrap(loop, children, i, n, callback, done_now [, seen]) ->
** the first index left: from children[i] on, up to n, does what
** gather.lua's loop does for the common arguments, stopping at any other.
** A future or task of loop stays as it is; a fresh coroutine object (one
** of ours, not awaited) is replaced by its task, made as core.new_task
** makes it (spawn_task_for), and made quiet. Each gets the done callback,
** or is appended to done_now if it is done already. Without seen,
** coroutine objects are taken only while the loop has no task factory;
** with seen (the loop had one), each task made is also seen[coroutine
** object].
*/
static int core_gather_wrap (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Loop *loop = loop_check(L, 1);
  lua_Integer i, n;
  int factory;
  luaL_checktype(L, 2, LUA_TTABLE);
  i = luaL_checkinteger(L, 3);
  n = luaL_checkinteger(L, 4);
  luaL_argcheck(L, n < LUA_MAXINTEGER, 4, "too large");  /* i++ past n */
  if (!aio_iscallable(L, 5)) luaL_typeerror(L, 5, "function");
  luaL_checktype(L, 6, LUA_TTABLE);
  factory = !lua_isnoneornil(L, 7);
  if (factory) luaL_checktype(L, 7, LUA_TTABLE);
  lua_settop(L, 7);
  for (; i <= n; i++) {
    Future *f;
    int made = 0;  /* a task made for a coroutine object */
    const void *mt = NULL;
    lua_rawgeti(L, 2, i);  /* 8: the argument */
    /* its metatable once, for future_test and coro_test */
    if (lua_type(L, 8) == LUA_TUSERDATA && lua_getmetatable(L, 8)) {
      mt = lua_topointer(L, -1);
      lua_pop(L, 1);
    }
    if (mt != NULL && (mt == rt->mt[AIO_TFUTURE] || mt == rt->mt[AIO_TTASK])) {
      f = (Future *)lua_touserdata(L, 8);
      if (f->loop != loop) break;  /* gather.lua raises */
      lua_pushvalue(L, 8);  /* 9: the child */
    } else {
      if (mt == NULL || (mt != rt->coro_mt[0] && mt != rt->coro_mt[1])
          || ((Coro *)lua_touserdata(L, 8))->awaited
          || (!factory && loop->has_task_factory))
        break;
      if (loop->closed) return aio_loop_closed(L);
      /* a full ring grows once, with room for a task per argument left,
         rather than being copied at each doubling */
      if (loop->tail - loop->head >= loop->cap)
        loop_ready_reserve_n(L, loop, 1, n - i + 1);
      spawn_task_for(L, loop, 1, 8);  /* 9: new_task(loop, arg) */
      f = loop->has_task_factory ? future_test(L, rt, 9)
                                 : (Future *)lua_touserdata(L, 9);
      if (f == NULL)  /* new_task checks what a factory returns: never */
        return luaL_error(L, "new_task returned %s", luaL_typename(L, 9));
      made = 1;
      if (f->type == AIO_TTASK) ((Task *)f)->quiet = 1;
      if (factory) {
        lua_pushvalue(L, 8);
        lua_pushvalue(L, 9);
        lua_rawset(L, 7);
      }
      lua_pushvalue(L, 9);
      lua_rawseti(L, 2, i);
    }
    /* only a factory makes a task that is done at once */
    if (f->state != FUT_PENDING && (factory || !made)) {
      lua_pushvalue(L, 9);
      lua_rawseti(L, 6, (lua_Integer)lua_rawlen(L, 6) + 1);
    } else {
      future_add_callback(L, f, 9, 5);
      if (f->state != FUT_PENDING && f->loop->closed)
        return aio_loop_closed(L);  /* as add_done_callback */
    }
    lua_settop(L, 7);
  }
  lua_pushinteger(L, i);
  return 1;
}

/*
** Arms the deadline of a wait_for by the running task, delay (at 2)
** seconds from now, as asyncio.timeout(delay) arms it: pushes the handle
** of loop:call_at(when, expire, task), expire at fnidx, and returns the
** task's cancelling(); if when has passed already, pushes nil and the
** task instead (the caller calls call_soon, as Timeout:reschedule does).
** The handle is the one at spareidx (0: none), the last one made, if
** handle_reuse may reuse it. Whether the deadline expired is then the
** handle's to tell (handle_disarm): no object of our own. [-0, +(1|2), e]
*/
static int arm (lua_State *L, int fnidx, int spareidx) {
  Runtime *rt = aio_rt(L);
  Loop *loop = rt->running;
  double delay, when;
  int loopidx;
  if (lua_type(L, 2) != LUA_TNUMBER) luaL_typeerror(L, 2, "number");
  delay = lua_tonumber(L, 2);
  luaL_argcheck(L, !isnan(delay), 2, "number is NaN");
  if (loop == NULL || loop->current == NULL)
    return luaL_error(L, "wait_for must be called inside a task");
  when = aio_now() + delay;
  if (when <= aio_now()) {
    lua_pushnil(L);
    task_pushcurrent(L, loop);
    return loop->current->ncancels;
  }
  if (loop->closed) return aio_loop_closed(L);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
  loopidx = lua_gettop(L);
  lua_pushvalue(L, fnidx);
  task_pushcurrent(L, loop);
  /* nil or a TimerHandle: wait_for_future's upvalue, which only it sets,
     to a handle made here */
  handle_reuse(L, loop, loopidx, loopidx + 1,
               spareidx ? (Handle *)lua_touserdata(L, spareidx) : NULL,
               spareidx);
  timer_arm(L, loop, loopidx, when);
  lua_replace(L, loopidx);
  lua_settop(L, loopidx);
  return loop->current->ncancels;
}

/*
** core.wait_for_arm(nil, delay, expire) -> handle, cancelling, or nil,
** cancelling, task: the deadline of a wait_for of a coroutine object
** (arm), which the caller then closes as Timeout:__close does.
*/
static int core_wait_for_arm (lua_State *L) {
  int ncancels;
  if (!aio_iscallable(L, 3)) luaL_typeerror(L, 3, "function");
  lua_settop(L, 3);
  ncancels = arm(L, 3, 0);
  if (lua_isnil(L, 4)) {
    lua_pushinteger(L, ncancels);
    lua_rotate(L, 5, 1);  /* the task last */
    return 3;
  }
  lua_pushinteger(L, ncancels);
  return 2;
}

/*
** core.wait_for_disarm(handle) -> expired: whether the callback of the
** handle wait_for_arm's caller got has run; if not, cancels it.
*/
static int core_wait_for_disarm (lua_State *L) {
  lua_pushboolean(L, handle_disarm(L, 1));
  return 1;
}

/*
** core.wait_for_new(body, fbody, aw, delay) -> coroutine object of
** body(aw, delay), fbody(aw, delay) if aw is a future or a task, or
** nothing: asyncio.wait_for's arguments checked and its coroutine object
** made in one call when aw is a future, a task or a coroutine object and
** delay nil or a number (not NaN), as they mostly are; the caller checks
** any other and raises its error.
*/
static int core_wait_for_new (lua_State *L) {
  Runtime *rt = aio_rt(L);
  int t = lua_type(L, 4);
  lua_settop(L, 4);
  if (t != LUA_TNIL && (t != LUA_TNUMBER || isnan(lua_tonumber(L, 4))))
    return 0;
  if (aio_toobj(L, rt, 3, AIO_TFUTURE) != NULL) {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    coro_push(L, 2, 3, 2);
  } else if (coro_is(L, 3)) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    coro_push(L, 1, 3, 2);
  } else return 0;
  return 1;
}

/*
** The end of wait_for_future, with the results of pcall(await_future,
** fut) above fut, delay, expire, the deadline and the task's cancelling()
** then: those results if fut ended well before its deadline, which is
** disarmed; else what leave(fut, cancelling, expired, ok, ...) (upvalue
** 3) makes of them, results or an error, raised here as Lua's leave would.
*/
static int wait_for_future_k (lua_State *L, int status, lua_KContext ctx) {
  int ok = status == LUA_OK || status == LUA_YIELD;
  /* the handle wait_for_future put there */
  int expired = handle_disarm_at(L, (Handle *)lua_touserdata(L, 4), 4);
  int n = lua_gettop(L) - 5;
  (void)ctx;
  if (ok && !expired) return n;
  luaL_checkstack(L, 5, "too many results");
  lua_pushvalue(L, lua_upvalueindex(3));
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 5);
  lua_pushboolean(L, expired);
  lua_pushboolean(L, ok);
  lua_rotate(L, 6, 5);  /* leave and its arguments before the results */
  lua_call(L, n + 4, LUA_MULTRET);
  if (!lua_toboolean(L, 6)) return lua_error(L);
  return lua_gettop(L) - 6;
}

/*
** wait_for_future(fut, delay) -> ...: a wait_for of the future fut, delay
** (> 0) seconds: asyncio.timeouts' Timeout made and closed inline, with
** no object of its own. A done future is awaited without suspending, so
** no deadline could fire while it is: none is armed. Else the deadline
** (arm: expire is upvalue 4, the last deadline, kept for reuse, upvalue
** 6) is armed, fut awaited with await_future (upvalue 2), protected, and
** left as wait_for_future_k says: Lua's pcall and a vararg function cost
** twice as much on every wait. A deadline passed already (a tiny delay)
** is queued with call_soon (upvalue 5).
*/
static int wait_for_future (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Future *f = (Future *)aio_toobj(L, rt, 1, AIO_TFUTURE);
  int ncancels;
  if (f == NULL) return luaL_typeerror(L, 1, "Future");
  lua_settop(L, 2);
  if (f->state != FUT_PENDING) return future_pushresults(L, f, 1);
  lua_pushvalue(L, lua_upvalueindex(4));  /* 3: expire */
  ncancels = arm(L, 3, lua_upvalueindex(6));  /* 4: the deadline */
  if (lua_isnil(L, 4)) {  /* 5: the task */
    lua_pushvalue(L, lua_upvalueindex(5));
    lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 5);
    lua_call(L, 3, 1);
    /* upvalue 5 comes from core.make_wait_for_future's caller: what
       wait_for_future_k takes for a Handle must be one */
    if (aio_toobj(L, rt, 6, AIO_THANDLE) == NULL)
      return luaL_error(L, "call_soon returned %s", luaL_typename(L, 6));
    lua_replace(L, 4);
    lua_settop(L, 4);
  } else {
    lua_pushvalue(L, 4);
    lua_replace(L, lua_upvalueindex(6));
  }
  lua_pushinteger(L, ncancels);  /* 5 */
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  return wait_for_future_k(L, lua_pcallk(L, 1, LUA_MULTRET, 0, 0,
                                         wait_for_future_k), 0);
}

/*
** core.make_wait_for_future(await_future, leave, expire, call_soon) ->
** wait_for_future
*/
static int core_make_wait_for_future (lua_State *L) {
  int i;
  for (i = 1; i <= 4; i++) luaL_checktype(L, i, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_settop(L, 5);
  lua_pushnil(L);  /* no deadline to reuse yet */
  lua_pushcclosure(L, wait_for_future, 6);
  return 1;
}

int compose_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"gather_callback", core_gather_callback},
    {"gather_listed_cancellation", core_gather_listed_cancellation},
    {"gather_wrap", core_gather_wrap},
    {"wait_for_arm", core_wait_for_arm},
    {"wait_for_disarm", core_wait_for_disarm},
    {"wait_for_new", core_wait_for_new},
    {"make_wait_for_future", core_make_wait_for_future},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  return 0;
}
