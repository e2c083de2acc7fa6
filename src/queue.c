/*
** queue.c: Queue, LifoQueue and PriorityQueue (API.md §7), with the
** algorithm of Python's asyncio.Queue, wakeups in the same order: a get()
** on an empty queue appends its task to the getters and parks it (where
** Python appends and awaits a waiter future); put_nowait() wakes the first
** getter, whose task then retries (and may find the item taken meanwhile,
** as in Python); a task cancelled after it was woken passes the wakeup on,
** so nothing meant for another task is lost. Putters mirror getters;
** join() waits for task_done().
**
** get(), put(item) and join() return reusable coroutine objects (see
** coroutines.register_reusable): await runs the C operation below in the
** task, so a get() on a non-empty queue or a put() on a non-full one costs
** two C calls and no allocation, and a blocked one allocates nothing
** either.
**
** Anchoring rule: the public object is a Lua table (maxsize is read
** through its metatable, queues.lua) holding the queue's userdata under a
** private key; the userdata holds its items (a table, or a small FIFO's
** thread: queue_store.c), the threads of its three lists of parked tasks
** (waiters.c), the loop it is bound to and its coroutine objects in user
** values, so a task blocked in get() is held by the getters' thread. The
** item of a put() not awaited yet is in the items table (staged) or a user
** value too (or in its own object, when it had to have a copy). The get
** and put operations also hold the items table and the bound loop as
** upvalues, which reach them without a push, and so does the put method
** the items table (the userdata holds that method too): whatever replaces
** one of those user values (queue_store.c for the items table: the ring
** growing, shutdown; bind_loop) updates the upvalues too (queue_sync_ops),
** so that they never hold another.
*/
#include <stdio.h>
#include <string.h>

#include "queue.h"

#define QUEUE_STATE "asyncio.QueueState"

/* Key of the userdata in the public table. */
static char state_key;

/* Upvalues of every function here; the get and put operations have the
   others too. */
enum {
  UV_RT = 1, UV_STATEMT, UV_QUEUE,
  UV_ITEMS = QUEUE_OP_UV_ITEMS, UV_LOOP,
  OP_NUV = UV_LOOP
};

static const char *const kindnames[] = {"Queue", "LifoQueue", "PriorityQueue"};

static int raise_error (lua_State *L, const char *cls) {
  aio_pusherror(L, cls, NULL);
  return lua_error(L);
}

static int isfull (Queue *q) {
  return q->maxsize > 0 && (lua_Number)q->n >= q->maxsize;
}

/*
** The queue of the public object at index 1, whose userdata replaces it
** there. [-0, +0, v]
*/
static Queue *self (lua_State *L) {
  Queue *q = NULL;
  if (lua_type(L, 1) == LUA_TTABLE
      && lua_rawgetp(L, 1, &state_key) == LUA_TUSERDATA
      && lua_getmetatable(L, -1)) {
    if (lua_rawequal(L, -1, lua_upvalueindex(UV_STATEMT)))
      q = (Queue *)lua_touserdata(L, -2);
    lua_pop(L, 1);
  }
  if (q == NULL) luaL_typeerror(L, 1, "Queue");
  lua_replace(L, 1);
  return q;
}

/* The queue's userdata in the operations, which run inside await. */
#define OPQ lua_upvalueindex(UV_QUEUE)
#define OPITEMS lua_upvalueindex(UV_ITEMS)  /* of get and put only */

