-- The ready queue keeps Python's FIFO order while a task step fills it past
-- the ring's capacity: a task stepped by the loop queues into the ring the
-- loop keeps on its stack, until the ring is replaced by a larger one.
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local function spawn(fn, ...)
   return asyncio.create_task(async(fn)(...))
end

describe("the ready queue", function()
   it("runs callbacks and woken getters in the order one step queued them, across growths", function()
      local log = {}
      asyncio.run(async(function()
         local loop = asyncio.get_running_loop()
         local q = asyncio.Queue()
         local getters = {}
         for i = 1, 300 do
            getters[i] = spawn(function()
               local item = await(q:get())
               log[#log + 1] = "g" .. item
            end)
         end
         await(asyncio.sleep(0)) -- every getter parked
         for i = 1, 300 do
            loop:call_soon(function() log[#log + 1] = "c" .. i end)
            q:put_nowait(i)
         end
         for _ = 1, 600 do loop:call_soon(function() end) end
         log[#log + 1] = "queued"
         await(asyncio.gather(table.unpack(getters)))
      end)())
      local want = { "queued" }
      for i = 1, 300 do
         want[#want + 1] = "c" .. i
         want[#want + 1] = "g" .. i
      end
      assert.same(want, log)
   end)

   it("keeps the order when one step of an iteration grows the ring and the next queues more", function()
      local log = {}
      asyncio.run(async(function()
         local loop = asyncio.get_running_loop()
         local a = spawn(function()
            for i = 1, 700 do loop:call_soon(function() log[#log + 1] = "a" .. i end) end
            await(asyncio.sleep(0))
            log[#log + 1] = "A"
         end)
         local b = spawn(function()
            loop:call_soon(function() log[#log + 1] = "b" end)
            await(asyncio.sleep(0))
            log[#log + 1] = "B"
         end)
         await(asyncio.gather(a, b))
      end)())
      local want = {}
      for i = 1, 700 do want[i] = "a" .. i end
      want[#want + 1] = "A" -- a's next step, queued after its callbacks
      want[#want + 1] = "b"
      want[#want + 1] = "B"
      assert.same(want, log)
   end)

   it("keeps the order of eager tasks started inside a step while the ring grows", function()
      local log = {}
      asyncio.run(async(function()
         local loop = asyncio.get_running_loop()
         loop:set_task_factory(asyncio.eager_task_factory)
         local tasks = {}
         for i = 1, 5 do
            tasks[i] = spawn(function()
               log[#log + 1] = "e" .. i
               for _ = 1, 200 do loop:call_soon(function() end) end
               await(asyncio.sleep(0))
               log[#log + 1] = "E" .. i
            end)
            loop:call_soon(function() log[#log + 1] = "c" .. i end)
         end
         await(asyncio.gather(table.unpack(tasks)))
      end)())
      assert.same({ "e1", "e2", "e3", "e4", "e5", "E1", "c1", "E2", "c2", "E3", "c3",
                    "E4", "c4", "E5", "c5" }, log)
   end)

   it("keeps the order when gather grows a wrapped ring at once for its coroutine objects", function()
      local log = {}
      asyncio.run(async(function()
         local loop = asyncio.get_running_loop()
         -- wrap the ring: entries run and new ones queued behind them
         for round = 1, 3 do
            for i = 1, 40 do loop:call_soon(function() log[#log + 1] = "w" .. round .. "." .. i end) end
            await(asyncio.sleep(0))
         end
         log = {}
         for i = 1, 50 do loop:call_soon(function() log[#log + 1] = "c" .. i end) end
         local child = async(function(i)
            log[#log + 1] = "t" .. i
            return i
         end)
         local coros = {}
         for i = 1, 3000 do coros[i] = child(i) end
         local results = await(asyncio.gather(table.unpack(coros)))
         assert.equal(3000, results.n)
         for i = 1, 3000 do assert.equal(i, results[i]) end
      end)())
      local want = {}
      for i = 1, 50 do want[#want + 1] = "c" .. i end
      for i = 1, 3000 do want[#want + 1] = "t" .. i end
      assert.same(want, log)
   end)
end)
