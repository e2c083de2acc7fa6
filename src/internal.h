/*
** internal.h: the types and cross-file functions of the asyncio core.
**
** Anchoring rule (every C file follows it): a C structure points to a Lua
** value only through a user value of its own userdata, so whatever an object
** needs stays alive exactly as long as the object does; and everything active
** (a scheduled callback, a sleeping or running task, a started watcher) is
** reachable from its loop's user values until it finishes or is stopped.
** Raw C pointers between our objects are caches of such user values.
*/
#ifndef AIO_INTERNAL_H
#define AIO_INTERNAL_H

#include <ev.h>

#include "lua.h"
#include "lauxlib.h"

/* Type tags, also indexes into Runtime.mt. */
enum {
  AIO_TNONE = 0,
  AIO_TLOOP,
  AIO_TFUTURE,
  AIO_TTASK,
  AIO_THANDLE,
  AIO_TTIMER,
  AIO_TWATCHER,
  AIO_TSTREAM,
  AIO_TREADER,
  AIO_TWRITER,
  AIO_TLISTENER,
  AIO_TDATAGRAM,
  AIO_TRESOLVER,
  AIO_NTYPES
};

#define AIO_LOOP    "asyncio.Loop"
#define AIO_FUTURE  "asyncio.Future"
#define AIO_TASK    "asyncio.Task"
#define AIO_HANDLE  "asyncio.Handle"
#define AIO_TIMER   "asyncio.TimerHandle"
#define AIO_WATCHER "asyncio.Watcher"
#define AIO_STREAM  "asyncio.Stream"
#define AIO_READER  "asyncio.StreamReader"
#define AIO_WRITER  "asyncio.StreamWriter"
#define AIO_LISTENER "asyncio.Listener"
#define AIO_DATAGRAM "asyncio.DatagramEndpoint"
#define AIO_RESOLVER "asyncio.Resolver"

/* User values of the Runtime userdata (upvalue 1 of every core function). */
enum {
  RT_UV_ERRORS = 1,   /* table of the error classes, set by the Lua layer */
  RT_UV_RUNNING,      /* the running loop's userdata, or nil */
  RT_UV_TRACEBACKS,   /* weak-keyed {thread = traceback} of failing tasks */
  RT_UV_COROSTATE,    /* {metatables = set, debug_mt = mt, sources =
                         weak-keyed {object = traceback}, sleep0 = obj} */
  RT_UV_COROMT,       /* the metatable new coroutine objects get, one of
                         the state's (core.set_coro_mt), or false for
                         debug_mt: a user value, as coro_push reaches it
                         without a field lookup */
  RT_UV_BODY,         /* the main function of task coroutines */
  RT_UV_HOOKS,        /* table of Lua functions the core calls (reporting) */
  RT_UV_MT,           /* RT_UV_MT - 1 + type tag: the metatable of each of
                         our userdata types (aio_setmetatable) */
  RT_NUV = RT_UV_MT - 1 + AIO_NTYPES
};

/* How deeply tostring of a future shows the futures in its result. */
#define AIO_REPR_DEPTH 32

/* One per lua_State that loaded the core. */
typedef struct Runtime {
  struct Loop *running;          /* rw: loop inside run_forever, or NULL */
  const void *mt[AIO_NTYPES];    /* ro: metatables, for fast type tests */
  lua_Integer task_counter;      /* rw: numbers the tasks in creation order */
  lua_Integer name_counter;      /* rw: numbers the default task names */
  const void *coro_mt[2];        /* ro: metatables of coroutine objects */
  const void *sleep0;            /* ro: the shared sleep(0) object */
  unsigned setup_done;           /* rw: AIO_SETUP_* calls already made */
  int repr_depth;                /* rw: entries in repr_active */
  int cancel_depth;              /* rw: task:cancel() calls nested (task_cancel.c) */
  int cancels_deferred;          /* rw: how many wait in the registry (task_cancel.c) */
  const void *repr_active[AIO_REPR_DEPTH]; /* rw: futures whose tostring
                                   is running, innermost last (future.c) */
} Runtime;

/* What running a coroutine object a second time raises, in Python's words. */
#define AIO_REUSED_CORO "cannot reuse already awaited coroutine"

