-- Fire and forget, then let the tasks still pending when main is done finish
-- (document 002).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local async_foo = async(function()
   print("async_foo started")
   await(asyncio.sleep(1))
   print("async_foo done")
end)

local main = async(function()
   asyncio.ensure_future(async_foo())  -- fire and forget

   print('Do some actions 1')
   await(asyncio.sleep(0.1))
   print('Do some actions 2')
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main())

-- Let's also finish all running tasks:
local pending = {}
for task in pairs(asyncio.all_tasks(loop)) do
   pending[#pending + 1] = task
end
loop:run_until_complete(asyncio.gather(table.unpack(pending)))