/*
** Sets upvalue n of the get and put operations of the queue at qidx
** (absolute, or OPQ) to its user value uv, and of its put method too if n
** is QUEUE_OP_UV_ITEMS, the upvalue where it holds the items table.
** [-0, +0, -]
*/
void queue_sync_ops (lua_State *L, int qidx, int uv, int n) {
  int fnuv, last = n == QUEUE_OP_UV_ITEMS ? QUEUE_UV_PUTMETHOD
                                           : QUEUE_UV_PUTCOPYFN;
  for (fnuv = QUEUE_UV_GETFN; fnuv <= last; fnuv++) {
    if (lua_getiuservalue(L, qidx, fnuv) == LUA_TFUNCTION) {
      lua_getiuservalue(L, qidx, uv);
      if (lua_setupvalue(L, -2, n) == NULL) lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

/*
** Wakes the first pending waiter of the list in user value uv of the queue
** at qidx (it has one). The get and put operations (qidx is OPQ) reach
** the loop of the getters and putters (that of every task in them: see
** wait_on) as an upvalue. [-0, +0, m]
*/
static void wake_first (lua_State *L, int qidx, Waiters *w, int uv) {
  waiters_wake_next(L, w, qidx == OPQ && uv != QUEUE_UV_JOINERS
                          ? lua_upvalueindex(UV_LOOP) : 0);
}

/* The same if the list has a waiter: the test is inline, as most calls
   find none. */
static inline void wake_next (lua_State *L, int qidx, Waiters *w, int uv) {
  if (w->head != w->tail) wake_first(L, qidx, w, uv);
}

static void wake_all (lua_State *L, Waiters *w) {
  if (w->head != w->tail) waiters_wake_all(L, w);
}

/* ---------- the steps shared by the operations and the methods ---------- */

/*
** get_nowait on a non-empty queue whose items table is at tidx: pushes the
** next item, returning 1 so that a C function can return it. Inline: it is
** most of a get(). [-0, +1, e]
*/
static inline int take (lua_State *L, Queue *q, int qidx, int tidx) {
  store_pop(L, q, tidx);
  if (q->n == 0 && q->cap >= STORE_SHRINK_FROM) store_shrink(L, q, qidx);
  wake_next(L, qidx, &q->putters, QUEUE_UV_PUTTERS);
  return 1;
}

/*
** put_nowait of the item on top of the stack, which it pops; the items
** table is at tidx (not relative to the top). [-1, +0, e]
*/
static void add (lua_State *L, Queue *q, int qidx, int tidx) {
  if (q->shutdown) raise_error(L, "QueueShutDown");
  if (isfull(q)) raise_error(L, "QueueFull");
  store_push(L, q, qidx, tidx);
  q->unfinished++;
  wake_next(L, qidx, &q->getters, QUEUE_UV_GETTERS);
}

/* Every item is done: what Python's _finished.set() does. */
static void finished (lua_State *L, Queue *q) {
  wake_all(L, &q->joiners);
}

/*
** What await checks first: that it runs in a task. The common case, a task
** of the loop the queue is bound to, is tested here without a call: a loop
** has a current task only while it runs (task_step), so that loop is the
** running one. Anything else goes to task_check_running, which raises the
** right error or finds the task.
*/
static void check_task (lua_State *L, Queue *q) {
  Loop *loop = q->loop;
  if (loop == NULL || loop->current == NULL || loop->current->co != L)
    task_check_running(L);
}

/* ---------- waiting ---------- */

/*
** Binds the queue's get and put (or, join, its join) to the running loop
** on first use, as Python's _LoopBoundMixin does, and returns it; raises if
** it is bound to another. [-0, +0, v]
*/
static Loop *bind_loop (lua_State *L, Queue *q, int join) {
  Loop **bound = join ? &q->join_loop : &q->loop;
  Loop *running;
  /* a loop stepping a task is the running one: a state runs one at a time */
  if (*bound != NULL && (*bound)->current != NULL) return *bound;
  running = aio_rt(L)->running;
  if (*bound == running) return running;
  if (*bound != NULL) {  /* as Lock's: no line of ours to name */
    lua_pushfstring(L, "<%s> is bound to a different event loop",
                    kindnames[q->kind]);
    lua_error(L);
  }
  lua_getiuservalue(L, lua_upvalueindex(UV_RT), RT_UV_RUNNING);
  lua_setiuservalue(L, OPQ, join ? QUEUE_UV_JOINLOOP : QUEUE_UV_LOOP);
  if (!join) queue_sync_ops(L, OPQ, QUEUE_UV_LOOP, UV_LOOP);
  *bound = running;
  return running;
}

/* The list of waiters in user value uv of q. */
static Waiters *waiters_of (Queue *q, int uv) {
  return uv == QUEUE_UV_GETTERS ? &q->getters
       : uv == QUEUE_UV_PUTTERS ? &q->putters : &q->joiners;
}

/*
** A cancel() of a task parked in the list in user value uv of the queue
** at qidx: the task leaves the list, as in the except clause of Python's
** get() and put(). [-0, +0, m]
*/
static void queue_unpark (lua_State *L, int qidx, int tidx, int uv) {
  Queue *q = (Queue *)lua_touserdata(L, qidx);
  waiters_remove(L, waiters_of(q, uv), tidx);
}

/*
** Appends the running task to the list in user value uv and parks it
** until a waker or a cancel() takes it out; it continues in k with the
** nkept values at the bottom of the stack, and q as its context (the
** queue's userdata stays anchored by the operation, which is running).
** The task is one of the loop the queue is bound to, as is every task in
** its getters and putters (wake_first). [-0, +0, e]
*/
static int wait_on (lua_State *L, Queue *q, int uv, int nkept,
                    lua_KFunction k) {
  Task *t;
  Waiters *w = waiters_of(q, uv);
  /* from here on that loop runs the task (check_task) */
  Loop *loop = bind_loop(L, q, uv == QUEUE_UV_JOINERS);
  if (lua_gettop(L) != nkept) lua_settop(L, nkept);  /* gettop costs less */
  if (w->th == NULL) waiters_thread(L, w, OPQ, uv);
  if (uv == QUEUE_UV_JOINERS) {
    t = task_push_current(L, loop);  /* nkept + 1 */
    waiters_push(L, w, nkept + 1);
    return task_park_at(L, OPQ, q, nkept + 1, t, queue_unpark, uv, k,
                        (lua_KContext)q);
  }
  /* as task_push_current, but the task goes to the list without passing
     through L, whose stack is then as k gets it */
  if (!lua_isyieldable(L)) task_check_running(L);  /* raises */
  t = loop->current;
  waiters_push_current(L, w, loop);
  return task_park_top(L, OPQ, q, t, queue_unpark, uv, k, (lua_KContext)q);
}

/*
** At the start of a continuation: if the wait ended with a cancellation,
** passes the wakeup on to the next waiter of the list in user value uv when
** this task had been woken and what woke it is still there (pass), as
** Python's except clause does, and raises the error again. [-0, +0, e]
*/
static void wait_thrown (lua_State *L, int uv, int nkept, int pass) {
  int woken;
  if (task_park_ended(L, nkept, &woken)) {
    if (woken && pass) {
      Queue *q = (Queue *)lua_touserdata(L, OPQ);
      wake_next(L, OPQ, waiters_of(q, uv), uv);
    }
    lua_error(L);
  }
}

/* The same, where a plain wakeup, which brings nothing (see
   task_park_ended), is told without a call. */
static inline void wait_ended (lua_State *L, int uv, int nkept, int pass) {
  if (lua_gettop(L) != nkept) wait_thrown(L, uv, nkept, pass);
}

/* ---------- the operations, run by await inside the task ---------- */

/* get(): stack 1 = the coroutine object. */
static int get_loop (lua_State *L, Queue *q);

static int get_k (lua_State *L, int status, lua_KContext ctx) {
  Queue *q = (Queue *)ctx;
  (void)status;
  wait_ended(L, QUEUE_UV_GETTERS, 1, q->n > 0);
  return get_loop(L, q);
}

static int get_loop (lua_State *L, Queue *q) {
  if (q->n > 0) return take(L, q, OPQ, OPITEMS);
  if (q->shutdown) return raise_error(L, "QueueShutDown");
  return wait_on(L, q, QUEUE_UV_GETTERS, 1, get_k);
}

/* The stack is cut to the object only if the task waits (wait_on): take
   returns what it pushes. */
static int get_op (lua_State *L) {
  Queue *q = (Queue *)lua_touserdata(L, OPQ);
  check_task(L, q);
  return get_loop(L, q);
}

/* put(item): stack 1 = the coroutine object, 2 = the item. */
static int put_loop (lua_State *L, Queue *q);

/* store_push(queue, items, item), for a protected call. */
static int push_p (lua_State *L) {
  store_push(L, (Queue *)lua_touserdata(L, 1), 1, 2);
  return 0;
}

static int put_k (lua_State *L, int status, lua_KContext ctx) {
  Queue *q = (Queue *)ctx;
  (void)status;
  wait_ended(L, QUEUE_UV_PUTTERS, 2, !isfull(q));
  if (q->kind == QUEUE_PRIORITY && !isfull(q) && !q->shutdown) {
    /* a woken putter whose item cannot be compared leaves the queue as it
       was: the free slot it was woken for goes on to the next putter
       (Python's heappush appends before it compares, so its queue is full
       then, and nobody is left waiting on a free slot) */
    lua_pushcfunction(L, push_p);
    lua_pushvalue(L, OPQ);
    lua_pushvalue(L, OPITEMS);
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
      if (!isfull(q)) wake_next(L, OPQ, &q->putters, QUEUE_UV_PUTTERS);
      return lua_error(L);
    }
    q->unfinished++;
    wake_next(L, OPQ, &q->getters, QUEUE_UV_GETTERS);
    return 0;
  }
  return put_loop(L, q);
}

static int put_loop (lua_State *L, Queue *q) {
  if (isfull(q)) {
    if (q->shutdown) return raise_error(L, "QueueShutDown");
    return wait_on(L, q, QUEUE_UV_PUTTERS, 2, put_k);
  }
  add(L, q, OPQ, OPITEMS);
  return 0;
}

static int reused (lua_State *L) {
  lua_pushliteral(L, AIO_REUSED_CORO);
  return lua_error(L);
}

/*
** The queue's put object: its item waits where queue_put left it. Staged,
** it only has to be counted in when the queue takes it (add's case);
** otherwise it travels in QUEUE_UV_PUTITEM, emptied here so that it does
** not keep the item alive; either way the object can serve the next put().
*/
static int put_op (lua_State *L) {
  Queue *q = (Queue *)lua_touserdata(L, OPQ);
  check_task(L, q);
  if (q->put_loaded == PUT_STAGED) {
    if (!q->shutdown && !isfull(q)) {
      store_commit(q);
      q->unfinished++;
      wake_next(L, OPQ, &q->getters, QUEUE_UV_GETTERS);
      return 0;
    }
    store_unstage(L, q, OPQ, OPITEMS);
  }
  if (q->put_loaded == PUT_FREE) return reused(L);
  q->put_loaded = PUT_FREE;
  if (lua_gettop(L) != 1) lua_settop(L, 1);  /* gettop costs less */
  lua_getiuservalue(L, OPQ, QUEUE_UV_PUTITEM);  /* 2 */
  lua_pushnil(L);
  lua_setiuservalue(L, OPQ, QUEUE_UV_PUTITEM);
  return put_loop(L, q);
}

/* A copy of it: the item travels in slot 2 of the object. */
static int put_copy_op (lua_State *L) {
  Queue *q = (Queue *)lua_touserdata(L, OPQ);
  check_task(L, q);
  lua_settop(L, 1);
  if (!lua_istable(L, 1) || lua_rawgeti(L, 1, 2) == LUA_TNIL) return reused(L);
  lua_pushnil(L);
  lua_rawseti(L, 1, 2);
  return put_loop(L, q);
}

/* join(): Python's _finished.wait(). */
static int join_k (lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  wait_ended(L, QUEUE_UV_JOINERS, 0, 0);
  return 0;
}

static int join_op (lua_State *L) {
  Queue *q = (Queue *)lua_touserdata(L, OPQ);
  check_task(L, q);
  lua_settop(L, 0);
  if (q->unfinished == 0) return 0;
  return wait_on(L, q, QUEUE_UV_JOINERS, 0, join_k);
}

/* ---------- methods ---------- */

/*
** Refuses arguments past the method's n (self excluded), as Python's
** TypeError: a threading-style q:get(false) or q:put(item, 1) would wait
** forever. [-0, +0, v]
*/
static int too_many (lua_State *L, int n) {
  return luaL_argerror(L, n + 2, lua_pushfstring(L, "no value expected, got %s",
                                                 luaL_typename(L, n + 2)));
}
#define no_more(L, n) ((void)(lua_gettop(L) > (n) + 1 && too_many(L, n)))

static int queue_join (lua_State *L) {
  self(L);
  no_more(L, 0);
  lua_getiuservalue(L, 1, QUEUE_UV_JOINOP);
  return 1;
}

/*
** q:get() and q:put(item) are closures of each queue, stored in its public
** table: the hottest calls skip the metatable and the checks of self().
** Their upvalues (set_methods): the public table, the coroutine object,
** then get's the queue's userdata, put's the reusable table, the items
** table (kept current by queue_sync_ops) and the queue's userdata. Self
** is compared with the queue's field pub, the public table's address:
** cheaper than lua_rawequal, and as exact, the table (held by upvalue
** MUV_PUB) being the only object at that address.
*/
enum { MUV_PUB = 1, MUV_OP, MUV_GETQUEUE, MUV_REUSABLE = MUV_GETQUEUE,
       MUV_ITEMS = QUEUE_OP_UV_ITEMS, MUV_PUTQUEUE };
#define ISSELF(L, q) (lua_topointer(L, 1) == (q)->pub)

static int queue_get (lua_State *L) {
  if (!ISSELF(L, (Queue *)lua_touserdata(L, lua_upvalueindex(MUV_GETQUEUE))))
    luaL_typeerror(L, 1, "Queue");
  no_more(L, 0);
  lua_pushvalue(L, lua_upvalueindex(MUV_OP));
  return 1;
}

/*
** The shared coroutine object loaded with the item (staged in the ring, or
** kept in a user value: see put_op), or a copy of it when the shared one
** is loaded already (made and not awaited yet).
*/
#define PUTQUV lua_upvalueindex(MUV_PUTQUEUE)

static int queue_put (lua_State *L) {
  Queue *q = (Queue *)lua_touserdata(L, PUTQUV);
  if (!ISSELF(L, q)) luaL_typeerror(L, 1, "Queue");
  no_more(L, 1);
  if (lua_isnoneornil(L, 2))
    return luaL_argerror(L, 2, "nil is not a valid queue item");
  if (q->put_loaded == PUT_FREE) {  /* either pops the item */
    if (store_stage(L, q, lua_upvalueindex(MUV_ITEMS)))
      q->put_loaded = PUT_STAGED;
    else {
      lua_setiuservalue(L, PUTQUV, QUEUE_UV_PUTITEM);
      q->put_loaded = PUT_KEPT;
    }
    lua_pushvalue(L, lua_upvalueindex(MUV_OP));
    return 1;
  }
  lua_pushvalue(L, lua_upvalueindex(MUV_OP));  /* 3 */
  lua_createtable(L, 2, 4);
  lua_getiuservalue(L, PUTQUV, QUEUE_UV_PUTCOPYFN);
  lua_setfield(L, -2, "fn");
  lua_getfield(L, 3, "name");
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, 1);
  lua_setfield(L, -2, "n");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "awaited");
  lua_pushvalue(L, -1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 2);
  lua_getmetatable(L, 3);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);           /* coroutines.reusable[op] = op.fn */
  lua_getfield(L, -1, "fn");
  lua_rawset(L, lua_upvalueindex(MUV_REUSABLE));
  return 1;
}

