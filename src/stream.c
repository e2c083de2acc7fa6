/*
** stream.c: the Stream, a connected socket with its read and write
** buffers: connecting, the read and write watchers, closing, and the ways
** a task waits on it; its halves are in reader.c and writer.c.
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

#define DEFAULT_HIGH (64 * 1024)
#define DEFAULT_LOW (16 * 1024)
#define FIRST_CHUNK (16 * 1024)    /* bytes asked of the first read() */
#define MAX_CHUNK (1024 * 1024)    /* at most this many per read() */

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

/* ---------- futures ---------- */

/* Pushes a new pending future of the loop at loopidx. [-0, +1, m] */
static Future *new_future (lua_State *L, int loopidx) {
  Future *f = (Future *)lua_newuserdatauv(L, sizeof(Future), FUT_NUV - 1);
  aio_setmetatable(L, AIO_TFUTURE);
  future_init(L, f, AIO_TFUTURE, loopidx);
  return f;
}

void stream_wake_future (lua_State *L, int idx) {
  Future *f = (Future *)lua_touserdata(L, idx);
  if (f != NULL && f->state == FUT_PENDING) future_set_results(L, f, idx, 0, 0);
}

/*
** Calls the function on top (a server's notification that the stream
** closed, see notify_closed) and pops it; what it raises goes to the
** exception handler of the stream's loop. [-1, +0, m]
*/
static void call_notification (lua_State *L, Stream *s) {
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "Exception in a stream's close notification");
    lua_setfield(L, -2, "message");
    lua_insert(L, -2);
    lua_setfield(L, -2, "error");
    aio_report(L, s->loop, -1);
    lua_pop(L, 1);
  }
}

/*
** Wakes every future of the list in user value uv of the stream at sidx,
** then calls its functions (the server's count of its connections), and
** forgets the list: Python's transport tells its protocol (whose closed
** future wait_closed() awaits) before it detaches from its server, so a
** handler's wait_closed() resumes before the server's. [-0, +0, m]
*/
static void wake_list (lua_State *L, int sidx, int uv) {
  sidx = lua_absindex(L, sidx);
  if (lua_getiuservalue(L, sidx, uv) == LUA_TTABLE) {
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
    int pass;
    lua_pushnil(L);
    lua_setiuservalue(L, sidx, uv);
    for (pass = 0; pass < 2; pass++)
      for (i = 1; i <= n; i++) {
        int isfn = lua_rawgeti(L, -1, i) == LUA_TFUNCTION;
        if (isfn != pass) lua_pop(L, 1);
        else if (isfn) call_notification(L, (Stream *)lua_touserdata(L, sidx));
        else {
          stream_wake_future(L, -1);
          lua_pop(L, 1);
        }
      }
  }
  lua_pop(L, 1);
}

/* Wakes the drain() and wait_closed() waiting on the stream at sidx, which
   then raise its error, if any. [-0, +0, m] */
static void wake_writer_waiters (lua_State *L, int sidx) {
  wake_list(L, sidx, ST_UV_WWAIT);
  wake_list(L, sidx, ST_UV_CLOSED);
}

/* Wakes the waiting reader, if any, and stops reading. [-0, +0, m] */
static void wake_reader (lua_State *L, Stream *s, int sidx) {
  s->rwait = RW_NONE;
  readers_forget(s);
  stream_stop_io(s, &s->rio);
  if (lua_getiuservalue(L, sidx, ST_UV_RWAIT) != LUA_TNIL) {
    lua_pushnil(L);
    lua_setiuservalue(L, sidx, ST_UV_RWAIT);
    task_unpark(L, -1, 0);
  }
  lua_pop(L, 1);
}

/* ---------- closing ---------- */

/*
** Keeps the socket's two addresses, so that get_extra_info still gives
** them once the descriptor is closed (to log a peer in a handler's last
** lines), as Python's transport keeps them from its start.
*/
void stream_keep_names (Stream *s) {
  StreamNames *n;
  if (s->names != NULL || s->fd < 0 || s->kind == STREAM_PIPE || s->connecting)
    return;
  n = (StreamNames *)calloc(1, sizeof(*n));
  if (n == NULL) return;  /* then only while open */
  n->socklen = sizeof(n->sock);
  if (getsockname(s->fd, (struct sockaddr *)&n->sock, &n->socklen) != 0)
    n->socklen = 0;
  n->peerlen = sizeof(n->peer);
  if (getpeername(s->fd, (struct sockaddr *)&n->peer, &n->peerlen) != 0)
    n->peerlen = 0;
  s->names = n;
}

