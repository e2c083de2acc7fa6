/*
** socket.c: socket descriptors and what every network file shares: the
** OSError objects, addresses, anchoring in the loop; and the listening
** sockets of servers (Listener) with their accept loop.
**
** Anchoring rule: a serving Listener is the value of its own address in its
** loop's LOOP_UV_WATCHERS table (its accept watcher or its retry timer is
** active exactly then) and holds its loop and the Lua function that
** receives new connections in its user values; close() stops both watchers
** before the table lets go of it.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "internal.h"

/* Connections accepted per readiness event, at most. */
#define ACCEPT_MAX 128
/* Seconds accepting pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM. */
#define ACCEPT_RETRY_DELAY 0.25

/* ---------- errors ---------- */

static const struct { int err; const char *name; } errnames[] = {
#define E(x) {x, #x}
  E(EPERM), E(ENOENT), E(EINTR), E(EIO), E(EBADF), E(EAGAIN), E(ENOMEM),
  E(EACCES), E(EFAULT), E(EBUSY), E(EEXIST), E(ENOTDIR), E(EISDIR),
  E(EINVAL), E(ENFILE), E(EMFILE), E(ENOSPC), E(EPIPE), E(ENAMETOOLONG),
  E(ENOSYS), E(ELOOP), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE),
  E(EPROTOTYPE), E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(EOPNOTSUPP),
  E(EAFNOSUPPORT), E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN),
  E(ENETUNREACH), E(ENETRESET), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS),
  E(EISCONN), E(ENOTCONN), E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED),
  E(EHOSTDOWN), E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS), E(EPROTO),
  E(ENOEXEC), E(E2BIG), E(ETXTBSY), E(ECHILD), E(ESRCH),
#undef E
  {0, NULL}
};

/* The symbolic name of errno value err ("ECONNRESET"), or EUNKNOWN. */
const char *socket_errname (int err) {
  int i;
  for (i = 0; errnames[i].name != NULL; i++)
    if (errnames[i].err == err) return errnames[i].name;
  return "EUNKNOWN";
}

/*
** Pushes the asyncio.OSError (or the subclass Python would raise) for err;
** its message is "what: strerror" (just strerror when what is NULL).
** Needs the Runtime as upvalue 1. [-0, +1, e]
*/
int socket_pusherror (lua_State *L, int err, const char *what) {
  lua_getiuservalue(L, lua_upvalueindex(1), RT_UV_ERRORS);
  lua_getfield(L, -1, "OSError");
  lua_getfield(L, -1, "from_errno");
  lua_pushinteger(L, err);
  lua_pushstring(L, socket_errname(err));
  if (what != NULL) lua_pushfstring(L, "%s: %s", what, strerror(err));
  else lua_pushstring(L, strerror(err));
  lua_call(L, 3, 1);
  lua_replace(L, -3);
  lua_pop(L, 1);
  return 1;
}

/* Returns nil and the OSError for err: environment failures. [-0, +2, e] */
static int failure (lua_State *L, int err, const char *what) {
  lua_pushnil(L);
  socket_pusherror(L, err, what);
  return 2;
}

/* ---------- addresses ---------- */

static const char *const family_names[] = {"inet", "inet6", "unix", NULL};
static const int family_values[] = {AF_INET, AF_INET6, AF_UNIX};

static int checkfamily (lua_State *L, int arg) {
  return family_values[luaL_checkoption(L, arg, NULL, family_names)];
}

