/*
** coro.c: coroutine objects: a userdata holding a function (user value 1)
** and its arguments (user values 2..n+1), one allocation each; await in
** coroutines.lua runs it inline, in the awaiting task.
**
** Anchoring rule: a coroutine object holds its function and arguments in
** its user values; an async function holds its body as an upvalue; the
** shared state (metatables, the sleep(0) object) is a Runtime user value.
*/
#include "internal.h"

/* Pushes the field of the coroutine state. [-0, +1, -] */
static void push_state_field (lua_State *L, const char *field) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_COROSTATE);
  lua_getfield(L, -1, field);
  lua_remove(L, -2);
}

/*
** Debug mode's making of the new coroutine object on top: it gets the
** debug metatable (state.debug_mt, whose finalizer reports it if it was
** never awaited) and the traceback of the code making it goes into
** state.sources, weak-keyed, for that report (Python's "Coroutine created
** at"). [-0, +0, m]
*/
static void set_debug_mt (lua_State *L) {
  luaL_checkstack(L, 6, "debug mode's traceback");
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_COROSTATE);
  if (lua_getfield(L, -1, "sources") == LUA_TTABLE) {
    lua_pushvalue(L, -3);
    aio_traceback(L, L, NULL, 1);  /* from the caller of the C function */
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  lua_getfield(L, -1, "debug_mt");
  lua_setmetatable(L, -3);
  lua_pop(L, 1);
}

/*
** Pushes a new coroutine object calling the function at fnidx with the n
** values from stack index first. [-0, +1, m]
*/
void coro_push (lua_State *L, int fnidx, int first, int n) {
  Coro *c;
  int i;
  fnidx = lua_absindex(L, fnidx);
  if (n > AIO_MAX_ARGS)  /* the first one too many, named with its function */
    luaL_argerror(L, first + AIO_MAX_ARGS,
                  lua_pushfstring(L, "too many arguments, at most %d", AIO_MAX_ARGS));
  c = (Coro *)lua_newuserdatauv(L, sizeof(Coro), n + 1);
  c->awaited = 0;
  c->n = n;
  lua_pushvalue(L, fnidx);
  lua_setiuservalue(L, -2, 1);
  for (i = 0; i < n; i++) {
    lua_pushvalue(L, first + i);
    lua_setiuservalue(L, -2, i + 2);
  }
  if (lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_COROMT) == LUA_TTABLE)
    lua_setmetatable(L, -2);
  else {  /* false: debug mode (core_set_coro_mt), the test costs nothing */
    lua_pop(L, 1);
    set_debug_mt(L);
  }
}

/* The coroutine object at idx, or NULL. [-0, +0, -] */
Coro *coro_test (lua_State *L, int idx) {
  Runtime *rt = aio_rt(L);
  const void *mt;
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx)) return NULL;
  mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  if (mt == NULL || (mt != rt->coro_mt[0] && mt != rt->coro_mt[1])) return NULL;
  return (Coro *)lua_touserdata(L, idx);
}

/*
** Whether the value at idx is a coroutine object: one of ours, or a
** reusable one of another module (a table whose metatable was registered
** with coroutines.register_reusable; awaiting it calls t.fn(t)).
*/
int coro_is (lua_State *L, int idx) {
  int is;
  if (coro_test(L, idx) != NULL) return 1;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  push_state_field(L, "metatables");
  lua_insert(L, -2);
  is = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return is;
}

static int reusable_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return lua_gettop(L);
}

/* The body of a task running a reusable coroutine object (upvalue 2). */
static int reusable_body (lua_State *L) {
  lua_settop(L, 0);
  lua_getfield(L, lua_upvalueindex(2), "fn");
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_callk(L, 1, LUA_MULTRET, 0, reusable_k);
  return reusable_k(L, LUA_OK, 0);
}

/*
** Replaces the reusable coroutine object at idx by a function running it,
** for a task's body. [-0, +0, m]
*/
void coro_wrap_reusable (lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, idx);
  lua_pushcclosure(L, reusable_body, 2);
  lua_replace(L, idx);
}

