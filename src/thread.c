/*
** thread.c: OS threads with Lua states of their own, and the worker pools
** of executors (to_thread, run_in_executor, ThreadPoolExecutor). Loop
** threads and concurrent futures are in loopthread.c.
**
** Anchoring rule: a pool is C memory shared with its workers (its
** userdata holds a pointer), and a worker touches only its own Lua state;
** results travel as copied values in messages posted to the inbox of the
** loop that waits for them, whose pending future is held by that loop
** (threadsafe.c). The owner joins the workers (shutdown, or __gc at the
** latest) before freeing the pool, so no worker outlives what it uses.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lualib.h"
#include "thread.h"

#define AIO_EXECUTOR "asyncio.ThreadPoolExecutor"

/* ---------- Lua states of other threads ---------- */

static char *dupstr (const char *s) {
  size_t len = strlen(s) + 1;
  char *p = (char *)malloc(len);
  if (p != NULL) memcpy(p, s, len);
  return p;
}

/* Copies package.path and package.cpath of L (NULL if unset). */
void thread_getpaths (lua_State *L, char **path, char **cpath) {
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

/*
** A new state with the standard libraries and the given module paths,
** collected in generational mode, as lua5.4 runs its own state: tasks
** carry finalizers, and in incremental mode what they hold stays a cycle
** longer, so the garbage of a busy loop thread piled up (tens of MB).
*/
lua_State *thread_newstate (const char *path, const char *cpath) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return NULL;
  lua_gc(L, LUA_GCGEN, 0, 0);
  lua_pushcfunction(L, setpaths_p);
  lua_pushlightuserdata(L, (void *)path);
  lua_pushlightuserdata(L, (void *)cpath);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    lua_close(L);
    return NULL;
  }
  return L;
}

