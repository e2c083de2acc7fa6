/*
** sources.c: debug mode's memory of where a Future, Task or Handle was
** made (Python's _source_traceback): the traceback the reports about the
** object carry, and the "created at file:line" of its tostring.
**
** Anchoring rule: a loop keeps, for each object made while it was in debug
** mode, a table {traceback, position} in its weak-keyed LOOP_UV_SOURCES,
** which never holds the object: the entry goes with it.
*/
#include <string.h>

#include "internal.h"

/* Frames looked at for the position of the code making an object. */
#define SOURCE_MAX_LEVELS 64

/*
** Pushes "file:line" of the innermost Lua caller outside this library's
** Lua files (hooks.libsource), or nil: a user's create_future() goes
** through tasks.lua, and the line worth telling is the user's. C frames
** (pcall) are passed over too. [-0, +1, m]
*/
static void push_position (lua_State *L) {
  lua_Debug ar;
  size_t liblen = 0;
  const char *lib = aio_push_libsource(L, &liblen);
  int level;
  for (level = 1; level <= SOURCE_MAX_LEVELS && lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline <= 0) continue;
    if (lib != NULL && strncmp(ar.source, lib, liblen) == 0) continue;
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    lua_replace(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_pushnil(L);
}

/*
** Called in debug mode for a new Future, Task or Handle (at objidx) of the
** loop at loopidx: keeps the traceback of the code making it and the
** position of the user's line in it. [-0, +0, m]
*/
void loop_note_source (lua_State *L, int loopidx, int objidx) {
  luaL_checkstack(L, 8, "debug mode's traceback");
  loopidx = lua_absindex(L, loopidx);
  objidx = lua_absindex(L, objidx);
  lua_getiuservalue(L, loopidx, LOOP_UV_SOURCES);
  lua_pushvalue(L, objidx);
  lua_createtable(L, 2, 0);
  aio_traceback(L, L, NULL, 1);  /* from the caller of the C function */
  lua_rawseti(L, -2, 1);
  push_position(L);
  lua_rawseti(L, -2, 2);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* Pushes field i of the note on the object at objidx, of the loop at
   loopidx, and returns its type (LUA_TNIL and a nil when none). */
static int push_note (lua_State *L, int loopidx, int objidx, int i) {
  objidx = lua_absindex(L, objidx);
  if (lua_getiuservalue(L, loopidx, LOOP_UV_SOURCES) != LUA_TTABLE) return LUA_TNIL;
  lua_pushvalue(L, objidx);
  if (lua_rawget(L, -2) != LUA_TTABLE) {
    lua_pop(L, 2);
    lua_pushnil(L);
    return LUA_TNIL;
  }
  lua_rawgeti(L, -1, i);
  lua_replace(L, -3);
  lua_pop(L, 1);
  return lua_type(L, -1);
}

/*
** Sets field source_traceback of the report (a table) at reportidx to
** where the object at objidx, of the loop at loopidx, was made, if that
** was noted. [-0, +0, m]
*/
void loop_add_source (lua_State *L, int reportidx, int loopidx, int objidx) {
  reportidx = lua_absindex(L, reportidx);
  if (push_note(L, loopidx, objidx, 1) == LUA_TSTRING)
    lua_setfield(L, reportidx, "source_traceback");
  else
    lua_pop(L, 1);
}

/*
** Pushes " created at file:line" when the object at objidx, of the loop at
** loopidx, was made in debug mode by a user's line, as Python's reprs end;
** else pushes "". [-0, +1, m]
*/
void loop_push_created_at (lua_State *L, int loopidx, int objidx) {
  if (push_note(L, loopidx, objidx, 2) == LUA_TSTRING) {
    lua_pushfstring(L, " created at %s", lua_tostring(L, -1));
    lua_replace(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
}

/* loop:_source_traceback(obj) -> the traceback and the position where obj
   was made, if made in debug mode */
static int loop_source_traceback (lua_State *L) {
  luaL_checkudata(L, 1, AIO_LOOP);
  lua_settop(L, 2);
  push_note(L, 1, 2, 1);
  push_note(L, 1, 2, 2);
  return 2;
}

int sources_open (lua_State *L) {
  static const luaL_Reg methods[] = {
    {"_source_traceback", loop_source_traceback},
    {NULL, NULL}
  };
  lua_getfield(L, 1, "Loop");
  aio_setmethods(L, methods);
  lua_pop(L, 1);
  return 0;
}
