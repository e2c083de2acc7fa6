-- asyncio.wait over tasks, their results collected afterwards (document 001).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local coroutine_example = async(function(name)
   print('正在执行name: ' .. name)
   await(asyncio.sleep(1))
   print('执行完毕name: ' .. name)
   return '返回值:' .. name
end)

local loop = asyncio.get_event_loop()
local tasks = {}
for i = 0, 2 do
   tasks[#tasks + 1] = loop:create_task(coroutine_example('Zarten_' .. i))
end
local wait_coro = asyncio.wait(tasks)
loop:run_until_complete(wait_coro)
for _, task in ipairs(tasks) do
   print(task:result())
end
loop:close()
