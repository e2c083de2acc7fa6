/*
** stream.h: what stream*.c, reader*.c and writer.c share: the Stream (a
** connected socket with its read and write buffers), its reader and
** writer halves, and the ways a task waits on it.
*/
#ifndef AIO_STREAM_H
#define AIO_STREAM_H

#include <sys/socket.h>

#include "internal.h"

/* Writing to a reset peer must raise, never kill: every send passes
   MSG_NOSIGNAL, and where there is none (BSDs) sockets get SO_NOSIGPIPE. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* User values of a Stream. */
enum {
  ST_UV_LOOP = 1,
  ST_UV_RWAIT,     /* the task parked in a read, or nil */
  ST_UV_WWAIT,     /* list of futures awaiting drain or connect, or nil */
  ST_UV_CLOSED,    /* list of futures awaiting wait_closed, or nil */
  ST_UV_SEP,       /* the separator of a waiting readuntil */
  ST_UV_READERS,   /* the loop's Readers (stream.c) */
  ST_NUV = ST_UV_READERS
};

/* readline and readuntil's bound unless opts.limit says otherwise (Python's). */
#define STREAM_DEFAULT_LIMIT 65536

/* readuntil takes a list of at most this many separators (Python 3.13). */
#define STREAM_MAX_SEPS 8

/* What the waiting reader needs before the read watcher wakes it. */
enum { RW_NONE = 0, RW_ANY, RW_EXACT, RW_UNTIL, RW_EOF };

struct Readers;

struct Stream {
  IoHook hook;             /* first: see internal.h */
  /* what every read and write touches, together */
  Loop *loop;              /* ro: cache of ST_UV_LOOP */
  int fd;                  /* owned; -1 once closed */
  unsigned char kind;      /* ro: STREAM_TCP, STREAM_UNIX or STREAM_PIPE */
  unsigned char connecting;/* rw: a non-blocking connect is in progress */
  unsigned char eof;       /* rw: the peer will send nothing more */
  unsigned char closing;   /* rw: close() asked; flushing, then closing */
  unsigned char eof_asked; /* rw: write_eof() asked; shut once flushed */
  unsigned char wshut;     /* rw: the write side is shut */
  unsigned char paused;    /* rw: buffered above high, not yet below low */
  unsigned char anchored;  /* rw: in LOOP_UV_WATCHERS */
  unsigned char rwait;     /* rw: RW_* of the waiting reader */
  unsigned char rcancelled;/* rw: a read was cancelled and its task has
                              not resumed yet (reader.c) */
  int inbyfd;              /* rw: 1 + its index in loop->byfd, 0: none */
  unsigned char inready;   /* rw: in rs->ready: to wake */
  unsigned char inidle;    /* rw: in rs->idle: reading, no reader now */
  unsigned char wqueued;   /* rw: a write_ready_entry is in the ready queue */
  unsigned char lost;      /* rw: a child's stdin whose reader went away:
                              closed, and writes are dropped silently */
  unsigned char ahead;     /* rw: a child's stdout or stderr, read all the
                              time as Python's pipe transport reads it */
  unsigned char aheadq;    /* rw: ahead, and a read of it is queued */
  unsigned char held;      /* rw: held more than twice the limit: reading
                              waits until reads take it down to the limit
                              (Python's pause_reading): a child's pipe read
                              ahead, or a socket's take-ins (reader.c) */
  int rerr, werr, cerr;    /* rw: errno of a failed read, write, connect */
  int lostwrites;          /* rw: writes dropped since the loss (writer.c) */
  unsigned werr_iteration; /* rw: loop->iterations when werr was set */
  unsigned char loss_queued; /* rw: a child's stdin lost: its waiters are
                                to be told, two iterations on (stream_close.c) */
  unsigned char loss_told; /* rw: they were (writer.c) */
  unsigned char werr_paused; /* rw: the writer was paused when werr came */
  size_t drained;          /* rw: bytes taken in as reading stopped (close) */
  size_t scan;             /* rw: RW_EXACT: bytes needed; RW_UNTIL: bytes
                              already searched for the separator */
  char *rbuf;              /* owned: unread bytes are rbuf[rpos, rlen) */
  size_t rpos, rlen, rcap;
  size_t wpos, wlen;       /* rw: unsent bytes are wbuf[wpos, wlen) */
  size_t high, low;        /* rw: write buffer water marks */
  struct Readers *rs;      /* ro: cache of ST_UV_READERS */
  struct Stream *rnext;    /* rw: link in rs->ready */
  size_t chunk;            /* rw: bytes asked of the next read() */
  size_t readcap;          /* rw: if not 0, at most this much per read()
                              (reader.c, taking in as Python's transport) */
  unsigned id;             /* ro: numbered in its loop (stream_note_sent) */
  unsigned took_in;        /* rw: loop->iterations + 1 when bytes were last read in
                              (by the watcher, or before a read waits) */
  unsigned polled;         /* rw: loop->iterations + 1 when the read watcher
                              last brought bytes (reader.c: fresh_end) */
  size_t fresh;            /* rw: how many bytes it brought then */
  unsigned emptied;        /* rw: loop->iterations + 1 when a take-in before
                              a read left the kernel empty (reader.c) */
  unsigned char short_read;  /* rw: the last read() got less than it asked */
  unsigned char rerr_told; /* rw: the waiters were told of rerr (stream_close.c) */
  unsigned paused_at;      /* rw: loop->iterations + 1 when the read watcher
                              left more than twice the limit buffered */
  unsigned closed_at;      /* rw: a child's stdin: loop->iterations + 1 when
                              close() or write_eof() was asked (writer.c) */
  unsigned char cut_off;   /* rw: closed by its loop's close(): reads raise,
                              they do not see an end (reader.c) */
  unsigned iogroup;        /* rw: in rs->ready: the read's ioorder group */
  ev_io rio;               /* read readiness: started while a reader waits */
  ev_io wio;               /* write readiness: while connecting or flushing */
  /* the rest */
  struct Stream *inext, *iprev;  /* rw: links in rs->idle */
  /* RW_UNTIL: the separators, shortest first (a string or a list of
     strings, anchored by ST_UV_SEP or the waiting reader's stack) */
  unsigned char nseps;
  const char *seps[STREAM_MAX_SEPS];
  size_t seplens[STREAM_MAX_SEPS];
  size_t limit;            /* rw: readuntil/readline bound */
  char *wbuf;              /* owned */
  size_t wcap;
  struct StreamNames *names;  /* owned: addresses kept for after close */
};
typedef struct Stream Stream;

