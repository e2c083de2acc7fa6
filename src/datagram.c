/*
** datagram.c: UDP endpoints: send (queued when the socket is full) and an
** awaitable recv that reports datagrams larger than its buffer instead of
** truncating them.
**
** Anchoring rule: an endpoint whose read or write watcher is started (a
** task waits in recv, or sends are queued) is the value of its own address
** in its loop's LOOP_UV_WATCHERS table; otherwise it is collectable and its
** finalizer closes the descriptor. The receiving task waits on a future
** held in the endpoint's user values.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "internal.h"

#define DEFAULT_BUFSIZE 65536
#define MAX_BUFSIZE (1 << 24)  /* core.datagram_bufsize_max */
#define MAX_QUEUED (1024 * 1024)  /* bytes of unsent datagrams, at most */

enum {
  DG_UV_LOOP = 1,
  DG_UV_RWAIT,     /* the future a receiving task awaits, or nil */
  DG_UV_QUEUE,     /* list of {data, address} not sent yet, or nil */
  DG_NUV = DG_UV_QUEUE
};

typedef struct Endpoint {
  IoHook hook;             /* first: see internal.h */
  ev_io rio;               /* started while a task waits in recv */
  ev_io wio;               /* started while datagrams are queued */
  Loop *loop;              /* ro: cache of DG_UV_LOOP */
  int fd;                  /* owned; -1 once closed */
  int family;              /* ro */
  unsigned char anchored;  /* rw: in LOOP_UV_WATCHERS */
  unsigned char waiting;   /* rw: a task waits in recv */
  unsigned char closing;   /* rw: closed by close(), still sending the queue */
  int err;                 /* rw: errno of a failed queued send */
  size_t bufsize;          /* ro: the largest datagram recv accepts */
  size_t queued;           /* rw: bytes in DG_UV_QUEUE */
  lua_Integer qhead;       /* rw: index of the next datagram to send */
  lua_Integer qtail;       /* rw: index the next queued one gets */
  char *buf;               /* owned: bufsize bytes */
} Endpoint;

#define loop_open_(e) (!(e)->loop->closed && (e)->loop->ev != NULL)
/* closed by close() (maybe still sending its queue), or for good */
#define closed_(e) ((e)->fd < 0 || (e)->closing)

static Endpoint *check_endpoint (lua_State *L, int idx) {
  return (Endpoint *)luaL_checkudata(L, idx, AIO_DATAGRAM);
}

static Endpoint *check_open (lua_State *L, int idx, const char *fname) {
  Endpoint *e = check_endpoint(L, idx);
  if (closed_(e))
    luaL_error(L, "attempt to use a closed DatagramEndpoint ('%s')", fname);
  if (e->loop->closed) aio_loop_closed(L);
  return e;
}

/* Anchors or frees the endpoint at eidx as its watchers require. */
static void update_anchor (lua_State *L, Endpoint *e, int eidx) {
  int active = ev_is_active(&e->rio) || ev_is_active(&e->wio);
  if (active == e->anchored || !loop_open_(e)) return;
  lua_getiuservalue(L, eidx, DG_UV_LOOP);
  if (active) socket_anchor(L, lua_gettop(L), e, eidx);
  else socket_unanchor(L, lua_gettop(L), e);
  lua_pop(L, 1);
  e->anchored = (unsigned char)active;
}

static void start_io (lua_State *L, Endpoint *e, ev_io *w, int eidx) {
  if (ev_is_active(w)) return;
  /* the callers looked, but a finalizer run by an allocation of theirs
     may have closed the loop or the endpoint since */
  if (!loop_open_(e)) aio_loop_closed(L);
  if (e->fd < 0) return;
  if (!e->anchored) {
    lua_getiuservalue(L, eidx, DG_UV_LOOP);
    socket_anchor(L, lua_gettop(L), e, eidx);
    lua_pop(L, 1);
    e->anchored = 1;
  }
  ev_io_start(e->loop->ev, w);
}

static void stop_io (Endpoint *e, ev_io *w) {
  if (loop_open_(e)) ev_io_stop(e->loop->ev, w);
}

/* Wakes the receiving task, if any. [-0, +0, m] */
static void wake_receiver (lua_State *L, Endpoint *e, int eidx) {
  e->waiting = 0;
  stop_io(e, &e->rio);
  if (lua_getiuservalue(L, eidx, DG_UV_RWAIT) != LUA_TNIL) {
    Future *f = (Future *)lua_touserdata(L, -1);
    lua_pushnil(L);
    lua_setiuservalue(L, eidx, DG_UV_RWAIT);
    if (f != NULL && f->state == FUT_PENDING)
      future_set_results(L, f, lua_gettop(L), 0, 0);
  }
  lua_pop(L, 1);
}

