/*
** watcher.c: readiness callbacks on file descriptors (add_reader,
** add_writer) and signal handlers, as libev watchers that queue a Handle.
**
** Anchoring rule: a started watcher is the value of its key in the loop's
** LOOP_UV_WATCHERS table and holds its Handle in a user value; removing it
** stops the libev watcher before the table lets go of it.
*/
#define _GNU_SOURCE  /* syscall, SYS_gettid */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "internal.h"

enum { W_READ, W_WRITE, W_SIGNAL };
enum { WATCHER_UV_LOOP = 1, WATCHER_UV_HANDLE, WATCHER_NUV = WATCHER_UV_HANDLE };

typedef struct Watcher {
  union { ev_io io; ev_signal sig; } w;  /* data points back to the Watcher */
  Loop *loop;          /* ro: cache of WATCHER_UV_LOOP */
  int kind;            /* ro: W_* */
  int num;             /* ro: fd or signal number */
  int started;         /* rw: the libev watcher is running */
  struct Watcher *next_fresh;  /* rw: link in loop->fresh while in it */
  int fresh;           /* rw: in loop->fresh */
  int relay;           /* ro: a signal handler queued one iteration late */
  int immediate;       /* ro: a signal handler run inside the poll */
  dev_t dev;           /* ro: the file the descriptor was when added, */
  ino_t ino;           /*     told by fstat (0, 0: not known) */
} Watcher;

/* One loop per signal in the whole process: libev allows no more. */
static pthread_mutex_t signal_lock = PTHREAD_MUTEX_INITIALIZER;
static Loop *signal_owner[NSIG];

/*
** SIGINT's action from before a loop took the signal (lua5.4's handler
** that raises "interrupted!", say), put back when the loop lets go of it,
** where libev would leave SIG_DFL: Python's remove_signal_handler likewise
** gives SIGINT back to its default_int_handler. Under signal_lock.
*/
static struct sigaction sigint_before;
static int sigint_saved;

/*
** Ctrl-C in a loop that does not get back to its poll (a task computing
** without awaiting): libev's handler only notes the signal for the loop,
** so no Ctrl-C would ever reach the program. As lua5.4 does, the first
** SIGINT the loop has not handled yet puts back the default action, so
** a second one ends the process (Python raises KeyboardInterrupt in the
** busy code then); the loop arms ours again when it handles the first.
** sigint_libev is libev's action, under signal_lock.
*/
static struct sigaction sigint_libev;
static void (*volatile sigint_next) (int);

/* A SIGINT came since the last poll: a busy loop polls at its next
   iteration (loop.c), so that asyncio.run's handler, which Python runs at
   once, is not 64 iterations late. */
volatile sig_atomic_t aio_sigint_arrived;

/*
** What a poll that starts calls: a SIGINT that came before it is seen by
** that poll, if this loop is the one that handles SIGINT (or none does).
** Another thread's loop leaves the flag for the one it is meant for.
*/
void watcher_sigint_polled (Loop *loop) {
  if (!aio_sigint_arrived) return;
  pthread_mutex_lock(&signal_lock);
  if (signal_owner[SIGINT] == loop || signal_owner[SIGINT] == NULL)
    aio_sigint_arrived = 0;
  pthread_mutex_unlock(&signal_lock);
}

static void sigint_first (int sig) {
  struct sigaction dfl;
  aio_sigint_arrived = 1;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, NULL);
  if (sigint_next != NULL) sigint_next(sig);
}

/* Installs sigint_first in front of libev's handler. Under signal_lock. */
static void sigint_arm (void) {
  struct sigaction sa = sigint_libev;
  sa.sa_handler = sigint_first;
  sigaction(SIGINT, &sa, NULL);
}

/* After libev took SIGINT: keeps its action and arms ours. Under signal_lock. */
static void sigint_interpose (void) {
  struct sigaction cur;
  if (sigaction(SIGINT, NULL, &cur) != 0 || (cur.sa_flags & SA_SIGINFO)
      || cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN
      || cur.sa_handler == sigint_first)
    return;
  sigint_libev = cur;
  sigint_next = cur.sa_handler;
  sigint_arm();
}

