/*
** threadsafe.c: inboxes, the only way other OS threads reach a loop. A
** thread appends a Message (plain C memory: copied values, no Lua value)
** under thread_lock and wakes the loop with ev_async_send; the loop's
** async watcher moves the messages into its ready queue, where the Lua
** dispatcher (threads.lua) handles them in the order they were posted.
**
** Anchoring rule: an inbox is C memory owned by its loop (Loop.inbox) and
** found by other threads only by id, under thread_lock, until loop_close
** detaches it; futures waiting for a message are held by the loop's Lua
** table (thread_pending) until it comes, objects copied as references are
** held weakly (thread_exports); a queued message is held by the ready
** queue inside a ThreadMessage userdata whose __gc frees it.
*/
#include <stdlib.h>
#include <string.h>

#include "thread.h"

#define AIO_THREADMSG "asyncio.ThreadMessage"
#define AIO_TICKET "asyncio.ThreadHandle"

pthread_mutex_t thread_lock = PTHREAD_MUTEX_INITIALIZER;

/*
** A call, task or stop posted from another thread runs no sooner than this
** many seconds after it was posted, so the thread that posted it can still
** cancel it (as Python's lock on the interpreter makes likely). Messages
** run in the order posted, so later ones wait as well. The grace ends
** early when the posting thread lets go, as a Python thread releases the
** interpreter's lock when it blocks: inbox_let_go.
*/
#define GRACE 0.002

/*
** The inboxes this thread posted to in grace since it last let go; one
** posting to more than MAX_HELD loops at once leaves the rest to their
** grace. The address of `poster` tells this thread's messages apart.
*/
#define MAX_HELD 8
static __thread char poster;
static __thread uint64_t held[MAX_HELD];
static __thread int nheld;

typedef struct Inbox {
  ev_timer grace;          /* owner thread only: messages not due yet */
  struct Inbox *next;      /* guarded: the list of attached inboxes */
  uint64_t id;             /* ro */
  Loop *loop;              /* ro: the owner, attached while listed */
  Message *head, *tail;    /* guarded: messages not yet drained */
  int posted;              /* written guarded, read by the owner unlocked
                              (atomically): head is not NULL */
  uint64_t nextobj;        /* owner thread only: ids of exported objects */
} Inbox;

static Inbox *inboxes;     /* guarded */
static uint64_t next_inbox = 1;  /* guarded */

Message *msg_new (int kind) {
  Message *m = (Message *)calloc(1, sizeof(Message));
  if (m == NULL) return NULL;
  m->kind = kind;
  if (kind != MSG_RESOLVE) m->due = aio_now() + GRACE;
  m->poster = &poster;
  return m;
}

void msg_free_locked (Message *m) {
  copy_free(&m->buf);
  if (m->ticket != NULL) ticket_release_locked(m->ticket);
  if (m->cf != NULL) {
    if (m->kind == MSG_TASK) cfuture_cancel_locked(m->cf);  /* never ran */
    cfuture_release_locked(m->cf);
  }
  free(m);
}

void ticket_release_locked (Ticket *t) {
  if (--t->refs == 0) free(t);
}

static Inbox *find_locked (uint64_t id) {
  Inbox *in;
  for (in = inboxes; in != NULL; in = in->next)
    if (in->id == id) return in;
  return NULL;
}

/*
** Appends m to the inbox and wakes its loop; returns 0 (m untouched) if
** the loop is closed. thread_lock held.
*/
int inbox_post_locked (uint64_t id, Message *m) {
  Inbox *in = find_locked(id);
  if (in == NULL) return 0;
  m->next = NULL;
  if (in->tail != NULL) in->tail->next = m; else in->head = m;
  in->tail = m;
  __atomic_store_n(&in->posted, 1, __ATOMIC_RELAXED);
  ev_async_send(in->loop->ev, &in->loop->async);
  if (m->due > 0 && m->poster == &poster) {
    int i;
    for (i = 0; i < nheld && held[i] != id; i++) ;
    if (i == nheld && nheld < MAX_HELD) held[nheld++] = id;
  }
  return 1;
}