/*
** Pushes the host and port of an address (for a Unix socket: its path
** and nil). An IPv6 address with a scope (link-local) keeps it as
** "fe80::1%eth0", the form toaddr reads back. [-0, +2, m]
*/
int socket_pushaddr (lua_State *L, const void *sa, unsigned int salen) {
  const struct sockaddr *a = (const struct sockaddr *)sa;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 16];
  switch (a->sa_family) {
    case AF_INET: {
      const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      lua_pushstring(L, host);
      lua_pushinteger(L, ntohs(in->sin_port));
      return 2;
    }
    case AF_INET6: {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      if (in6->sin6_scope_id != 0) {
        size_t n = strlen(host);
        char name[IF_NAMESIZE];
        if (if_indextoname(in6->sin6_scope_id, name) != NULL)
          snprintf(host + n, sizeof(host) - n, "%%%s", name);
        else snprintf(host + n, sizeof(host) - n, "%%%u", (unsigned)in6->sin6_scope_id);
      }
      lua_pushstring(L, host);
      lua_pushinteger(L, ntohs(in6->sin6_port));
      return 2;
    }
    case AF_UNIX: {
      const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
      size_t off = offsetof(struct sockaddr_un, sun_path), n = 0;
      if (salen > off) {
        n = salen - off;
        if (un->sun_path[0] != '\0') n = strnlen(un->sun_path, n);
      }
      lua_pushlstring(L, un->sun_path, n);
      lua_pushnil(L);
      return 2;
    }
    default:
      lua_pushnil(L);
      lua_pushnil(L);
      return 2;
  }
}

/*
** Fills ss with the numeric address host (nil: any address) and port of
** the family, or a Unix socket path. Returns 0, or an error message for
** an invalid address. [-0, +0, -]
*/
static const char *toaddr (int family, const char *host, size_t hostlen,
                           lua_Integer port, struct sockaddr_storage *ss,
                           socklen_t *len) {
  memset(ss, 0, sizeof(*ss));
  if (family == AF_UNIX) {
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    if (host == NULL || hostlen == 0) return "empty socket path";
    /* a path needs its terminating zero; an abstract name (a zero first)
       may fill sun_path, its length being given */
    if (hostlen > sizeof(un->sun_path) - (host[0] != '\0'))
      return "socket path too long";
    if (host[0] != '\0' && memchr(host, '\0', hostlen) != NULL)
      return "embedded zero in the socket path";
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, host, hostlen);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + hostlen
                       + (host[0] != '\0'));
    return NULL;
  }
  if (port < 0 || port > 65535) return "port out of range";
  if (host == NULL || *host == '\0') {
    if (family == AF_INET) {
      struct sockaddr_in *in = (struct sockaddr_in *)ss;
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_ANY);
      in->sin_port = htons((unsigned short)port);
      *len = sizeof(*in);
    } else {
      struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_any;
      in6->sin6_port = htons((unsigned short)port);
      *len = sizeof(*in6);
    }
    return NULL;
  } else {
    /* numeric only, so this never blocks; getaddrinfo knows scope ids */
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
      return "not a numeric address of that family";
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (family == AF_INET)
      ((struct sockaddr_in *)ss)->sin_port = htons((unsigned short)port);
    else ((struct sockaddr_in6 *)ss)->sin6_port = htons((unsigned short)port);
    return NULL;
  }
}

/*
** socket_checkaddr: the address of (family, host, port) at the arguments
** fam, fam+1, fam+2 of the function fname; raises naming the argument if
** it is not a valid numeric address. Returns the family.
*/
int socket_checkaddr (lua_State *L, int fam, struct sockaddr_storage *ss,
                      unsigned int *len) {
  int family = checkfamily(L, fam);
  size_t hostlen = 0;
  const char *host = luaL_optlstring(L, fam + 1, NULL, &hostlen);
  lua_Integer port = family == AF_UNIX ? 0 : luaL_optinteger(L, fam + 2, 0);
  const char *msg = toaddr(family, host, hostlen, port, ss, len);
  if (msg != NULL) luaL_argerror(L, msg[0] == 'p' ? fam + 2 : fam + 1, msg);
  return family;
}

/* toaddr for other files: NULL, or what is wrong ("port ..." or a host). */
const char *socket_toaddr (int family, const char *host, size_t hostlen,
                           lua_Integer port, struct sockaddr_storage *ss,
                           unsigned int *len) {
  return toaddr(family, host, hostlen, port, ss, len);
}

