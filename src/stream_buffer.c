/*
** stream_buffer.c: a Stream's read and write buffers: reads from the
** descriptor as Python's transports read, the bytes taken in before a
** close, separators found, and whether a waiting reader is satisfied.
**
** Anchoring rule: nothing here touches a Lua value; the buffers are
** malloc'd memory owned by their Stream, which frees them when it closes
** or is collected.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

#define MAX_CHUNK (1024 * 1024)    /* at most this many bytes per read() */

/* Reserves room for n more bytes in a buffer; 0 on success. */
static int reserve (char **buf, size_t *pos, size_t *len, size_t *cap,
                    size_t n) {
  if (*pos > 0 && (*pos == *len || *cap - *len < n)) {
    memmove(*buf, *buf + *pos, *len - *pos);
    *len -= *pos;
    *pos = 0;
  }
  if (*cap - *len < n) {
    size_t want = *len + n, ncap = *cap ? *cap : 4096;
    char *nb;
    while (ncap < want) ncap *= 2;
    nb = (char *)realloc(*buf, ncap);
    if (nb == NULL) return -1;
    *buf = nb;
    *cap = ncap;
  }
  return 0;
}

/* Appends bytes to the write buffer; 0 on success, -1 out of memory. */
int stream_append (Stream *s, const char *p, size_t n) {
  if (reserve(&s->wbuf, &s->wpos, &s->wlen, &s->wcap, n) != 0) return -1;
  memcpy(s->wbuf + s->wlen, p, n);
  s->wlen += n;
  return 0;
}

/* Reads once into the buffer. Sets eof or rerr. */
static void fill (Stream *s) {
  size_t want = s->chunk;
  ssize_t n;
  if (s->rwait == RW_EXACT && s->scan > stream_buffered_in(s)) {
    size_t missing = s->scan - stream_buffered_in(s);
    if (missing > want) want = missing < MAX_CHUNK ? missing : MAX_CHUNK;
  }
  if (s->rpos == s->rlen) s->rpos = s->rlen = 0;
  if (reserve(&s->rbuf, &s->rpos, &s->rlen, &s->rcap, want) != 0) {
    s->rerr = ENOMEM;
    return;
  }
  want = s->rcap - s->rlen;
  if (s->readcap != 0 && want > s->readcap) want = s->readcap;
  do n = read(s->fd, s->rbuf + s->rlen, want);
  while (n < 0 && errno == EINTR);
  s->short_read = !(n > 0 && (size_t)n == want);
  if (n > 0) {
    s->rlen += (size_t)n;
    if ((size_t)n == want && s->chunk < MAX_CHUNK) s->chunk *= 2;
  } else if (n == 0) {
    if (s->werr && s->kind != STREAM_PIPE) {
      /* the end after a failed write: the connection was lost to that
         error, which Python's transport hands its reader too */
      s->rerr = s->werr;
      return;
    }
    s->eof = 1;
    /* a pipe has nothing more to give: its descriptor goes back at once,
       as Python closes a pipe transport at EOF; the bytes read stay
       readable, and the Readers unanchor the stream (settle_idle) */
    if (s->kind == STREAM_PIPE) {
      ev_io_stop(s->loop->ev, &s->rio);
      close(s->fd);
      s->fd = -1;
    }
  } else if (errno != EAGAIN && errno != EWOULDBLOCK) s->rerr = errno;
}

/*
** Takes in what has arrived, without waiting: one read of the descriptor.
** Python's transports read all the time, so its read(n) gets everything
** that came and its at_eof() sees an end that came; ours read when asked,
** and this is how they ask without suspending. Nothing while a reader
** waits (the watcher reads for it), connecting, or once it ended.
*/
void stream_peek (Stream *s) {
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->rwait != RW_NONE)
    return;
  fill(s);
}

/*
** Reads as Python's transport does in one recv(max_size): what the kernel
** holds, up to TAKE_IN_MAX, whatever the size of the buffer (a first
** read() asks for 16 KiB). Only when a read fills the buffer does it ask
** how much more is there (FIONREAD), and reads that and no more: a writer
** refilling a pipe between two reads does not make them one. capped: no
** read asks for more than what is left of TAKE_IN_MAX.
*/
void stream_fill_as_recv (Stream *s, int capped) {
  size_t had = stream_buffered_in(s), got, target;
  int avail = 0;
  if (capped) s->readcap = TAKE_IN_MAX;
  fill(s);
  got = stream_buffered_in(s) - had;
  if (!s->short_read && !s->eof && !s->rerr && s->fd >= 0 && got < TAKE_IN_MAX
      && ioctl(s->fd, FIONREAD, &avail) == 0 && avail >= 0) {
    target = got + (size_t)avail < TAKE_IN_MAX ? got + (size_t)avail : TAKE_IN_MAX;
    while (got < target) {
      had = stream_buffered_in(s);
      if (capped) s->readcap = target - got;
      fill(s);
      got += stream_buffered_in(s) - had;
      if (stream_buffered_in(s) == had || s->eof || s->rerr || s->fd < 0) break;
    }
    if (got >= target && target < TAKE_IN_MAX)
      s->short_read = 1;  /* the kernel had no more */
  }
  if (capped) s->readcap = 0;
}

