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
local await = coroutines.await
local CancelledError, TimeoutError = errors.CancelledError, errors.TimeoutError
local await_future = core.await_future
local wait_for_arm, wait_for_disarm, wait_for_new = core.wait_for_arm, core.wait_for_disarm, core.wait_for_new
local new_coro = core.new_coro
local running_loop, call_soon, current_task = core.get_running_loop, core.Loop.call_soon, core.current_task
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

-- A wait_for's deadline passed: its handle (made by wait_for_future or
-- core.wait_for_arm) calls this with the task, and disarming it then
-- tells that it ran. As timeouts.lua's on_timeout.
local function expire(task)
   task:cancel()
end

-- Leaving a guarded wait that did not end well, with the results of
-- pcall(await_future, fut), the deadline disarmed (wait_for_future
-- returns them itself when the wait ended well): what timeouts.lua's
-- Timeout:__close does, then the check of a result that came with the
-- deadline. A future that finished with its results just before the
-- deadline, in the same loop iteration, keeps them: the guard had
-- cancelled the task while fut's wake-up was on its way (Python 3.12+
-- raises TimeoutError here; 3.11 returned them). Returns true and the
-- results to return, or false and the error to raise.
local function leave(fut, ncancels, expired, ok, ...)
   local err = ...
   if expired and current_task():uncancel() <= ncancels and not ok and CancelledError:is(err) then
      err = TimeoutError(nil, { cause = err })
   end
   if ok then
      return true, ...
   elseif TimeoutError:is(err) and fut:done() and not fut:cancelled() and fut:exception() == nil then
      return true, fut:result()
   end
   return false, err
end
local wait_for_future = core.make_wait_for_future(await_future, leave, expire, call_soon)

-- The guard of a coroutine object run under a deadline, { handle,
-- cancelling }, closed as timeouts.lua's Timeout:__close.
local Guard = {
   __close = function(guard, err)
      if wait_for_disarm(guard[1]) and current_task():uncancel() <= guard[2]
            and CancelledError:is(err) then
         error(TimeoutError(nil, { cause = err }), 0)
      end
   end,
}

-- The body of wait_for's coroutine objects: for a future or a task, as
-- core.wait_for_new picks it.
local function wait_for_fut(fut, delay)
   if delay == nil then
      return await(fut)
   elseif delay <= 0 then
      return wait_expired(fut)
   end
   return wait_for_future(fut, delay)
end

-- The body of wait_for's coroutine objects: for a coroutine object or
-- another awaitable.
local function wait_for(aw, delay)
   local mt = getmetatable(aw)
   if mt == Task_mt or mt == Future_mt then
      return wait_for_fut(aw, delay)
   elseif delay == nil then
      return await(aw)
   elseif delay <= 0 then
      return wait_expired(aw)
   end
   -- asyncio.timeouts' Timeout made and closed inline, with no object of
   -- its own
   local handle, ncancels, task = wait_for_arm(nil, delay, expire)
   if handle == nil then -- the deadline passed already (a tiny delay)
      handle = call_soon(running_loop(), expire, task)
   end
   local _ <close> = setmetatable({ handle, ncancels }, Guard) -- a coroutine object runs right here
   return await(aw)
end

-- asyncio.wait_for(aw, timeout) -> coroutine object
function M.wait_for(aw, delay)
   local co = wait_for_new(wait_for, wait_for_fut, aw, delay) -- the arguments most calls have
   if co then
      return co
   end
   local mt = getmetatable(aw)
   if mt ~= Task_mt and mt ~= Future_mt and not coro_mts[mt] then
      awaitable.check(aw, 1, "wait_for", 2)
   end
   if delay ~= nil and (type(delay) ~= "number" or delay ~= delay) then
      awaitable.argerror(2, "wait_for", "number or nil expected, got "
         .. (delay ~= delay and "nan" or coroutines.typename(delay)), 2)
   end
   return new_coro(wait_for, aw, delay)
end

return M
