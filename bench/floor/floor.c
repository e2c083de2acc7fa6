/*
** The floor under any Lua 5.4 coroutine runtime on libev: what the bare
** mechanisms cost when driven from C, with no scheduler around them.
**
**   floor [N=1000000 [NALIVE=200000]]
**
** Prints one line, RESULT floor c key=value ..., with nanoseconds per:
**   resume_yield_ns      lua_resume() of a coroutine whose Lua body loops on
**                        coroutine.yield(): one resume/yield round trip
**   lifecycle_ns         lua_newthread + lua_resume of `return i` to the end;
**                        the dead threads are left to the GC (its cost counts)
**   lifecycle_1y_ns      the same, the body yielding once first (2 resumes):
**                        with one thread alive at a time
**   alive_1y_ns          the same for NALIVE coroutines alive at once, as the
**                        `spawn` workload keeps them: all made and resumed to
**                        their yield, then each resumed to its end. The GC
**                        then marks every live thread in each of its cycles,
**                        and the memory they take is fresh: the least one
**                        task of `spawn` can cost
**   ev_iter_ns           one ev_run iteration with an active ev_idle watcher
**                        (libev then polls with a zero timeout)
**   ev_resume_ns         the same, the idle callback resuming a coroutine that
**                        yields back: the least one `switch` yield can cost
**   lua_resume_yield_ns  coroutine.resume/yield round trip driven from Lua
*/

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ev.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>


static lua_State *L;  /* main state; every coroutine is a thread of it */
static long N;        /* iterations per measurement */
static long NALIVE;   /* coroutines alive at once in alive_1y_ns */


