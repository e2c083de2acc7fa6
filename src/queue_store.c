/*
** queue_store.c: where a queue keeps its items, in the order it hands
** them out: a ring (Queue), a stack (LifoQueue) or a binary heap
** (PriorityQueue, the algorithm of Python's heapq, so that items comparing
** equal come out in the same order as in Python).
**
** Anchoring rule: the items sit in the queue's QUEUE_UV_ITEMS table, as
** does the item staged for the put object (store_stage), or for a small
** FIFO on the stack of the thread held there (below its top: what lies
** above is no anchor and never read); the functions here take that table
** at a stack index (or an upvalue's) and may replace it (the ring grows by
** copying into a larger table), then also in the upvalue of the closures
** that hold it (queue_sync_ops), moving a staged item out first. A small
** FIFO's thread is never replaced.
*/
#include "queue.h"

#define RING_MIN 8

/* How deep items nested as tuples may be compared (cycles end here). */
#define MAX_DEPTH 100

/* ---------- ordering of priority items ---------- */

/* A table with no __lt metamethod: ordered like a Python tuple. */
static int istuple (lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  if (luaL_getmetafield(L, idx, "__lt") == LUA_TNIL) return 1;
  lua_pop(L, 1);
  return 0;
}

static void checkdepth (lua_State *L, int depth) {
  if (depth > MAX_DEPTH)
    luaL_error(L, "priority queue items nested more than %d levels deep "
                  "(a cycle?)", MAX_DEPTH);
  luaL_checkstack(L, 4, "priority queue items nested too deeply");
}

static int prio_lt (lua_State *L, int a, int b, int depth);

/* a == b, tuples compared element by element. [-0, +0, e] */
static int prio_eq (lua_State *L, int a, int b, int depth) {
  lua_Integer na, nb, i;
  int eq = 1;
  if (lua_rawequal(L, a, b)) return 1;
  if (!istuple(L, a) || !istuple(L, b)) return lua_compare(L, a, b, LUA_OPEQ);
  checkdepth(L, depth);
  na = (lua_Integer)lua_rawlen(L, a);
  nb = (lua_Integer)lua_rawlen(L, b);
  if (na != nb) return 0;
  for (i = 1; eq && i <= na; i++) {
    lua_rawgeti(L, a, i);
    lua_rawgeti(L, b, i);
    eq = prio_eq(L, lua_gettop(L) - 1, lua_gettop(L), depth + 1);
    lua_pop(L, 2);
  }
  return eq;
}

/*
** a < b: tuples as Python compares them (the first elements that differ
** decide, else the shorter is smaller), anything else with Lua's <.
** [-0, +0, e]
*/
static int prio_lt (lua_State *L, int a, int b, int depth) {
  lua_Integer na, nb, i;
  if (!istuple(L, a) || !istuple(L, b)) return lua_compare(L, a, b, LUA_OPLT);
  checkdepth(L, depth);
  na = (lua_Integer)lua_rawlen(L, a);
  nb = (lua_Integer)lua_rawlen(L, b);
  for (i = 1; i <= na && i <= nb; i++) {
    int x, y, lt = -1;
    lua_rawgeti(L, a, i);
    lua_rawgeti(L, b, i);
    x = lua_gettop(L) - 1;
    y = x + 1;
    if (!prio_eq(L, x, y, depth + 1)) lt = prio_lt(L, x, y, depth + 1);
    lua_pop(L, 2);
    if (lt >= 0) return lt;
  }
  return na < nb;
}

/* heap[i] < heap[j] for heap keys i, j. [-0, +0, e] */
static int heap_lt (lua_State *L, int tidx, lua_Integer i, lua_Integer j) {
  int lt;
  lua_rawgeti(L, tidx, i);
  lua_rawgeti(L, tidx, j);
  lt = prio_lt(L, lua_gettop(L) - 1, lua_gettop(L), 0);
  lua_pop(L, 2);
  return lt;
}