static lua_Integer watcher_key (int kind, int num) {
  return kind == W_SIGNAL ? -(lua_Integer)num - 1 : 2 * (lua_Integer)num + kind;
}

/* Takes the watcher out of its loop's fresh list. */
static void unfresh (Watcher *wt) {
  Watcher **p = &wt->loop->fresh;
  if (!wt->fresh) return;
  while (*p != wt) p = &(*p)->next_fresh;
  *p = wt->next_fresh;
  wt->next_fresh = NULL;
  wt->fresh = 0;
}

static void watcher_stop (Watcher *wt) {
  if (!wt->started) return;
  wt->started = 0;
  unfresh(wt);
  if (wt->loop->ev != NULL) {
    if (wt->kind == W_SIGNAL) ev_signal_stop(wt->loop->ev, &wt->w.sig);
    else ev_io_stop(wt->loop->ev, &wt->w.io);
  }
  if (wt->kind == W_SIGNAL) {
    pthread_mutex_lock(&signal_lock);
    if (signal_owner[wt->num] == wt->loop) {
      signal_owner[wt->num] = NULL;
      if (wt->num == SIGINT && sigint_saved) {
        sigaction(SIGINT, &sigint_before, NULL);
        sigint_saved = 0;
      }
    }
    pthread_mutex_unlock(&signal_lock);
  }
}

/*
** relay_signal(handle): queues a signal handler's Handle from the ready
** queue, so that it runs one iteration after the poll that saw the signal,
** as Python's: its self-pipe's reader (_read_from_self) runs in that
** iteration and queues the handler with call_soon.
*/
static int relay_signal (lua_State *L) {
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, HANDLE_UV_LOOP);
  loop_ready_push(L, (Loop *)lua_touserdata(L, 2), 2, 1, 0);
  return 0;
}

/*
** queue_handle(watcher, loop): queues the watcher's Handle, or runs it at
** once for an immediate watcher. Runs inside poll_io, called by fire under
** a protected call so that no Lua error crosses ev_run.
*/
static int queue_handle (lua_State *L) {
  Watcher *wt = (Watcher *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 1 + 1, LOOP_UV_WATCHERS);  /* loop is arg 2 */
  lua_rawgeti(L, -1, watcher_key(wt->kind, wt->num));
  if (lua_touserdata(L, -1) == (void *)wt) {
    lua_getiuservalue(L, -1, WATCHER_UV_HANDLE);
    if (wt->immediate) handle_run(L, wt->loop, lua_gettop(L));
    else if (wt->relay) {
      lua_pushcfunction(L, relay_signal);
      loop_ready_push(L, wt->loop, 2, -1, -2);
    } else loop_ready_push(L, wt->loop, 2, -1, 0);
  }
  return 0;
}

/*
** queue_handle_with(watcher, loop, runtime): queue_handle with the Runtime
** as its upvalue, which an immediate watcher's handler needs to report an
** error. The closure is made here, under fire's protected call, as making
** it allocates and a memory error must not cross ev_run either.
*/
static int queue_handle_with (lua_State *L) {
  lua_pushcclosure(L, queue_handle, 1);
  lua_insert(L, 1);
  lua_call(L, 2, 0);
  return 0;
}