/* Describes an address for error messages ("127.0.0.1:80"). [-0, +1, m] */
const char *socket_describe (lua_State *L, const struct sockaddr_storage *ss,
                             unsigned int len) {
  socket_pushaddr(L, ss, len);
  if (lua_isnil(L, -1)) lua_pushfstring(L, "%s", lua_tostring(L, -2));
  else if (ss->ss_family == AF_INET6)
    lua_pushfstring(L, "[%s]:%d", lua_tostring(L, -2), (int)lua_tointeger(L, -1));
  else lua_pushfstring(L, "%s:%d", lua_tostring(L, -2), (int)lua_tointeger(L, -1));
  lua_replace(L, -3);
  lua_pop(L, 1);
  return lua_tostring(L, -1);
}

/* ---------- anchoring ---------- */

/*
** Makes the object at objidx (whose address is key) reachable from the
** loop at loopidx while it is active. [-0, +0, m]
*/
void socket_anchor (lua_State *L, int loopidx, void *key, int objidx) {
  objidx = lua_absindex(L, objidx);
  lua_getiuservalue(L, loopidx, LOOP_UV_WATCHERS);
  lua_pushvalue(L, objidx);
  lua_rawsetp(L, -2, key);
  lua_pop(L, 1);
}

/* The loop lets go of the object anchored under key. [-0, +0, -] */
void socket_unanchor (lua_State *L, int loopidx, void *key) {
  lua_getiuservalue(L, loopidx, LOOP_UV_WATCHERS);
  lua_pushnil(L);
  lua_rawsetp(L, -2, key);
  lua_pop(L, 1);
}

/* ---------- listening sockets ---------- */

typedef struct Listener {
  IoHook hook;             /* first: see internal.h */
  ev_io io;                /* accept readiness; started while serving */
  ev_timer retry;          /* restarts accepting after a resource error */
  Loop *loop;              /* ro: cache of LIS_UV_LOOP */
  int fd;                  /* owned; -1 once closed */
  int family;              /* ro */
  unsigned char nodelay;   /* ro: set TCP_NODELAY on accepted sockets */
  unsigned char serving;   /* rw: started and not closed (anchored) */
  unsigned char paused;    /* rw: waiting for the retry timer */
  unsigned char listening; /* rw: listen() was called (by the first start) */
  int backlog;             /* ro: for that listen() */
  lua_Integer accepted;    /* rw: connections accepted so far */
  lua_Integer failures;    /* rw: accept calls that failed and paused */
  dev_t dev;               /* ro: the Unix socket file bound, to unlink */
  ino_t ino;               /* ro: only that one (0: none) */
} Listener;

static Listener *check_listener (lua_State *L, int idx) {
  return (Listener *)luaL_checkudata(L, idx, AIO_LISTENER);
}

static Listener *check_open_listener (lua_State *L, int idx) {
  Listener *ls = check_listener(L, idx);
  if (ls->fd < 0) luaL_error(L, "attempt to use a closed Listener");
  return ls;
}

/* Stops the libev watchers of ls, if its loop still has them. */
static void listener_stop (Listener *ls) {
  if (!ls->loop->closed && ls->loop->ev != NULL) {
    ev_io_stop(ls->loop->ev, &ls->io);
    ev_timer_stop(ls->loop->ev, &ls->retry);
  }
  ls->paused = 0;
}

/* Closes the descriptor; the caller stopped the watchers. */
static void listener_closefd (lua_State *L, Listener *ls, int idx) {
  if (ls->fd < 0) return;
  close(ls->fd);
  ls->fd = -1;
  if (L != NULL && lua_getiuservalue(L, idx, LIS_UV_PATH) == LUA_TSTRING) {
    size_t n;
    struct stat st;
    const char *path = lua_tolstring(L, -1, &n);
    /* as Python 3.13: only the file this server bound, not what another
       server (or anyone) has put at the path since */
    if (n > 0 && path[0] != '\0' && ls->ino != 0 && stat(path, &st) == 0
        && st.st_ino == ls->ino && st.st_dev == ls->dev)
      unlink(path);
  }
  if (L != NULL) lua_pop(L, 1);
}

