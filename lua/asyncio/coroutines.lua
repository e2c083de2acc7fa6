-- Coroutine objects and await (API.md §1), and sleep (§5).
--
-- A coroutine object (a userdata made in C, src/coro.c) holds a function and
-- its arguments: awaiting it calls f(args...) right here, in the awaiting
-- task's own Lua coroutine, as an ordinary (tail) call from Lua — no C
-- frame in between, so chains of awaits can be as deep as Lua calls. That
-- makes chaining as cheap as a call and lets await work at any depth.
-- Futures and tasks are awaited by the C core, which suspends the task.

local core = require("asyncio.core")

local type = type
-- the raw metatable: getmetatable also looks up a __metatable field, which
-- costs a string lookup on every await; type tests need the real one
local getmetatable = debug.getmetatable
local error = error
local await_future, coro_take, core_sleep = core.await_future, core.coro_take, core.sleep
local coro_take_few = core.coro_take_few
local Future_mt, Task_mt = core.Future_mt, core.Task_mt

local M = {}

-- Methods of coroutine objects (filled in below).
local CoroMethods = {}

-- Where the function of the coroutine object co was written (main.lua:12),
-- what stands for its name, Lua functions having none; nil for a C one.
function M.where_written(co)
   local fn = core.coro_info(co)
   local info = type(fn) == "function" and debug.getinfo(fn, "S")
   if info and info.what == "Lua" then
      return ("%s:%d"):format(info.short_src, info.linedefined)
   end
end

-- As Python's repr, <coroutine object doit at 0x...>: named where its
-- function was written, or a C one by its name in C_NAMES (set below), or
-- "?". The address is the object's.
local C_NAMES = setmetatable({}, { __mode = "k" })
local function coro_tostring(co)
   local name = M.where_written(co) or C_NAMES[core.coro_info(co)] or "?"
   return ("<coroutine object %s at %p>"):format(name, co)
end

-- The metatable of coroutine objects, and the one used in debug mode, whose
-- finalizer reports objects that were never awaited.
local Coro = { __name = "coroutine", __index = CoroMethods, __tostring = coro_tostring }
local CoroDebug = { __name = "coroutine", __index = CoroMethods, __tostring = coro_tostring }
local coro_mts = { [Coro] = true, [CoroDebug] = true }
M.coro_metatables = coro_mts

-- Shared with the C constructors (src/coro.c): sleep0 is set below.
-- core.set_coro_mt gives them the metatable new coroutine objects get;
-- with CoroDebug, they also keep in coro_sources the traceback of the code
-- making each object.
local coro_sources = setmetatable({}, { __mode = "k" })
local coro_state = { metatables = coro_mts, debug_mt = CoroDebug, sources = coro_sources }
core.set_coro_state(coro_state)
core.set_coro_mt(Coro)

-- Turns the never-awaited report of coroutine objects on or off.
function M.set_debug(on)
   core.set_coro_mt(on and CoroDebug or Coro)
end

-- report(co, traceback): traceback is where co was made, if it was made
-- in debug mode (a finalizer still finds its weak key).
function M.set_never_awaited_reporter(report)
   CoroDebug.__gc = function(co)
      local _, awaited = core.coro_info(co)
      if not awaited then
         report(co, coro_sources[co])
      end
   end
end

-- Type name for messages: __name of a metatable, else type().
local function typename(v)
   local mt = getmetatable(v)
   if type(mt) == "table" and type(rawget(mt, "__name")) == "string" then
      return rawget(mt, "__name")
   end
   return type(v)
end
M.typename = typename

-- Refuses arguments past the first nmax of fname (the ... of its caller),
-- as Python's TypeError: an old `loop` argument, a threading-style timeout.
function M.check_no_more(fname, nmax, ...)
   if select("#", ...) > nmax then
      error(("bad argument #%d to '%s' (no value expected, got %s)"):format(nmax + 1, fname,
         typename((select(nmax + 1, ...)))), 3)
   end
end

function M.argerror(n, fname, expected, got)
   error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, fname, expected, typename(got)), 3)
end

local async_functions = setmetatable({}, { __mode = "k" })

-- asyncio.async(fn) -> afn: calling afn(...) returns a coroutine object
-- (made in C, src/coro.c, with its exact size).
function M.async(fn)
   if type(fn) ~= "function" then
      M.argerror(1, "async", "function", fn)
   end
   local afn = core.make_async(fn)
   async_functions[afn] = true
   return afn
end

function M.iscoroutine(x)
   return coro_mts[getmetatable(x)] == true
end

function M.iscoroutinefunction(x)
   return async_functions[x] == true
end

