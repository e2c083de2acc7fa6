/*
** writer.c: StreamWriter, the write half of a Stream: write and
** writelines (sending at once when nothing is queued), drain, write_eof,
** close, wait_closed, get_extra_info and the write buffer's water marks.
**
** Anchoring rule: a writer holds its Stream and its reusable coroutine
** object in its user values; bytes still queued keep the Stream's write
** watcher, and so the Stream, anchored in the loop (stream.c) until they
** are sent.
**
** As in Python, write and writelines never suspend: what the socket does
** not take is queued, however much that is, and drain() is where a task
** waits for the queue to fall below the low-water mark. (Writes used to
** suspend the task above the high-water mark; a task that writes all its
** input to a child before reading the child's output then deadlocked.)
*/
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "stream.h"

#define MAX_IOV 64                 /* writelines: pieces per sendmsg */

/* Writer operations, kept in the Half while handed out. */
enum { OP_DRAIN = 1, OP_CLOSED };

/*
** A write of s dropped because its connection is lost: as Python's
** transport counts them (_conn_lost, from 1 after a failed send, from 0
** after a pipe closed without error), the fifth and every later one warn
** on stderr with Python's words (its logger's, LOG_THRESHOLD_FOR_CONNLOST_
** WRITES): a program writing on and on to a dead peer is told. Returns
** NULL, what check_writable returns for a dropped write.
*/
#define CONNLOST_WRITES_WARN 5
static Stream *dropped (Stream *s) {
  /* a socket's count starts at 1 after a failed send or a close() */
  int base = s->werr != 0
             || (s->kind != STREAM_PIPE && (s->closing || s->fd < 0 || s->rerr));
  if (s->lostwrites + base >= CONNLOST_WRITES_WARN)
    lua_writestringerror("%s\n", s->kind == STREAM_PIPE
      ? "pipe closed by peer or os.write(pipe, data) raised exception."
      : "socket.send() raised exception.");
  if (s->lostwrites < INT_MAX) s->lostwrites++;
  return NULL;
}

/*
** Raises unless the writer at idx may still write; returns NULL when the
** data is to be dropped without raising, as Python's transport drops it:
** the connection was lost to a write error (drain() raises that error),
** or close() was called.
*/
static Stream *check_writable (lua_State *L, int idx, const char *fname) {
  Stream *s = stream_tohalf(L, idx, AIO_TWRITER)->s;
  /* closed by its reader, or by write_eof (at once if nothing was
     queued): as Python's pipe transport, later writes are dropped (a
     socket's raise after write_eof, as Python's) */
  if (s->lost || (s->eof_asked && s->kind == STREAM_PIPE)) return dropped(s);
  if (s->loop->closed) aio_loop_closed(L);
  if (s->eof_asked) luaL_error(L, "'%s' called after 'write_eof'", fname);
  if (s->fd < 0 || s->closing) {
    /* as Python's socket transport: while close() waits for the queue to
       be sent, writes join it; with nothing queued, once closed, and on
       a pipe, they are dropped (a broadcast to a client that just left
       must not fail) */
    if (s->fd >= 0 && s->kind != STREAM_PIPE && !s->werr && !s->rerr
        && (stream_buffered_out(s) > 0 || s->wqueued))
      return s;  /* wqueued: the poll sent the rest; the close is due in
                    write_ready_entry, where Python's transport has not
                    seen its buffer empty yet */
    return dropped(s);
  }
  /* a read error lost the connection too (Python's _force_close) */
  return s->werr || (s->rerr && s->kind != STREAM_PIPE) ? dropped(s) : s;
}

