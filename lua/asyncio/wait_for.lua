-- asyncio.wait_for (API.md §5), as Python 3.12+ writes it: awaiting under
-- a timeout guard, so that on timeout the awaitable is cancelled and
-- awaited before TimeoutError is raised, a cancellation of the awaiting
-- task reaches the awaitable, and a result that comes with the deadline
-- (an awaitable that swallows the cancellation and returns) is returned.

local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local events = require("asyncio.events")
local awaitable = require("asyncio.awaitable")
local timeouts = require("asyncio.timeouts")

local pack, unpack, pcall, error, type = table.pack, table.unpack, pcall, error, type
local async, await = coroutines.async, coroutines.await
local CancelledError, TimeoutError = errors.CancelledError, errors.TimeoutError
local timeout = timeouts.timeout

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

local wait_for = async(function(aw, delay)
   if delay == nil then
      return await(aw)
   elseif delay <= 0 then
      return wait_expired(aw)
   end
   local _ <close> = timeout(delay)
   return await(aw)
end)

-- asyncio.wait_for(aw, timeout) -> coroutine object
function M.wait_for(aw, delay)
   awaitable.check(aw, 1, "wait_for", 2)
   if delay ~= nil and (type(delay) ~= "number" or delay ~= delay) then
      awaitable.argerror(2, "wait_for", "number or nil expected, got "
         .. (delay ~= delay and "nan" or coroutines.typename(delay)), 2)
   end
   return wait_for(aw, delay)
end

return M
