/*
** readers.c: a loop's Readers, between the read watchers of its streams
** and the tasks reading them. The watcher callbacks (stream.c) read and
** test in C only and queue the readers they satisfied; after the poll, an
** ev_check queues a wake_reader for each (Python's _read_ready: it runs
** in that iteration, and the reader's task in the next); before the next
** poll, an ev_prepare stops the read watchers of the streams whose reader
** did not wait again. So a task that reads in a loop keeps its watcher
** started and its stream anchored, with no start, stop or table write per
** read.
**
** Anchoring rule: a loop's Readers is the value of &readers_key in its
** LOOP_UV_WATCHERS table from its first stream until the loop closes (its
** two watchers run exactly then), and every stream of the loop holds it
** in a user value; the streams in its lists are anchored themselves (a
** started read watcher), and are taken out of the lists before they can
** be collected (closing, or settle_idle letting the loop forget them); a
** queued wake_reader or ahead_entry anchors its stream in the ready queue.
** A child's pipe read ahead keeps its watcher started, and so its anchor,
** until it ends or holds its full buffer.
*/
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "stream.h"

static char readers_key;

void readers_ready_link (Readers *rs, Stream *s) {
  if (s->inready) return;
  s->inready = 1;
  s->rnext = NULL;
  if (rs->readytail != NULL) rs->readytail->rnext = s;
  else rs->ready = s;
  rs->readytail = s;
}

static void ready_unlink (Readers *rs, Stream *s) {
  Stream **p, *prev = NULL;
  if (!s->inready) return;
  for (p = &rs->ready; *p != NULL; prev = *p, p = &(*p)->rnext)
    if (*p == s) {
      *p = s->rnext;
      if (rs->readytail == s) rs->readytail = prev;
      break;
    }
  s->inready = 0;
  s->rnext = NULL;
}

void readers_idle_link (Readers *rs, Stream *s) {
  if (s->inidle) return;
  s->inidle = 1;
  s->iprev = NULL;
  s->inext = rs->idle;
  if (rs->idle != NULL) rs->idle->iprev = s;
  rs->idle = s;
}

/* A reader waits on s again: it is not idle. */
void readers_idle_unlink (Stream *s) {
  Readers *rs = s->rs;
  if (!s->inidle) return;
  if (s->iprev != NULL) s->iprev->inext = s->inext;
  else rs->idle = s->inext;
  if (s->inext != NULL) s->inext->iprev = s->iprev;
  s->inidle = 0;
  s->inext = s->iprev = NULL;
}

/* Takes s out of both lists (closing, collected). */
void readers_forget (Stream *s) {
  if (s->rs == NULL) return;
  ready_unlink(s->rs, s);
  readers_idle_unlink(s);
}

/*
** Pushes the Stream anchored under the address s in the loop at loopidx,
** or nil. Returns whether it is there. [-0, +1, -]
*/
static int push_anchored (lua_State *L, Stream *s, int loopidx) {
  lua_getiuservalue(L, loopidx, LOOP_UV_WATCHERS);
  lua_rawgetp(L, -1, s);
  lua_remove(L, -2);
  return lua_touserdata(L, -1) == (void *)s;
}

/*
** wake_reader(stream): run from the ready queue in the iteration of the
** poll that satisfied the stream's reader, wakes it, so that it resumes
** in the next iteration: as Python's _read_ready, a callback of that
** iteration, sets the waiter whose task then runs one iteration later. A
** reader cancelled meanwhile (its data stays buffered, as in Python), or
** replaced by one the bytes do not satisfy, is left alone.
*/
static int wake_reader (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s == NULL) return 0;
  if (s->rwait == RW_NONE || !stream_reader_satisfied(s)) {
    stream_tell_pipe_stopped(L, s, 1);  /* an end its cancelled reader left */
    return 0;
  }
  s->rwait = RW_NONE;
  readers_idle_link(s->rs, s);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, ST_UV_RWAIT);  /* 2: the parked task */
  lua_pushnil(L);
  lua_setiuservalue(L, 1, ST_UV_RWAIT);
  lua_getiuservalue(L, 1, ST_UV_LOOP);  /* 3 */
  task_unpark(L, 2, 3);
  stream_tell_pipe_stopped(L, s, 1);  /* after the reader, as in Python */
  return 0;
}

