-- Sets of tasks and futures, {[future] = true}, as all_tasks and wait
-- return them. Lua's pairs() walks a table in an order set by pointer
-- hashes, different from run to run; Python's sets iterate by address
-- hashes too, which for the few tasks of most programs is the order they
-- were made, and programs print or cancel in that order. A TaskSet's
-- pairs() therefore yields its tasks in creation order, then any other
-- futures: deterministic, and Python's order where Python's is stable.
-- Plain next() and set[task] lookups work as on any table; # counts.

local core = require("asyncio.core")

local getmetatable, setmetatable, next, sort = getmetatable, setmetatable, next, table.sort
local typeof = core.typeof

local M = {}

local function made_before(a, b)
   return a:_id() < b:_id()
end

local TaskSet = {}

function TaskSet.__pairs(set)
   local list, others = {}, {}
   for x in next, set do
      if typeof(x) == "task" then
         list[#list + 1] = x
      else
         others[#others + 1] = x
      end
   end
   sort(list, made_before)
   for i = 1, #others do
      list[#list + 1] = others[i]
   end
   local i = 0
   return function()
      i = i + 1
      local x = list[i]
      if x ~= nil then
         return x, set[x]
      end
   end, set, nil
end

-- #set counts its members, as Python's len(): a port of
-- len(asyncio.all_tasks()) or len(pending) got 0 from a table with no
-- array part.
function TaskSet.__len(set)
   local n = 0
   for _ in next, set do
      n = n + 1
   end
   return n
end

-- TaskSet.new([t]) -> t (or a new table) as a TaskSet
function M.new(t)
   return setmetatable(t or {}, TaskSet)
end

function M.is(t)
   return getmetatable(t) == TaskSet
end

return M
