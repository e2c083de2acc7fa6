/*
** process.c: child processes (API.md §9), the C half of subprocess.lua:
** spawning a program with its standard streams redirected, streams over
** the parent's ends of the pipes, learning when the child exits, reaping
** it and sending it signals.
**
** Anchoring rule: nothing here is anchored by C: spawn returns plain
** descriptors and numbers, the pipe streams are ordinary Streams (see
** stream.c), and the Lua layer watches the exit descriptor with
** loop:add_reader, whose watcher holds the callback and so the Process.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stream.h"

/* What a child's standard stream is connected to (subprocess.lua). */
enum { IO_INHERIT = 0, IO_PIPE, IO_DEVNULL, IO_STDOUT, IO_FD };

static int raise_oserror (lua_State *L, int err, const char *what) {
  socket_pusherror(L, err, what);
  return lua_error(L);
}

/* The strings of the list at idx as a NULL-terminated array in a userdata
   (so that an error while building it leaks nothing). [-0, +1, e] */
static char **string_array (lua_State *L, int idx, int argn, const char *fname) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);
  char **v = (char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, idx, i);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "bad argument #%d to '%s' (item %I is a %s, not a string)",
                 argn, fname, i, luaL_typename(L, -1));
    v[i - 1] = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);  /* the list keeps the string alive */
  }
  v[n] = NULL;
  return v;
}

/* Closes every descriptor of fds[] that is open. */
static void close_all (int *fds, int n) {
  int i;
  for (i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
}

/*
** In the child: closes every descriptor from first on but keep, as
** Python's close_fds does, so the program inherits only 0, 1 and 2.
*/
static void close_from (int first, int keep) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, first, keep - 1, 0) == 0
      && syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
    return;
#endif
  {
    long fd, max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (fd = first; fd < max; fd++)
      if (fd != keep) close((int)fd);
  }
}

/* Where the child failed: what the error is about (its filename). */
enum { FAIL_EXEC = 0, FAIL_CWD, FAIL_SETUP };