/*
** Whether the end of a socket's stream has arrived, with no bytes before
** it: looks without taking anything in (MSG_PEEK), and notes the end.
*/
int stream_end_arrived (Stream *s) {
  char c;
  ssize_t n;
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->kind == STREAM_PIPE)
    return s->eof;
  do n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n == 0) s->eof = 1;
  return s->eof;
}

/*
** After a take-in that left the kernel empty: whether a reset arrived
** behind those bytes. Python's transport, reading all along, met it in
** its next read and handed it to the reader, whose reads raise it before
** looking at the buffer. Looks with MSG_PEEK, which takes the error from
** the socket: it is kept as the read error. [-0, +0, -]
*/
void stream_reset_behind (Stream *s) {
  char c;
  ssize_t n;
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->kind == STREAM_PIPE)
    return;
  do n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) s->rerr = errno;
}

/* stream_peek as one recv(max_size) of Python's transport. */
void stream_take_in (Stream *s) {
  if (s->fd < 0 || s->eof || s->rerr || s->connecting || s->closing
      || s->rwait != RW_NONE)
    return;
  stream_fill_as_recv(s, 1);
}

/*
** One read of a child's pipe read ahead (stream_reads_ahead), as much as
** Python's transport reads in one go; more than twice the limit held
** stops reading until reads take it down (reader.c: consume).
*/
void stream_take_ahead (Stream *s) {
  stream_fill_as_recv(s, 1);
  if (stream_buffered_in(s) > 2 * s->limit) s->held = 1;
}

/*
** Peeks until nothing more has arrived or upto bytes are buffered: what
** Python's transport would hold, reading ahead while nobody asks.
*/
void stream_read_ahead (Stream *s, size_t upto) {
  size_t had;
  while ((had = stream_buffered_in(s)) < upto) {
    stream_peek(s);
    if (stream_buffered_in(s) == had) break;
  }
}

/*
** When reading stops (close) and before a socket's descriptor closes:
** takes in what the peer sent and nobody read yet, so it stays readable
** (keep; as in Python, whose transports read all the time) and the kernel
** does not answer the close with a reset, which would make the peer lose
** what we wrote it last. What comes after reading stopped is read and
** dropped (!keep): Python's transport reads nothing after close(). Bounded
** in all (drained), in case the peer keeps sending; a failure here is
** nobody's business now.
*/
#define DRAIN_MAX ((size_t)1 << 20)
void stream_drain_unread (Stream *s, int keep) {
  size_t start = stream_buffered_in(s);
  int rerr = s->rerr;
  if (s->kind == STREAM_PIPE || s->connecting) return;
  while (!s->eof && s->rerr == 0 && s->drained < DRAIN_MAX) {
    size_t had = stream_buffered_in(s);
    fill(s);
    if (stream_buffered_in(s) == had) break;  /* nothing more waiting */
    s->drained += stream_buffered_in(s) - had;
    if (!keep) s->rlen = s->rpos + start;  /* read, and dropped */
  }
  /* a reset that came before reading stopped: Python's transport, reading
     all along, had lost the connection to it (wait_closed() raises it) */
  if (keep && rerr == 0 && s->rerr == ECONNRESET && !s->held) return;
  s->rerr = rerr;
}

/*
** Where a separator starts in the unread bytes, searching from off, and
** its length in *len: of several, the one whose match ends first (the
** shorter on a tie), as Python 3.13's readuntil. NULL if none is there.
*/
const char *stream_find_sep (Stream *s, size_t off, size_t *len) {
  size_t avail = stream_buffered_in(s);
  const char *best = NULL, *data = s->rbuf + s->rpos;
  size_t bestend = 0;
  unsigned i;
  for (i = 0; i < s->nseps; i++) {
    size_t seplen = s->seplens[i];
    const char *at;
    if (avail < seplen || off > avail - seplen) continue;
    at = (const char *)memmem(data + off, avail - off, s->seps[i], seplen);
    if (at != NULL && (best == NULL || (size_t)(at - data) + seplen < bestend)) {
      best = at;
      bestend = (size_t)(at - data) + seplen;
      *len = seplen;
    }
  }
  return best;
}

/* Whether the bytes in, or the state of, s satisfy the waiting reader. */
int stream_reader_satisfied (Stream *s) {
  size_t avail = stream_buffered_in(s);
  if (s->eof || s->rerr || s->fd < 0) return 1;
  switch (s->rwait) {
    case RW_ANY: return avail > 0;
    case RW_EXACT: return avail >= s->scan;
    case RW_UNTIL: {
      size_t len, longest = s->seplens[s->nseps - 1];
      if (stream_find_sep(s, s->scan, &len) != NULL) return 1;
      if (avail + 1 > longest) s->scan = avail + 1 - longest;
      return s->scan > s->limit;
    }
    case RW_EOF: return 0;
    default: return 1;
  }
}
