/*
** thread.c: OS threads with Lua states of their own: the worker pools of
** executors (to_thread, run_in_executor), loop threads
** (start_loop_thread) and the concurrent futures through which a loop
** thread hands results back.
**
** Anchoring rule: a pool, a loop thread and a concurrent future are C
** memory shared with other threads (their userdata hold a pointer), and a
** thread touches only its own Lua state; results travel as copied values
** in messages posted to the inbox of the loop that waits for them, whose
** pending future is held by that loop (threadsafe.c). Whoever owns a
** pool or loop thread joins it (shutdown, join, or __gc at the latest)
** before freeing it, so no thread outlives what it uses.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lualib.h"
#include "thread.h"

#define AIO_EXECUTOR "asyncio.ThreadPoolExecutor"
#define AIO_LOOPTHREAD "asyncio.LoopThread"
#define AIO_CFUTURE "asyncio.ConcurrentFuture"

/* ---------- Lua states of other threads ---------- */

static char *dupstr (const char *s) {
  size_t len = strlen(s) + 1;
  char *p = (char *)malloc(len);
  if (p != NULL) memcpy(p, s, len);
  return p;
}

/* Copies package.path and package.cpath of L (NULL if unset). */
static void getpaths (lua_State *L, char **path, char **cpath) {
  *path = *cpath = NULL;
  if (lua_getglobal(L, "package") == LUA_TTABLE) {
    if (lua_getfield(L, -1, "path") == LUA_TSTRING) *path = dupstr(lua_tostring(L, -1));
    if (lua_getfield(L, -2, "cpath") == LUA_TSTRING) *cpath = dupstr(lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
}

static int setpaths_p (lua_State *L) {
  const char *path = (const char *)lua_touserdata(L, 1);
  const char *cpath = (const char *)lua_touserdata(L, 2);
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  if (path != NULL) { lua_pushstring(L, path); lua_setfield(L, -2, "path"); }
  if (cpath != NULL) { lua_pushstring(L, cpath); lua_setfield(L, -2, "cpath"); }
  return 0;
}

/* A new state with the standard libraries and the given module paths. */
static lua_State *newstate (const char *path, const char *cpath) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return NULL;
  lua_pushcfunction(L, setpaths_p);
  lua_pushlightuserdata(L, (void *)path);
  lua_pushlightuserdata(L, (void *)cpath);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  return L;
}

/* Message handler: a string error gets the traceback of where it was raised. */
static int msgh (lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER)
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/*
** Copies the error at idx into buf: as it is if it can be copied, else as
** its string form.
*/
static void dump_error (lua_State *L, CopyBuf *buf, int idx) {
  int bad;
  idx = lua_absindex(L, idx);
  copy_free(buf);
  if (!copy_dump(L, buf, idx, 1, 0, NULL, &bad)) {
    size_t len;
    const char *s;
    lua_pop(L, 1);
    copy_free(buf);
    s = luaL_tolstring(L, idx, &len);
    copy_pushstring(buf, s, len);
    lua_pop(L, 1);
  }
}

/* Copies n results from first into buf, or a message saying why not. */
static int dump_results (lua_State *L, CopyBuf *buf, int first, int n) {
  int bad;
  if (copy_dump(L, buf, first, n, 0, NULL, &bad)) return RES_OK;
  copy_free(buf);
  lua_pushfstring(L, "result #%d of the function: %s", bad + 1, lua_tostring(L, -1));
  copy_pushstring(buf, lua_tostring(L, -1), strlen(lua_tostring(L, -1)));
  lua_pop(L, 2);
  return RES_ERROR;
}

/* ---------- executors ---------- */

typedef struct Job {
  struct Job *next;
  CopyBuf in;         /* the function and its arguments */
  uint64_t inbox;     /* where the result goes */
  uint64_t target;    /* the pending future there */
} Job;

typedef struct Executor {
  pthread_cond_t cv;        /* jobs queued or shutdown, with thread_lock */
  Job *head, *tail;         /* guarded */
  int nqueued, idle;        /* guarded */
  int shutdown;             /* guarded; written by the owner only */
  int nthreads, max;        /* owner only: threads started, the limit */
  int joined;               /* owner only: threads[0..joined) joined */
  pthread_t *threads;       /* owned */
  char *path, *cpath;       /* owned, read-only once workers exist */
} Executor;

/* Runs a job in the worker's state (protected): fills the message m. */
static int job_p (lua_State *L) {
  Job *job = (Job *)lua_touserdata(L, 1);
  Message *m = (Message *)lua_touserdata(L, 2);
  int n;
  lua_settop(L, 2);
  lua_pushcfunction(L, msgh);  /* 3 */
  n = copy_load(L, &job->in, 0, 0);
  if (lua_pcall(L, n - 1, LUA_MULTRET, 3) == LUA_OK)
    m->status = dump_results(L, &m->buf, 4, lua_gettop(L) - 3);
  else {
    m->status = RES_ERROR;
    dump_error(L, &m->buf, -1);
  }
  return 0;
}

static void run_job (lua_State *L, Job *job) {
  Message *m = msg_new(MSG_RESOLVE);
  if (m == NULL) return;  /* the future never settles: out of memory */
  m->target = job->target;
  if (L == NULL) {
    m->status = RES_ERROR;
    copy_pushstring(&m->buf, "cannot create a Lua state for a worker thread", 45);
  } else {
    lua_settop(L, 0);
    lua_pushcfunction(L, job_p);
    lua_pushlightuserdata(L, job);
    lua_pushlightuserdata(L, m);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      m->status = RES_ERROR;
      copy_free(&m->buf);
      if (s != NULL) copy_pushstring(&m->buf, s, len);
      else copy_pushstring(&m->buf, "error in a worker thread", 24);
    }
    lua_settop(L, 0);
  }
  inbox_post(job->inbox, m);
}