static void drain_unread (Stream *s, int keep);
static int satisfied (Stream *s);

/*
** Closes the descriptor now: stops both watchers, drops unsent bytes and
** wakes everybody waiting (readers see the end of the stream). Keeps the
** unread bytes readable, unless reading stopped at a close() before (which
** took in what had come): what came since stays unread, as Python's
** transport stopped reading then. [-0, +0, m]
*/
static void close_fd (lua_State *L, Stream *s, int sidx);

static void close_now (lua_State *L, Stream *s, int sidx) {
  if (s->fd < 0) return;
  sidx = lua_absindex(L, sidx);
  close_fd(L, s, sidx);
  wake_reader(L, s, sidx);
  wake_writer_waiters(L, sidx);
}

/* close_now without the wakeups. [-0, +0, m] */
static void close_fd (lua_State *L, Stream *s, int sidx) {
  stream_stop_io(s, &s->rio);
  stream_stop_io(s, &s->wio);
  drain_unread(s, !s->closing);
  stream_keep_names(s);
  close(s->fd);
  s->fd = -1;
  s->closing = 0;
  s->connecting = 0;
  s->paused = 0;
  s->wpos = s->wlen = 0;
  free(s->wbuf);
  s->wbuf = NULL;
  s->wcap = 0;
  stream_update_anchor(L, s, sidx);
}

/*
** A write failed (werr is set): what waits on the writer wakes, drain()
** and wait_closed() then raising the error, as Python's transport tells
** its waiters when a write loses the connection. [-0, +0, m]
*/
static void tell_loss (lua_State *L, Stream *s, int sidx);

void stream_write_failed (lua_State *L, int sidx) {
  Stream *s = (Stream *)lua_touserdata(L, sidx);
  if (s->kind == STREAM_PIPE) {
    tell_loss(L, s, sidx);
    return;
  }
  wake_writer_waiters(L, sidx);
}

/*
** A read raised the stream's read error (a reset): the waiting drain()
** and wait_closed() wake with it, once, as Python's _force_close hands it
** to connection_lost. They waited for good. [-0, +0, m]
*/
void stream_read_failed (lua_State *L, int sidx) {
  Stream *s = (Stream *)lua_touserdata(L, sidx);
  if (s->rerr_told) return;
  s->rerr_told = 1;
  wake_writer_waiters(L, sidx);
}

/*
** A child's stdin lost (a write failed, or the child closed its end):
** Python's pipe transport tells the subprocess protocol through two
** call_soon hops (_call_connection_lost, then _pipe_connection_lost), and
** only then do its waiting drain() and wait_closed() wake. So do these:
** loss_hop, then loss_told, which wakes them. Until then a drain begun
** finds the protocol still connected (writer.c: pipe_lost).
*/
static int loss_told (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s == NULL || s->loss_told) return 0;
  s->loss_told = 1;
  wake_writer_waiters(L, 1);
  return 0;
}

/* Queues fn(stream) for the stream at sidx in its loop's ready queue.
   [-0, +0, m] */
void stream_queue_entry (lua_State *L, Stream *s, int sidx, lua_CFunction fn) {
  sidx = lua_absindex(L, sidx);
  lua_pushcfunction(L, fn);
  lua_getiuservalue(L, sidx, ST_UV_LOOP);
  loop_ready_push(L, s->loop, -1, -2, sidx);
  lua_pop(L, 2);
}

/* (stream, fn): stream_queue_entry under a protected call. */
static int queue_entry_p (lua_State *L) {
  stream_queue_entry(L, (Stream *)lua_touserdata(L, 1), 1, lua_tocfunction(L, 2));
  return 0;
}

