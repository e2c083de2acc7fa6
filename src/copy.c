/*
** copy.c: values copied from one Lua state to another (API.md §8): nil,
** booleans, numbers, strings and tables of these (nested, no cycles), a
** function with no upvalue but _ENV (as its bytecode), and references to
** loops and futures (a ThreadRef in any other state, the object itself
** back in its own loop).
**
** Anchoring rule: a CopyBuf is plain C memory owned by whoever holds it
** (a job, a message); it refers to no Lua value, so any thread may hold
** it and free it. A ThreadRef holds ids, never pointers, so it may outlive
** what it names.
*/
#include <stdlib.h>
#include <string.h>

#include "thread.h"

#define MAXDEPTH 100

enum {
  T_NIL = 'n', T_FALSE = 'f', T_TRUE = 't', T_INT = 'i', T_FLT = 'd',
  T_STR = 's', T_TABLE = '{', T_END = '}', T_FN = 'F', T_REF = 'R',
  T_ERROR = 'E', /* an asyncio error object: class name, then its table */
  T_CFN = 'C'    /* a C function of a loaded module: module name, key */
};

void copy_init (CopyBuf *b) {
  b->p = NULL;
  b->n = b->cap = 0;
  b->count = 0;
}

void copy_free (CopyBuf *b) {
  free(b->p);
  copy_init(b);
}

/* Makes `to` a copy of `from`; returns 0 when out of memory. */
int copy_clone (CopyBuf *to, const CopyBuf *from) {
  copy_init(to);
  to->count = from->count;
  if (from->n == 0) return 1;
  to->p = (char *)malloc(from->n);
  if (to->p == NULL) return 0;
  memcpy(to->p, from->p, from->n);
  to->n = to->cap = from->n;
  return 1;
}

/* Appends len bytes; returns 0 when out of memory. */
static int put (CopyBuf *b, const void *s, size_t len) {
  if (b->n + len > b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 64;
    char *p;
    while (cap < b->n + len) cap *= 2;
    p = (char *)realloc(b->p, cap);
    if (p == NULL) return 0;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, len);
  b->n += len;
  return 1;
}

static int puttag (CopyBuf *b, char tag) { return put(b, &tag, 1); }

/* Appends one string value (for messages made in C). */
void copy_pushstring (CopyBuf *b, const char *s, size_t len) {
  if (puttag(b, T_STR) && put(b, &len, sizeof(len)) && put(b, s, len))
    b->count++;
}

static int writer (lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return !put((CopyBuf *)ud, p, sz);
}

