-- Fire and forget: ensure_future starts a task nobody awaits (document 002).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local async_foo = async(function()
   print("async_foo started")
   await(asyncio.sleep(1))
   print("async_foo done")
end)

local main = async(function()
   asyncio.ensure_future(async_foo())  -- fire and forget async_foo()

   -- btw, you can also create tasks inside non-async funcs

   print('Do some actions 1')
   await(asyncio.sleep(1))
   print('Do some actions 2')
   await(asyncio.sleep(1))
   print('Do some actions 3')
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main())