/*
** Sets fields get and put of the public table at pidx, for the queue at
** qidx, the reusable table at reusidx.
*/
static void set_methods (lua_State *L, int pidx, int qidx, int reusidx) {
  lua_pushvalue(L, pidx);
  lua_getiuservalue(L, qidx, QUEUE_UV_GETOP);
  lua_pushvalue(L, qidx);
  lua_pushcclosure(L, queue_get, MUV_GETQUEUE);
  lua_setfield(L, pidx, "get");
  lua_pushvalue(L, pidx);
  lua_getiuservalue(L, qidx, QUEUE_UV_PUTOP);
  lua_pushvalue(L, reusidx);
  lua_getiuservalue(L, qidx, QUEUE_UV_ITEMS);
  lua_pushvalue(L, qidx);
  lua_pushcclosure(L, queue_put, MUV_PUTQUEUE);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, qidx, QUEUE_UV_PUTMETHOD);
  lua_setfield(L, pidx, "put");
}

static int queue_put_nowait (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 1);
  if (lua_isnoneornil(L, 2))
    return luaL_argerror(L, 2, "nil is not a valid queue item");
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, QUEUE_UV_ITEMS);  /* 3 */
  lua_pushvalue(L, 2);
  add(L, q, 1, 3);
  return 0;
}

