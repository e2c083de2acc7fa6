-- The reusable coroutine objects that queue:get(), queue:put(item),
-- lock:acquire(), event:wait() and the like return (see
-- coroutines.register_reusable): one per object and operation, made once,
-- so the hot operations allocate nothing. Awaiting one calls its fn with
-- it, in the awaiting task; create_task runs the same call as a task body.

local coroutines = require("asyncio.coroutines")

local M = {}

-- Where await does not know these objects, as a fallback it awaits the
-- (one-shot) coroutine object __await returns.
local run_op = coroutines.async(function(op) return op.fn(op) end)

M.Op = {
   __name = "coroutine",
   __index = { await = coroutines.await },
   __tostring = function(op) return ("<coroutine object %s at %p>"):format(op.name, op) end,
   __await = function(op) return run_op(op) end,
}
coroutines.register_reusable(M.Op)

local reusable = coroutines.reusable

-- A reusable coroutine object named name running fn(op), with op[2] = target.
function M.new(fn, name, target)
   local op = setmetatable({ fn = fn, n = 1, awaited = false, name = name, false, target }, M.Op)
   op[1] = op
   reusable[op] = fn
   return op
end

return M
