/*
** loopthread.c: loop threads (start_loop_thread: an OS thread with its own
** Lua state running an event loop forever) and the concurrent futures
** through which their tasks hand results back to any thread.
**
** Anchoring rule: a loop thread and a concurrent future are C memory
** shared between threads (their userdata hold a pointer; a concurrent
** future is reference-counted under thread_lock); each thread touches only
** its own Lua state, and a loop awaiting a concurrent future is told
** through its inbox, where its pending future is held (threadsafe.c). The
** owner of a loop thread stops and joins it (stop and join, or __close or
** __gc at the latest) before freeing it.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thread.h"

#define AIO_LOOPTHREAD "asyncio.LoopThread"
#define AIO_CFUTURE "asyncio.ConcurrentFuture"

/* ---------- concurrent futures ---------- */

typedef struct Waiter {
  struct Waiter *next;
  uint64_t inbox, target;  /* a loop's pending future */
} Waiter;

typedef struct CFuture {
  pthread_cond_t cv;    /* done, with thread_lock */
  int refs;             /* guarded */
  int done, status;     /* guarded: RES_* once done */
  CopyBuf result;       /* guarded: set once done */
  Waiter *waiters;      /* guarded: loops awaiting it, first come first */
  Waiter **last;        /* guarded: where the next waiter goes */
  uint64_t inbox;       /* ro: the loop running its task */
} CFuture;

static CFuture *cfuture_new (uint64_t inbox) {
  CFuture *cf = (CFuture *)calloc(1, sizeof(CFuture));
  pthread_condattr_t attr;
  if (cf == NULL) return NULL;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&cf->cv, &attr);
  pthread_condattr_destroy(&attr);
  cf->refs = 1;
  cf->inbox = inbox;
  cf->last = &cf->waiters;
  return cf;
}

/* Tells one waiting loop: posts its future a copy of the outcome. */
static void notify_locked (CFuture *cf, Waiter *w) {
  Message *m = msg_new(MSG_RESOLVE);
  if (m == NULL) return;
  m->target = w->target;
  m->status = cf->status;
  if (!copy_clone(&m->buf, &cf->result) || !inbox_post_locked(w->inbox, m))
    msg_free_locked(m);
}

/* Settles cf with status and buf (taken); 0 if it was done already. */
static int cfuture_finish_locked (CFuture *cf, int status, CopyBuf *buf) {
  Waiter *w;
  if (cf->done) { copy_free(buf); return 0; }
  cf->done = 1;
  cf->status = status;
  cf->result = *buf;
  copy_init(buf);
  pthread_cond_broadcast(&cf->cv);
  while ((w = cf->waiters) != NULL) {  /* in the order they came */
    cf->waiters = w->next;
    notify_locked(cf, w);
    free(w);
  }
  cf->last = &cf->waiters;
  return 1;
}

void cfuture_cancel_locked (CFuture *cf) {
  CopyBuf b;
  copy_init(&b);
  cfuture_finish_locked(cf, RES_CANCELLED, &b);
}

void cfuture_release_locked (CFuture *cf) {
  if (--cf->refs > 0) return;
  pthread_cond_destroy(&cf->cv);
  copy_free(&cf->result);
  while (cf->waiters != NULL) {
    Waiter *w = cf->waiters;
    cf->waiters = w->next;
    free(w);
  }
  free(cf);
}

/* Pushes a userdata owning one reference to cf. [-0, +1, m] */
void cfuture_push (lua_State *L, CFuture *cf) {
  CFuture **box = (CFuture **)lua_newuserdatauv(L, sizeof(CFuture *), 0);
  *box = cf;
  luaL_setmetatable(L, AIO_CFUTURE);
}

/* The concurrent future at idx; raises once its finalizer has run. */
static CFuture *cfuture_check (lua_State *L, int idx) {
  CFuture *cf = *(CFuture **)luaL_checkudata(L, idx, AIO_CFUTURE);
  if (cf == NULL) luaL_error(L, "attempt to use a collected ConcurrentFuture");
  return cf;
}