/*
** This thread is about to block (a loop's poll that may wait, a worker's
** job done, a wait for a concurrent future): what it posted in grace is
** due now, and the loops it went to are woken to take it in, as Python's
** loop thread gets the interpreter's lock when the poster blocks.
*/
void inbox_let_go (void) {
  int i;
  if (nheld == 0) return;
  pthread_mutex_lock(&thread_lock);
  for (i = 0; i < nheld; i++) {
    Inbox *in = find_locked(held[i]);
    Message *m;
    int any = 0;
    if (in == NULL) continue;  /* closed since */
    for (m = in->head; m != NULL; m = m->next)
      if (m->poster == &poster && m->due > 0) { m->due = 0; any = 1; }
    if (any) ev_async_send(in->loop->ev, &in->loop->async);
  }
  nheld = 0;
  pthread_mutex_unlock(&thread_lock);
}

/* Same, taking thread_lock; frees m if the loop is closed. */
int inbox_post (uint64_t id, Message *m) {
  int ok;
  pthread_mutex_lock(&thread_lock);
  ok = inbox_post_locked(id, m);
  if (!ok) msg_free_locked(m);
  pthread_mutex_unlock(&thread_lock);
  return ok;
}

/* ---------- the owner's side ---------- */

static void grace_cb (struct ev_loop *ev, ev_timer *w, int revents) {
  Inbox *in = (Inbox *)w;
  (void)ev; (void)revents;
  threadsafe_drain(in->loop);
}

/*
** The id of the inbox of the loop at loopidx, attaching one on first use.
** Only core functions (Runtime upvalue) may call it. [-0, +0, e]
*/
uint64_t inbox_of (lua_State *L, int loopidx) {
  Loop *loop = loop_checkopen(L, loopidx);
  Inbox *in;
  if (loop->inbox != NULL) return loop->inbox->id;
  loopidx = lua_absindex(L, loopidx);
  /* what allocates comes first: the collector may run, and a finalizer
     attach an inbox itself or close the loop; look again after */
  aio_newweak(L, "v");
  aio_newweak(L, "k");
  lua_newtable(L);
  if (loop->inbox != NULL) {
    lua_pop(L, 3);
    return loop->inbox->id;
  }
  if (loop->closed) aio_loop_closed(L);
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_insert(L, -4);                      /* lua, exports, ids, pending */
  lua_setfield(L, -4, "thread_pending");
  lua_setfield(L, -3, "thread_ids");
  lua_setfield(L, -2, "thread_exports");
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_HOOKS);
  if (lua_getfield(L, -1, "thread_dispatch") != LUA_TFUNCTION)
    luaL_error(L, "asyncio.threads is not loaded");
  lua_setfield(L, -3, "thread_dispatch");
  lua_pop(L, 2);
  in = (Inbox *)calloc(1, sizeof(Inbox));
  if (in == NULL) luaL_error(L, "not enough memory");
  in->loop = loop;
  in->nextobj = 1;
  ev_timer_init(&in->grace, grace_cb, 0., 0.);
  pthread_mutex_lock(&thread_lock);
  in->id = next_inbox++;
  in->next = inboxes;
  inboxes = in;
  pthread_mutex_unlock(&thread_lock);
  loop->inbox = in;
  return in->id;
}

/*
** Registers the future at futidx, of the loop at loopidx, as waiting for
** a MSG_RESOLVE; returns the id to put in it. [-0, +0, e]
*/
uint64_t inbox_pending (lua_State *L, int loopidx, int futidx) {
  Loop *loop = loop_checkopen(L, loopidx);
  uint64_t id;
  futidx = lua_absindex(L, futidx);
  inbox_of(L, loopidx);
  id = loop->inbox->nextobj++;
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_getfield(L, -1, "thread_pending");
  lua_pushvalue(L, futidx);
  lua_rawseti(L, -2, (lua_Integer)id);
  lua_pop(L, 2);
  return id;
}