/* A SIGINT came since the last poll (watcher.c). */
#include <signal.h>
extern volatile sig_atomic_t aio_sigint_arrived;

/* What every use of a closed loop raises, in Python's words. */
#define AIO_LOOP_CLOSED "Event loop is closed"

/* The most values a coroutine object or handle keeps: one user value each,
   and lua_newuserdatauv takes fewer than USHRT_MAX. */
#define AIO_MAX_ARGS 65000

/* The one-shot setup calls of the Lua layer (aio_setup_once). */
enum {
  AIO_SETUP_ERRORS = 1, AIO_SETUP_HOOKS = 2, AIO_SETUP_COROSTATE = 4,
  AIO_SETUP_SLEEP0 = 8, AIO_SETUP_THREAD = 16
};

/* ---------- the ready queue and the loop (loop.c) ---------- */

/* User values of a Loop. */
enum {
  LOOP_UV_READY = 1,  /* ring of 2-slot entries: the ready queue */
  LOOP_UV_TIMERS,     /* {slot = TimerHandle or Task}: objects in the heap */
  LOOP_UV_TASKS,      /* weak-valued {slot = task}: unfinished tasks */
  LOOP_UV_WATCHERS,   /* {key = Watcher}: started fd and signal watchers */
  LOOP_UV_REPORTS,    /* list of contexts waiting for the exception handler */
  LOOP_UV_LUA,        /* table owned by the Lua layer (handler, executor...) */
  LOOP_UV_UNRETRIEVED,/* weak-keyed {future = n}: failed (the nth failure
                         of the loop), not retrieved */
  LOOP_UV_POOL,       /* list of finished coroutines kept for reuse, its
                         array part made with room for LOOP_POOL_MAX */
  LOOP_UV_SOURCES,    /* weak-keyed {object = {traceback, "file:line"}}:
                         where the loop's futures, tasks and handles made in
                         debug mode were made (sources.c) */
  LOOP_NUV
};

typedef struct TimerEntry {
  double when;             /* deadline on the monotonic clock */
  unsigned long long seq;  /* tie-break: equal deadlines fire in order */
  int slot;                /* key of the object in LOOP_UV_TIMERS */
} TimerEntry;