static void fire (Watcher *wt) {
  lua_State *L = wt->loop->L;
  int nargs = 2;
  if (L == NULL) return;
  ioorder_event(wt->loop);
  if (wt->kind != W_SIGNAL && wt->num < INT_MAX / 2)
    wt->loop->iokey = (int)watcher_key(wt->kind, wt->num);
  lua_pushcfunction(L, wt->immediate ? queue_handle_with : queue_handle);
  lua_pushlightuserdata(L, wt);
  lua_pushvalue(L, 1);
  if (wt->immediate) {
    /* the Runtime: upvalue 1 of the C function running the loop
       (run_loop's caller), where fire is called from */
    lua_pushvalue(L, lua_upvalueindex(1));
    nargs = 3;
  }
  if (lua_pcall(L, nargs, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: cannot queue a watcher callback: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  wt->loop->iokey = -1;
}

static void io_cb (struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev; (void)revents;
  fire((Watcher *)w->data);
}

/* Pushes the watcher of the other direction on wt's descriptor, as a
   light userdata, or nil: protected, the loop at index 2. */
static int find_sibling (lua_State *L) {
  Watcher *wt = (Watcher *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  lua_rawgeti(L, -1, watcher_key(wt->kind == W_READ ? W_WRITE : W_READ, wt->num));
  lua_pushlightuserdata(L, luaL_testudata(L, -1, AIO_WATCHER));
  return 1;
}

/* The started watcher of the other direction on wt's descriptor, or NULL;
   the loop is at index 1 of its state, as for fire. */
static Watcher *started_sibling (Watcher *wt) {
  lua_State *L = wt->loop->L;
  Watcher *other = NULL;
  if (L == NULL) return NULL;
  lua_pushcfunction(L, find_sibling);
  lua_pushlightuserdata(L, wt);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 2, 1, 0) == LUA_OK) other = (Watcher *)lua_touserdata(L, -1);
  lua_pop(L, 1);
  return other != NULL && other->started ? other : NULL;
}

/* Stops a watcher whose descriptor was closed; its callback runs once. */
static void drop_closed (Loop *loop, Watcher *wt) {
  wt->started = 0;
  unfresh(wt);
  ev_io_stop(loop->ev, &wt->w.io);
  fire(wt);
}

/* Whether wt's descriptor is now another file than the one it watched. */
static int replaced (Watcher *wt) {
  struct stat st;
  if (wt->dev == 0 && wt->ino == 0) return 0;
  return fstat(wt->num, &st) == 0 && (st.st_dev != wt->dev || st.st_ino != wt->ino);
}

static void stop_quietly (Loop *loop, Watcher *wt) {
  wt->started = 0;
  unfresh(wt);
  ev_io_stop(loop->ev, &wt->w.io);
}

/*
** libev registers a started watcher's descriptor with epoll only when it
** next polls, and the Debian build asserts (aborts) if that descriptor is
** invalid by then. add_reader checked it; if the script closed it since,
** the watcher is stopped here and its callback runs once, to find the
** descriptor closed (as libev does for a descriptor that goes bad later).
** The list holds only watchers started since the last poll.
*/
void watcher_before_poll (Loop *loop) {
  while (loop->fresh != NULL) {
    Watcher *wt = loop->fresh;
    loop->fresh = wt->next_fresh;
    wt->next_fresh = NULL;
    wt->fresh = 0;
    if (wt->started && fcntl(wt->num, F_GETFD) == -1) {
      /* the other direction too: left running, it would have libev add the
         closed descriptor back to epoll (the new watcher changed its
         events), where libev asserts */
      Watcher *other = started_sibling(wt);
      if (other != NULL && other->kind == W_READ) {  /* readers first */
        drop_closed(loop, other);
        other = NULL;
      }
      drop_closed(loop, wt);
      if (other != NULL) drop_closed(loop, other);
    } else if (wt->started && replaced(wt)) {
      /* closed, and the number given to another file since: Python's
         selector registered the first file at once, so the new one gets
         no callback. Both directions stop (one left running would have
         libev register the new file); they stay registered, as there, so
         remove_reader finds them and add_reader replaces them. */
      Watcher *other = started_sibling(wt);
      stop_quietly(loop, wt);
      if (other != NULL) stop_quietly(loop, other);
    }
  }
}

static void signal_cb (struct ev_loop *ev, ev_signal *w, int revents) {
  Watcher *wt = (Watcher *)w->data;
  (void)ev; (void)revents;
  if (wt->num == SIGINT) {  /* handled: the next Ctrl-C is the first again */
    pthread_mutex_lock(&signal_lock);
    if (signal_owner[SIGINT] == wt->loop && sigint_next != NULL) sigint_arm();
    pthread_mutex_unlock(&signal_lock);
  }
  fire(wt);
}

/*
** The directions fd has add_reader/add_writer watchers registered for (bit
** 0: read, bit 1: write), as Python's selector key has them: stopped ones
** (their descriptor was closed) count. [-0, +0, -]; the loop is at index 1.
*/
static int registered_dirs (lua_State *L, int fd) {
  int mask = 0, kind;
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  for (kind = W_READ; kind <= W_WRITE; kind++) {
    lua_rawgeti(L, -1, watcher_key(kind, fd));
    if (luaL_testudata(L, -1, AIO_WATCHER) != NULL) mask |= 1 << kind;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return mask;
}

/*
** Removes the watcher under key, returning whether there was one.
** [-0, +0, -]; the loop userdata is at index 1.
*/
static int remove_key (lua_State *L, lua_Integer key) {
  Watcher *wt;
  int found;
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  lua_rawgeti(L, -1, key);
  wt = (Watcher *)lua_touserdata(L, -1);
  found = wt != NULL;
  if (found) {
    watcher_stop(wt);
    lua_getiuservalue(L, -1, WATCHER_UV_HANDLE);
    lua_getfield(L, -1, "cancel");
    lua_insert(L, -2);
    lua_call(L, 1, 0);
    lua_pushnil(L);
    lua_rawseti(L, -3, key);
  }
  lua_pop(L, 2);
  return found;
}

/*
** A reader and a writer of one descriptor ready in the same poll run reader
** first, as Python's selector loop queues them. libev calls the watcher of
** a descriptor started last first, so a new writer's reader starts again.
** The loop userdata is at index 1. [-0, +0, -]
*/
static void reader_first (lua_State *L, Loop *loop, int fd) {
  Watcher *r;
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  lua_rawgeti(L, -1, watcher_key(W_READ, fd));
  r = (Watcher *)lua_touserdata(L, -1);
  if (r != NULL && r->started) {
    ev_io_stop(loop->ev, &r->w.io);
    ev_io_start(loop->ev, &r->w.io);
  }
  lua_pop(L, 2);
}

/* Creates and starts a watcher with a Handle for fn (at 3) and args. */
static Watcher *add (lua_State *L, Loop *loop, int kind, int num) {
  Watcher *wt;
  int nargs = lua_gettop(L) - 3, before;
  lua_Integer key = watcher_key(kind, num);
  if (!aio_iscallable(L, 3)) luaL_typeerror(L, 3, "function");
  wt = (Watcher *)lua_newuserdatauv(L, sizeof(Watcher), WATCHER_NUV);
  memset(wt, 0, sizeof(*wt));
  wt->loop = loop;
  wt->kind = kind;
  wt->num = num;
  luaL_setmetatable(L, AIO_WATCHER);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, WATCHER_UV_LOOP);
  handle_new(L, loop, 1, 3, nargs < 0 ? 0 : nargs, 0);
  lua_setiuservalue(L, -2, WATCHER_UV_HANDLE);
  /* after what allocates: a finalizer run by it may have closed the loop
     or added a watcher under this key (taken out like the old one) */
  before = kind == W_SIGNAL ? 0 : registered_dirs(L, num);
  while (remove_key(L, key)) {}
  if (loop->closed || loop->ev == NULL) aio_loop_closed(L);
  if (kind == W_SIGNAL) {
    pthread_mutex_lock(&signal_lock);
    if (signal_owner[num] != NULL && signal_owner[num] != loop) {
      pthread_mutex_unlock(&signal_lock);
      luaL_error(L, "signal %d is already handled by another event loop", num);
    }
    if (num == SIGINT && signal_owner[num] == NULL && !sigint_saved)
      sigint_saved = sigaction(SIGINT, NULL, &sigint_before) == 0;
    signal_owner[num] = loop;
    pthread_mutex_unlock(&signal_lock);
    ev_signal_init(&wt->w.sig, signal_cb, num);
    wt->w.sig.data = wt;
    ev_signal_start(loop->ev, &wt->w.sig);
    if (num == SIGINT) {
      pthread_mutex_lock(&signal_lock);
      sigint_interpose();
      pthread_mutex_unlock(&signal_lock);
    }
  } else {
    struct stat st;
    if (fstat(num, &st) == 0) {
      wt->dev = st.st_dev;
      wt->ino = st.st_ino;
    }
    ev_io_init(&wt->w.io, io_cb, num, kind == W_READ ? EV_READ : EV_WRITE);
    wt->w.io.data = wt;
    ev_io_start(loop->ev, &wt->w.io);
    wt->next_fresh = loop->fresh;
    wt->fresh = 1;
    loop->fresh = wt;
    if (kind == W_WRITE) reader_first(L, loop, num);
  }
  wt->started = 1;
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  lua_pushvalue(L, -2);
  lua_rawseti(L, -2, key);
  lua_pop(L, 2);
  if (kind != W_SIGNAL) ioorder_watch(loop, num, before, registered_dirs(L, num));
  return wt;  /* anchored by LOOP_UV_WATCHERS */
}

#ifdef __linux__
/* Whether fd is an epoll set: the loop's own (EINVAL) or one that may hold
   it (ELOOP). */
static int is_epoll (int fd) {
  char path[32], target[32];
  ssize_t n;
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  n = readlink(path, target, sizeof(target) - 1);
  if (n < 0) return 0;
  target[n] = '\0';
  return strcmp(target, "anon_inode:[eventpoll]") == 0;
}
#endif

/*
** A descriptor epoll will take, else OSError as Python's selector raises
** it: EBADF for a closed one, EPERM for a regular file. libev would find
** out only when it polls, and abort; so the descriptor is tried on a
** scratch epoll set. An epoll set itself is refused (EINVAL): libev's own
** cannot be told from the others, and watching it would abort too.
*/
static int checkpollable (lua_State *L, int arg) {
  int fd = aio_checkfd(L, arg), err = 0;
  if (fcntl(fd, F_GETFD) == -1) err = errno;
#ifdef __linux__
  else if (is_epoll(fd)) err = EINVAL;
  else {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0) {
      struct epoll_event ev;
      memset(&ev, 0, sizeof(ev));
      if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) err = errno;
      close(ep);
    }
  }