/*
** If the value at idx is a loop or future of this state, sets its inbox
** and object ids (the loop itself is object 0) and returns REF_LOOP or
** REF_FUTURE; else returns 0. [-0, +0, e]
*/
int inbox_export (lua_State *L, int idx, uint64_t *inbox, uint64_t *obj) {
  Runtime *rt = aio_rt(L);
  int t = aio_typeof(L, rt, idx), loopidx;
  idx = lua_absindex(L, idx);
  if (t == AIO_TLOOP) {
    if (loop_check(L, idx)->closed) return 0;
    *inbox = inbox_of(L, idx);
    *obj = 0;
    return REF_LOOP;
  }
  if (t != AIO_TFUTURE && t != AIO_TTASK) return 0;
  lua_getiuservalue(L, idx, FUT_UV_LOOP);
  loopidx = lua_gettop(L);
  if (loop_check(L, loopidx)->closed) { lua_pop(L, 1); return 0; }
  *inbox = inbox_of(L, loopidx);
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_getfield(L, -1, "thread_ids");
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TNUMBER) *obj = (uint64_t)lua_tointeger(L, -1);
  else {
    *obj = loop_check(L, loopidx)->inbox->nextobj++;
    lua_pushvalue(L, idx);
    lua_pushinteger(L, (lua_Integer)*obj);
    lua_rawset(L, -4);
    lua_getfield(L, -3, "thread_exports");
    lua_pushvalue(L, idx);
    lua_rawseti(L, -2, (lua_Integer)*obj);
    lua_pop(L, 1);
  }
  lua_pop(L, 4);
  return REF_FUTURE;
}