typedef struct Loop {
  unsigned char closed;    /* ro: close() ran; nothing may touch ev */
  unsigned char running;   /* ro: inside run_forever */
  unsigned char delivering;/* rw: flush_reports is handing reports over */
  unsigned char stopping;  /* rw: stop() was called */
  unsigned char debug;     /* rw: set_debug */
  struct ev_loop *ev;      /* owned; NULL once closed */
  Runtime *rt;             /* ro */
  lua_State *L;            /* ro: the state driving run_forever, or NULL */
  struct Task *current;    /* ro: the task being stepped, or NULL */
  lua_State *current_L;    /* ro: the state that resumed it: the loop's, or
                              the caller of an eager create_task */
  int current_idx;         /* ro: the task's index on current_L's stack */
  int current_loopidx;     /* ro: the loop's index on current_L's stack */
  int current_ringidx;     /* ro: the ready ring's index on current_L's
                              stack when run_once stepped the task (the
                              table there is current while slotgen is
                              ringgen), else 0 */
  unsigned char has_task_factory; /* rw: LOOP_UV_LUA.task_factory is set */
  int eager_depth;         /* rw: eager starts running inside one another */
  /* ready queue: entries [head, tail) of a ring of cap entries */
  lua_Integer head, tail, cap;
  lua_Integer nwithb;      /* rw: queued entries (a, b) with a b: while
                              none is, run_once does not read slots b */
  /* timers: a binary heap ordered by (when, seq) */
  TimerEntry *heap;        /* owned */
  int nheap, heapcap;
  int *slotpos;            /* owned: heap position of each slot, -1 if free */
  int nslots;              /* size of slotpos */
  int freeslot;            /* head of the free-slot list, 0 if none */
  int *slotnext;           /* owned: free-slot list links */
  unsigned long long seq;
  lua_Integer nfailed;     /* rw: numbers failures in LOOP_UV_UNRETRIEVED */
  /* polling */
  double last_poll;        /* when libev last looked for I/O */
  int since_poll;          /* iterations run without polling */
  unsigned iterations;     /* rw: iterations begun, wrapping (stream.h) */
  unsigned sent_iteration; /* rw: iterations + 1 when a stream of this loop
                              last sent bytes, 0: never (stream.h) */
  unsigned sent_by;        /* rw: the id of the one stream that sent since
                              the iteration before that, 0: several */
  unsigned nstreams;       /* rw: ids given to its streams (wrapping) */
  struct Stream **byfd;    /* owned array, not its streams: byfd[fd] is the
                              stream given fd last, if it was not collected
                              since (stream.c keeps it; check its fd) */
  int nbyfd;               /* rw: length of byfd */
  long long coarse_seen;   /* the coarse clock when the clock was last read */
  double slow_callback;    /* debug: report callbacks slower than this */
  ev_timer wakeup;         /* bounds the poll wait by the next deadline */
  ev_async async;          /* keeps the loop blocking; threadsafe wakeups */
  struct Watcher *fresh;   /* add_reader/add_writer watchers libev has not
                              registered yet (watcher_before_poll) */
  unsigned long long ntasks_created;
  int npool;               /* rw: coroutines in LOOP_UV_POOL */
  unsigned int ringgen;    /* rw: bumped when the ready ring is replaced */
  unsigned int slotgen;    /* rw: the ringgen of the ring run_loop keeps on
                              its stack */
  int *taskfree;           /* owned: free slots of LOOP_UV_TASKS */
  int ntaskfree, taskfreecap;
  int ntaskslots;          /* rw: slots used so far in LOOP_UV_TASKS */
  int nreports;            /* rw: contexts queued in LOOP_UV_REPORTS */
  struct Inbox *inbox;     /* owned by threadsafe.c: messages of other threads */
  /* the order of what one poll makes ready (ioorder.c) */
  unsigned char polling;   /* rw: inside ev_run: queued entries are tagged */
  unsigned char order_lost;/* rw: a tag could not be kept this poll */
  unsigned iogroup;        /* rw: the I/O callback running, in libev's order */
  int iokey;               /* rw: its add_reader/add_writer watcher's key
                              (2 * fd + 0 or 1), -1 for any other callback */
  unsigned *polled;        /* owned: the tag of each entry queued this poll */
  int *polledkey;          /* owned: the iokey of each entry queued this poll */
  lua_Integer npolled, polledcap;
  lua_Integer poll_base;   /* rw: entries queued before the poll */
  int shadow;              /* owned: epoll set registered as Python's selector
                              registers add_reader/add_writer fds, -1: none */
  int nshadow;             /* rw: descriptors registered in it */
  void *shadowev;          /* owned: room for nshadow epoll events */
  int shadowcap;
} Loop;

#define LOOP_INIT_CAP 256

/* Finished coroutines kept per loop for the next tasks (task.c). */
#define LOOP_POOL_MAX 64

/*
** Where run_loop's frame keeps a spare coroutine (finished and clean, or
** nil), next to the ready ring at ringidx: a task that ends without
** suspending hands its coroutine to the next one through that stack slot,
** not through LOOP_UV_POOL, whose push and pop cost two table stores and
** two user-value reads per task.
*/
#define SPARE(ringidx) ((ringidx) + 1)

/* ---------- the order of a poll's events (ioorder.c) ---------- */
/* An I/O callback begins: what it queues forms one group. */
#define ioorder_event(loop) ((loop)->iokey = -1, (loop)->iogroup++)
void ioorder_begin (Loop *loop);
void ioorder_watch (Loop *loop, int fd, int before, int after);
void ioorder_record (Loop *loop);
void ioorder_end (lua_State *L, Loop *loop, int loopidx);
void ioorder_free (Loop *loop);

/* ---------- tracebacks (traceback.c) ---------- */
void aio_traceback (lua_State *L, lua_State *L1, const char *msg, int level);

/* ---------- the state's allocator (arena.c) ---------- */
void arena_install (lua_State *L);
int arena_stats (lua_State *L);
int arena_hugepages (void);

/* ---------- populating the arena's next chunk ahead (prefault.c) ---------- */
int prefault_enabled (void);
int prefault_request (void *base, size_t len);
void prefault_cancel (void);

