/*
** stream.c: byte streams over connected sockets: the read and write
** buffers, the StreamReader and StreamWriter halves, and the awaitables
** that wait on them (read, readexactly, readuntil, drain, wait_closed,
** connect).
**
** Anchoring rule: a Stream whose read or write watcher is started is the
** value of its own address in its loop's LOOP_UV_WATCHERS table, and is
** taken out of it when both stop; a task waiting on a stream waits on a
** future held in the stream's user values, so it is reachable exactly
** while the stream is. An idle stream is collectable and its finalizer
** closes the descriptor. Readers and writers hold their Stream in a user
** value.
**
** The read watcher runs only while a reader waits, and wakes it only once
** the buffer can satisfy it (a readexactly(n) waiter sleeps until n bytes
** are in); the bytes are taken from the buffer by the waiting task when it
** resumes, so a cancelled read never loses data.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_LIMIT 65536
#define DEFAULT_HIGH (64 * 1024)
#define DEFAULT_LOW (16 * 1024)
#define FIRST_CHUNK (16 * 1024)    /* bytes asked of the first read() */
#define MAX_CHUNK (1024 * 1024)    /* at most this many per read() */
#define MAX_IOV 64                 /* writelines: pieces per sendmsg */

enum {
  ST_UV_LOOP = 1,
  ST_UV_RWAIT,     /* the future the waiting reader awaits, or nil */
  ST_UV_WWAIT,     /* list of futures awaiting drain or connect, or nil */
  ST_UV_CLOSED,    /* list of futures awaiting wait_closed, or nil */
  ST_UV_SEP,       /* the separator of a waiting readuntil */
  ST_NUV = ST_UV_SEP
};

/* What the waiting reader needs before the read watcher wakes it. */
enum { RW_NONE = 0, RW_ANY, RW_EXACT, RW_UNTIL, RW_EOF };

typedef struct Stream {
  IoHook hook;             /* first: see internal.h */
  ev_io rio;               /* read readiness: started while a reader waits */
  ev_io wio;               /* write readiness: while connecting or flushing */
  Loop *loop;              /* ro: cache of ST_UV_LOOP */
  int fd;                  /* owned; -1 once closed */
  unsigned char kind;      /* ro: STREAM_TCP or STREAM_UNIX */
  unsigned char connecting;/* rw: a non-blocking connect is in progress */
  unsigned char eof;       /* rw: the peer will send nothing more */
  unsigned char closing;   /* rw: close() asked; flushing, then closing */
  unsigned char eof_asked; /* rw: write_eof() asked; shut once flushed */
  unsigned char wshut;     /* rw: the write side is shut */
  unsigned char paused;    /* rw: buffered above high, not yet below low */
  unsigned char anchored;  /* rw: in LOOP_UV_WATCHERS */
  unsigned char rwait;     /* rw: RW_* of the waiting reader */
  int rerr, werr, cerr;    /* rw: errno of a failed read, write, connect */
  size_t scan;             /* rw: RW_EXACT: bytes needed; RW_UNTIL: bytes
                              already searched for the separator */
  const char *sep;         /* rw: RW_UNTIL: the separator (ST_UV_SEP) */
  size_t seplen;
  size_t limit;            /* ro: readuntil/readline bound */
  size_t high, low;        /* rw: write buffer water marks */
  size_t chunk;            /* rw: bytes asked of the next read() */
  char *rbuf;              /* owned: unread bytes are rbuf[rpos, rlen) */
  size_t rpos, rlen, rcap;
  char *wbuf;              /* owned: unsent bytes are wbuf[wpos, wlen) */
  size_t wpos, wlen, wcap;
} Stream;

/* The reader and writer halves: a pointer cache of user value 1. */
typedef struct Half {
  Stream *s;
} Half;

#define buffered_in(s) ((s)->rlen - (s)->rpos)
#define buffered_out(s) ((s)->wlen - (s)->wpos)
#define loop_open_(s) (!(s)->loop->closed && (s)->loop->ev != NULL)

/* ---------- helpers ---------- */

static Stream *check_stream (lua_State *L, int idx) {
  return (Stream *)luaL_checkudata(L, idx, AIO_STREAM);
}

/* The stream behind the reader or writer at idx, pushed too. [-0, +1, v] */
static Stream *check_half (lua_State *L, int idx, const char *tname) {
  Half *h = (Half *)luaL_checkudata(L, idx, tname);
  lua_getiuservalue(L, idx, 1);
  return h->s;
}

/* Updates whether the loop anchors s (at sidx; its loop at loopidx). */
static void update_anchor (lua_State *L, Stream *s, int sidx, int loopidx) {
  int active = ev_is_active(&s->rio) || ev_is_active(&s->wio);
  if (active && !s->anchored) {
    socket_anchor(L, loopidx, s, sidx);
    s->anchored = 1;
  } else if (!active && s->anchored) {
    socket_unanchor(L, loopidx, s);
    s->anchored = 0;
  }
}

/* Starts a watcher; the loop must anchor the stream first. */
static void start_io (lua_State *L, Stream *s, ev_io *w, int sidx,
                      int loopidx) {
  if (ev_is_active(w)) return;
  if (!s->anchored) {
    socket_anchor(L, loopidx, s, sidx);
    s->anchored = 1;
  }
  ev_io_start(s->loop->ev, w);
}

static void stop_io (Stream *s, ev_io *w) {
  if (loop_open_(s)) ev_io_stop(s->loop->ev, w);
}

/* Pushes a new pending future of the loop at loopidx. [-0, +1, m] */
static Future *new_future (lua_State *L, int loopidx) {
  Future *f = (Future *)lua_newuserdatauv(L, sizeof(Future), FUT_NUV - 1);
  luaL_setmetatable(L, AIO_FUTURE);
  future_init(L, f, AIO_TFUTURE, loopidx);
  return f;
}

/* Resolves the future at idx, if pending, with no value. [-0, +0, m] */
static void wake_future (lua_State *L, int idx) {
  Future *f = (Future *)lua_touserdata(L, idx);
  if (f != NULL && f->state == FUT_PENDING) future_set_results(L, f, idx, 0, 0);
}