static int queue_get_nowait (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 0);
  lua_settop(L, 1);
  if (q->n == 0) return raise_error(L, q->shutdown ? "QueueShutDown" : "QueueEmpty");
  lua_getiuservalue(L, 1, QUEUE_UV_ITEMS);  /* 2 */
  return take(L, q, 1, 2);
}

static int queue_task_done (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 0);
  if (q->unfinished <= 0) return luaL_error(L, "task_done() called too many times");
  if (--q->unfinished == 0) finished(L, q);
  return 0;
}

/* q:shutdown([immediate]) */
static int queue_shutdown (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 1);
  int immediate = lua_toboolean(L, 2);
  lua_settop(L, 1);
  q->shutdown = 1;
  if (immediate) {
    lua_newtable(L);  /* before the counts are read: see store_clear */
    q->unfinished = q->unfinished > q->n ? q->unfinished - q->n : 0;
    store_clear(L, q, 1);
    if (q->unfinished == 0) finished(L, q);
  }
  wake_all(L, &q->getters);
  wake_all(L, &q->putters);
  return 0;
}

static int queue_qsize (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 0);
  lua_pushinteger(L, q->n);
  return 1;
}

static int queue_empty (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 0);
  lua_pushboolean(L, q->n == 0);
  return 1;
}