/* ---------- watchers ---------- */

/* Finds the endpoint (arg 1) in the loop's watchers (arg 2). */
static int find_self (lua_State *L) {
  Endpoint *e = (Endpoint *)lua_touserdata(L, 1);
  lua_settop(L, 2);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  lua_rawgetp(L, -1, e);
  return lua_touserdata(L, -1) == (void *)e ? lua_gettop(L) : 0;
}

static int receiver_woken (lua_State *L) {
  int eidx = find_self(L);
  if (eidx == 0) return 0;
  wake_receiver(L, (Endpoint *)lua_touserdata(L, eidx), eidx);
  update_anchor(L, (Endpoint *)lua_touserdata(L, eidx), eidx);
  return 0;
}

/*
** Sends the queued datagrams until the socket is full again. [-0, +0, m]
*/
static void send_queued (lua_State *L, Endpoint *e, int eidx) {
  if (lua_getiuservalue(L, eidx, DG_UV_QUEUE) != LUA_TTABLE) {
    lua_pop(L, 1);
    stop_io(e, &e->wio);
    return;
  }
  for (;;) {
    size_t len, alen;
    const char *data, *addr;
    ssize_t n;
    if (lua_rawgeti(L, -1, e->qhead) == LUA_TNIL) {  /* all sent */
      lua_pop(L, 1);
      lua_pushnil(L);
      lua_setiuservalue(L, eidx, DG_UV_QUEUE);
      e->qhead = e->qtail = 0;
      e->queued = 0;
      stop_io(e, &e->wio);
      if (e->closing) {  /* close() waited for the queue: done now */
        close(e->fd);
        e->fd = -1;
      }
      break;
    }
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    data = lua_tolstring(L, -2, &len);
    addr = lua_tolstring(L, -1, &alen);
    do n = sendto(e->fd, data, len, 0,
                  alen ? (const struct sockaddr *)addr : NULL, (socklen_t)alen);
    while (n < 0 && errno == EINTR);
    lua_pop(L, 3);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
      break;
    if (n < 0) e->err = errno;  /* reported by the next send */
    lua_pushnil(L);
    lua_rawseti(L, -2, e->qhead);
    e->qhead++;
    e->queued -= len;
  }
  lua_pop(L, 1);
}

static int sender_woken (lua_State *L) {
  int eidx = find_self(L);
  Endpoint *e;
  if (eidx == 0) return 0;
  e = (Endpoint *)lua_touserdata(L, eidx);
  send_queued(L, e, eidx);
  update_anchor(L, e, eidx);
  return 0;
}

static void call_protected (Endpoint *e, lua_CFunction fn) {
  lua_State *L = e->loop->L;
  if (L == NULL) return;
  ioorder_event(e->loop);
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, e);
  lua_pushvalue(L, 1);  /* the loop: see watcher.c */
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: error in a datagram callback: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static void rio_cb (struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev; (void)revents;
  call_protected((Endpoint *)w->data, receiver_woken);
}

static void wio_cb (struct ev_loop *ev, ev_io *w, int revents) {
  (void)ev; (void)revents;
  call_protected((Endpoint *)w->data, sender_woken);
}

/* ---------- making endpoints ---------- */

static void endpoint_loopclose (IoHook *h) {
  Endpoint *e = (Endpoint *)h;
  if (e->loop->ev != NULL) {
    ev_io_stop(e->loop->ev, &e->rio);
    ev_io_stop(e->loop->ev, &e->wio);
  }
  e->anchored = 0;
  e->waiting = 0;
  if (e->fd >= 0) {
    close(e->fd);
    e->fd = -1;
  }
}

/* Parses (host, port) at args a, a+1 for the endpoint's family. */
static void checkaddr (lua_State *L, Endpoint *e, int a,
                       struct sockaddr_storage *ss, unsigned int *len) {
  size_t hostlen;
  const char *host, *msg;
  lua_Integer port;
  if (lua_isnil(L, a)) luaL_argerror(L, a, "host expected");
  /* no number made a host: 5 would be the address 0.0.0.5 */
  if (lua_type(L, a) != LUA_TSTRING) luaL_typeerror(L, a, "string");
  host = lua_tolstring(L, a, &hostlen);
  if (strlen(host) != hostlen)  /* the address would be cut there */
    luaL_argerror(L, a, "embedded zero in the host");
  if (lua_isnoneornil(L, a + 1))  /* a datagram to port 0 is EINVAL */
    luaL_argerror(L, a + 1, "port expected after a host");
  port = luaL_checkinteger(L, a + 1);
  msg = socket_toaddr(e->family, host, hostlen, port, ss, len);
  if (msg != NULL) luaL_argerror(L, msg[0] == 'p' ? a + 1 : a, msg);
}

