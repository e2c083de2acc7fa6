/*
** queue.h: the types shared by queue.c (Queue and its operations),
** queue_store.c (where items are kept) and waiters.c (lists of parked
** tasks).
*/
#ifndef AIO_QUEUE_H
#define AIO_QUEUE_H

#include "internal.h"

/*
** A FIFO of parked tasks, at stack indices head+1..tail of a thread of its
** own (waiters.c), made on first use: tail is the thread's top.
*/
typedef struct Waiters {
  lua_State *th;   /* ro once set: NULL until a task first waits */
  int head, tail;  /* rw: by waiters.c only */
} Waiters;

lua_State *waiters_thread (lua_State *L, Waiters *w, int ownidx, int uv);
void waiters_grow (lua_State *L, Waiters *w);
void waiters_push (lua_State *L, Waiters *w, int tidx);

/*
** Appends the task on top of the stack, popping it; the list has its
** thread. Below LUA_MINSTACK tasks, the room a new thread has, there is
** nothing to check. [-1, +0, v]
*/
static inline void waiters_push_top (lua_State *L, Waiters *w) {
  if (w->tail >= LUA_MINSTACK) waiters_grow(L, w);
  lua_xmove(L, w->th, 1);
  w->tail++;
}

/*
** Appends the task loop is stepping, straight from the state that resumed
** it, which holds it at a known index (see task_pushcurrent); the list
** has its thread. [-0, +0, v]
*/
static inline void waiters_push_current (lua_State *L, Waiters *w,
                                         Loop *loop) {
  if (w->tail >= LUA_MINSTACK) waiters_grow(L, w);
  lua_pushvalue(loop->current_L, loop->current_idx);
  lua_xmove(loop->current_L, w->th, 1);
  w->tail++;
}
int waiters_wake_next (lua_State *L, Waiters *w, int loopidx);
void waiters_wake_all (lua_State *L, Waiters *w);
void waiters_remove (lua_State *L, Waiters *w, int tidx);

/*
** Where the item of the loaded put object waits (queue_put): in the FIFO's
** ring, in the slot past the last item, where awaiting the object will
** store it (staged: see store_stage), or else in QUEUE_UV_PUTITEM.
*/
enum { PUT_FREE = 0, PUT_KEPT, PUT_STAGED };

/* The order in which a queue hands items out. */
enum { QUEUE_FIFO = 0, QUEUE_LIFO, QUEUE_PRIORITY };

/* User values of a queue's userdata. */
enum {
  QUEUE_UV_ITEMS = 1,  /* table: ring (fifo), stack (lifo) or heap; a
                          small FIFO's thread (STORE_STACK_MAX) */
  QUEUE_UV_GETTERS,    /* thread of the tasks parked in get(), or nil */
  QUEUE_UV_PUTTERS,    /* thread of the tasks parked in put(), or nil */
  QUEUE_UV_JOINERS,    /* thread of the tasks parked in join(), or nil */
  QUEUE_UV_LOOP,       /* the loop the queue is bound to, or nil */
  QUEUE_UV_GETOP,      /* the reusable coroutine object get() returns */
  QUEUE_UV_PUTOP,      /* the one put() returns when it is not in use */
  QUEUE_UV_JOINOP,     /* the one join() returns */
  QUEUE_UV_GETFN,      /* get()'s operation, items table as an upvalue */
  QUEUE_UV_PUTFN,      /* put()'s, likewise (queue_sync_ops) */
  QUEUE_UV_PUTCOPYFN,  /* that of put()'s one-shot copies, likewise */
  QUEUE_UV_PUTMETHOD,  /* the public put method, likewise */
  QUEUE_UV_JOINLOOP,   /* the loop join() is bound to, or nil */
  QUEUE_UV_PUTITEM,    /* the item of the loaded put object, or nil */
  QUEUE_NUV = QUEUE_UV_PUTITEM
};

/* The upvalue of the get and put operations that holds the items table. */
#define QUEUE_OP_UV_ITEMS 4

typedef struct Queue {
  unsigned char kind;      /* ro: QUEUE_FIFO, QUEUE_LIFO or QUEUE_PRIORITY */
  unsigned char shutdown;  /* rw: shutdown() was called */
  unsigned char put_loaded; /* rw: PUT_*: QUEUE_UV_PUTOP awaits its item */
  lua_Number maxsize;      /* ro: <= 0 means unbounded */
  lua_Integer n;           /* rw: items stored (queue_store.c) */
  lua_Integer head;        /* rw: fifo: ring slot before the first item */
  lua_Integer cap;         /* rw: fifo: ring capacity; else peak count */
  lua_Integer unfinished;  /* rw: items put and not yet task_done()'d */
  lua_Integer changes;     /* rw: bumped by every change of the items */
  Waiters getters, putters, joiners;
  Loop *loop;              /* ro: cache of QUEUE_UV_LOOP, NULL if unbound */
  Loop *join_loop;         /* ro: cache of QUEUE_UV_JOINLOOP: join() binds
                              a loop of its own, as Python's waits on an
                              Event of the queue that binds itself */
  const void *pub;         /* ro: address of the public table, compared
                              only (queue.c, ISSELF) */
  lua_State *ith;          /* ro: the items thread of a small FIFO, or
                              NULL (see STORE_STACK_MAX) */
  int room;                /* rw: the top ith's stack can reach */
} Queue;

