-- The result delivered to a done callback (document 001).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local function my_callback(future)
   print('返回值: ' .. future:result())
end

local coroutine_example = async(function()
   await(asyncio.sleep(1))
   return 'zhihu ID: Zarten'
end)

local coro = coroutine_example()
local loop = asyncio.get_event_loop()
local task = loop:create_task(coro)
task:add_done_callback(my_callback)
loop:run_until_complete(task)
loop:close()
