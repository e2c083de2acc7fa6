-- asyncio.as_completed (API.md §5), Python 3.13's plain iteration: an
-- iterator for a generic for whose every step gives a coroutine object
-- that resolves to the results of the next future to finish (or raises
-- its error, or TimeoutError once the timeout has passed).
--
--    for aw in asyncio.as_completed(list) do local v = await(aw) end
--
-- Finished futures go through a FIFO that hands them to the waiting
-- steps in order, exactly as the asyncio.Queue Python uses does: a step
-- finds one at once if there is one, else it waits for the next.

local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local events = require("asyncio.events")
local awaitable = require("asyncio.awaitable")
local wait = require("asyncio.wait")

local pcall, error = pcall, error
local async, await = coroutines.async, coroutines.await
local TimeoutError = errors.TimeoutError

local M = {}

local OPTIONS = { timeout = awaitable.number_or_nil }

-- The FIFO of finished futures (false: the timeout passed) and the
-- futures of the steps waiting for one.
local function new_fifo()
   return { head = 1, tail = 0, getters = {}, ghead = 1 }
end

local function empty(q)
   return q.head > q.tail
end

-- Wakes the first waiting step that still waits (Queue._wakeup_next).
local function wakeup_next(q)
   local getters = q.getters
   while q.ghead <= #getters do
      local getter = getters[q.ghead]
      getters[q.ghead] = false
      q.ghead = q.ghead + 1
      if getter and not getter:done() then
         getter:set_result()
         return
      end
   end
end

local function put(q, item)
   q.tail = q.tail + 1
   q[q.tail] = item
   wakeup_next(q)
end

local function forget_getter(q, getter)
   local getters = q.getters
   for i = q.ghead, #getters do
      if getters[i] == getter then
         getters[i] = false
         return
      end
   end
end

-- Queue.get: the next item, waiting for one if there is none.
local function get(q, loop)
   while empty(q) do
      local getter = loop:create_future()
      q.getters[#q.getters + 1] = getter
      local ok, err = pcall(await, getter)
      if not ok then
         getter:cancel()
         forget_getter(q, getter)
         if not empty(q) and not getter:cancelled() then
            wakeup_next(q) -- woken but leaving: pass the item on
         end
         error(err, 0)
      end
   end
   local item = q[q.head]
   q[q.head] = nil
   q.head = q.head + 1
   return item
end

local wait_for_one = async(function(q, loop)
   local f = get(q, loop)
   if not f then
      error(TimeoutError(), 0)
   end
   return f:result()
end)

-- asyncio.as_completed(list [, {timeout=}]) -> iterator
function M.as_completed(aws, opts)
   -- as Python's: an empty list gives an iterator that ends at once
   local list = wait.check_aws(aws, "as_completed", 2, true)
   awaitable.check_options(opts, OPTIONS, 2, "as_completed", 2)
   local timeout = opts and opts.timeout
   local loop = events.get_event_loop()
   local unfinished, left = {}, #list
   local q = new_fifo()
   local handle

   local function on_completion(f)
      if unfinished[f] == nil then
         return -- the timeout came first
      end
      unfinished[f] = nil
      left = left - 1
      put(q, f)
      if left == 0 and handle ~= nil then
         handle:cancel()
      end
   end

   local function on_timeout()
      for f in pairs(unfinished) do
         f:remove_done_callback(on_completion)
         put(q, false)
      end
      unfinished = {}
      left = 0
   end

   for i = 1, #list do
      local f = awaitable.to_future(list[i], loop, 1, "as_completed", 2)
      list[i] = f
      unfinished[f] = true
      f:add_done_callback(on_completion)
   end
   if timeout ~= nil and #list > 0 then
      handle = loop:call_later(timeout, on_timeout)
   end

   local steps = #list
   return function()
      if steps == 0 then
         return nil
      end
      steps = steps - 1
      return wait_for_one(q, loop)
   end
end

return M