/*
** Wakes every future of the list in user value uv of the stream at sidx
** and forgets the list. [-0, +0, m]
*/
static void wake_list (lua_State *L, int sidx, int uv) {
  if (lua_getiuservalue(L, sidx, uv) == LUA_TTABLE) {
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
    lua_pushnil(L);
    lua_setiuservalue(L, sidx, uv);
    for (i = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      wake_future(L, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* Wakes the waiting reader, if any. [-0, +0, m] */
static void wake_reader (lua_State *L, Stream *s, int sidx) {
  s->rwait = RW_NONE;
  stop_io(s, &s->rio);
  if (lua_getiuservalue(L, sidx, ST_UV_RWAIT) != LUA_TNIL) {
    lua_pushnil(L);
    lua_setiuservalue(L, sidx, ST_UV_RWAIT);
    wake_future(L, -1);
  }
  lua_pop(L, 1);
}

/*
** Closes the descriptor now: stops both watchers, drops unsent bytes and
** wakes everybody waiting (readers see the end of the stream). Keeps the
** unread bytes readable. [-0, +0, m]
*/
static void close_now (lua_State *L, Stream *s, int sidx, int loopidx) {
  if (s->fd < 0) return;
  stop_io(s, &s->rio);
  stop_io(s, &s->wio);
  close(s->fd);
  s->fd = -1;
  s->closing = 0;
  s->connecting = 0;
  s->paused = 0;
  s->wpos = s->wlen = 0;
  free(s->wbuf);
  s->wbuf = NULL;
  s->wcap = 0;
  if (s->anchored && loop_open_(s)) socket_unanchor(L, loopidx, s);
  s->anchored = 0;
  wake_reader(L, s, sidx);
  wake_list(L, sidx, ST_UV_WWAIT);
  wake_list(L, sidx, ST_UV_CLOSED);
}

/* Reserves room for n more bytes in a buffer; 0 on success. */
static int reserve (char **buf, size_t *pos, size_t *len, size_t *cap,
                    size_t n) {
  if (*pos > 0 && (*pos == *len || *cap - *len < n)) {
    memmove(*buf, *buf + *pos, *len - *pos);
    *len -= *pos;
    *pos = 0;
  }
  if (*cap - *len < n) {
    size_t want = *len + n, ncap = *cap ? *cap : 4096;
    char *nb;
    while (ncap < want) ncap *= 2;
    nb = (char *)realloc(*buf, ncap);
    if (nb == NULL) return -1;
    *buf = nb;
    *cap = ncap;
  }
  return 0;
}

/* Appends bytes to the write buffer; 0 on success, -1 out of memory. */
static int append_out (Stream *s, const char *p, size_t n) {
  if (reserve(&s->wbuf, &s->wpos, &s->wlen, &s->wcap, n) != 0) return -1;
  memcpy(s->wbuf + s->wlen, p, n);
  s->wlen += n;
  return 0;
}

/* Whether errno after a send or recv only means "not now". */
static int again (int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* ---------- the read side ---------- */

/* Reads once into the buffer. Sets eof or rerr. */
static void fill (Stream *s) {
  size_t want = s->chunk;
  ssize_t n;
  if (s->rwait == RW_EXACT && s->scan > buffered_in(s)) {
    size_t missing = s->scan - buffered_in(s);
    if (missing > want) want = missing < MAX_CHUNK ? missing : MAX_CHUNK;
  }
  if (s->rpos == s->rlen) s->rpos = s->rlen = 0;
  if (reserve(&s->rbuf, &s->rpos, &s->rlen, &s->rcap, want) != 0) {
    s->rerr = ENOMEM;
    return;
  }
  want = s->rcap - s->rlen;
  do n = read(s->fd, s->rbuf + s->rlen, want);
  while (n < 0 && errno == EINTR);
  if (n > 0) {
    s->rlen += (size_t)n;
    if ((size_t)n == want && s->chunk < MAX_CHUNK) s->chunk *= 2;
  } else if (n == 0) s->eof = 1;
  else if (errno != EAGAIN && errno != EWOULDBLOCK) s->rerr = errno;
}

/* Where the separator starts in the unread bytes, searching from off. */
static const char *find_sep (Stream *s, size_t off) {
  size_t avail = buffered_in(s);
  if (avail < s->seplen || off > avail - s->seplen) return NULL;
  return (const char *)memmem(s->rbuf + s->rpos + off, avail - off,
                              s->sep, s->seplen);
}

/* Whether the bytes in, or the state of, s satisfy the waiting reader. */
static int satisfied (Stream *s) {
  size_t avail = buffered_in(s);
  if (s->eof || s->rerr || s->fd < 0) return 1;
  switch (s->rwait) {
    case RW_ANY: return avail > 0;
    case RW_EXACT: return avail >= s->scan;
    case RW_UNTIL:
      if (find_sep(s, s->scan) != NULL) return 1;
      if (avail + 1 > s->seplen) s->scan = avail + 1 - s->seplen;
      return s->scan > s->limit;
    case RW_EOF: return 0;
    default: return 1;
  }
}

/* The protected Lua half of the read watcher: wake_reader(s, loop). */
static int reader_woken (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, s) != LUA_TUSERDATA) return 0;
  wake_reader(L, s, 4);
  update_anchor(L, s, 4, 2);
  return 0;
}

/* Calls fn(s, loop) protected from a watcher callback. */
static void call_protected (Stream *s, lua_CFunction fn) {
  lua_State *L = s->loop->L;
  if (L == NULL) return;
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, s);
  lua_pushvalue(L, 1);  /* the loop: see watcher.c */
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: error in a stream callback: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static void rio_cb (struct ev_loop *ev, ev_io *w, int revents) {
  Stream *s = (Stream *)w->data;
  (void)ev; (void)revents;
  if (s->rwait != RW_NONE && s->fd >= 0) {
    fill(s);
    if (!satisfied(s)) return;  /* the common partial case: no Lua */
  }
  call_protected(s, reader_woken);
}

/* ---------- the write side ---------- */

/* Sends what it can of the write buffer once. Sets werr. */
static void flush (Stream *s) {
  ssize_t n;
  if (buffered_out(s) == 0) return;
  do n = send(s->fd, s->wbuf + s->wpos, buffered_out(s), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n >= 0) {
    s->wpos += (size_t)n;
    if (s->wpos == s->wlen) s->wpos = s->wlen = 0;
  } else if (!again(errno)) {
    s->werr = errno;
    s->wpos = s->wlen = 0;
  }
}

/* After a write error: unsent bytes are gone; the write side is dead. */
static int write_done (Stream *s) {
  return buffered_out(s) == 0 && !s->connecting;
}

/*
** The protected Lua half of the write watcher: after a connect finished,
** the buffer emptied or fell below the low-water mark, or an error.
*/
static int writer_woken (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, s) != LUA_TUSERDATA) return 0;
  if (write_done(s) || s->werr) {
    stop_io(s, &s->wio);
    if (s->closing) {
      close_now(L, s, 4, 2);
      return 0;
    }
    if (s->eof_asked && !s->wshut && !s->werr && s->fd >= 0) {
      shutdown(s->fd, SHUT_WR);
      s->wshut = 1;
    }
  }
  if (!s->paused || buffered_out(s) <= s->low || s->werr) {
    s->paused = 0;
    wake_list(L, 4, ST_UV_WWAIT);
  }
  update_anchor(L, s, 4, 2);
  return 0;
}

static void wio_cb (struct ev_loop *ev, ev_io *w, int revents) {
  Stream *s = (Stream *)w->data;
  (void)ev; (void)revents;
  if (s->fd < 0) return;
  if (s->connecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY || err == EINTR) return;
    s->connecting = 0;
    s->cerr = err;
    if (err == 0) flush(s);
    call_protected(s, writer_woken);
    return;
  }
  flush(s);
  if (write_done(s) || s->werr || (s->paused && buffered_out(s) <= s->low))
    call_protected(s, writer_woken);
}

