/*
** stream.c: the Stream, a connected socket or pipe: making it,
** connecting, its read and write watchers, and its methods. Its buffers
** are in stream_buffer.c, its end in stream_close.c, the writer's waits in
** stream_wait.c; its halves are in reader.c and writer.c.
**
** Anchoring rule: a Stream whose read or write watcher is started, or
** that is closing with its socket still open, is the value of its own
** address in its loop's LOOP_UV_WATCHERS table (so closing the loop closes
** its socket), and is taken out of it otherwise; a task reading a stream is parked on it
** (task_park) and one writing waits on a future, both held in the
** stream's user values, so such a task is reachable exactly while the
** stream is. An idle stream is collectable and its finalizer
** closes the descriptor. The loop's byfd points at socket streams without
** holding them; a stream's finalizer takes itself out. Readers and
** writers hold their Stream in a user value.
**
** The read watcher runs while a reader waits, and wakes it only once the
** buffer can satisfy it (a readexactly(n) waiter sleeps until n bytes are
** in); the bytes are taken from the buffer by the waiting task when it
** resumes, so a cancelled read never loses data. The watcher callbacks
** only read and test, in C; the loop's Readers (readers.c) wakes the
** satisfied readers, and stops the watchers nobody reads from any more.
** On a child's stdin, which has no reader, the read watcher runs while
** the pipe is open, to learn when the child closes its end.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

#define DEFAULT_HIGH (64 * 1024)
#define DEFAULT_LOW (16 * 1024)
#define FIRST_CHUNK (16 * 1024)    /* bytes asked of the first read() */

/* ---------- types ---------- */

Stream *stream_check (lua_State *L, int idx) {
  return (Stream *)luaL_checkudata(L, idx, AIO_STREAM);
}

/*
** The reader or writer (type AIO_TREADER or AIO_TWRITER) at idx, tested
** by metatable identity: methods run this on every call. [-0, +0, v]
*/
Half *stream_tohalf (lua_State *L, int idx, int type) {
  Runtime *rt = aio_rt(L);
  if (lua_getmetatable(L, idx)) {
    int ok = lua_topointer(L, -1) == rt->mt[type];
    lua_pop(L, 1);
    if (ok) return (Half *)lua_touserdata(L, idx);
  }
  luaL_typeerror(L, idx, type == AIO_TREADER ? AIO_READER : AIO_WRITER);
  return NULL;
}

/* ---------- anchoring and watchers ---------- */

/* Anchors s (at sidx) while a watcher runs, frees it when none does. */
void stream_update_anchor (lua_State *L, Stream *s, int sidx) {
  int active = ev_is_active(&s->rio) || ev_is_active(&s->wio)
               || (s->closing && s->fd >= 0);
  if (active == s->anchored) return;
  sidx = lua_absindex(L, sidx);
  lua_getiuservalue(L, sidx, ST_UV_LOOP);
  if (active) socket_anchor(L, lua_gettop(L), s, sidx);
  else if (stream_loop_open(s)) socket_unanchor(L, lua_gettop(L), s);
  lua_pop(L, 1);
  s->anchored = (unsigned char)active;
}

/* Starts a watcher of s (at sidx), anchoring s first. [-0, +0, m] */
void stream_start_io (lua_State *L, Stream *s, ev_io *w, int sidx) {
  if (ev_is_active(w)) return;
  /* checked by the callers, but a finalizer run since (by a conversion or
     an allocation of theirs) may have closed the loop */
  if (!stream_loop_open(s)) aio_loop_closed(L);
  if (!s->anchored) {
    sidx = lua_absindex(L, sidx);
    lua_getiuservalue(L, sidx, ST_UV_LOOP);
    socket_anchor(L, lua_gettop(L), s, sidx);
    lua_pop(L, 1);
    s->anchored = 1;
  }
  ev_io_start(s->loop->ev, w);
}

void stream_stop_io (Stream *s, ev_io *w) {
  if (stream_loop_open(s)) ev_io_stop(s->loop->ev, w);
}

/* ---------- watcher callbacks ---------- */

