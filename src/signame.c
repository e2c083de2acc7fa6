/*
** signame.c: signals named as Python's signal module names them ("SIGINT",
** or "INT") or numbered, checked for what the caller will do with them:
** catch one (add_signal_handler) or send one (Process:send_signal).
**
** Anchoring rule: nothing here points to a Lua value or a libev watcher.
*/
#include <signal.h>
#include <string.h>

#include "internal.h"

static const struct { const char *name; int num; } signal_names[] = {
  {"SIGHUP", SIGHUP}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT},
  {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2}, {"SIGPIPE", SIGPIPE},
  {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGCHLD", SIGCHLD},
  {"SIGCONT", SIGCONT}, {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN},
  {"SIGTTOU", SIGTTOU}, {"SIGWINCH", SIGWINCH}, {"SIGURG", SIGURG},
  {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ}, {"SIGVTALRM", SIGVTALRM},
  {"SIGPROF", SIGPROF}, {"SIGIO", SIGIO}, {"SIGSYS", SIGSYS},
  {NULL, 0}
};

/*
** The signal at arg, a number or a name such as "SIGINT" or "INT", or -1
** with *why saying what is wrong. One to catch (tocatch) may be neither
** SIGKILL, SIGSTOP nor 0; one to send may, 0 being kill's probe of a
** process. [-0, +(0|1), m]
*/
static int signal_lookup (lua_State *L, int arg, int tocatch, const char **why) {
  if (lua_type(L, arg) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, arg, &len);
    int i;
    if (strlen(s) != len) {  /* "SIGUSR1\0x" is no signal's name */
      *why = "embedded zero in the signal name";
      return -1;
    }
    for (i = 0; signal_names[i].name != NULL; i++)
      if (strcmp(s, signal_names[i].name) == 0
          || strcmp(s, signal_names[i].name + 3) == 0)
        return signal_names[i].num;
    if (!tocatch && (strcmp(s, "SIGKILL") == 0 || strcmp(s, "KILL") == 0))
      return SIGKILL;
    if (!tocatch && (strcmp(s, "SIGSTOP") == 0 || strcmp(s, "STOP") == 0))
      return SIGSTOP;
    if (tocatch && (strstr(s, "KILL") != NULL || strstr(s, "STOP") != NULL))
      *why = "SIGKILL and SIGSTOP cannot be caught";
    else
      *why = lua_pushfstring(L, "unknown signal '%s'", s);
    return -1;
  } else if (lua_type(L, arg) == LUA_TNUMBER) {
    int isint;
    lua_Integer n = lua_tointegerx(L, arg, &isint);
    if (!isint || n < (tocatch ? 1 : 0) || n >= NSIG) {
      *why = "invalid signal number";
      return -1;
    }
    if (tocatch && (n == SIGKILL || n == SIGSTOP)) {
      *why = "SIGKILL and SIGSTOP cannot be caught";
      return -1;
    }
    return (int)n;
  }
  *why = lua_pushfstring(L, "signal number or name expected, got %s",
                         luaL_typename(L, arg));
  return -1;
}

/* The signal at arg, as signal_lookup finds it, or an argument error. */
int aio_checksignal (lua_State *L, int arg, int tocatch) {
  const char *why = NULL;
  int n = signal_lookup(L, arg, tocatch, &why);
  if (n < 0) luaL_argerror(L, arg, why);
  return n;
}

/* core.signal_to_send(sig) -> number, or nil and what is wrong with it:
   for Process:send_signal, which names itself in the error. */
static int core_signal_to_send (lua_State *L) {
  const char *why = NULL;
  int n = signal_lookup(L, 1, 0, &why);
  if (n < 0) {
    luaL_pushfail(L);
    lua_pushstring(L, why);
    return 2;
  }
  lua_pushinteger(L, n);
  return 1;
}

/* core.signal_number(sig) -> number */
static int core_signal_number (lua_State *L) {
  lua_pushinteger(L, aio_checksignal(L, 1, 1));
  return 1;
}

int signame_open (lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"signal_number", core_signal_number},
    {"signal_to_send", core_signal_to_send},
    {NULL, NULL}
  };
  aio_setfuncs(L, funcs);
  return 0;
}