/* ---------- making streams ---------- */

static void stream_loopclose (IoHook *h) {
  Stream *s = (Stream *)h;
  if (s->loop->ev != NULL) {
    ev_io_stop(s->loop->ev, &s->rio);
    ev_io_stop(s->loop->ev, &s->wio);
  }
  s->anchored = 0;
  s->rwait = RW_NONE;
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
}

/*
** Pushes a new closed Stream of the loop at loopidx; stream_setfd gives
** it its socket. [-0, +1, m]
*/
struct Stream *stream_new (lua_State *L, int loopidx, int kind) {
  Stream *s;
  loopidx = lua_absindex(L, loopidx);
  s = (Stream *)lua_newuserdatauv(L, sizeof(Stream), ST_NUV);
  memset(s, 0, sizeof(*s));
  s->hook.loopclose = stream_loopclose;
  s->fd = -1;
  s->kind = (unsigned char)kind;
  s->loop = (Loop *)lua_touserdata(L, loopidx);
  s->limit = DEFAULT_LIMIT;
  s->high = DEFAULT_HIGH;
  s->low = DEFAULT_LOW;
  s->chunk = FIRST_CHUNK;
  luaL_setmetatable(L, AIO_STREAM);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, ST_UV_LOOP);
  return s;
}

/* Gives the closed stream s its connected, non-blocking socket. */
void stream_setfd (struct Stream *s, int fd) {
  s->fd = fd;
  ev_io_init(&s->rio, rio_cb, fd, EV_READ);
  s->rio.data = s;
  ev_io_init(&s->wio, wio_cb, fd, EV_WRITE);
  s->wio.data = s;
}

/*
** core.connect(loop, family, host, port, nodelay) -> Stream, or nil and an
** OSError. host is numeric (the Lua layer resolves names first); for
** "unix" it is the path. The stream may still be connecting: await
** stream:connected().
*/
static int core_connect (lua_State *L) {
  struct sockaddr_storage ss;
  unsigned int len;
  int family = socket_checkaddr(L, 2, &ss, &len);
  int nodelay = lua_toboolean(L, 5), fd, r;
  Stream *s;
  loop_checkopen(L, 1);
  lua_settop(L, 5);
  s = stream_new(L, 1, family == AF_UNIX ? STREAM_UNIX : STREAM_TCP);  /* 6 */
  fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    lua_pushnil(L);
    socket_pusherror(L, errno, "socket");
    return 2;
  }
  stream_setfd(s, fd);
  if (nodelay && family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  r = connect(fd, (struct sockaddr *)&ss, len);
  if (r != 0) {
    int err = errno;
    if (err == EINPROGRESS || err == EINTR) s->connecting = 1;
    else {
      const char *what = lua_pushfstring(L, "connect to %s",
                                         socket_describe(L, &ss, len));
      close(fd);
      s->fd = -1;
      lua_pushnil(L);
      socket_pusherror(L, err, what);
      return 2;
    }
  }
  lua_settop(L, 6);
  return 1;
}

/* ---------- waiting ---------- */

/* Raises unless the running task is on the stream's loop. */
static void check_task (lua_State *L, Stream *s) {
  Runtime *rt = aio_rt(L);
  Loop *run = rt->running;
  if (run == NULL || run->current == NULL || run->current->co != L)
    luaL_error(L, "await called outside of a running task");
  if (run != s->loop)
    luaL_error(L, "the stream is attached to a different loop");
}

/* Whether the caller may suspend: a task of the stream's loop. */
static int can_suspend (lua_State *L, Stream *s) {
  Runtime *rt = aio_rt(L);
  Loop *run = rt->running;
  return run == s->loop && run->current != NULL && run->current->co == L
         && lua_isyieldable(L);
}

