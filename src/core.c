/*
** core.c: luaopen_asyncio_core, the per-state Runtime and the helpers every
** other file shares (type tests, error objects, reporting).
**
** Anchoring rule: the Runtime userdata is upvalue 1 of every core function
** and its user values hold the error classes and the running loop, so they
** live as long as any core function can still be called.
*/
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "internal.h"

char aio_mark_timer;
char aio_mark_throw;

/* Whether the value at idx can be called: a function, or a value whose
   metatable has __call. [-0, +0, -] */
int aio_iscallable (lua_State *L, int idx) {
  if (lua_type(L, idx) == LUA_TFUNCTION) return 1;
  if (luaL_getmetafield(L, idx, "__call") == LUA_TNIL) return 0;
  lua_pop(L, 1);
  return 1;
}

/*
** Checks the callback at idx of call_soon, call_later or call_at (fname):
** callable, and in debug mode not an async function, whose coroutine the
** loop would make and never await (Python's _check_callback). [-0, +0, v]
*/
void aio_check_callback (lua_State *L, Loop *loop, int idx, const char *fname) {
  if (!aio_iscallable(L, idx)) luaL_typeerror(L, idx, "function");
  if (loop->debug && coro_is_async_function(L, idx))
    luaL_argerror(L, idx, lua_pushfstring(L, "coroutines cannot be used with %s()", fname));
}

/*
** Raises the formatted message without a position: for misuse found deep
** inside the library (an await, a read), where "file:line:" would name a
** line of ours, not the caller's. [-0, +1, v]
*/
int aio_errorf (lua_State *L, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return lua_error(L);
}

/*
** Says through Lua's warning system that a socket of the named kind (fd)
** was collected open, as Python's ResourceWarning "unclosed <...>" does:
** shown only when warnings are on (lua5.4 -W, warn("@on")). Called by
** finalizers, before they close the descriptor; allocates nothing.
*/
void aio_warn_unclosed (lua_State *L, const char *name, int fd) {
  char msg[80];
  snprintf(msg, sizeof(msg), "unclosed <%s fd=%d>", name, fd);
  lua_warning(L, msg, 0);
}

/*
** Pushes the source prefix of this library's Lua files (hooks.libsource)
** and returns it, or pushes nil and returns NULL: a finalizer of ours may
** have no Runtime upvalue, and then there is no directory. [-0, +1, -]
*/
const char *aio_push_libsource (lua_State *L, size_t *len) {
  int top = lua_gettop(L);
  const char *lib = NULL;
  lua_pushnil(L);  /* slot top + 1: the string, which anchors lib */
  if (lua_type(L, lua_upvalueindex(1)) == LUA_TUSERDATA
      && lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_HOOKS) == LUA_TTABLE
      && lua_getfield(L, -1, "libsource") == LUA_TSTRING) {
    lib = lua_tolstring(L, -1, len);
    lua_copy(L, -1, top + 1);
  }
  lua_settop(L, top + 1);
  return lib;
}

/* tostring(value at 1), as a C function to call protected. */
int aio_call_tolstring (lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/*
** Pushes tostring of the value at idx, or its type and address if its
** __tostring fails: for the messages the loop makes of users' values,
** which must not stop it. [-0, +1, m]
*/
const char *aio_tolstring_safe (lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, aio_call_tolstring);
  lua_pushvalue(L, idx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    lua_pop(L, 1);
    lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
  }
  return lua_tostring(L, -1);
}

/*
** Raises "Event loop is closed", placed as luaL_error would place it (no
** position when a C function such as pcall called), but past the Lua
** functions of this library (hooks.libsource names their directory): a
** wrapper of ours (ensure_future, gather) calling the C function in
** between is not what the user wrote. [-0, +1, v]
*/
int aio_loop_closed (lua_State *L) {
  lua_Debug ar;
  size_t liblen = 0;
  const char *lib = aio_push_libsource(L, &liblen);
  int level;
  for (level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline <= 0) break;  /* a C caller (pcall): no position */
    if (lib != NULL && strncmp(ar.source, lib, liblen) == 0) continue;
    lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, AIO_LOOP_CLOSED);
    return lua_error(L);
  }
  lua_pushliteral(L, AIO_LOOP_CLOSED);
  return lua_error(L);
}

