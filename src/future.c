/*
** future.c: Future, the result-to-be that tasks await; done callbacks are
** scheduled through the loop's ready queue in registration order.
**
** Anchoring rule: a future holds its loop, its results, its done
** callbacks (a waiting task is one) and its cancel hook in its user
** values; a failed future whose error nobody looked at is also in the
** loop's weak unretrieved set so closing the loop can report it.
*/
#include <string.h>

#include "internal.h"

/* A plain future made with a cancel hook has it in one more user value. */
#define FUT_UV_CANCELHOOK FUT_NUV

Future *future_test (lua_State *L, Runtime *rt, int idx) {
  return (Future *)aio_toobj(L, rt, idx, AIO_TFUTURE);
}

Future *future_check (lua_State *L, int idx) {
  Future *f = future_test(L, aio_rt(L), idx);
  if (f == NULL) luaL_typeerror(L, idx, "Future");
  return f;
}

/* Initialises the future at the top of the stack. [-0, +0, -] */
void future_init (lua_State *L, Future *f, int type, int loopidx) {
  memset(f, 0, sizeof(*f));
  f->type = (unsigned char)type;
  f->loop = (Loop *)lua_touserdata(L, loopidx);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, FUT_UV_LOOP);
}

/* Pushes a new pending Future of the loop at loopidx, with no cancel
   hook: what C operations that wait (drain, recv, getaddrinfo) await.
   [-0, +1, m] */
Future *future_pushnew (lua_State *L, int loopidx) {
  Future *f;
  loopidx = lua_absindex(L, loopidx);
  f = (Future *)lua_newuserdatauv(L, sizeof(Future), FUT_NUV - 1);
  aio_setmetatable(L, AIO_TFUTURE);
  future_init(L, f, AIO_TFUTURE, loopidx);
  if (f->loop->debug) loop_note_source(L, loopidx, -1);
  return f;
}

/*
** Marks the failure of the future at idx as looked at: nobody will be told
** it was never retrieved. [-0, +0, -]
*/
void future_mark_retrieved (lua_State *L, Future *f, int idx) {
  if (f->retrieved || !f->failed) return;
  idx = lua_absindex(L, idx);
  f->retrieved = 1;
  lua_getiuservalue(L, idx, FUT_UV_LOOP);
  lua_getiuservalue(L, -1, LOOP_UV_UNRETRIEVED);
  lua_pushvalue(L, idx);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 2);
}

/*
** Pushes the results of the finished future at idx and returns their
** count, or pushes its error (CancelledError if cancelled, marking a
** failure retrieved) and returns -1. Raises InvalidStateError if it is
** pending. [-0, +n, e]
*/
static int push_outcome (lua_State *L, Future *f, int idx) {
  switch (f->state) {
    case FUT_PENDING:
      aio_pusherror(L, "InvalidStateError", "Result is not set.");
      return lua_error(L);
    case FUT_CANCELLED:
      /* a task keeps the CancelledError that ended it: that one; a
         future keeps the message of its cancel() */
      lua_getiuservalue(L, idx, FUT_UV_RESULT);
      if (!aio_is_cancelled_error(L, -1)) {
        aio_pusherrorv(L, "CancelledError", -1);
        lua_remove(L, -2);
      }
      return -1;
    default: break;
  }
  if (f->failed) {
    future_mark_retrieved(L, f, idx);
    lua_getiuservalue(L, idx, FUT_UV_RESULT);
    return -1;
  }
  if (f->nresults == 1) {
    lua_getiuservalue(L, idx, FUT_UV_RESULT);
    return 1;
  }
  if (f->nresults > 1) {
    int i;
    luaL_checkstack(L, f->nresults + 1, "too many results");
    lua_getiuservalue(L, idx, FUT_UV_RESULT);
    for (i = 1; i <= f->nresults; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -f->nresults - 1);
  }
  return f->nresults;
}