/*
** Awaits the future at the top of the stack with await_future (upvalue 2)
** under lua_pcallk, so that the continuation k sees a cancellation and can
** clean up before raising it again. The stack keeps nargs values below
** the future, which stays at nargs + 1. Returns as k does.
*/
static int await_top (lua_State *L, int nargs, lua_KFunction k) {
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, nargs + 1);
  return k(L, lua_pcallk(L, 1, 0, 0, (lua_KContext)nargs, k),
           (lua_KContext)nargs);
}

/*
** Starts a wait of the reader of the stream at index 1 for condition kind
** and awaits it. [-0, +1, e]
*/
static int read_wait (lua_State *L, Stream *s, int nargs, int kind,
                      const char *fname, lua_KFunction k) {
  check_task(L, s);
  if (s->rwait != RW_NONE)
    return luaL_error(L, "'%s' called while another task is already "
                         "waiting for incoming data", fname);
  lua_settop(L, nargs);
  lua_getiuservalue(L, 1, ST_UV_LOOP);
  new_future(L, nargs + 1);
  lua_replace(L, nargs + 1);            /* nargs + 1: the future */
  lua_pushvalue(L, nargs + 1);
  lua_setiuservalue(L, 1, ST_UV_RWAIT);
  s->rwait = (unsigned char)kind;
  lua_getiuservalue(L, 1, ST_UV_LOOP);
  start_io(L, s, &s->rio, 1, lua_gettop(L));
  lua_pop(L, 1);
  return await_top(L, nargs, k);
}

/*
** At the start of a read continuation: on an error (cancellation), stops
** the wait if it is still ours and raises the error again; otherwise
** leaves the nargs arguments alone on the stack.
*/
static void read_resumed (lua_State *L, Stream *s, int status, int nargs) {
  if (status != LUA_OK && status != LUA_YIELD) {
    int err = lua_gettop(L);
    lua_getiuservalue(L, 1, ST_UV_RWAIT);
    if (lua_rawequal(L, -1, nargs + 1)) {
      lua_pushnil(L);
      lua_setiuservalue(L, 1, ST_UV_RWAIT);
      s->rwait = RW_NONE;
      stop_io(s, &s->rio);
      if (loop_open_(s)) {
        lua_getiuservalue(L, 1, ST_UV_LOOP);
        update_anchor(L, s, 1, lua_gettop(L));
      }
    }
    lua_settop(L, err);
    lua_error(L);
  }
  lua_settop(L, nargs);
}

/* Pushes n bytes from the read buffer and consumes them. [-0, +1, m] */
static void take (lua_State *L, Stream *s, size_t n) {
  lua_pushlstring(L, s->rbuf + s->rpos, n);
  s->rpos += n;
  if (s->rpos == s->rlen) s->rpos = s->rlen = 0;
}

/* Raises the OSError of a failed read. */
static int raise_rerr (lua_State *L, Stream *s) {
  socket_pusherror(L, s->rerr, "read");
  return lua_error(L);
}

/* Whether nothing more can arrive. */
#define ended(s) ((s)->eof || (s)->fd < 0 || (s)->closing)

static int read_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_Integer n = lua_tointeger(L, 2);
  read_resumed(L, s, status, (int)ctx);
  if (n < 0) {  /* everything up to the end */
    if (s->rerr) return raise_rerr(L, s);
    if (ended(s)) {
      if (buffered_in(s) == 0) lua_pushnil(L);
      else take(L, s, buffered_in(s));
      return 1;
    }
    return read_wait(L, s, 2, RW_EOF, "read", read_k);
  }
  if (buffered_in(s) > 0) {
    take(L, s, (size_t)n < buffered_in(s) ? (size_t)n : buffered_in(s));
    return 1;
  }
  if (s->rerr) return raise_rerr(L, s);
  if (ended(s)) {
    lua_pushnil(L);
    return 1;
  }
  return read_wait(L, s, 2, RW_ANY, "read", read_k);
}

/* The awaitable of reader:read(n): (stream, n). */
static int stream_read_aw (lua_State *L) {
  Stream *s = check_stream(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  lua_settop(L, 2);
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  (void)s;
  return read_k(L, LUA_OK, 2);
}

static int pusherror_class (lua_State *L, const char *cls) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  lua_getfield(L, -1, cls);
  lua_remove(L, -2);
  lua_getfield(L, -1, "new");
  lua_remove(L, -2);
  return 1;
}

/* Raises IncompleteReadError with the whole buffer as partial. */
static int raise_incomplete (lua_State *L, Stream *s, int expidx) {
  pusherror_class(L, "IncompleteReadError");
  take(L, s, buffered_in(s));
  lua_pushvalue(L, expidx);
  lua_call(L, 2, 1);
  return lua_error(L);
}

static int readexactly_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  size_t n = (size_t)lua_tointeger(L, 2);
  read_resumed(L, s, status, (int)ctx);
  if (buffered_in(s) >= n) {
    take(L, s, n);
    return 1;
  }
  if (s->rerr) return raise_rerr(L, s);
  if (ended(s)) return raise_incomplete(L, s, 2);
  s->scan = n;
  return read_wait(L, s, 2, RW_EXACT, "readexactly", readexactly_k);
}