/*
** Calls fn(s, loop) protected from a watcher callback, where the loop is
** at index 1 of the state running it (see watcher.c).
*/
static void call_protected (Stream *s, lua_CFunction fn) {
  lua_State *L = s->loop->L;
  if (L == NULL) return;
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, s);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: error in a stream callback: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/*
** The read watcher: reads, and queues the reader to be woken once it is
** satisfied (see Readers). With no reader, the bytes stay in the kernel
** and the watcher stops; the stream is forgotten before the next poll.
*/
static void rio_cb (struct ev_loop *ev, ev_io *w, int revents) {
  Stream *s = (Stream *)w->data;
  (void)revents;
  if (s->rwait == RW_NONE && stream_reads_ahead(s)) {
    /* a child's pipe nobody reads now: the Readers queue its read
       (readers.c: ahead_entry) */
    if (!s->aheadq && !s->inready) {
      ioorder_event(s->loop);
      s->iogroup = s->loop->iogroup;
      readers_ready_link(s->rs, s);
    }
    return;
  }
  if (s->rwait == RW_NONE || s->fd < 0) {
    ev_io_stop(ev, w);
    readers_idle_link(s->rs, s);
    return;
  }
  ioorder_event(s->loop);
  {
    size_t had = stream_buffered_in(s);
    stream_fill_as_recv(s, 1);  /* one recv of Python's transport: 256 KiB at most */
    if (stream_buffered_in(s) != had) {
      s->polled = s->loop->iterations + 1;
      s->fresh = stream_buffered_in(s) - had;
    }
    /* more than twice the limit: Python's reader pauses its transport,
       which reads nothing more before the reader takes it down (reader.c,
       may_take_in) */
    if (stream_buffered_in(s) > 2 * s->limit) s->paused_at = s->loop->iterations + 1;
    stream_note_full(s);
  }
  s->took_in = s->loop->iterations + 1;
  if (stream_reader_satisfied(s)) {
    s->iogroup = s->loop->iogroup;  /* its wakeup, later, goes here */
    readers_ready_link(s->rs, s);
  }
}

/*
** Writes bytes to the descriptor: send() on sockets, so that a reset peer
** raises instead of killing, write() on pipes (whose SIGPIPE the process
** ignores, see process.c). [-0, +0, -]
*/
ssize_t stream_send (Stream *s, const void *p, size_t n) {
  ssize_t r;
  stream_note_sent(s);
  do r = s->kind == STREAM_PIPE ? write(s->fd, p, n)
                                : send(s->fd, p, n, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  return r;
}

/*
** Shuts the write side of s (at sidx) once its buffer is sent: a socket
** is shut down, a pipe closed, which is how its reader sees the end.
** [-0, +0, m]
*/
void stream_shut_write (lua_State *L, Stream *s, int sidx) {
  if (s->wshut || s->fd < 0) return;
  s->wshut = 1;
  if (s->kind == STREAM_PIPE) stream_close_now(L, s, sidx);
  else shutdown(s->fd, SHUT_WR);
}

/*
** A send failed with err. The connection is lost to it, as Python's
** transport closes with it: a read reaching the end raises it, also when
** the end had already been taken in (a pipe just ended). [-0, +0, -]
*/
void stream_set_werr (Stream *s, int err) {
  if (s->werr == 0) {
    s->werr_iteration = s->loop->iterations;
    s->werr_paused = s->paused;
  }
  s->werr = err;
  if (s->eof && s->rerr == 0 && s->kind != STREAM_PIPE) s->rerr = err;
}

/* Sends what it can of the write buffer once. Sets werr. */
static void flush (Stream *s) {
  ssize_t n;
  if (stream_buffered_out(s) == 0) return;
  n = stream_send(s, s->wbuf + s->wpos, stream_buffered_out(s));
  if (n >= 0) {
    s->wpos += (size_t)n;
    if (s->wpos == s->wlen) s->wpos = s->wlen = 0;
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
    stream_set_werr(s, errno);
    s->wpos = s->wlen = 0;
  }
}

/* Whether nothing is left to send (or connecting is over). */
static int write_done (Stream *s) {
  return stream_buffered_out(s) == 0 && !s->connecting;
}

/*
** What the write watcher saw, for the stream at sidx: a connect finished,
** the buffer emptied or fell below the low-water mark, or an error. Wakes
** what waits on the writer; closes or shuts the stream if that was asked.
** [-0, +0, m]
*/
static void writer_settle (lua_State *L, Stream *s, int sidx) {
  if (write_done(s) || s->werr) {
    stream_stop_io(s, &s->wio);
    if (s->closing && s->werr && s->kind == STREAM_PIPE) {
      /* a child's stdin closing lost to the write: as the child closing
         its end (reader_gone), its waiters are told two hops later, and
         drains begun after that raise "Connection lost" */
      stream_close_fd(L, s, sidx);
      stream_tell_loss(L, s, sidx);
      return;
    }
    if (s->closing) {
      stream_close_now(L, s, sidx);
      return;
    }
    if (s->eof_asked && !s->werr) stream_shut_write(L, s, sidx);
  }
  if (s->werr) {
    s->paused = 0;
    stream_write_failed(L, sidx);
  } else if (!s->paused || stream_buffered_out(s) <= s->low) {
    s->paused = 0;
    stream_wake_list(L, sidx, ST_UV_WWAIT);
  }
  stream_update_anchor(L, s, sidx);
}

/* The protected half of the write watcher when a connect finished. */
static int connect_finished (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, s) != LUA_TUSERDATA) return 0;
  writer_settle(L, s, 4);
  return 0;
}