/*
** In the child, between fork and exec: only async-signal-safe calls.
** Connects 0, 1 and 2, restores the signals the parent changed, and tries
** each candidate path of the program in turn, as Python's _posixsubprocess
** does; on failure writes where it failed and errno to errfd, and exits.
*/
static void child (int in, int out, int err, int errfd, const char *cwd,
                   int new_session, char **candidates, char **argv,
                   char **envp) {
  int report[2] = {FAIL_SETUP, 0}, i;
  sigset_t none;
  /* dup2 of a descriptor onto itself keeps its close-on-exec: move the
     ends that are already at 0..2 out of the way first */
  if (in >= 0 && in < 3) in = fcntl(in, F_DUPFD_CLOEXEC, 3);
  if (out >= 0 && out < 3) out = fcntl(out, F_DUPFD_CLOEXEC, 3);
  if (err >= 0 && err < 3) err = fcntl(err, F_DUPFD_CLOEXEC, 3);
  if ((in >= 0 && dup2(in, 0) < 0) || (out >= 0 && dup2(out, 1) < 0)
      || (err >= 0 && dup2(err, 2) < 0))
    goto fail;
  close_from(3, errfd);
  /* as Python's restore_signals: what the runtime ignores, the child must
     not; and no signal stays blocked (libev may block some) */
  signal(SIGPIPE, SIG_DFL);
  signal(SIGXFSZ, SIG_DFL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (new_session && setsid() < 0) goto fail;  /* Python's start_new_session */
  if (cwd != NULL && chdir(cwd) != 0) {
    report[0] = FAIL_CWD;
    goto fail;
  }
  /* the first error that is not "no such file" is the one to report */
  report[0] = FAIL_EXEC;
  report[1] = ENOENT;
  for (i = 0; candidates[i] != NULL; i++) {
    execve(candidates[i], argv, envp != NULL ? envp : environ);
    if (errno != ENOENT && errno != ENOTDIR && report[1] == ENOENT)
      report[1] = errno;
  }
  errno = report[1];
fail:
  report[1] = errno;
  while (write(errfd, report, sizeof(report)) < 0 && errno == EINTR) {}
  _exit(127);
}

/*
** The paths to try for file, as a NULL-terminated array in a userdata,
** their strings pushed below it: file itself if it has a '/', else file in
** each directory of the PATH of envp (or of this process; "/bin:/usr/bin"
** without one), as Python's os.get_exec_path. [-0, +(n+1), m]
*/
static char **exec_candidates (lua_State *L, const char *file, char **envp) {
  const char *path = NULL, *p;
  char **v;
  int n = 0, i, first = lua_gettop(L) + 1;
  if (strchr(file, '/') != NULL) {
    lua_pushstring(L, file);
    n = 1;
  } else {
    if (envp != NULL) {
      for (i = 0; envp[i] != NULL; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0) path = envp[i] + 5;
    } else path = getenv("PATH");
    if (path == NULL) path = "/bin:/usr/bin";
    for (p = path; ; p++) {
      const char *end = strchr(p, ':');
      size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
      luaL_checkstack(L, 2, "too many directories in PATH");
      if (len == 0) lua_pushstring(L, file);  /* empty: the current one */
      else {
        lua_pushlstring(L, p, len);
        lua_pushfstring(L, "%s/%s", lua_tostring(L, -1), file);
        lua_remove(L, -2);
      }
      n++;
      if (end == NULL) break;
      p = end;
    }
  }
  v = (char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
  for (i = 0; i < n; i++) v[i] = (char *)lua_tostring(L, first + i);
  v[n] = NULL;
  return v;
}

/* Opens /dev/null for mode (O_RDONLY or O_WRONLY), close-on-exec. */
static int open_null (int mode) {
  return open("/dev/null", mode | O_CLOEXEC);
}

/*
** core.spawn(file, argv, env|nil, cwd|nil, stdin, stdout, stderr [, fd0,
** fd1, fd2 [, new_session]]) -> pid, pidfd|nil, infd|nil, outfd|nil,
** errfd|nil. new_session: the child leads a new session (setsid). The
** modes are IO_*, and an IO_FD stream is connected to descriptor fdN;
** the descriptors returned are the parent's ends of the pipes,
** non-blocking and close-on-exec. pidfd becomes readable when the child
** exits (nil where the kernel has no pidfd_open). A program that cannot
** be started raises OSError here, in the parent.
*/
static int core_spawn (lua_State *L) {
  const char *file = luaL_checkstring(L, 1);
  const char *cwd = luaL_optstring(L, 4, NULL);
  int new_session = lua_toboolean(L, 11);
  int modes[3], i, report[2] = {FAIL_EXEC, 0};
  int fds[6];  /* the child's 0..2, then the parent's ends */
  int errpipe[2] = {-1, -1}, pidfd = -1, e = 0;
  char **argv, **envp = NULL, **candidates;
  pid_t pid;
  ssize_t got;
  luaL_checktype(L, 2, LUA_TTABLE);
  argv = string_array(L, 2, 2, "spawn");
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    envp = string_array(L, 3, 3, "spawn");
  }
  for (i = 0; i < 3; i++) modes[i] = (int)luaL_checkinteger(L, 5 + i);
  candidates = exec_candidates(L, file, envp);
  for (i = 0; i < 6; i++) fds[i] = -1;
  /* fds[i]: what the child gets as i; fds[3 + i]: the parent's end */
  for (i = 0; i < 3 && e == 0; i++) {
    int p[2];
    switch (modes[i]) {
      case IO_PIPE:
        if (pipe2(p, O_CLOEXEC) != 0) { e = errno; break; }
        fds[i] = i == 0 ? p[0] : p[1];
        fds[3 + i] = i == 0 ? p[1] : p[0];
        fcntl(fds[3 + i], F_SETFL, fcntl(fds[3 + i], F_GETFL) | O_NONBLOCK);
        break;
      case IO_DEVNULL:
        if ((fds[i] = open_null(i == 0 ? O_RDONLY : O_WRONLY)) < 0) e = errno;
        break;
      case IO_FD:  /* a descriptor of ours, given as fds 8..10 */
        fds[i] = fcntl((int)luaL_checkinteger(L, 8 + i), F_DUPFD_CLOEXEC, 0);
        if (fds[i] < 0) e = errno;
        break;
      case IO_STDOUT:  /* stderr only: the child's stdout */
        fds[i] = fds[1] >= 0 ? dup(fds[1]) : dup(1);
        if (fds[i] < 0) e = errno;
        else fcntl(fds[i], F_SETFD, FD_CLOEXEC);
        break;
      default: break;  /* inherit */
    }
  }
  if (e == 0 && pipe2(errpipe, O_CLOEXEC) != 0) e = errno;
  if (e != 0) {
    close_all(fds, 6);
    return raise_oserror(L, e, "spawn");
  }
  pid = fork();
  if (pid == 0)
    child(fds[0], fds[1], fds[2], errpipe[1], cwd, new_session, candidates,
          argv, envp);
  e = pid < 0 ? errno : 0;
  close(errpipe[1]);
  close_all(fds, 3);
  if (pid > 0) {  /* the exec's outcome: EOF if it succeeded */
    do got = read(errpipe[0], report, sizeof(report));
    while (got < 0 && errno == EINTR);
    e = got == (ssize_t)sizeof(report) ? report[1] : 0;
    if (e != 0) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    }
  }
  close(errpipe[0]);
  if (e != 0) {  /* OSError with Python's filename: the program, or cwd */
    const char *filename = report[0] == FAIL_CWD ? cwd : file;
    close_all(fds + 3, 3);
    socket_pusherror(L, e, filename);
    if (report[0] != FAIL_SETUP) {
      lua_pushstring(L, filename);
      lua_setfield(L, -2, "filename");
    }
    return lua_error(L);
  }
#ifdef SYS_pidfd_open
  pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
#endif
  lua_pushinteger(L, pid);
  if (pidfd >= 0) lua_pushinteger(L, pidfd);
  else lua_pushnil(L);
  for (i = 3; i < 6; i++)
    if (fds[i] >= 0) lua_pushinteger(L, fds[i]);
    else lua_pushnil(L);
  return 5;
}

