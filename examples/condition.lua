-- condition.lua (document 004): notify(n) wakes n waiters, notify_all wakes
-- them all.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local consumer = async(function(cond, name, second)
   await(asyncio.sleep(second))
   do
      local _ <close> = await(cond:acquire())
      await(cond:wait())
      print(('%s: Resource is available to consumer'):format(name))
   end
end)

local producer = async(function(cond)
   await(asyncio.sleep(2))
   for n = 1, 2 do
      do
         local _ <close> = await(cond:acquire())
         print(('notifying consumer %d'):format(n))
         cond:notify(n)
      end
      await(asyncio.sleep(0.1))
   end
end)

local producer2 = async(function(cond)
   await(asyncio.sleep(2))
   do
      local _ <close> = await(cond:acquire())
      print('Making resource available')
      cond:notify_all()
   end
end)

-- [consumer(cond, name, index) for index, name in enumerate(('c1', 'c2'))]
local function consumers_of(cond)
   local consumers = {}
   for index, name in ipairs({'c1', 'c2'}) do
      consumers[#consumers + 1] = consumer(cond, name, index - 1)
   end
   return consumers
end

local main = async(function(loop)
   local condition = asyncio.Condition()

   local task = loop:create_task(producer(condition))
   local consumers = consumers_of(condition)
   await(asyncio.wait(consumers))
   task:cancel()

   task = loop:create_task(producer2(condition))
   consumers = consumers_of(condition)
   await(asyncio.wait(consumers))
   task:cancel()
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main(loop))
loop:close()