/*
** A FIFO whose maxsize is at most this keeps its items on the stack of a
** thread of its own (ith, in QUEUE_UV_ITEMS), at head+1..head+n, a staged
** item right above them, instead of in a ring: lua_xmove moves an item in
** or out for less than a table write, or a read and its clearing write.
** Its stack grows as items come (store_stack_room), up to what the items,
** as many nils left below them at most, and one push take (at most
** STORE_STACK_ROOM). Larger or unbounded FIFOs, whose items could pass the
** most a stack holds, use a ring.
*/
#define STORE_STACK_MAX 128
#define STORE_STACK_ROOM(maxsize) (2 * ((int)(maxsize) + 1) + 18)

void store_stack_grow (lua_State *L, Queue *q);

/*
** Makes room on a small FIFO's stack, with nothing staged, for one more
** item and the value a pop pushes above them. [-0, +0, v]
*/
static inline void store_stack_room (lua_State *L, Queue *q) {
  if (q->head + q->n + 2 > q->room) store_stack_grow(L, q);
}

/* The key of the i-th item (from 0) in a FIFO's ring. */
#define STORE_RING_SLOT(q, i) ((((q)->head + (i)) & ((q)->cap - 1)) + 1)

void queue_sync_ops (lua_State *L, int qidx, int uv, int n);

void store_push_other (lua_State *L, Queue *q, int qidx, int tidx);
void store_pop_other (lua_State *L, Queue *q, int tidx);
void store_unstage (lua_State *L, Queue *q, int qidx, int tidx);
void store_stack_pop (lua_State *L, Queue *q);

/*
** Stores the item on top of the stack, popping it, in the queue whose
** userdata is at qidx; tidx (not relative to the top) is its items table,
** which this may replace by a larger one (on the stack and in the user
** value). A FIFO whose ring has room, the common case, is handled inline,
** as is store_pop's: these are most of the work of a put() and a get().
** [-1, +0, e]
*/
static inline void store_push (lua_State *L, Queue *q, int qidx, int tidx) {
  if (q->kind == QUEUE_FIFO && q->n < q->cap && q->put_loaded != PUT_STAGED) {
    q->changes++;  /* a ring (a small FIFO's cap is 0) */
    lua_rawseti(L, tidx, STORE_RING_SLOT(q, q->n));
    q->n++;
  }
  else if (q->ith != NULL && q->put_loaded != PUT_STAGED) {
    store_stack_room(L, q);
    q->changes++;
    lua_xmove(L, q->ith, 1);
    q->n++;
  }
  else store_push_other(L, q, qidx, tidx);
}

/*
** The put object's item on top of the stack goes to the ring slot past the
** last item (on a small FIFO's stack, above the last item), popped, if the
** queue is a FIFO whose ring has room: returns 1
** (the caller makes put_loaded PUT_STAGED), else 0 with nothing done. The
** slot stays the one past the last item as items are taken out; anything
** else that changes the ring moves the item to QUEUE_UV_PUTITEM first
** (store_unstage). Awaiting the object then only counts the item in
** (store_commit). [-(0|1), +0, v]
*/
static inline int store_stage (lua_State *L, Queue *q, int tidx) {
  if (q->kind == QUEUE_FIFO && q->n < q->cap)  /* a ring */
    lua_rawseti(L, tidx, STORE_RING_SLOT(q, q->n));
  else if (q->ith != NULL) {
    store_stack_room(L, q);
    lua_xmove(L, q->ith, 1);
  }
  else return 0;
  return 1;
}

/* The staged item becomes the last item (put_loaded is PUT_STAGED). */
static inline void store_commit (Queue *q) {
  q->put_loaded = PUT_FREE;
  q->changes++;
  q->n++;
}

/* Takes out the next item (there is one) and pushes it. [-0, +1, e] */
static inline void store_pop (lua_State *L, Queue *q, int tidx) {
  if (q->ith != NULL) {
    if (q->n == 1 && q->head == 0 && q->put_loaded != PUT_STAGED) {
      q->changes++;  /* the only value on the stack */
      lua_xmove(q->ith, L, 1);
      q->n = 0;
    }
    else store_stack_pop(L, q);
  }
  else if (q->kind == QUEUE_FIFO) {
    lua_Integer slot = q->head + 1;
    q->changes++;
    lua_rawgeti(L, tidx, slot);
    lua_pushnil(L);
    lua_rawseti(L, tidx, slot);
    q->head = slot & (q->cap - 1);
    q->n--;
  }
  else store_pop_other(L, q, tidx);
}

/*
** A queue that drains with room for this many items or more gives its
** table back and starts small again (store_shrink), as Python's deque
** frees its blocks: a burst does not keep its memory for the queue's life.
*/
#define STORE_SHRINK_FROM 1024

void store_shrink (lua_State *L, Queue *q, int qidx);
void store_at (lua_State *L, Queue *q, int tidx, lua_Integer i);
void store_clear (lua_State *L, Queue *q, int qidx);

#endif