/* Whether errno after a send only means "not now". */
static int again (int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/*
** A send of the writer at 1 failed with err: kept for drain() and
** wait_closed() to raise, and their waiters woken; what was being written
** is dropped, as Python's transport does. [-0, +0, m]
*/
static void write_failed (lua_State *L, Stream *s, int err) {
  stream_set_werr(s, err);
  lua_getiuservalue(L, 1, HALF_UV_STREAM);
  stream_write_failed(L, lua_gettop(L));
  lua_pop(L, 1);
}

/* Sends or queues bytes of the writer at 1. [-0, +0, m] */
static void write_bytes (lua_State *L, Stream *s, const char *p, size_t len) {
  if (stream_buffered_out(s) == 0 && !s->connecting) {
    ssize_t n = stream_send(s, p, len);
    if (n < 0) {
      if (!again(errno)) {
        write_failed(L, s, errno);
        return;
      }
      n = 0;
    }
    p += n;
    len -= (size_t)n;
  }
  if (len > 0 && stream_append(s, p, len) != 0)
    luaL_error(L, "not enough memory for the write buffer");
}

/*
** After bytes were queued: starts the write watcher of the stream of the
** writer at 1 and pauses above the high-water mark. [-0, +0, m]
*/
static void queued (lua_State *L, Stream *s) {
  if (stream_buffered_out(s) == 0 && !s->connecting) return;
  if (stream_buffered_out(s) > s->high) s->paused = 1;
  lua_getiuservalue(L, 1, HALF_UV_STREAM);
  stream_start_io(L, s, &s->wio, -1);
  lua_pop(L, 1);
}

/* writer:write(data) */
static int writer_write (lua_State *L) {
  size_t len;
  Stream *s = check_writable(L, 1, "write");
  const char *p = luaL_checklstring(L, 2, &len);
  if (len == 0 || s == NULL) return 0;
  write_bytes(L, s, p, len);
  queued(L, s);
  return 0;
}

/* writer:writelines(list): one sendmsg for many pieces */
static int writer_writelines (lua_State *L) {
  struct iovec iov[MAX_IOV];
  Stream *s = check_writable(L, 1, "writelines");
  lua_Integer i, n;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  luaL_checkstack(L, MAX_IOV + 1, "too many pieces");  /* a batch's strings */
  n = luaL_len(L, 2);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    if (!lua_isstring(L, -1))
      luaL_error(L, "bad argument #1 to 'writelines' (item %I is a %s, "
                    "not a string)", i, luaL_typename(L, -1));
    lua_pop(L, 1);
  }
  if (s == NULL) return 0;  /* lost to a write error: dropped */
  for (i = 1; i <= n; ) {
    int k = 0, j;
    ssize_t sent = 0;
    for (; i <= n && k < MAX_IOV; i++) {
      lua_rawgeti(L, 2, i);
      iov[k].iov_base = (void *)lua_tolstring(L, -1, &iov[k].iov_len);
      k++;
    }
    if (stream_buffered_out(s) == 0 && !s->connecting) {
      struct msghdr msg;
      memset(&msg, 0, sizeof(msg));
      msg.msg_iov = iov;
      msg.msg_iovlen = (size_t)k;
      stream_note_sent(s);
      do sent = s->kind == STREAM_PIPE ? writev(s->fd, iov, k)
                                       : sendmsg(s->fd, &msg, MSG_NOSIGNAL);
      while (sent < 0 && errno == EINTR);
      if (sent < 0) {
        if (!again(errno)) {
          write_failed(L, s, errno);  /* the rest is dropped */
          return 0;
        }
        sent = 0;
      }
    }
    for (j = 0; j < k; j++) {
      size_t len = iov[j].iov_len;
      size_t skip = (size_t)sent < len ? (size_t)sent : len;
      sent -= (ssize_t)skip;
      if (len > skip
          && stream_append(s, (char *)iov[j].iov_base + skip, len - skip) != 0)
        luaL_error(L, "not enough memory for the write buffer");
    }
    lua_settop(L, 2);
  }
  queued(L, s);
  return 0;
}

/* ---------- drain and wait_closed ---------- */

static int drain_body (lua_State *L, int status, lua_KContext ctx);