/* The awaitable of reader:readexactly(n): (stream, n). */
static int stream_readexactly_aw (lua_State *L) {
  Stream *s = check_stream(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  (void)s;
  lua_settop(L, 2);
  if (n <= 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  return readexactly_k(L, LUA_OK, 2);
}

/* Raises LimitOverrunError(message, consumed). */
static int raise_overrun (lua_State *L, const char *msg, size_t consumed) {
  pusherror_class(L, "LimitOverrunError");
  lua_pushstring(L, msg);
  lua_pushinteger(L, (lua_Integer)consumed);
  lua_call(L, 2, 1);
  return lua_error(L);
}

/*
** readuntil and readline: (stream, sep, isline). A line past the limit is
** dropped as Python's readline drops it, then LimitOverrunError is raised;
** a line cut by the end of the stream is returned as it is.
*/
static int readuntil_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  size_t seplen, avail;
  const char *sep = lua_tolstring(L, 2, &seplen);
  int isline = lua_toboolean(L, 3);
  const char *found;
  read_resumed(L, s, status, (int)ctx);
  s->sep = sep;
  s->seplen = seplen;
  avail = buffered_in(s);
  found = find_sep(s, 0);
  if (found != NULL) {
    size_t at = (size_t)(found - (s->rbuf + s->rpos));
    if (at > s->limit) {
      if (isline) {  /* drop the line and its separator */
        s->rpos += at + seplen;
        if (s->rpos == s->rlen) s->rpos = s->rlen = 0;
      }
      return raise_overrun(L, "Separator is found, but chunk is longer than limit", at);
    }
    take(L, s, at + seplen);
    return 1;
  }
  if (avail + 1 > seplen && avail + 1 - seplen > s->limit) {
    if (isline) s->rpos = s->rlen = 0;
    return raise_overrun(L, "Separator is not found, and chunk exceed the limit",
                         avail + 1 - seplen);
  }
  if (s->rerr) return raise_rerr(L, s);
  if (ended(s)) {
    if (isline) {
      if (avail == 0) lua_pushnil(L);
      else take(L, s, avail);
      return 1;
    }
    lua_pushnil(L);
    return raise_incomplete(L, s, lua_gettop(L));
  }
  s->scan = avail + 1 > seplen ? avail + 1 - seplen : 0;
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, ST_UV_SEP);
  return read_wait(L, s, 3, RW_UNTIL, isline ? "readline" : "readuntil",
                   readuntil_k);
}

/* The awaitable of readuntil(sep) and readline(): (stream, sep, isline). */
static int stream_readuntil_aw (lua_State *L) {
  Stream *s = check_stream(L, 1);
  size_t seplen;
  (void)s;
  luaL_checklstring(L, 2, &seplen);
  if (seplen == 0) luaL_argerror(L, 2, "separator must be a non-empty string");
  lua_settop(L, 3);
  return readuntil_k(L, LUA_OK, 3);
}

/*
** Writers' waits: drain, connect and wait_closed add a future of their own
** to a list (cancelling one waiter must not cancel the others).
*/
static int list_wait (lua_State *L, Stream *s, int nargs, int uv,
                      lua_KFunction k) {
  lua_Integer n;
  check_task(L, s);
  lua_settop(L, nargs);
  lua_getiuservalue(L, 1, ST_UV_LOOP);
  new_future(L, nargs + 1);
  lua_replace(L, nargs + 1);
  if (lua_getiuservalue(L, 1, uv) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, uv);
  }
  n = (lua_Integer)lua_rawlen(L, -1);
  lua_pushvalue(L, nargs + 1);
  lua_rawseti(L, -2, n + 1);
  lua_pop(L, 1);
  return await_top(L, nargs, k);
}

/* At the start of a list wait's continuation: see read_resumed. */
static void list_resumed (lua_State *L, int status, int nargs, int uv) {
  if (status != LUA_OK && status != LUA_YIELD) {
    int err = lua_gettop(L);
    if (lua_getiuservalue(L, 1, uv) == LUA_TTABLE) {
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_rawequal(L, -1, nargs + 1)) {
          lua_pop(L, 1);
          for (; i < n; i++) {
            lua_rawgeti(L, -1, i + 1);
            lua_rawseti(L, -2, i);
          }
          lua_pushnil(L);
          lua_rawseti(L, -2, n);
          break;
        }
        lua_pop(L, 1);
      }
    }
    lua_settop(L, err);
    lua_error(L);
  }
  lua_settop(L, nargs);
}

/* Raises the error a writer sees: a failed write or connect, or closing. */
static int raise_werr (lua_State *L, Stream *s) {
  if (s->werr) return socket_pusherror(L, s->werr, "write"), lua_error(L);
  socket_pusherror(L, ECONNRESET, NULL);
  lua_pushliteral(L, "Connection lost");
  lua_setfield(L, -2, "message");
  return lua_error(L);
}

static int drain_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  list_resumed(L, status, (int)ctx, ST_UV_WWAIT);
  if (s->rerr && !s->werr) s->werr = s->rerr;  /* as Python: the reader's */
  if (s->werr || s->fd < 0 || s->closing) return raise_werr(L, s);
  if (!s->paused) return 0;
  return list_wait(L, s, 1, ST_UV_WWAIT, drain_k);
}

/* The awaitable of writer:drain(): (stream). */
static int stream_drain_aw (lua_State *L) {
  check_stream(L, 1);
  lua_settop(L, 1);
  return drain_k(L, LUA_OK, 1);
}

static int closed_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  list_resumed(L, status, (int)ctx, ST_UV_CLOSED);
  if (s->fd < 0) return 0;
  return list_wait(L, s, 1, ST_UV_CLOSED, closed_k);
}

/* The awaitable of writer:wait_closed(): (stream). */
static int stream_wait_closed_aw (lua_State *L) {
  check_stream(L, 1);
  lua_settop(L, 1);
  return closed_k(L, LUA_OK, 1);
}

static int connected_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  list_resumed(L, status, (int)ctx, ST_UV_WWAIT);
  if (s->cerr) {
    const char *what = lua_tostring(L, 2);
    socket_pusherror(L, s->cerr, what);
    return lua_error(L);
  }
  if (s->fd < 0) return raise_werr(L, s);
  if (!s->connecting) return 0;
  if (!ev_is_active(&s->wio)) {
    lua_getiuservalue(L, 1, ST_UV_LOOP);
    start_io(L, s, &s->wio, 1, lua_gettop(L));
    lua_pop(L, 1);
  }
  return list_wait(L, s, 2, ST_UV_WWAIT, connected_k);
}

/* The awaitable of stream:connected(what): (stream, what). */
static int stream_connected_aw (lua_State *L) {
  check_stream(L, 1);
  luaL_optstring(L, 2, "connect");
  lua_settop(L, 2);
  return connected_k(L, LUA_OK, 2);
}

/* ---------- reader methods ---------- */

