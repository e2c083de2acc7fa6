-- Case 2: yielding to the loop lets the task run first (document 002).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution wall clock: the loop's monotonic clock stands in
-- for time.time().
local function time()
   return asyncio.get_event_loop():time()
end

-- coroutine function
local p = async(function(word)
   print(('%s - %s'):format(time(), word))
end)

local main = async(function()
   local loop = asyncio.get_event_loop()
   local coro = p('await')
   local task2 = loop:create_task(p('create_task'))  -- scheduled to next iteration
   await(asyncio.sleep(1))  -- loop got control, and runs task2
   await(coro)  -- run coro
   await(task2)
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main())
