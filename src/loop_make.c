/*
** loop_make.c: a loop's beginning and end: core.new_loop, with the libev
** loop and the async watcher other threads wake it by, and loop_close,
** which releases all of that (close(), or the collector).
**
** Anchoring rule: a new loop's scheduled work goes into tables in its own
** user values, made here; loop_close stops every libev watcher before it
** replaces those tables, and destroys the libev loop last.
*/
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/*
** Releases everything the loop holds: stops watchers, drops queued work,
** frees the timer heap and destroys the libev loop. Idempotent.
** [-0, +0, -]
*/
void loop_close (lua_State *L, Loop *loop, int loopidx) {
  if (loop->closed) return;
  loop->closed = 1;
  threadsafe_detach(loop);  /* no other thread may reach it from now on */
  watcher_stopall(L, loop, loopidx);
  if (loop->ev != NULL) {
    ev_timer_stop(loop->ev, &loop->wakeup);
    ev_async_stop(loop->ev, &loop->async);
    ev_loop_destroy(loop->ev);
    loop->ev = NULL;
  }
  timer_free(loop);
  ioorder_free(loop);
  free(loop->taskfree);
  loop->taskfree = NULL;
  loop->ntaskfree = loop->taskfreecap = 0;
  stream_free_byfd(loop);
  loop->head = loop->tail = loop->nwithb = 0;
  loop->ringgen++;
  lua_newtable(L);
  lua_setiuservalue(L, loopidx, LOOP_UV_READY);
  lua_newtable(L);
  lua_setiuservalue(L, loopidx, LOOP_UV_TIMERS);
  lua_newtable(L);  /* nothing is pooled once closed */
  lua_setiuservalue(L, loopidx, LOOP_UV_POOL);
  loop->npool = 0;
}

/* loop:_close(): the C half of close (the Lua layer reports first). */
static int loop_close_m (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  if (loop->running) return luaL_error(L, "Cannot close a running event loop");
  loop_close(L, loop, 1);
  return 0;
}

static int loop_gc (lua_State *L) {
  Loop *loop = loop_check(L, 1);
  lua_Debug caller;
  /* The collector never finalizes a running loop (run_loop's frame holds
     it) and lua_close calls finalizers with no frame below them: a
     running loop with a caller is __gc called by hand, refused as close()
     refuses it. */
  if (loop->running && lua_getstack(L, 1, &caller))
    return luaL_error(L, "Cannot close a running event loop");
  loop->running = 0;
  loop_close(L, loop, 1);
  return 0;
}

static void nop_cb (struct ev_loop *ev, ev_timer *w, int revents) {
  (void)ev; (void)w; (void)revents;
}

/* Another thread posted to the loop's inbox (threadsafe.c). */
static void async_cb (struct ev_loop *ev, ev_async *w, int revents) {
  Loop *loop = (Loop *)((char *)w - offsetof(Loop, async));
  (void)ev; (void)revents;
  ioorder_event(loop);
  threadsafe_drain(loop);
}

/*
** libev reports a failed system call through its syserr callback, whose
** default aborts the process. The one a script can cause is running out
** of descriptors (EMFILE) when a new loop's async watcher needs its pipe:
** libev then calls the callback before it has changed anything, so the
** callback may jump back to start_async, which raises OSError instead.
** Anywhere else the default stands.
*/
/* The escape is per thread (loops run in several): a pthread key, not
   __thread, whose dynamic TLS block in a dlopen'd library LeakSanitizer's
   scan at exit crashed on ("Tracer caught signal 11"). */
static pthread_key_t syserr_key;
static pthread_once_t syserr_once = PTHREAD_ONCE_INIT;

static void syserr_key_make (void) {
  pthread_key_create(&syserr_key, NULL);
}

static void on_syserr (const char *msg) {
  jmp_buf *escape = (jmp_buf *)pthread_getspecific(syserr_key);
  if (escape != NULL) longjmp(*escape, errno != 0 ? errno : EIO);
  perror(msg);
  abort();
}

/* Starts the loop's async watcher, or closes the loop and raises. */
static void start_async (lua_State *L, Loop *loop) {
  jmp_buf escape;
  volatile int err;
  pthread_once(&syserr_once, syserr_key_make);
  ev_set_syserr_cb(on_syserr);
  pthread_setspecific(syserr_key, &escape);
  err = setjmp(escape);
  if (err == 0) ev_async_start(loop->ev, &loop->async);
  pthread_setspecific(syserr_key, NULL);
  if (err != 0) {
    ev_loop_destroy(loop->ev);
    loop->ev = NULL;
    loop->closed = 1;
    socket_pusherror(L, err, "cannot create an event loop");
    lua_error(L);
  }
}

/* core.new_loop() -> Loop. Created closed, then opened. */
static int core_new_loop (lua_State *L) {
  Runtime *rt = aio_rt(L);
  Loop *loop = (Loop *)lua_newuserdatauv(L, sizeof(Loop), LOOP_NUV);
  memset(loop, 0, sizeof(*loop));
  loop->closed = 1;
  loop->rt = rt;
  luaL_setmetatable(L, AIO_LOOP);
  lua_createtable(L, 2 * LOOP_INIT_CAP, 0);
  lua_setiuservalue(L, -2, LOOP_UV_READY);
  lua_newtable(L);
  lua_setiuservalue(L, -2, LOOP_UV_TIMERS);
  aio_newweak(L, "v");
  lua_setiuservalue(L, -2, LOOP_UV_TASKS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, LOOP_UV_WATCHERS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, LOOP_UV_REPORTS);
  lua_newtable(L);
  lua_setiuservalue(L, -2, LOOP_UV_LUA);
  aio_newweak(L, "k");
  lua_setiuservalue(L, -2, LOOP_UV_UNRETRIEVED);
  aio_newweak(L, "k");
  lua_setiuservalue(L, -2, LOOP_UV_SOURCES);
  lua_createtable(L, LOOP_POOL_MAX, 0);
  lua_setiuservalue(L, -2, LOOP_UV_POOL);
  loop->cap = LOOP_INIT_CAP;
  loop->slow_callback = 0.1;
  loop->shadow = -1;
  loop->iokey = -1;
  loop->ev = ev_loop_new(EVFLAG_AUTO);
  if (loop->ev == NULL) return luaL_error(L, "cannot create an event loop (libev)");
  loop->closed = 0;
  ev_timer_init(&loop->wakeup, nop_cb, 0., 0.);
  ev_async_init(&loop->async, async_cb);
  start_async(L, loop);
  loop->last_poll = aio_now();
  return 1;
}

int loop_make_open (lua_State *L) {
  static const luaL_Reg methods[] = {{"_close", loop_close_m}, {NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", loop_gc}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {{"new_loop", core_new_loop}, {NULL, NULL}};
  aio_setfuncs(L, funcs);
  lua_getfield(L, 1, "Loop");
  aio_setmethods(L, methods);
  lua_pop(L, 1);
  /* before any loop exists: __gc counts only if set before setmetatable */
  luaL_getmetatable(L, AIO_LOOP);
  aio_setfuncs(L, meta);
  lua_pop(L, 1);
  return 0;
}
