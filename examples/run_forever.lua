-- run_forever, stopped by a done callback (document 002).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local loop

local slow_operation = async(function()
   await(asyncio.sleep(1))
   return 'Future is done!'
end)

local function got_result(future)
   print(future:result())

   -- We have result, so let's stop
   loop:stop()
end

loop = asyncio.get_event_loop()
local task = loop:create_task(slow_operation())
task:add_done_callback(got_result)

-- We run forever
loop:run_forever()
