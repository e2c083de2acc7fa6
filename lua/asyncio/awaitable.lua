-- What the composing functions (gather, wait, wait_for, shield, ...) share:
-- turning an argument into a future the way ensure_future does, with
-- errors that name the public function and the argument, and the checks of
-- their option tables.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local tasks = require("asyncio.tasks")

local getmetatable = debug.getmetatable -- raw: type tests need the real one
local type, error, pairs = type, error, pairs
local typename = coroutines.typename
local coro_mts = coroutines.coro_metatables
local Future_mt, Task_mt = core.Future_mt, core.Task_mt
local spawn, wrap_awaitable = tasks.spawn, tasks.wrap_awaitable

local M = {}

-- What a future fails with in place of a nil error (a Lua error may be
-- nil, the error of a future may not), as lua.c reports it.
M.NIL_ERROR = core.NIL_ERROR

-- Raises "bad argument #argn to 'fname' (msg)" at the given level above
-- the caller of argerror.
local function argerror(argn, fname, msg, level)
   error(("bad argument #%d to '%s' (%s)"):format(argn, fname, msg), level + 1)
end
M.argerror = argerror

-- The kind of awaitable x is: "future", "coroutine", "other" (a value with
-- __await) or nil.
local function kind(x)
   local mt = getmetatable(x)
   if mt == Task_mt or mt == Future_mt then
      return "future"
   elseif coro_mts[mt] then
      return "coroutine"
   elseif type(mt) == "table" and mt.__await ~= nil then
      return "other"
   end
   return nil
end
M.kind = kind

-- Raises the error for an argument that is not awaitable.
local function not_awaitable(x, argn, fname, level)
   if type(x) == "function" then
      argerror(argn, fname, "awaitable expected, got function; call it to get one", level + 1)
   end
   argerror(argn, fname, "awaitable expected, got " .. typename(x), level + 1)
end

-- Checks that x can be awaited; level is that of the public function.
function M.check(x, argn, fname, level)
   if kind(x) == nil then
      not_awaitable(x, argn, fname, level + 1)
   end
end

-- ensure_future(x) on loop (nil: the current one): a future or task as it
-- is (it must belong to loop when one is given), anything else awaitable
-- wrapped in a new task. Argument errors name fname and argn and point
-- level levels above this call.
function M.to_future(x, loop, argn, fname, level)
   local k = kind(x)
   if k == "future" then
      if loop ~= nil and x:get_loop() ~= loop then
         argerror(argn, fname, "the future belongs to a different loop", level + 1)
      end
      return x
   elseif k == "coroutine" then
      return spawn(loop or events.get_event_loop(), x)
   elseif k == "other" then
      return spawn(loop or events.get_event_loop(), wrap_awaitable(x))
   end
   not_awaitable(x, argn, fname, level + 1)
end

-- Checks an options table against the set of names it may hold, each
-- mapped to a checker returning an error message or nil.
function M.check_options(opts, allowed, argn, fname, level)
   if opts == nil then
      return
   end
   if type(opts) ~= "table" or getmetatable(opts) ~= nil then
      argerror(argn, fname, "options table expected, got " .. typename(opts), level + 1)
   end
   for key, value in pairs(opts) do
      local check = allowed[key]
      if check == nil then
         argerror(argn, fname, ("unknown option '%s'"):format(tostring(key)), level + 1)
      end
      local problem = check(value)
      if problem ~= nil then
         argerror(argn, fname, ("option '%s' %s"):format(key, problem), level + 1)
      end
   end
end

-- Option checkers.
function M.number_or_nil(v)
   if v ~= nil and (type(v) ~= "number" or v ~= v) then
      return "must be a number or nil, got " .. (v ~= v and "nan" or typename(v))
   end
end

function M.boolean_or_nil(v)
   if v ~= nil and type(v) ~= "boolean" then
      return "must be a boolean, got " .. typename(v)
   end
end

function M.function_or_nil(v)
   if v ~= nil and type(v) ~= "function" then
      return "must be a function, got " .. typename(v)
   end
end

return M