/* A socket's own and peer address, kept as Python's transport keeps them. */
typedef struct StreamNames {
  struct sockaddr_storage sock, peer;
  socklen_t socklen, peerlen;  /* 0: unknown */
} StreamNames;

void stream_keep_names (Stream *s);

/*
** A StreamReader or StreamWriter: user value 1 is its Stream, user value
** 2 the reusable coroutine object its awaitable methods hand out (see
** reader.c), set by the Lua layer.
*/
enum { HALF_UV_STREAM = 1, HALF_UV_OP, HALF_NUV = HALF_UV_OP };

typedef struct Half {
  Stream *s;               /* ro: cache of HALF_UV_STREAM */
  const void *op;          /* ro: identity of HALF_UV_OP, or NULL */
  unsigned char opbusy;    /* rw: the op was handed out, not yet run */
  unsigned char opkind;    /* rw: the operation it was handed out for */
  lua_Integer oparg;       /* rw: its integer argument (a separator is in
                              slot 4 of the op) */
} Half;

#define stream_buffered_in(s) ((s)->rlen - (s)->rpos)
#define stream_buffered_out(s) ((s)->wlen - (s)->wpos)
#define stream_loop_open(s) (!(s)->loop->closed && (s)->loop->ev != NULL)
/* Whether nothing more can arrive. */
#define stream_ended(s) ((s)->eof || (s)->fd < 0 || (s)->closing)

Half *stream_tohalf (lua_State *L, int idx, int type);
Stream *stream_check (lua_State *L, int idx);
void stream_start_io (lua_State *L, Stream *s, ev_io *w, int sidx);
void stream_stop_io (Stream *s, ev_io *w);
void stream_update_anchor (lua_State *L, Stream *s, int sidx);
void stream_wake_future (lua_State *L, int idx);
ssize_t stream_send (Stream *s, const void *p, size_t n);
void stream_shut_write (lua_State *L, Stream *s, int sidx);
void stream_close (lua_State *L, Stream *s, int sidx);
void stream_abort (lua_State *L, Stream *s, int sidx);
void stream_peek (Stream *s);
void stream_take_ahead (Stream *s);
void stream_queue_entry (lua_State *L, Stream *s, int sidx, lua_CFunction fn);
void stream_take_in (Stream *s);
int stream_end_arrived (Stream *s);
void stream_reset_behind (Stream *s);
int stream_reader_satisfied (Stream *s);
void stream_read_ahead (Stream *s, size_t upto);
int stream_append (Stream *s, const char *p, size_t n);
const char *stream_find_sep (Stream *s, size_t off, size_t *len);
void stream_check_task (lua_State *L, Stream *s);
int stream_await_top (lua_State *L, int nargs, lua_KFunction k);
int stream_list_wait (lua_State *L, Stream *s, int nargs, int uv,
                      lua_KFunction k);