double aio_now (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
** Type tag of the value at idx (AIO_TNONE for anything that is not ours).
** [-0, +0, -]
*/
int aio_typeof (lua_State *L, Runtime *rt, int idx) {
  const void *mt;
  int i;
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
    return AIO_TNONE;
  mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  for (i = 1; i < AIO_NTYPES; i++)
    if (rt->mt[i] == mt) return i;
  return AIO_TNONE;
}

/*
** The object of the given type at idx, else a type error naming tname:
** metamethods such as __gc are reachable from Lua (getmetatable), so they
** check their argument like any method. [-0, +0, v]
*/
void *aio_checkobj (lua_State *L, int idx, int type, const char *tname) {
  void *p = aio_toobj(L, aio_rt(L), idx, type);
  if (p == NULL) luaL_typeerror(L, idx, tname);
  return p;
}

/*
** The setup calls the Lua layer makes when it loads (core.set_errors and
** the like) are refused the second time: the core trusts what they
** install, and require("asyncio.core") is open to any script. [-0, +0, v]
*/
void aio_setup_once (lua_State *L, unsigned which, const char *name) {
  Runtime *rt = aio_rt(L);
  if (rt->setup_done & which)
    luaL_error(L, "asyncio core: %s was called already", name);
  rt->setup_done |= which;
}

/* Registers functions with the Runtime as their only upvalue. */
void aio_setfuncs (lua_State *L, const luaL_Reg *l) {
  for (; l->name != NULL; l++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushcclosure(L, l->func, 1);
    lua_setfield(L, -2, l->name);
  }
}

/*
** Creates the metatable of one of our userdata types: __index is the
** methods table, __name the type name; records it for aio_typeof and
** stores the methods table in the module table (at the top of the stack)
** under the short type name, so the Lua layer can add methods. [-0, +0, e]
*/
void aio_newclass (lua_State *L, int type, const char *name,
                   const luaL_Reg *methods, const luaL_Reg *meta) {
  Runtime *rt = aio_rt(L);
  luaL_newmetatable(L, name);
  rt->mt[type] = lua_topointer(L, -1);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_MT - 1 + type);
  aio_setfuncs(L, meta);
  lua_newtable(L);
  aio_setmethods(L, methods);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua_setfield(L, -3, strrchr(name, '.') + 1);
  lua_pushfstring(L, "%s_mt", strrchr(name, '.') + 1);
  lua_insert(L, -2);
  lua_settable(L, -3);  /* module.<Name>_mt = metatable */
}

/*
** Sets the metatable of our type on the value at the top of the stack,
** without the registry's string lookup of luaL_setmetatable: one user
** value of the Runtime per type. [-0, +0, -]
*/
void aio_setmetatable (lua_State *L, int type) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_MT - 1 + type);
  lua_setmetatable(L, -2);
}

/*
** Pushes a new instance of the error class named cls with message msg.
** [-0, +1, e]
*/
int aio_pusherror (lua_State *L, const char *cls, const char *msg) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  if (lua_getfield(L, -1, cls) == LUA_TNIL)
    return luaL_error(L, "asyncio core: error class '%s' is not registered", cls);
  lua_remove(L, -2);
  if (msg) lua_pushstring(L, msg); else lua_pushnil(L);
  lua_call(L, 1, 1);
  return 1;
}

/* Same, with the message (any value, nil allowed) at msgidx. [-0, +1, e] */
int aio_pusherrorv (lua_State *L, const char *cls, int msgidx) {
  msgidx = lua_absindex(L, msgidx);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  if (lua_getfield(L, -1, cls) == LUA_TNIL)
    return luaL_error(L, "asyncio core: error class '%s' is not registered", cls);
  lua_remove(L, -2);
  lua_pushvalue(L, msgidx);
  lua_call(L, 1, 1);
  return 1;
}

/*
** Whether the value at idx is a CancelledError (or a subclass): its
** metatable, or one reached through the classes' __parent links, is the
** class. [-0, +0, -]
*/
/*
** If the value at idx is an error class itself (error(asyncio.TimeoutError),
** set_exception(asyncio.TimeoutError)), replaces it with a new instance,
** as Python's `raise TimeoutError` makes one. [-0, +0, e]
*/
void aio_instantiate_class (lua_State *L, int idx) {
  int isclass;
  if (lua_type(L, idx) != LUA_TTABLE) return;
  idx = lua_absindex(L, idx);
  lua_pushliteral(L, "__aio_error");
  isclass = lua_rawget(L, idx) != LUA_TNIL;
  lua_pop(L, 1);
  if (!isclass) return;
  lua_pushvalue(L, idx);
  lua_call(L, 0, 1);  /* the class's __call: Class() */
  lua_replace(L, idx);
}

int aio_is_cancelled_error (lua_State *L, int idx) {
  int found = 0, depth = 0;
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  idx = lua_absindex(L, idx);
  lua_pushliteral(L, "__aio_error");
  if (lua_rawget(L, idx) != LUA_TNIL) {  /* a class raised as it is */
    lua_pop(L, 1);
    lua_pushvalue(L, idx);
  } else {
    lua_pop(L, 1);
    if (!lua_getmetatable(L, idx)) return 0;
  }
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  lua_getfield(L, -1, "CancelledError");
  lua_remove(L, -2);             /* mt, class */
  while (lua_istable(L, -2) && depth++ < 32) {
    if (lua_rawequal(L, -1, -2)) { found = 1; break; }
    lua_pushliteral(L, "__parent");
    lua_rawget(L, -3);
    lua_replace(L, -3);
  }
  lua_pop(L, 2);
  return found;
}