static int queue_full (lua_State *L) {
  Queue *q = self(L);
  no_more(L, 0);
  lua_pushboolean(L, isfull(q));
  return 1;
}

/*
** Replaces the string on top by its quoted form, as Python's repr quotes
** it: in single quotes unless it holds one and no double quote, with
** backslashes, the quote and control bytes escaped. Other bytes are kept
** (UTF-8 text). [-1, +1, m]
*/
static void quote_string (lua_State *L) {
  size_t len, i;
  const char *s = lua_tolstring(L, -1, &len);
  char quote = (memchr(s, '\'', len) && !memchr(s, '"', len)) ? '"' : '\'';
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, quote);
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[8];
    if (c == '\\' || c == (unsigned char)quote) {
      luaL_addchar(&b, '\\');
      luaL_addchar(&b, (char)c);
    } else if (c == '\n') luaL_addstring(&b, "\\n");
    else if (c == '\r') luaL_addstring(&b, "\\r");
    else if (c == '\t') luaL_addstring(&b, "\\t");
    else if (c < 0x20 || c == 0x7f) {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      luaL_addstring(&b, esc);
    } else luaL_addchar(&b, (char)c);
  }
  luaL_addchar(&b, quote);
  luaL_pushresult(&b);
  lua_remove(L, -2);
}

