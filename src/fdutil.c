/*
** fdutil.c: file descriptors as plain integers: the check every function
** taking one shares, and the few raw operations (pipe, socketpair, read,
** write, close, dup) that tests and examples of add_reader/add_writer use.
**
** Anchoring rule: nothing here points to a Lua value or a libev watcher;
** the descriptors belong to whoever asked for them.
*/
#define _GNU_SOURCE  /* dup3 */
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>

#include "internal.h"

/* The descriptor at arg: an integer an int can hold, not negative. */
int aio_checkfd (lua_State *L, int arg) {
  lua_Integer fd = luaL_checkinteger(L, arg);
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, arg, "invalid file descriptor");
  return (int)fd;
}

/*
** Small fd utilities for tests and examples of add_reader/add_writer:
** core.pipe() -> rfd, wfd (non-blocking, close-on-exec), core.fdwrite(fd, s)
** -> bytes written or nil, message; core.fdread(fd, n) -> string (""
** at EOF) or nil, message; core.fdclose(fd); core.getpid();
** core.socketpair("stream"|"dgram") -> fd1, fd2 (Unix domain, non-blocking,
** close-on-exec); core.fddup2(fd, onto), to put a socket whose queue fills
** up deterministically under a UDP endpoint.
*/
static int core_pipe (lua_State *L) {
  int fds[2], i;
  if (pipe(fds) != 0) return luaL_fileresult(L, 0, "pipe");
  for (i = 0; i < 2; i++) {
    fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
    fcntl(fds[i], F_SETFD, FD_CLOEXEC);
  }
  lua_pushinteger(L, fds[0]);
  lua_pushinteger(L, fds[1]);
  return 2;
}

static int core_socketpair (lua_State *L) {
  static const char *const kinds[] = {"stream", "dgram", NULL};
  int type = luaL_checkoption(L, 1, NULL, kinds) == 0 ? SOCK_STREAM : SOCK_DGRAM;
  int fds[2];
  if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    return luaL_fileresult(L, 0, "socketpair");
  lua_pushinteger(L, fds[0]);
  lua_pushinteger(L, fds[1]);
  return 2;
}

static int core_fddup2 (lua_State *L) {
  int fd = aio_checkfd(L, 1), onto = aio_checkfd(L, 2);
  return luaL_fileresult(L, dup3(fd, onto, O_CLOEXEC) >= 0, NULL);
}

static int core_fdwrite (lua_State *L) {
  size_t len;
  int fd = aio_checkfd(L, 1);
  const char *s = luaL_checklstring(L, 2, &len);
  ssize_t n = write(fd, s, len);
  if (n < 0) return luaL_fileresult(L, 0, NULL);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int core_fdread (lua_State *L) {
  char buf[4096];
  int fd = aio_checkfd(L, 1);
  lua_Integer want = luaL_optinteger(L, 2, sizeof(buf));
  ssize_t n;
  luaL_argcheck(L, want > 0, 2, "must be positive");
  n = read(fd, buf, want < (lua_Integer)sizeof(buf) ? (size_t)want : sizeof(buf));
  if (n < 0) return luaL_fileresult(L, 0, NULL);
  lua_pushlstring(L, buf, (size_t)n);
  return 1;
}

static int core_fdclose (lua_State *L) {
  return luaL_fileresult(L, close(aio_checkfd(L, 1)) == 0, NULL);
}

static int core_getpid (lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

int fdutil_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"pipe", core_pipe},
    {"fdwrite", core_fdwrite},
    {"fdread", core_fdread},
    {"fdclose", core_fdclose},
    {"socketpair", core_socketpair},
    {"fddup2", core_fddup2},
    {"getpid", core_getpid},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  return 0;
}