#endif
  if (err != 0) {
    socket_pusherror(L, err, "cannot watch file descriptor");
    lua_error(L);
  }
  return fd;
}

/* The descriptor at arg, refused while an open stream of loop has it:
   the stream's own watchers would be taken from it (Python's RuntimeError
   for a transport's descriptor). */
static int checkfree (lua_State *L, Loop *loop, int arg, int fd) {
  if (stream_has_fd(loop, fd))
    luaL_argerror(L, arg, lua_pushfstring(L, "file descriptor %d is used by a stream", fd));
  return fd;
}

/* loop:add_reader(fd, fn, ...) */
static int loop_add_reader (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  add(L, loop, W_READ, checkfree(L, loop, 2, checkpollable(L, 2)));
  return 0;
}

/* loop:add_writer(fd, fn, ...) */
static int loop_add_writer (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  add(L, loop, W_WRITE, checkfree(L, loop, 2, checkpollable(L, 2)));
  return 0;
}

/* Removes fd's watcher of kind; the shadow order set follows. */
static int remove_fd (lua_State *L, int kind) {
  Loop *loop = loop_check(L, 1);
  int fd = checkfree(L, loop, 2, aio_checkfd(L, 2)), before = registered_dirs(L, fd);
  lua_pushboolean(L, remove_key(L, watcher_key(kind, fd)));
  ioorder_watch(loop, fd, before, registered_dirs(L, fd));
  return 1;
}