/*
** Queues the step fn of telling the loss of the stream at sidx; when that
** cannot be queued (memory), or the loop is not there to run it, tells
** it now: its waiters wake early rather than never. [-0, +0, m]
*/
static void queue_loss_step (lua_State *L, Stream *s, int sidx,
                             lua_CFunction fn) {
  sidx = lua_absindex(L, sidx);
  if (stream_loop_open(s)) {
    lua_pushcfunction(L, queue_entry_p);
    lua_pushvalue(L, sidx);
    lua_pushcfunction(L, fn);
    if (lua_pcall(L, 2, 0, 0) == LUA_OK) return;
    lua_pop(L, 1);
  }
  lua_pushcfunction(L, loss_told);
  lua_pushvalue(L, sidx);
  lua_call(L, 1, 0);
}

static int loss_hop (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s != NULL && !s->loss_told) queue_loss_step(L, s, 1, loss_told);
  return 0;
}

static void tell_loss (lua_State *L, Stream *s, int sidx) {
  if (s->loss_told || s->loss_queued) return;
  s->loss_queued = 1;
  queue_loss_step(L, s, sidx, loss_hop);
}

static void queue_close (lua_State *L, Stream *s, int sidx);

/*
** Closes the stream at sidx dropping what is not sent yet (a transport's
** abort(), for Server:abort_clients): the socket closes in the next
** iteration, as Python's _force_close calls connection_lost through
** call_soon. [-0, +0, m]
*/
void stream_abort (lua_State *L, Stream *s, int sidx) {
  if (s->fd < 0) return;
  s->wpos = s->wlen = 0;
  if (!s->closing) stream_close(L, s, sidx);
  else {  /* a close() waiting for the flush: now there is none */
    stream_stop_io(s, &s->wio);
    queue_close(L, s, sidx);
  }
}

/*
** close_entry(stream): run from the ready queue one iteration after a
** close() that had nothing to flush, as Python's transport calls
** connection_lost (and closes its socket) through call_soon: what waits in
** wait_closed() or read() wakes then, and resumes one iteration later.
*/
static int close_entry (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s != NULL && s->fd >= 0 && s->closing && stream_buffered_out(s) == 0)
    close_now(L, s, 1);
  return 0;
}

/* Queues close_entry for the stream at sidx. [-0, +0, m] */
static void queue_close (lua_State *L, Stream *s, int sidx) {
  stream_queue_entry(L, s, sidx, close_entry);
}

/*
** Closes the stream at sidx: with nothing buffered, in the next iteration
** (close_entry), or at once if it cannot be sent or the loop is not there
** to run that; else once the buffer is flushed. Reading stops at once.
** [-0, +0, m]
*/
void stream_close (lua_State *L, Stream *s, int sidx) {
  if (s->fd < 0 || s->closing) return;
  if (s->kind == STREAM_PIPE && s->closed_at == 0) s->closed_at = s->loop->iterations + 1;
  if (s->werr || s->connecting || !stream_loop_open(s))
    close_now(L, s, sidx);
  else if (stream_buffered_out(s) == 0) {
    /* queued first: if that fails (memory), the stream is as it was */
    queue_close(L, s, sidx);
    /* reading stops now: what came stays readable, later bytes are not */
    drain_unread(s, 1);
    s->closing = 1;
    stream_stop_io(s, &s->rio);
    /* a waiting reader those bytes satisfy gets them; else it sees the
       end when the socket closes */
    if (s->rwait != RW_NONE && stream_buffered_in(s) > 0 && satisfied(s))
      wake_reader(L, s, sidx);
    stream_update_anchor(L, s, sidx);  /* a loop closed first closes it */
  } else {
    drain_unread(s, 1);
    s->closing = 1;
    wake_reader(L, s, sidx);
    stream_update_anchor(L, s, sidx);
  }
}

/* ---------- buffers ---------- */

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
int stream_append (Stream *s, const char *p, size_t n) {
  if (reserve(&s->wbuf, &s->wpos, &s->wlen, &s->wcap, n) != 0) return -1;
  memcpy(s->wbuf + s->wlen, p, n);
  s->wlen += n;
  return 0;
}