static int cfuture_gc (lua_State *L) {
  CFuture **box = (CFuture **)luaL_checkudata(L, 1, AIO_CFUTURE);
  if (*box != NULL) {
    pthread_mutex_lock(&thread_lock);
    cfuture_release_locked(*box);
    pthread_mutex_unlock(&thread_lock);
    *box = NULL;
  }
  return 0;
}

/*
** Waits until cf is done, at most the timeout at index 2 (none if nil or
** more than 1e9 seconds; not at all if negative or NaN),
** and pushes its values; returns their number and sets *status, or raises
** TimeoutError, or CancelledError if cf was cancelled. [-0, +n, e]
*/
static int wait_outcome (lua_State *L, CFuture *cf, int *status) {
  int forever = lua_isnoneornil(L, 2), ok = 1, n;
  CopyBuf b;
  struct timespec until;
  if (!forever) {
    double timeout = luaL_checknumber(L, 2);
    if (!(timeout > 0)) timeout = 0;  /* negative, NaN: no wait, as Python */
    if (timeout > 1e9) forever = 1;   /* past any clock's range: no deadline */
    else {
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += (time_t)timeout;
      until.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
      if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
    }
  }
  inbox_let_go();  /* blocking here: what this thread posted may run */
  pthread_mutex_lock(&thread_lock);
  while (!cf->done) {
    if (forever) pthread_cond_wait(&cf->cv, &thread_lock);
    else if (pthread_cond_timedwait(&cf->cv, &thread_lock, &until) == ETIMEDOUT
             && !cf->done) break;
  }
  *status = cf->status;
  if (cf->done) ok = copy_clone(&b, &cf->result);
  else { copy_init(&b); *status = -1; }
  pthread_mutex_unlock(&thread_lock);
  if (!ok) return luaL_error(L, "not enough memory");
  if (*status == -1) {
    aio_pusherror(L, "TimeoutError", "the concurrent future did not finish in time");
    return lua_error(L);
  }
  if (*status == RES_CANCELLED) {
    aio_pusherror(L, "CancelledError", NULL);
    return lua_error(L);
  }
  lua_settop(L, 2);
  n = copy_load(L, &b, 0, 0);
  copy_free(&b);
  return n;
}

/*
** cf:result([timeout]) -> ...: blocks until cf is done (at most timeout
** seconds, then raises TimeoutError); its results, or raises its error or
** CancelledError.
*/
static int cfuture_result (lua_State *L) {
  int status, n = wait_outcome(L, cfuture_check(L, 1), &status);
  if (status == RES_ERROR) return lua_error(L);
  return n;
}

/* cf:exception([timeout]) -> its error or nil; waits as result does. */
static int cfuture_exception (lua_State *L) {
  int status;
  wait_outcome(L, cfuture_check(L, 1), &status);
  if (status == RES_ERROR) return 1;
  lua_pushnil(L);
  return 1;
}

static int cfuture_done (lua_State *L) {
  CFuture *cf = cfuture_check(L, 1);
  int d;
  pthread_mutex_lock(&thread_lock);
  d = cf->done;
  pthread_mutex_unlock(&thread_lock);
  lua_pushboolean(L, d);
  return 1;
}

static int cfuture_cancelled (lua_State *L) {
  CFuture *cf = cfuture_check(L, 1);
  int c;
  pthread_mutex_lock(&thread_lock);
  c = cf->done && cf->status == RES_CANCELLED;
  pthread_mutex_unlock(&thread_lock);
  lua_pushboolean(L, c);
  return 1;
}

/*
** cf:cancel() -> bool: settles it cancelled and cancels its task; true
** also when it was cancelled already, as concurrent.futures answers.
*/
static int cfuture_cancel (lua_State *L) {
  CFuture *cf = cfuture_check(L, 1);
  Message *m = msg_new(MSG_CANCEL);
  int ok;
  pthread_mutex_lock(&thread_lock);
  ok = !cf->done || cf->status == RES_CANCELLED;
  if (!cf->done) {
    cfuture_cancel_locked(cf);
    if (m != NULL) {
      cf->refs++;
      m->cf = cf;
      if (!inbox_post_locked(cf->inbox, m)) msg_free_locked(m);
      m = NULL;
    }
  }
  if (m != NULL) free(m);
  pthread_mutex_unlock(&thread_lock);
  lua_pushboolean(L, ok);
  return 1;
}

