-- The question of "fire and forget" (document 002): calling an async function
-- without awaiting it runs nothing, it only makes a coroutine object (with
-- LUA_ASYNCIO_DEBUG=1 it is reported on stderr as never awaited, as Python
-- always warns). The program prints nothing.

local asyncio = require("asyncio")
local async = asyncio.async

local async_foo = async(function()
   print("Do some stuff asynchronously here...")
end)

local function bar()
   async_foo()  -- fire and forget "async_foo()"
end

bar()
