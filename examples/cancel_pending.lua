-- Cancel the tasks still pending instead of awaiting them (document 002).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local echo_forever = async(function()
   while true do
      print("echo")
      await(asyncio.sleep(1))
   end
end)

local main = async(function()
   asyncio.ensure_future(echo_forever())  -- fire and forget

   print('Do some actions 1')
   await(asyncio.sleep(1))
   print('Do some actions 2')
   await(asyncio.sleep(1))
   print('Do some actions 3')
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main())

-- Let's also cancel all running tasks:
for task in pairs(asyncio.all_tasks(loop)) do
   task:cancel()
   -- Now we should await task to execute its cancellation.
   -- A cancelled task raises asyncio.CancelledError, which we suppress:
   local ok, err = pcall(loop.run_until_complete, loop, task)
   if not ok and not asyncio.CancelledError:is(err) then
      error(err, 0)
   end
end