/*
** Pushes the results of the finished future at idx, or raises its error,
** CancelledError, or InvalidStateError if it is pending. [-0, +n, e]
*/
int future_pushresults (lua_State *L, Future *f, int idx) {
  int n = push_outcome(L, f, idx);
  if (n < 0) return lua_error(L);
  return n;
}

/*
** Appends the pair (callback, future) of every done callback to the ready
** queue and forgets them. [-0, +0, m]
*/
void future_schedule_callbacks (lua_State *L, Future *f, int idx) {
  int n = f->ncallbacks, loopidx;
  if (n == 0) return;
  idx = lua_absindex(L, idx);
  lua_getiuservalue(L, idx, FUT_UV_LOOP);
  loopidx = lua_gettop(L);
  lua_getiuservalue(L, idx, FUT_UV_CALLBACKS);
  f->ncallbacks = 0;
  lua_pushnil(L);
  lua_setiuservalue(L, idx, FUT_UV_CALLBACKS);
  if (!f->loop->closed) {
    if (n == 1) loop_ready_push(L, f->loop, loopidx, -1, idx);
    else {
      int i;
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        loop_ready_push(L, f->loop, loopidx, -1, idx);
        lua_pop(L, 1);
      }
    }
  }
  lua_pop(L, 2);
}

/*
** Finishes the pending future at idx with the n values from stack index
** first. [-0, +0, m]
*/
int future_set_results (lua_State *L, Future *f, int idx, int first, int n) {
  idx = lua_absindex(L, idx);
  if (n > 0) first = lua_absindex(L, first);
  if (n > 1) {
    /* the table is made before the state changes: making it may run a
       finalizer, which must not find a finished future without its
       results (nor may we overwrite what it settled) */
    int i;
    lua_createtable(L, n, 0);
    if (f->state != FUT_PENDING) {
      lua_pop(L, 1);
      return 0;
    }
    for (i = 0; i < n; i++) {
      lua_pushvalue(L, first + i);
      lua_rawseti(L, -2, i + 1);
    }
  } else if (n == 1) lua_pushvalue(L, first);
  f->state = FUT_FINISHED;
  f->nresults = n;
  if (n > 0) lua_setiuservalue(L, idx, FUT_UV_RESULT);
  future_schedule_callbacks(L, f, idx);
  return 1;
}

/* Finishes the pending future at idx with the error at erridx. [-0, +0, m] */
void future_set_error (lua_State *L, Future *f, int idx, int erridx) {
  idx = lua_absindex(L, idx);
  erridx = lua_absindex(L, erridx);
  f->state = FUT_FINISHED;
  f->failed = 1;
  f->retrieved = 0;
  lua_pushvalue(L, erridx);
  lua_setiuservalue(L, idx, FUT_UV_RESULT);
  /* callbacks first: if the set below cannot grow (memory), only the
     "never retrieved" report is lost, not a wakeup */
  future_schedule_callbacks(L, f, idx);
  lua_getiuservalue(L, idx, FUT_UV_LOOP);
  lua_getiuservalue(L, -1, LOOP_UV_UNRETRIEVED);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, ++f->loop->nfailed);  /* reported in that order */
  lua_rawset(L, -3);
  lua_pop(L, 2);
}

/*
** Marks the pending future at idx cancelled with the message at msgidx
** (0: none) and schedules its callbacks. [-0, +0, m]
*/
int future_cancel_self (lua_State *L, Future *f, int idx, int msgidx) {
  if (f->state != FUT_PENDING) return 0;
  idx = lua_absindex(L, idx);
  f->state = FUT_CANCELLED;
  if (msgidx) lua_pushvalue(L, msgidx); else lua_pushnil(L);
  lua_setiuservalue(L, idx, FUT_UV_RESULT);
  future_schedule_callbacks(L, f, idx);
  return 1;
}