static int cfuture_tostring (lua_State *L) {
  CFuture *cf = *(CFuture **)luaL_checkudata(L, 1, AIO_CFUTURE);
  int done, status;
  if (cf == NULL) {
    lua_pushliteral(L, "<ConcurrentFuture collected>");
    return 1;
  }
  pthread_mutex_lock(&thread_lock);
  done = cf->done;
  status = cf->status;
  pthread_mutex_unlock(&thread_lock);
  lua_pushfstring(L, "<ConcurrentFuture %s>", !done ? "pending"
                  : status == RES_CANCELLED ? "cancelled"
                  : status == RES_OK ? "finished" : "failed");
  return 1;
}

/*
** core.cfuture_watch(cf, future): future (of a loop of this state) is
** settled like cf, through the loop's inbox, once cf is done.
*/
static int core_cfuture_watch (lua_State *L) {
  CFuture *cf = cfuture_check(L, 1);
  Waiter *w;
  uint64_t inbox, target;
  future_check(L, 2);
  lua_getiuservalue(L, 2, FUT_UV_LOOP);
  inbox = inbox_of(L, -1);  /* these may raise: before the calloc */
  target = inbox_pending(L, -1, 2);
  w = (Waiter *)calloc(1, sizeof(Waiter));
  if (w == NULL) return luaL_error(L, "not enough memory");
  w->inbox = inbox;
  w->target = target;
  pthread_mutex_lock(&thread_lock);
  if (cf->done) {
    notify_locked(cf, w);
    free(w);
  } else {  /* woken in this order, as Python's done callbacks */
    *cf->last = w;
    cf->last = &w->next;
  }
  pthread_mutex_unlock(&thread_lock);
  return 0;
}

/*
** core.cfuture_set(cf, "ok", ...) | (cf, "error", err) | (cf, "cancelled"):
** the loop thread settles cf (nothing happens if it is done already).
*/
static int core_cfuture_set (lua_State *L) {
  static const char *const opts[] = {"error", "ok", "cancelled", NULL};
  CFuture *cf = cfuture_check(L, 1);
  int status = luaL_checkoption(L, 2, NULL, opts);
  CopyBuf b;
  copy_init(&b);
  if (status == RES_OK) status = thread_dump_results(L, &b, 3, lua_gettop(L) - 2);
  else if (status == RES_ERROR) thread_dump_error(L, &b, 3);
  pthread_mutex_lock(&thread_lock);
  cfuture_finish_locked(cf, status, &b);
  pthread_mutex_unlock(&thread_lock);
  return 0;
}

/* Settles cf with the error at erridx (copied, or as a string). */
void cfuture_fail (lua_State *L, CFuture *cf, int erridx) {
  CopyBuf b;
  copy_init(&b);
  thread_dump_error(L, &b, erridx);
  pthread_mutex_lock(&thread_lock);
  cfuture_finish_locked(cf, RES_ERROR, &b);
  pthread_mutex_unlock(&thread_lock);
}

/* core.cfuture_key(cf) -> a light userdata naming it (MSG_CANCEL's key) */
static int core_cfuture_key (lua_State *L) {
  lua_pushlightuserdata(L, cfuture_check(L, 1));
  return 1;
}

/* ---------- loop threads ---------- */

typedef struct LoopThread {
  pthread_t thread;
  int joined;            /* owner only */
  pthread_cond_t cv;     /* ready, with thread_lock */
  int ready;             /* guarded */
  uint64_t inbox;        /* guarded until ready, then read-only */
  char err[512];         /* guarded: why it could not start */
  char *path, *cpath;    /* owned: read by the thread while starting */
} LoopThread;

