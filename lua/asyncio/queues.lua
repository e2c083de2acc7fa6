-- Queues (API.md §7): Queue, LifoQueue and PriorityQueue. The queue itself
-- and its operations are C (src/queue.c); this module checks arguments and
-- gives the objects their metatables.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local ops = require("asyncio.ops")

local M = {}

-- Makes the constructor of one kind of queue.
local function class(kind, name)
   local mt = {
      __name = "asyncio." .. name,
      __index = core.queue_methods,
      __tostring = core.queue_tostring,
   }
   return function(maxsize, ...)
      coroutines.check_no_more(name, 1, maxsize, ...) -- as Python's: Queue(1, loop) is a TypeError
      if maxsize == nil then
         maxsize = 0
      elseif type(maxsize) ~= "number" then
         error(("bad argument #1 to '%s' (number expected, got %s)"):format(name, coroutines.typename(maxsize)), 2)
      elseif maxsize ~= maxsize then
         error(("bad argument #1 to '%s' (maxsize is NaN)"):format(name), 2)
      end
      local q = core.queue_new(mt, kind, maxsize, ops.Op, coroutines.reusable)
      -- each queue has its own put and get (src/queue.c): Python's are
      -- `async def`, so iscoroutinefunction says true of them
      coroutines.mark_async(q.put)
      coroutines.mark_async(q.get)
      return q
   end
end

M.Queue = class(0, "Queue")
M.LifoQueue = class(1, "LifoQueue")
M.PriorityQueue = class(2, "PriorityQueue")
coroutines.mark_async(core.queue_methods.join)

return M
