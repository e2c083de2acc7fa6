/*
** handle.c: Handle and TimerHandle, the scheduled callbacks of call_soon,
** call_later and call_at, and the protected call every callback goes
** through.
**
** Anchoring rule: a handle holds its loop, function and arguments in its
** user values; the loop holds the handle (ready ring or timer table) until
** it runs or is cancelled, and cancel drops the function and arguments.
** wait_for's C closure (compose.c) keeps the last deadline it made, which
** handle_reuse may reschedule once handle_disarm has cancelled it.
*/
#include "internal.h"

/* The Handle or TimerHandle at idx: one metatable read, not the registry
   lookups of luaL_testudata (wait_for cancels a deadline each time). */
static Handle *handle_check (lua_State *L, int idx) {
  Runtime *rt = aio_rt(L);
  const void *mt = NULL;
  if (lua_type(L, idx) == LUA_TUSERDATA && lua_getmetatable(L, idx)) {
    mt = lua_topointer(L, -1);
    lua_pop(L, 1);
  }
  if (mt == NULL || (mt != rt->mt[AIO_TTIMER] && mt != rt->mt[AIO_THANDLE]))
    luaL_typeerror(L, idx, AIO_HANDLE);
  return (Handle *)lua_touserdata(L, idx);
}

/*
** Pushes a new handle calling the function at fnidx with the nargs values
** after it. [-0, +1, m]
*/
int handle_new (lua_State *L, Loop *loop, int loopidx, int fnidx, int nargs,
                int istimer) {
  Handle *h;
  int i;
  loopidx = lua_absindex(L, loopidx);
  fnidx = lua_absindex(L, fnidx);
  if (nargs > AIO_MAX_ARGS)  /* the first one too many, named with its function */
    luaL_argerror(L, fnidx + 1 + AIO_MAX_ARGS,
                  lua_pushfstring(L, "too many arguments, at most %d", AIO_MAX_ARGS));
  h = (Handle *)lua_newuserdatauv(L, sizeof(Handle), HANDLE_UV_ARGS - 1 + nargs);
  h->type = AIO_THANDLE;
  h->cancelled = 0;
  h->istimer = (unsigned char)istimer;
  h->fired = 0;
  h->nargs = nargs;
  h->when = 0;
  h->slot = 0;
  h->spare = 0;
  h->debug = loop->debug;
  aio_setmetatable(L, istimer ? AIO_TTIMER : AIO_THANDLE);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, HANDLE_UV_LOOP);
  for (i = 0; i <= nargs; i++) {
    lua_pushvalue(L, fnidx + i);
    lua_setiuservalue(L, -2, HANDLE_UV_FN + i);
  }
  if (loop->debug) loop_note_source(L, loopidx, -1);
  return 1;
}

/*
** Pushes the name of the callback at idx, for messages: "function at
** file:line" for a Lua function, as Python names a callback and where it
** was written; tostring's text for anything else (its type and address if
** that fails: the report of its error must not fail, the loop would stop
** there). [-0, +1, m]
*/
void handle_push_fn_name (lua_State *L, int idx) {
  lua_Debug ar;
  if (lua_type(L, idx) == LUA_TFUNCTION && !lua_iscfunction(L, idx)) {
    lua_pushvalue(L, idx);
    lua_getinfo(L, ">S", &ar);
    lua_pushfstring(L, "function at %s:%d", ar.short_src, ar.linedefined);
  } else {
    aio_tolstring_safe(L, idx);
  }
}

/*
** Pushes the name of the callback of the handle at idx (above); what a
** cancelled handle of debug mode kept; the handle's own text once
** cancelled otherwise. [-0, +1, m]
*/
static void push_callback_name (lua_State *L, int idx) {
  int type = lua_getiuservalue(L, idx, HANDLE_UV_FN);
  if (type == LUA_TNIL) {  /* it cancelled itself as it ran */
    luaL_tolstring(L, idx, NULL);
    lua_replace(L, -2);
  } else if (type != LUA_TSTRING) {
    handle_push_fn_name(L, -1);
    lua_replace(L, -2);
  }
}

/*
** Message handler of callbacks: wraps the error with the traceback of
** where it was raised.
*/
static int callback_msgh (lua_State *L) {
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "error");
  aio_traceback(L, L, NULL, 1);
  lua_setfield(L, -2, "traceback");
  return 1;
}

/* Pushes the message handler aio_call_callback expects. [-0, +1, -] */
void aio_push_callback_msgh (lua_State *L) {
  lua_pushcfunction(L, callback_msgh);
}