/*
** Cancels the future or task at idx, as fut:cancel(msg) would: a task
** through its cancel method, a future with a cancel hook through the hook,
** any other future at once. [-0, +0, e]
*/
int future_cancel (lua_State *L, Future *f, int idx, int msgidx) {
  int ok;
  idx = lua_absindex(L, idx);
  if (msgidx) msgidx = lua_absindex(L, msgidx);
  /* as Python's: cancelling a failed future answers for its error */
  if (f->state == FUT_FINISHED) future_mark_retrieved(L, f, idx);
  if (f->type == AIO_TFUTURE) {
    if (lua_getiuservalue(L, idx, FUT_UV_CANCELHOOK) != LUA_TFUNCTION) {
      lua_pop(L, 1);
      return future_cancel_self(L, f, idx, msgidx);
    }
  } else lua_getfield(L, idx, "cancel");
  lua_pushvalue(L, idx);
  if (msgidx) lua_pushvalue(L, msgidx); else lua_pushnil(L);
  lua_call(L, 2, 1);
  ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok;
}

/*
** Makes a list of callbacks with room for cap of them, holding the ncb
** ones f has, as the new FUT_UV_CALLBACKS. Making the table may run the
** collector, and a finalizer may add a callback to f or settle it: then
** nothing is changed and 0 returned, for the caller to look again.
*/
static int new_callback_list (lua_State *L, Future *f, int idx, int cap) {
  int i, n = f->ncallbacks;
  lua_createtable(L, cap, 0);
  if (f->ncallbacks != n || f->state != FUT_PENDING) {
    lua_pop(L, 1);
    return 0;
  }
  /* nothing below allocates: the array part is sized */
  lua_getiuservalue(L, idx, FUT_UV_CALLBACKS);
  if (n == 1) lua_rawseti(L, -2, 1);
  else {
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      lua_rawseti(L, -3, i);
    }
    lua_pop(L, 1);
  }
  lua_setiuservalue(L, idx, FUT_UV_CALLBACKS);
  f->cbcap = cap;
  return 1;
}

/* Adds the callback at cbidx, or schedules it if already done. [-0,+0,m] */
void future_add_callback (lua_State *L, Future *f, int idx, int cbidx) {
  idx = lua_absindex(L, idx);
  cbidx = lua_absindex(L, cbidx);
  for (;;) {
    if (f->state != FUT_PENDING) {
      if (f->loop->closed) return;
      lua_getiuservalue(L, idx, FUT_UV_LOOP);
      loop_ready_push(L, f->loop, -1, cbidx, idx);
      lua_pop(L, 1);
      return;
    }
    if (f->ncallbacks == 0) {  /* allocates nothing */
      lua_pushvalue(L, cbidx);
      lua_setiuservalue(L, idx, FUT_UV_CALLBACKS);
      break;
    }
    if (f->ncallbacks == 1 || f->ncallbacks >= f->cbcap) {
      if (!new_callback_list(L, f, idx, f->ncallbacks == 1 ? 4 : 2 * f->cbcap))
        continue;
    }
    lua_getiuservalue(L, idx, FUT_UV_CALLBACKS);
    lua_pushvalue(L, cbidx);
    lua_rawseti(L, -2, f->ncallbacks + 1);  /* within the sized part */
    lua_pop(L, 1);
    break;
  }
  f->ncallbacks++;
}

/* ---------- methods ---------- */

/*
** core.new_future(loop [, cancel_hook]) -> Future. With a hook, cancelling
** the future (fut:cancel, or cancelling a task that awaits it) calls
** hook(fut, msg) instead, whose truth is what cancel returns: gather's
** future cancels its children, as Python's _GatheringFuture does.
*/
static int core_future (lua_State *L) {
  Future *f;
  int hook = !lua_isnoneornil(L, 2);
  loop_check(L, 1);
  if (hook) luaL_checktype(L, 2, LUA_TFUNCTION);
  f = (Future *)lua_newuserdatauv(L, sizeof(Future),
                                  hook ? FUT_UV_CANCELHOOK : FUT_NUV - 1);
  aio_setmetatable(L, AIO_TFUTURE);
  future_init(L, f, AIO_TFUTURE, 1);
  if (hook) {
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, FUT_UV_CANCELHOOK);
  }
  if (f->loop->debug) loop_note_source(L, 1, -1);
  return 1;
}

