/*
** reader.c: StreamReader, the read half of a Stream: read, readexactly,
** readuntil, readline, at_eof.
**
** Anchoring rule: a reader holds its Stream and its reusable coroutine
** object in its user values; a task in the middle of a read is parked on
** the Stream (task_park), which holds it in a user value and is anchored
** by the loop while the read watcher runs.
**
** The awaitable methods hand out the reader's one reusable coroutine
** object (set by the Lua layer, see asyncio.ops), filling in the operation
** and its argument: awaiting it runs reader_op, which takes them out at
** once, so the object is free again as soon as its wait begins. A method
** called while the object was handed out and not awaited yet returns a
** coroutine object of its own instead.
*/
#include <string.h>

#include "stream.h"

/* Reader operations, in slot 3 of the reusable coroutine object. */
enum { OP_READ = 1, OP_EXACT, OP_UNTIL, OP_LINE };

/* Slots of a reusable coroutine object: 1 itself, 2 the reader, 4 the
** separator of readuntil (the operation and an integer argument are kept
** in the Half). */
enum { OPS_SEP = 4 };

/* ---------- waiting for bytes ---------- */

static void consume (lua_State *L, Stream *s, size_t n);

/*
** A read to the end, read(-1), cancelled: Python's reads what comes as it
** comes (read(limit) in a loop), so what had reached its reader is lost
** with the cancelled read. Only the bytes of this iteration's poll, which
** its task had not taken yet, stay. [-0, +0, m]
*/
static void read_all_cancelled (lua_State *L, Stream *s) {
  size_t avail = stream_buffered_in(s);
  size_t keep = s->polled == s->loop->iterations + 1 ? s->fresh : 0;
  if (keep < avail) consume(L, s, avail - keep);
}

/*
** A cancel() of the task parked in read_wait: the stream at sidx stops
** waiting. Another read still raises until the cancelled task resumes
** (read_resumed), as Python's reader keeps its waiter until the cancelled
** read's finally clears it. [-0, +0, m]
*/
static void read_unpark (lua_State *L, int sidx, int tidx, int arg) {
  Stream *s = (Stream *)lua_touserdata(L, sidx);
  (void)tidx; (void)arg;
  if (s->rwait == RW_EOF) read_all_cancelled(L, s);
  lua_pushnil(L);
  lua_setiuservalue(L, sidx, ST_UV_RWAIT);
  s->rwait = RW_NONE;
  s->rcancelled = 1;
  readers_idle_unlink(s);
  if (!stream_reads_ahead(s)) stream_stop_io(s, &s->rio);
  stream_update_anchor(L, s, sidx);
}

/*
** Parks the running task on the stream at index 1 until its bytes, or its
** state, satisfy condition kind (Readers wakes it); resumes in k with the
** nargs arguments. [-0, +0, e]
*/
static int read_wait (lua_State *L, Stream *s, int nargs, int kind,
                      const char *fname, lua_KFunction k) {
  Task *t;
  if (!stream_loop_open(s)) {
    lua_pushliteral(L, AIO_LOOP_CLOSED);  /* no line: the await's is the library's */
    return lua_error(L);
  }
  if (s->rwait != RW_NONE || s->rcancelled)
    return aio_errorf(L, "'%s' called while another task is already "
                         "waiting for incoming data", fname);
  lua_settop(L, nargs);
  t = task_push_running(L);              /* nargs + 1, raises outside one */
  if (s->loop != t->fut.loop)
    return luaL_error(L, "'%s' called from a task of a different event loop",
                      fname);
  lua_pushvalue(L, nargs + 1);
  lua_setiuservalue(L, 1, ST_UV_RWAIT);
  s->rwait = (unsigned char)kind;
  if (s->kind != STREAM_PIPE) s->held = 0;  /* as _wait_for_data resumes */
  readers_idle_unlink(s);                /* its watcher may still run */
  stream_start_io(L, s, &s->rio, 1);
  return task_park(L, 1, nargs + 1, t, read_unpark, 0, k, (lua_KContext)nargs);
}