/*
** core.datagram(loop, family, local_host, local_port, remote_host,
** remote_port, reuse_port, bufsize) -> endpoint, or nil and an OSError.
** Hosts are numeric; a nil local address lets the system pick one.
*/
static int core_datagram (lua_State *L) {
  static const char *const fams[] = {"inet", "inet6", NULL};
  Loop *loop = loop_checkopen(L, 1);
  int family = luaL_checkoption(L, 2, NULL, fams) == 0 ? AF_INET : AF_INET6;
  lua_Integer bufsize = luaL_optinteger(L, 8, DEFAULT_BUFSIZE);
  struct sockaddr_storage ss;
  unsigned int len;
  Endpoint *e;
  int fd, one = 1;
  luaL_argcheck(L, bufsize > 0 && bufsize <= MAX_BUFSIZE, 8, "out of range");
  lua_settop(L, 8);
  e = (Endpoint *)lua_newuserdatauv(L, sizeof(Endpoint), DG_NUV);  /* 9 */
  memset(e, 0, sizeof(*e));
  e->hook.loopclose = endpoint_loopclose;
  e->fd = -1;
  e->family = family;
  e->loop = loop;
  e->bufsize = (size_t)bufsize;
  luaL_setmetatable(L, AIO_DATAGRAM);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 9, DG_UV_LOOP);
  e->buf = (char *)malloc(e->bufsize + 1);
  if (e->buf == NULL) return luaL_error(L, "not enough memory");
  fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    lua_pushnil(L);
    socket_pusherror(L, errno, "socket");
    return 2;
  }
  e->fd = fd;
  ev_io_init(&e->rio, rio_cb, fd, EV_READ);
  e->rio.data = e;
  ev_io_init(&e->wio, wio_cb, fd, EV_WRITE);
  e->wio.data = e;
  if (lua_toboolean(L, 7)
      && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    lua_pushnil(L);
    socket_pusherror(L, errno, "setsockopt SO_REUSEPORT");
    return 2;
  }
  /* no IPV6_V6ONLY, as Python's create_datagram_endpoint: an endpoint on
     "::" takes IPv4 datagrams too where the system is dual-stack */
  if (!lua_isnil(L, 3) || !lua_isnil(L, 4)) {
    const char *what;
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    if (lua_isnil(L, -2)) {  /* a port alone: any address */
      lua_pushstring(L, family == AF_INET6 ? "::" : "0.0.0.0");
      lua_replace(L, -3);
    }
    checkaddr(L, e, lua_gettop(L) - 1, &ss, &len);
    lua_pop(L, 2);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
      int err = errno;
      what = lua_pushfstring(L, "bind %s", socket_describe(L, &ss, len));
      lua_pushnil(L);
      socket_pusherror(L, err, what);
      return 2;
    }
  }
  if (!lua_isnil(L, 5)) {
    const char *what;
    checkaddr(L, e, 5, &ss, &len);
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
      int err = errno;
      what = lua_pushfstring(L, "connect to %s", socket_describe(L, &ss, len));
      lua_pushnil(L);
      socket_pusherror(L, err, what);
      return 2;
    }
  }
  lua_settop(L, 9);
  return 1;
}

/* ---------- methods ---------- */