/*
** Pushes a coroutine object calling the awaitable function (upvalue 2)
** with the stream (at top) and the nargs values at first. [-1, +1, m]
*/
static int push_aw (lua_State *L, int first, int nargs) {
  int sidx = lua_gettop(L), i;
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, sidx);
  for (i = 0; i < nargs; i++) lua_pushvalue(L, first + i);
  coro_push(L, sidx + 1, sidx + 2, nargs + 1);
  return 1;
}

/* reader:read([n=-1]) -> awaitable: up to n bytes, all until EOF if n < 0 */
static int reader_read (lua_State *L) {
  lua_Integer n = luaL_optinteger(L, 2, -1);
  lua_settop(L, 1);
  lua_pushinteger(L, n);
  check_half(L, 1, AIO_READER);
  return push_aw(L, 2, 1);
}

/* reader:readexactly(n) -> awaitable */
static int reader_readexactly (lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "must not be negative");
  lua_settop(L, 2);
  check_half(L, 1, AIO_READER);
  return push_aw(L, 2, 1);
}

/* reader:readuntil([sep="\n"]) -> awaitable */
static int reader_readuntil (lua_State *L) {
  size_t seplen;
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushliteral(L, "\n");
  }
  luaL_checklstring(L, 2, &seplen);
  luaL_argcheck(L, seplen > 0, 2, "separator must be a non-empty string");
  lua_settop(L, 2);
  lua_pushboolean(L, 0);
  check_half(L, 1, AIO_READER);
  return push_aw(L, 2, 2);
}

/* reader:readline() -> awaitable */
static int reader_readline (lua_State *L) {
  lua_settop(L, 1);
  lua_pushliteral(L, "\n");
  lua_pushboolean(L, 1);
  check_half(L, 1, AIO_READER);
  return push_aw(L, 2, 2);
}

/* reader:at_eof() -> whether the stream ended and the buffer is empty */
static int reader_at_eof (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_READER);
  lua_pushboolean(L, ended(s) && buffered_in(s) == 0);
  return 1;
}

/* reader:get_limit() -> the readline/readuntil bound */
static int reader_get_limit (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_READER);
  lua_pushinteger(L, (lua_Integer)s->limit);
  return 1;
}

static int half_tostring (lua_State *L, const char *tname, const char *label) {
  Stream *s = check_half(L, 1, tname);
  if (s->fd < 0) lua_pushfstring(L, "<%s closed>", label);
  else lua_pushfstring(L, "<%s fd=%d%s>", label, s->fd,
                       s->closing ? " closing" : "");
  return 1;
}

static int reader_tostring (lua_State *L) {
  return half_tostring(L, AIO_READER, "StreamReader");
}

/* ---------- writer methods ---------- */

/* Raises unless the writer may still write. */
static Stream *check_writable (lua_State *L, int idx, const char *fname) {
  Stream *s = check_half(L, idx, AIO_WRITER);
  if (s->fd < 0 || s->closing)
    luaL_error(L, "attempt to use a closed StreamWriter ('%s')", fname);
  if (s->eof_asked) luaL_error(L, "'%s' called after 'write_eof'", fname);
  if (s->loop->closed) luaL_error(L, "event loop is closed");
  if (s->werr) raise_werr(L, s);
  return s;
}

/*
** After bytes were queued: starts the write watcher, sets paused above
** the high-water mark. The stream is at sidx. [-0, +0, m]
*/
static void queued (lua_State *L, Stream *s, int sidx) {
  if (buffered_out(s) > s->high) s->paused = 1;
  if (!s->connecting && buffered_out(s) == 0) return;
  lua_getiuservalue(L, sidx, ST_UV_LOOP);
  start_io(L, s, &s->wio, sidx, lua_gettop(L));
  lua_pop(L, 1);
}

/* Sends or queues bytes; raises on a write error. */
static void write_bytes (lua_State *L, Stream *s, const char *p, size_t len) {
  if (buffered_out(s) == 0 && !s->connecting) {
    ssize_t n;
    do n = send(s->fd, p, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (!again(errno)) {
        s->werr = errno;
        raise_werr(L, s);
      }
      n = 0;
    }
    p += n;
    len -= (size_t)n;
  }
  if (len > 0 && append_out(s, p, len) != 0)
    luaL_error(L, "not enough memory for the write buffer");
}

static int pause_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  list_resumed(L, status, (int)ctx, ST_UV_WWAIT);
  if (s->werr) return raise_werr(L, s);
  if (!s->paused || s->fd < 0 || s->closing) return 0;
  return list_wait(L, s, 1, ST_UV_WWAIT, pause_k);
}

/*
** Back-pressure: a writer above the high-water mark waits, inside a task,
** until the buffer is below the low-water mark. The stream is at sidx.
*/
static int maybe_pause (lua_State *L, Stream *s, int sidx) {
  if (!s->paused || !can_suspend(L, s)) return 0;
  lua_replace(L, 1);  /* the stream (at the top) replaces the writer */
  (void)sidx;
  lua_settop(L, 1);
  return pause_k(L, LUA_OK, 1);
}

/* writer:write(data) */
static int writer_write (lua_State *L) {
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  Stream *s = check_writable(L, 1, "write");  /* pushes the stream: 3 */
  if (len == 0) return 0;
  write_bytes(L, s, p, len);
  queued(L, s, 3);
  if (s->paused) {
    lua_settop(L, 3);
    return maybe_pause(L, s, 3);
  }
  return 0;
}