static void listener_loopclose (IoHook *h) {
  Listener *ls = (Listener *)h;
  listener_stop(ls);
  ls->serving = 0;
  if (ls->fd >= 0) {
    close(ls->fd);
    ls->fd = -1;
  }
}

/* Reports an accept failure through the exception handler. [-0, +0, e] */
static void report_accept (lua_State *L, Listener *ls, int lisidx, int err,
                           int pausing) {
  lua_createtable(L, 0, 4);
  if (pausing)
    lua_pushfstring(L, "accept failed (%s); accepting again in %f s",
                    strerror(err), ACCEPT_RETRY_DELAY);
  else lua_pushfstring(L, "accept failed (%s)", strerror(err));
  lua_setfield(L, -2, "message");
  socket_pusherror(L, err, "accept");
  lua_setfield(L, -2, "error");
  lua_pushvalue(L, lisidx);
  lua_setfield(L, -2, "listener");
  lua_getiuservalue(L, lisidx, LIS_UV_LOOP);
  lua_setfield(L, -2, "loop");
  aio_report(L, ls->loop, -1);
  lua_pop(L, 1);
}

/* Whether an accept error concerns one connection only (try the next). */
static int transient (int err) {
  switch (err) {
    case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP:
    case ENETUNREACH: case EPERM: case EINTR:
      return 1;
    default:
      return 0;
  }
}

/*
** accept_some(ls, loop): accepts the connections waiting on ls and queues
** handler(stream) for each. A Stream is made before each accept so that a
** memory error cannot leave a descriptor without an owner. Runs protected
** from the accept watcher, as a closure over the Runtime.
*/
static int accept_some (lua_State *L) {
  Listener *ls = (Listener *)lua_touserdata(L, 1);
  int i, lisidx, kind = ls->family == AF_UNIX ? STREAM_UNIX : STREAM_TCP;
  lua_settop(L, 2);
  lua_getiuservalue(L, 2, LOOP_UV_WATCHERS);
  lua_rawgetp(L, -1, ls);
  lisidx = lua_gettop(L);
  if (lua_touserdata(L, lisidx) != (void *)ls) return 0;
  lua_getiuservalue(L, lisidx, LIS_UV_HANDLER);  /* lisidx + 1 */
  for (i = 0; i < ACCEPT_MAX && ls->fd >= 0 && ls->serving; i++) {
    int fd, err;
    struct Stream *s = stream_new(L, 2, kind);
    fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      err = errno;
      lua_pop(L, 1);
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (transient(err)) continue;
      /* out of descriptors or memory: pause instead of spinning */
      ls->failures++;
      ev_io_stop(ls->loop->ev, &ls->io);
      ev_timer_set(&ls->retry, ACCEPT_RETRY_DELAY, 0.);
      ev_timer_start(ls->loop->ev, &ls->retry);
      ls->paused = 1;
      report_accept(L, ls, lisidx, err, 1);
      break;
    }
    if (ls->nodelay && kind == STREAM_TCP) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    stream_setfd(s, fd);
    stream_keep_names(s);  /* from the start, as Python's transport */
    ls->accepted++;
    loop_ready_push(L, ls->loop, 2, lisidx + 1, -1);
    lua_pop(L, 1);
  }
  return 0;
}