/*
** At the start of a read continuation of the stream s: raises
** the error a cancellation brought (read_unpark stopped the wait already;
** a wait that ended before the cancellation needs no stopping), else
** keeps the nargs arguments. While a cancelled read is pending no other
** read has parked, so a resumption here is that read's own.
*/
static void read_resumed (lua_State *L, Stream *s, int status, int nargs) {
  int woken;
  if (status == LUA_OK) lua_settop(L, nargs);  /* called, not resumed */
  else {
    s->rcancelled = 0;
    if (task_park_ended(L, nargs, &woken)) lua_error(L);
  }
}

/*
** Whether a read may take in what has arrived in the kernel now, as
** Python's transport, which reads all the time, would hold it already
** (its read returns then without suspending); if so, counts it as done.
** Python's reads once per poll and polls in every iteration, so this
** takes in once per iteration: a stream read in already in this one (here,
** or by its watcher) waits, and a task reading a fast peer still lets the
** others run. What a poll brings is taken in after the callbacks queued
** before it: bytes sent by another stream of this loop in this iteration
** or the one before may be from the peer, and Python's would not have them
** yet; those are left for the poll.
*/
static int may_take_in (Stream *s) {
  Loop *loop = s->loop;
  /* a child's pipe: Python's hands what it reads to the reader through
     call_soon hops (see readers.c), so nothing is there at once */
  if (s->kind == STREAM_PIPE) return 0;
  if (!stream_loop_open(s) || s->took_in == loop->iterations + 1
      || stream_peer_sent_lately(s))
    return 0;
  /* the watcher's read of the iteration before paused Python's transport
     (stream.c, rio_cb): the read that takes that down finds nothing new */
  if (s->paused_at != 0 && loop->iterations + 1 - s->paused_at <= 1) return 0;
  if (s->held) return 0;  /* paused until reads take it down (consume) */
  s->took_in = loop->iterations + 1;
  return 1;
}

/*
** An end a take-in just found, right after the read watcher brought bytes
** (in this iteration or the one before): Python's transport reads it at
** the next poll, after the callbacks already queued (the wakeup of the
** task those bytes were for), so it is not there yet. Left in the kernel
** (a read finds it again), as if that read had not come.
*/
static void fresh_end (Stream *s, unsigned char had_eof) {
  if (!had_eof && s->eof && s->polled != 0
      && s->loop->iterations + 1 - s->polled <= 1) {
    s->eof = 0;
    loop_poll_next(s->loop);  /* that poll is the next one, busy or not */
  }
}

/* Takes in what has arrived, as one read of Python's transport does. */
static void take_in (Stream *s) {
  unsigned char had_eof = s->eof;
  size_t had = stream_buffered_in(s);
  stream_take_in(s);
  /* bytes that were all the kernel had, with a reset behind them that
     is not fresh (as fresh_end): Python's reader holds the error */
  if (s->short_read && stream_buffered_in(s) != had
      && !(s->polled != 0 && s->loop->iterations + 1 - s->polled <= 1))
    stream_reset_behind(s);
  stream_note_full(s);
  fresh_end(s, had_eof);
  s->emptied = s->short_read ? s->loop->iterations + 1 : 0;
}

/*
** Before a read that is not satisfied waits: takes in what has arrived,
** as one read of Python's transport, if it may. Returns whether that
** changed anything (bytes, the end or an error), so that the operation
** looks again, once, instead of waiting.
*/
static int take_in_arrived (Stream *s) {
  size_t had = stream_buffered_in(s);
  unsigned char eof = s->eof;
  int rerr = s->rerr;
  if (!may_take_in(s)) return 0;
  take_in(s);
  return stream_buffered_in(s) != had || s->eof != eof || s->rerr != rerr;
}

/* A continuation called again after take_in_arrived: as a resumption,
   which does not look for arrived bytes again. */
#define LOOK_AGAIN LUA_YIELD

