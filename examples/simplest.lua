-- The simplest asynchronous IO: run_until_complete on a coroutine object
-- (document 001). It pauses one second, then prints.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local coroutine_example = async(function()
   await(asyncio.sleep(1))
   print('zhihu ID: Zarten')
end)

local coro = coroutine_example()
local loop = asyncio.get_event_loop()
loop:run_until_complete(coro)
loop:close()