/*
** Calls the function below the nargs values at the top of the stack,
** protected, with the message handler the caller pushed below it
** (aio_push_callback_msgh: pushed first, no value is moved). An error is
** reported through the exception handler with the handle at cbidx in the
** context, as Python's; a done callback has none, so cbidx is then the
** callback, followed by its future, and the report gets a handle made for
** it (the loop at loopidx). Returns whether the call succeeded.
** [-(nargs+2), +0, e]
*/
int aio_call_callback (lua_State *L, Loop *loop, int loopidx, int nargs,
                       int cbidx) {
  int base = lua_gettop(L) - nargs - 1;  /* index of the message handler */
  int status;
  cbidx = lua_absindex(L, cbidx);
  status = lua_pcall(L, nargs, 0, base);
  if (status != LUA_OK) {
    int wrapped = lua_gettop(L);
    int made = 0;  /* a handle made for the report has no source to tell */
    if (luaL_testudata(L, cbidx, AIO_HANDLE) == NULL
        && luaL_testudata(L, cbidx, AIO_TIMER) == NULL) {
      handle_new(L, loop, loopidx, cbidx, 1, 0);
      cbidx = lua_gettop(L);
      made = 1;
    }
    lua_createtable(L, 0, 5);
    push_callback_name(L, cbidx);
    lua_pushfstring(L, "Exception in callback %s", lua_tostring(L, -1));
    lua_setfield(L, -3, "message");
    lua_pop(L, 1);
    if (lua_istable(L, wrapped)) {
      lua_getfield(L, wrapped, "error");
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "error");
      lua_setfield(L, -2, "exception");
      lua_getfield(L, wrapped, "traceback");
      lua_setfield(L, -2, "traceback");
    } else {  /* an error in the handler itself (memory) */
      lua_pushvalue(L, wrapped);
      lua_setfield(L, -2, "error");
    }
    lua_pushvalue(L, cbidx);
    lua_setfield(L, -2, "handle");
    if (!made) {  /* loopidx may be 0: the handle knows its loop */
      lua_getiuservalue(L, cbidx, HANDLE_UV_LOOP);
      loop_add_source(L, -2, -1, cbidx);
      lua_pop(L, 1);
    }
    aio_report(L, loop, -1);
  }
  lua_settop(L, base - 1);
  return status == LUA_OK;
}

/* Runs the handle at idx unless it was cancelled. [-0, +0, e] */
void handle_run (lua_State *L, Loop *loop, int idx) {
  Handle *h = (Handle *)lua_touserdata(L, idx);
  int i;
  if (h->cancelled) return;
  luaL_checkstack(L, h->nargs + 2, "too many arguments");
  aio_push_callback_msgh(L);
  for (i = 0; i <= h->nargs; i++)
    lua_getiuservalue(L, idx, HANDLE_UV_FN + i);
  /* the handle stays at idx, anchoring h */
  if (aio_call_callback(L, loop, 0, h->nargs, idx)) h->fired = 1;
}

/*
** Cancels the handle h at idx (absolute), not cancelled yet. Returns
** whether it took it out of the heap of an open loop. [-0, +0, m]
*/
static int cancel (lua_State *L, Handle *h, int idx) {
  int i, removed = 0;
  h->cancelled = 1;
  if (h->slot != 0) {
    Loop *loop;
    lua_getiuservalue(L, idx, HANDLE_UV_LOOP);
    loop = (Loop *)lua_touserdata(L, -1);
    if (!loop->closed) {
      timer_remove(L, loop, lua_gettop(L), h->slot);
      removed = 1;
    }
    h->slot = 0;
    lua_pop(L, 1);
  }
  if (h->debug) push_callback_name(L, idx);  /* for tostring, as Python keeps its repr */
  else lua_pushnil(L);
  lua_setiuservalue(L, idx, HANDLE_UV_FN);
  for (i = 1; i <= h->nargs; i++) {
    lua_pushnil(L);
    lua_setiuservalue(L, idx, HANDLE_UV_FN + i);
  }
  return removed;
}

/* handle:cancel(): the callback will not run; drops its references. */
static int handle_cancel (lua_State *L) {
  Handle *h = handle_check(L, 1);
  if (!h->cancelled) cancel(L, h, 1);
  return 0;
}

/*
** The deadline of a wait_for, the handle at idx, when the wait ends:
** returns whether its callback ran (the deadline expired), else cancels
** it, as handle:cancel(). One it took out of the heap is on no queue any
** more (a TimerHandle is in the heap or the ready ring): handle_reuse may
** schedule it for the next wait_for. [-0, +0, v]
*/
int handle_disarm (lua_State *L, int idx) {
  return handle_disarm_at(L, handle_check(L, idx), idx);
}

