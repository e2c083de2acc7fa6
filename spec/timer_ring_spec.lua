-- Due timers move into the ready queue in (deadline, scheduling) order,
-- and woken sleepers step in that order, while the ring grows past its
-- first capacity in the middle of one pop.
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

describe("due timers", function()
   it("run in (deadline, scheduling) order when hundreds are due at once", function()
      local log = {}
      asyncio.run(async(function()
         local loop = asyncio.get_running_loop()
         local t0 = loop:time()
         for i = 1, 700 do
            loop:call_at(t0 + 0.01 + (i % 7) * 1e-7, function() log[#log + 1] = i end)
         end
         await(asyncio.sleep(0.05))
      end)())
      local want = {}
      for i = 1, 700 do want[i] = i end
      table.sort(want, function(a, b)
         if a % 7 ~= b % 7 then return a % 7 < b % 7 end
         return a < b
      end)
      assert.same(want, log)
   end)

   it("wake sleeping tasks in the order they went to sleep", function()
      local log = {}
      asyncio.run(async(function()
         local sleeper = async(function(i)
            await(asyncio.sleep(0.01))
            log[#log + 1] = i
         end)
         local tasks = {}
         for i = 1, 600 do tasks[i] = asyncio.create_task(sleeper(i)) end
         await(asyncio.gather(table.unpack(tasks)))
      end)())
      local want = {}
      for i = 1, 600 do want[i] = i end
      assert.same(want, log)
   end)
end)
