-- long_operation.lua with asyncio.ensure_future(long_operation()) replaced
-- by await(long_operation()), "to feel the difference" (document 002): the
-- long operation now runs inline before "second", and the final await(task)
-- fails, since task is nil (the program exits with status 1, as the Python
-- original does with its TypeError).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local msg = async(function(text)
   await(asyncio.sleep(0.1))
   print(text)
end)

local long_operation = async(function()
   print('long_operation started')
   await(asyncio.sleep(3))
   print('long_operation finished')
end)

local main = async(function()
   await(msg('first'))

   -- Now you want to start long_operation, but you don't want to wait for it:
   -- long_operation should be started, but the second msg should be printed
   -- at once. Create a task to do so:
   local task = await(long_operation())

   await(msg('second'))

   -- Now, when you want, you can wait for the task to finish:
   await(task)
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main())
