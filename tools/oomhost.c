/*
** oomhost.c: a Lua host whose allocator fails on purpose, for tools/oom.sh.
** Between oom_arm(true) and oom_arm(false) the script's allocations are
** counted; numbers OOM_AT and OOM_AT + 1 (the retry after the emergency
** collection) fail, so a memory error is raised right there. With
** OOM_BT set, the C backtrace of the failing allocation goes to stderr.
** Without OOM_AT, prints how many allocations the armed part made.
*/
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <execinfo.h>

static long count = 0, fail_at = 0, armed = 0;

static void *alloc (void *ud, void *ptr, size_t osize, size_t nsize) {
  (void)ud; (void)osize;
  if (nsize == 0) { free(ptr); return NULL; }
  if (armed && (ptr == NULL || nsize > osize)) {
    count++;
    if (fail_at && (count == fail_at || count == fail_at + 1)) {
      if (getenv("OOM_BT") && count == fail_at) {
        void *frames[40];
        int n = backtrace(frames, 40);
        backtrace_symbols_fd(frames, n, 2);
      }
      return NULL;
    }
  }
  return realloc(ptr, nsize);
}

static int arm (lua_State *L) { armed = lua_toboolean(L, 1); if (armed) count = 0; return 0; }

int main (int argc, char **argv) {
  lua_State *L = lua_newstate(alloc, NULL);
  int status;
  const char *at = getenv("OOM_AT");
  fail_at = at ? atol(at) : 0;
  luaL_openlibs(L);
  lua_pushcfunction(L, arm);
  lua_setglobal(L, "oom_arm");
  status = luaL_dofile(L, argv[1]);
  if (status != LUA_OK) fprintf(stderr, "error: %s\n", lua_tostring(L, -1));
  armed = 0;
  lua_close(L);
  if (fail_at == 0) printf("allocations: %ld\n", count);
  return 0;
}