/* ---------- the arena's blocks of 2 MiB and more (bigblock.c) ---------- */
#define BIGBLOCK_MIN ((size_t)2 << 20)
void *bigblock_new (size_t n);
int bigblock_owns (const void *p);
void bigblock_free (void *p);
void *bigblock_resize (void *p, size_t osize, size_t n);
size_t bigblock_stats (size_t *bytes);

/* The Runtime: upvalue 1 of every core function. */
static inline Runtime *aio_rt (lua_State *L) {
  return (Runtime *)lua_touserdata(L, lua_upvalueindex(1));
}

int aio_iscallable (lua_State *L, int idx);
int aio_errorf (lua_State *L, const char *fmt, ...);
const char *aio_push_libsource (lua_State *L, size_t *len);
int aio_call_tolstring (lua_State *L);
const char *aio_tolstring_safe (lua_State *L, int idx);
int aio_loop_closed (lua_State *L);
void aio_warn_unclosed (lua_State *L, const char *name, int fd);
void aio_check_callback (lua_State *L, struct Loop *loop, int idx, const char *fname);
int aio_typeof (lua_State *L, Runtime *rt, int idx);

/*
** The object at idx if it has the given type (a Task is a Future), else
** NULL: one metatable comparison, not aio_typeof's search; inline, as every
** method checks its object with it. [-0, +0, -]
*/
static inline void *aio_toobj (lua_State *L, Runtime *rt, int idx, int type) {
  const void *mt;
  if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
    return NULL;
  mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  if (mt == rt->mt[type] || (type == AIO_TFUTURE && mt == rt->mt[AIO_TTASK]))
    return lua_touserdata(L, idx);
  return NULL;
}

void *aio_checkobj (lua_State *L, int idx, int type, const char *tname);
void aio_setup_once (lua_State *L, unsigned which, const char *name);
int aio_pusherror (lua_State *L, const char *cls, const char *msg);
int aio_pusherrorv (lua_State *L, const char *cls, int msgidx);
int aio_is_cancelled_error (lua_State *L, int idx);
void aio_instantiate_class (lua_State *L, int idx);
void aio_newweak (lua_State *L, const char *mode);
void aio_settracebacktable (lua_State *L);
void aio_report (lua_State *L, Loop *loop, int ctxidx);
double aio_now (void);
void aio_setfuncs (lua_State *L, const luaL_Reg *l);
void aio_newclass (lua_State *L, int type, const char *name,
                   const luaL_Reg *methods, const luaL_Reg *meta);
void aio_setmetatable (lua_State *L, int type);

/* ---------- argument errors (argcheck.c) ---------- */
void aio_setmethods (lua_State *L, const luaL_Reg *l);
void aio_setfunctions (lua_State *L, const luaL_Reg *l);
int aio_argerror (lua_State *L, int arg, const char *extramsg);
int aio_typeerror (lua_State *L, int arg, const char *tname);
void aio_checktype (lua_State *L, int arg, int t);
void aio_checkany (lua_State *L, int arg);
void *aio_checkudata (lua_State *L, int arg, const char *tname);
lua_Number aio_checknumber (lua_State *L, int arg);
lua_Integer aio_checkinteger (lua_State *L, int arg);
lua_Integer aio_optinteger (lua_State *L, int arg, lua_Integer def);
const char *aio_checklstring (lua_State *L, int arg, size_t *len);
const char *aio_optlstring (lua_State *L, int arg, const char *def,
                            size_t *len);
int aio_checkoption (lua_State *L, int arg, const char *def,
                     const char *const lst[]);

/* Every file checks arguments through argcheck.c, so that an error in one
   of our methods names it however it was called. lauxlib's macros
   (luaL_argcheck, luaL_checkstring, luaL_optstring, luaL_argexpected)
   expand to these names, and so reach the functions above too. */
#ifndef AIO_ARGCHECK_IMPL
#define luaL_argerror aio_argerror
#define luaL_typeerror aio_typeerror
#define luaL_checktype aio_checktype
#define luaL_checkany aio_checkany
#define luaL_checkudata aio_checkudata
#define luaL_checknumber aio_checknumber
#define luaL_checkinteger aio_checkinteger
#define luaL_optinteger aio_optinteger
#define luaL_checklstring aio_checklstring
#define luaL_optlstring aio_optlstring
#define luaL_checkoption aio_checkoption
#endif