static int error_tostring (lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

static void *loopthread_main (void *arg) {
  LoopThread *lt = (LoopThread *)arg;
  lua_State *L = thread_newstate(lt->path, lt->cpath);
  int status;
  if (L == NULL) {
    pthread_mutex_lock(&thread_lock);
    strcpy(lt->err, "cannot create a Lua state");
    lt->ready = 1;
    pthread_cond_signal(&lt->cv);
    pthread_mutex_unlock(&thread_lock);
    return NULL;
  }
  lua_pushcfunction(L, thread_msgh);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "asyncio.threads");
  status = lua_pcall(L, 1, 1, 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "_loop_thread_main");
    lua_pushlightuserdata(L, lt);
    status = lua_pcall(L, 1, 0, 1);
  }
  if (status != LUA_OK) {
    const char *msg;
    if (!lua_isstring(L, -1)) {  /* an error object: its tostring */
      lua_pushcfunction(L, error_tostring);
      lua_insert(L, -2);
      lua_pcall(L, 1, 1, 0);
    }
    msg = lua_tostring(L, -1);
    pthread_mutex_lock(&thread_lock);
    if (!lt->ready) {
      snprintf(lt->err, sizeof(lt->err), "%s", msg ? msg : "error");
      lt->ready = 1;
      pthread_cond_signal(&lt->cv);
    } else fprintf(stderr, "asyncio: loop thread failed: %s\n", msg ? msg : "?");
    pthread_mutex_unlock(&thread_lock);
  }
  lua_close(L);
  return NULL;
}

static LoopThread *loopthread_check (lua_State *L) {
  LoopThread **box = (LoopThread **)luaL_checkudata(L, 1, AIO_LOOPTHREAD);
  if (*box == NULL) luaL_error(L, "attempt to use a closed loop thread");
  return *box;
}

/* core.loop_thread_ready(lt, loop): the loop thread's loop is set up. */
static int core_loop_thread_ready (lua_State *L) {
  LoopThread *lt = (LoopThread *)lua_touserdata(L, 1);
  uint64_t inbox;
  luaL_checktype(L, 1, LUA_TLIGHTUSERDATA);
  inbox = inbox_of(L, 2);
  pthread_mutex_lock(&thread_lock);
  lt->inbox = inbox;
  lt->ready = 1;
  pthread_cond_signal(&lt->cv);
  pthread_mutex_unlock(&thread_lock);
  return 0;
}

static void loopthread_free (LoopThread *lt) {
  pthread_cond_destroy(&lt->cv);
  free(lt->path);
  free(lt->cpath);
  free(lt);
}

/* asyncio.start_loop_thread() -> handle */
static int core_start_loop_thread (lua_State *L) {
  LoopThread **box;
  LoopThread *lt;
  if (!lua_isnone(L, 1))  /* as Python's TypeError for an argument too many */
    return luaL_argerror(L, 1, lua_pushfstring(L, "no value expected, got %s",
                                               luaL_typename(L, 1)));
  box = (LoopThread **)lua_newuserdatauv(L, sizeof(LoopThread *), 0);
  *box = NULL;
  luaL_setmetatable(L, AIO_LOOPTHREAD);
  lt = (LoopThread *)calloc(1, sizeof(LoopThread));
  if (lt == NULL) return luaL_error(L, "not enough memory");
  pthread_cond_init(&lt->cv, NULL);
  thread_getpaths(L, &lt->path, &lt->cpath);
  if (pthread_create(&lt->thread, NULL, loopthread_main, lt) != 0) {
    loopthread_free(lt);
    return luaL_error(L, "cannot start a thread");
  }
  pthread_mutex_lock(&thread_lock);
  while (!lt->ready) pthread_cond_wait(&lt->cv, &thread_lock);
  pthread_mutex_unlock(&thread_lock);
  if (lt->err[0] != '\0') {
    pthread_join(lt->thread, NULL);
    lua_pushfstring(L, "cannot start the loop thread: %s", lt->err);
    loopthread_free(lt);
    return lua_error(L);
  }
  *box = lt;
  return 1;
}

/* handle:call_soon_threadsafe(fn, ...) -> cancellable handle */
static int loopthread_call_soon_threadsafe (lua_State *L) {
  LoopThread *lt = loopthread_check(L);
  thread_post_call(L, lt->inbox, 2, "call_soon_threadsafe", 1, 1);
  return 1;
}