/*
** Before n bytes are consumed from the stream at index 1: a stream held
** by its full buffer (a child's pipe, or a socket) reads again once it
** holds no more than the limit, as Python's reader resumes its transport.
** Done first, so that a memory error anchoring it leaves the bytes in the
** buffer (and the stream held, to try again). [-0, +0, m]
*/
static void consume (lua_State *L, Stream *s, size_t n) {
  if (s->held && stream_buffered_in(s) - n <= s->limit) {
    if (stream_ahead_open(s) && stream_loop_open(s))
      stream_start_io(L, s, &s->rio, 1);
    s->held = 0;
    /* a socket's transport resumed reading: what came meanwhile arrives
       at its next poll, not in this iteration */
    if (s->kind != STREAM_PIPE) s->took_in = s->loop->iterations + 1;
  }
  s->rpos += n;
  if (s->rpos == s->rlen) s->rpos = s->rlen = 0;
}

/* Pushes n bytes from the read buffer and consumes them. [-0, +1, m] */
static void take (lua_State *L, Stream *s, size_t n) {
  lua_pushlstring(L, s->rbuf + s->rpos, n);
  consume(L, s, n);
}

/* Raises the OSError of a failed read (the stream at index 1), after
   waking the drain() and wait_closed() waiting with it. */
static int raise_rerr (lua_State *L, Stream *s) {
  stream_read_failed(L, 1);
  socket_pusherror(L, s->rerr, "read");
  return lua_error(L);
}

/* Pushes the constructor Class.new of the error class cls. */
static void push_new (lua_State *L, const char *cls) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  lua_getfield(L, -1, cls);
  lua_getfield(L, -1, "new");
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Raises IncompleteReadError with the whole buffer as partial. */
static int raise_incomplete (lua_State *L, Stream *s, int expidx) {
  push_new(L, "IncompleteReadError");
  take(L, s, stream_buffered_in(s));
  lua_pushvalue(L, expidx);
  lua_call(L, 2, 1);
  return lua_error(L);
}

/* Raises LimitOverrunError(message, consumed). */
static int raise_overrun (lua_State *L, const char *msg, size_t consumed) {
  push_new(L, "LimitOverrunError");
  lua_pushstring(L, msg);
  lua_pushinteger(L, (lua_Integer)consumed);
  lua_call(L, 2, 1);
  return lua_error(L);
}

/* ---------- the operations, as continuations ---------- */

/* read(n): (stream, n); n < 0 reads to the end. */
static int read_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_Integer n = lua_tointeger(L, 2);
  read_resumed(L, s, status, (int)ctx);
  if (s->rerr) return raise_rerr(L, s);
  if (n < 0) {
    if (stream_ended(s)) {
      if (stream_buffered_in(s) == 0) lua_pushnil(L);
      else take(L, s, stream_buffered_in(s));
      return 1;
    }
    if (status == LUA_OK && take_in_arrived(s))
      return read_k(L, LOOK_AGAIN, ctx);
    return read_wait(L, s, 2, RW_EOF, "read", read_k);
  }
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (stream_buffered_in(s) > 0) {
    size_t avail = stream_buffered_in(s);
    if (avail < (size_t)n && may_take_in(s)) {  /* what else came, as
                                                   Python's buffer has it */
      take_in(s);
      if (s->rerr) return raise_rerr(L, s);  /* Python's had it too */
      avail = stream_buffered_in(s);
    }
    take(L, s, (size_t)n < avail ? (size_t)n : avail);
    return 1;
  }
  if (stream_ended(s)) {
    lua_pushnil(L);
    return 1;
  }
  if (status == LUA_OK && take_in_arrived(s))
    return read_k(L, LOOK_AGAIN, ctx);
  return read_wait(L, s, 2, RW_ANY, "read", read_k);
}