Loop *loop_check (lua_State *L, int idx);
Loop *loop_checkopen (lua_State *L, int idx);
int loop_pushself (lua_State *L, Loop *loop, int objidx);
void loop_ready_push (lua_State *L, Loop *loop, int loopidx, int aidx, int bidx);
void loop_ready_push_top (lua_State *L, Loop *loop, int loopidx);
void loop_ready_push_ring (lua_State *L, Loop *loop, int loopidx, int readyidx,
                           int aidx, int bidx);
void loop_ready_reserve (lua_State *L, Loop *loop, int loopidx);
void loop_ready_reserve_n (lua_State *L, Loop *loop, int loopidx,
                           lua_Integer n);
void loop_poll_next (Loop *loop);
void loop_close (lua_State *L, Loop *loop, int loopidx);
int loop_task_slot (lua_State *L, Loop *loop);
void loop_free_task_slot (Loop *loop, int slot);
int loop_make_open (lua_State *L);
int loop_open (lua_State *L);

/* ---------- debug mode: where objects were made (sources.c) ---------- */
void loop_note_source (lua_State *L, int loopidx, int objidx);
void loop_add_source (lua_State *L, int reportidx, int loopidx, int objidx);
void loop_push_created_at (lua_State *L, int loopidx, int objidx);
int sources_open (lua_State *L);

/* Stack index idx once one more value is pushed: relative indices move,
   absolute and pseudo-indices do not (lua_absindex without a call). */
#define AIO_BELOW_PUSH(idx) \
  ((idx) < 0 && (idx) > LUA_REGISTRYINDEX ? (idx) - 1 : (idx))

/* What a task that fails with a nil error holds instead, as lua.c reports
   such an error: a failed future needs an error value. */
#define AIO_NIL_ERROR "(error object is a nil value)"

/* Markers put in the second slot of a ready entry. */
extern char aio_mark_timer;  /* a sleeping task's deadline passed */
extern char aio_mark_throw;  /* resume value: raise the next value */

/* ---------- timers (timer.c) ---------- */
int timer_add (lua_State *L, Loop *loop, int loopidx, double when, int objidx);
void timer_arm (lua_State *L, Loop *loop, int loopidx, double when);
void timer_schedule (lua_State *L, Loop *loop, int loopidx, int fnidx,
                     int nargs, double when);
void timer_remove (lua_State *L, Loop *loop, int loopidx, int slot);
void timer_pop_due (lua_State *L, Loop *loop, int loopidx, int readyidx,
                    double now);
void timer_free (Loop *loop);
int timer_open (lua_State *L);

/* ---------- handles (handle.c) ---------- */
typedef struct Handle {
  unsigned char type;      /* ro: AIO_THANDLE, where a Future keeps its
                              type: dispatch tells a queued Handle from a
                              Task by it */
  unsigned char cancelled; /* rw */
  unsigned char istimer;   /* ro */
  unsigned char fired;     /* rw: its callback ran and returned (wait_for
                              tells an expired deadline by it) */
  int nargs;               /* ro: arguments in user values 3.. */
  double when;             /* ro: deadline of a TimerHandle */
  int slot;                /* rw: heap slot while scheduled, else 0 */
  unsigned char spare;     /* rw: a TimerHandle of one argument that
                              handle_disarm took out of the heap: on no
                              queue, handle_reuse may schedule it again */
  unsigned char debug;     /* ro: made in debug mode: cancel keeps what the
                              callback was, as a string, for tostring */
} Handle;
enum { HANDLE_UV_LOOP = 1, HANDLE_UV_FN = 2, HANDLE_UV_ARGS = 3 };

int handle_new (lua_State *L, Loop *loop, int loopidx, int fnidx, int nargs,
                int istimer);
void handle_run (lua_State *L, Loop *loop, int idx);
void handle_push_fn_name (lua_State *L, int idx);
int handle_disarm (lua_State *L, int idx);
int handle_disarm_at (lua_State *L, Handle *h, int idx);
void handle_reuse (lua_State *L, Loop *loop, int loopidx, int fnidx,
                   Handle *h, int spareidx);