static int future_result (lua_State *L) {
  Future *f = future_check(L, 1);
  lua_settop(L, 1);
  return future_pushresults(L, f, 1);
}

/*
** Pushes the first result of the finished future at idx (nil if it has
** none) and returns 1, or pushes its error as push_outcome does and returns
** 0; raises if it is pending. For core.future_outcome and gather's done
** callback (compose.c). [-0, +1, e]
*/
int future_push_first_outcome (lua_State *L, Future *f, int idx) {
  if (f->state == FUT_FINISHED && !f->failed) {  /* no values moved */
    if (f->nresults == 0) lua_pushnil(L);
    else {
      lua_getiuservalue(L, idx, FUT_UV_RESULT);
      if (f->nresults > 1) {
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
      }
    }
    return 1;
  }
  push_outcome(L, f, idx);  /* the error, or it raises */
  return 0;
}

/*
** Pushes what Python's fut._cancel_message holds (gather reads it): a
** cancelled future's message, none if it ended by a CancelledError of its
** own (a task whose body raised it: Python's Task then calls
** Future.cancel() with no message); a task not cancelled, the message of
** a cancel() that found nothing to cancel in its place. [-0, +1, -]
*/
void future_push_cancel_message (lua_State *L, Future *f, int idx) {
  if (f->state == FUT_CANCELLED) {
    lua_getiuservalue(L, idx, FUT_UV_RESULT);
    if (aio_is_cancelled_error(L, -1)) {
      lua_pop(L, 1);
      lua_pushnil(L);
    }
  } else if (f->type == AIO_TTASK && ((Task *)f)->msg_kept)
    lua_getiuservalue(L, idx, TASK_UV_CANCELMSG);
  else lua_pushnil(L);
}

/* core.cancel_message(fut) -> Python's fut._cancel_message (above) */
static int core_cancel_message (lua_State *L) {
  Future *f = future_check(L, 1);
  future_push_cancel_message(L, f, 1);
  return 1;
}

/*
** core.future_outcome(fut) -> true, first result | false, error: what
** pcall(fut.result, fut) returns, without the cost of a protected call
** (gather reads every child with it). Raises if fut is pending.
*/
static int core_future_outcome (lua_State *L) {
  Future *f = future_check(L, 1);
  int ok;
  lua_settop(L, 1);
  ok = future_push_first_outcome(L, f, 1);
  lua_pushboolean(L, ok);
  lua_replace(L, 1);
  return 2;
}

static int future_exception (lua_State *L) {
  Future *f = future_check(L, 1);
  lua_settop(L, 1);
  if (f->state != FUT_FINISHED || !f->failed) {
    if (f->state == FUT_FINISHED) { lua_pushnil(L); return 1; }
    if (f->state == FUT_PENDING) {  /* CPython's words for each method */
      aio_pusherror(L, "InvalidStateError", "Exception is not set.");
      return lua_error(L);
    }
    return future_pushresults(L, f, 1);  /* raises */
  }
  future_mark_retrieved(L, f, 1);
  lua_getiuservalue(L, 1, FUT_UV_RESULT);
  return 1;
}

static void check_settable (lua_State *L, Future *f, const char *op) {
  if (f->type == AIO_TTASK)  /* its function sets it; Python's words */
    luaL_error(L, "Task does not support %s operation", op);
  if (f->state != FUT_PENDING) {
    aio_pusherror(L, "InvalidStateError", "invalid state");
    lua_error(L);
  }
}

/* fut:set_result(...) */
/*
** After a user's call settled f: its callbacks could not be scheduled on a
** closed loop, and Python's call_soon raises then (the future stays done).
*/
static int check_scheduled (lua_State *L, Future *f, int had_callbacks) {
  if (had_callbacks && f->loop->closed) return aio_loop_closed(L);
  return 0;
}