/*
** A coroutine object that cannot go to another thread is refused here, by
** what it is, before coro_unwrap_body counts it as awaited: one of the
** library's own (sleep, wait_for...: their functions are internal), one
** shared (sleep(0), q:get()), or one awaited already. [-0, +0, v]
*/
static void check_coroutine_object (lua_State *L, int fnidx, int level) {
  Coro *c = coro_test(L, fnidx);
  const char *why;
  if (c == NULL && !(lua_type(L, fnidx) == LUA_TTABLE && coro_is(L, fnidx))) return;
  if (c == NULL || lua_topointer(L, fnidx) == aio_rt(L)->sleep0)
    why = "a shared coroutine object, such as sleep(0) or q:get(), cannot "
          "be copied";
  else if (c->awaited) why = "the coroutine object was awaited already";
  else {
    lua_Debug ar;
    lua_getiuservalue(L, fnidx, 1);
    if (copy_checkfn(L, -1)) {
      lua_pop(L, 1);
      return;
    }
    lua_pushvalue(L, -2);
    lua_getinfo(L, ">S", &ar);
    if (ar.what[0] == 'C' || strstr(ar.source, "asyncio/") != NULL)
      why = "a coroutine object of asyncio's own functions (sleep, wait_for, "
            "to_thread...) cannot be copied";
    else why = lua_pushfstring(L, "cannot copy the coroutine object's "
                                  "function: %s", lua_tostring(L, -1));
  }
  luaL_where(L, level);
  lua_pushfstring(L, "bad argument #1 to 'run_coroutine_threadsafe' (%s; "
                     "pass a function that awaits it)", why);
  lua_concat(L, 2);
  lua_error(L);
}

/*
** Posts a MSG_TASK of the function at fnidx with the values after it to
** the inbox and pushes its concurrent future; misuse is reported `level`
** levels up. [-0, +1, e]
*/
static int run_coroutine (lua_State *L, uint64_t inbox, int fnidx, int level) {
  CFuture *cf;
  Message *m;
  CopyBuf b;
  Coro *c;
  int bad, ok;
  copy_init(&b);
  if (lua_isnone(L, fnidx)) lua_pushnil(L);  /* "function expected, got nil" */
  check_coroutine_object(L, fnidx, level);
  /* a coroutine object counts as awaited once it is posted, not before:
     one refused below stays the caller's to await (kept on the stack
     meanwhile, so that it cannot be collected under c) */
  if (lua_gettop(L) == fnidx && (c = coro_test(L, fnidx)) != NULL && !c->awaited) {
    lua_pushvalue(L, fnidx);
    lua_insert(L, fnidx++);
  } else c = NULL;
  coro_unwrap_body(L, fnidx);
  if (!copy_dump(L, &b, fnidx, lua_gettop(L) - fnidx + 1, 1, aio_rt(L), &bad)) {
    if (c != NULL) c->awaited = 0;
    copy_argerror(L, &b, "run_coroutine_threadsafe", 1 + bad, level);
  }
  cf = cfuture_new(inbox);
  m = msg_new(MSG_TASK);
  if (cf == NULL || m == NULL) {
    free(cf); free(m); copy_free(&b);
    if (c != NULL) c->awaited = 0;
    return luaL_error(L, "not enough memory");
  }
  cfuture_push(L, cf);  /* the caller's reference */
  m->buf = b;
  pthread_mutex_lock(&thread_lock);
  cf->refs++;           /* the message's */
  m->cf = cf;
  ok = inbox_post_locked(inbox, m);
  if (!ok) msg_free_locked(m);
  pthread_mutex_unlock(&thread_lock);
  if (!ok) {
    if (c != NULL) c->awaited = 0;
    return aio_loop_closed(L);
  }
  return 1;
}

/*
** handle:run_coroutine_threadsafe(fn, ...) -> concurrent future: fn(...)
** runs as the body of a task in the loop thread.
*/
static int loopthread_run_coroutine_threadsafe (lua_State *L) {
  LoopThread *lt = loopthread_check(L);
  return run_coroutine(L, lt->inbox, 2, 1);
}