-- Makes every method of the class cls check its self first: `lock.release()`
-- (a dot for a colon) names the mistake at the caller's line, as the C
-- classes do, instead of failing inside the library or answering nil.
-- kinds = {[metatable] = true, ...} are the metatables self may have;
-- classname defaults to cls.__name. The check tail-calls the method, so
-- the levels of its own errors stay the caller's; an async method stays
-- one for iscoroutinefunction. arity = {[name] = n}, if given, refuses more
-- than n arguments after self to the methods it names, as Python's
-- TypeError does.
function M.check_self(cls, kinds, classname, arity)
   classname = classname or cls.__name
   local names = {}
   for name, fn in pairs(cls) do
      if type(fn) == "function" and name:sub(1, 2) ~= "__" then
         names[#names + 1] = name
      end
   end
   for _, name in ipairs(names) do
      local method = cls[name]
      local nmax = arity and arity[name] or math.huge
      local function checked(self, ...)
         if not kinds[getmetatable(self)] then
            error(("calling '%s' on bad self (%s expected, got %s)"):format(name, classname, typename(self)), 2)
         elseif select("#", ...) > nmax then -- as Python's TypeError: ev:wait(0.1) would wait forever
            M.check_no_more(name, nmax, ...) -- raises at our caller's line, as error(_, 2)
         end
         return method(self, ...)
      end
      M.copy_async(method, checked)
      cls[name] = checked
   end
end

-- Makes wrapper, a function calling fn, count as async if fn does.
function M.copy_async(fn, wrapper)
   async_functions[wrapper] = async_functions[fn]
end

-- Counts fn, a function of the library that returns a coroutine object
-- (sleep, wait_for, open_connection...), as an async function: Python's
-- are `async def`, so iscoroutinefunction says true of them, and run(fn,
-- ...) awaits what they return.
function M.mark_async(fn)
   async_functions[fn] = true
   return fn
end

-- Awaits what await() does not know natively: values with __await. outer
-- is the value whose __await returned aw, for the messages.
local function await_other(aw, mt, depth, outer)
   local hook = type(mt) == "table" and mt.__await
   if hook then
      if depth > 100 then
         error("__await returned awaitables more than 100 levels deep", 3)
      elseif not core.is_callable(hook) then
         error(("bad argument #1 to 'await' (the __await of %s is not callable)"):format(typename(aw)), 3)
      end
      local inner = hook(aw)
      local imt = getmetatable(inner)
      if imt == Coro or imt == CoroDebug or imt == Future_mt or imt == Task_mt then
         return M.await(inner)
      end
      return await_other(inner, imt, depth + 1, aw)
   end
   if outer ~= nil then -- what the user passed is fine; its __await is not
      error(("bad argument #1 to 'await' (the __await of %s returned %s, not an awaitable)")
         :format(typename(outer), typename(aw)), 3)
   elseif type(aw) == "function" then
      error("attempt to await a function; call it to get an awaitable: await(f(...))", 3)
   end
   error(("bad argument #1 to 'await' (awaitable expected, got %s)"):format(typename(aw)), 3)
end

-- sleep(0) with no extra value returns this one shared, immutable object:
-- like Python's own sleep(0) shortcut, it only yields for one iteration,
-- and sharing it keeps the hottest await free of allocation. await treats
-- it specially (it may be awaited any number of times); tasks.lua hands
-- create_task a fresh copy.
C_NAMES[core_sleep] = "sleep"
local SLEEP0 = core.new_coro(core_sleep, 0)
coro_state.sleep0 = SLEEP0 -- anchors it
core.set_sleep0(SLEEP0)

-- Calls fn(...) as a Lua tail call.
local function call(fn, ...)
   return fn(...)
end

-- Reusable coroutine objects: {object = its fn}, see register_reusable.
-- SLEEP0 is one too: core.sleep0(SLEEP0) is core.sleep(0), and the hottest
-- awaits (sleep(0), queue and lock operations) pass a single test.
local reusable = setmetatable({}, { __mode = "k" })
M.reusable = reusable
reusable[SLEEP0] = core.sleep0

-- asyncio.await(aw) -> ...: all results of aw, or its error.
local function await(aw)
   local run = reusable[aw] -- a key lookup: the cheapest test Lua has
   if run then
      return run(aw)
   end
   local mt = getmetatable(aw)
   if mt == Coro or mt == CoroDebug then
      local fn, n, a, b = coro_take_few(aw)
      if not fn then -- more than two arguments
         return call(coro_take(aw))
      end
      -- a C function runs above this frame, which must not keep the object
      -- alive meanwhile (a Lua one replaces the frame)
      aw = nil -- luacheck: ignore 311 (read by the collector, not by us)
      if n == 1 then
         return fn(a)
      elseif n == 0 then
         return fn()
      end
      return fn(a, b)
   elseif mt == Task_mt or mt == Future_mt then
      return await_future(aw)
   elseif coro_mts[mt] then -- a reusable coroutine object: see register_reusable
      return aw.fn(aw)
   end
   return await_other(aw, mt, 0)
end
M.await = await
CoroMethods.await = await

-- Other modules (queues, locks) register the metatable of their reusable
-- coroutine objects: tables {fn = f, n = 1, awaited = false, self} that may
-- be awaited any number of times, each await calling f(self) in the task,
-- so the hot operations (queue:get(), lock:acquire()) allocate nothing. f
-- raises as await does when no task runs. Being coroutine objects, they are
-- accepted by create_task, which runs f(self) as the task's body. Objects
-- also entered in M.reusable (reusable[obj] = obj.fn) skip every other test
-- of await.
function M.register_reusable(mt)
   coro_mts[mt] = true
end

-- Whether aw is a shared coroutine object that stands for a new coroutine
-- each time it appears (sleep(0), queue:get(), lock:acquire()...): where
-- Python would have two coroutines, a list may hold it twice.
function M.is_reusable(aw)
   return aw == SLEEP0 or (type(aw) == "table" and coro_mts[getmetatable(aw)] == true)
end

-- asyncio.sleep(delay, ...) -> coroutine object resuming after delay
-- seconds with ... as results; sleep(0) yields for one loop iteration.
-- Written in C (src/task_wait.c, sleep_new) as it is the hottest constructor.
M.sleep = core.make_sleep(SLEEP0, coro_state)
C_NAMES[select(2, debug.getupvalue(M.sleep, 4))] = "sleep" -- the body of its objects (src/task_wait.c)

return M
