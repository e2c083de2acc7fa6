-- The reader and writer of a Stream (src/stream.c), shared by sockets
-- (streams.lua) and the pipes of child processes (subprocess.lua).
--
-- Each half gets the reusable coroutine object its awaitable methods hand
-- out (src/reader.c). Its slots: 1 the object, 2 the reader or writer, 3
-- the operation, 4 and 5 its arguments; all in the array part.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local ops = require("asyncio.ops")

local M = {}

M.DEFAULT_LIMIT = 65536

local reader_op, writer_op = core.reader_op, core.writer_op
local Op, reusable = ops.Op, coroutines.reusable

local function new_op(fn, name)
   local op = setmetatable({ fn = fn, n = 1, awaited = false, name = name, false, false, 0, false, false }, Op)
   op[1] = op
   reusable[op] = fn
   return op
end

-- halves(stream, limit) -> reader, writer
function M.halves(stream, limit)
   if limit ~= M.DEFAULT_LIMIT then
      stream:set_limit(limit)
   end
   local rop = new_op(reader_op, "StreamReader operation")
   local wop = new_op(writer_op, "StreamWriter operation")
   local reader, writer = stream:halves(rop, wop)
   rop[2], wop[2] = reader, writer
   reusable[rop] = rop.fn -- now bound to its reader (src/reader.c)
   return reader, writer
end

-- The methods Python writes `async def`, for iscoroutinefunction.
for _, name in ipairs({ "read", "readline", "readexactly", "readuntil" }) do
   coroutines.mark_async(core.StreamReader[name])
end
for _, name in ipairs({ "drain", "wait_closed" }) do
   coroutines.mark_async(core.StreamWriter[name])
end

return M
