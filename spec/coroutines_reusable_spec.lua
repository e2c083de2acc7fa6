-- Reusable coroutine objects (coroutines.register_reusable): the protocol
-- behind queue:get(), lock:acquire() and the other hot awaitables of
-- asyncio.queues and asyncio.locks.
local asyncio = require("asyncio")
local coroutines = require("asyncio.coroutines")
local helper = require("spec.helper")
local await = asyncio.await

local Reusable = { __name = "coroutine" }
coroutines.register_reusable(Reusable)

-- A reusable object whose await counts the calls and returns fn's results.
local function counter(fn)
   local obj = setmetatable({ n = 1, awaited = false, calls = 0 }, Reusable)
   obj[1] = obj
   obj.fn = function(self)
      self.calls = self.calls + 1
      return fn(self)
   end
   return obj
end

describe("reusable coroutine objects", function()
   it("are coroutine objects", function()
      assert.is_true(asyncio.iscoroutine(counter(function() end)))
   end)

   it("call fn(self) at each await, any number of times", helper.async(function()
      local obj = counter(function(self) return self.calls, "x", nil end)
      assert.same({ n = 3, 1, "x", nil }, table.pack(await(obj)))
      assert.same({ n = 3, 2, "x", nil }, table.pack(await(obj)))
      assert.equal(3, (await(obj)))
   end))

   it("may suspend the task inside fn", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local obj = counter(function() return await(fut) end)
      loop:call_soon(fut.set_result, fut, 42)
      assert.equal(42, await(obj))
   end))

   it("entered in coroutines.reusable are run by await before any other test", helper.async(function()
      local obj = counter(function(self) return "fast", self.calls end)
      coroutines.reusable[obj] = obj.fn
      assert.same({ "fast", 1 }, { await(obj) })
      assert.same({ "fast", 2 }, { await(obj) })
      local t = asyncio.create_task(obj)
      assert.same({ "fast", 3 }, { await(t) })
      coroutines.reusable[obj] = nil
   end))

   it("are accepted by create_task, which runs fn(self)", helper.async(function()
      local obj = counter(function() return "done" end)
      local t = asyncio.create_task(obj)
      assert.equal("done", await(t))
      assert.equal(1, obj.calls)
      assert.equal("done", await(obj)) -- still reusable afterwards
   end))
end)