static int future_set_result (lua_State *L) {
  Future *f = future_check(L, 1);
  int had_callbacks = f->ncallbacks > 0;
  check_settable(L, f, "set_result");
  if (!future_set_results(L, f, 1, 2, lua_gettop(L) - 1))
    check_settable(L, f, "set_result");  /* a finalizer settled it meanwhile: raises */
  return check_scheduled(L, f, had_callbacks);
}

/* fut:set_exception(err) */
static int future_set_exception (lua_State *L) {
  Future *f = future_check(L, 1);
  int had_callbacks = f->ncallbacks > 0;
  luaL_argexpected(L, !lua_isnoneornil(L, 2), 2, "error value");
  check_settable(L, f, "set_exception");
  lua_settop(L, 2);
  aio_instantiate_class(L, 2);  /* as Python's set_exception(Class) */
  future_set_error(L, f, 1, 2);
  return check_scheduled(L, f, had_callbacks);
}

static int future_done (lua_State *L) {
  lua_pushboolean(L, future_check(L, 1)->state != FUT_PENDING);
  return 1;
}

static int future_cancelled (lua_State *L) {
  lua_pushboolean(L, future_check(L, 1)->state == FUT_CANCELLED);
  return 1;
}

static int future_cancel_now (lua_State *L) {
  Future *f = future_check(L, 1);
  int had_callbacks = f->ncallbacks > 0;
  lua_settop(L, 2);
  lua_pushboolean(L, future_cancel(L, f, 1, 2));
  check_scheduled(L, f, had_callbacks && f->state == FUT_CANCELLED);
  return 1;
}

static const char hook_outermost_key = 0;  /* registry key: its closure */

/* fut:cancel([msg]) -> bool. A future with a cancel hook (a gather's)
   cancels others from it, maybe gathers in turn: the nesting is bounded
   as a task's cancel() bounds it (task_cancel.c). */
static int future_cancel_m (lua_State *L) {
  Future *f = future_check(L, 1);
  int hooked = 0;
  lua_settop(L, 2);
  if (f->type == AIO_TFUTURE) {
    hooked = lua_getiuservalue(L, 1, FUT_UV_CANCELHOOK) == LUA_TFUNCTION;
    lua_pop(L, 1);
  }
  if (hooked)
    return task_guarded_cancel(L, future_cancel_now, f->state == FUT_PENDING,
                               &hook_outermost_key);
  return future_cancel_now(L);
}

static void checkcallable (lua_State *L, int arg) {
  if (!aio_iscallable(L, arg)) luaL_typeerror(L, arg, "function");
}

/* fut:add_done_callback(fn) */
static int future_add_done_callback (lua_State *L) {
  Future *f = future_check(L, 1);
  checkcallable(L, 2);
  future_add_callback(L, f, 1, 2);
  return check_scheduled(L, f, f->state != FUT_PENDING);
}

/*
** Takes out of the done callbacks of the future at 1 every one for which
** drops(L, fnidx) is true (the callback is on top of the stack), keeping
** the others in order; returns how many went. [-0, +0, e]
*/
static int filter_callbacks (lua_State *L, Future *f, int fnidx,
                             int (*drops) (lua_State *L, int fnidx)) {
  int removed = 0, n = f->ncallbacks;
  lua_getiuservalue(L, 1, FUT_UV_CALLBACKS);
  if (n == 1) {
    if (drops(L, fnidx)) {
      removed = 1;
      f->ncallbacks = 0;
      lua_pushnil(L);
      lua_setiuservalue(L, 1, FUT_UV_CALLBACKS);
    }
  } else if (n > 1) {
    int i, kept = 0, list = lua_gettop(L);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, list, i);
      if (drops(L, fnidx)) { removed++; lua_pop(L, 1); }
      else lua_rawseti(L, list, ++kept);
    }
    for (i = kept + 1; i <= n; i++) {
      lua_pushnil(L);
      lua_rawseti(L, list, i);
    }
    f->ncallbacks = kept;
    if (kept == 1) {
      lua_rawgeti(L, list, 1);
      lua_setiuservalue(L, 1, FUT_UV_CALLBACKS);
    } else if (kept == 0) {
      lua_pushnil(L);
      lua_setiuservalue(L, 1, FUT_UV_CALLBACKS);
    }
  }
  lua_pop(L, 1);
  return removed;
}