/* handle_disarm of the handle h at idx. [-0, +0, m] */
int handle_disarm_at (lua_State *L, Handle *h, int idx) {
  if (h->fired) return 1;
  if (!h->cancelled && cancel(L, h, lua_absindex(L, idx)))
    h->spare = h->istimer && h->nargs == 1;
  return 0;
}

/*
** Pushes a TimerHandle of the loop at loopidx calling the function at
** fnidx with the value after it, not scheduled yet: h, a TimerHandle at
** spareidx (or NULL), if handle_disarm left it spare (the user values it
** had are the three it needs), else a new one. A wait_for's deadline that
** did not expire becomes the next one's, one allocation less each.
** [-0, +1, m]
*/
void handle_reuse (lua_State *L, Loop *loop, int loopidx, int fnidx,
                   Handle *h, int spareidx) {
  if (h == NULL || !h->spare) {
    handle_new(L, loop, loopidx, fnidx, 1, 1);
    return;
  }
  loopidx = lua_absindex(L, loopidx);
  fnidx = lua_absindex(L, fnidx);
  h->spare = 0;
  h->cancelled = 0;
  h->when = 0;
  h->debug = loop->debug;
  lua_pushvalue(L, spareidx);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, HANDLE_UV_LOOP);
  lua_pushvalue(L, fnidx);
  lua_setiuservalue(L, -2, HANDLE_UV_FN);
  lua_pushvalue(L, fnidx + 1);
  lua_setiuservalue(L, -2, HANDLE_UV_ARGS);
  if (loop->debug) loop_note_source(L, loopidx, -1);
}

static int handle_cancelled (lua_State *L) {
  lua_pushboolean(L, handle_check(L, 1)->cancelled);
  return 1;
}

/* timerhandle:when() -> the deadline on the loop's clock */
static int handle_when (lua_State *L) {
  Handle *h = (Handle *)luaL_checkudata(L, 1, AIO_TIMER);
  lua_pushnumber(L, h->when);
  return 1;
}

static int handle_get_loop (lua_State *L) {
  handle_check(L, 1);
  lua_getiuservalue(L, 1, HANDLE_UV_LOOP);
  return 1;
}

static int handle_tostring (lua_State *L) {
  Handle *h = handle_check(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, h->istimer ? "<TimerHandle" : "<Handle");
  if (h->cancelled) luaL_addstring(&b, " cancelled");
  if (h->istimer) {
    lua_pushfstring(L, " when=%f", h->when);
    luaL_addvalue(&b);
  }
  if (!h->cancelled || h->debug) {
    luaL_addchar(&b, ' ');
    push_callback_name(L, 1);
    luaL_addvalue(&b);
  }
  lua_getiuservalue(L, 1, HANDLE_UV_LOOP);
  loop_push_created_at(L, -1, 1);
  lua_remove(L, -2);
  luaL_addvalue(&b);
  luaL_addchar(&b, '>');
  luaL_pushresult(&b);
  return 1;
}

/* a < b and a <= b of two TimerHandles: by deadline, as Python's. */
static int timer_lt (lua_State *L) {
  Handle *a = (Handle *)luaL_checkudata(L, 1, AIO_TIMER);
  Handle *b = (Handle *)luaL_checkudata(L, 2, AIO_TIMER);
  lua_pushboolean(L, a->when < b->when);
  return 1;
}

static int timer_le (lua_State *L) {
  Handle *a = (Handle *)luaL_checkudata(L, 1, AIO_TIMER);
  Handle *b = (Handle *)luaL_checkudata(L, 2, AIO_TIMER);
  lua_pushboolean(L, a->when <= b->when);
  return 1;
}

int handle_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"cancel", handle_cancel},
    {"cancelled", handle_cancelled},
    {"get_loop", handle_get_loop},
    {NULL, NULL}
  };
  static const luaL_Reg timer_methods[] = {
    {"cancel", handle_cancel},
    {"cancelled", handle_cancelled},
    {"get_loop", handle_get_loop},
    {"when", handle_when},
    {NULL, NULL}
  };
  static const luaL_Reg meta[] = {
    {"__tostring", handle_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg timer_meta[] = {
    {"__tostring", handle_tostring},
    {"__lt", timer_lt},
    {"__le", timer_le},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_THANDLE, AIO_HANDLE, methods, meta);
  aio_newclass(L, AIO_TTIMER, AIO_TIMER, timer_methods, timer_meta);
  return 0;
}