/*
** core.reap(pid [, block]) -> returncode, or nil while the child runs
** (block: wait for it): its exit status, or minus the signal that killed
** it, as Python reports them.
*/
static int core_reap (lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int status, flags = lua_toboolean(L, 2) ? 0 : WNOHANG;
  pid_t r;
  luaL_argcheck(L, pid > 0, 1, "not a process id");  /* never waitpid(-1) */
  do r = waitpid(pid, &status, flags);
  while (r < 0 && errno == EINTR);
  if (r == 0) return 0;
  if (r < 0) {
    if (errno != ECHILD) return raise_oserror(L, errno, "waitpid");
    lua_pushinteger(L, 255);  /* reaped by someone else: status unknown */
    return 1;
  }
  if (WIFSIGNALED(status)) lua_pushinteger(L, -WTERMSIG(status));
  else lua_pushinteger(L, WEXITSTATUS(status));
  return 1;
}

/* core.file_fd(file) -> the descriptor of a Lua file, its buffer flushed */
static int core_file_fd (lua_State *L) {
  luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
  if (p->closef == NULL) return luaL_error(L, "attempt to use a closed file");
  fflush(p->f);
  lua_pushinteger(L, fileno(p->f));
  return 1;
}

/* core.kill(pid, sig): sig is a number or a name ("SIGTERM", "KILL"). */
static int core_kill (lua_State *L) {
  pid_t pid = (pid_t)luaL_checkinteger(L, 1);
  int sig = aio_checksignal(L, 2, 0);
  luaL_argcheck(L, pid > 0, 1, "not a process id");
  if (kill(pid, sig) != 0) return raise_oserror(L, errno, "kill");
  return 0;
}

/*
** core.pipe_stream(loop, fd [, towrite]) -> Stream over a pipe end the
** loop now owns; the write end of a child's stdin (towrite) is watched for
** the child closing its end.
** The first one makes the process ignore SIGPIPE, as Python does at
** start-up, so that writing to a child that exited raises BrokenPipeError
** instead of killing us; a handler the application set is left alone.
*/
static int core_pipe_stream (lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 2);
  int towrite = lua_toboolean(L, 3);
  struct sigaction sa;
  Stream *s;
  loop_checkopen(L, 1);
  /* libev aborts on a watcher whose descriptor is not open */
  luaL_argcheck(L, fd >= 0 && fd <= INT_MAX && fcntl((int)fd, F_GETFD) != -1, 2,
                "not an open file descriptor");
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
  s = (Stream *)stream_new(L, 1, STREAM_PIPE);
  stream_setfd(s, (int)fd);
  if (towrite) stream_watch_hangup(L, s, -1);
  return 1;
}

int process_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"spawn", core_spawn},
    {"reap", core_reap},
    {"kill", core_kill},
    {"file_fd", core_file_fd},
    {"pipe_stream", core_pipe_stream},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  lua_pushinteger(L, ESRCH);  /* for ProcessLookupError's errno */
  lua_setfield(L, -2, "ESRCH");
  return 0;
}