/*
** Pushes the object a reference names: the loop at loopidx, or one of its
** pending or exported futures (nil if it was collected). [-0, +1, e]
*/
int inbox_lookup (lua_State *L, int loopidx, int kind, uint64_t obj) {
  if (kind == REF_LOOP) {
    lua_pushvalue(L, loopidx);
    return 1;
  }
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_getfield(L, -1, "thread_pending");
  if (lua_rawgeti(L, -1, (lua_Integer)obj) == LUA_TNIL) {
    lua_pop(L, 2);
    lua_getfield(L, -1, "thread_exports");
    lua_rawgeti(L, -1, (lua_Integer)obj);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* Moves drained messages into the ready queue (protected: see drain). */
static int drain_p (lua_State *L) {
  Message **list = (Message **)lua_touserdata(L, 1);
  Loop *loop = (Loop *)lua_touserdata(L, 2);
  lua_getiuservalue(L, 2, LOOP_UV_LUA);
  lua_getfield(L, -1, "thread_dispatch");
  while (*list != NULL) {
    Message *m, **box;
    /* what may fail (memory) comes before the message leaves the list */
    loop_ready_reserve(L, loop, 2);
    box = (Message **)lua_newuserdatauv(L, sizeof(Message *), 0);
    *box = NULL;
    luaL_setmetatable(L, AIO_THREADMSG);
    m = *list;
    *list = m->next;
    m->next = NULL;
    *box = m;
    loop_ready_push(L, loop, 2, -2, -1);
    lua_pop(L, 1);
  }
  return 0;
}

/*
** Moves the inbox's messages into the ready queue, in order: those due
** (all of them if all), the loop at loopidx of L. No Lua error may cross
** ev_run, so the work is protected.
*/
static void take_in (Loop *loop, lua_State *L, int loopidx, int all) {
  Inbox *in = loop->inbox;
  Message *list, **due, *later;
  double now = aio_now(), later_due = 0;
  pthread_mutex_lock(&thread_lock);
  list = in->head;
  for (due = &list; *due != NULL && (all || (*due)->due <= now); due = &(*due)->next) ;
  later = *due;  /* these stay, in order, until the first one is due */
  *due = NULL;
  in->head = later;
  if (later == NULL) {
    in->tail = NULL;
    __atomic_store_n(&in->posted, 0, __ATOMIC_RELAXED);
  }
  /* read under the lock: the poster may make it due (inbox_let_go) */
  else later_due = later->due;
  pthread_mutex_unlock(&thread_lock);
  if (later != NULL && !ev_is_active(&in->grace)) {
    ev_timer_set(&in->grace, later_due - now, 0.);
    ev_timer_start(loop->ev, &in->grace);
  }
  if (list == NULL) return;
  loopidx = lua_absindex(L, loopidx);
  lua_pushcfunction(L, drain_p);
  lua_pushlightuserdata(L, &list);
  lua_pushvalue(L, loopidx);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
  if (list != NULL) {
    /* no memory to queue them now: they go back first in line, in order,
       and the next poll tries again */
    Message *last = list;
    while (last->next != NULL) last = last->next;
    pthread_mutex_lock(&thread_lock);
    last->next = in->head;
    in->head = list;
    if (in->tail == NULL) in->tail = last;
    __atomic_store_n(&in->posted, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&thread_lock);
    ev_async_send(loop->ev, &loop->async);
  }
}

/* The loop's async watcher fired (inside poll_io: the loop is at index 1
   of loop->L): the messages due go to the ready queue. */
void threadsafe_drain (Loop *loop) {
  if (loop->inbox == NULL || loop->L == NULL) return;
  take_in(loop, loop->L, 1, 0);
}

/*
** Takes in what other threads posted outside the poll, if anything, as
** Python's ready queue has it at once (the loop at loopidx of L):
** - all of it (all) before the loop's own thread queues a call_soon, so
**   that a call posted, then a call_soon made, run in that order; their
**   grace is cut short, a handle's cancel() still counts until it runs;
** - what is due in an iteration that does not poll (the ready queue is
**   busy), so that a result or a cancellation from another thread is not
**   left for the next poll, up to 64 iterations away.
** Nothing posted costs one atomic load.
*/
void threadsafe_take (lua_State *L, Loop *loop, int loopidx, int all) {
  if (loop->inbox == NULL
      || !__atomic_load_n(&loop->inbox->posted, __ATOMIC_RELAXED))
    return;
  take_in(loop, L, loopidx, all);
}

/*
** The loop is closing: no thread may reach it any more. Messages not
** drained are dropped (tasks they would have started are cancelled).
*/
void threadsafe_detach (Loop *loop) {
  Inbox *in = loop->inbox, **p;
  if (in == NULL) return;
  if (loop->ev != NULL) ev_timer_stop(loop->ev, &in->grace);
  pthread_mutex_lock(&thread_lock);
  for (p = &inboxes; *p != NULL; p = &(*p)->next)
    if (*p == in) { *p = in->next; break; }
  while (in->head != NULL) {
    Message *m = in->head;
    in->head = m->next;
    msg_free_locked(m);
  }
  pthread_mutex_unlock(&thread_lock);
  free(in);
  loop->inbox = NULL;
}

/* ---------- messages in the loop's state ---------- */

static int msg_gc (lua_State *L) {
  Message **box = (Message **)luaL_checkudata(L, 1, AIO_THREADMSG);
  if (*box != NULL) {
    pthread_mutex_lock(&thread_lock);
    msg_free_locked(*box);
    pthread_mutex_unlock(&thread_lock);
    *box = NULL;
  }
  return 0;
}

/* Settles the pending future of a MSG_RESOLVE. */
static int take_resolve (lua_State *L, Message *m, int loopidx) {
  Future *f;
  int n, fidx;
  Loop *loop = loop_check(L, loopidx);
  lua_getiuservalue(L, loopidx, LOOP_UV_LUA);
  lua_getfield(L, -1, "thread_pending");
  lua_rawgeti(L, -1, (lua_Integer)m->target);
  fidx = lua_gettop(L);
  lua_pushnil(L);
  lua_rawseti(L, -3, (lua_Integer)m->target);
  f = future_test(L, aio_rt(L), fidx);
  if (f == NULL || f->state != FUT_PENDING) return 0;
  if (m->status == RES_CANCELLED) {
    future_cancel_self(L, f, fidx, 0);
    return 0;
  }
  n = copy_load(L, &m->buf, loopidx, loop->inbox ? loop->inbox->id : 0);
  if (m->status == RES_OK) future_set_results(L, f, fidx, fidx + 1, n);
  else future_set_error(L, f, fidx, fidx + 1);
  return 0;
}

/* Loads the values of message 1 on the loop 2 (protected). */
static int load_p (lua_State *L) {
  Message *m = (Message *)lua_touserdata(L, 1);
  Loop *loop = (Loop *)lua_touserdata(L, 2);
  lua_settop(L, 2);
  return copy_load(L, &m->buf, 2, loop->inbox ? loop->inbox->id : 0);
}

/*
** core.thread_take(msg, loop) -> kind, ...: opens a message on the loop
** it was posted to. "resolve" (done here), "call", fn, args...; "task",
** cfuture, fn, args...; "cancel", key; "stop"; nothing if it was a call
** cancelled in the meantime.
*/
static int core_thread_take (lua_State *L) {
  Message **box = (Message **)luaL_checkudata(L, 1, AIO_THREADMSG);
  Message *m = *box;
  Loop *loop = loop_check(L, 2);
  int n = 0, base;
  lua_settop(L, 2);
  if (m == NULL) return 0;
  base = lua_gettop(L);
  switch (m->kind) {
    case MSG_RESOLVE:
      lua_pushliteral(L, "resolve");
      take_resolve(L, m, 2);
      lua_settop(L, base + 1);
      break;
    case MSG_CALL:
      if (m->ticket != NULL) {
        int cancelled;
        pthread_mutex_lock(&thread_lock);
        cancelled = m->ticket->cancelled;
        m->ticket->ran = 1;
        pthread_mutex_unlock(&thread_lock);
        if (cancelled) { lua_settop(L, base); break; }
      }
      lua_pushliteral(L, "call");
      copy_load(L, &m->buf, 2, loop->inbox ? loop->inbox->id : 0);
      break;
    case MSG_TASK: {
      struct CFuture *cf = m->cf;
      lua_pushliteral(L, "task");
      cfuture_push(L, cf);  /* takes the message's reference */
      m->cf = NULL;
      lua_pushcfunction(L, load_p);
      lua_pushlightuserdata(L, m);
      lua_pushvalue(L, 2);
      if (lua_pcall(L, 2, LUA_MULTRET, 0) != LUA_OK) {  /* its future fails */
        cfuture_fail(L, cf, -1);
        lua_settop(L, base);
      }
      break;
    }
    case MSG_CANCEL:
      lua_pushliteral(L, "cancel");
      lua_pushlightuserdata(L, m->cf);
      break;
    default:
      lua_pushliteral(L, "stop");
  }
  n = lua_gettop(L) - base;
  *box = NULL;
  pthread_mutex_lock(&thread_lock);
  msg_free_locked(m);
  pthread_mutex_unlock(&thread_lock);
  return n;
}

/* core.thread_kind(msg) -> "call", "resolve" or "other", without opening it */
static int core_thread_kind (lua_State *L) {
  Message **box = (Message **)luaL_checkudata(L, 1, AIO_THREADMSG);
  if (*box != NULL && (*box)->kind == MSG_CALL) lua_pushliteral(L, "call");
  else if (*box != NULL && (*box)->kind == MSG_RESOLVE) lua_pushliteral(L, "resolve");
  else lua_pushliteral(L, "other");
  return 1;
}

/* ---------- tickets: cancellable calls of other threads ---------- */

/* The handle's ticket; raises once its finalizer has run. */
static Ticket *ticket_check (lua_State *L) {
  Ticket *t = *(Ticket **)luaL_checkudata(L, 1, AIO_TICKET);
  if (t == NULL) luaL_error(L, "attempt to use a collected ThreadHandle");
  return t;
}

/* handle:cancel() -> whether the call will not run */
static int ticket_cancel (lua_State *L) {
  Ticket *t = ticket_check(L);
  int ok;
  pthread_mutex_lock(&thread_lock);
  ok = !t->ran && !t->cancelled;
  t->cancelled = 1;  /* as Python's Handle: cancelled() says so, ran or not */
  pthread_mutex_unlock(&thread_lock);
  lua_pushboolean(L, ok);
  return 1;
}

static int ticket_cancelled (lua_State *L) {
  Ticket *t = ticket_check(L);
  int c;
  pthread_mutex_lock(&thread_lock);
  c = t->cancelled;
  pthread_mutex_unlock(&thread_lock);
  lua_pushboolean(L, c);
  return 1;
}

static int ticket_gc (lua_State *L) {
  Ticket **box = (Ticket **)luaL_checkudata(L, 1, AIO_TICKET);
  if (*box != NULL) {
    pthread_mutex_lock(&thread_lock);
    ticket_release_locked(*box);
    pthread_mutex_unlock(&thread_lock);
    *box = NULL;
  }
  return 0;
}

static int ticket_tostring (lua_State *L) {
  if (*(Ticket **)luaL_checkudata(L, 1, AIO_TICKET) == NULL) {
    lua_pushliteral(L, "<ThreadHandle collected>");
    return 1;
  }
  ticket_cancelled(L);
  lua_pushfstring(L, "<ThreadHandle%s>", lua_toboolean(L, -1) ? " cancelled" : "");
  return 1;
}

/*
** Posts a MSG_CALL of the function at fnidx and the values after it (to
** the top) to the inbox; pushes a handle that can cancel it. Raises with
** fname and the argument number of the function (fnarg) on misuse, and if
** the loop is closed. [-0, +1, e]
*/
void thread_post_call (lua_State *L, uint64_t inbox, int fnidx,
                       const char *fname, int fnarg, int level) {
  int bad, n = lua_gettop(L) - fnidx + 1;
  Message *m;
  Ticket *t, **box;
  CopyBuf b;
  copy_init(&b);
  if (n <= 0 || lua_isnil(L, fnidx)) {  /* it failed in the other thread */
    lua_pushstring(L, n <= 0 ? "function expected, got no value" : "function expected, got nil");
    copy_argerror(L, &b, fname, fnarg, level);
  }
  /* loops and futures of this state go as references, as for
     run_coroutine_threadsafe */
  if (!copy_dump(L, &b, fnidx, n, 1, aio_rt(L), &bad))
    copy_argerror(L, &b, fname, fnarg + bad, level);
  box = (Ticket **)lua_newuserdatauv(L, sizeof(Ticket *), 0);
  *box = NULL;
  if (luaL_newmetatable(L, AIO_TICKET)) {
    static const luaL_Reg meta[] = {
      {"__gc", ticket_gc}, {"__tostring", ticket_tostring}, {NULL, NULL}
    };
    luaL_setfuncs(L, meta, 0);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, ticket_cancel);
    lua_setfield(L, -2, "cancel");
    lua_pushcfunction(L, ticket_cancelled);
    lua_setfield(L, -2, "cancelled");
    lua_setfield(L, -2, "__index");
  }
  lua_setmetatable(L, -2);
  m = msg_new(MSG_CALL);
  t = (Ticket *)calloc(1, sizeof(Ticket));
  if (m == NULL || t == NULL) {
    free(m); free(t); copy_free(&b);
    luaL_error(L, "not enough memory");
  }
  m->buf = b;
  t->refs = 2;
  m->ticket = t;
  *box = t;
  if (!inbox_post(inbox, m)) aio_loop_closed(L);
}

/* threadref:call_soon_threadsafe(fn, ...) -> handle, from any thread */
static int core_thread_post_call (lua_State *L);

/*
** Pushes the core's thread_post_call if this state loaded the core, and
** returns whether it did: a reference's methods are plain C functions
** (states that never load the core have them too), and only the core's
** closures know its Runtime, which passes this state's loops and futures
** as references. [-0, +(0|1), m]
*/
static int push_core_post_call (lua_State *L) {
  int top = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "asyncio.core") == LUA_TTABLE
      && lua_getfield(L, -1, "thread_post_call") == LUA_TFUNCTION
      && lua_tocfunction(L, -1) == core_thread_post_call) {
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 1;
  }
  lua_settop(L, top);
  return 0;
}