static void *worker_main (void *arg) {
  Executor *ex = (Executor *)arg;
  lua_State *L = newstate(ex->path, ex->cpath);
  pthread_mutex_lock(&thread_lock);
  for (;;) {
    Job *job;
    while (ex->head == NULL && !ex->shutdown) {
      ex->idle++;
      pthread_cond_wait(&ex->cv, &thread_lock);
      ex->idle--;
    }
    if (ex->head == NULL) break;
    job = ex->head;
    ex->head = job->next;
    if (ex->head == NULL) ex->tail = NULL;
    ex->nqueued--;
    pthread_mutex_unlock(&thread_lock);
    run_job(L, job);
    copy_free(&job->in);
    free(job);
    pthread_mutex_lock(&thread_lock);
  }
  pthread_mutex_unlock(&thread_lock);
  if (L != NULL) lua_close(L);
  return NULL;
}

static Executor *executor_check (lua_State *L, int idx) {
  Executor **box = (Executor **)luaL_checkudata(L, idx, AIO_EXECUTOR);
  if (*box == NULL) luaL_error(L, "attempt to use a closed executor");
  return *box;
}

static int default_workers (void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 2 ? 2 : (n > 64 ? 64 : (int)n);
}

/* core.executor_new([max_workers]) -> ThreadPoolExecutor */
static int core_executor_new (lua_State *L) {
  Executor **box, *ex;
  lua_Integer max = luaL_opt(L, luaL_checkinteger, 1, default_workers());
  if (max <= 0 || max > 1024)
    return luaL_error(L, "bad argument #1 to 'ThreadPoolExecutor' "
                         "(max_workers must be between 1 and 1024)");
  box = (Executor **)lua_newuserdatauv(L, sizeof(Executor *), 0);
  *box = NULL;
  luaL_setmetatable(L, AIO_EXECUTOR);
  ex = (Executor *)calloc(1, sizeof(Executor));
  if (ex == NULL) return luaL_error(L, "not enough memory");
  ex->threads = (pthread_t *)calloc((size_t)max, sizeof(pthread_t));
  if (ex->threads == NULL) { free(ex); return luaL_error(L, "not enough memory"); }
  ex->max = (int)max;
  pthread_cond_init(&ex->cv, NULL);
  getpaths(L, &ex->path, &ex->cpath);
  *box = ex;
  return 1;
}

