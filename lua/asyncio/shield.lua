-- asyncio.shield (API.md §5), as Python's: a new future that follows the
-- inner one, so that cancelling it (or the task awaiting it) leaves the
-- inner one running.

local awaitable = require("asyncio.awaitable")
local coroutines = require("asyncio.coroutines")

local pack, unpack, pcall = table.pack, table.unpack, pcall

local M = {}

-- asyncio.shield(aw) -> Future, or aw itself if it is already done.
function M.shield(aw, ...)
   coroutines.check_no_more("shield", 1, aw, ...)
   local inner = awaitable.to_future(aw, nil, 1, "shield", 2)
   if inner:done() then
      return inner
   end
   local outer = inner:get_loop():create_future()

   local function on_inner_done()
      if outer:cancelled() then
         if not inner:cancelled() then
            inner:exception() -- retrieved: the shield's owner gave up on it
         end
         return
      end
      if inner:cancelled() then
         outer:cancel()
         return
      end
      local r = pack(pcall(inner.result, inner))
      if r[1] then
         outer:set_result(unpack(r, 2, r.n))
      else
         outer:set_exception(r[2] == nil and awaitable.NIL_ERROR or r[2])
      end
   end

   local function on_outer_done()
      if not inner:done() then
         inner:remove_done_callback(on_inner_done)
      end
   end

   inner:add_done_callback(on_inner_done)
   outer:add_done_callback(on_outer_done)
   return outer
end

return M