/* writer:writelines(list): one sendmsg for many pieces */
static int writer_writelines (lua_State *L) {
  struct iovec iov[MAX_IOV];
  Stream *s;
  lua_Integer i, n;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  s = check_writable(L, 1, "writelines");  /* 3 */
  n = luaL_len(L, 2);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    if (!lua_isstring(L, -1))
      luaL_error(L, "bad argument #1 to 'writelines' (item %I is a %s, "
                    "not a string)", i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  for (i = 1; i <= n; ) {
    int k = 0, j;
    size_t total = 0;
    ssize_t sent = 0;
    int base = lua_gettop(L);
    for (; i <= n && k < MAX_IOV; i++) {
      lua_rawgeti(L, 2, i);
      iov[k].iov_base = (void *)lua_tolstring(L, -1, &iov[k].iov_len);
      total += iov[k].iov_len;
      k++;
    }
    if (buffered_out(s) == 0 && !s->connecting && total > 0) {
      struct msghdr msg;
      memset(&msg, 0, sizeof(msg));
      msg.msg_iov = iov;
      msg.msg_iovlen = (size_t)k;
      do sent = sendmsg(s->fd, &msg, MSG_NOSIGNAL);
      while (sent < 0 && errno == EINTR);
      if (sent < 0) {
        if (!again(errno)) {
          s->werr = errno;
          raise_werr(L, s);
        }
        sent = 0;
      }
    }
    for (j = 0; j < k; j++) {
      size_t skip = (size_t)sent < iov[j].iov_len ? (size_t)sent : iov[j].iov_len;
      sent -= (ssize_t)skip;
      if (iov[j].iov_len > skip
          && append_out(s, (char *)iov[j].iov_base + skip, iov[j].iov_len - skip) != 0)
        luaL_error(L, "not enough memory for the write buffer");
    }
    lua_settop(L, base);
  }
  queued(L, s, 3);
  if (s->paused) return maybe_pause(L, s, 3);
  return 0;
}

/* writer:drain() -> awaitable */
static int writer_drain (lua_State *L) {
  lua_settop(L, 1);
  check_half(L, 1, AIO_WRITER);
  return push_aw(L, 2, 0);
}

/* writer:wait_closed() -> awaitable */
static int writer_wait_closed (lua_State *L) {
  lua_settop(L, 1);
  check_half(L, 1, AIO_WRITER);
  return push_aw(L, 2, 0);
}

/* writer:write_eof(): shuts the write side once the buffer is sent */
static int writer_write_eof (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_WRITER);
  if (s->fd < 0 || s->closing)
    return luaL_error(L, "attempt to use a closed StreamWriter ('write_eof')");
  if (s->eof_asked) return 0;
  s->eof_asked = 1;
  if (buffered_out(s) == 0 && !s->connecting && !s->werr) {
    shutdown(s->fd, SHUT_WR);
    s->wshut = 1;
  }
  return 0;
}

static int writer_can_write_eof (lua_State *L) {
  check_half(L, 1, AIO_WRITER);
  lua_pushboolean(L, 1);
  return 1;
}

/*
** Closes the stream at sidx: at once if nothing is buffered (or it cannot
** be sent), else once the buffer is flushed. Reading stops at once.
*/
static void close_stream (lua_State *L, Stream *s, int sidx) {
  int loopidx;
  if (s->fd < 0) return;
  lua_getiuservalue(L, sidx, ST_UV_LOOP);
  loopidx = lua_gettop(L);
  if (buffered_out(s) == 0 || s->werr || s->connecting || !loop_open_(s))
    close_now(L, s, sidx, loopidx);
  else {
    s->closing = 1;
    wake_reader(L, s, sidx);
    if (loop_open_(s)) update_anchor(L, s, sidx, loopidx);
  }
  lua_pop(L, 1);
}

/* writer:close() */
static int writer_close (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_WRITER);
  close_stream(L, s, lua_gettop(L));
  return 0;
}

static int writer_is_closing (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_WRITER);
  lua_pushboolean(L, s->fd < 0 || s->closing);
  return 1;
}

/*
** writer:get_extra_info(name [, default]): "peername" and "sockname" ->
** host, port; "socket" -> the descriptor; anything else -> default.
*/
static int writer_get_extra_info (lua_State *L) {
  const char *name = luaL_checkstring(L, 2);
  Stream *s;
  lua_settop(L, 3);
  s = check_half(L, 1, AIO_WRITER);
  int peer = strcmp(name, "peername") == 0;
  if (s->fd >= 0 && (peer || strcmp(name, "sockname") == 0)) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int r = peer ? getpeername(s->fd, (struct sockaddr *)&ss, &len)
                 : getsockname(s->fd, (struct sockaddr *)&ss, &len);
    if (r == 0) return socket_pushaddr(L, &ss, len);
  } else if (s->fd >= 0 && strcmp(name, "socket") == 0) {
    lua_pushinteger(L, s->fd);
    return 1;
  }
  lua_pushvalue(L, 3);
  return 1;
}

/* writer:get_write_buffer_size() -> bytes not sent yet */
static int writer_get_write_buffer_size (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_WRITER);
  lua_pushinteger(L, (lua_Integer)buffered_out(s));
  return 1;
}

/*
** writer:set_write_buffer_limits([high [, low]]): the water marks, as
** Python's transports have them (default 64 KiB and a quarter of high).
*/
static int writer_set_write_buffer_limits (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_WRITER);
  lua_Integer high = luaL_optinteger(L, 2, DEFAULT_HIGH);
  lua_Integer low = luaL_optinteger(L, 3, high / 4);
  luaL_argcheck(L, high >= 0, 2, "must not be negative");
  luaL_argcheck(L, low >= 0 && low <= high, 3, "must be between 0 and high");
  s->high = (size_t)high;
  s->low = (size_t)low;
  if (buffered_out(s) > s->high) s->paused = 1;
  return 0;
}

/* writer:get_write_buffer_limits() -> low, high (as Python's) */
static int writer_get_write_buffer_limits (lua_State *L) {
  Stream *s = check_half(L, 1, AIO_WRITER);
  lua_pushinteger(L, (lua_Integer)s->low);
  lua_pushinteger(L, (lua_Integer)s->high);
  return 2;
}

static int writer_tostring (lua_State *L) {
  return half_tostring(L, AIO_WRITER, "StreamWriter");
}

/* ---------- stream methods (for the Lua layer) ---------- */

