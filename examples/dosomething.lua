-- Five tasks that sleep 2 seconds each, all at once (document 000).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.time().
local now = function() return asyncio.get_event_loop():time() end

local dosomething = async(function(num)
   print(('第 %d 任務,第一步'):format(num))
   await(asyncio.sleep(2))
   print(('第 %d 任務,第二步'):format(num))
end)

local start = now()
local tasks = {}
for i = 0, 4 do
   tasks[#tasks + 1] = dosomething(i)
end
local loop = asyncio.get_event_loop()
loop:run_until_complete(asyncio.wait(tasks))
print('TIME:  ' .. (now() - start))