/* The context of a drain's continuation is its number of arguments (1),
   or this: it raises "Connection lost" (see failed_just_now). */
#define DRAIN_LOST 2
/* or this: a child's stdin lost, its waiters not told yet (pipe_lost) */
#define DRAIN_PIPE 3
/* or this: a child's stdin the parent closed (pipe_closed_lately) */
#define DRAIN_PIPE_CLOSED 4

/* After the iteration a drain on a closing writer waits first. */
static int drain_yielded_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  task_check_resumed(L, 1);
  if (ctx == DRAIN_LOST) return stream_raise_lost(L);  /* failed_just_now */
  if (ctx == DRAIN_PIPE) {  /* see pipe_lost */
    Stream *s = (Stream *)lua_touserdata(L, 1);
    if (s->loss_told) return stream_raise_lost(L);
    if (s->werr && s->werr_paused) return stream_raise_werr(L, s);
    return 0;
  }
  if (ctx == DRAIN_PIPE_CLOSED) {  /* see pipe_closed_lately */
    Stream *s = (Stream *)lua_touserdata(L, 1);
    if (s->loop->iterations + 1 - s->closed_at >= 2 && s->fd < 0)
      return stream_raise_lost(L);  /* its connection_lost has run */
    if (s->paused && s->fd >= 0)  /* above the high-water mark: the flush */
      return drain_body(L, LUA_OK, 1);
    return 0;
  }
  return drain_body(L, LUA_OK, ctx);  /* as the first call it was */
}

/*
** Whether a send of s failed in this very iteration: Python's transport
** hands the error to connection_lost through call_soon, so its reader has
** no error yet, and a drain begun now raises "Connection lost" once that
** has run. A read error that is the send's own (stream_set_werr gives it
** to a stream that had seen its end) is not one the reader had. A reset
** the send met (ECONNRESET, not EPIPE) had arrived before it: Python's
** transport, reading all along unless paused, met it first in a read, so
** its reader has that error and drain() raises it at once.
*/
static int failed_just_now (Stream *s) {
  if (s->werr == ECONNRESET && !s->held && !s->eof) return 0;
  return s->werr && (!s->rerr || s->rerr == s->werr) && s->kind != STREAM_PIPE
         && s->werr_iteration == s->loop->iterations;
}

/*
** Whether a child's stdin was lost (a write failed, or the child closed
** its end) and its waiters are not told yet: Python's pipe transport
** tells the subprocess protocol two call_soon hops later (stream_close.c:
** stream_tell_loss), so a drain begun now, after its one iteration, finds the
** protocol still connected: it returns, or, if the writer was paused,
** gets the write's error (BrokenPipeError) as connection_lost hands it to
** the drains waiting. Once they are told (also while that drain waited
** its iteration), a drain raises "Connection lost".
*/
static int pipe_lost (Stream *s) {
  return s->kind == STREAM_PIPE && (s->werr || s->lost) && !s->loss_told;
}

/*
** Whether the parent closed a child's stdin (close() or write_eof(), for a
** pipe the same), and no error came: Python's pipe transport tells the
** subprocess protocol two call_soon hops after the pipe closes, so a drain
** begun now finds it connected after its one iteration: it returns (or
** waits for the flush above the high-water mark), where a socket's raises.
*/
static int pipe_closed_lately (Stream *s) {
  return s->kind == STREAM_PIPE && s->closed_at != 0 && !s->werr && !s->lost;
}

static int drain_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  /* as Python's drain: on a closing (or closed) writer, one iteration
     first (its `await sleep(0)`), so that connection_lost has run */
  if (status == LUA_OK && failed_just_now(s))
    return task_yield_iteration(L, 1, DRAIN_LOST, drain_yielded_k);
  if (status == LUA_OK && pipe_lost(s))
    return task_yield_iteration(L, 1, DRAIN_PIPE, drain_yielded_k);
  if (status == LUA_OK && pipe_closed_lately(s))
    return task_yield_iteration(L, 1, DRAIN_PIPE_CLOSED, drain_yielded_k);
  if (status == LUA_OK && (s->closing || s->fd < 0))
    return task_yield_iteration(L, 1, ctx, drain_yielded_k);
  return drain_body(L, status, ctx);
}