static void accept_cb (struct ev_loop *ev, ev_io *w, int revents) {
  Listener *ls = (Listener *)w->data;
  lua_State *L = ls->loop->L;
  (void)ev; (void)revents;
  if (L == NULL) return;
  ioorder_event(ls->loop);
  /* the accept function is a user value: find the listener first */
  lua_getiuservalue(L, 1, LOOP_UV_WATCHERS);
  if (lua_rawgetp(L, -1, ls) != LUA_TUSERDATA) { lua_pop(L, 2); return; }
  lua_getiuservalue(L, -1, LIS_UV_ACCEPT);
  lua_replace(L, -3);
  lua_pop(L, 1);
  lua_pushlightuserdata(L, ls);
  lua_pushvalue(L, 1);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "asyncio: error while accepting connections: %s\n",
            lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

static void retry_cb (struct ev_loop *ev, ev_timer *w, int revents) {
  Listener *ls = (Listener *)w->data;
  (void)revents;
  ls->paused = 0;
  if (ls->serving && ls->fd >= 0) ev_io_start(ev, &ls->io);
}

/*
** Pushes a new closed Listener of the loop at loopidx for sockets of
** family, handing connections to the function at handleridx. [-0, +1, m]
*/
struct Listener *socket_listener_new (lua_State *L, int loopidx, int family,
                                      lua_Integer backlog, int nodelay,
                                      int handleridx) {
  Listener *ls;
  loopidx = lua_absindex(L, loopidx);
  handleridx = lua_absindex(L, handleridx);
  ls = (Listener *)lua_newuserdatauv(L, sizeof(Listener), LIS_NUV);
  memset(ls, 0, sizeof(*ls));
  ls->hook.loopclose = listener_loopclose;
  ls->fd = -1;
  ls->family = family;
  ls->loop = (Loop *)lua_touserdata(L, loopidx);
  ls->nodelay = (unsigned char)nodelay;
  ls->backlog = backlog > 0x7fff ? 0x7fff : backlog < 0 ? 0 : (int)backlog;
  luaL_setmetatable(L, AIO_LISTENER);
  lua_pushvalue(L, loopidx);
  lua_setiuservalue(L, -2, LIS_UV_LOOP);
  lua_pushvalue(L, handleridx);
  lua_setiuservalue(L, -2, LIS_UV_HANDLER);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushcclosure(L, accept_some, 1);
  lua_setiuservalue(L, -2, LIS_UV_ACCEPT);
  return ls;
}

/*
** The end of a listener's making, given its bound socket fd (owned from
** then on): a Unix socket's file is noted, to be unlinked on close (its
** path is LIS_UV_PATH, unless keep_path); unless defer, the socket
** listens. Returns 0, or pushes nil
** and an OSError and returns 2 (the socket is closed then). [-0, +(0|2), m]
*/
int socket_listener_finish (lua_State *L, struct Listener *ls, int lisidx,
                            int fd, int keep_path, int defer) {
  lisidx = lua_absindex(L, lisidx);
  ls->fd = fd;
  if (ls->family == AF_UNIX) {
    struct stat st;
    size_t n;
    const char *path = NULL;
    if (lua_getiuservalue(L, lisidx, LIS_UV_PATH) == LUA_TSTRING)
      path = lua_tolstring(L, -1, &n);
    if (path != NULL && n > 0 && path[0] != '\0' && stat(path, &st) == 0) {
      ls->dev = st.st_dev;
      ls->ino = st.st_ino;
    }
    lua_pop(L, 1);
    if (keep_path) {  /* Python 3.13's cleanup_socket = False */
      lua_pushnil(L);
      lua_setiuservalue(L, lisidx, LIS_UV_PATH);
    }
  }
  if (!defer) {
    if (listen(ls->fd, ls->backlog) != 0) {
      int err = errno;
      listener_closefd(L, ls, lisidx);
      return failure(L, err, "listen");
    }
    ls->listening = 1;
  }
  ev_io_init(&ls->io, accept_cb, ls->fd, EV_READ);
  ls->io.data = ls;
  ev_timer_init(&ls->retry, retry_cb, 0., 0.);
  ls->retry.data = ls;
  return 0;
}

/*
** core.listen(loop, family, host, port, backlog, reuse_port, nodelay,
** handler [, keep_path [, defer]]) -> Listener, or nil and an OSError.
** family is "inet", "inet6" or "unix" (host is then the path, unlinked on
** close unless keep_path); host nil binds every address. The listener
** accepts once started; with defer, its socket only listens then too, as
** Python's (a server made with start_serving = false refuses connections
** until it starts).
*/
static int core_listen (lua_State *L) {
  struct sockaddr_storage ss;
  socklen_t len;
  int family, reuse_port, nodelay, keep_path, defer, one = 1, fd;
  lua_Integer backlog;
  Listener *ls;
  loop_checkopen(L, 1);
  family = socket_checkaddr(L, 2, &ss, &len);
  backlog = luaL_optinteger(L, 5, 100);
  reuse_port = lua_toboolean(L, 6);
  nodelay = lua_toboolean(L, 7);
  keep_path = lua_toboolean(L, 9);
  defer = lua_toboolean(L, 10);
  luaL_checktype(L, 8, LUA_TFUNCTION);
  lua_settop(L, 8);
  ls = socket_listener_new(L, 1, family, backlog, nodelay, 8);  /* 9 */
  if (family == AF_UNIX) {
    struct stat st;
    const char *path = ((struct sockaddr_un *)&ss)->sun_path;
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, 9, LIS_UV_PATH);
    /* a socket file left by a previous server is removed, as in Python */
    if (path[0] != '\0' && stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
      unlink(path);
  }
  fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failure(L, errno, "socket");
  ls->fd = fd;
  if (family != AF_UNIX)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (reuse_port
      && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    int err = errno;
    listener_closefd(NULL, ls, 0);
    return failure(L, err, "setsockopt SO_REUSEPORT");
  }
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
    int err = errno;
    const char *what;
    listener_closefd(NULL, ls, 0);
    lua_pushnil(L);
    lua_setiuservalue(L, 9, LIS_UV_PATH);  /* not ours to unlink */
    what = lua_pushfstring(L, "bind %s", socket_describe(L, &ss, len));
    return failure(L, err, what);
  }
  if (socket_listener_finish(L, ls, 9, fd, keep_path, defer) != 0) return 2;
  lua_settop(L, 9);
  return 1;
}

