-- asyncio.wait over tasks, their results delivered to done callbacks
-- (document 001).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local function my_callback(future)
   print('返回值: ' .. future:result())
end

local coroutine_example = async(function(name)
   print('正在执行name: ' .. name)
   await(asyncio.sleep(1))
   print('执行完毕name: ' .. name)
   return '返回值:' .. name
end)

local loop = asyncio.get_event_loop()
local tasks = {}
for i = 0, 2 do
   local task = loop:create_task(coroutine_example('Zarten_' .. i))
   task:add_done_callback(my_callback)
   tasks[#tasks + 1] = task
end
local wait_coro = asyncio.wait(tasks)
loop:run_until_complete(wait_coro)
loop:close()