/* The item at itemidx < heap[j]. [-0, +0, e] */
static int item_lt (lua_State *L, int tidx, int itemidx, lua_Integer j) {
  int lt;
  lua_rawgeti(L, tidx, j);
  lt = prio_lt(L, itemidx, lua_gettop(L), 0);
  lua_pop(L, 1);
  return lt;
}

/*
** After each comparison of a heap operation: an item's __lt may have used
** the queue itself, and what is compared next is no longer what is there
** (maybe no item at all). Python's heapq raises then too. [-0, +0, v]
*/
static void check_unchanged (lua_State *L, Queue *q, lua_Integer changes) {
  if (q->changes != changes)
    luaL_error(L, "PriorityQueue changed while its items were compared");
}

/*
** heapq.heappush. Every comparison is made before anything moves, so an
** error raised by one (items that cannot be compared) leaves the heap as it
** was. The item is on top of the stack and popped. [-1, +0, e]
*/
static void heap_push (lua_State *L, Queue *q, int tidx) {
  int itemidx = lua_absindex(L, -1);
  lua_Integer pos = q->n + 1, shifts = 0, cur, changes = q->changes;
  while (pos > 1) {
    int lt = item_lt(L, tidx, itemidx, pos / 2);
    check_unchanged(L, q, changes);
    if (!lt) break;
    pos /= 2;
    shifts++;
  }
  for (cur = q->n + 1; shifts > 0; shifts--, cur /= 2) {
    lua_rawgeti(L, tidx, cur / 2);
    lua_rawseti(L, tidx, cur);
  }
  lua_rawseti(L, tidx, cur);  /* pops the item */
  q->n++;
}

/*
** heapq.heappop: the last item replaces the root and goes down the path of
** smaller children to a leaf, then back up while it is smaller than its
** parent. The path and the stop are found first, then items move; an error
** in a comparison leaves the heap unchanged. [-0, +1, e]
*/
static void heap_pop (lua_State *L, Queue *q, int tidx) {
  lua_Integer path[8 * sizeof(lua_Integer)];
  lua_Integer n = q->n - 1;  /* size once the last item is taken out */
  lua_Integer changes = q->changes;
  int k = 0, m, i, lastidx;
  lua_rawgeti(L, tidx, 1);  /* the result */
  if (n == 0) {
    lua_pushnil(L);
    lua_rawseti(L, tidx, 1);
    q->n = 0;
    return;
  }
  lua_rawgeti(L, tidx, q->n);  /* the last item */
  lastidx = lua_gettop(L);
  path[0] = 1;
  while (2 * path[k] <= n) {
    lua_Integer child = 2 * path[k];
    if (child + 1 <= n) {
      int lt = heap_lt(L, tidx, child, child + 1);
      check_unchanged(L, q, changes);
      if (!lt) child++;
    }
    path[++k] = child;
  }
  for (m = k; m > 0; m--) {
    int lt = item_lt(L, tidx, lastidx, path[m]);
    check_unchanged(L, q, changes);
    if (!lt) break;
  }
  lua_pushnil(L);
  lua_rawseti(L, tidx, q->n);
  for (i = 0; i < m; i++) {
    lua_rawgeti(L, tidx, path[i + 1]);
    lua_rawseti(L, tidx, path[i]);
  }
  lua_rawseti(L, tidx, path[m]);  /* pops the last item */
  q->n = n;
}

/* ---------- the ring of a FIFO queue (its capacity a power of 2) ---------- */