/* listener:start() -> true, or nil and an OSError: listens (the first
   time) and begins accepting. */
static int listener_start (lua_State *L) {
  Listener *ls = check_open_listener(L, 1);
  lua_settop(L, 1);
  lua_pushboolean(L, 1);
  if (ls->serving) return 1;
  if (ls->loop->closed) return aio_loop_closed(L);
  if (!ls->listening) {
    if (listen(ls->fd, ls->backlog) != 0) return failure(L, errno, "listen");
    ls->listening = 1;
  }
  lua_getiuservalue(L, 1, LIS_UV_LOOP);
  socket_anchor(L, 3, ls, 1);
  ev_io_start(ls->loop->ev, &ls->io);
  ls->serving = 1;
  lua_settop(L, 2);
  return 1;
}

/* listener:close(): stops accepting and closes the socket. Idempotent. */
static int listener_close (lua_State *L) {
  Listener *ls = check_listener(L, 1);
  lua_settop(L, 1);
  listener_stop(ls);
  if (ls->serving) {
    ls->serving = 0;
    lua_getiuservalue(L, 1, LIS_UV_LOOP);
    if (!ls->loop->closed) socket_unanchor(L, 2, ls);
  }
  listener_closefd(L, ls, 1);
  return 0;
}

static int listener_is_serving (lua_State *L) {
  Listener *ls = check_listener(L, 1);
  lua_pushboolean(L, ls->serving && ls->fd >= 0);
  return 1;
}

/* listener:getsockname() -> host, port (Unix: path, nil) */
static int listener_getsockname (lua_State *L) {
  Listener *ls = check_open_listener(L, 1);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(ls->fd, (struct sockaddr *)&ss, &len) != 0)
    return failure(L, errno, "getsockname");
  return socket_pushaddr(L, &ss, len);
}