/* stream:halves() -> reader, writer */
static int stream_halves (lua_State *L) {
  Stream *s = check_stream(L, 1);
  Half *h;
  lua_settop(L, 1);
  h = (Half *)lua_newuserdatauv(L, sizeof(Half), 1);
  h->s = s;
  luaL_setmetatable(L, AIO_READER);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  h = (Half *)lua_newuserdatauv(L, sizeof(Half), 1);
  h->s = s;
  luaL_setmetatable(L, AIO_WRITER);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 2;
}

/* stream:set_limit(n) */
static int stream_set_limit (lua_State *L) {
  Stream *s = check_stream(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n > 0, 2, "must be positive");
  s->limit = (size_t)n;
  return 0;
}

/* stream:close(): closes at once, dropping unsent bytes */
static int stream_close (lua_State *L) {
  Stream *s = check_stream(L, 1);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, ST_UV_LOOP);
  close_now(L, s, 1, 2);
  return 0;
}

static int stream_fileno (lua_State *L) {
  lua_pushinteger(L, check_stream(L, 1)->fd);
  return 1;
}

/* stream:connected(what) -> awaitable: the connect finished */
static int stream_connected (lua_State *L) {
  lua_settop(L, 2);
  lua_pushvalue(L, 1);
  check_stream(L, 1);
  return push_aw(L, 2, 1);
}

static int stream_gc (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s->fd >= 0) {
    stop_io(s, &s->rio);
    stop_io(s, &s->wio);
    close(s->fd);
    s->fd = -1;
  }
  free(s->rbuf);
  s->rbuf = NULL;
  s->rpos = s->rlen = s->rcap = 0;
  free(s->wbuf);
  s->wbuf = NULL;
  s->wpos = s->wlen = s->wcap = 0;
  return 0;
}

static int stream_tostring (lua_State *L) {
  Stream *s = check_stream(L, 1);
  if (s->fd < 0) lua_pushliteral(L, "<Stream closed>");
  else lua_pushfstring(L, "<Stream fd=%d>", s->fd);
  return 1;
}

/* ---------- registration ---------- */

/*
** A method returning an awaitable: its closure has the Runtime and the
** awaitable function (a closure over the Runtime and await_future).
*/
typedef struct AwReg {
  const char *name;
  lua_CFunction method;
  lua_CFunction aw;
} AwReg;

static void set_aw_methods (lua_State *L, const AwReg *l, int awaitidx) {
  for (; l->name != NULL; l++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, awaitidx);
    lua_pushcclosure(L, l->aw, 2);
    lua_pushcclosure(L, l->method, 2);
    lua_setfield(L, -2, l->name);
  }
}

/* Like aio_setfuncs, with await_future as upvalue 2 (write may pause). */
static void set_methods2 (lua_State *L, const luaL_Reg *l, int awaitidx) {
  for (; l->name != NULL; l++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, awaitidx);
    lua_pushcclosure(L, l->func, 2);
    lua_setfield(L, -2, l->name);
  }
}

int stream_open (lua_State *L) {
  static const luaL_Reg stream_meta[] = {
    {"__gc", stream_gc},
    {"__tostring", stream_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg stream_methods[] = {
    {"halves", stream_halves},
    {"set_limit", stream_set_limit},
    {"close", stream_close},
    {"fileno", stream_fileno},
    {NULL, NULL}
  };
  static const AwReg stream_aw[] = {
    {"connected", stream_connected, stream_connected_aw},
    {NULL, NULL, NULL}
  };
  static const luaL_Reg reader_meta[] = {
    {"__tostring", reader_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg reader_methods[] = {
    {"at_eof", reader_at_eof},
    {"get_limit", reader_get_limit},
    {NULL, NULL}
  };
  static const AwReg reader_aw[] = {
    {"read", reader_read, stream_read_aw},
    {"readexactly", reader_readexactly, stream_readexactly_aw},
    {"readuntil", reader_readuntil, stream_readuntil_aw},
    {"readline", reader_readline, stream_readuntil_aw},
    {NULL, NULL, NULL}
  };
  static const luaL_Reg writer_meta[] = {
    {"__tostring", writer_tostring},
    {"__close", writer_close},
    {NULL, NULL}
  };
  static const luaL_Reg writer_methods[] = {
    {"write_eof", writer_write_eof},
    {"can_write_eof", writer_can_write_eof},
    {"close", writer_close},
    {"is_closing", writer_is_closing},
    {"get_extra_info", writer_get_extra_info},
    {"get_write_buffer_size", writer_get_write_buffer_size},
    {"set_write_buffer_limits", writer_set_write_buffer_limits},
    {"get_write_buffer_limits", writer_get_write_buffer_limits},
    {NULL, NULL}
  };
  static const luaL_Reg writer_methods2[] = {
    {"write", writer_write},
    {"writelines", writer_writelines},
    {NULL, NULL}
  };
  static const AwReg writer_aw[] = {
    {"drain", writer_drain, stream_drain_aw},
    {"wait_closed", writer_wait_closed, stream_wait_closed_aw},
    {NULL, NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"connect", core_connect},
    {NULL, NULL}
  };
  int awaitidx;
  lua_getfield(L, 1, "await_future");
  awaitidx = lua_gettop(L);
  lua_pushvalue(L, 1);  /* aio_newclass wants the module at the top */
  aio_newclass(L, AIO_TSTREAM, AIO_STREAM, stream_methods, stream_meta);
  lua_getfield(L, -1, "Stream");
  set_aw_methods(L, stream_aw, awaitidx);
  lua_pop(L, 1);
  aio_newclass(L, AIO_TREADER, AIO_READER, reader_methods, reader_meta);
  lua_getfield(L, -1, "StreamReader");
  set_aw_methods(L, reader_aw, awaitidx);
  lua_pop(L, 1);
  aio_newclass(L, AIO_TWRITER, AIO_WRITER, writer_methods, writer_meta);
  lua_getfield(L, -1, "StreamWriter");
  set_aw_methods(L, writer_aw, awaitidx);
  set_methods2(L, writer_methods2, awaitidx);
  lua_pop(L, 1);
  aio_setfuncs(L, funcs);
  lua_settop(L, 1);
  return 0;
}
