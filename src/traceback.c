/*
** traceback.c: the "stack traceback:" text kept with an error, in the
** layout of luaL_traceback, without that function's search for a global
** name of each frame's function. The search walks every field of every
** module in package.loaded, once per frame: with this library's modules
** loaded it cost about half a million instructions per traceback (150 us),
** and every task that ends with an error or a cancellation records one.
** Here a function is named the way the calling code names it ("local 'f'",
** "method 'get'", "field 'sleep'"); a function called through a global
** variable reads "function 'print'", as luaL_traceback would find it.
**
** Anchoring rule: nothing here outlives the call, and no C structure points
** to a Lua value.
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* A stack deeper than both together shows only its first and last frames. */
#define HEAD_FRAMES 10
#define TAIL_FRAMES 11

/* The level of the outermost frame of L1, or -1 if it has none. */
static int outermost_level (lua_State *L1) {
  lua_Debug ar;
  int found = -1, missing = 1;
  if (!lua_getstack(L1, 0, &ar)) return -1;
  found = 0;
  /* lua_getstack walks the frames from the top: double, then bisect */
  while (lua_getstack(L1, missing, &ar)) {
    found = missing;
    missing *= 2;
  }
  while (missing - found > 1) {
    int mid = found + (missing - found) / 2;
    if (lua_getstack(L1, mid, &ar)) found = mid;
    else missing = mid;
  }
  return found;
}

static void add_int (luaL_Buffer *b, int n) {
  char digits[16];
  snprintf(digits, sizeof digits, "%d", n);
  luaL_addstring(b, digits);
}

/* What the frame's function is called, as luaL_traceback words it. */
static void add_function_name (luaL_Buffer *b, const lua_Debug *ar) {
  if (ar->namewhat[0] != '\0' && ar->name != NULL) {
    luaL_addstring(b, strcmp(ar->namewhat, "global") == 0 ? "function"
                                                          : ar->namewhat);
    luaL_addstring(b, " '");
    luaL_addstring(b, ar->name);
    luaL_addchar(b, '\'');
  } else if (ar->what[0] == 'm') {
    luaL_addstring(b, "main chunk");
  } else if (ar->what[0] == 'C') {
    luaL_addchar(b, '?');
  } else {
    luaL_addstring(b, "function <");
    luaL_addstring(b, ar->short_src);
    luaL_addchar(b, ':');
    add_int(b, ar->linedefined);
    luaL_addchar(b, '>');
  }
}

static void add_frame (luaL_Buffer *b, lua_State *L1, lua_Debug *ar) {
  lua_getinfo(L1, "Slnt", ar);
  luaL_addstring(b, "\n\t");
  luaL_addstring(b, ar->short_src);
  luaL_addchar(b, ':');
  if (ar->currentline > 0) {
    add_int(b, ar->currentline);
    luaL_addchar(b, ':');
  }
  luaL_addstring(b, " in ");
  add_function_name(b, ar);
  if (ar->istailcall) luaL_addstring(b, "\n\t(...tail calls...)");
}

/*
** Pushes onto L msg (if not NULL), a newline, and the traceback of L1 from
** frame level on, as luaL_traceback(L, L1, msg, level). [-0, +1, m]
*/
void aio_traceback (lua_State *L, lua_State *L1, const char *msg, int level) {
  luaL_Buffer b;
  lua_Debug ar;
  int last = outermost_level(L1);
  int skip_from = last - level > HEAD_FRAMES + TAIL_FRAMES  /* as Lua's */
                  ? level + HEAD_FRAMES : -1;
  luaL_buffinit(L, &b);
  if (msg != NULL) {
    luaL_addstring(&b, msg);
    luaL_addchar(&b, '\n');
  }
  luaL_addstring(&b, "stack traceback:");
  for (; level <= last && lua_getstack(L1, level, &ar); level++) {
    if (level == skip_from) {
      int skipped = last - TAIL_FRAMES + 1 - level;
      luaL_addstring(&b, "\n\t...\t(skipping ");
      add_int(&b, skipped);
      luaL_addstring(&b, " levels)");
      level += skipped - 1;
    } else add_frame(&b, L1, &ar);
  }
  luaL_pushresult(&b);
}