void aio_push_callback_msgh (lua_State *L);
int aio_call_callback (lua_State *L, Loop *loop, int loopidx, int nargs,
                       int cbidx);
int handle_open (lua_State *L);

/* ---------- futures (future.c) ---------- */
enum { FUT_PENDING = 0, FUT_FINISHED, FUT_CANCELLED };
enum { FUT_UV_LOOP = 1, FUT_UV_RESULT, FUT_UV_CALLBACKS, FUT_NUV };

typedef struct Future {
  unsigned char type;      /* ro: AIO_TFUTURE or AIO_TTASK */
  unsigned char state;     /* rw: FUT_* */
  unsigned char failed;    /* ro: finished with an error in FUT_UV_RESULT */
  unsigned char retrieved; /* rw: the error was looked at */
  int nresults;            /* ro: 1 -> value, >1 -> table, in FUT_UV_RESULT */
  int ncallbacks;          /* rw: 1 -> the callback, >1 -> a list */
  int cbcap;               /* rw: slots the list's array part was made with */
  Loop *loop;              /* ro: cache of FUT_UV_LOOP */
} Future;

Future *future_check (lua_State *L, int idx);
Future *future_test (lua_State *L, Runtime *rt, int idx);
void future_init (lua_State *L, Future *f, int type, int loopidx);
Future *future_pushnew (lua_State *L, int loopidx);
int future_pushresults (lua_State *L, Future *f, int idx);
int future_push_first_outcome (lua_State *L, Future *f, int idx);
void future_push_cancel_message (lua_State *L, Future *f, int idx);
void future_mark_retrieved (lua_State *L, Future *f, int idx);
int future_set_results (lua_State *L, Future *f, int idx, int first, int n);
void future_set_error (lua_State *L, Future *f, int idx, int erridx);
int future_cancel_self (lua_State *L, Future *f, int idx, int msgidx);
int future_cancel (lua_State *L, Future *f, int idx, int msgidx);
void future_add_callback (lua_State *L, Future *f, int idx, int cbidx);
void future_schedule_callbacks (lua_State *L, Future *f, int idx);
void future_finalize (lua_State *L, Future *f);
int future_tostring_state (lua_State *L, Future *f, int idx);
int future_in_tostring (lua_State *L, Future *f);
int future_open (lua_State *L);

/* ---------- tasks (task.c, task_wait.c, task_cancel.c) ---------- */
enum {
  TASK_UV_CORO = FUT_NUV,  /* the thread running the body */
  TASK_UV_OBJ,             /* the coroutine object or function */
  TASK_UV_NAME,            /* name string, or nil for Task-<id> */
  TASK_UV_WAITER,          /* the future being awaited, or what it is parked on;
                              under CANCEL_FORCED, the message of the
                              CancelledError its wakeup raises */
  TASK_UV_TRACEBACK,       /* where it failed */
  TASK_UV_CANCELMSG,       /* message of a pending cancel() */
  TASK_NUV = TASK_UV_CANCELMSG
};

/* What a task's coroutine is suspended on. */
enum {
  WAIT_NONE = 0,   /* not started, or finished */
  WAIT_RUNNING,    /* being stepped right now */
  WAIT_READY,      /* a step is in the ready queue */
  WAIT_FUTURE,     /* a done callback of TASK_UV_WAITER */
  WAIT_TIMER,      /* a deadline in the heap (sleep) */
  WAIT_PARKED      /* parked on TASK_UV_WAITER, a C object (task_park) */
};

/*
** Parking: how the C objects tasks wait on most (queues, stream readers)
** suspend a task without a waiter future. The object keeps the task and
** wakes it with task_unpark, which queues its step as a future's done
** callback would; a cancel() meanwhile calls the object's ParkCancel to
** take the task out, then queues the step that raises CancelledError.
*/
typedef void (*ParkCancel) (lua_State *L, int owneridx, int taskidx, int arg);
enum { PARK_WOKEN = 1, PARK_CANCELLED };
#define CANCEL_FORCED 2  /* see task_force_cancel */