static int drain_body (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  stream_list_resumed(L, status, (int)ctx, ST_UV_WWAIT);
  if (s->rerr && !s->werr) s->werr = s->rerr;  /* as Python: the reader's */
  /* a child's stdin has no reader to hold the error, so Python's drain
     begun after the loss raises "Connection lost"; one waiting gets it */
  if (s->kind == STREAM_PIPE && status == LUA_OK && (s->werr || s->lost))
    return stream_raise_lost(L);
  if (s->werr) return stream_raise_werr(L, s);
  /* as Python's: a drain that began before close() ends when the buffer
     is sent (or the socket closed); one that begins after raises, unless
     the buffer is still above the high-water mark: that one waits for the
     flush too (Python's transport is closing, not yet lost) */
  if (status == LUA_OK && (s->fd < 0 || (s->closing && !s->paused)))
    return stream_raise_werr(L, s);
  if (s->fd < 0 || !s->paused) return 0;
  return stream_list_wait(L, s, 1, ST_UV_WWAIT, drain_k);
}

static int closed_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  stream_list_resumed(L, status, (int)ctx, ST_UV_CLOSED);
  /* as Python's: a connection lost to an error is closed, and waiting
     for that raises the error */
  if (s->werr) return stream_raise_werr(L, s);
  if (s->rerr) {
    socket_pusherror(L, s->rerr, "read");
    return lua_error(L);
  }
  if (s->fd < 0) return 0;
  return stream_list_wait(L, s, 1, ST_UV_CLOSED, closed_k);
}

/* The function of a one-shot coroutine object: (stream, kind). */
static int writer_aw (lua_State *L) {
  int kind = (int)lua_tointeger(L, 2);
  stream_check(L, 1);
  lua_settop(L, 1);
  return kind == OP_DRAIN ? drain_k(L, LUA_OK, 1) : closed_k(L, LUA_OK, 1);
}

/* core.writer_op(op): the function of a writer's reusable object. */
static int writer_op (lua_State *L) {
  Half *h;
  int kind;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  lua_rawgeti(L, 1, 2);
  h = stream_tohalf(L, 2, AIO_TWRITER);
  if (lua_topointer(L, 1) != h->op)
    return luaL_argerror(L, 1, "not the operation of its writer");
  kind = h->opkind;
  h->opbusy = 0;
  lua_getiuservalue(L, 2, HALF_UV_STREAM);
  lua_replace(L, 1);
  lua_settop(L, 1);
  return kind == OP_DRAIN ? drain_k(L, LUA_OK, 1) : closed_k(L, LUA_OK, 1);
}

/* The awaitable of operation kind: see hand_out in reader.c. */
static int hand_out (lua_State *L, Half *h, int kind) {
  lua_settop(L, 1);
  if (h->op != NULL && !h->opbusy) {
    h->opbusy = 1;
    h->opkind = (unsigned char)kind;
    lua_getiuservalue(L, 1, HALF_UV_OP);
    return 1;
  }
  lua_getiuservalue(L, 1, HALF_UV_STREAM);  /* 2 */
  lua_pushinteger(L, kind);                 /* 3 */
  stream_push_aw(L, lua_upvalueindex(2), 2, 3, 1);
  return 1;
}

/* writer:drain() -> awaitable */
static int writer_drain (lua_State *L) {
  return hand_out(L, stream_tohalf(L, 1, AIO_TWRITER), OP_DRAIN);
}

