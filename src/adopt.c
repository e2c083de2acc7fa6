/*
** adopt.c: streams and servers over sockets the application made, the
** sock option of open_connection, start_server and their Unix kin (a
** socket from another library, or a listening one systemd passed on).
**
** Anchoring rule: what is made here is a Stream or a Listener as
** core.connect and core.listen make them, anchored by their rules; the
** descriptor is theirs from the moment they take it.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/*
** The family of the socket fd if it is a stream socket this library
** serves (TCP over IPv4 or IPv6, or Unix), else 0 with *why saying what
** it is instead.
*/
static int stream_socket_family (int fd, const char **why) {
  int type = 0;
  socklen_t tlen = sizeof(type);
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0) {
    *why = errno == ENOTSOCK ? "not a socket" : strerror(errno);
    return 0;
  }
  if (type != SOCK_STREAM) {
    *why = "not a stream socket";
    return 0;
  }
  memset(&ss, 0, sizeof(ss));
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
    *why = strerror(errno);
    return 0;
  }
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX) {
    *why = "a socket of a family other than inet, inet6 and unix";
    return 0;
  }
  return ss.ss_family;
}

/*
** core.sock_family(fd) -> "inet" | "inet6" | "unix", or nil and what fd
** is instead: the Lua layer's check of a sock option, at the call.
*/
static int core_sock_family (lua_State *L) {
  const char *why = NULL;
  int family = stream_socket_family(aio_checkfd(L, 1), &why);
  if (family == 0) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushstring(L, family == AF_INET ? "inet" : family == AF_INET6 ? "inet6" : "unix");
  return 1;
}

/* Makes fd non-blocking and close-on-exec, as the sockets we open are;
   returns 0 or an errno. */
static int take_fd (int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return errno;
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return errno;
  return 0;
}

/*
** Pushes nil and an OSError for err, on the socket fd the caller keeps.
** [-0, +2, m]
*/
static int refuse (lua_State *L, int err, int fd) {
  lua_pushnil(L);
  socket_pusherror(L, err, lua_pushfstring(L, "sock %d", fd));
  return 2;
}

/*
** core.adopt_stream(loop, fd, nodelay) -> Stream, or nil and an OSError:
** a stream over the connected stream socket fd, which it owns from then
** on (closing the writer closes it). fd may not be the socket of another
** stream of the loop: two would read the same bytes.
*/
static int core_adopt_stream (lua_State *L) {
  Loop *loop = loop_checkopen(L, 1);
  int fd = aio_checkfd(L, 2), nodelay = lua_toboolean(L, 3), family, err;
  const char *why = NULL;
  struct sockaddr_storage peer;
  socklen_t len = sizeof(peer);
  struct Stream *s;
  if ((family = stream_socket_family(fd, &why)) == 0)
    return luaL_error(L, "option 'sock': %s", why);
  if (stream_has_fd(loop, fd))
    return luaL_error(L, "option 'sock': descriptor %d is a stream of this loop already", fd);
  if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0) return refuse(L, errno, fd);
  if ((err = take_fd(fd)) != 0) return refuse(L, err, fd);
  lua_settop(L, 3);
  s = stream_new(L, 1, family == AF_UNIX ? STREAM_UNIX : STREAM_TCP);
  stream_setfd(s, fd);
  if (nodelay && family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  stream_keep_names(s);
  return 1;
}

/*
** core.listen_fd(loop, fd, backlog, nodelay, handler [, keep_path [,
** defer]]) -> Listener, or nil and an OSError: core.listen for the bound
** stream socket fd, owned from then on. A Unix socket's file is unlinked
** on close unless keep_path, as when the server bound it.
*/
static int core_listen_fd (lua_State *L) {
  int fd, family, err, keep_path, defer;
  const char *why = NULL;
  lua_Integer backlog;
  struct Listener *ls;
  loop_checkopen(L, 1);
  fd = aio_checkfd(L, 2);
  backlog = luaL_optinteger(L, 3, 100);
  luaL_checktype(L, 5, LUA_TFUNCTION);
  keep_path = lua_toboolean(L, 6);
  defer = lua_toboolean(L, 7);
  if ((family = stream_socket_family(fd, &why)) == 0)
    return luaL_error(L, "option 'sock': %s", why);
  if ((err = take_fd(fd)) != 0) return refuse(L, err, fd);
  lua_settop(L, 5);
  ls = socket_listener_new(L, 1, family, backlog, lua_toboolean(L, 4), 5);  /* 6 */
  if (family == AF_UNIX) {
    struct sockaddr_un sun;
    socklen_t len = sizeof(sun);
    memset(&sun, 0, sizeof(sun));
    if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0
        && len > offsetof(struct sockaddr_un, sun_path) && sun.sun_path[0] != '\0') {
      lua_pushstring(L, sun.sun_path);
      lua_setiuservalue(L, 6, LIS_UV_PATH);  /* for the unlink at close */
    }
  }
  if (socket_listener_finish(L, ls, 6, fd, keep_path, defer) != 0) return 2;
  lua_settop(L, 6);
  return 1;
}

int adopt_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"sock_family", core_sock_family},
    {"adopt_stream", core_adopt_stream},
    {"listen_fd", core_listen_fd},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  return 0;
}