/*
** core.executor_submit(executor, future, fname, fnarg, fn, ...): runs
** fn(...) on a worker; its results or error settle future. Misuse raises
** as fname's argument fnarg (fn) and those after it.
*/
static int core_executor_submit (lua_State *L) {
  Executor *ex = executor_check(L, 1);
  Future *f = future_check(L, 2);
  const char *fname = luaL_checkstring(L, 3);
  int fnarg = (int)luaL_checkinteger(L, 4), bad;
  Job *job;
  CopyBuf b;
  uint64_t target;
  if (ex->shutdown) return luaL_error(L, "cannot schedule new futures after shutdown");
  if (lua_isnone(L, 5)) lua_pushnil(L);  /* "function expected, got nil" */
  copy_init(&b);
  if (!copy_dump(L, &b, 5, lua_gettop(L) - 4, 1, aio_rt(L), &bad))
    copy_argerror(L, &b, fname, fnarg + bad, 2);
  job = (Job *)calloc(1, sizeof(Job));
  if (job == NULL) { copy_free(&b); return luaL_error(L, "not enough memory"); }
  job->in = b;
  lua_getiuservalue(L, 2, FUT_UV_LOOP);
  if (f->loop->closed) {
    copy_free(&job->in); free(job);
    return luaL_error(L, "event loop is closed");
  }
  job->target = target = inbox_pending(L, -1, 2);
  job->inbox = inbox_of(L, -1);
  pthread_mutex_lock(&thread_lock);
  if (ex->tail != NULL) ex->tail->next = job; else ex->head = job;
  ex->tail = job;
  ex->nqueued++;
  if (ex->idle < ex->nqueued && ex->nthreads < ex->max
      && pthread_create(&ex->threads[ex->nthreads], NULL, worker_main, ex) == 0)
    ex->nthreads++;
  pthread_cond_signal(&ex->cv);
  pthread_mutex_unlock(&thread_lock);
  if (ex->nthreads == 0) return luaL_error(L, "cannot start a worker thread");
  lua_pushinteger(L, (lua_Integer)target);  /* job may be gone already */
  return 1;
}

/*
** core.executor_cancel(executor, future, target [, msg]) -> bool: the
** cancel hook of a submitted job's future: a job still queued never runs
** (one already running finishes, its result dropped); the future is
** cancelled either way, as Python's wrapped futures are.
*/
static int core_executor_cancel (lua_State *L) {
  Executor *ex = executor_check(L, 1);
  Future *f = future_check(L, 2);
  uint64_t target = (uint64_t)luaL_checkinteger(L, 3), inbox;
  Job **p, *job = NULL;
  lua_settop(L, 4);
  if (f->state != FUT_PENDING) { lua_pushboolean(L, 0); return 1; }
  lua_getiuservalue(L, 2, FUT_UV_LOOP);  /* 5 */
  inbox = f->loop->inbox != NULL ? inbox_of(L, 5) : 0;
  pthread_mutex_lock(&thread_lock);
  for (p = &ex->head; *p != NULL; p = &(*p)->next)
    if ((*p)->target == target && (*p)->inbox == inbox) {
      job = *p;
      *p = job->next;
      if (ex->tail == job) {  /* the new tail is the job before it, if any */
        Job *t = ex->head;
        while (t != NULL && t->next != NULL) t = t->next;
        ex->tail = t;
      }
      ex->nqueued--;
      break;
    }
  pthread_mutex_unlock(&thread_lock);
  if (job != NULL) {
    copy_free(&job->in);
    free(job);
    if (!f->loop->closed) {  /* no result will come: forget the future */
      lua_getiuservalue(L, 5, LOOP_UV_LUA);
      lua_getfield(L, -1, "thread_pending");
      lua_pushnil(L);
      lua_rawseti(L, -2, (lua_Integer)target);
      lua_pop(L, 2);
    }
  }
  lua_pushboolean(L, future_cancel_self(L, f, 2, 4));
  return 1;
}

/* Stops taking jobs; with wait, joins the workers once the queue is done. */
static void executor_shutdown (Executor *ex, int wait) {
  pthread_mutex_lock(&thread_lock);
  ex->shutdown = 1;
  pthread_cond_broadcast(&ex->cv);
  pthread_mutex_unlock(&thread_lock);
  if (wait)
    for (; ex->joined < ex->nthreads; ex->joined++)
      pthread_join(ex->threads[ex->joined], NULL);
}

/* executor:shutdown([wait = true]) */
static int executor_shutdown_m (lua_State *L) {
  Executor *ex = executor_check(L, 1);
  executor_shutdown(ex, lua_isnoneornil(L, 2) || lua_toboolean(L, 2));
  return 0;
}