/* loop:remove_reader(fd) -> bool */
static int loop_remove_reader (lua_State *L) {
  return remove_fd(L, W_READ);
}

/* loop:remove_writer(fd) -> bool */
static int loop_remove_writer (lua_State *L) {
  return remove_fd(L, W_WRITE);
}

/* loop:add_signal_handler(sig, fn, ...) */
static int loop_add_signal_handler (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  /* an async function's coroutine would never run; a coroutine object is
     no handler either, and says so as Python's TypeError does */
  if (coro_is_async_function(L, 3) || coro_is(L, 3))
    return luaL_argerror(L, 3, "coroutines cannot be used with add_signal_handler()");
  add(L, loop, W_SIGNAL, aio_checksignal(L, 2, 1))->relay = 1;
  return 0;
}

/*
** loop:_add_signal_handler_now(sig, fn, ...): the same, the handler run
** inside the poll that saw the signal, before what that poll and the
** iteration before queued: asyncio.run's SIGINT, which Python handles in
** a plain signal handler, at once (so a main task cancelled just before
** the Ctrl-C is cancelled again before it wakes, as in Python).
*/
static int loop_add_signal_handler_now (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  add(L, loop, W_SIGNAL, aio_checksignal(L, 2, 1))->immediate = 1;
  return 0;
}

