/*
** spawn.c: making tasks: the body every task coroutine runs,
** create_task, task factories and eager starts.
**
** Anchoring rule: a new task is anchored by its loop's task table and its
** ready-queue entry (task.c says the rest); a loop's task factory lives in
** the loop's Lua table (LOOP_UV_LUA), the task body in the Runtime.
*/
#include "internal.h"

/*
** Eager starts nested deeper than this start on the next iteration
** instead: each one nests a resume in the C stack, and Lua allows about
** 200 nested C calls (LUAI_MAXCCALLS), of which this leaves over half to
** the tasks' own code.
*/
#define EAGER_DEPTH_MAX 24

/* After the protected call: (obj, msgh, results...) or (obj, msgh, error);
   the flag goes last, so that nothing is moved. */
static int body_k (lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lua_pushboolean(L, status == LUA_OK || status == LUA_YIELD);
  return lua_gettop(L) - 2;
}

/*
** The main function of every task coroutine: body(obj) -> results..., true
** | error, false. obj is a coroutine object (its function is called with
** its arguments) or a function. The call is protected inside the
** coroutine, so to-be-closed variables are closed there, where they may
** still await; the message handler (upvalue 2) records where an error was
** raised.
*/
static int task_body (lua_State *L) {
  int n = 0;
  lua_pushvalue(L, lua_upvalueindex(2));  /* 2: msgh */
  if (lua_type(L, 1) == LUA_TUSERDATA)
    n = coro_pushcall(L, (Coro *)lua_touserdata(L, 1), 1);
  else lua_pushvalue(L, 1);
  return body_k(L, lua_pcallk(L, n, LUA_MULTRET, 2, 0, body_k), 0);
}

/*
** Pushes a new task on the loop at loopidx running the coroutine object or
** function at objidx, named by the string at nameidx (0: default name).
** It starts on the next iteration or, if eager and the loop is running in
** this state, at once: its first step runs inside this call, up to its
** first suspension or its end (Python's eager start). [-0, +1, e]
*/
static void task_new (lua_State *L, Loop *loop, int loopidx, int objidx,
                      int nameidx, int eager) {
  Runtime *rt = loop->rt;
  Task *t;
  Coro *c = NULL;  /* the coroutine object at objidx, until taken */
  int tidx, slot, isobj = lua_type(L, objidx) == LUA_TUSERDATA;
  int start_now = eager && rt->running == loop && loop->eager_depth < EAGER_DEPTH_MAX;
  loopidx = lua_absindex(L, loopidx);
  objidx = lua_absindex(L, objidx);
  t = (Task *)lua_newuserdatauv(L, sizeof(Task), TASK_NUV);
  tidx = lua_gettop(L);
  memset(t, 0, sizeof(*t));
  /* Everything that allocates comes first, while the task has no
     finalizer and its coroutine object is not taken: a memory error here
     leaves no task to report as destroyed pending, and an object the
     caller may still use. That is the fresh copy the shared sleep(0)
     object is taken as, the task's slot in the loop's table of tasks
     (false until the task is whole: all_tasks skips it) and room in the
     ready ring. */
  if (isobj) {
    c = (Coro *)lua_touserdata(L, objidx);
    if ((const void *)c == rt->sleep0) {
      t->reused = (unsigned char)coro_own(L, objidx);
      c = NULL;  /* taken: objidx now holds the copy */
    }
  }
  if (loop->debug) loop_note_source(L, loopidx, tidx);
  slot = loop_task_slot(L, loop);
  lua_getiuservalue(L, loopidx, LOOP_UV_TASKS);
  lua_pushboolean(L, 0);
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
  if (!start_now) loop_ready_reserve(L, loop, loopidx);
  /* a finalizer run by those allocations may have closed the loop */
  if (loop->closed) {
    lua_getiuservalue(L, loopidx, LOOP_UV_TASKS);
    lua_pushnil(L);
    lua_rawseti(L, -2, slot);
    aio_loop_closed(L);
  }
  /* from here on nothing allocates until the task is queued */
  aio_setmetatable(L, AIO_TTASK);
  future_init(L, &t->fut, AIO_TTASK, loopidx);
  t->id = ++rt->task_counter;
  /* as Python: only a task without a name of its own takes a number */
  if (nameidx == 0) t->namenum = ++rt->name_counter;
  t->wait = WAIT_READY;
  if (c != NULL) {  /* coro_own of any other object, inline: it is not
                       sleep(0), as the test above found */
    t->reused = c->awaited;
    c->awaited = 1;
  }
  lua_pushvalue(L, objidx);
  lua_setiuservalue(L, tidx, TASK_UV_OBJ);  /* what get_coro returns */
  if (nameidx) {
    lua_pushvalue(L, nameidx);
    lua_setiuservalue(L, tidx, TASK_UV_NAME);
  }
  /* unfinished: all_tasks sees it (a store in the slot made above) */
  t->tslot = slot;
  lua_getiuservalue(L, loopidx, LOOP_UV_TASKS);
  lua_pushvalue(L, tidx);
  lua_rawseti(L, -2, slot);
  lua_pop(L, 1);
  loop->ntasks_created++;
  if (start_now) {
    loop->eager_depth++;
    task_step(L, loop, loopidx, tidx, t, 0, 0);
    loop->eager_depth--;
    if (t->fut.state != FUT_PENDING) {  /* as Python 3.13: done at once,
                                           get_coro() is nil from now on */
      lua_pushnil(L);
      lua_setiuservalue(L, tidx, TASK_UV_OBJ);
    }
  } else loop_ready_push(L, loop, loopidx, tidx, 0);
  lua_settop(L, tidx);
}