/* The callback on top is fn itself. */
static int same_callback (lua_State *L, int fnidx) {
  return lua_rawequal(L, fnidx, -1);
}

/* The callback on top is a key of the table at setidx. */
static int in_set (lua_State *L, int setidx) {
  int in;
  lua_pushvalue(L, -1);
  in = lua_rawget(L, setidx) != LUA_TNIL;
  lua_pop(L, 1);
  return in;
}

/* The callback on top is a Task (a waiter), which no user callback is
   equal to. */
static int is_task (lua_State *L) {
  return lua_type(L, -1) == LUA_TUSERDATA && aio_typeof(L, aio_rt(L), -1) == AIO_TTASK;
}

/*
** fut:remove_done_callback(fn) -> number removed. Python compares with ==:
** a callable table or userdata with __eq is asked. That metamethod runs
** Lua code, which may add or remove callbacks, or finish the future: it
** is asked about a copy of the list, and only then does the list lose the
** callbacks found equal, whatever it holds by then.
*/
static int future_remove_done_callback (lua_State *L) {
  Future *f = future_check(L, 1);
  int i, n, set, snap;
  lua_settop(L, 2);
  /* a task awaiting f is in the list as itself, where Python has its
     wakeup method: no callback a user can name */
  if (lua_type(L, 2) == LUA_TUSERDATA && aio_typeof(L, aio_rt(L), 2) == AIO_TTASK) {
    lua_pushinteger(L, 0);
    return 1;
  }
  if (f->ncallbacks == 0 || (lua_type(L, 2) != LUA_TTABLE && lua_type(L, 2) != LUA_TUSERDATA)
      || luaL_getmetafield(L, 2, "__eq") == LUA_TNIL) {
    lua_pushinteger(L, filter_callbacks(L, f, 2, same_callback));
    return 1;
  }
  lua_pop(L, 1);  /* the __eq */
  n = f->ncallbacks;
  lua_createtable(L, n, 0);  /* 3: the copy */
  snap = 3;
  lua_getiuservalue(L, 1, FUT_UV_CALLBACKS);
  if (n == 1) lua_rawseti(L, snap, 1);
  else {
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      lua_rawseti(L, snap, i);
    }
    lua_pop(L, 1);
  }
  lua_newtable(L);  /* 4: the callbacks found equal */
  set = 4;
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, snap, i);
    if (!is_task(L) && lua_compare(L, 2, -1, LUA_OPEQ)) {
      lua_pushboolean(L, 1);
      lua_rawset(L, set);
    } else lua_pop(L, 1);
  }
  lua_pushinteger(L, filter_callbacks(L, f, set, in_set));
  return 1;
}

static int future_get_loop (lua_State *L) {
  future_check(L, 1);
  lua_getiuservalue(L, 1, FUT_UV_LOOP);
  return 1;
}

/*
** Whether f's tostring is running already, further out: a result that
** leads back to its future (a task returning itself) then shows "...", as
** Python's reprlib.recursive_repr does, and so do futures nested deeper
** than AIO_REPR_DEPTH, instead of a C stack overflow.
*/
int future_in_tostring (lua_State *L, Future *f) {
  Runtime *rt = aio_rt(L);
  int i;
  if (rt->repr_depth >= AIO_REPR_DEPTH) return 1;
  for (i = 0; i < rt->repr_depth; i++)
    if (rt->repr_active[i] == (const void *)f) return 1;
  return 0;
}

/* Replaces the value on top by its tostring, made with f marked as being
   shown (removed again if that raises). [-1, +1, e] */
static const char *result_tostring (lua_State *L, Future *f) {
  Runtime *rt = aio_rt(L);
  int status;
  rt->repr_active[rt->repr_depth++] = f;
  lua_pushcfunction(L, aio_call_tolstring);
  lua_insert(L, -2);
  status = lua_pcall(L, 1, 1, 0);
  rt->repr_depth--;
  if (status != LUA_OK) lua_error(L);
  return lua_tostring(L, -1);
}