/* loop:remove_signal_handler(sig) -> bool */
static int loop_remove_signal_handler (lua_State *L) {
  int sig;
  loop_check(L, 1);
  /* as Python: SIGKILL and SIGSTOP have no handler to remove (false) */
  sig = aio_checksignal(L, 2, 0);
  luaL_argcheck(L, sig != 0, 2, "invalid signal number");
  lua_pushboolean(L, remove_key(L, watcher_key(W_SIGNAL, sig)));
  return 1;
}

/*
** loop:_signal_callback(sig) -> the function add_signal_handler installed
** for sig on this loop, or nil (asyncio.run tells its own handler by it).
*/
static int loop_signal_callback (lua_State *L) {
  int sig;
  loop_check(L, 1);
  sig = aio_checksignal(L, 2, 0);
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  if (lua_rawgeti(L, -1, watcher_key(W_SIGNAL, sig)) != LUA_TUSERDATA) {
    lua_pushnil(L);
    return 1;
  }
  lua_getiuservalue(L, -1, WATCHER_UV_HANDLE);
  lua_getiuservalue(L, -1, HANDLE_UV_FN);
  return 1;
}

/*
** core.sigint_catchable() -> whether asyncio.run should catch Ctrl-C, as
** Python's Runner does when SIGINT has Python's default handler: this is
** the process's main thread, SIGINT has a handler function (lua5.4 sets
** one while it runs a script; a host with SIG_DFL or SIG_IGN keeps its
** choice), and no loop handles SIGINT yet.
*/
static int core_sigint_catchable (lua_State *L) {
  struct sigaction sa;
  int catchable = 0;
#ifdef SYS_gettid
  if ((pid_t)syscall(SYS_gettid) == getpid()
      && sigaction(SIGINT, NULL, &sa) == 0
      && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
    pthread_mutex_lock(&signal_lock);
    catchable = signal_owner[SIGINT] == NULL;
    pthread_mutex_unlock(&signal_lock);
  }
#else
  (void)sa;
#endif
  lua_pushboolean(L, catchable);
  return 1;
}

/*
** Stops every watcher of the loop (at loopidx) and forgets them; the other
** objects anchored there (streams, servers...) start with an IoHook whose
** loopclose stops them. [-0, +0, -]
*/
void watcher_stopall (lua_State *L, Loop *loop, int loopidx) {
  lua_getiuservalue(L, loopidx, LOOP_UV_WATCHERS);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    void *obj = lua_touserdata(L, -1);
    if (obj != NULL) {
      if (aio_typeof(L, loop->rt, -1) == AIO_TWATCHER) watcher_stop((Watcher *)obj);
      else ((IoHook *)obj)->loopclose((IoHook *)obj);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_newtable(L);
  lua_setiuservalue(L, loopidx, LOOP_UV_WATCHERS);
}

static int watcher_gc (lua_State *L) {
  Watcher *wt = (Watcher *)aio_checkobj(L, 1, AIO_TWATCHER, "Watcher");
  if (!wt->loop->closed) watcher_stop(wt);
  return 0;
}

int watcher_open (lua_State *L) {
  static const luaL_Reg loop_methods[] = {
    {"add_reader", loop_add_reader},
    {"add_writer", loop_add_writer},
    {"remove_reader", loop_remove_reader},
    {"remove_writer", loop_remove_writer},
    {"add_signal_handler", loop_add_signal_handler},
    {"_add_signal_handler_now", loop_add_signal_handler_now},
    {"remove_signal_handler", loop_remove_signal_handler},
    {"_signal_callback", loop_signal_callback},
    {NULL, NULL}
  };
  static const luaL_Reg methods[] = {{NULL, NULL}};
  static const luaL_Reg meta[] = {{"__gc", watcher_gc}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"sigint_catchable", core_sigint_catchable},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_TWATCHER, AIO_WATCHER, methods, meta);
  lua_getfield(L, 1, "Loop");
  aio_setmethods(L, loop_methods);
  lua_pop(L, 1);
  aio_setfuncs(L, funcs);
  return 0;
}
