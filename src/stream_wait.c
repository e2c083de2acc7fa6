/*
** stream_wait.c: how a task waits on a Stream's writer (drain, connect,
** wait_closed): a future of its own in a list of the stream, awaited under
** a protected call so a cancellation takes it out; and the errors a
** writer raises.
**
** Anchoring rule: the futures are held by their list, a user value of the
** stream, until they are woken or cancelled; the waiting task is held by
** its future's done callbacks.
*/
#include <errno.h>

#include "stream.h"

/* Raises unless the running task is on the stream's loop. */
void stream_check_task (lua_State *L, Stream *s) {
  task_check_running(L);
  if (aio_rt(L)->running != s->loop)
    luaL_error(L, "the stream is attached to a different loop");
}

/*
** Awaits the future at nargs + 1 with await_future (upvalue 2 of the
** running C function) under lua_pcallk, so that the continuation k sees a
** cancellation and can clean up before raising it again. The nargs values
** below the future stay. Returns as k does.
*/
int stream_await_top (lua_State *L, int nargs, lua_KFunction k) {
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_pushvalue(L, nargs + 1);
  return k(L, lua_pcallk(L, 1, 0, 0, (lua_KContext)nargs, k),
           (lua_KContext)nargs);
}

/*
** Writers' waits (drain, connect, wait_closed) add a
** future of their own to the list in user value uv of the stream at 1:
** cancelling one waiter must not cancel the others. [-0, +1, e]
*/
int stream_list_wait (lua_State *L, Stream *s, int nargs, int uv,
                      lua_KFunction k) {
  lua_Integer n;
  stream_check_task(L, s);
  lua_settop(L, nargs);
  lua_getiuservalue(L, 1, ST_UV_LOOP);
  future_pushnew(L, nargs + 1);
  lua_replace(L, nargs + 1);
  if (lua_getiuservalue(L, 1, uv) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, uv);
  }
  n = (lua_Integer)lua_rawlen(L, -1);
  lua_pushvalue(L, nargs + 1);
  lua_rawseti(L, -2, n + 1);
  lua_pop(L, 1);
  if (s->fd < 0) {
    /* closed by a finalizer that the allocations above ran, after the
       caller looked and before our future was in the list it woke: done
       at once, so that k looks again */
    future_set_results(L, (Future *)lua_touserdata(L, nargs + 1), nargs + 1, 0, 0);
  }
  return stream_await_top(L, nargs, k);
}

/*
** At the start of a list wait's continuation: after an error (a
** cancellation) takes our future out of the list and raises the error
** again; otherwise leaves the nargs values alone on the stack.
*/
void stream_list_resumed (lua_State *L, int status, int nargs, int uv) {
  if (status != LUA_OK && status != LUA_YIELD) {
    int err = lua_gettop(L);
    if (lua_getiuservalue(L, 1, uv) == LUA_TTABLE) {
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_rawequal(L, -1, nargs + 1)) {
          lua_pop(L, 1);
          for (; i < n; i++) {
            lua_rawgeti(L, -1, i + 1);
            lua_rawseti(L, -2, i);
          }
          lua_pushnil(L);
          lua_rawseti(L, -2, n);
          break;
        }
        lua_pop(L, 1);
      }
    }
    lua_settop(L, err);
    lua_error(L);
  }
  lua_settop(L, nargs);
}

/* Raises the error a writer sees: a failed write, or a lost connection. */
int stream_raise_werr (lua_State *L, Stream *s) {
  if (s->werr) {
    socket_pusherror(L, s->werr, "write");
    return lua_error(L);
  }
  return stream_raise_lost(L);
}

/* Raises Python's ConnectionResetError("Connection lost"), whose errno is
   None: no system call failed (code still says which class it is). */
int stream_raise_lost (lua_State *L) {
  socket_pusherror(L, ECONNRESET, NULL);
  lua_pushliteral(L, "Connection lost");
  lua_setfield(L, -2, "message");
  lua_pushnil(L);
  lua_setfield(L, -2, "errno");
  return lua_error(L);
}

/*
** Pushes a coroutine object calling the function at awidx with the stream
** at sidx and the n values from first. [-0, +1, m]
*/
void stream_push_aw (lua_State *L, int awidx, int sidx, int first, int n) {
  int top = lua_gettop(L), i;
  lua_pushvalue(L, awidx);
  lua_pushvalue(L, sidx);
  for (i = 0; i < n; i++) lua_pushvalue(L, first + i);
  coro_push(L, top + 1, top + 2, n + 1);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}