/* Reads once into the buffer. Sets eof or rerr. */
static void fill (Stream *s) {
  size_t want = s->chunk;
  ssize_t n;
  if (s->rwait == RW_EXACT && s->scan > stream_buffered_in(s)) {
    size_t missing = s->scan - stream_buffered_in(s);
    if (missing > want) want = missing < MAX_CHUNK ? missing : MAX_CHUNK;
  }
  if (s->rpos == s->rlen) s->rpos = s->rlen = 0;
  if (reserve(&s->rbuf, &s->rpos, &s->rlen, &s->rcap, want) != 0) {
    s->rerr = ENOMEM;
    return;
  }
  want = s->rcap - s->rlen;
  if (s->readcap != 0 && want > s->readcap) want = s->readcap;
  do n = read(s->fd, s->rbuf + s->rlen, want);
  while (n < 0 && errno == EINTR);
  s->short_read = !(n > 0 && (size_t)n == want);
  if (n > 0) {
    s->rlen += (size_t)n;
    if ((size_t)n == want && s->chunk < MAX_CHUNK) s->chunk *= 2;
  } else if (n == 0) {
    if (s->werr && s->kind != STREAM_PIPE) {
      /* the end after a failed write: the connection was lost to that
         error, which Python's transport hands its reader too */
      s->rerr = s->werr;
      return;
    }
    s->eof = 1;
    /* a pipe has nothing more to give: its descriptor goes back at once,
       as Python closes a pipe transport at EOF; the bytes read stay
       readable, and the Readers unanchor the stream (settle_idle) */
    if (s->kind == STREAM_PIPE) {
      ev_io_stop(s->loop->ev, &s->rio);
      close(s->fd);
      s->fd = -1;
    }
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) s->rerr = errno;
}

/*
** Takes in what has arrived, without waiting: one read of the descriptor.
** Python's transports read all the time, so its read(n) gets everything
** that came and its at_eof() sees an end that came; ours read when asked,
** and this is how they ask without suspending. Nothing while a reader
** waits (the watcher reads for it), connecting, or once it ended.
*/
void stream_peek (Stream *s) {
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->rwait != RW_NONE)
    return;
  fill(s);
}

/*
** Reads as Python's transport does in one recv(max_size): what the kernel
** holds, up to TAKE_IN_MAX, whatever the size of the buffer (a first
** read() asks for 16 KiB). Only when a read fills the buffer does it ask
** how much more is there (FIONREAD), and reads that and no more: a writer
** refilling a pipe between two reads does not make them one. capped: no
** read asks for more than what is left of TAKE_IN_MAX.
*/
static void fill_as_recv (Stream *s, int capped) {
  size_t had = stream_buffered_in(s), got, target;
  int avail = 0;
  if (capped) s->readcap = TAKE_IN_MAX;
  fill(s);
  got = stream_buffered_in(s) - had;
  if (!s->short_read && !s->eof && !s->rerr && s->fd >= 0 && got < TAKE_IN_MAX
      && ioctl(s->fd, FIONREAD, &avail) == 0 && avail >= 0) {
    target = got + (size_t)avail < TAKE_IN_MAX ? got + (size_t)avail : TAKE_IN_MAX;
    while (got < target) {
      had = stream_buffered_in(s);
      if (capped) s->readcap = target - got;
      fill(s);
      got += stream_buffered_in(s) - had;
      if (stream_buffered_in(s) == had || s->eof || s->rerr || s->fd < 0) break;
    }
    if (got >= target && target < TAKE_IN_MAX)
      s->short_read = 1;  /* the kernel had no more */
  }
  if (capped) s->readcap = 0;
}

/*
** Whether the end of a socket's stream has arrived, with no bytes before
** it: looks without taking anything in (MSG_PEEK), and notes the end.
*/
int stream_end_arrived (Stream *s) {
  char c;
  ssize_t n;
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->kind == STREAM_PIPE)
    return s->eof;
  do n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n == 0) s->eof = 1;
  return s->eof;
}

/*
** After a take-in that left the kernel empty: whether a reset arrived
** behind those bytes. Python's transport, reading all along, met it in
** its next read and handed it to the reader, whose reads raise it before
** looking at the buffer. Looks with MSG_PEEK, which takes the error from
** the socket: it is kept as the read error. [-0, +0, -]
*/
void stream_reset_behind (Stream *s) {
  char c;
  ssize_t n;
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->kind == STREAM_PIPE)
    return;
  do n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) s->rerr = errno;
}