/*
** Moves the items to a table twice as large, in order from key 1, and
** makes it the items table (at tidx and in the user value). Making the
** table may run a finalizer that changes the queue (a put_nowait that
** grows the ring itself): then nothing is done, tidx is refreshed, and 0
** returned for the caller to look again. [-0, +0, m]
*/
static int ring_grow (lua_State *L, Queue *q, int qidx, int tidx) {
  lua_Integer cap = q->cap < RING_MIN ? RING_MIN : 2 * q->cap, i;
  lua_Integer changes = q->changes;
  lua_createtable(L, (int)cap, 0);
  if (q->changes != changes) {
    lua_pop(L, 1);
    lua_getiuservalue(L, qidx, QUEUE_UV_ITEMS);
    lua_replace(L, tidx);
    return 0;
  }
  for (i = 0; i < q->n; i++) {  /* allocates nothing: the table is sized */
    lua_rawgeti(L, tidx, STORE_RING_SLOT(q, i));
    lua_rawseti(L, -2, i + 1);
  }
  lua_replace(L, tidx);
  lua_pushvalue(L, tidx);
  lua_setiuservalue(L, qidx, QUEUE_UV_ITEMS);
  queue_sync_ops(L, qidx, QUEUE_UV_ITEMS, QUEUE_OP_UV_ITEMS);
  q->head = 0;
  q->cap = cap;
  return 1;
}

/* ---------- the interface ---------- */

/*
** store_push where the ring has no room or holds a staged item, or the
** queue is no FIFO: a ring grows first, then the staged item moves out.
** [-1, +0, e]
*/
void store_push_other (lua_State *L, Queue *q, int qidx, int tidx) {
  q->changes++;
  if (q->ith != NULL) {  /* a staged item is in the way: it leaves room */
    store_unstage(L, q, qidx, tidx);
    lua_xmove(L, q->ith, 1);
    q->n++;
    return;
  }
  switch (q->kind) {
    case QUEUE_FIFO:
      while (q->n == q->cap) ring_grow(L, q, qidx, tidx);
      /* after ring_grow, as a finalizer it ran may have staged an item */
      if (q->put_loaded == PUT_STAGED) store_unstage(L, q, qidx, tidx);
      lua_rawseti(L, tidx, STORE_RING_SLOT(q, q->n));
      q->n++;
      break;
    case QUEUE_LIFO:
      /* counted once stored: the store may raise a memory error */
      lua_rawseti(L, tidx, q->n + 1);
      q->n++;
      break;
    default:
      heap_push(L, q, tidx);
  }
  if (q->kind != QUEUE_FIFO && q->n > q->cap) q->cap = q->n;  /* peak */
}

/*
** Moves the staged item (put_loaded is PUT_STAGED) of the queue at qidx,
** whose items table is at tidx (neither relative to the top), to
** QUEUE_UV_PUTITEM. [-0, +0, -]
*/
void store_unstage (lua_State *L, Queue *q, int qidx, int tidx) {
  if (q->ith != NULL) lua_xmove(q->ith, L, 1);  /* from the top */
  else {
    lua_Integer slot = STORE_RING_SLOT(q, q->n);
    lua_rawgeti(L, tidx, slot);
    lua_pushnil(L);
    lua_rawseti(L, tidx, slot);
  }
  lua_setiuservalue(L, qidx, QUEUE_UV_PUTITEM);
  q->put_loaded = PUT_KEPT;
}

/* Unstages the staged item, if any, from the items table in its user value. */
static void unstage_from_uv (lua_State *L, Queue *q, int qidx) {
  if (q->put_loaded != PUT_STAGED) return;
  lua_getiuservalue(L, qidx, QUEUE_UV_ITEMS);
  store_unstage(L, q, qidx, lua_absindex(L, -1));
  lua_pop(L, 1);
}

/*
** Grows a small FIFO's stack for store_stack_room: to twice what it holds
** and the push, never past STORE_STACK_ROOM. [-0, +0, v]
*/
void store_stack_grow (lua_State *L, Queue *q) {
  int top = lua_gettop(q->ith);
  int want = 2 * (top + 2);
  if (want > STORE_STACK_ROOM(q->maxsize)) want = STORE_STACK_ROOM(q->maxsize);
  if (!lua_checkstack(q->ith, want - top)) luaL_error(L, "not enough memory");
  q->room = want;
}