/*
** A child's pipe hands its bytes to the reader one iteration later than a
** socket, and its end two: Python's subprocess transport passes them on
** through call_soon (_pipe_data_received; _call_connection_lost, then
** _pipe_connection_lost), so a task reading a child's last line finds its
** returncode set, as there. Each hop queues the next step. [-0, +0, m]
*/
static void queue_next (lua_State *L, lua_CFunction next) {
  lua_settop(L, 1);  /* the stream */
  stream_queue_entry(L, (Stream *)lua_touserdata(L, 1), 1, next);
}

static int pipe_hop (lua_State *L) {
  queue_next(L, wake_reader);
  return 0;
}

static int pipe_hop2 (lua_State *L) {
  queue_next(L, pipe_hop);
  return 0;
}

/*
** A child's pipe read ahead (stream_reads_ahead) that the poll found
** readable, with no reader waiting: Python's transport reads it in this
** iteration and hands the bytes to the reader in the next, through
** call_soon, and the end in the one after (as pipe_hop, pipe_hop2). So
** ahead_entry, run in the poll's iteration, queues the read for the next
** one, or, when only the end is left (nothing to read, FIONREAD says),
** for the one after. The watcher keeps running meanwhile, its callback
** doing nothing while aheadq is set; once the stream is held by its full
** buffer or ended, it stops (settle_idle frees the stream).
*/
static int ahead_read (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  if (s == NULL) return 0;
  s->aheadq = 0;
  if (s->rwait != RW_NONE || !stream_reads_ahead(s)) return 0;
  stream_take_ahead(s);
  if (!stream_reads_ahead(s)) {
    stream_stop_io(s, &s->rio);
    readers_idle_link(s->rs, s);
  }
  stream_tell_pipe_stopped(L, s, 1);
  return 0;
}

/* Queues the next step of a read ahead: aheadq stays set only once it is
   queued, so that a failure to queue (memory) lets the next poll retry. */
static void queue_ahead (lua_State *L, lua_CFunction next) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  s->aheadq = 0;
  queue_next(L, next);
  s->aheadq = 1;
}

static int ahead_hop (lua_State *L) {
  if (lua_touserdata(L, 1) != NULL) queue_ahead(L, ahead_read);
  return 0;
}

static int ahead_entry (lua_State *L) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  int n = 1;
  if (s == NULL || s->rwait != RW_NONE || !stream_reads_ahead(s)) {
    if (s != NULL) s->aheadq = 0;
    return 0;
  }
  if (ioctl(s->fd, FIONREAD, &n) != 0) n = 1;
  queue_ahead(L, n > 0 ? ahead_read : ahead_hop);
  return 0;
}

/*
** wake_ready(rs, loop): queues a wake_reader for each reader the last poll
** satisfied, where its read was among the poll's callbacks (ioorder.c);
** their read watchers keep running (see prepare). Runs protected.
*/
static int wake_ready (lua_State *L) {
  Readers *rs = (Readers *)lua_touserdata(L, 1);
  Stream *s;
  lua_settop(L, 2);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);  /* 3 */
  while ((s = rs->ready) != NULL) {
    rs->ready = s->rnext;
    if (rs->ready == NULL) rs->readytail = NULL;
    s->inready = 0;
    s->rnext = NULL;
    if (lua_rawgetp(L, 3, s) == LUA_TUSERDATA && s->rwait != RW_NONE) {
      lua_pushcfunction(L, s->kind != STREAM_PIPE ? wake_reader
                           : s->eof ? pipe_hop2 : pipe_hop);  /* 5 */
      rs->loop->iogroup = s->iogroup;  /* queued as its read was (ioorder.c) */
      loop_ready_push(L, rs->loop, 2, 5, 4);
    } else if (lua_touserdata(L, 4) == (void *)s && stream_reads_ahead(s)
               && !s->aheadq) {
      lua_pushcfunction(L, ahead_entry);  /* 5 */
      rs->loop->iogroup = s->iogroup;
      loop_ready_push(L, rs->loop, 2, 5, 4);
      s->aheadq = 1;
    }
    lua_settop(L, 3);
  }
  return 0;
}

