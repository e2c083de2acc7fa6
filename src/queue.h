/*
** queue.h: the types shared by queue.c (Queue and its operations),
** queue_store.c (where items are kept) and waiters.c (lists of waiting
** tasks' futures).
*/
#ifndef AIO_QUEUE_H
#define AIO_QUEUE_H

#include "internal.h"

/* A FIFO of waiter futures, at keys head+1..tail of a table. */
typedef struct Waiters {
  lua_Integer head, tail;  /* rw: by waiters.c only */
} Waiters;

Future *waiter_new (lua_State *L, int loopidx);
void waiter_spare (lua_State *L, int fidx, int tidx, int *nspare);
int waiter_reuse (lua_State *L, int tidx, int *nspare);
void waiters_push (lua_State *L, Waiters *w, int tidx, int fidx);
int waiters_wake_next (lua_State *L, Waiters *w, int tidx);
void waiters_wake_all (lua_State *L, Waiters *w, int tidx);
void waiters_remove (lua_State *L, Waiters *w, int tidx, int fidx);

/* The order in which a queue hands items out. */
enum { QUEUE_FIFO = 0, QUEUE_LIFO, QUEUE_PRIORITY };

/* User values of a queue's userdata. */
enum {
  QUEUE_UV_ITEMS = 1,  /* table: ring (fifo), stack (lifo) or heap */
  QUEUE_UV_GETTERS,    /* table of the futures of blocked get()s */
  QUEUE_UV_PUTTERS,    /* table of the futures of blocked put()s */
  QUEUE_UV_JOINERS,    /* table of the futures of blocked join()s */
  QUEUE_UV_LOOP,       /* the loop the queue is bound to, or nil */
  QUEUE_UV_GETOP,      /* the reusable coroutine object get() returns */
  QUEUE_UV_PUTOP,      /* the one put() returns when it is not in use */
  QUEUE_UV_JOINOP,     /* the one join() returns */
  QUEUE_UV_SPARE,      /* table of waiter futures to reuse (waiters.c) */
  QUEUE_NUV = QUEUE_UV_SPARE
};

typedef struct Queue {
  unsigned char kind;      /* ro: QUEUE_FIFO, QUEUE_LIFO or QUEUE_PRIORITY */
  unsigned char shutdown;  /* rw: shutdown() was called */
  lua_Number maxsize;      /* ro: <= 0 means unbounded */
  lua_Integer n;           /* rw: items stored (queue_store.c) */
  lua_Integer head;        /* rw: fifo: ring slot before the first item */
  lua_Integer cap;         /* rw: fifo: ring capacity */
  lua_Integer unfinished;  /* rw: items put and not yet task_done()'d */
  Waiters getters, putters, joiners;
  int nspare;              /* rw: futures in QUEUE_UV_SPARE */
  Loop *loop;              /* ro: cache of QUEUE_UV_LOOP, NULL if unbound */
} Queue;

void store_push (lua_State *L, Queue *q, int qidx, int tidx, int itemidx);
void store_pop (lua_State *L, Queue *q, int tidx);
void store_at (lua_State *L, Queue *q, int tidx, lua_Integer i);
void store_clear (lua_State *L, Queue *q, int qidx);

#endif