/*
** write_ready_entry(stream): run from the ready queue in the iteration of
** the poll whose write emptied the buffer (or brought it below the
** low-water mark, or failed), as Python's _write_ready runs there: the
** drain() or wait_closed() it ends resumes in the next iteration.
*/
static int write_ready_entry (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s == NULL) return 0;
  s->wqueued = 0;
  if (s->fd >= 0 && !s->connecting) writer_settle(L, s, 1);
  return 0;
}

/* The protected half of the write watcher otherwise: queues the entry. */
static int queue_write_ready (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  if (s->wqueued || lua_rawgetp(L, -1, s) != LUA_TUSERDATA) return 0;
  lua_pushcfunction(L, write_ready_entry);  /* 5 */
  loop_ready_push(L, s->loop, 2, 5, 4);
  s->wqueued = 1;
  return 0;
}

static void wio_cb (struct ev_loop *ev, ev_io *w, int revents) {
  Stream *s = (Stream *)w->data;
  (void)ev; (void)revents;
  if (s->fd < 0) return;
  ioorder_event(s->loop);
  if (s->connecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == EINPROGRESS || err == EALREADY || err == EINTR) return;
    s->connecting = 0;
    s->cerr = err;
    if (err == 0) {
      stream_keep_names(s);  /* from the start, as Python's transport */
      flush(s);
    }
    call_protected(s, connect_finished);
    return;
  }
  flush(s);
  if (write_done(s) || s->werr
      || (s->paused && stream_buffered_out(s) <= s->low))
    call_protected(s, queue_write_ready);
}

/* ---------- a child's stdin losing its reader ---------- */

/*
** The protected Lua half of the hangup watcher: the child closed its end
** of the pipe, or exited. As Python's pipe transport, the pipe closes;
** bytes still queued make that a broken pipe, which waiting drain() and
** wait_closed() raise; later writes are dropped.
*/
static int reader_gone (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, s) != LUA_TUSERDATA) return 0;
  if (stream_buffered_out(s) > 0) stream_set_werr(s, EPIPE);
  s->lost = 1;
  stream_close_fd(L, s, 4);
  stream_tell_loss(L, s, 4);
  return 0;
}

static void hup_cb (struct ev_loop *ev, ev_io *w, int revents) {
  Stream *s = (Stream *)w->data;
  (void)revents;
  if (s->fd < 0) {
    ev_io_stop(ev, w);
    return;
  }
  ioorder_event(s->loop);
  call_protected(s, reader_gone);
}

/*
** Watches the write end of a pipe (a child's stdin, at sidx) for its
** reader going away, as Python's pipe transport does with a reader: epoll
** then reports an error on it, which libev delivers as readiness to read.
** The pipe has no reader half, so its read watcher is free for this; the
** stream stays anchored while it watches. [-0, +0, m]
*/
void stream_watch_hangup (lua_State *L, Stream *s, int sidx) {
  ev_io_init(&s->rio, hup_cb, s->fd, EV_READ);
  s->rio.data = s;
  stream_start_io(L, s, &s->rio, sidx);
}

/* ---------- making streams ---------- */