/*
** core.thread_run_coroutine(inbox, fn, ...) -> concurrent future: the same
** for a loop known by its inbox (a ThreadRef's run_coroutine_threadsafe).
*/
static int core_thread_run_coroutine (lua_State *L) {
  uint64_t inbox = (uint64_t)luaL_checkinteger(L, 1);
  return run_coroutine(L, inbox, 2, 2);
}

/* handle:stop(): the loop stops once what was submitted before has run. */
static int loopthread_stop (lua_State *L) {
  LoopThread *lt = loopthread_check(L);
  Message *m = msg_new(MSG_STOP);
  if (m == NULL) return luaL_error(L, "not enough memory");
  inbox_post(lt->inbox, m);
  return 0;
}

/* handle:join(): waits until the thread has stopped its loop and exited. */
static int loopthread_join (lua_State *L) {
  LoopThread *lt = loopthread_check(L);
  if (!lt->joined) {
    inbox_let_go();  /* its stop() may run at once */
    pthread_join(lt->thread, NULL);
    lt->joined = 1;
  }
  return 0;
}

static int loopthread_is_alive (lua_State *L) {
  LoopThread *lt = loopthread_check(L);
  int alive;
  pthread_mutex_lock(&thread_lock);
  alive = !lt->joined;
  pthread_mutex_unlock(&thread_lock);
  lua_pushboolean(L, alive);
  return 1;
}

/* Stops and joins the thread: no loop thread outlives its handle. */
static int loopthread_gc (lua_State *L) {
  LoopThread **box = (LoopThread **)luaL_checkudata(L, 1, AIO_LOOPTHREAD);
  LoopThread *lt = *box;
  if (lt == NULL) return 0;
  *box = NULL;
  if (!lt->joined) {
    Message *m = msg_new(MSG_STOP);
    if (m != NULL) inbox_post(lt->inbox, m);
    pthread_join(lt->thread, NULL);
  }
  loopthread_free(lt);
  return 0;
}

/* A to-be-closed loop thread is stopped and joined at the end of its scope. */
static int loopthread_close (lua_State *L) {
  LoopThread *lt = loopthread_check(L);
  if (!lt->joined) {
    loopthread_stop(L);
    loopthread_join(L);
  }
  return 0;
}

static int loopthread_tostring (lua_State *L) {
  LoopThread **box = (LoopThread **)luaL_checkudata(L, 1, AIO_LOOPTHREAD);
  lua_pushfstring(L, "<LoopThread %s>", *box == NULL ? "closed"
                  : (*box)->joined ? "joined" : "running");
  return 1;
}

int loopthread_open (lua_State *L) {
  static const luaL_Reg cf_methods[] = {
    {"result", cfuture_result},
    {"exception", cfuture_exception},
    {"done", cfuture_done},
    {"cancelled", cfuture_cancelled},
    {"cancel", cfuture_cancel},
    {NULL, NULL}
  };
  static const luaL_Reg cf_meta[] = {
    {"__gc", cfuture_gc},
    {"__tostring", cfuture_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg lt_methods[] = {
    {"call_soon_threadsafe", loopthread_call_soon_threadsafe},
    {"run_coroutine_threadsafe", loopthread_run_coroutine_threadsafe},
    {"stop", loopthread_stop},
    {"join", loopthread_join},
    {"is_alive", loopthread_is_alive},
    {NULL, NULL}
  };
  static const luaL_Reg lt_meta[] = {
    {"__gc", loopthread_gc},
    {"__close", loopthread_close},
    {"__tostring", loopthread_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"cfuture_watch", core_cfuture_watch},
    {"cfuture_set", core_cfuture_set},
    {"cfuture_key", core_cfuture_key},
    {"start_loop_thread", core_start_loop_thread},
    {"loop_thread_ready", core_loop_thread_ready},
    {"thread_run_coroutine", core_thread_run_coroutine},
    {NULL, NULL}
  };
  thread_newmeta(L, AIO_CFUTURE, cf_methods, cf_meta);
  thread_newmeta(L, AIO_LOOPTHREAD, lt_methods, lt_meta);
  aio_setfunctions(L, funcs);
  return 0;
}