/*
** settle_idle(rs, loop): stops the read watchers of the streams whose
** reader did not wait again since it was woken, and lets the loop forget
** the streams that have no watcher left. Runs protected.
*/
static int settle_idle (lua_State *L) {
  Readers *rs = (Readers *)lua_touserdata(L, 1);
  Stream *s;
  lua_settop(L, 2);
  while ((s = rs->idle) != NULL) {
    readers_idle_unlink(s);
    if (s->rwait != RW_NONE || stream_reads_ahead(s)) continue;
    stream_stop_io(s, &s->rio);
    if (s->anchored && !ev_is_active(&s->wio)) {
      if (push_anchored(L, s, 2)) stream_update_anchor(L, s, 3);
      lua_settop(L, 2);
    }
  }
  return 0;
}

static void readers_call (Readers *rs, lua_CFunction fn) {
  lua_State *L = rs->loop->L;
  if (L == NULL) return;
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, rs);
  lua_pushvalue(L, 1);  /* the loop: see watcher.c */
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: error in a stream callback: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static void check_cb (struct ev_loop *ev, ev_check *w, int revents) {
  Readers *rs = (Readers *)w->data;
  (void)ev; (void)revents;
  if (rs->ready != NULL) readers_call(rs, wake_ready);
}

static void prepare_cb (struct ev_loop *ev, ev_prepare *w, int revents) {
  Readers *rs = (Readers *)w->data;
  (void)ev; (void)revents;
  if (rs->idle != NULL) readers_call(rs, settle_idle);
}

/* Empties both lists: the loop is going away. */
static void readers_clear (Readers *rs) {
  Stream *s;
  while ((s = rs->ready) != NULL) {
    rs->ready = s->rnext;
    s->inready = 0;
    s->rnext = NULL;
  }
  rs->readytail = NULL;
  while ((s = rs->idle) != NULL) readers_idle_unlink(s);
}

static void readers_loopclose (IoHook *h) {
  Readers *rs = (Readers *)h;
  if (rs->loop->ev != NULL) {
    ev_check_stop(rs->loop->ev, &rs->check);
    ev_prepare_stop(rs->loop->ev, &rs->prepare);
  }
  readers_clear(rs);
}

static int readers_gc (lua_State *L) {
  Readers *rs = (Readers *)lua_touserdata(L, 1);
  if (!rs->loop->closed && rs->loop->ev != NULL) {
    ev_check_stop(rs->loop->ev, &rs->check);
    ev_prepare_stop(rs->loop->ev, &rs->prepare);
  }
  readers_clear(rs);
  return 0;
}

/* Pushes the Readers of the loop at loopidx, made on first use. [-0, +1, m] */
Readers *readers_push (lua_State *L, Loop *loop, int loopidx) {
  Readers *rs;
  loopidx = lua_absindex(L, loopidx);
  lua_getiuservalue(L, loopidx, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, &readers_key) == LUA_TUSERDATA) {
    lua_remove(L, -2);
    return (Readers *)lua_touserdata(L, -1);
  }
  lua_pop(L, 1);
  rs = (Readers *)lua_newuserdatauv(L, sizeof(Readers), 1);
  memset(rs, 0, sizeof(*rs));
  rs->hook.loopclose = readers_loopclose;
  rs->loop = loop;
  if (luaL_newmetatable(L, "asyncio.StreamReaders")) {
    lua_pushcfunction(L, readers_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, -3, &readers_key);
  lua_remove(L, -2);
  ev_check_init(&rs->check, check_cb);
  rs->check.data = rs;
  ev_set_priority(&rs->check, EV_MINPRI);  /* after the I/O callbacks */
  ev_check_start(loop->ev, &rs->check);
  ev_prepare_init(&rs->prepare, prepare_cb);
  rs->prepare.data = rs;
  ev_prepare_start(loop->ev, &rs->prepare);
  return rs;
}