/* Appends the items, in storage order, to b, as Python's repr lists them. */
static void add_items (lua_State *L, Queue *q, luaL_Buffer *b) {
  lua_Integer i;
  luaL_addstring(b, " _queue=[");
  for (i = 1; i <= q->n; i++) {
    if (i > 1) luaL_addstring(b, ", ");
    lua_getiuservalue(L, 1, QUEUE_UV_ITEMS);
    store_at(L, q, lua_gettop(L), i);
    lua_remove(L, -2);
    if (lua_type(L, -1) == LUA_TSTRING) quote_string(L);
    else {
      luaL_tolstring(L, -1, NULL);
      lua_remove(L, -2);
    }
    luaL_addvalue(b);
  }
  luaL_addchar(b, ']');
}

/* tostring(q): "<Queue maxsize=1 _queue=[1] _getters[2] tasks=1 shutdown>" */
static int queue_tostring (lua_State *L) {
  Queue *q;
  luaL_Buffer b;
  lua_settop(L, 1);
  if (lua_istable(L, 1)) lua_getfield(L, 1, "maxsize");  /* 2: as given */
  else lua_pushnil(L);
  q = self(L);
  luaL_tolstring(L, 2, NULL);      /* 3 */
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "<%s maxsize=%s", kindnames[q->kind], lua_tostring(L, 3));
  luaL_addvalue(&b);
  if (q->n > 0) add_items(L, q, &b);
  if (q->getters.tail > q->getters.head) {
    lua_pushfstring(L, " _getters[%d]", q->getters.tail - q->getters.head);
    luaL_addvalue(&b);
  }
  if (q->putters.tail > q->putters.head) {
    lua_pushfstring(L, " _putters[%d]", q->putters.tail - q->putters.head);
    luaL_addvalue(&b);
  }
  if (q->unfinished > 0) {
    lua_pushfstring(L, " tasks=%I", q->unfinished);
    luaL_addvalue(&b);
  }
  if (q->shutdown) luaL_addstring(&b, " shutdown");
  luaL_addchar(&b, '>');
  luaL_pushresult(&b);
  return 1;
}

/* ---------- creating ---------- */

/*
** Pushes a closure of op for the queue at qidx. If fnuv is not 0, it also
** gets the items table and the loop (nil yet) as upvalues, and user value
** fnuv the closure (queue_sync_ops). [-0, +1, m]
*/
static void push_op_fn (lua_State *L, int qidx, int fnuv, lua_CFunction op) {
  lua_pushvalue(L, lua_upvalueindex(UV_RT));
  lua_pushvalue(L, lua_upvalueindex(UV_STATEMT));
  lua_pushvalue(L, qidx);
  if (fnuv == 0) {
    lua_pushcclosure(L, op, UV_QUEUE);
    return;
  }
  lua_getiuservalue(L, qidx, QUEUE_UV_ITEMS);
  lua_pushnil(L);
  lua_pushcclosure(L, op, OP_NUV);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, qidx, fnuv);
}

