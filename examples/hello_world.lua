-- run_until_complete on a loop of our own, then asyncio.run (document 000).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local hello_world = async(function(x)
   print('hello_world x' .. tostring(x))
   await(asyncio.sleep(x))
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(hello_world(1))
loop:close()

asyncio.run(hello_world(2))
