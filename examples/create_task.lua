-- Three tasks created first and awaited after: they sleep at the same time,
-- so the whole takes 3 seconds, not 6 (document 000).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.time().
local function time()
   return asyncio.get_event_loop():time()
end

local dosomething = async(function(num)
   await(asyncio.sleep(num))
end)

local main = async(function()
   local task1 = asyncio.create_task(dosomething(1))
   local task2 = asyncio.create_task(dosomething(2))
   local task3 = asyncio.create_task(dosomething(3))
   await(task1)
   await(task2)
   await(task3)
end)

local time_start = time()
asyncio.run(main())
print(time() - time_start)