int threadref_call_soon_threadsafe (lua_State *L) {
  uint64_t *ref = (uint64_t *)luaL_checkudata(L, 1, AIO_THREADREF);
  int n = lua_gettop(L);
  if (ref[2] != REF_LOOP)
    return luaL_error(L, "bad self to 'call_soon_threadsafe' (a loop expected, got a future)");
  if (!push_core_post_call(L)) {
    thread_post_call(L, ref[0], 2, "call_soon_threadsafe", 1, 1);
    return 1;
  }
  /* core.thread_post_call(inbox, fname, fnarg, fn, ...) */
  lua_pushinteger(L, (lua_Integer)ref[0]);
  lua_pushliteral(L, "call_soon_threadsafe");
  lua_pushinteger(L, 1);
  lua_rotate(L, 2, 4);  /* below fn, ... */
  lua_call(L, n + 2, 1);
  return 1;
}

/*
** threadref:stop() -> whether the loop was still open: from any thread,
** what Python writes loop.call_soon_threadsafe(loop.stop).
*/
int threadref_stop (lua_State *L) {
  uint64_t *ref = (uint64_t *)luaL_checkudata(L, 1, AIO_THREADREF);
  Message *m;
  if (ref[2] != REF_LOOP)
    return luaL_error(L, "bad self to 'stop' (a loop expected, got a future)");
  m = msg_new(MSG_STOP);
  if (m == NULL) return luaL_error(L, "not enough memory");
  lua_pushboolean(L, inbox_post(ref[0], m));
  return 1;
}