/*
** Message handler: a string error gets the traceback of where it was
** raised (lua_type, not lua_isstring: a number stays a number).
*/
int thread_msgh (lua_State *L) {
  if (lua_type(L, 1) == LUA_TSTRING)
    aio_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/*
** Copies the error at idx into buf: as it is if it can be copied, else as
** its string form.
*/
void thread_dump_error (lua_State *L, CopyBuf *buf, int idx) {
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
int thread_dump_results (lua_State *L, CopyBuf *buf, int first, int n) {
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
  uint64_t seq;       /* its number among the executor's jobs, from 1 */
} Job;

typedef struct Executor {
  pthread_cond_t cv;        /* jobs queued or shutdown, with thread_lock */
  pthread_cond_t taken_cv;  /* a worker took a job, with thread_lock */
  uint64_t nsubmitted;      /* guarded: jobs ever queued */
  uint64_t taken;           /* guarded: seq of the last job a worker took */
  Job *head, *tail;         /* guarded */
  int nqueued, idle;        /* guarded */
  int busy;                 /* guarded: jobs being run */
  int shutdown;             /* guarded; written by the owner only */
  uint64_t quiet_inbox;     /* guarded: a loop to tell once all jobs ran, */
  uint64_t quiet_target;    /* and its pending future (executor_wait) */
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
  lua_pushcfunction(L, thread_msgh);  /* 3 */
  n = copy_load(L, &job->in, 0, 0);
  if (lua_pcall(L, n - 1, LUA_MULTRET, 3) == LUA_OK)
    m->status = thread_dump_results(L, &m->buf, 4, lua_gettop(L) - 3);
  else {
    m->status = RES_ERROR;
    if (lua_isnil(L, -1)) {  /* error(nil): a failed future needs an error */
      lua_pushliteral(L, AIO_NIL_ERROR);
      lua_replace(L, -2);
    }
    aio_instantiate_class(L, -1);  /* error(Class): as Python's raise Class */
    thread_dump_error(L, &m->buf, -1);
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

/* After shutdown, tells the waiting loop once no job is left. */
static void check_quiet_locked (Executor *ex) {
  Message *m;
  if (!ex->shutdown || ex->head != NULL || ex->busy > 0 || ex->quiet_inbox == 0)
    return;
  m = msg_new(MSG_RESOLVE);
  if (m != NULL) {
    m->target = ex->quiet_target;
    m->status = RES_OK;
    if (!inbox_post_locked(ex->quiet_inbox, m)) msg_free_locked(m);
  }
  ex->quiet_inbox = 0;
}

static void *worker_main (void *arg) {
  Executor *ex = (Executor *)arg;
  lua_State *L = thread_newstate(ex->path, ex->cpath);
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
    ex->busy++;
    ex->taken = job->seq;
    pthread_cond_broadcast(&ex->taken_cv);
    pthread_mutex_unlock(&thread_lock);
    run_job(L, job);
    copy_free(&job->in);
    free(job);
    inbox_let_go();  /* what the job posted may run: the worker is done */
    pthread_mutex_lock(&thread_lock);
    ex->busy--;
    check_quiet_locked(ex);
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

/*
** Waits until a worker has taken the job numbered seq, when one is free to
** (idle, or just started for it), as Python's does before the loop goes
** on: Thread.start waits for a new thread, which then holds the
** interpreter lock while it takes the job, and an idle worker takes it
** while the loop polls. So a job cancelled in the next iteration has
** started and runs to its end, what it posts included. TAKE_LIMIT seconds
** only guard against a worker that never comes.
*/
#define TAKE_LIMIT 1
static void wait_taken_locked (Executor *ex, uint64_t seq) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += TAKE_LIMIT;
  while (ex->taken < seq && !ex->shutdown)
    if (pthread_cond_timedwait(&ex->taken_cv, &thread_lock, &until) == ETIMEDOUT) break;
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
  {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ex->taken_cv, &attr);
    pthread_condattr_destroy(&attr);
  }
  thread_getpaths(L, &ex->path, &ex->cpath);
  *box = ex;
  return 1;
}

/* No result will come for the pending future target of the loop at
   loopidx: forget it. [-0, +0, -] */
static void forget_pending (lua_State *L, int loopidx, uint64_t target) {
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_getfield(L, -1, "thread_pending");
  lua_pushnil(L);
  lua_rawseti(L, -2, (lua_Integer)target);
  lua_pop(L, 2);
}

/*
** core.executor_submit(executor, future, fname, fnarg, level, fn, ...):
** runs fn(...) on a worker; its results or error settle future. Misuse
** raises as fname's argument fnarg (fn) and those after it, at the
** position of the function `level` levels above this one.
*/
static int core_executor_submit (lua_State *L) {
  Executor *ex = executor_check(L, 1);
  Future *f = future_check(L, 2);
  const char *fname = luaL_checkstring(L, 3);
  int fnarg = (int)luaL_checkinteger(L, 4), bad;
  int level = (int)luaL_checkinteger(L, 5);
  Job *job;
  CopyBuf b;
  uint64_t target, inbox;
  int top, free_worker;
  if (ex->shutdown) {  /* Python's RuntimeError: no line of ours to name */
    lua_pushliteral(L, "cannot schedule new futures after shutdown");
    return lua_error(L);
  }
  lua_remove(L, 5);  /* fn, ... from 5 on */
  if (lua_isnone(L, 5)) lua_pushnil(L);  /* "function expected, got nil" */
  top = lua_gettop(L);
  /* what may raise comes before what must be freed */
  lua_getiuservalue(L, 2, FUT_UV_LOOP);  /* top + 1 */
  if (f->loop->closed) return aio_loop_closed(L);
  inbox = inbox_of(L, top + 1);
  target = inbox_pending(L, top + 1, 2);
  copy_init(&b);
  if (!copy_dump(L, &b, 5, top - 4, 1, aio_rt(L), &bad)) {
    forget_pending(L, top + 1, target);
    copy_argerror(L, &b, fname, fnarg + bad, level);
  }
  job = (Job *)calloc(1, sizeof(Job));
  if (job == NULL) {
    copy_free(&b);
    forget_pending(L, top + 1, target);
    return luaL_error(L, "not enough memory");
  }
  job->in = b;
  job->target = target;
  job->inbox = inbox;
  pthread_mutex_lock(&thread_lock);
  if (ex->tail != NULL) ex->tail->next = job; else ex->head = job;
  ex->tail = job;
  job->seq = ++ex->nsubmitted;
  ex->nqueued++;
  free_worker = ex->idle >= ex->nqueued;
  if (!free_worker && ex->nthreads < ex->max
      && pthread_create(&ex->threads[ex->nthreads], NULL, worker_main, ex) == 0) {
    ex->nthreads++;
    free_worker = 1;
  }
  pthread_cond_signal(&ex->cv);
  if (free_worker) wait_taken_locked(ex, job->seq);
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

/*
** Cancels the futures of the jobs no worker has taken yet, as Python's
** shutdown(cancel_futures=True): each loop hears of it as of a result.
*/
static void cancel_queued_locked (Executor *ex) {
  while (ex->head != NULL) {
    Job *job = ex->head;
    Message *m = msg_new(MSG_RESOLVE);
    ex->head = job->next;
    ex->nqueued--;
    if (m != NULL) {
      m->target = job->target;
      m->status = RES_CANCELLED;
      if (!inbox_post_locked(job->inbox, m)) msg_free_locked(m);
    }
    copy_free(&job->in);
    free(job);
  }
  ex->tail = NULL;
  check_quiet_locked(ex);
}

/*
** Stops taking jobs, cancelling the queued ones if cancel_queued; with
** wait, joins the workers once the queue is done.
*/
static void executor_shutdown (Executor *ex, int wait, int cancel_queued) {
  pthread_mutex_lock(&thread_lock);
  ex->shutdown = 1;
  if (cancel_queued) cancel_queued_locked(ex);
  pthread_cond_broadcast(&ex->cv);
  pthread_mutex_unlock(&thread_lock);
  if (wait)
    for (; ex->joined < ex->nthreads; ex->joined++)
      pthread_join(ex->threads[ex->joined], NULL);
}

/*
** core.executor_wait(executor, future): once the executor is shut down and
** has no job left, future (of a loop of this state) gets its result, so a
** loop can keep running while it waits (jobs may need it).
*/
static int core_executor_wait (lua_State *L) {
  Executor *ex = executor_check(L, 1);
  uint64_t inbox, target;
  future_check(L, 2);
  lua_getiuservalue(L, 2, FUT_UV_LOOP);
  inbox = inbox_of(L, -1);
  target = inbox_pending(L, -1, 2);
  pthread_mutex_lock(&thread_lock);
  ex->quiet_inbox = inbox;
  ex->quiet_target = target;
  check_quiet_locked(ex);
  pthread_mutex_unlock(&thread_lock);
  return 0;
}

/* executor:shutdown([wait = true [, cancel_futures = false]]) */
static int executor_shutdown_m (lua_State *L) {
  Executor *ex = executor_check(L, 1);
  executor_shutdown(ex, lua_isnoneornil(L, 2) || lua_toboolean(L, 2),
                    lua_toboolean(L, 3));
  return 0;
}

/* A to-be-closed executor is shut down, waiting, at the end of its scope. */
static int executor_close (lua_State *L) {
  executor_shutdown(executor_check(L, 1), 1, 0);
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
  executor_shutdown(ex, 1, 0);
  pthread_cond_destroy(&ex->cv);
  pthread_cond_destroy(&ex->taken_cv);
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

/* A metatable for userdata boxes, stored in the module table (at 1). */
void thread_newmeta (lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta) {
  luaL_newmetatable(L, name);
  aio_setfuncs(L, meta);
  lua_newtable(L);
  aio_setmethods(L, methods);
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
  static const luaL_Reg funcs[] = {
    {"executor_new", core_executor_new},
    {"executor_submit", core_executor_submit},
    {"executor_cancel", core_executor_cancel},
    {"executor_wait", core_executor_wait},
    {NULL, NULL}
  };
  thread_newmeta(L, AIO_EXECUTOR, ex_methods, ex_meta);
  aio_setfuncs(L, funcs);
  return loopthread_open(L);
}
