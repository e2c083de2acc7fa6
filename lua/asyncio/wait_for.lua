-- asyncio.wait_for (API.md §5), as Python 3.12+ writes it: awaiting under
-- a timeout guard, so that on timeout the awaitable is cancelled and
-- awaited before TimeoutError is raised, a cancellation of the awaiting
-- task reaches the awaitable, and a result that comes with the deadline
-- (an awaitable that swallows the cancellation and returns) is returned.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local events = require("asyncio.events")
local awaitable = require("asyncio.awaitable")

local pack, unpack, pcall, error, type = table.pack, table.unpack, pcall, error, type
local setmetatable = setmetatable
local getmetatable = debug.getmetatable -- raw: type tests need the real one
local async, await = coroutines.async, coroutines.await
local CancelledError, TimeoutError = errors.CancelledError, errors.TimeoutError
local await_future = core.await_future
local wait_for_arm, running_loop, call_soon = core.wait_for_arm, core.get_running_loop, core.Loop.call_soon
-- Handle:cancel, taken from the first handle made
local cancel_handle
local Future_mt, Task_mt = core.Future_mt, core.Task_mt
local coro_mts = coroutines.coro_metatables

local M = {}

-- Cancels fut and waits until it is done, through a future of our own so
-- that this wait can itself be cancelled (Python's _cancel_and_wait).
local function cancel_and_wait(fut)
   local waiter = events.get_running_loop():create_future()
   local function release()
      if not waiter:done() then
         waiter:set_result()
      end
   end
   fut:add_done_callback(release)
   local ok, err = pcall(function()
      fut:cancel()
      await(waiter)
   end)
   fut:remove_done_callback(release)
   if not ok then
      error(err, 0)
   end
end

-- timeout <= 0: a future that is not done yet is cancelled at once.
local function wait_expired(aw)
   local fut = awaitable.to_future(aw, events.get_running_loop(), 1, "wait_for", 1)
   if fut:done() then
      return fut:result()
   end
   cancel_and_wait(fut)
   local r = pack(pcall(fut.result, fut))
   if r[1] then
      return unpack(r, 2, r.n)
   end
   if CancelledError:is(r[2]) then
      error(TimeoutError(nil, { cause = r[2] }), 0)
   end
   error(r[2], 0)
end

-- A wait_for's guard is { task, expired }: the task it cancels when the
-- deadline passes, and whether that happened (core.wait_for_arm makes
-- it). Its deadline passed: as timeouts.lua's on_timeout.
local function expire(guard)
   guard[1]:cancel()
   guard[2] = true
end

-- Leaving a guarded wait with the results of pcall(await_future, fut):
-- what timeouts.lua's Timeout:__close does, then the check of a result
-- that came with the deadline. A future that finished with its results
-- just before the deadline, in the same loop iteration, keeps them: the
-- guard had cancelled the task while fut's wake-up was on its way (Python
-- 3.12+ raises TimeoutError here; 3.11 returned them).
local function leave(fut, handle, guard, ncancels, ok, ...)
   local expired = guard[2]
   if ok and not expired then -- the common case
      cancel_handle(handle)
      return ...
   end
   local err = ...
   if not expired then
      cancel_handle(handle)
   elseif guard[1]:uncancel() <= ncancels and not ok and CancelledError:is(err) then
      err = TimeoutError(nil, { cause = err })
   end
   if ok then
      return ...
   elseif TimeoutError:is(err) and fut:done() and not fut:cancelled() and fut:exception() == nil then
      return fut:result()
   end
   error(err, 0)
end

-- The guard of a coroutine object run under a deadline, { task, expired,
-- handle, cancelling }, closed as timeouts.lua's Timeout:__close.
local Guard = {
   __close = function(guard, err)
      if not guard[2] then
         cancel_handle(guard[3])
      elseif guard[1]:uncancel() <= guard[4] and CancelledError:is(err) then
         error(TimeoutError(nil, { cause = err }), 0)
      end
   end,
}

local wait_for = async(function(aw, delay)
   if delay == nil then
      return await(aw)
   elseif delay <= 0 then
      return wait_expired(aw)
   end
   local mt = getmetatable(aw)
   if mt == Task_mt or mt == Future_mt then
      -- asyncio.timeouts' Timeout made and closed inline, with no object
      -- of its own; none for a future done already, awaited without
      -- suspending
      local handle, ncancels, guard = wait_for_arm(aw, delay, expire)
      if handle == false then
         return await_future(aw)
      elseif handle == nil then -- the deadline passed already (a tiny delay)
         handle = call_soon(running_loop(), expire, guard)
      end
      cancel_handle = cancel_handle or handle.cancel -- one function for both kinds
      return leave(aw, handle, guard, ncancels, pcall(await_future, aw))
   end
   local handle, ncancels, guard = wait_for_arm(nil, delay, expire)
   if handle == nil then
      handle = call_soon(running_loop(), expire, guard)
   end
   cancel_handle = cancel_handle or handle.cancel
   guard[3], guard[4] = handle, ncancels
   local _ <close> = setmetatable(guard, Guard) -- a coroutine object runs right here
   return await(aw)
end)

-- asyncio.wait_for(aw, timeout) -> coroutine object
function M.wait_for(aw, delay)
   local mt = getmetatable(aw)
   if mt ~= Task_mt and mt ~= Future_mt and not coro_mts[mt] then
      awaitable.check(aw, 1, "wait_for", 2)
   end
   if delay ~= nil and (type(delay) ~= "number" or delay ~= delay) then
      awaitable.argerror(2, "wait_for", "number or nil expected, got "
         .. (delay ~= delay and "nan" or coroutines.typename(delay)), 2)
   end
   return wait_for(aw, delay)
end

return M