/*
** threadref:run_coroutine_threadsafe(fn, ...) -> concurrent future, from
** any thread: loads asyncio in this state if needed (concurrent futures
** raise its errors) and lets the core do it.
*/
int threadref_run_coroutine_threadsafe (lua_State *L) {
  uint64_t *ref = (uint64_t *)luaL_checkudata(L, 1, AIO_THREADREF);
  int i, n = lua_gettop(L);
  if (ref[2] != REF_LOOP)
    return luaL_error(L, "bad self to 'run_coroutine_threadsafe' (a loop expected, got a future)");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "asyncio");
  lua_call(L, 1, 0);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "asyncio.core");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "thread_run_coroutine");
  lua_pushinteger(L, (lua_Integer)ref[0]);
  for (i = 2; i <= n; i++) lua_pushvalue(L, i);
  lua_call(L, n, 1);
  return 1;
}

/* core.thread_post_call(inbox, fname, fnarg, fn, ...) -> handle */
static int core_thread_post_call (lua_State *L) {
  uint64_t inbox = (uint64_t)luaL_checkinteger(L, 1);
  const char *fname = luaL_checkstring(L, 2);
  int fnarg = (int)luaL_checkinteger(L, 3);
  luaL_checkany(L, 4);
  thread_post_call(L, inbox, 4, fname, fnarg, 2);
  return 1;
}