/*
** store_pop of a small FIFO, but for its only value: the first item
** leaves a nil, and the stack restarts empty when nothing is left on it,
** or moves its values down once nils are the most of it (so that it stays
** within STORE_STACK_ROOM). [-0, +1, -]
*/
void store_stack_pop (lua_State *L, Queue *q) {
  lua_State *th = q->ith;
  int first = (int)q->head + 1;
  q->changes++;
  lua_pushvalue(th, first);
  lua_xmove(th, L, 1);
  lua_pushnil(th);
  lua_replace(th, first);
  q->head = first;
  q->n--;
  if (q->n == 0 && q->put_loaded != PUT_STAGED) {
    lua_settop(th, 0);
    q->head = 0;
  } else if (q->head >= 16 && q->head >= q->n) {
    int top = lua_gettop(th);
    lua_rotate(th, 1, -first);
    lua_settop(th, top - first);
    q->head = 0;
  }
}

/* store_pop of a LIFO or priority queue. [-0, +1, e] */
void store_pop_other (lua_State *L, Queue *q, int tidx) {
  q->changes++;
  if (q->kind == QUEUE_LIFO) {
    lua_rawgeti(L, tidx, q->n);
    lua_pushnil(L);
    lua_rawseti(L, tidx, q->n--);
  }
  else heap_pop(L, q, tidx);
}

/* A new table, for a protected call. */
static int new_table (lua_State *L) {
  lua_newtable(L);
  return 1;
}

/*
** After a pop (the item on top, kept) that emptied a queue whose table grew
** large (cap, the ring's capacity or the peak count of a stack or heap, at
** least STORE_SHRINK_FROM: the caller tests it, on the hot path), a new
** empty table replaces it, and a staged item goes to QUEUE_UV_PUTITEM.
** Making the table may run a finalizer that puts an item: then the old
** table stays. [-0, +0, m]
*/
void store_shrink (lua_State *L, Queue *q, int qidx) {
  lua_Integer changes = q->changes;
  qidx = lua_absindex(L, qidx);
  /* protected: the item just taken is on the stack, and a memory error
     here would lose it; without the table the old one stays */
  lua_pushcfunction(L, new_table);
  if (lua_pcall(L, 0, 1, 0) != LUA_OK || q->changes != changes || q->n > 0) {
    lua_pop(L, 1);
    return;
  }
  unstage_from_uv(L, q, qidx);
  lua_setiuservalue(L, qidx, QUEUE_UV_ITEMS);
  queue_sync_ops(L, qidx, QUEUE_UV_ITEMS, QUEUE_OP_UV_ITEMS);
  q->head = q->cap = 0;
}

/* Pushes the i-th stored item (1-based, in storage order). [-0, +1, -] */
void store_at (lua_State *L, Queue *q, int tidx, lua_Integer i) {
  if (q->ith != NULL) {
    lua_pushvalue(q->ith, (int)(q->head + i));
    lua_xmove(q->ith, L, 1);
  }
  else if (q->kind == QUEUE_FIFO) lua_rawgeti(L, tidx, STORE_RING_SLOT(q, i - 1));
  else lua_rawgeti(L, tidx, i);
}

/*
** Drops every item of the queue whose userdata is at qidx, the empty table
** at the top of the stack taking their place; a staged item, not put yet,
** goes to QUEUE_UV_PUTITEM. The caller makes that table before it reads
** the queue: making it may run a finalizer that takes an item. [-1, +0, -]
*/
void store_clear (lua_State *L, Queue *q, int qidx) {
  unstage_from_uv(L, q, qidx);
  if (q->ith != NULL) {  /* the thread stays */
    lua_pop(L, 1);
    lua_settop(q->ith, 0);
    q->n = q->head = 0;
    q->changes++;
    return;
  }
  lua_setiuservalue(L, qidx, QUEUE_UV_ITEMS);
  queue_sync_ops(L, qidx, QUEUE_UV_ITEMS, QUEUE_OP_UV_ITEMS);
  q->n = q->head = q->cap = 0;
  q->changes++;
}