/* writer:wait_closed() -> awaitable */
static int writer_wait_closed (lua_State *L) {
  return hand_out(L, stream_tohalf(L, 1, AIO_TWRITER), OP_CLOSED);
}

/* ---------- the rest ---------- */

/* writer:write_eof(): shuts the write side once the buffer is sent */
static int writer_write_eof (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  /* as Python's pipe transport, once closed */
  if (s->lost || (s->eof_asked && s->kind == STREAM_PIPE)) return 0;
  if (s->fd < 0 || s->closing || s->eof_asked) return 0;  /* as Python's */
  s->eof_asked = 1;
  if (s->kind == STREAM_PIPE && s->closed_at == 0) s->closed_at = s->loop->iterations + 1;
  if (stream_buffered_out(s) == 0 && !s->connecting && !s->werr) {
    lua_settop(L, 1);
    lua_getiuservalue(L, 1, HALF_UV_STREAM);
    stream_shut_write(L, s, 2);
  }
  return 0;
}

static int writer_can_write_eof (lua_State *L) {
  stream_tohalf(L, 1, AIO_TWRITER);
  lua_pushboolean(L, 1);
  return 1;
}

/* Closes the writer at 1's stream the way close does. */
static int close_by (lua_State *L, void (*how) (lua_State *, Stream *, int)) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, HALF_UV_STREAM);
  how(L, s, 2);
  return 0;
}

/* writer:close(): at once, or once the queued bytes are sent */
static int writer_close (lua_State *L) {
  return close_by(L, stream_close);
}

/* writer:_abort(): closes at once, dropping unsent bytes (abort_clients) */
static int writer_abort (lua_State *L) {
  return close_by(L, stream_abort);
}

static int writer_is_closing (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  /* Python's transport reads all the time, so it has seen a reset that
     arrived, behind data or not; ours reads when asked: ask, a bounded
     number of times (what it reads stays readable) */
  if (s->kind != STREAM_PIPE)  /* a pipe's writer has nothing to read */
    stream_read_ahead(s, 2 * s->limit > 65536 ? 2 * s->limit : 65536);
  /* a read or write error lost the connection: Python's transport closes */
  lua_pushboolean(L, s->fd < 0 || s->closing || s->rerr || s->werr
                      || (s->eof_asked && s->kind == STREAM_PIPE));
  return 1;
}

/*
** writer:get_extra_info(name [, default]): "peername" and "sockname" ->
** host, port (a Unix socket: path); "socket" (a pipe: "pipe") -> the
** descriptor; anything else, or a closed stream -> default.
*/
static int writer_get_extra_info (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  size_t namelen;
  const char *name = luaL_checklstring(L, 2, &namelen);
  int peer;
  if (strlen(name) != namelen) name = "";  /* "peername\0x" names nothing */
  peer = strcmp(name, "peername") == 0;
  lua_settop(L, 3);
  if (peer || strcmp(name, "sockname") == 0) {
    stream_keep_names(s);
    if (s->names != NULL && (peer ? s->names->peerlen : s->names->socklen) > 0)
      return peer ? socket_pushaddr(L, &s->names->peer, s->names->peerlen)
                  : socket_pushaddr(L, &s->names->sock, s->names->socklen);
    if (s->fd >= 0 && s->names == NULL) {  /* no memory to keep them */
      struct sockaddr_storage ss;
      socklen_t len = sizeof(ss);
      int r = peer ? getpeername(s->fd, (struct sockaddr *)&ss, &len)
                   : getsockname(s->fd, (struct sockaddr *)&ss, &len);
      if (r == 0) return socket_pushaddr(L, &ss, len);
    }
  } else if (s->fd >= 0 && strcmp(name, s->kind == STREAM_PIPE ? "pipe" : "socket") == 0) {
    lua_pushinteger(L, s->fd);
    return 1;
  }
  lua_pushvalue(L, 3);
  return 1;
}