/*
** Finds the C function at idx in a loaded module (package.loaded, _G
** included): pushes the module's name and the key and returns 1, or
** returns 0. [-0, +(0|2), -]
*/
static int findcfunction (lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
      lua_pushnil(L);
      while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, idx)) {
          lua_pop(L, 1);          /* loaded, modname, module, key */
          lua_replace(L, -2);     /* loaded, modname, key */
          lua_remove(L, -3);
          return 1;
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

/*
** Checks that the value at idx is a Lua function whose only upvalue, if
** any, is _ENV (whatever table it holds here, the copy gets the other
** state's globals: busted's specs, for one, run with an _ENV of their
** own), or a C function of a loaded module. Returns 1, or 0 with a message
** pushed. [-0, +(0|1), m]
*/
int copy_checkfn (lua_State *L, int idx) {
  const char *name;
  int i;
  if (lua_type(L, idx) != LUA_TFUNCTION) {
    lua_pushfstring(L, "function expected, got %s", luaL_typename(L, idx));
    return 0;
  }
  if (lua_iscfunction(L, idx)) {
    if (coro_is_async_function(L, idx)) {  /* a C closure, named for what it is */
      lua_pushliteral(L, "an async function cannot be copied to another "
                         "thread: pass a plain function (one given to "
                         "run_coroutine_threadsafe may await)");
      return 0;
    }
    if (findcfunction(L, idx)) {
      lua_pop(L, 2);
      return 1;
    }
    lua_pushliteral(L, "cannot copy a C function to another thread unless "
                       "it is a field of a loaded module, such as print");
    return 0;
  }
  for (i = 1; (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    lua_pop(L, 1);
    if (i != 1 || strcmp(name, "_ENV") != 0) {
      lua_pushfstring(L, "the function has an upvalue '%s': a function run "
                         "in another thread may use globals but no upvalues",
                      name);
      return 0;
    }
  }
  return 1;
}

typedef struct Dumper {
  lua_State *L;
  CopyBuf *b;
  Runtime *rt;
  const void *path[MAXDEPTH];  /* the tables being copied, for cycles */
  int depth;
} Dumper;

/* Pushes "cannot copy ..." and returns 0. */
static int cannot (lua_State *L, const char *what) {
  lua_pushfstring(L, "cannot copy %s to another thread", what);
  return 0;
}

static int dumpref (Dumper *d, int kind, uint64_t inbox, uint64_t obj) {
  char k = (char)kind;
  return (puttag(d->b, T_REF) && put(d->b, &k, 1)
          && put(d->b, &inbox, sizeof(inbox)) && put(d->b, &obj, sizeof(obj)))
         || cannot(d->L, "a value (out of memory)");
}

static int dumpvalue (Dumper *d, int idx);

/*
** An object of the library (its metatable's __name starts "asyncio.",
** errors excepted): refused by name, as it belongs to its loop's thread.
** Its own fields would have been the message ("a table with a cycle", "a
** function value"). Returns 1 with the message pushed if it is one.
** [-0, +(0|1), m]
*/
static int library_object (lua_State *L, int idx) {
  const char *name;
  if (luaL_getmetafield(L, idx, "__name") == LUA_TNIL) return 0;
  name = lua_tostring(L, -1);
  if (name == NULL || strncmp(name, "asyncio.", 8) != 0
      || luaL_getmetafield(L, idx, "__aio_error") != LUA_TNIL) {
    if (name != NULL && strncmp(name, "asyncio.", 8) == 0) lua_pop(L, 1);
    lua_pop(L, 1);
    return 0;
  }
  lua_pushfstring(L, "cannot copy an %s to another thread: of the "
                     "library's objects, only loops and futures cross (as "
                     "references)", name);
  lua_remove(L, -2);
  return 1;
}

static int dumptable (Dumper *d, int idx) {
  lua_State *L = d->L;
  const void *p = lua_topointer(L, idx);
  int i;
  for (i = 0; i < d->depth; i++)
    if (d->path[i] == p) return cannot(L, "a table with a cycle");
  if (d->depth == MAXDEPTH) return cannot(L, "tables nested this deep");
  if (!lua_checkstack(L, 4)) return cannot(L, "tables nested this deep");
  if (library_object(L, idx)) return 0;
  if (lua_getmetatable(L, idx)) {  /* only the class of error objects is kept */
    int top = lua_gettop(L) - 1;
    if (lua_getfield(L, -1, "__aio_error") != LUA_TNIL
        && lua_getfield(L, -2, "__name") == LUA_TSTRING) {
      size_t len;
      const char *name = lua_tolstring(L, -1, &len);
      if (!puttag(d->b, T_ERROR) || !put(d->b, &len, sizeof(len))
          || !put(d->b, name, len)) {
        lua_settop(L, top);
        return cannot(L, "an error (out of memory)");
      }
    }
    lua_settop(L, top);
  }
  if (!puttag(d->b, T_TABLE)) return cannot(L, "a table (out of memory)");
  d->path[d->depth++] = p;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int top = lua_gettop(L);
    if (!dumpvalue(d, top - 1) || !dumpvalue(d, top)) {
      lua_replace(L, top - 1);  /* keep the message, drop key and value */
      lua_settop(L, top - 1);
      return 0;
    }
    lua_pop(L, 1);
  }
  d->depth--;
  return puttag(d->b, T_END) || cannot(L, "a table (out of memory)");
}

static int dumpvalue (Dumper *d, int idx) {
  lua_State *L = d->L;
  CopyBuf *b = d->b;
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return puttag(b, T_NIL) || cannot(L, "nil");
    case LUA_TBOOLEAN:
      return puttag(b, lua_toboolean(L, idx) ? T_TRUE : T_FALSE)
             || cannot(L, "a boolean");
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        return (puttag(b, T_INT) && put(b, &i, sizeof(i))) || cannot(L, "a number");
      } else {
        lua_Number n = lua_tonumber(L, idx);
        return (puttag(b, T_FLT) && put(b, &n, sizeof(n))) || cannot(L, "a number");
      }
    case LUA_TSTRING: {
      size_t len;
      const char *s = lua_tolstring(L, idx, &len);
      return (puttag(b, T_STR) && put(b, &len, sizeof(len)) && put(b, s, len))
             || cannot(L, "a string (out of memory)");
    }
    case LUA_TTABLE: return dumptable(d, idx);
    case LUA_TUSERDATA: {
      uint64_t inbox, obj;
      int kind;
      uint64_t *ref = (uint64_t *)luaL_testudata(L, idx, AIO_THREADREF);
      if (ref != NULL) return dumpref(d, (int)ref[2], ref[0], ref[1]);
      if (d->rt != NULL && (kind = inbox_export(L, idx, &inbox, &obj)) != 0)
        return dumpref(d, kind, inbox, obj);
      if (library_object(L, idx)) return 0;
      return cannot(L, "a userdata value");
    }
    default:
      lua_pushfstring(L, "cannot copy a %s value to another thread",
                      luaL_typename(L, idx));
      return 0;
  }
}