/* A to-be-closed executor is shut down, waiting, at the end of its scope. */
static int executor_close (lua_State *L) {
  executor_shutdown(executor_check(L, 1), 1);
  return 0;
}

/* executor:_workers() -> threads started (for tests) */
static int executor_workers (lua_State *L) {
  lua_pushinteger(L, executor_check(L, 1)->nthreads);
  return 1;
}

static int executor_gc (lua_State *L) {
  Executor **box = (Executor **)luaL_checkudata(L, 1, AIO_EXECUTOR);
  Executor *ex = *box;
  if (ex == NULL) return 0;
  *box = NULL;
  executor_shutdown(ex, 1);
  pthread_cond_destroy(&ex->cv);
  free(ex->threads);
  free(ex->path);
  free(ex->cpath);
  free(ex);
  return 0;
}

static int executor_tostring (lua_State *L) {
  Executor **box = (Executor **)luaL_checkudata(L, 1, AIO_EXECUTOR);
  if (*box == NULL) lua_pushliteral(L, "<ThreadPoolExecutor closed>");
  else lua_pushfstring(L, "<ThreadPoolExecutor max_workers=%d%s>", (*box)->max,
                       (*box)->shutdown ? " shutdown" : "");
  return 1;
}

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
  Waiter *waiters;      /* guarded: loops awaiting it */
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
  while ((w = cf->waiters) != NULL) {
    cf->waiters = w->next;
    notify_locked(cf, w);
    free(w);
  }
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

