-- task:result() before the task is done raises InvalidStateError
-- (document 001).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local coroutine_example = async(function()
   await(asyncio.sleep(1))
   return 'zhihu ID: Zarten'
end)

local coro = coroutine_example()
local loop = asyncio.get_event_loop()
local task = loop:create_task(coro)
print('运行情况: ' .. tostring(task))
local ok, result = pcall(task.result, task)
if ok then
   print('返回值: ' .. result)
elseif asyncio.InvalidStateError:is(result) then
   print('task状态未完成,捕获了 InvalidStateError 异常')
else
   error(result, 0)
end
loop:run_until_complete(task)
print('再看下运行情况: ' .. tostring(task))
print('返回值: ' .. task:result())
loop:close()