/*
** endpoint:send(data [, host, port]): sends one datagram, to the remote
** address of open_datagram when host is nil. Queued while the socket is
** full; raises the error of an earlier queued send, or of this one.
*/
static int endpoint_send (lua_State *L) {
  Endpoint *e = check_open(L, 1, "send");
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  struct sockaddr_storage ss;
  unsigned int alen = 0;
  ssize_t n;
  lua_settop(L, 4);
  if (!lua_isnil(L, 3)) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    checkaddr(L, e, 3, &ss, &alen);
    /* a connected endpoint sends only to its peer, as Python's sendto */
    if (getpeername(e->fd, (struct sockaddr *)&peer, &plen) == 0
        && (plen != alen || memcmp(&peer, &ss, alen) != 0))
      return luaL_error(L, "Invalid address: must be nil or %s",
                        socket_describe(L, &peer, plen));
  }
  if (e->err) {
    int err = e->err;
    e->err = 0;
    socket_pusherror(L, err, "send");
    return lua_error(L);
  }
  if (e->queued == 0) {
    do n = sendto(e->fd, data, len, 0,
                  alen ? (struct sockaddr *)&ss : NULL, (socklen_t)alen);
    while (n < 0 && errno == EINTR);
    if (n >= 0) return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
      socket_pusherror(L, errno, "send");
      return lua_error(L);
    }
  }
  if (e->queued + len > MAX_QUEUED) {
    socket_pusherror(L, ENOBUFS, "send (too many datagrams queued)");
    return lua_error(L);
  }
  if (lua_getiuservalue(L, 1, DG_UV_QUEUE) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, DG_UV_QUEUE);
    e->qhead = e->qtail = 1;
  }
  lua_createtable(L, 2, 0);
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, 1);
  lua_pushlstring(L, (const char *)&ss, alen);
  lua_rawseti(L, -2, 2);
  lua_rawseti(L, -2, e->qtail++);
  lua_pop(L, 1);
  e->queued += len;
  check_open(L, 1, "send");  /* closed by a finalizer run meanwhile? */
  start_io(L, e, &e->wio, 1);
  return 0;
}

static int recv_k (lua_State *L, int status, lua_KContext ctx);

/*
** The awaitable of endpoint:recv(): (endpoint) -> data, host, port, or nil
** once the endpoint is closed.
*/
static int recv_aw (lua_State *L) {
  check_endpoint(L, 1);
  lua_settop(L, 1);
  return recv_k(L, LUA_OK, 0);
}

static int recv_k (lua_State *L, int status, lua_KContext ctx) {
  Endpoint *e = (Endpoint *)lua_touserdata(L, 1);
  struct sockaddr_storage ss;
  socklen_t alen = sizeof(ss);
  ssize_t n;
  Runtime *rt;
  (void)ctx;
  if (status != LUA_OK && status != LUA_YIELD) {  /* cancelled: stop */
    int err = lua_gettop(L);
    lua_getiuservalue(L, 1, DG_UV_RWAIT);
    if (lua_rawequal(L, -1, 2)) {
      lua_pushnil(L);
      lua_setiuservalue(L, 1, DG_UV_RWAIT);
      e->waiting = 0;
      stop_io(e, &e->rio);
      update_anchor(L, e, 1);
    }
    lua_settop(L, err);
    return lua_error(L);
  }
  lua_settop(L, 1);
  if (closed_(e)) {
    lua_pushnil(L);
    return 1;
  }
  do n = recvfrom(e->fd, e->buf, e->bufsize + 1, MSG_TRUNC,
                  (struct sockaddr *)&ss, &alen);
  while (n < 0 && errno == EINTR);
  if (n >= 0) {
    if ((size_t)n > e->bufsize) {
      lua_pushfstring(L, "recv: a datagram of %d bytes does not fit the "
                         "buffer of %d bytes", (int)n, (int)e->bufsize);
      socket_pusherror(L, EMSGSIZE, NULL);
      lua_insert(L, -2);
      lua_setfield(L, -2, "message");
      lua_pushinteger(L, (lua_Integer)n);
      lua_setfield(L, -2, "size");
      return lua_error(L);
    }
    lua_pushlstring(L, e->buf, (size_t)n);
    return 1 + socket_pushaddr(L, &ss, alen);
  }
  if (errno != EAGAIN && errno != EWOULDBLOCK) {
    socket_pusherror(L, errno, "recv");
    return lua_error(L);
  }
  /* nothing yet: wait for readiness */
  task_check_running(L);
  rt = aio_rt(L);
  if (rt->running != e->loop)
    return luaL_error(L, "the endpoint is attached to a different loop");
  if (e->waiting) {
    /* a wait whose future is done already (cancelled, its task not yet
       resumed) no longer counts */
    Future *f;
    lua_getiuservalue(L, 1, DG_UV_RWAIT);
    f = (Future *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (f != NULL && f->state == FUT_PENDING)
      return aio_errorf(L, "'recv' called while another task is already "
                           "waiting for a datagram");
  }
  lua_getiuservalue(L, 1, DG_UV_LOOP);
  future_pushnew(L, 2);
  lua_replace(L, 2);                    /* 2: the future */
  if (closed_(e)) {  /* closed by a finalizer the allocation ran: as closed */
    lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, DG_UV_RWAIT);
  e->waiting = 1;
  start_io(L, e, &e->rio, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 2);
  return recv_k(L, lua_pcallk(L, 1, 0, 0, 0, recv_k), 0);
}

/* endpoint:recv() -> awaitable (nil once the endpoint is closed, like a
   read at the end of a stream) */
static int endpoint_recv (lua_State *L) {
  check_endpoint(L, 1);
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, 1);
  coro_push(L, 2, 3, 1);
  return 1;
}