/* stream_peek as one recv(max_size) of Python's transport. */
void stream_take_in (Stream *s) {
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->rwait != RW_NONE)
    return;
  fill_as_recv(s, 1);
}

/*
** One read of a child's pipe read ahead (stream_reads_ahead), as much as
** Python's transport reads in one go; more than twice the limit held
** stops reading until reads take it down (reader.c: consume).
*/
void stream_take_ahead (Stream *s) {
  fill_as_recv(s, 1);
  if (stream_buffered_in(s) > 2 * s->limit) s->held = 1;
}

/*
** Peeks until nothing more has arrived or upto bytes are buffered: what
** Python's transport would hold, reading ahead while nobody asks.
*/
void stream_read_ahead (Stream *s, size_t upto) {
  size_t had;
  while ((had = stream_buffered_in(s)) < upto) {
    stream_peek(s);
    if (stream_buffered_in(s) == had) break;
  }
}

/*
** When reading stops (close) and before a socket's descriptor closes:
** takes in what the peer sent and nobody read yet, so it stays readable
** (keep; as in Python, whose transports read all the time) and the kernel
** does not answer the close with a reset, which would make the peer lose
** what we wrote it last. What comes after reading stopped is read and
** dropped (!keep): Python's transport reads nothing after close(). Bounded
** in all (drained), in case the peer keeps sending; a failure here is
** nobody's business now.
*/
#define DRAIN_MAX ((size_t)1 << 20)
static void drain_unread (Stream *s, int keep) {
  size_t start = stream_buffered_in(s);
  int rerr = s->rerr;
  if (s->kind == STREAM_PIPE || s->connecting) return;
  while (!s->eof && s->rerr == 0 && s->drained < DRAIN_MAX) {
    size_t had = stream_buffered_in(s);
    fill(s);
    if (stream_buffered_in(s) == had) break;  /* nothing more waiting */
    s->drained += stream_buffered_in(s) - had;
    if (!keep) s->rlen = s->rpos + start;  /* read, and dropped */
  }
  /* a reset that came before reading stopped: Python's transport, reading
     all along, had lost the connection to it (wait_closed() raises it) */
  if (keep && rerr == 0 && s->rerr == ECONNRESET && !s->held) return;
  s->rerr = rerr;
}

/*
** Where a separator starts in the unread bytes, searching from off, and
** its length in *len: of several, the one whose match ends first (the
** shorter on a tie), as Python 3.13's readuntil. NULL if none is there.
*/
const char *stream_find_sep (Stream *s, size_t off, size_t *len) {
  size_t avail = stream_buffered_in(s);
  const char *best = NULL, *data = s->rbuf + s->rpos;
  size_t bestend = 0;
  unsigned i;
  for (i = 0; i < s->nseps; i++) {
    size_t seplen = s->seplens[i];
    const char *at;
    if (avail < seplen || off > avail - seplen) continue;
    at = (const char *)memmem(data + off, avail - off, s->seps[i], seplen);
    if (at != NULL && (best == NULL || (size_t)(at - data) + seplen < bestend)) {
      best = at;
      bestend = (size_t)(at - data) + seplen;
      *len = seplen;
    }
  }
  return best;
}

/* Whether the bytes in, or the state of, s satisfy the waiting reader. */
int stream_reader_satisfied (Stream *s) {
  return satisfied(s);
}

