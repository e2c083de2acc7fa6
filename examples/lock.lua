-- lock.lua (document 004): two tasks wait for a lock that a timer callback
-- releases; they get it one after the other.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local function unlock(lock)
   print('callback releasing lock')
   lock:release()
end

local test = async(function(locker, lock)
   print(('%s waiting for the lock'):format(locker))
   do
      local _ <close> = await(lock:acquire())
      print(('%s acquired lock'):format(locker))
   end
   print(('%s released lock'):format(locker))
end)

local main = async(function(loop)
   local lock = asyncio.Lock()
   await(lock:acquire())
   loop:call_later(0.1, unlock, lock)
   await(asyncio.wait({test('l1', lock), test('l2', lock)}))
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main(loop))
loop:close()