/* readexactly(n): (stream, n). */
static int readexactly_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  lua_Integer n = lua_tointeger(L, 2);
  read_resumed(L, s, status, (int)ctx);
  if (s->rerr) return raise_rerr(L, s);
  if (n <= 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (stream_buffered_in(s) >= (size_t)n) {
    take(L, s, (size_t)n);
    return 1;
  }
  if (stream_ended(s)) return raise_incomplete(L, s, 2);
  if (status == LUA_OK && take_in_arrived(s))
    return readexactly_k(L, LOOK_AGAIN, ctx);
  s->scan = (size_t)n;
  return read_wait(L, s, 2, RW_EXACT, "readexactly", readexactly_k);
}

/*
** Points the stream's separators at the string, or the list of strings
** sorted shortest first (reader_readuntil made it), at idx. [-0, +0, -]
*/
static void set_seps (lua_State *L, Stream *s, int idx) {
  size_t i, n;
  /* checked again: the operation's table is a plain Lua table that code
     may have changed since reader_readuntil built it */
  if (lua_type(L, idx) == LUA_TSTRING) {
    s->seps[0] = lua_tolstring(L, idx, &s->seplens[0]);
    if (s->seplens[0] == 0) luaL_error(L, "separator must be a non-empty string");
    s->nseps = 1;
    return;
  }
  n = lua_type(L, idx) == LUA_TTABLE ? lua_rawlen(L, idx) : 0;
  if (n == 0 || n > STREAM_MAX_SEPS)
    luaL_error(L, "bad separator list (1 to %d strings expected)", STREAM_MAX_SEPS);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, idx, (lua_Integer)i + 1);
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
      luaL_error(L, "separator must be a non-empty string");
    s->seps[i] = lua_tolstring(L, -1, &s->seplens[i]);  /* the list keeps it */
    lua_pop(L, 1);
    if (i > 0 && s->seplens[i] < s->seplens[i - 1])
      luaL_error(L, "bad separator list (not sorted shortest first)");
  }
  s->nseps = (unsigned char)n;
}

/*
** readuntil(sep) and readline(): (stream, sep, isline). A line past the
** limit is dropped as Python's readline drops it, then LimitOverrunError
** is raised; a line cut by the end of the stream is returned as it is.
*/
static int readuntil_k (lua_State *L, int status, lua_KContext ctx) {
  Stream *s = (Stream *)lua_touserdata(L, 1);
  size_t seplen = 0, avail, longest;
  int isline = lua_toboolean(L, 3);
  const char *found;
  read_resumed(L, s, status, (int)ctx);
  if (s->rerr) return raise_rerr(L, s);
  set_seps(L, s, 2);
  longest = s->seplens[s->nseps - 1];
  found = stream_find_sep(s, 0, &seplen);
  /* Python's transport would have read what is waiting, up to twice the
     limit, before readuntil judged the buffer: take it in too (once per
     iteration, see may_take_in), and always before judging a line too
     long, or one whose end has arrived would count as past the limit */
  if (found == NULL && stream_buffered_in(s) > 0
      && (stream_buffered_in(s) > s->limit || may_take_in(s))) {
    stream_read_ahead(s, 2 * s->limit + 1);
    stream_note_full(s);
    stream_tell_pipe_stopped(L, s, 1);
    if (s->rerr) return raise_rerr(L, s);
    found = stream_find_sep(s, 0, &seplen);
  }
  avail = stream_buffered_in(s);
  if (found != NULL) {
    size_t at = (size_t)(found - (s->rbuf + s->rpos));
    if (at > s->limit) {
      if (isline) consume(L, s, at + seplen);  /* drop the line and its separator */
      return raise_overrun(L, "Separator is found, but chunk is longer than limit", at);
    }
    take(L, s, at + seplen);
    return 1;
  }
  if (avail + 1 > longest && avail + 1 - longest > s->limit) {
    if (isline) consume(L, s, avail);
    return raise_overrun(L, "Separator is not found, and chunk exceed the limit",
                         avail + 1 - longest);
  }
  if (s->rerr) return raise_rerr(L, s);
  if (stream_ended(s)) {
    if (isline) {
      if (avail == 0) lua_pushnil(L);
      else take(L, s, avail);
      return 1;
    }
    lua_pushnil(L);
    return raise_incomplete(L, s, lua_gettop(L));
  }
  if (status == LUA_OK && avail == 0 && take_in_arrived(s))
    return readuntil_k(L, LOOK_AGAIN, ctx);
  s->scan = avail + 1 > longest ? avail + 1 - longest : 0;
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, ST_UV_SEP);
  return read_wait(L, s, 3, RW_UNTIL, isline ? "readline" : "readuntil",
                   readuntil_k);
}