static int satisfied (Stream *s) {
  size_t avail = stream_buffered_in(s);
  if (s->eof || s->rerr || s->fd < 0) return 1;
  switch (s->rwait) {
    case RW_ANY: return avail > 0;
    case RW_EXACT: return avail >= s->scan;
    case RW_UNTIL: {
      size_t len, longest = s->seplens[s->nseps - 1];
      if (stream_find_sep(s, s->scan, &len) != NULL) return 1;
      if (avail + 1 > longest) s->scan = avail + 1 - longest;
      return s->scan > s->limit;
    }
    case RW_EOF: return 0;
    default: return 1;
  }
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
    fill_as_recv(s, 1);  /* one recv of Python's transport: 256 KiB at most */
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
  if (satisfied(s)) {
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
  if (s->kind == STREAM_PIPE) close_now(L, s, sidx);
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
      close_fd(L, s, sidx);
      tell_loss(L, s, sidx);
      return;
    }
    if (s->closing) {
      close_now(L, s, sidx);
      return;
    }
    if (s->eof_asked && !s->werr) stream_shut_write(L, s, sidx);
  }
  if (s->werr) {
    s->paused = 0;
    stream_write_failed(L, sidx);
  } else if (!s->paused || stream_buffered_out(s) <= s->low) {
    s->paused = 0;
    wake_list(L, sidx, ST_UV_WWAIT);
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
  close_fd(L, s, 4);
  tell_loss(L, s, 4);
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

/* Raises unless the running task is on the stream's loop. */
void stream_check_task (lua_State *L, Stream *s) {
  task_check_running(L);
  if (aio_rt(L)->running != s->loop)
    luaL_error(L, "the stream is attached to a different loop");
}

/*
** Awaits the future at nargs + 1 with await_future (upvalue 2 of the
** running C function) under lua_pcallk, so that the continuation k sees a
** cancellation and can clean up before raising it again. The nargs values
** below the future stay. Returns as k does.
*/
int stream_await_top (lua_State *L, int nargs, lua_KFunction k) {
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, nargs + 1);
  return k(L, lua_pcallk(L, 1, 0, 0, (lua_KContext)nargs, k),
           (lua_KContext)nargs);
}

/*
** Writers' waits (drain, connect, wait_closed) add a
** future of their own to the list in user value uv of the stream at 1:
** cancelling one waiter must not cancel the others. [-0, +1, e]
*/
int stream_list_wait (lua_State *L, Stream *s, int nargs, int uv,
                      lua_KFunction k) {
  lua_Integer n;
  stream_check_task(L, s);
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
  if (s->fd < 0) {
    /* closed by a finalizer that the allocations above ran, after the
       caller looked and before our future was in the list it woke: done
       at once, so that k looks again */
    future_set_results(L, (Future *)lua_touserdata(L, nargs + 1), nargs + 1, 0, 0);
  }
  return stream_await_top(L, nargs, k);
}

/*
** At the start of a list wait's continuation: after an error (a
** cancellation) takes our future out of the list and raises the error
** again; otherwise leaves the nargs values alone on the stack.
*/
void stream_list_resumed (lua_State *L, int status, int nargs, int uv) {
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

/* Raises the error a writer sees: a failed write, or a lost connection. */
int stream_raise_werr (lua_State *L, Stream *s) {
  if (s->werr) {
    socket_pusherror(L, s->werr, "write");
    return lua_error(L);
  }
  return stream_raise_lost(L);
}

/* Raises Python's ConnectionResetError("Connection lost"), whose errno is
   None: no system call failed (code still says which class it is). */
int stream_raise_lost (lua_State *L) {
  socket_pusherror(L, ECONNRESET, NULL);
  lua_pushliteral(L, "Connection lost");
  lua_setfield(L, -2, "message");
  lua_pushnil(L);
  lua_setfield(L, -2, "errno");
  return lua_error(L);
}

/*
** Pushes a coroutine object calling the function at awidx with the stream
** at sidx and the n values from first. [-0, +1, m]
*/
void stream_push_aw (lua_State *L, int awidx, int sidx, int first, int n) {
  int top = lua_gettop(L), i;
  lua_pushvalue(L, awidx);
  lua_pushvalue(L, sidx);
  for (i = 0; i < n; i++) lua_pushvalue(L, first + i);
  coro_push(L, top + 1, top + 2, n + 1);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

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
  close_now(L, s, 1);
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
** stream:notify_closed(fn): fn() is called when the stream closes or a
** write loses it, right then (at once if it has): a server counts its
** connections by it, as Python's counts transports until their
** connection_lost detaches them, in that call.
*/
static int stream_notify_closed (lua_State *L) {
  Stream *s = stream_check(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  if (s->fd < 0 || s->werr) {
    call_notification(L, s);
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
    call_notification(L, s);
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