/*
** Checks create_task's arguments at objidx and optsidx; returns the index
** of the name (0 if none) and sets *eager from opts.eager_start (*eager is
** left alone when the option is absent).
*/
static int check_task_args (lua_State *L, int objidx, int optsidx, int *eager) {
  int nameidx = 0;
  if (lua_type(L, objidx) == LUA_TFUNCTION) {
    if (coro_is_async_function(L, objidx))  /* its result would be a coroutine
                                               object nobody awaits */
      luaL_argerror(L, objidx, "coroutine object expected, got async function; call it first");
  } else if (!coro_is(L, objidx))
    luaL_typeerror(L, objidx, "coroutine object or function");
  if (!lua_isnoneornil(L, optsidx)) {
    luaL_checktype(L, optsidx, LUA_TTABLE);
    lua_pushnil(L);  /* as Python's keywords: no option it does not know */
    while (lua_next(L, optsidx)) {
      const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
      if (k == NULL || (strcmp(k, "name") != 0 && strcmp(k, "eager_start") != 0))
        luaL_argerror(L, optsidx, lua_pushfstring(L, "unknown option '%s'",
                                                  k ? k : luaL_typename(L, -2)));
      lua_pop(L, 1);
    }
    if (lua_getfield(L, optsidx, "name") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING) {  /* as Python's str(name) */
        luaL_tolstring(L, -1, NULL);
        lua_remove(L, -2);
      }
      nameidx = lua_gettop(L);
    } else lua_pop(L, 1);
    switch (lua_getfield(L, optsidx, "eager_start")) {
      case LUA_TNIL: break;
      case LUA_TBOOLEAN: *eager = lua_toboolean(L, -1); break;
      default:
        luaL_argerror(L, optsidx, lua_pushfstring(L, "eager_start must be a boolean, got %s",
                                                  luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
  }
  return nameidx;
}

static int core_eager_task_factory (lua_State *L);

/*
** Pushes the task made by the task factory of the loop at loopidx:
** factory(loop, obj, opts), opts being the table at optsidx or nil. What
** it returns must be a Future (Python's rule). The arguments were checked:
** nameidx and eager are what check_task_args found (eager < 0: no
** eager_start option). [-0, +1, e]
*/
static void task_from_factory (lua_State *L, Loop *loop, int loopidx,
                               int objidx, int optsidx, int nameidx, int eager) {
  Future *f;
  loopidx = lua_absindex(L, loopidx);
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_getfield(L, -1, "task_factory");
  lua_remove(L, -2);
  if (lua_tocfunction(L, -1) == core_eager_task_factory) {
    lua_pop(L, 1);  /* the eager factory, without a call */
    task_new(L, loop, loopidx, objidx, nameidx, eager != 0);
    return;
  }
  lua_pushvalue(L, loopidx);
  lua_pushvalue(L, objidx);
  if (optsidx) lua_pushvalue(L, optsidx);
  else lua_pushnil(L);
  lua_call(L, 3, 1);
  f = future_test(L, aio_rt(L), -1);
  if (f == NULL)
    luaL_error(L, "the task factory returned %s, not a Task or Future",
               luaL_typename(L, -1));
  if (nameidx && f->type == AIO_TTASK) {
    /* as Python 3.13's create_task, which names what the factory made:
       a factory that ignores opts does not lose the name */
    luaL_tolstring(L, nameidx, NULL);
    lua_setiuservalue(L, -2, TASK_UV_NAME);
  }
}

/*
** Pushes a task for create_task, its arguments checked (nameidx, eager:
** what check_task_args found): the loop's task factory makes it if one is
** set, else task_new. [-0, +1, e]
*/
static void task_create (lua_State *L, Loop *loop, int loopidx, int objidx,
                         int optsidx, int nameidx, int eager) {
  if (loop->has_task_factory)
    task_from_factory(L, loop, loopidx, objidx, optsidx, nameidx, eager);
  else task_new(L, loop, loopidx, objidx, nameidx, eager > 0);
}

/* loop:create_task(coro [, opts]) -> Task */
static int loop_create_task (lua_State *L) {
  int eager = -1, nameidx;
  Loop *loop = loop_checkopen(L, 1);
  lua_settop(L, 3);
  nameidx = check_task_args(L, 2, 3, &eager);
  task_create(L, loop, 1, 2, 3, nameidx, eager);
  return 1;
}

/*
** asyncio.create_task(coro [, opts]) -> Task, on the running loop, or the
** current one (hooks.get_event_loop) when none runs.
*/
static int core_create_task (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Loop *loop;
  int eager = -1, nameidx;
  lua_settop(L, 2);
  nameidx = check_task_args(L, 1, 2, &eager);  /* before the loop is looked for */
  if (rt->running != NULL) {  /* RT_UV_RUNNING holds it: no type test */
    loop = rt->running;
    lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_RUNNING);
    if (loop->closed) aio_loop_closed(L);
  } else {
    lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_HOOKS);
    lua_getfield(L, -1, "get_event_loop");
    lua_remove(L, -2);
    lua_call(L, 0, 1);
    loop = loop_checkopen(L, -1);
  }
  task_create(L, loop, lua_gettop(L), 1, 2, nameidx, eager);
  return 1;
}