static void stream_loopclose (IoHook *h) {
  Stream *s = (Stream *)h;
  readers_forget(s);
  if (s->loop->ev != NULL) {
    ev_io_stop(s->loop->ev, &s->rio);
    ev_io_stop(s->loop->ev, &s->wio);
  }
  s->anchored = 0;
  s->rwait = RW_NONE;
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
    s->cut_off = 1;
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
  if (++s->loop->nstreams == 0) s->loop->nstreams = 1;  /* 0: several */
  s->id = s->loop->nstreams;
  s->limit = STREAM_DEFAULT_LIMIT;
  s->high = DEFAULT_HIGH;
  s->low = DEFAULT_LOW;
  s->chunk = FIRST_CHUNK;
  aio_setmetatable(L, AIO_TSTREAM);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, ST_UV_LOOP);
  s->rs = readers_push(L, s->loop, loopidx);
  lua_setiuservalue(L, -2, ST_UV_READERS);
  return s;
}

/*
** Records s, a socket's stream, as the stream of fd in its loop's byfd,
** for stream_has_fd. Out of memory it is left out: that check only guards
** add_reader against misuse, and nothing else reads byfd. A closed loop,
** which freed byfd, gets none again.
*/
static void track_fd (Stream *s, int fd) {
  Loop *loop = s->loop;
  /* Python's pipe transports are not kept with the socket ones */
  if (s->kind == STREAM_PIPE || loop->closed) return;
  if (fd >= loop->nbyfd) {
    int n = loop->nbyfd ? loop->nbyfd : 64;
    Stream **p;
    while (n <= fd) n *= 2;
    p = (Stream **)realloc(loop->byfd, n * sizeof(Stream *));
    if (p == NULL) return;
    memset(p + loop->nbyfd, 0, (n - loop->nbyfd) * sizeof(Stream *));
    loop->byfd = p;
    loop->nbyfd = n;
  }
  loop->byfd[fd] = s;
  s->inbyfd = fd + 1;
}

/* Takes s out of its loop's byfd (its finalizer: the pointer goes). */
static void untrack_fd (Stream *s) {
  int i = s->inbyfd - 1;
  if (i >= 0 && i < s->loop->nbyfd && s->loop->byfd[i] == s)
    s->loop->byfd[i] = NULL;
  s->inbyfd = 0;
}

/*
** Whether fd is the descriptor of an open socket stream of loop that is not
** closing: add_reader and its kin refuse it, as Python's refuse the
** descriptor of a transport, whose watchers they would replace.
*/
int stream_has_fd (Loop *loop, int fd) {
  Stream *s = fd >= 0 && fd < loop->nbyfd ? loop->byfd[fd] : NULL;
  return s != NULL && s->fd == fd && !s->closing;
}

/* Frees the loop's byfd, at its close; the streams' untrack_fd then finds
   nothing. */
void stream_free_byfd (Loop *loop) {
  free(loop->byfd);
  loop->byfd = NULL;
  loop->nbyfd = 0;
}

/* Gives the closed stream s its connected, non-blocking socket. */
void stream_setfd (struct Stream *s, int fd) {
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  s->fd = fd;
  track_fd(s, fd);
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
  int nodelay = lua_toboolean(L, 5), fd;
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
  if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
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
  } else stream_keep_names(s);  /* connected at once (a Unix socket) */
  lua_settop(L, 6);
  return 1;
}

/* ---------- waiting ---------- */

static int connected_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  stream_list_resumed(L, status, (int)ctx, ST_UV_WWAIT);
  if (s->cerr) {
    socket_pusherror(L, s->cerr, lua_tostring(L, 2));
    return lua_error(L);
  }
  if (s->fd < 0) return stream_raise_werr(L, s);
  if (!s->connecting) return 0;
  stream_start_io(L, s, &s->wio, 1);
  return stream_list_wait(L, s, 2, ST_UV_WWAIT, connected_k);
}

/* The awaitable of stream:connected(what): (stream, what). */
static int stream_connected_aw (lua_State *L) {
  stream_check(L, 1);
  luaL_optstring(L, 2, "connect");
  lua_settop(L, 2);
  return connected_k(L, LUA_OK, 2);
}

/* ---------- stream methods (for the Lua layer) ---------- */

static Half *new_half (lua_State *L, Stream *s, int type) {
  Half *h = (Half *)lua_newuserdatauv(L, sizeof(Half), HALF_NUV);
  h->s = s;
  h->op = NULL;
  h->opbusy = 0;
  aio_setmetatable(L, type);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, HALF_UV_STREAM);
  return h;
}