/*
** Pushes the state part of tostring: "pending", "cancelled",
** "finished result=..." or "finished error=...". [-0, +1, e]
*/
int future_tostring_state (lua_State *L, Future *f, int idx) {
  switch (f->state) {
    case FUT_PENDING: lua_pushliteral(L, "pending"); break;
    case FUT_CANCELLED: lua_pushliteral(L, "cancelled"); break;
    default:
      lua_getiuservalue(L, idx, FUT_UV_RESULT);
      if (!f->failed && f->nresults > 1) {
        lua_rawgeti(L, -1, 1);
        lua_remove(L, -2);
      } else if (!f->failed && f->nresults == 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
      }
      lua_pushfstring(L, "finished %s=%s", f->failed ? "error" : "result",
                      result_tostring(L, f));
      lua_replace(L, -2);
  }
  return 1;
}

static int future_tostring (lua_State *L) {
  Future *f = future_check(L, 1);
  if (future_in_tostring(L, f)) {
    lua_pushliteral(L, "...");
    return 1;
  }
  future_tostring_state(L, f, 1);
  lua_getiuservalue(L, 1, FUT_UV_LOOP);
  loop_push_created_at(L, -1, 1);
  lua_pushfstring(L, "<Future %s%s>", lua_tostring(L, -3), lua_tostring(L, -1));
  return 1;
}

/*
** The finalizer's work on the future f at index 1, which its caller
** checked: reports an error nobody retrieved. Also the tail of Task's
** __gc. [-0, +0, e]
*/
void future_finalize (lua_State *L, Future *f) {
  if (f->state == FUT_FINISHED && f->failed && !f->retrieved) {
    f->retrieved = 1;
    /* a weak key outlives its finalizer by one cycle: forget it now so the
       loop's close does not report it a second time */
    lua_getiuservalue(L, 1, FUT_UV_LOOP);
    lua_getiuservalue(L, -1, LOOP_UV_UNRETRIEVED);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 2);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, f->type == AIO_TTASK ? "Task exception was never retrieved"
                                           : "Future exception was never retrieved");
    lua_setfield(L, -2, "message");
    lua_getiuservalue(L, 1, FUT_UV_RESULT);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "error");
    lua_setfield(L, -2, "exception");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "future");  /* Python's key, a task's too */
    if (f->type == AIO_TTASK) {
      lua_pushvalue(L, 1);
      lua_setfield(L, -2, "task");
    }
    if (f->type == AIO_TTASK) {
      lua_getiuservalue(L, 1, TASK_UV_TRACEBACK);
      lua_setfield(L, -2, "traceback");
    }
    lua_getiuservalue(L, 1, FUT_UV_LOOP);
    loop_add_source(L, -2, -1, 1);
    lua_setfield(L, -2, "loop");
    aio_report(L, f->loop, -1);
    lua_pop(L, 1);
  }
}

static int future_gc (lua_State *L) {
  future_finalize(L, (Future *)aio_checkobj(L, 1, AIO_TFUTURE, "Future"));
  return 0;
}

int future_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"result", future_result},
    {"exception", future_exception},
    {"set_result", future_set_result},
    {"set_exception", future_set_exception},
    {"done", future_done},
    {"cancelled", future_cancelled},
    {"cancel", future_cancel_m},
    {"add_done_callback", future_add_done_callback},
    {"remove_done_callback", future_remove_done_callback},
    {"get_loop", future_get_loop},
    {NULL, NULL}
  };
  static const luaL_Reg meta[] = {
    {"__tostring", future_tostring},
    {"__gc", future_gc},
    {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"new_future", core_future},
    {"future_outcome", core_future_outcome},
    {"cancel_message", core_cancel_message},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_TFUTURE, AIO_FUTURE, methods, meta);
  aio_setfuncs(L, funcs);
  return 0;
}