/* listener:fileno() -> fd, or -1 once closed */
static int listener_fileno (lua_State *L) {
  lua_pushinteger(L, check_listener(L, 1)->fd);
  return 1;
}

/* listener:family() -> "inet" | "inet6" | "unix" */
static int listener_family (lua_State *L) {
  Listener *ls = check_listener(L, 1);
  lua_pushstring(L, ls->family == AF_INET ? "inet"
                    : ls->family == AF_INET6 ? "inet6" : "unix");
  return 1;
}

/* listener:stats() -> accepted, failures, paused */
static int listener_stats (lua_State *L) {
  Listener *ls = check_listener(L, 1);
  lua_pushinteger(L, ls->accepted);
  lua_pushinteger(L, ls->failures);
  lua_pushboolean(L, ls->paused);
  return 3;
}

static int listener_gc (lua_State *L) {
  Listener *ls = (Listener *)aio_checkobj(L, 1, AIO_TLISTENER, "Listener");
  listener_stop(ls);
  if (ls->fd >= 0) aio_warn_unclosed(L, "Server socket", ls->fd);
  listener_closefd(L, ls, 1);
  return 0;
}

static int listener_tostring (lua_State *L) {
  Listener *ls = check_listener(L, 1);
  if (ls->fd < 0) lua_pushliteral(L, "<Listener closed>");
  else lua_pushfstring(L, "<Listener fd=%d%s>", ls->fd,
                       ls->serving ? " serving" : "");
  return 1;
}

/* ---------- small utilities ---------- */

/*
** core.nofile([soft]) -> soft, hard: the limit on open descriptors,
** after setting the soft one (for tests of running out of descriptors).
*/
static int core_nofile (lua_State *L) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return failure(L, errno, "getrlimit");
  if (!lua_isnoneornil(L, 1)) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0 && (rlim_t)n <= rl.rlim_max, 1, "out of range");
    rl.rlim_cur = (rlim_t)n;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return failure(L, errno, "setrlimit");
  }
  lua_pushinteger(L, (lua_Integer)rl.rlim_cur);
  lua_pushinteger(L, (lua_Integer)rl.rlim_max);
  return 2;
}

/* core.open_fds() -> the number of open descriptors of this process */
static int core_open_fds (lua_State *L) {
  struct rlimit rl;
  int fd, n = 0;
  int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1 << 20
            ? (int)rl.rlim_cur : 1 << 20;
  for (fd = 0; fd < max; fd++)
    if (fcntl(fd, F_GETFD) != -1) n++;
  lua_pushinteger(L, n);
  return 1;
}

/* core.strerror(errno) -> code, message */
static int core_strerror (lua_State *L) {
  int err = (int)luaL_checkinteger(L, 1);
  lua_pushstring(L, socket_errname(err));
  lua_pushstring(L, strerror(err));
  return 2;
}

int socket_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"start", listener_start},
    {"close", listener_close},
    {"is_serving", listener_is_serving},
    {"getsockname", listener_getsockname},
    {"fileno", listener_fileno},
    {"family", listener_family},
    {"stats", listener_stats},
    {NULL, NULL}
  };
  static const luaL_Reg meta[] = {
    {"__gc", listener_gc},
    {"__close", listener_close},
    {"__tostring", listener_tostring},
    {NULL, NULL}
  };
  static const luaL_Reg funcs[] = {
    {"listen", core_listen},
    {"nofile", core_nofile},
    {"open_fds", core_open_fds},
    {"strerror", core_strerror},
    {NULL, NULL}
  };
  aio_newclass(L, AIO_TLISTENER, AIO_LISTENER, methods, meta);
  aio_setfuncs(L, funcs);
  /* the longest Unix socket path, for the Lua layer's argument checks */
  lua_pushinteger(L, (lua_Integer)sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
  lua_setfield(L, 1, "unix_path_max");
  return 0;
}