/*
** Appends the n values from stack index first to b; with withfn, the
** first must be a function as copy_checkfn wants, copied as bytecode.
** rt (may be NULL) lets loops and futures of this state be copied as
** references. Returns 1, or 0 with a message pushed and *bad set to the
** position (0-based) of the value that cannot be copied. [-0, +(0|1), m]
*/
int copy_dump (lua_State *L, CopyBuf *b, int first, int n, int withfn,
               Runtime *rt, int *bad) {
  Dumper d;
  int i;
  d.L = L;
  d.b = b;
  d.rt = rt;
  d.depth = 0;
  first = lua_absindex(L, first);
  for (i = 0; i < n; i++) {
    int ok;
    if (i == 0 && withfn) {
      size_t at;
      if (!copy_checkfn(L, first)) { *bad = 0; return 0; }
      if (lua_iscfunction(L, first)) {  /* by name: module, key */
        size_t mlen, klen;
        const char *mod, *key;
        findcfunction(L, first);
        mod = lua_tolstring(L, -2, &mlen);
        key = lua_tolstring(L, -1, &klen);
        ok = puttag(b, T_CFN) && put(b, &mlen, sizeof(mlen)) && put(b, mod, mlen)
             && put(b, &klen, sizeof(klen)) && put(b, key, klen);
        lua_pop(L, 2);
        if (!ok) { *bad = 0; return cannot(L, "a function (out of memory)"); }
        b->count++;
        continue;
      }
      if (!puttag(b, T_FN) || !put(b, &b->n, sizeof(size_t))) {
        *bad = 0;
        return cannot(L, "a function (out of memory)");
      }
      at = b->n;
      lua_pushvalue(L, first);
      ok = lua_dump(L, writer, b, 0) == 0;
      lua_pop(L, 1);
      if (!ok) { *bad = 0; return cannot(L, "a function (out of memory)"); }
      {
        size_t len = b->n - at;
        memcpy(b->p + at - sizeof(size_t), &len, sizeof(len));
      }
    } else if (!dumpvalue(&d, first + i)) {
      *bad = i;
      return 0;
    }
    b->count++;
  }
  return 1;
}

/*
** Frees b and raises "bad argument #arg to 'fname' (message)" with the
** message copy_dump pushed, at the position of the caller `level` levels
** up (1: the caller of the running C function; 2 through a Lua wrapper).
*/
void copy_argerror (lua_State *L, CopyBuf *b, const char *fname, int arg,
                    int level) {
  copy_free(b);
  luaL_where(L, level);
  lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, fname,
                  lua_tostring(L, -2));
  lua_concat(L, 2);
  lua_error(L);
}

/* ---------- loading ---------- */

typedef struct Loader {
  lua_State *L;
  const char *p, *end;
  int homeidx;      /* the loop whose references resolve to objects, or 0 */
  uint64_t homeid;  /* its inbox */
} Loader;

static void get (Loader *ld, void *to, size_t len) {
  if ((size_t)(ld->end - ld->p) < len) luaL_error(ld->L, "corrupt copied value");
  memcpy(to, ld->p, len);
  ld->p += len;
}