/*
** Sets user value uv of the queue at qidx to a reusable coroutine object
** named name whose await calls op (push_op_fn), with the metatable at
** mtidx, entered in the reusable table at reusidx.
*/
static void set_op (lua_State *L, int qidx, int mtidx, int reusidx, int uv,
                    int fnuv, lua_CFunction op, const char *name) {
  lua_createtable(L, 2, 4);
  push_op_fn(L, qidx, fnuv, op);
  lua_setfield(L, -2, "fn");
  lua_pushinteger(L, 1);
  lua_setfield(L, -2, "n");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "awaited");
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushvalue(L, -1);
  lua_rawseti(L, -2, 1);
  lua_pushvalue(L, mtidx);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_getfield(L, -1, "fn");
  lua_rawset(L, reusidx);
  lua_setiuservalue(L, qidx, uv);
}

/*
** core.queue_new(mt, kind, maxsize, opmt, reusable) -> a queue: a table
** with metatable mt (whose __index gives maxsize); opmt is the metatable of its
** reusable coroutine objects, entered in the table reusable
** (coroutines.reusable). Arguments are checked by the Lua layer.
*/
static int core_queue_new (lua_State *L) {
  int kind = (int)luaL_checkinteger(L, 2);
  lua_Number maxsize = luaL_checknumber(L, 3);
  Queue *q;
  char name[32];
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 4, LUA_TTABLE);
  luaL_checktype(L, 5, LUA_TTABLE);
  luaL_argcheck(L, kind >= QUEUE_FIFO && kind <= QUEUE_PRIORITY, 2, "bad kind");
  lua_settop(L, 5);
  q = (Queue *)lua_newuserdatauv(L, sizeof(Queue), QUEUE_NUV);  /* 6 */
  memset(q, 0, sizeof(*q));
  q->kind = (unsigned char)kind;
  q->maxsize = maxsize;
  lua_pushvalue(L, lua_upvalueindex(UV_STATEMT));
  lua_setmetatable(L, 6);
  if (kind == QUEUE_FIFO && maxsize > 0 && maxsize <= STORE_STACK_MAX) {
    q->ith = lua_newthread(L);
    q->room = LUA_MINSTACK;  /* what a new thread has */
  } else lua_newtable(L);
  lua_setiuservalue(L, 6, QUEUE_UV_ITEMS);
  snprintf(name, sizeof(name), "%s.get", kindnames[kind]);
  set_op(L, 6, 4, 5, QUEUE_UV_GETOP, QUEUE_UV_GETFN, get_op, name);
  snprintf(name, sizeof(name), "%s.put", kindnames[kind]);
  set_op(L, 6, 4, 5, QUEUE_UV_PUTOP, QUEUE_UV_PUTFN, put_op, name);
  push_op_fn(L, 6, QUEUE_UV_PUTCOPYFN, put_copy_op);
  lua_pop(L, 1);
  snprintf(name, sizeof(name), "%s.join", kindnames[kind]);
  set_op(L, 6, 4, 5, QUEUE_UV_JOINOP, 0, join_op, name);
  lua_createtable(L, 0, 4);  /* 7: the public object */
  q->pub = lua_topointer(L, 7);
  lua_pushvalue(L, 6);
  lua_rawsetp(L, 7, &state_key);
  set_methods(L, 7, 6, 5);
  lua_pushvalue(L, 1);
  lua_setmetatable(L, 7);
  return 1;
}

int queue_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"join", queue_join},
    {"get_nowait", queue_get_nowait},
    {"put_nowait", queue_put_nowait},
    {"task_done", queue_task_done},
    {"shutdown", queue_shutdown},
    {"qsize", queue_qsize},
    {"empty", queue_empty},
    {"full", queue_full},
    {NULL, NULL}
  };
  /* upvalues of everything: the Runtime and the userdata's metatable */
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_newmetatable(L, QUEUE_STATE);
  lua_newtable(L);
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, methods, 2);
  lua_setfield(L, 1, "queue_methods");
  lua_pushcclosure(L, queue_tostring, 2);
  lua_setfield(L, 1, "queue_tostring");
  lua_pushvalue(L, lua_upvalueindex(1));
  luaL_getmetatable(L, QUEUE_STATE);
  lua_pushcclosure(L, core_queue_new, 2);
  lua_setfield(L, 1, "queue_new");
  return 0;
}