/*
** stream:halves([reader_op, writer_op]) -> reader, writer. The ops are
** the reusable coroutine objects the halves hand out (reader.c).
*/
static int stream_halves (lua_State *L) {
  Stream *s = stream_check(L, 1);
  Half *r, *w;
  lua_settop(L, 3);
  r = new_half(L, s, AIO_TREADER);  /* 4 */
  w = new_half(L, s, AIO_TWRITER);  /* 5 */
  if (lua_istable(L, 2)) {
    r->op = lua_topointer(L, 2);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 4, HALF_UV_OP);
    reader_bind_op(L, 2, 4);
  }
  if (lua_istable(L, 3)) {
    w->op = lua_topointer(L, 3);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, 5, HALF_UV_OP);
  }
  return 2;
}

/* stream:set_limit(n) */
static int stream_set_limit (lua_State *L) {
  Stream *s = stream_check(L, 1);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n > 0, 2, "must be positive");
  s->limit = (size_t)n;
  return 0;
}

/* stream:close(): closes at once, dropping unsent bytes */
static int stream_close_m (lua_State *L) {
  Stream *s = stream_check(L, 1);
  lua_settop(L, 1);
  stream_close_now(L, s, 1);
  return 0;
}

static int stream_fileno (lua_State *L) {
  lua_pushinteger(L, stream_check(L, 1)->fd);
  return 1;
}

/* stream:connected([what]) -> awaitable: the connect finished */
static int stream_connected (lua_State *L) {
  stream_check(L, 1);
  lua_settop(L, 2);
  stream_push_aw(L, lua_upvalueindex(2), 1, 2, 1);
  return 1;
}

/*
** stream:read_ahead(): reads the stream (a child's stdout or stderr) all
** the time from now on, into its buffer, as Python's pipe transport reads
** until its reader holds more than twice the limit: what the child wrote
** is there for a read, at_eof() sees its end, and a child writing more
** than a pipe holds is not stopped while nobody reads.
*/
static int stream_read_ahead_m (lua_State *L) {
  Stream *s = stream_check(L, 1);
  s->ahead = 1;
  if (stream_reads_ahead(s) && stream_loop_open(s) && s->rwait == RW_NONE)
    stream_start_io(L, s, &s->rio, 1);
  return 0;
}

/*
** stream:take_ahead(): a pipe read ahead takes in now what has arrived,
** its end included, up to its full buffer: for a wait() that returns once
** the child exited, as Python's returns once the pipes closed too.
*/
static int stream_take_ahead_m (lua_State *L) {
  Stream *s = stream_check(L, 1);
  while (stream_reads_ahead(s) && s->rwait == RW_NONE) {
    size_t had = stream_buffered_in(s);
    stream_take_ahead(s);
    if (stream_buffered_in(s) == had) break;  /* nothing more, or the end */
  }
  stream_update_anchor(L, s, 1);  /* the end stopped its watcher */
  stream_tell_pipe_stopped(L, s, 1);
  return 0;
}

/*
** stream:end_pending() -> whether the end of a child's pipe has come (or
** is in the kernel: its writers are all gone, POLLHUP) and is still to be
** handed to its reader: one waiting, or the read ahead. Not a pipe that a
** grandchild keeps open, nor one held by its full buffer with nobody
** reading. A wait() waits for these, as Python's for its pipes to close.
*/
static int stream_end_pending_m (lua_State *L) {
  Stream *s = stream_check(L, 1);
  int pending = 0;
  if (s->eof) pending = s->rwait != RW_NONE;  /* read in, not handed yet */
  else if (s->fd >= 0 && !s->rerr && (s->rwait != RW_NONE || stream_reads_ahead(s))) {
    struct pollfd p;
    p.fd = s->fd;
    p.events = POLLIN;
    p.revents = 0;
    pending = poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) != 0;
  }
  lua_pushboolean(L, pending);
  return 1;
}