static double now (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


/* Push the function that the chunk `src` returns. [-0, +1] */
static void push_chunk (const char *src) {
  if (luaL_dostring(L, src) != LUA_OK) {
    fprintf(stderr, "floor: %s\n", lua_tostring(L, -1));
    exit(1);
  }
}


/* Resume `co` with `nargs` arguments; exit unless it ends with `expected`
** (LUA_YIELD or LUA_OK). Its results are dropped. */
static void resume (lua_State *co, int nargs, int expected) {
  int nres;
  int status = lua_resume(co, L, nargs, &nres);
  if (status != expected) {
    fprintf(stderr, "floor: lua_resume returned %d: %s\n", status,
            lua_tostring(co, -1));
    exit(1);
  }
  lua_pop(co, nres);
}


/* A coroutine parked in an endless yield loop, anchored in the registry. */
static lua_State *new_yielder (void) {
  lua_State *co = lua_newthread(L);
  luaL_ref(L, LUA_REGISTRYINDEX);
  push_chunk("return function () local yield = coroutine.yield "
             "while true do yield() end end");
  lua_xmove(L, co, 1);
  resume(co, 0, LUA_YIELD);  /* run up to the first yield */
  return co;
}


static double measure_resume_yield (void) {
  lua_State *co = new_yielder();
  double t0 = now();
  for (long i = 0; i < N; i++)
    resume(co, 0, LUA_YIELD);
  return (now() - t0) / N * 1e9;
}


/* Push a new thread running the function at index fn, resumed once with
** i as its argument up to `expected` (its yield or its end). */
static lua_State *start (int fn, long i, int expected) {
  lua_State *co = lua_newthread(L);
  lua_pushvalue(L, fn);
  lua_pushinteger(L, i);
  lua_xmove(L, co, 2);
  resume(co, 1, expected);
  return co;
}


/* Create, run and drop N coroutines of the function that `src` returns;
** the function yields `yields` times before it returns. */
static double measure_lifecycle (const char *src, int yields) {
  push_chunk(src);
  int fn = lua_gettop(L);
  double t0 = now();
  for (long i = 0; i < N; i++) {
    lua_State *co = start(fn, i, yields > 0 ? LUA_YIELD : LUA_OK);
    for (int y = 1; y <= yields; y++)
      resume(co, 0, y < yields ? LUA_YIELD : LUA_OK);
    lua_pop(L, 1);  /* the dead thread is now garbage */
  }
  double dt = now() - t0;
  lua_settop(L, fn - 1);
  return dt / N * 1e9;
}


/* NALIVE coroutines of `function (i) coroutine.yield() return i end`, all
** made and run to their yield (kept in a table, as a scheduler keeps its
** tasks) before the first is resumed to its end. */
static double measure_alive (void) {
  push_chunk("return function (i) coroutine.yield() return i end");
  int fn = lua_gettop(L);
  lua_createtable(L, (int)NALIVE, 0);
  int threads = lua_gettop(L);
  double t0 = now();
  for (long i = 1; i <= NALIVE; i++) {
    start(fn, i, LUA_YIELD);
    lua_rawseti(L, threads, i);
  }
  for (long i = 1; i <= NALIVE; i++) {
    lua_rawgeti(L, threads, i);
    resume(lua_tothread(L, -1), 0, LUA_OK);
    lua_pop(L, 1);
    lua_pushnil(L);  /* done: garbage from now on */
    lua_rawseti(L, threads, i);
  }
  double dt = now() - t0;
  lua_settop(L, fn - 1);
  return dt / NALIVE * 1e9;
}


static long idle_count;      /* idle callbacks run so far */
static lua_State *idle_co;   /* coroutine each idle callback resumes, or NULL */

static void idle_cb (struct ev_loop *loop, ev_idle *w, int revents) {
  (void)revents;
  if (idle_co != NULL)
    resume(idle_co, 0, LUA_YIELD);
  if (++idle_count == N)
    ev_idle_stop(loop, w);  /* nothing active left: ev_run returns */
}


/* N libev iterations, each running one idle callback that resumes `co`
** when it is not NULL. */
static double measure_ev (lua_State *co) {
  struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
  ev_idle idle;
  ev_idle_init(&idle, idle_cb);
  ev_idle_start(loop, &idle);
  idle_count = 0;
  idle_co = co;
  double t0 = now();
  ev_run(loop, 0);
  double dt = now() - t0;
  ev_loop_destroy(loop);
  return dt / N * 1e9;
}


static double measure_lua_level (void) {
  push_chunk("return function (n) "
             "local co = coroutine.wrap(function () local yield = coroutine.yield "
             "while true do yield() end end) "
             "co() "
             "local clock = os.clock local t0 = clock() "
             "for _ = 1, n do co() end "
             "return (clock() - t0) / n * 1e9 end");
  lua_pushinteger(L, N);
  lua_call(L, 1, 1);
  double ns = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return ns;
}


int main (int argc, char **argv) {
  N = argc > 1 ? atol(argv[1]) : 1000000;
  NALIVE = argc > 2 ? atol(argv[2]) : 200000;
  if (N <= 0 || NALIVE <= 0 || NALIVE > INT_MAX) {
    fprintf(stderr, "usage: %s [N > 0 [NALIVE > 0]]\n", argv[0]);
    return 64;
  }
  L = luaL_newstate();
  luaL_openlibs(L);
  double resume_yield = measure_resume_yield();
  double lifecycle = measure_lifecycle("return function (i) return i end", 0);
  double lifecycle_1y = measure_lifecycle(
      "return function (i) coroutine.yield() return i end", 1);
  double alive_1y = measure_alive();
  double ev_iter = measure_ev(NULL);
  double ev_resume = measure_ev(new_yielder());
  double lua_level = measure_lua_level();
  printf("RESULT floor c resume_yield_ns=%.1f lifecycle_ns=%.1f "
         "lifecycle_1y_ns=%.1f alive_1y_ns=%.1f ev_iter_ns=%.1f "
         "ev_resume_ns=%.1f lua_resume_yield_ns=%.1f\n", resume_yield,
         lifecycle, lifecycle_1y, alive_1y, ev_iter, ev_resume, lua_level);
  lua_close(L);
  return 0;
}