/* writer:get_write_buffer_size() -> bytes not sent yet */
static int writer_get_write_buffer_size (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  lua_pushinteger(L, (lua_Integer)stream_buffered_out(s));
  return 1;
}

/*
** writer:set_write_buffer_limits([high [, low]]): the water marks, as
** Python's transports have them: high defaults to 64 KiB, or to four times
** low when only low is given; low to a quarter of high.
*/
static int writer_set_write_buffer_limits (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  lua_Integer high, low;
  if (lua_isnoneornil(L, 2)) {
    lua_Integer given = lua_isnoneornil(L, 3) ? 16 * 1024 : luaL_checkinteger(L, 3);
    luaL_argcheck(L, given >= 0 && given <= LUA_MAXINTEGER / 4, 3, "out of range");
    high = 4 * given;
  } else high = luaL_checkinteger(L, 2);
  low = luaL_optinteger(L, 3, high / 4);
  luaL_argcheck(L, high >= 0, 2, "must not be negative");
  luaL_argcheck(L, low >= 0 && low <= high, 3, "must be between 0 and high");
  s->high = (size_t)high;
  s->low = (size_t)low;
  if (stream_buffered_out(s) > s->high) s->paused = 1;
  return 0;
}

/* writer:get_write_buffer_limits() -> low, high (as Python's) */
static int writer_get_write_buffer_limits (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  lua_pushinteger(L, (lua_Integer)s->low);
  lua_pushinteger(L, (lua_Integer)s->high);
  return 2;
}

/* tostring(writer): "<StreamWriter fd=6 bufsize=120 closing>", the bytes
   queued and not sent yet shown as Python's transport shows them. */
static int writer_tostring (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TWRITER)->s;
  if (s->fd < 0) lua_pushliteral(L, "<StreamWriter closed>");
  else {
    lua_pushfstring(L, "<StreamWriter fd=%d", s->fd);
    if (s->wlen > s->wpos) lua_pushfstring(L, " bufsize=%I", (lua_Integer)(s->wlen - s->wpos));
    else lua_pushliteral(L, "");
    lua_pushstring(L, s->closing ? " closing>" : ">");
    lua_concat(L, 3);
  }
  return 1;
}

/*
** Registers StreamWriter and core.writer_op; functions that may suspend
** (drain, wait_closed) are closures over the Runtime and await_future (at
** awaitidx). The module
** table is at the top of the stack.
*/
void writer_open (lua_State *L, int awaitidx) {
  static const luaL_Reg meta[] = {
    {"__tostring", writer_tostring},
    {"__close", writer_close},
    {NULL, NULL}
  };
  static const luaL_Reg methods[] = {
    {"write", writer_write},
    {"writelines", writer_writelines},
    {"write_eof", writer_write_eof},
    {"can_write_eof", writer_can_write_eof},
    {"close", writer_close},
    {"is_closing", writer_is_closing},
    {"get_extra_info", writer_get_extra_info},
    {"get_write_buffer_size", writer_get_write_buffer_size},
    {"set_write_buffer_limits", writer_set_write_buffer_limits},
    {"_abort", writer_abort},
    {"get_write_buffer_limits", writer_get_write_buffer_limits},
    {NULL, NULL}
  };
  static const luaL_Reg awaitable[] = {
    {"drain", writer_drain},
    {"wait_closed", writer_wait_closed},
    {NULL, NULL}
  };
  const luaL_Reg *l;
  aio_newclass(L, AIO_TWRITER, AIO_WRITER, methods, meta);
  lua_getfield(L, -1, "StreamWriter");
  for (l = awaitable; l->name != NULL; l++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, awaitidx);
    lua_pushcclosure(L, writer_aw, 2);
    lua_pushcclosure(L, l->func, 2);
    lua_setfield(L, -2, l->name);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, awaitidx);
  lua_pushcclosure(L, writer_op, 2);
  lua_setfield(L, -2, "writer_op");
}