/*
** stream:other_end_open() -> whether some process still holds the other
** end of a child's pipe, which the child's exit did not close: a
** grandchild. Python's wait() waits for such an output pipe (its
** transport is not disconnected yet), and so does ours (subprocess.lua),
** until the end is read (stream_tell_pipe_stopped). Not a pipe closed, ended,
** failed or held by its full buffer: Python's would wait for that last one
** forever, the child's writer being blocked.
*/
static int stream_other_end_open_m (lua_State *L) {
  Stream *s = stream_check(L, 1);
  int open = 0;
  if (s->kind == STREAM_PIPE && s->fd >= 0 && !s->eof && !s->rerr
      && !s->held && !s->closing && !s->lost) {
    struct pollfd p;
    p.fd = s->fd;
    p.events = 0;  /* asks only for POLLHUP and POLLERR: the other end */
    p.revents = 0;
    open = poll(&p, 1, 0) == 0;
  }
  lua_pushboolean(L, open);
  return 1;
}

/*
** stream:notify_closed(fn): fn() is called when the stream closes or a
** write loses it, or when the end of a child's output pipe is read or its
** full buffer stops its reading, right then (at once if it has closed):
** a server counts its connections
** by it, as Python's counts transports until their connection_lost
** detaches them, in that call; a Process learns when a pipe held by a
** grandchild ends.
*/
static int stream_notify_closed (lua_State *L) {
  Stream *s = stream_check(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  if (s->fd < 0 || s->werr) {
    stream_call_notification(L, s);
    return 0;
  }
  if (lua_getiuservalue(L, 1, ST_UV_CLOSED) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, ST_UV_CLOSED);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, 3, (lua_Integer)lua_rawlen(L, 3) + 1);
  /* a finalizer the allocations ran may have closed it meanwhile, waking
     the list before fn was in it (see stream_list_wait) */
  if (s->fd < 0 || s->werr) {
    lua_settop(L, 2);
    stream_call_notification(L, s);
  }
  return 0;
}

static int stream_gc (lua_State *L) {
  Stream *s = (Stream *)aio_checkobj(L, 1, AIO_TSTREAM, "Stream");
  readers_forget(s);
  untrack_fd(s);
  if (s->fd >= 0) {
    /* a child's pipes are the process's to close, as Python's pipe
       transports close themselves when the child ends them */
    if (!s->closing && s->kind != STREAM_PIPE)
      aio_warn_unclosed(L, "StreamWriter", s->fd);
    stream_stop_io(s, &s->rio);
    stream_stop_io(s, &s->wio);
    close(s->fd);
    s->fd = -1;
  }
  free(s->rbuf);
  s->rbuf = NULL;
  s->rpos = s->rlen = s->rcap = 0;
  free(s->wbuf);
  s->wbuf = NULL;
  s->wpos = s->wlen = s->wcap = 0;
  free(s->names);
  s->names = NULL;
  return 0;
}

static int stream_tostring (lua_State *L) {
  Stream *s = stream_check(L, 1);
  if (s->fd < 0) lua_pushliteral(L, "<Stream closed>");
  else lua_pushfstring(L, "<Stream fd=%d>", s->fd);
  return 1;
}

int stream_open (lua_State *L) {
  static const luaL_Reg meta[] = {
    {"__gc", stream_gc},
    {"__tostring", stream_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg methods[] = {
    {"halves", stream_halves},
    {"set_limit", stream_set_limit},
    {"close", stream_close_m},
    {"fileno", stream_fileno},
    {"notify_closed", stream_notify_closed},
    {"read_ahead", stream_read_ahead_m},
    {"take_ahead", stream_take_ahead_m},
    {"end_pending", stream_end_pending_m},
    {"other_end_open", stream_other_end_open_m},
    {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"connect", core_connect},
    {NULL, NULL}
  };
  int awaitidx;
  lua_getfield(L, 1, "await_future");
  awaitidx = lua_gettop(L);
  lua_pushvalue(L, 1);  /* aio_newclass wants the module at the top */
  aio_newclass(L, AIO_TSTREAM, AIO_STREAM, methods, meta);
  /* connected: a method with its awaitable function as upvalue 2 */
  lua_getfield(L, -1, "Stream");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, awaitidx);
  lua_pushcclosure(L, stream_connected_aw, 2);
  lua_pushcclosure(L, stream_connected, 2);
  lua_setfield(L, -2, "connected");
  lua_pop(L, 1);
  aio_setfuncs(L, funcs);
  reader_open(L, awaitidx);
  writer_open(L, awaitidx);
  lua_settop(L, 1);
  return 0;
}