/*
** Hands a context table (at ctxidx) to the loop's exception handler. While
** the loop runs, the report is queued and delivered between callbacks, so a
** finalizer never runs user code in the middle of our own bookkeeping;
** otherwise the Lua layer's hook delivers it at once. [-0, +0, e]
*/
void aio_report (lua_State *L, Loop *loop, int ctxidx) {
  ctxidx = lua_absindex(L, ctxidx);
  if (loop != NULL && loop->running && !loop->delivering && !loop->closed) {
    lua_Integer n;
    loop_pushself(L, loop, 0);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); goto direct; }
    lua_getiuservalue(L, -1, LOOP_UV_REPORTS);
    n = (lua_Integer)lua_rawlen(L, -1);
    lua_pushvalue(L, ctxidx);
    lua_rawseti(L, -2, n + 1);
    lua_pop(L, 2);
    loop->nreports++;
    return;
  }
direct:
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_HOOKS);
  if (lua_getfield(L, -1, "report") == LUA_TFUNCTION) {
    lua_pushvalue(L, ctxidx);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      lua_writestringerror("asyncio: error in exception handler: %s\n",
                           luaL_tolstring(L, -1, NULL));
      lua_pop(L, 2);
    }
  } else lua_pop(L, 1);
  lua_pop(L, 1);
}

/* core.set_errors(classes): the Lua layer registers its error classes. */
static int core_set_errors (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  aio_setup_once(L, AIO_SETUP_ERRORS, "set_errors");
  lua_settop(L, 1);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  return 0;
}

/* core.set_hooks(hooks): functions the core calls into the Lua layer. */
static int core_set_hooks (lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  aio_setup_once(L, AIO_SETUP_HOOKS, "set_hooks");
  lua_settop(L, 1);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_HOOKS);
  return 0;
}

/* core.typeof(x) -> "loop" | "future" | "task" | "handle" | "timer" | nil */
static int core_typeof (lua_State *L) {
  static const char *const names[] = {
    NULL, "loop", "future", "task", "handle", "timerhandle", "watcher",
    "stream", "streamreader", "streamwriter", "listener", "datagram", "resolver"
  };
  int t = aio_typeof(L, aio_rt(L), 1);
  if (t == AIO_TNONE) lua_pushnil(L);
  else lua_pushstring(L, names[t]);
  return 1;
}

/* core.monotonic() -> seconds */
static int core_monotonic (lua_State *L) {
  lua_pushnumber(L, aio_now());
  return 1;
}

/* core.is_callable(x) -> whether x is a function or has __call */
static int core_is_callable (lua_State *L) {
  lua_pushboolean(L, aio_iscallable(L, 1));
  return 1;
}

/* Pushes a new table whose keys ("k") or values ("v") are weak. [-0, +1, m] */
void aio_newweak (lua_State *L, const char *mode) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
}

/* Gives the Runtime at the top of the stack its weak traceback table. */
void aio_settracebacktable (lua_State *L) {
  aio_newweak(L, "k");
  lua_setiuservalue(L, -2, RT_UV_TRACEBACKS);
}

static const luaL_Reg core_funcs[] = {
  {"set_errors", core_set_errors},
  {"set_hooks", core_set_hooks},
  {"typeof", core_typeof},
  {"monotonic", core_monotonic},
  {"is_callable", core_is_callable},
  {"arena_stats", arena_stats},
  {NULL, NULL}
};

static int runtime_open (lua_State *L) {
  Runtime *rt = (Runtime *)lua_newuserdatauv(L, sizeof(Runtime), RT_NUV);
  memset(rt, 0, sizeof(*rt));
  aio_settracebacktable(L);
  lua_newtable(L);
  lua_setiuservalue(L, -2, RT_UV_ERRORS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, RT_UV_HOOKS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, RT_UV_COROSTATE);
  return 1;
}

/*
** The module opener runs every file's opener as a closure over the Runtime,
** so each registers its functions with the Runtime as upvalue 1.
*/
LUAMOD_API int luaopen_asyncio_core (lua_State *L) {
  static const lua_CFunction openers[] = {
    loop_open, loop_make_open, sources_open, timer_open, handle_open, future_open, task_open, task_wait_open,
    spawn_open,
    coro_open,
    watcher_open, signame_open, fdutil_open, socket_open, adopt_open, stream_open, datagram_open, resolver_open,
    process_open,
    queue_open, threadsafe_open, thread_open,
    compose_open,
    NULL
  };
  int i, rtidx, modidx;
  arena_install(L);  /* first, so the core's own objects come from it */
  runtime_open(L);
  rtidx = lua_gettop(L);
  lua_newtable(L);
  modidx = lua_gettop(L);
  for (i = 0; openers[i] != NULL; i++) {
    lua_pushvalue(L, rtidx);
    lua_pushcclosure(L, openers[i], 1);
    lua_pushvalue(L, modidx);
    lua_call(L, 1, 0);
  }
  for (i = 0; core_funcs[i].name != NULL; i++) {
    lua_pushvalue(L, rtidx);
    lua_pushcclosure(L, core_funcs[i].func, 1);
    lua_setfield(L, modidx, core_funcs[i].name);
  }
  lua_pushinteger(L, ev_version_major() * 100 + ev_version_minor());
  lua_setfield(L, modidx, "libev_version");
  lua_pushliteral(L, AIO_NIL_ERROR);
  lua_setfield(L, modidx, "NIL_ERROR");
  return 1;
}