/*
** A stream its loop's close() closed has no end to show: what it held, and
** what its peer (a child still writing, say) sends, are out of reach, and
** a read raises as one that would wait does, where it returned nil and the
** output was lost without a word. [-0, +0, v]
*/
static void check_not_cut_off (lua_State *L, Stream *s) {
  if (s->cut_off && !s->eof && stream_buffered_in(s) == 0) {
    lua_pushliteral(L, AIO_LOOP_CLOSED);  /* no line: the await's is the library's */
    lua_error(L);
  }
}

/*
** The function of a one-shot coroutine object: (stream, kind, arg,
** isline), for when the reusable one is taken. A closure over the
** Runtime and await_future, like reader_op.
*/
static int reader_aw (lua_State *L) {
  int kind = (int)lua_tointeger(L, 2);
  check_not_cut_off(L, stream_check(L, 1));
  lua_settop(L, 4);
  lua_remove(L, 2);  /* (stream, arg, isline) */
  switch (kind) {
    case OP_READ: lua_settop(L, 2); return read_k(L, LUA_OK, 2);
    case OP_EXACT: lua_settop(L, 2); return readexactly_k(L, LUA_OK, 2);
    default: return readuntil_k(L, LUA_OK, 3);
  }
}

/*
** core.reader_op(op): the function of a reader's reusable coroutine
** object {fn, n, awaited, name, op, reader, -, sep}: takes the operation
** out of the reader (freeing the object for the next call) and runs it.
** The op's own fn is this function bound to its reader (upvalue 2, see
** reader_bind_op), which spares the type test of slot 2 on every read.
*/
static int reader_op (lua_State *L) {
  Half *h;
  int kind;
  lua_settop(L, 1);
  if (lua_type(L, lua_upvalueindex(2)) == LUA_TUSERDATA) {  /* bound */
    lua_pushvalue(L, lua_upvalueindex(2));
    h = (Half *)lua_touserdata(L, 2);
  } else {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_rawgeti(L, 1, 2);
    h = stream_tohalf(L, 2, AIO_TREADER);
  }
  if (lua_topointer(L, 1) != h->op)
    return luaL_argerror(L, 1, "not the operation of its reader");
  kind = h->opkind;
  h->opbusy = 0;
  lua_getiuservalue(L, 2, HALF_UV_STREAM);
  lua_replace(L, 2);                        /* (op, stream) */
  check_not_cut_off(L, (Stream *)lua_touserdata(L, 2));
  switch (kind) {
    case OP_READ: case OP_EXACT:
      lua_pushinteger(L, h->oparg);
      lua_remove(L, 1);                     /* (stream, n) */
      return kind == OP_READ ? read_k(L, LUA_OK, 2)
                             : readexactly_k(L, LUA_OK, 2);
    case OP_UNTIL: case OP_LINE:
      lua_rawgeti(L, 1, OPS_SEP);
      lua_pushboolean(L, kind == OP_LINE);
      lua_remove(L, 1);                     /* (stream, sep, isline) */
      return readuntil_k(L, LUA_OK, 3);
    default: return luaL_error(L, "reader operation was not set");
  }
}

/* ---------- methods ---------- */

