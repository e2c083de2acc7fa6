rockspec_format = "3.0"
package = "asyncio"
version = "scm-1"
source = {
   url = "git+https://example.org/lua-asyncio.git",
}
description = {
   summary = "Python's asyncio for Lua 5.4: event loop, futures, tasks, streams, on libev",
   detailed = [[
      An event loop on libev with futures and tasks in C, and Lua coroutines as
      the await mechanism: gather, wait, wait_for, timeouts, task groups, queues,
      locks, events, conditions, semaphores, streams and subprocesses, with the
      names and semantics of Python's asyncio.
   ]],
   license = "MIT",
}
dependencies = {
   "lua >= 5.4, < 5.5",
}
external_dependencies = {
   LIBEV = { header = "ev.h", library = "ev" },
}
build = {
   -- the Makefile knows the file lists; luarocks passes the directories
   type = "make",
   build_target = "rock",
   build_variables = {
      CFLAGS = "$(CFLAGS)",
      LUAINC = "-I$(LUA_INCDIR)",
      EVINC = "-I$(LIBEV_INCDIR)",
      EVLIB = "-L$(LIBEV_LIBDIR)",
   },
   install_target = "install-rock",
   install_variables = {
      LUADIR = "$(LUADIR)",
      LIBDIR = "$(LIBDIR)",
      BINDIR = "$(BINDIR)",
   },
}
test = {
   type = "busted",
}