/* Pushes the function and arguments of the coroutine object at idx. */
int coro_pushcall (lua_State *L, Coro *c, int idx) {
  int i;
  luaL_checkstack(L, c->n + 1, "too many arguments");
  for (i = 1; i <= c->n + 1; i++) lua_getiuservalue(L, idx, i);
  return c->n;
}

/*
** A task is about to own the coroutine object at idx: replaces the shared
** sleep(0) object by a copy of its own, and marks it awaited. Returns
** whether it was awaited already (or owned by another task): such a task
** fails at its start, as Python's. [-0, +0, m]
*/
int coro_own (lua_State *L, int idx) {
  Coro *c = (Coro *)lua_touserdata(L, idx);
  int was;
  if ((const void *)c == aio_rt(L)->sleep0) {
    idx = lua_absindex(L, idx);
    lua_getiuservalue(L, idx, 1);
    lua_pushinteger(L, 0);
    coro_push(L, -2, lua_gettop(L), 1);
    lua_replace(L, idx);
    lua_pop(L, 2);  /* the function and 0 */
    c = (Coro *)lua_touserdata(L, idx);
  }
  was = c->awaited;
  c->awaited = 1;
  return was;
}

/*
** Whether the coroutine object at idx is what an unfinished task of the
** running loop runs. Only the error of a second await asks, so a search
** of the loop's tasks costs nothing to an await that succeeds.
** [-0, +0, -]
*/
static int run_by_pending_task (lua_State *L, int idx) {
  Runtime *rt = aio_rt(L);
  int i, found = 0, tasks;
  if (rt->running == NULL) return 0;
  idx = lua_absindex(L, idx);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
  lua_getiuservalue(L, -1, LOOP_UV_TASKS);
  tasks = lua_gettop(L);
  for (i = 1; i <= rt->running->ntaskslots && !found; i++) {
    if (lua_rawgeti(L, tasks, i) == LUA_TUSERDATA) {
      lua_getiuservalue(L, -1, TASK_UV_OBJ);
      found = lua_rawequal(L, -1, idx);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return found;
}

/*
** The coroutine object at index 1, checked as await needs: raises if it
** was awaited already or no task is running here. [-0, +0, v]
*/
static Coro *take (lua_State *L) {
  Coro *c = coro_test(L, 1);
  if (c == NULL) luaL_typeerror(L, 1, "coroutine object");
  if (c->awaited) {  /* Python's words; no line of ours to name */
    if (run_by_pending_task(L, 1))
      lua_pushliteral(L, "coroutine is being awaited already");
    else lua_pushliteral(L, AIO_REUSED_CORO);
    lua_error(L);
  }
  task_check_running(L);
  return c;
}

/*
** core.coro_take(co) -> fn, args...: what await runs inline. Raises if
** the object was awaited already or no task is running here; marks it.
*/
static int core_coro_take (lua_State *L) {
  Coro *c = take(L);
  c->awaited = 1;
  return coro_pushcall(L, c, 1) + 1;
}

/*
** core.coro_take_few(co) -> fn, n, args...: coro_take for an object of at
** most two arguments (most are), with their count, which lets await call
** fn with them directly (a vararg trampoline costs more than the call);
** false for one with more, which it leaves as it is. [-0, +(1|n+2), v]
*/
static int core_coro_take_few (lua_State *L) {
  Coro *c = take(L);
  if (c->n > 2) {
    lua_pushboolean(L, 0);
    return 1;
  }
  c->awaited = 1;
  lua_getiuservalue(L, 1, 1);
  lua_pushinteger(L, c->n);
  if (c->n > 0) lua_getiuservalue(L, 1, 2);
  if (c->n > 1) lua_getiuservalue(L, 1, 3);
  return c->n + 2;
}

/* core.coro_info(co) -> fn, awaited */
static int core_coro_info (lua_State *L) {
  Coro *c = coro_test(L, 1);
  if (c == NULL) return luaL_typeerror(L, 1, "coroutine object");
  lua_getiuservalue(L, 1, 1);
  lua_pushboolean(L, c->awaited);
  return 2;
}

/* core.new_coro(fn, ...) -> coroutine object */
static int core_new_coro (lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  coro_push(L, 1, 2, lua_gettop(L) - 1);
  return 1;
}

/* An async function: returns a coroutine object for its body (upvalue 2). */
static int coro_new (lua_State *L) {
  coro_push(L, lua_upvalueindex(2), 1, lua_gettop(L));
  return 1;
}

/*
** A task body bound for another thread's loop (run_coroutine_threadsafe),
** as Python's run_coroutine_threadsafe(coro, loop) is written: an async
** function at idx becomes the plain function it wraps, and a coroutine
** object alone at the top becomes its function and arguments (it counts as
** awaited: it runs there). Anything else stays for the copier to judge.
** [-0, +(0|n), m]
*/
void coro_unwrap_body (lua_State *L, int idx) {
  Coro *c;
  idx = lua_absindex(L, idx);
  if (lua_tocfunction(L, idx) == coro_new) {
    lua_getupvalue(L, idx, 2);
    lua_replace(L, idx);
  } else if (lua_gettop(L) == idx && (c = coro_test(L, idx)) != NULL
             && !c->awaited && lua_topointer(L, idx) != aio_rt(L)->sleep0) {
    int i;
    luaL_checkstack(L, c->n + 1, "too many arguments");
    c->awaited = 1;
    for (i = 1; i <= c->n + 1; i++) lua_getiuservalue(L, idx, i);
    lua_remove(L, idx);
  }
}

/* Whether the value at idx is an async function (made by asyncio.async). */
int coro_is_async_function (lua_State *L, int idx) {
  return lua_tocfunction(L, idx) == coro_new;
}

/* core.make_async(fn) -> afn */
static int core_make_async (lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, coro_new, 2);
  return 1;
}

/*
** core.set_coro_state(state): state.metatables is the set of metatables of
** coroutine objects, state.debug_mt the one of debug mode, state.sources
** a weak-keyed table for debug mode's tracebacks, state.sleep0 the shared
** sleep(0) object.
*/
static int core_set_coro_state (lua_State *L) {
  Runtime *rt = aio_rt(L);
  int i = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  aio_setup_once(L, AIO_SETUP_COROSTATE, "set_coro_state");
  lua_settop(L, 1);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_COROSTATE);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_COROSTATE);
  lua_getfield(L, 1, "metatables");
  lua_pushnil(L);
  while (lua_next(L, -2) && i < 2) {
    rt->coro_mt[i++] = lua_topointer(L, -2);
    lua_pop(L, 1);
  }
  return 0;
}