/*
** Returns the awaitable of operation kind with arguments at 2 and 3: the
** reusable object when it is free, else a one-shot coroutine object.
*/
static int hand_out (lua_State *L, Half *h, int kind) {
  lua_settop(L, 3);
  if (h->op != NULL && !h->opbusy) {
    h->opbusy = 1;
    h->opkind = (unsigned char)kind;
    lua_getiuservalue(L, 1, HALF_UV_OP);
    if (kind == OP_UNTIL || kind == OP_LINE) {
      lua_pushvalue(L, 2);
      lua_rawseti(L, 4, OPS_SEP);
    } else h->oparg = lua_tointeger(L, 2);
    return 1;
  }
  lua_pushinteger(L, kind);                 /* 4 */
  lua_getiuservalue(L, 1, HALF_UV_STREAM);  /* 5 */
  lua_pushvalue(L, 4);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);                      /* 6..8: kind, arg, isline */
  stream_push_aw(L, lua_upvalueindex(2), 5, 6, 3);
  return 1;
}

/* reader:read([n=-1]) -> awaitable: up to n bytes, all until EOF if n < 0 */
static int reader_read (lua_State *L) {
  Half *h = stream_tohalf(L, 1, AIO_TREADER);
  lua_Integer n = luaL_optinteger(L, 2, -1);
  lua_settop(L, 1);
  lua_pushinteger(L, n);
  return hand_out(L, h, OP_READ);
}

/* reader:readexactly(n) -> awaitable */
static int reader_readexactly (lua_State *L) {
  Half *h = stream_tohalf(L, 1, AIO_TREADER);
  luaL_argcheck(L, luaL_checkinteger(L, 2) >= 0, 2, "must not be negative");
  return hand_out(L, h, OP_EXACT);
}

/*
** Replaces the list of separators at 2 by a copy sorted shortest first
** (stable), checking each, as Python 3.13's readuntil takes a tuple.
*/
static void sort_seps (lua_State *L) {
  size_t lens[STREAM_MAX_SEPS];
  int order[STREAM_MAX_SEPS], n = (int)lua_rawlen(L, 2), i, j;
  luaL_argcheck(L, n > 0, 2, "separator list must not be empty");
  luaL_argcheck(L, n <= STREAM_MAX_SEPS, 2, "more than 8 separators");
  for (i = 0; i < n; i++) {
    if (lua_rawgeti(L, 2, i + 1) != LUA_TSTRING)
      luaL_argerror(L, 2, "separator list must hold only strings");
    lua_tolstring(L, -1, &lens[i]);
    lua_pop(L, 1);
    luaL_argcheck(L, lens[i] > 0, 2, "separator must be a non-empty string");
    for (j = i; j > 0 && lens[order[j - 1]] > lens[i]; j--) order[j] = order[j - 1];
    order[j] = i;
  }
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    lua_rawgeti(L, 2, order[i] + 1);
    lua_rawseti(L, -2, i + 1);
  }
  lua_replace(L, 2);
}

/* reader:readuntil([sep="\n"]) -> awaitable; sep may be a list of
   strings: up to whichever comes first (Python 3.13) */
static int reader_readuntil (lua_State *L) {
  Half *h = stream_tohalf(L, 1, AIO_TREADER);
  size_t seplen;
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_pushliteral(L, "\n");
  }
  lua_settop(L, 2);
  if (lua_type(L, 2) == LUA_TTABLE) sort_seps(L);
  else {
    if (lua_type(L, 2) != LUA_TSTRING) luaL_typeerror(L, 2, "string or list of strings");
    lua_tolstring(L, 2, &seplen);
    luaL_argcheck(L, seplen > 0, 2, "separator must be a non-empty string");
  }
  lua_pushboolean(L, 0);
  return hand_out(L, h, OP_UNTIL);
}

/* reader:readline() -> awaitable */
static int reader_readline (lua_State *L) {
  Half *h = stream_tohalf(L, 1, AIO_TREADER);
  lua_settop(L, 1);
  lua_pushliteral(L, "\n");
  lua_pushboolean(L, 1);
  return hand_out(L, h, OP_LINE);
}