static CFuture *cfuture_check (lua_State *L, int idx) {
  return *(CFuture **)luaL_checkudata(L, idx, AIO_CFUTURE);
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
** cf:result([timeout]) -> ...: blocks until cf is done (at most timeout
** seconds, then raises TimeoutError); its results, or raises its error or
** CancelledError.
*/
static int cfuture_result (lua_State *L) {
  CFuture *cf = cfuture_check(L, 1);
  double timeout = luaL_optnumber(L, 2, -1);
  int status, ok = 1;
  CopyBuf b;
  struct timespec until;
  if (!lua_isnoneornil(L, 2)) {
    luaL_argcheck(L, timeout >= 0, 2, "timeout must not be negative");
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)timeout;
    until.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
    if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
  }
  pthread_mutex_lock(&thread_lock);
  while (!cf->done) {
    if (lua_isnoneornil(L, 2)) pthread_cond_wait(&cf->cv, &thread_lock);
    else if (pthread_cond_timedwait(&cf->cv, &thread_lock, &until) == ETIMEDOUT
             && !cf->done) break;
  }
  status = cf->status;
  if (cf->done) ok = copy_clone(&b, &cf->result);
  else { copy_init(&b); status = -1; }
  pthread_mutex_unlock(&thread_lock);
  if (!ok) return luaL_error(L, "not enough memory");
  if (status == -1) {
    aio_pusherror(L, "TimeoutError", "the concurrent future did not finish in time");
    return lua_error(L);
  }
  if (status == RES_CANCELLED) {
    aio_pusherror(L, "CancelledError", NULL);
    return lua_error(L);
  }
  lua_settop(L, 1);
  ok = copy_load(L, &b, 0, 0);
  copy_free(&b);
  if (status == RES_ERROR) return lua_error(L);
  return ok;
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

/* cf:cancel() -> bool: settles it cancelled and cancels its task. */
static int cfuture_cancel (lua_State *L) {
  CFuture *cf = cfuture_check(L, 1);
  Message *m = msg_new(MSG_CANCEL);
  int ok;
  pthread_mutex_lock(&thread_lock);
  ok = !cf->done;
  if (ok) {
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
  CFuture *cf = cfuture_check(L, 1);
  int done, status;
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
  Waiter *w = (Waiter *)calloc(1, sizeof(Waiter));
  future_check(L, 2);
  if (w == NULL) return luaL_error(L, "not enough memory");
  lua_getiuservalue(L, 2, FUT_UV_LOOP);
  w->inbox = inbox_of(L, -1);
  w->target = inbox_pending(L, -1, 2);
  pthread_mutex_lock(&thread_lock);
  if (cf->done) {
    notify_locked(cf, w);
    free(w);
  } else {
    w->next = cf->waiters;
    cf->waiters = w;
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
  if (status == RES_OK) status = dump_results(L, &b, 3, lua_gettop(L) - 2);
  else if (status == RES_ERROR) dump_error(L, &b, 3);
  pthread_mutex_lock(&thread_lock);
  cfuture_finish_locked(cf, status, &b);
  pthread_mutex_unlock(&thread_lock);
  return 0;
}

/* Settles cf with the error at erridx (copied, or as a string). */
void cfuture_fail (lua_State *L, CFuture *cf, int erridx) {
  CopyBuf b;
  copy_init(&b);
  dump_error(L, &b, erridx);
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

static void *loopthread_main (void *arg) {
  LoopThread *lt = (LoopThread *)arg;
  lua_State *L = newstate(lt->path, lt->cpath);
  int status;
  if (L == NULL) {
    pthread_mutex_lock(&thread_lock);
    strcpy(lt->err, "cannot create a Lua state");
    lt->ready = 1;
    pthread_cond_signal(&lt->cv);
    pthread_mutex_unlock(&thread_lock);
    return NULL;
  }
  lua_pushcfunction(L, msgh);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "asyncio.threads");
  status = lua_pcall(L, 1, 1, 1);
  if (status == LUA_OK) {
    lua_getfield(L, -1, "_loop_thread_main");
    lua_pushlightuserdata(L, lt);
    status = lua_pcall(L, 1, 0, 1);
  }
  if (status != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
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
  LoopThread **box = (LoopThread **)lua_newuserdatauv(L, sizeof(LoopThread *), 0);
  LoopThread *lt;
  *box = NULL;
  luaL_setmetatable(L, AIO_LOOPTHREAD);
  lt = (LoopThread *)calloc(1, sizeof(LoopThread));
  if (lt == NULL) return luaL_error(L, "not enough memory");
  pthread_cond_init(&lt->cv, NULL);
  getpaths(L, &lt->path, &lt->cpath);
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
** Posts a MSG_TASK of the function at fnidx with the values after it to
** the inbox and pushes its concurrent future; misuse is reported `level`
** levels up. [-0, +1, e]
*/
static int run_coroutine (lua_State *L, uint64_t inbox, int fnidx, int level) {
  CFuture *cf;
  Message *m;
  CopyBuf b;
  int bad, ok;
  copy_init(&b);
  if (lua_isnone(L, fnidx)) lua_pushnil(L);  /* "function expected, got nil" */
  if (!copy_dump(L, &b, fnidx, lua_gettop(L) - fnidx + 1, 1, aio_rt(L), &bad))
    copy_argerror(L, &b, "run_coroutine_threadsafe", 1 + bad, level);
  cf = cfuture_new(inbox);
  m = msg_new(MSG_TASK);
  if (cf == NULL || m == NULL) {
    free(cf); free(m); copy_free(&b);
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
  if (!ok) return luaL_error(L, "event loop is closed");
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

static void newmeta (lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta) {
  luaL_newmetatable(L, name);
  aio_setfuncs(L, meta);
  lua_newtable(L);
  aio_setfuncs(L, methods);
  lua_setfield(L, -2, "__index");
  lua_setfield(L, 1, strrchr(name, '.') + 1);  /* module.<Name> = metatable */
}

int thread_open (lua_State *L) {
  static const luaL_Reg ex_methods[] = {
    {"shutdown", executor_shutdown_m},
    {"_workers", executor_workers},
    {NULL, NULL}
  };
  static const luaL_Reg ex_meta[] = {
    {"__gc", executor_gc},
    {"__close", executor_close},
    {"__tostring", executor_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg cf_methods[] = {
    {"result", cfuture_result},
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
    {"executor_new", core_executor_new},
    {"executor_submit", core_executor_submit},
    {"executor_cancel", core_executor_cancel},
    {"cfuture_watch", core_cfuture_watch},
    {"cfuture_set", core_cfuture_set},
    {"cfuture_key", core_cfuture_key},
    {"start_loop_thread", core_start_loop_thread},
    {"loop_thread_ready", core_loop_thread_ready},
    {"thread_run_coroutine", core_thread_run_coroutine},
    {NULL, NULL}
  };
  newmeta(L, AIO_EXECUTOR, ex_methods, ex_meta);
  newmeta(L, AIO_CFUTURE, cf_methods, cf_meta);
  newmeta(L, AIO_LOOPTHREAD, lt_methods, lt_meta);
  aio_setfuncs(L, funcs);
  return 0;
}