/*
** core.new_task(loop, obj [, name]) -> Task: for the Lua layer (gather,
** wait, ensure_future...), through the task factory as create_task.
*/
static int core_new_task (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  lua_settop(L, 3);
  if (lua_type(L, 2) != LUA_TFUNCTION && !coro_is(L, 2))
    luaL_typeerror(L, 2, "coroutine object or function");
  if (loop->has_task_factory) {
    if (lua_isnil(L, 3)) task_from_factory(L, loop, 1, 2, 0, 0, -1);
    else {
      lua_createtable(L, 0, 1);
      lua_pushvalue(L, 3);
      lua_setfield(L, -2, "name");
      task_from_factory(L, loop, 1, 2, 4, 3, -1);
    }
  } else task_new(L, loop, 1, 2, lua_isnil(L, 3) ? 0 : 3, 0);
  return 1;
}

/*
** Pushes a task of the open loop at loopidx running the coroutine object
** at objidx (checked), made as core.new_task(loop, obj) makes it, for
** gather's C loop (compose.c): called from C, it spares the C-call level
** a lua_call of new_task would take from each nested eager start, and
** its errors keep the position of gather's line. [-0, +1, e]
*/
void spawn_task_for (lua_State *L, Loop *loop, int loopidx, int objidx) {
  if (loop->has_task_factory) task_from_factory(L, loop, loopidx, objidx, 0, 0, -1);
  else task_new(L, loop, loopidx, objidx, 0, 0);
}

/*
** asyncio.eager_task_factory(loop, coro [, opts]) -> Task: the factory of
** eager tasks (loop:set_task_factory(asyncio.eager_task_factory)); they
** start at once unless opts.eager_start is false.
*/
static int core_eager_task_factory (lua_State *L) {
  int eager = 1, nameidx;
  Loop *loop = loop_checkopen(L, 1);
  lua_settop(L, 3);
  nameidx = check_task_args(L, 2, 3, &eager);
  task_new(L, loop, 1, 2, nameidx, eager);
  return 1;
}

/* loop:set_task_factory(factory_or_nil) */
static int loop_set_task_factory (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  if (!lua_isnil(L, 2) && !aio_iscallable(L, 2))
    luaL_typeerror(L, 2, "function or nil");
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, LOOP_UV_LUA);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "task_factory");
  loop->has_task_factory = !lua_isnil(L, 2);
  return 0;
}

/* loop:get_task_factory() -> the factory, or nil for the default */
static int loop_get_task_factory (lua_State *L) {
  loop_check(L, 1);
  lua_getiuservalue(L, 1, LOOP_UV_LUA);
  lua_getfield(L, -1, "task_factory");
  return 1;
}

/*
** Message handler of task bodies: records the traceback of the failing
** coroutine, and on asyncio error objects that have none, sets it.
*/
static int task_msgh (lua_State *L) {
  aio_instantiate_class(L, 1);
  aio_traceback(L, L, NULL, 1);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_TRACEBACKS);
  lua_pushthread(L);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    int ours = lua_getfield(L, -1, "__aio_error") != LUA_TNIL;
    lua_pop(L, 2);
    if (ours) {
      lua_pushliteral(L, "traceback");
      if (lua_rawget(L, 1) == LUA_TNIL) {
        lua_pushvalue(L, -2);
        lua_setfield(L, 1, "traceback");
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, 1);
  return 1;
}

int spawn_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"create_task", core_create_task},
    {"new_task", core_new_task},
    {"eager_task_factory", core_eager_task_factory},
    {NULL, NULL}
  };
  static const luaL_Reg loop_methods[] = {
    {"create_task", loop_create_task},
    {"set_task_factory", loop_set_task_factory},
    {"get_task_factory", loop_get_task_factory},
    {NULL, NULL}
  };
  aio_setfunctions(L, funcs);
  lua_getfield(L, 1, "Loop");
  aio_setmethods(L, loop_methods);
  lua_pop(L, 1);
  /* the body of task coroutines, with the message handler as upvalue 2 */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, task_msgh, 1);
  lua_pushcclosure(L, task_body, 2);
  lua_setiuservalue(L, lua_upvalueindex(1), RT_UV_BODY);
  return 0;
}