/* Pushes the next value, or returns 0 at a table's end mark. */
static int loadvalue (Loader *ld) {
  lua_State *L = ld->L;
  char tag;
  luaL_checkstack(L, 4, "copied tables nested too deep");
  get(ld, &tag, 1);
  switch (tag) {
    case T_NIL: lua_pushnil(L); break;
    case T_FALSE: lua_pushboolean(L, 0); break;
    case T_TRUE: lua_pushboolean(L, 1); break;
    case T_INT: { lua_Integer i; get(ld, &i, sizeof(i)); lua_pushinteger(L, i); break; }
    case T_FLT: { lua_Number n; get(ld, &n, sizeof(n)); lua_pushnumber(L, n); break; }
    case T_STR: case T_FN: {
      size_t len;
      get(ld, &len, sizeof(len));
      if ((size_t)(ld->end - ld->p) < len) luaL_error(L, "corrupt copied value");
      if (tag == T_STR) lua_pushlstring(L, ld->p, len);
      else if (luaL_loadbufferx(L, ld->p, len, "=(copied function)", "b") != LUA_OK)
        lua_error(L);
      ld->p += len;
      break;
    }
    case T_TABLE:
      lua_newtable(L);
      while (loadvalue(ld)) {
        loadvalue(ld);
        lua_rawset(L, -3);
      }
      break;
    case T_END: return 0;
    case T_CFN: {  /* the module's function here, requiring it if needed */
      size_t mlen, klen;
      const char *mod, *key;
      get(ld, &mlen, sizeof(mlen));
      if ((size_t)(ld->end - ld->p) < mlen) luaL_error(L, "corrupt copied value");
      mod = ld->p;
      ld->p += mlen;
      get(ld, &klen, sizeof(klen));
      if ((size_t)(ld->end - ld->p) < klen) luaL_error(L, "corrupt copied value");
      key = ld->p;
      ld->p += klen;
      lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
      lua_pushlstring(L, mod, mlen);
      if (lua_rawget(L, -2) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_getglobal(L, "require");
        lua_pushlstring(L, mod, mlen);
        lua_call(L, 1, 1);
      }
      lua_pushlstring(L, key, klen);
      if (lua_gettable(L, -2) != LUA_TFUNCTION)
        luaL_error(L, "cannot find the function '%s.%s' in this thread",
                   lua_pushlstring(L, mod, mlen), lua_pushlstring(L, key, klen));
      lua_replace(L, -3);
      lua_pop(L, 1);
      break;
    }
    case T_ERROR: {  /* the class of that name, asyncio's errors loaded
                        here if they are not yet (a fresh worker's first
                        job gets its classes too); else a plain table */
      size_t len;
      get(ld, &len, sizeof(len));
      if ((size_t)(ld->end - ld->p) < len) luaL_error(L, "corrupt copied value");
      lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
      if (lua_getfield(L, -1, "asyncio.errors") != LUA_TTABLE) {
        lua_pop(L, 1);
        if (lua_getglobal(L, "require") != LUA_TFUNCTION) lua_pushnil(L);
        else {
          lua_pushliteral(L, "asyncio.errors");
          if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            lua_pop(L, 1);
            lua_pushnil(L);
          }
        }
      }
      if (lua_istable(L, -1)) {
        lua_pushlstring(L, ld->p, len);
        lua_rawget(L, -2);
      } else lua_pushnil(L);
      ld->p += len;
      loadvalue(ld);
      if (lua_istable(L, -2)) {
        lua_pushvalue(L, -2);
        lua_setmetatable(L, -2);
      }
      lua_replace(L, -4);
      lua_pop(L, 2);
      break;
    }
    case T_REF: {
      char kind;
      uint64_t inbox, obj;
      get(ld, &kind, 1);
      get(ld, &inbox, sizeof(inbox));
      get(ld, &obj, sizeof(obj));
      if (ld->homeidx != 0 && inbox == ld->homeid)
        inbox_lookup(L, ld->homeidx, kind, obj);
      else copy_pushref(L, kind, inbox, obj);
      break;
    }
    default: luaL_error(L, "corrupt copied value");
  }
  return 1;
}

/*
** Pushes the values of b and returns how many. References to objects of
** the loop at homeidx (inbox homeid; homeidx 0: none) become the objects.
** [-0, +count, e]
*/
int copy_load (lua_State *L, const CopyBuf *b, int homeidx, uint64_t homeid) {
  Loader ld;
  int i;
  ld.L = L;
  ld.p = b->p;
  ld.end = b->p + b->n;
  ld.homeidx = homeidx ? lua_absindex(L, homeidx) : 0;
  ld.homeid = homeid;
  luaL_checkstack(L, b->count + 4, "too many copied values");
  for (i = 0; i < b->count; i++) loadvalue(&ld);
  return b->count;
}

/* ---------- ThreadRef ---------- */

static int ref_tostring (lua_State *L) {
  uint64_t *ref = (uint64_t *)luaL_checkudata(L, 1, AIO_THREADREF);
  lua_pushfstring(L, "<ThreadRef %s %I>",
                  ref[2] == REF_LOOP ? "loop" : "future", (lua_Integer)ref[1]);
  return 1;
}

/*
** Pushes a reference to object obj of the loop with inbox `inbox`. Its
** metatable is made on first use, so states that never loaded the core
** (worker threads) have it too. [-0, +1, m]
*/
void copy_pushref (lua_State *L, int kind, uint64_t inbox, uint64_t obj) {
  uint64_t *ref = (uint64_t *)lua_newuserdatauv(L, 3 * sizeof(uint64_t), 0);
  ref[0] = inbox;
  ref[1] = obj;
  ref[2] = (uint64_t)kind;
  if (luaL_newmetatable(L, AIO_THREADREF)) {
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, threadref_call_soon_threadsafe);
    lua_setfield(L, -2, "call_soon_threadsafe");
    lua_pushcfunction(L, threadref_run_coroutine_threadsafe);
    lua_setfield(L, -2, "run_coroutine_threadsafe");
    lua_pushcfunction(L, threadref_stop);
    lua_setfield(L, -2, "stop");
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ref_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_setmetatable(L, -2);
}