/*
** core.set_coro_mt(mt): the metatable new coroutine objects get, one of
** the state's. For state.debug_mt, false is kept instead: coro_push tells
** debug mode by the type of what it reads anyway.
*/
static int core_set_coro_mt (lua_State *L) {
  Runtime *rt = aio_rt(L);
  const void *mt;
  luaL_checktype(L, 1, LUA_TTABLE);
  mt = lua_topointer(L, 1);
  luaL_argcheck(L, mt == rt->coro_mt[0] || mt == rt->coro_mt[1], 1,
                "not a metatable of coroutine objects");
  lua_settop(L, 1);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_COROSTATE);
  lua_getfield(L, -1, "debug_mt");
  if (lua_rawequal(L, 1, -1)) lua_pushboolean(L, 0);
  else lua_pushvalue(L, 1);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_COROMT);
  return 0;
}

/* core.set_sleep0(obj): the shared sleep(0) object, anchored by the state. */
static int core_set_sleep0 (lua_State *L) {
  if (coro_test(L, 1) == NULL) return luaL_typeerror(L, 1, "coroutine object");
  aio_setup_once(L, AIO_SETUP_SLEEP0, "set_sleep0");
  aio_rt(L)->sleep0 = lua_topointer(L, 1);
  return 0;
}

int coro_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"make_async", core_make_async},
    {"coro_take", core_coro_take},
    {"coro_take_few", core_coro_take_few},
    {"coro_info", core_coro_info},
    {"new_coro", core_new_coro},
    {"set_coro_state", core_set_coro_state},
    {"set_coro_mt", core_set_coro_mt},
    {"set_sleep0", core_set_sleep0},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  return 0;
}