/* reader:at_eof() -> whether the stream ended and the buffer is empty */
static int reader_at_eof (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TREADER)->s;
  if (stream_buffered_in(s) == 0) {
    if (may_take_in(s))
      take_in(s);  /* an end that came, when a read would see it */
    else if (s->emptied == s->loop->iterations + 1) {
      /* This iteration's take-in left the kernel empty and reads used up
         what it brought: an end behind those bytes came with them, and
         Python's transport, reading all along, would have seen it. Only
         an end: bytes that came since are left for a poll. */
      unsigned char had_eof = s->eof;
      s->emptied = 0;
      stream_end_arrived(s);
      fresh_end(s, had_eof);
    }
  }
  /* cut off by its loop's close(), it saw no end */
  lua_pushboolean(L, (s->eof || (stream_ended(s) && !s->cut_off))
                     && stream_buffered_in(s) == 0);
  return 1;
}

/* reader:get_limit() -> the readline/readuntil bound */
static int reader_get_limit (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TREADER)->s;
  lua_pushinteger(L, (lua_Integer)s->limit);
  return 1;
}

/*
** tostring(reader): what Python's repr shows, in its order: the bytes
** buffered, eof, a limit other than the default, a waiting read, the
** error a read met, the socket (fd=N or closed), paused reading:
** "<StreamReader 5 bytes eof fd=6>".
*/
static int reader_tostring (lua_State *L) {
  Stream *s = stream_tohalf(L, 1, AIO_TREADER)->s;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "<StreamReader");
  if (s->rlen > s->rpos) {
    lua_pushfstring(L, " %I bytes", (lua_Integer)(s->rlen - s->rpos));
    luaL_addvalue(&b);
  }
  if (s->eof) luaL_addstring(&b, " eof");
  if (s->limit != STREAM_DEFAULT_LIMIT) {
    lua_pushfstring(L, " limit=%I", (lua_Integer)s->limit);
    luaL_addvalue(&b);
  }
  if (s->rwait != RW_NONE) luaL_addstring(&b, " waiter");
  if (s->rerr != 0) {
    lua_pushfstring(L, " exception=%s", socket_errname(s->rerr));
    luaL_addvalue(&b);
  }
  if (s->fd < 0) luaL_addstring(&b, " closed");
  else {
    lua_pushfstring(L, " fd=%d", s->fd);
    luaL_addvalue(&b);
  }
  if (s->held) luaL_addstring(&b, " paused");
  luaL_addchar(&b, '>');
  luaL_pushresult(&b);
  return 1;
}

/*
** Registers StreamReader and core.reader_op; the awaitable functions are
** closures over the Runtime and await_future (at awaitidx). The module
** table is at the top of the stack.
*/
void reader_open (lua_State *L, int awaitidx) {
  static const luaL_Reg meta[] = {
    {"__tostring", reader_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg methods[] = {
    {"at_eof", reader_at_eof},
    {"get_limit", reader_get_limit},
    {NULL, NULL}
  };
  static const luaL_Reg awaitable[] = {
    {"read", reader_read},
    {"readexactly", reader_readexactly},
    {"readuntil", reader_readuntil},
    {"readline", reader_readline},
    {NULL, NULL}
  };
  const luaL_Reg *l;
  aio_newclass(L, AIO_TREADER, AIO_READER, methods, meta);
  lua_getfield(L, -1, "StreamReader");
  for (l = awaitable; l->name != NULL; l++) {
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, awaitidx);
    lua_pushcclosure(L, reader_aw, 2);
    lua_pushcclosure(L, l->func, 2);
    lua_setfield(L, -2, l->name);
  }
  lua_pop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, reader_op, 1);
  lua_setfield(L, -2, "reader_op");
}

/*
** Sets field fn of the op table at opidx to reader_op bound to the reader
** at readeridx, a StreamReader just made. [-0, +0, m]
*/
void reader_bind_op (lua_State *L, int opidx, int readeridx) {
  opidx = lua_absindex(L, opidx);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, readeridx);
  lua_pushcclosure(L, reader_op, 2);
  lua_setfield(L, opidx, "fn");
}