/*
** endpoint:close(): a waiting recv returns nil. Datagrams still queued are
** sent first, as Python's transport flushes its buffer: the socket closes
** once the last one is out (or the loop closes).
*/
static int endpoint_close (lua_State *L) {
  Endpoint *e = check_endpoint(L, 1);
  lua_settop(L, 1);
  if (closed_(e)) return 0;
  stop_io(e, &e->rio);
  wake_receiver(L, e, 1);
  if (e->queued > 0 && ev_is_active(&e->wio)) {
    e->closing = 1;
    update_anchor(L, e, 1);
    return 0;
  }
  stop_io(e, &e->wio);
  close(e->fd);
  e->fd = -1;
  lua_pushnil(L);
  lua_setiuservalue(L, 1, DG_UV_QUEUE);
  e->queued = 0;
  update_anchor(L, e, 1);
  e->anchored = 0;
  return 0;
}

static int endpoint_is_closing (lua_State *L) {
  Endpoint *e = check_endpoint(L, 1);
  lua_pushboolean(L, closed_(e));
  return 1;
}

/* endpoint:getsockname() -> host, port */
static int endpoint_getsockname (lua_State *L) {
  Endpoint *e = check_open(L, 1, "getsockname");
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(e->fd, (struct sockaddr *)&ss, &len) != 0) {
    lua_pushnil(L);
    socket_pusherror(L, errno, "getsockname");
    return 2;
  }
  return socket_pushaddr(L, &ss, len);
}

/* endpoint:getpeername() -> host, port of the remote address, or nil */
static int endpoint_getpeername (lua_State *L) {
  Endpoint *e = check_open(L, 1, "getpeername");
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getpeername(e->fd, (struct sockaddr *)&ss, &len) != 0) {
    lua_pushnil(L);
    return 1;
  }
  return socket_pushaddr(L, &ss, len);
}

static int endpoint_fileno (lua_State *L) {
  lua_pushinteger(L, check_endpoint(L, 1)->fd);
  return 1;
}

static int endpoint_gc (lua_State *L) {
  Endpoint *e = (Endpoint *)aio_checkobj(L, 1, AIO_TDATAGRAM, "DatagramEndpoint");
  stop_io(e, &e->rio);
  stop_io(e, &e->wio);
  if (e->fd >= 0) {
    if (!e->closing) aio_warn_unclosed(L, "DatagramEndpoint", e->fd);
    close(e->fd);
    e->fd = -1;
  }
  free(e->buf);
  e->buf = NULL;
  return 0;
}

static int endpoint_tostring (lua_State *L) {
  Endpoint *e = check_endpoint(L, 1);
  if (e->fd < 0) lua_pushliteral(L, "<DatagramEndpoint closed>");
  else lua_pushfstring(L, "<DatagramEndpoint fd=%d>", e->fd);
  return 1;
}

int datagram_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"send", endpoint_send},
    {"close", endpoint_close},
    {"is_closing", endpoint_is_closing},
    {"getsockname", endpoint_getsockname},
    {"getpeername", endpoint_getpeername},
    {"fileno", endpoint_fileno},
    {NULL, NULL}
  };
  static const luaL_Reg meta[] = {
    {"__gc", endpoint_gc},
    {"__close", endpoint_close},
    {"__tostring", endpoint_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"datagram", core_datagram},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_TDATAGRAM, AIO_DATAGRAM, methods, meta);
  /* recv: a method with the awaitable function as upvalue 2 */
  lua_getfield(L, -1, "DatagramEndpoint");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_getfield(L, 1, "await_future");
  lua_pushcclosure(L, recv_aw, 2);
  lua_pushcclosure(L, endpoint_recv, 2);
  lua_setfield(L, -2, "recv");
  lua_pop(L, 1);
  aio_setfuncs(L, funcs);
  lua_pushinteger(L, MAX_BUFSIZE);
  lua_setfield(L, 1, "datagram_bufsize_max");
  return 0;
}
