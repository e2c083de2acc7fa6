/*
** stream_close.c: how a Stream ends: close() (after the flush, or in the
** next iteration), abort(), the descriptor closed, and the wakeups of
** whoever waits on it: its reader, drain(), wait_closed(), a server's
** count of its connections; a child's stdin telling its loss.
**
** Anchoring rule: nothing here holds a value of its own; the waiters it
** wakes are held in the stream's user values (stream.c's rule), and a
** close or loss queued for the next iteration is held by the ready ring,
** which holds the stream with it.
*/
#include <stdlib.h>
#include <unistd.h>

#include "stream.h"

void stream_wake_future (lua_State *L, int idx) {
  Future *f = (Future *)lua_touserdata(L, idx);
  if (f != NULL && f->state == FUT_PENDING) future_set_results(L, f, idx, 0, 0);
}

/*
** Calls the function on top (a server's notification that the stream
** closed, see notify_closed) and pops it; what it raises goes to the
** exception handler of the stream's loop. [-1, +0, m]
*/
void stream_call_notification (lua_State *L, Stream *s) {
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
void stream_wake_list (lua_State *L, int sidx, int uv) {
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
        else if (isfn) stream_call_notification(L, (Stream *)lua_touserdata(L, sidx));
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
  stream_wake_list(L, sidx, ST_UV_WWAIT);
  stream_wake_list(L, sidx, ST_UV_CLOSED);
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

/*
** Closes the descriptor now: stops both watchers, drops unsent bytes and
** wakes everybody waiting (readers see the end of the stream). Keeps the
** unread bytes readable, unless reading stopped at a close() before (which
** took in what had come): what came since stays unread, as Python's
** transport stopped reading then. [-0, +0, m]
*/
void stream_close_now (lua_State *L, Stream *s, int sidx) {
  if (s->fd < 0) return;
  sidx = lua_absindex(L, sidx);
  stream_close_fd(L, s, sidx);
  wake_reader(L, s, sidx);
  wake_writer_waiters(L, sidx);
}

/* stream_close_now without the wakeups. [-0, +0, m] */
void stream_close_fd (lua_State *L, Stream *s, int sidx) {
  stream_stop_io(s, &s->rio);
  stream_stop_io(s, &s->wio);
  stream_drain_unread(s, !s->closing);
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
void stream_write_failed (lua_State *L, int sidx) {
  Stream *s = (Stream *)lua_touserdata(L, sidx);
  if (s->kind == STREAM_PIPE) {
    stream_tell_loss(L, s, sidx);
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

void stream_tell_loss (lua_State *L, Stream *s, int sidx) {
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
    stream_close_now(L, s, 1);
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
    stream_close_now(L, s, sidx);
  else if (stream_buffered_out(s) == 0) {
    /* queued first: if that fails (memory), the stream is as it was */
    queue_close(L, s, sidx);
    /* reading stops now: what came stays readable, later bytes are not */
    stream_drain_unread(s, 1);
    s->closing = 1;
    stream_stop_io(s, &s->rio);
    /* a waiting reader those bytes satisfy gets them; else it sees the
       end when the socket closes */
    if (s->rwait != RW_NONE && stream_buffered_in(s) > 0 && stream_reader_satisfied(s))
      wake_reader(L, s, sidx);
    stream_update_anchor(L, s, sidx);  /* a loop closed first closes it */
  } else {
    stream_drain_unread(s, 1);
    s->closing = 1;
    wake_reader(L, s, sidx);
    stream_update_anchor(L, s, sidx);
  }
}
