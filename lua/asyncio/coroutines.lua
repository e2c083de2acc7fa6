-- Coroutine objects and await (API.md §1), and sleep (§5).
--
-- A coroutine object is a plain table {fn = f, n = #args, args...}: awaiting
-- it calls f(args...) right here, in the awaiting task's own Lua coroutine,
-- as an ordinary (tail) call. That is what makes chaining as cheap as a call
-- and lets await work at any depth. Futures and tasks are awaited by the C
-- core, which suspends the task.

local core = require("asyncio.core")

local getmetatable, setmetatable, select, type = getmetatable, setmetatable, select, type
local error, tostring, unpack = error, tostring, table.unpack
local await_future, check_task, core_sleep = core.await_future, core.check_task, core.sleep
local Future_mt, Task_mt = core.Future_mt, core.Task_mt

local M = {}

-- Methods of coroutine objects (filled in below).
local CoroMethods = {}

local function coro_tostring(co)
   return "<coroutine " .. tostring(co.fn):gsub("^function: ", "") .. ">"
end

-- The metatable of coroutine objects, and the one used in debug mode, whose
-- finalizer reports objects that were never awaited.
local Coro = { __name = "coroutine", __index = CoroMethods, __tostring = coro_tostring }
local CoroDebug = { __name = "coroutine", __index = CoroMethods, __tostring = coro_tostring }
local coro_mts = { [Coro] = true, [CoroDebug] = true }
core.set_coro_mt(coro_mts)
M.coro_metatables = coro_mts

local creating = Coro -- the metatable new coroutine objects get
local sleep_state = { mt = Coro } -- the same, for the C sleep constructor

-- Turns the never-awaited report of coroutine objects on or off.
function M.set_debug(on)
   creating = on and CoroDebug or Coro
   sleep_state.mt = creating
end

function M.set_never_awaited_reporter(report)
   CoroDebug.__gc = function(co)
      if not co.awaited then
         report(co)
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

function M.argerror(n, fname, expected, got)
   error(("bad argument #%d to '%s' (%s expected, got %s)"):format(n, fname, expected, typename(got)), 3)
end

local async_functions = setmetatable({}, { __mode = "k" })

-- asyncio.async(fn) -> afn: calling afn(...) returns a coroutine object.
function M.async(fn)
   if type(fn) ~= "function" then
      M.argerror(1, "async", "function", fn)
   end
   local function afn(...)
      -- awaited is present from the start so setting it never rehashes
      return setmetatable({ fn = fn, n = select("#", ...), awaited = false, ... }, creating)
   end
   async_functions[afn] = true
   return afn
end

function M.iscoroutine(x)
   return coro_mts[getmetatable(x)] == true
end

function M.iscoroutinefunction(x)
   return async_functions[x] == true
end

-- Awaits what await() does not know natively: values with __await.
local function await_other(aw, mt, depth)
   local hook = type(mt) == "table" and mt.__await
   if hook then
      if depth > 100 then
         error("__await returned awaitables more than 100 levels deep", 3)
      end
      local inner = hook(aw)
      local imt = getmetatable(inner)
      if imt == Coro or imt == CoroDebug or imt == Future_mt or imt == Task_mt then
         return M.await(inner)
      end
      return await_other(inner, imt, depth + 1)
   end
   if type(aw) == "function" then
      error("attempt to await a function; call it to get an awaitable: await(f(...))", 3)
   end
   error(("bad argument #1 to 'await' (awaitable expected, got %s)"):format(typename(aw)), 3)
end

-- sleep(0) with no extra value returns this one shared, immutable object:
-- like Python's own sleep(0) shortcut, it only yields for one iteration,
-- and sharing it keeps the hottest await free of allocation. await treats
-- it specially (it may be awaited any number of times); tasks.lua hands
-- create_task a fresh copy.
local SLEEP0 = setmetatable({ fn = core_sleep, n = 1, awaited = false, 0 }, Coro)
M.SLEEP0 = SLEEP0

-- A coroutine object of its own for sleep(0).
function M.new_sleep0()
   return setmetatable({ fn = core_sleep, n = 1, awaited = false, 0 }, creating)
end

-- asyncio.await(aw) -> ...: all results of aw, or its error.
local function await(aw)
   if aw == SLEEP0 then
      return core_sleep(0)
   end
   local mt = getmetatable(aw)
   if mt == Coro or mt == CoroDebug then
      if aw.awaited then
         error("cannot await a coroutine object twice (" .. coro_tostring(aw) .. ")", 2)
      end
      check_task()
      aw.awaited = true
      return aw.fn(unpack(aw, 1, aw.n))
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
-- accepted by create_task, which runs f(self) as the task's body.
function M.register_reusable(mt)
   coro_mts[mt] = true
end

-- Runs the coroutine object that is a task's body (already marked awaited).
function M.run_coro(co)
   return co.fn(unpack(co, 1, co.n))
end

-- asyncio.sleep(delay, ...) -> coroutine object resuming after delay
-- seconds with ... as results; sleep(0) yields for one loop iteration.
-- Written in C (src/task.c, sleep_new) as it is the hottest constructor.
M.sleep = core.make_sleep(SLEEP0, sleep_state)

return M