/* core.thread_post_stop(inbox) -> whether the loop was still open */
static int core_thread_post_stop (lua_State *L) {
  uint64_t inbox = (uint64_t)luaL_checkinteger(L, 1);
  Message *m = msg_new(MSG_STOP);
  if (m == NULL) return luaL_error(L, "not enough memory");
  lua_pushboolean(L, inbox_post(inbox, m));
  return 1;
}

/* core.loop_wakeup(loop): makes a loop blocked in its poll wake up. */
static int core_loop_wakeup (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  ev_async_send(loop->ev, &loop->async);
  return 0;
}

/* core.loop_inbox(loop) -> id of the loop's inbox (made if needed) */
static int core_loop_inbox (lua_State *L) {
  lua_pushinteger(L, (lua_Integer)inbox_of(L, 1));
  return 1;
}

/* core.thread_setup(dispatch): the Lua function that handles messages */
static int core_thread_setup (lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_HOOKS);
  aio_setup_once(L, AIO_SETUP_THREAD, "thread_setup");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "thread_dispatch");
  return 0;
}

int threadsafe_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"thread_take", core_thread_take},
    {"thread_kind", core_thread_kind},
    {"thread_post_call", core_thread_post_call},
    {"thread_post_stop", core_thread_post_stop},
    {"loop_wakeup", core_loop_wakeup},
    {"loop_inbox", core_loop_inbox},
    {"thread_setup", core_thread_setup},
    {NULL, NULL}
  };
  luaL_newmetatable(L, AIO_THREADMSG);
  lua_pushcfunction(L, msg_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  aio_setfuncs(L, funcs);
  return 0;
}
