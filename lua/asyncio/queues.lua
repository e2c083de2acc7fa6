-- Queues (API.md §7): Queue, LifoQueue and PriorityQueue. The queue itself
-- and its operations are C (src/queue.c); this module checks arguments and
-- gives the objects their metatables.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local ops = require("asyncio.ops")

local M = {}

-- Python's maxsize is a property with no setter: an assignment raises,
-- where a plain field would take it and leave the queue at its old bound.
-- Other fields may be set on a queue, as attributes on Python's.
local function refuse_maxsize(q, key, value)
   if key == "maxsize" then
      error(("cannot assign to 'maxsize' of %s: it is read-only"):format(tostring(q)), 2)
   end
   rawset(q, key, value)
end

-- Makes the constructor of one kind of queue. Each queue gets a metatable
-- of its own, whose __index holds its maxsize beside the methods (one
-- lookup, as a shared table of methods would take); put and get are the
-- queue's own fields (src/queue.c).
local function class(kind, name)
   local classname = "asyncio." .. name
   return function(maxsize, ...)
      coroutines.check_no_more(name, 1, maxsize, ...) -- as Python's: Queue(1, loop) is a TypeError
      if maxsize == nil then
         maxsize = 0
      elseif type(maxsize) ~= "number" then
         error(("bad argument #1 to '%s' (number expected, got %s)"):format(name, coroutines.typename(maxsize)), 2)
      elseif maxsize ~= maxsize then
         error(("bad argument #1 to '%s' (maxsize is NaN)"):format(name), 2)
      end
      local fields = { maxsize = maxsize }
      for method, fn in pairs(core.queue_methods) do
         fields[method] = fn
      end
      local mt = {
         __name = classname,
         __index = fields,
         __newindex = refuse_maxsize,
         __tostring = core.queue_tostring,
      }
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