typedef struct Task {
  Future fut;              /* a Task is a Future */
  unsigned char wait;      /* rw: WAIT_* */
  unsigned char must_cancel; /* rw: raise CancelledError at the next step:
                              1, or CANCEL_FORCED when uncancel() cannot
                              withdraw it (a cancelled park or sleep) */
  unsigned char started;   /* rw: the body has been entered */
  int ncancels;            /* rw: cancel requests not uncancelled */
  int slot;                /* rw: heap slot while wait == WAIT_TIMER */
  int tslot;               /* rw: index in LOOP_UV_TASKS, 0 when finished */
  lua_Integer id;          /* ro: creation order, among the runtime's tasks */
  lua_Integer namenum;     /* ro: N of the default name Task-N, 0 if named */
  lua_State *co;           /* ro: cache of TASK_UV_CORO (made with the
                              task), NULL when done */
  const void *waiter;      /* rw: lua_topointer of TASK_UV_WAITER, NULL
                              when nil: task_park skips storing the object
                              it is parked on again */
  ParkCancel unpark;       /* rw: while WAIT_PARKED: takes the task out */
  int unpark_arg;          /* rw: while WAIT_PARKED: unpark's argument */
  unsigned char parked;    /* rw: PARK_* how the last park ended */
  unsigned char reused;    /* ro: its coroutine object had run already */
  unsigned char quiet;     /* rw: collected pending without a report, as
                              Python's _log_destroy_pending = False */
  unsigned char msg_kept;  /* rw: a cancel() found nothing to cancel in its
                              place: TASK_UV_CANCELMSG is also Python's
                              _cancel_message (future_push_cancel_message) */
} Task;

Task *task_check (lua_State *L, int idx);
void task_pushcurrent (lua_State *L, Loop *loop);
void task_push_loop_and_task (lua_State *L, Loop *loop);
struct Task *task_check_running (lua_State *L);

/* task_check_running for the hot callers (sleep(0), await on a future):
   the usual case inline, the errors in task.c. */
static inline Task *task_running_or_raise (lua_State *L, Runtime *rt) {
  Loop *loop = rt->running;
  if (loop != NULL && loop->current != NULL && loop->current->co == L
      && lua_isyieldable(L))
    return loop->current;
  return task_check_running(L);
}
void task_step (lua_State *L, Loop *loop, int loopidx, int idx, Task *t,
                int futidx, int ringidx);
void task_timer_fired (lua_State *L, Loop *loop, int loopidx, int readyidx,
                       int idx);
int task_open (lua_State *L);
/* task_wait.c */
Task *task_push_running (lua_State *L);
Task *task_push_current (lua_State *L, Loop *loop);
int task_park (lua_State *L, int owneridx, int tidx, Task *t,
               ParkCancel unpark, int arg, lua_KFunction k, lua_KContext ctx);
int task_park_at (lua_State *L, int owneridx, const void *owner, int tidx,
                  Task *t, ParkCancel unpark, int arg, lua_KFunction k,
                  lua_KContext ctx);
int task_park_top (lua_State *L, int owneridx, const void *owner, Task *t,
                   ParkCancel unpark, int arg, lua_KFunction k,
                   lua_KContext ctx);
int task_unpark (lua_State *L, int idx, int loopidx);
int task_unpark_top (lua_State *L, int loopidx);
int task_park_ended (lua_State *L, int nkept, int *woken);
int task_yield_iteration (lua_State *L, int nkept, lua_KContext ctx,
                          lua_KFunction k);
void task_check_resumed (lua_State *L, int nkept);
int task_wait_open (lua_State *L);
/* task_cancel.c */
void task_force_cancel (lua_State *L, Task *t, int idx);
extern const luaL_Reg task_cancel_methods[];
int task_guarded_cancel (lua_State *L, lua_CFunction now, int pending,
                         const void *key);

/* ---------- making tasks (spawn.c) ---------- */
int spawn_open (lua_State *L);
void spawn_task_for (lua_State *L, Loop *loop, int loopidx, int objidx);

/* ---------- gather's and wait_for's hot paths (compose.c) ---------- */
int gather_dispatch (lua_State *L, int cbidx, int futidx);
int compose_open (lua_State *L);

/* ---------- coroutine objects (coro.c) ---------- */
typedef struct Coro {
  unsigned char awaited;   /* rw: run once already (or owned by a task) */
  int n;                   /* ro: arguments, in user values 2..n+1 */
} Coro;

