-- A Task shows how its coroutine is doing, before and after it ran
-- (document 001): pending first, then finished with its result.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local coroutine_example = async(function()
   await(asyncio.sleep(1))
   print('zhihu ID: Zarten')
end)

local coro = coroutine_example()
local loop = asyncio.get_event_loop()
local task = loop:create_task(coro)
print('运行情况: ' .. tostring(task))
loop:run_until_complete(task)
print('再看下运行情况: ' .. tostring(task))
loop:close()