void stream_list_resumed (lua_State *L, int status, int nargs, int uv);
int stream_raise_werr (lua_State *L, Stream *s);
int stream_raise_lost (lua_State *L);
void stream_write_failed (lua_State *L, int sidx);
void stream_read_failed (lua_State *L, int sidx);
void stream_set_werr (Stream *s, int err);
void stream_watch_hangup (lua_State *L, Stream *s, int sidx);
void stream_push_aw (lua_State *L, int awidx, int sidx, int first, int n);
void stream_call_notification (lua_State *L, Stream *s);
void stream_wake_list (lua_State *L, int sidx, int uv);
void stream_close_now (lua_State *L, Stream *s, int sidx);
void stream_close_fd (lua_State *L, Stream *s, int sidx);
void stream_tell_loss (lua_State *L, Stream *s, int sidx);
void stream_drain_unread (Stream *s, int keep);
void stream_fill_as_recv (Stream *s, int capped);

/*
** Once a child's output pipe (at sidx) stops being read, its end read
** (which closes its descriptor) or its full buffer holding it, calls its
** notify_closed functions: a wait() learns that a pipe a grandchild held
** has ended, or that it is no longer to wait for it (Python's would wait
** forever, the grandchild blocked writing). Called where the end reaches
** the reader (readers.c) or is read in a task; inline, as the readers'
** wakeup of every socket read passes here. [-0, +0, m]
*/
static inline void stream_tell_pipe_stopped (lua_State *L, Stream *s, int sidx) {
  if (s->kind == STREAM_PIPE && ((s->fd < 0 && s->eof) || s->held))
    stream_wake_list(L, sidx, ST_UV_CLOSED);
}

/*
** A loop's Readers (readers.c): one per loop, made with its first stream
** and anchored under a key of its own in LOOP_UV_WATCHERS.
*/
struct Readers {
  IoHook hook;             /* first: see internal.h */
  ev_check check;          /* after a poll: wakes the ready readers */
  ev_prepare prepare;      /* before a poll: stops watchers left idle */
  Loop *loop;              /* ro */
  Stream *ready, *readytail; /* rw: satisfied readers, to wake, in order */
  Stream *idle;            /* rw: reading streams nobody waits on now */
};
typedef struct Readers Readers;

Readers *readers_push (lua_State *L, Loop *loop, int loopidx);
void readers_ready_link (Readers *rs, Stream *s);
void readers_idle_link (Readers *rs, Stream *s);
void readers_idle_unlink (Stream *s);
void readers_forget (Stream *s);

void reader_open (lua_State *L, int awaitidx);
void reader_bind_op (lua_State *L, int opidx, int readeridx);
void writer_open (lua_State *L, int awaitidx);

/* Python's transport reads at most this much in one go (max_size). */
#define TAKE_IN_MAX ((size_t)256 * 1024)

/* Whether s is a child's pipe read ahead that has more to read (held by
   its full buffer or not). */
static inline int stream_ahead_open (Stream *s) {
  return s->ahead && s->fd >= 0 && !s->eof && !s->rerr;
}

/*
** After bytes came into the buffer of a socket: more than twice the limit
** pauses Python's transport until reads take it down to the limit (or a
** read waits), so nothing more is taken in before a read would wait.
*/
static inline void stream_note_full (Stream *s) {
  if (s->kind != STREAM_PIPE && stream_buffered_in(s) > 2 * s->limit)
    s->held = 1;
}

/* Whether s reads in the background now, with no reader waiting: a
   child's pipe, open, not held by its full buffer. */
static inline int stream_reads_ahead (Stream *s) {
  return stream_ahead_open(s) && !s->held;
}

/*
** s sent bytes, which a peer in this loop could read: Python's
** transport of that peer has them only from the second iteration on
** (reader.c: take_in_arrived). Which stream sent is kept while it is the
** only one, as its own bytes never reach its own reader. An end sent
** (close, write_eof) does not count: taken in with the bytes before it, it
** shows a little early (at_eof), where holding the bytes back would cut a
** read short.
*/
static inline void stream_note_sent (Stream *s) {
  Loop *loop = s->loop;
  unsigned now = loop->iterations + 1;
  if (loop->sent_iteration == 0 || now - loop->sent_iteration > 1)
    loop->sent_by = s->id;  /* a new window */
  else if (loop->sent_by != s->id)
    loop->sent_by = 0;  /* several streams sent */
  loop->sent_iteration = now;
}

/* Whether a stream of this loop other than s sent in this iteration or the
   one before. */
static inline int stream_peer_sent_lately (Stream *s) {
  Loop *loop = s->loop;
  return loop->sent_iteration != 0
         && loop->iterations + 1 - loop->sent_iteration <= 1
         && loop->sent_by != s->id;
}

#endif