void coro_push (lua_State *L, int fnidx, int first, int n);
Coro *coro_test (lua_State *L, int idx);
int coro_is (lua_State *L, int idx);
void coro_wrap_reusable (lua_State *L, int idx);
int coro_pushcall (lua_State *L, Coro *c, int idx);
int coro_own (lua_State *L, int idx);
void coro_unwrap_body (lua_State *L, int idx);
int coro_is_async_function (lua_State *L, int idx);
int coro_open (lua_State *L);

/* ---------- watchers: fds and signals (watcher.c) ---------- */
int watcher_open (lua_State *L);
void watcher_stopall (lua_State *L, Loop *loop, int loopidx);
void watcher_before_poll (Loop *loop);
void watcher_sigint_polled (Loop *loop);

/* ---------- signals by name or number (signame.c) ---------- */
int aio_checksignal (lua_State *L, int arg, int tocatch);
int signame_open (lua_State *L);

/* ---------- descriptors as integers (fdutil.c) ---------- */
int aio_checkfd (lua_State *L, int arg);
int fdutil_open (lua_State *L);

/* ---------- threads (copy.c, threadsafe.c, thread.c; see thread.h) ---------- */
void threadsafe_drain (Loop *loop);
void threadsafe_take (lua_State *L, Loop *loop, int loopidx, int all);
void threadsafe_detach (Loop *loop);
int threadsafe_open (lua_State *L);
int thread_open (lua_State *L);

/* ---------- queues (queue.c, queue_store.c, waiters.c; see queue.h) ---------- */
int queue_open (lua_State *L);

/* ---------- network I/O (socket.c, stream.c, datagram.c, resolver.c) ---------- */

/*
** Userdata other than Watchers that anchor themselves in LOOP_UV_WATCHERS
** (as the value of a light userdata key, usually their own address) start
** with an IoHook: watcher_stopall, run by loop_close, calls loopclose on
** each, which stops its libev watchers and closes its descriptor without
** calling Lua.
*/
typedef struct IoHook {
  void (*loopclose) (struct IoHook *self);
} IoHook;

/* Sockets, addresses, errors and the listening sockets of servers. */
struct sockaddr_storage;
void socket_anchor (lua_State *L, int loopidx, void *key, int objidx);
void socket_unanchor (lua_State *L, int loopidx, void *key);
int socket_pusherror (lua_State *L, int err, const char *what);
const char *socket_errname (int err);
int socket_pushaddr (lua_State *L, const void *sa, unsigned int salen);
const char *socket_toaddr (int family, const char *host, size_t hostlen,
                           lua_Integer port, struct sockaddr_storage *ss,
                           unsigned int *len);
int socket_checkaddr (lua_State *L, int fam, struct sockaddr_storage *ss,
                      unsigned int *len);
const char *socket_describe (lua_State *L, const struct sockaddr_storage *ss,
                             unsigned int len);
/* User values of a Listener (socket.c) */
enum {
  LIS_UV_LOOP = 1,
  LIS_UV_HANDLER,   /* handler(stream), queued once per connection */
  LIS_UV_ACCEPT,    /* accept_some, as a closure over the Runtime */
  LIS_UV_PATH,      /* the path of a Unix socket, unlinked on close */
  LIS_NUV = LIS_UV_PATH
};
struct Listener;
struct Listener *socket_listener_new (lua_State *L, int loopidx, int family,
                                      lua_Integer backlog, int nodelay,
                                      int handleridx);
int socket_listener_finish (lua_State *L, struct Listener *ls, int lisidx,
                            int fd, int keep_path, int defer);
int socket_open (lua_State *L);
int adopt_open (lua_State *L);

/* A byte stream over a connected socket (stream.c). */
enum { STREAM_TCP = 0, STREAM_UNIX, STREAM_PIPE };
struct Stream;
struct Stream *stream_new (lua_State *L, int loopidx, int kind);
void stream_setfd (struct Stream *s, int fd);
int stream_has_fd (Loop *loop, int fd);
void stream_free_byfd (Loop *loop);
void stream_keep_names (struct Stream *s);
int stream_open (lua_State *L);

int datagram_open (lua_State *L);
int process_open (lua_State *L);
int resolver_open (lua_State *L);

#endif
