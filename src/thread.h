/*
** thread.h: what copy.c (values copied between Lua states), threadsafe.c
** (the inboxes through which other threads reach a loop), thread.c
** (worker pools) and loopthread.c (loop threads, concurrent futures)
** share.
**
** One process-wide mutex, thread_lock, guards every structure here that
** more than one OS thread can reach; no Lua state is ever touched while it
** is held, and no thread ever touches a Lua state other than its own.
*/
#ifndef AIO_THREAD_H
#define AIO_THREAD_H

#include <pthread.h>
#include <stdint.h>

#include "internal.h"

extern pthread_mutex_t thread_lock;

/* ---------- copied values (copy.c) ---------- */

/* A sequence of values serialized out of one state, to load in another. */
typedef struct CopyBuf {
  char *p;        /* owned: malloc'd bytes */
  size_t n, cap;  /* used and allocated sizes */
  int count;      /* number of values */
} CopyBuf;

/* A reference to a loop or future of another thread (a ThreadRef). */
enum { REF_LOOP = 1, REF_FUTURE };
#define AIO_THREADREF "asyncio.ThreadRef"

void copy_init (CopyBuf *b);
void copy_free (CopyBuf *b);
int copy_clone (CopyBuf *to, const CopyBuf *from);
int copy_dump (lua_State *L, CopyBuf *b, int first, int n, int withfn,
               Runtime *rt, int *bad);
void copy_argerror (lua_State *L, CopyBuf *b, const char *fname, int arg,
                    int level);
void copy_pushstring (CopyBuf *b, const char *s, size_t len);
int copy_load (lua_State *L, const CopyBuf *b, int homeidx, uint64_t homeid);
int copy_checkfn (lua_State *L, int idx);
void copy_pushref (lua_State *L, int kind, uint64_t inbox, uint64_t obj);

/* ---------- inboxes (threadsafe.c) ---------- */

enum {
  MSG_RESOLVE = 1,  /* settle pending future `target` with buf (results) */
  MSG_CALL,         /* call buf's function with its arguments */
  MSG_TASK,         /* run buf's function as a task finishing `cf` */
  MSG_CANCEL,       /* cancel the task of `cf` */
  MSG_STOP          /* stop the loop */
};
enum { RES_ERROR = 0, RES_OK = 1, RES_CANCELLED = 2 };

struct CFuture;

typedef struct Ticket {
  int refs;        /* guarded by thread_lock */
  int cancelled;   /* guarded by thread_lock */
  int ran;         /* guarded by thread_lock */
} Ticket;

typedef struct Message {
  struct Message *next;
  int kind;             /* MSG_* */
  int status;           /* RESOLVE: RES_* */
  uint64_t target;      /* RESOLVE: id of the pending future */
  double due;           /* not to run before this time (aio_now) */
  const void *poster;   /* the posting thread (inbox_let_go), by address */
  CopyBuf buf;          /* owned */
  Ticket *ticket;       /* CALL: a reference, or NULL */
  struct CFuture *cf;   /* TASK, CANCEL: a reference */
} Message;

Message *msg_new (int kind);
void msg_free_locked (Message *m);
int inbox_post_locked (uint64_t inbox, Message *m);
int inbox_post (uint64_t inbox, Message *m);
void inbox_let_go (void);
uint64_t inbox_of (lua_State *L, int loopidx);
uint64_t inbox_pending (lua_State *L, int loopidx, int futidx);
int inbox_export (lua_State *L, int objidx, uint64_t *inbox, uint64_t *obj);
int inbox_lookup (lua_State *L, int loopidx, int kind, uint64_t obj);
void thread_post_call (lua_State *L, uint64_t inbox, int fnidx,
                       const char *fname, int fnarg, int level);
int threadref_call_soon_threadsafe (lua_State *L);
int threadref_run_coroutine_threadsafe (lua_State *L);
int threadref_stop (lua_State *L);
void ticket_release_locked (Ticket *t);
int threadsafe_open (lua_State *L);

/* ---------- other threads' states, worker pools (thread.c) ---------- */
void thread_getpaths (lua_State *L, char **path, char **cpath);
lua_State *thread_newstate (const char *path, const char *cpath);
int thread_msgh (lua_State *L);
void thread_dump_error (lua_State *L, CopyBuf *buf, int idx);
int thread_dump_results (lua_State *L, CopyBuf *buf, int first, int n);
void thread_newmeta (lua_State *L, const char *name, const luaL_Reg *methods,
                     const luaL_Reg *meta);

/* ---------- loop threads, concurrent futures (loopthread.c) ---------- */
int loopthread_open (lua_State *L);  /* called by thread_open */
void cfuture_cancel_locked (struct CFuture *cf);
void cfuture_release_locked (struct CFuture *cf);
void cfuture_push (lua_State *L, struct CFuture *cf);
void cfuture_fail (lua_State *L, struct CFuture *cf, int erridx);

#endif
