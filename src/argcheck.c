/*
** argcheck.c: argument errors that name our C methods, and count their
** arguments, as a Lua user calls them (`loop:call_soon(1)`: argument #1 of
** 'call_soon'), however they are really called: through pcall, a local
** alias or `loop.call_soon(loop, 1)`, where lauxlib would say "bad
** argument #2 to '?'". Python's TypeError names the method in every case.
**
** internal.h points the lauxlib checks our files use (luaL_checkinteger,
** luaL_argcheck, ...) at the functions below. They behave as lauxlib's and
** differ only in the message: the registry's method_names table, filled as
** the classes are made (aio_setmethods) and for the few functions exported
** as they are (aio_setfunctions), says which running functions are
** methods, and their names; any other function gets lauxlib's message.
**
** Anchoring rule: method_names, a registry table with weak keys, maps each
** named closure to its name; the methods tables of the classes and the
** module table hold the closures, so the entries live as long as they do.
*/
#define AIO_ARGCHECK_IMPL
#include <string.h>

#include "internal.h"

static const char method_names = 0;  /* registry key */

/*
** Records the functions of l, just set in the table on top of the stack,
** under their keys: as methods (mark ':') or plain functions ('.').
** [-0, +0, m]
*/
static void record_names (lua_State *L, const luaL_Reg *l, char mark) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &method_names) != LUA_TTABLE) {
    lua_pop(L, 1);
    aio_newweak(L, "k");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &method_names);
  }
  for (; l->name != NULL; l++) {
    lua_getfield(L, -2, l->name);
    lua_pushfstring(L, "%c%s", mark, l->name);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
}

/* aio_setfuncs into a class's methods table (on top of the stack), the
   functions named as methods in argument errors. [-0, +0, m] */
void aio_setmethods (lua_State *L, const luaL_Reg *l) {
  aio_setfuncs(L, l);
  record_names(L, l, ':');
}

/* aio_setfuncs of functions the library exports as they are (asyncio.
   create_task is core.create_task), named by their keys in argument
   errors however they are called. [-0, +0, m] */
void aio_setfunctions (lua_State *L, const luaL_Reg *l) {
  aio_setfuncs(L, l);
  record_names(L, l, '.');
}

/*
** The name of the running C function if it is one we named, pushed, and
** whether it is a method in *method; or nothing pushed, and NULL.
** [-0, +(0|1), -]
*/
static const char *push_name (lua_State *L, int *method) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar)) return NULL;
  lua_getinfo(L, "f", &ar);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &method_names) == LUA_TTABLE) {
    lua_rotate(L, -2, 1);  /* table, function */
    if (lua_rawget(L, -2) == LUA_TSTRING) {
      const char *marked = lua_tostring(L, -1);
      lua_remove(L, -2);
      *method = marked[0] == ':';
      return marked + 1;
    }
  }
  lua_pop(L, 2);
  return NULL;
}

/* luaL_argerror, naming our functions however they were called, and
   counting a method's arguments after self. */
int aio_argerror (lua_State *L, int arg, const char *extramsg) {
  int method = 0;
  const char *name = push_name(L, &method);
  if (name == NULL) return luaL_argerror(L, arg, extramsg);
  if (method && --arg == 0)
    return luaL_error(L, "calling '%s' on bad self (%s)", name, extramsg);
  return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, name, extramsg);
}

/* "<tname> expected, got <what is there>", by __name where it has one. */
int aio_typeerror (lua_State *L, int arg, const char *tname) {
  const char *got;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
    got = "light userdata";
  else
    got = luaL_typename(L, arg);
  return aio_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s", tname, got));
}

static int wrong_type (lua_State *L, int arg, int expected) {
  return aio_typeerror(L, arg, lua_typename(L, expected));
}

void aio_checktype (lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) wrong_type(L, arg, t);
}

void aio_checkany (lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNONE) aio_argerror(L, arg, "value expected");
}

void *aio_checkudata (lua_State *L, int arg, const char *tname) {
  void *p = luaL_testudata(L, arg, tname);
  if (p == NULL) aio_typeerror(L, arg, tname);
  return p;
}

lua_Number aio_checknumber (lua_State *L, int arg) {
  int isnum;
  lua_Number n = lua_tonumberx(L, arg, &isnum);
  if (!isnum) wrong_type(L, arg, LUA_TNUMBER);
  return n;
}

lua_Integer aio_checkinteger (lua_State *L, int arg) {
  int isnum;
  lua_Integer n = lua_tointegerx(L, arg, &isnum);
  if (!isnum) {
    if (lua_isnumber(L, arg))
      aio_argerror(L, arg, "number has no integer representation");
    else
      wrong_type(L, arg, LUA_TNUMBER);
  }
  return n;
}

lua_Integer aio_optinteger (lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : aio_checkinteger(L, arg);
}

const char *aio_checklstring (lua_State *L, int arg, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (s == NULL) wrong_type(L, arg, LUA_TSTRING);
  return s;
}

const char *aio_optlstring (lua_State *L, int arg, const char *def,
                            size_t *len) {
  if (lua_isnoneornil(L, arg)) {
    if (len != NULL) *len = def != NULL ? strlen(def) : 0;
    return def;
  }
  return aio_checklstring(L, arg, len);
}

int aio_checkoption (lua_State *L, int arg, const char *def,
                     const char *const lst[]) {
  const char *name = def != NULL ? aio_optlstring(L, arg, def, NULL)
                                 : aio_checklstring(L, arg, NULL);
  int i;
  for (i = 0; lst[i] != NULL; i++)
    if (strcmp(lst[i], name) == 0) return i;
  return aio_argerror(L, arg, lua_pushfstring(L, "invalid option '%s'", name));
}
