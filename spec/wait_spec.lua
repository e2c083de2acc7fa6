-- asyncio.wait (API.md §5): the three return_when values, timeouts that
-- never raise and never cancel, lists and sets, argument errors. Ports of
-- CPython's test_tasks.py wait tests.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function set(...)
   local s = {}
   for _, v in ipairs({ ... }) do
      s[v] = true
   end
   return s
end

local sleeper = async(function(dt, value)
   await(asyncio.sleep(dt))
   return value
end)

describe("wait", function()
   it("returns sets that iterate in creation order and can be waited on again", helper.async(function()
      local tasks = {}
      for i = 1, 30 do
         tasks[i] = asyncio.create_task(sleeper(i % 3 == 0 and 0.05 or 0, i))
      end
      local done, pending = await(asyncio.wait(tasks, { timeout = 0.02 }))
      local got = {}
      for t in pairs(done) do got[#got + 1] = t:result() end
      local expected = {}
      for i = 1, 30 do
         if i % 3 ~= 0 then expected[#expected + 1] = i end
      end
      assert.same(expected, got)
      done, pending = await(asyncio.wait(pending))
      got = {}
      for t in pairs(done) do got[#got + 1] = t:result() end
      assert.same({ 3, 6, 9, 12, 15, 18, 21, 24, 27, 30 }, got)
      assert.is_nil(next(pending))
   end))

   it("waits for all by default", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a = asyncio.create_task(sleeper(0.01))
      local b = asyncio.create_task(sleeper(0.03))
      local t0 = loop:time()
      local done, pending = await(asyncio.wait({ b, a }))
      assert.same(set(a, b), done)
      assert.same({}, pending)
      assert.is_true(loop:time() - t0 >= 0.03)
      -- doing it again takes no time
      done, pending = await(asyncio.wait({ b, a }))
      assert.same(set(a, b), done)
      assert.same({}, pending)
   end))

   it("takes two iterations for futures already done, as Python", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local f = loop:create_future()
      f:set_result(1)
      loop:call_soon(function()
         log[#log + 1] = "soon 1"
         loop:call_soon(function()
            log[#log + 1] = "soon 2"
            loop:call_soon(function() log[#log + 1] = "soon 3" end)
         end)
      end)
      await(asyncio.wait({ f }))
      log[#log + 1] = "waited"
      await(asyncio.sleep(0))
      assert.same({ "soon 1", "soon 2", "waited", "soon 3" }, log)
   end))

   it("runs a task given twice once (CPython test_wait_duplicate_coroutines)", helper.async(function()
      local coro = async(function(s) return s end)
      local c = asyncio.create_task(coro("test"))
      local done, pending = await(asyncio.wait({ c, c, asyncio.create_task(coro("spam")) }))
      assert.same({}, pending)
      local results = {}
      for f in pairs(done) do
         results[f:result()] = true
      end
      assert.same(set("test", "spam"), results)
   end))

   it("wraps coroutine objects in tasks in list order when awaited", helper.async(function()
      local log = {}
      local coro = async(function(name)
         log[#log + 1] = name
         return name
      end)
      local w = asyncio.wait({ coro("a"), coro("b"), coro("c") })
      assert.same({}, log)
      local done, pending = await(w)
      assert.same({ "a", "b", "c" }, log)
      assert.equal(3, helper.size(done))
      assert.same({}, pending)
   end))

   it("returns at the first completed with FIRST_COMPLETED", helper.async(function()
      local a = asyncio.create_task(sleeper(10))
      local b = asyncio.create_task(sleeper(0.01))
      local done, pending = await(asyncio.wait({ b, a }, { return_when = asyncio.FIRST_COMPLETED }))
      assert.same(set(b), done)
      assert.same(set(a), pending)
      assert.is_false(a:done())
      assert.is_nil(b:result())
      a:cancel()
   end))

   it("reports in done whatever finished in the meantime (CPython test_wait_really_done)", helper.async(function()
      local coro1 = async(function() await(asyncio.sleep(0)) end)
      local coro2 = async(function() await(asyncio.sleep(0)); await(asyncio.sleep(0)) end)
      local a = asyncio.create_task(coro1())
      local b = asyncio.create_task(coro2())
      local done, pending = await(asyncio.wait({ b, a }, { return_when = asyncio.FIRST_COMPLETED }))
      assert.same(set(a, b), done)
      assert.same({}, pending)
   end))

   it("returns at once with FIRST_EXCEPTION if one already failed", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a = asyncio.create_task(sleeper(10))
      local b = asyncio.create_task(async(function() error("err") end)())
      local t0 = loop:time()
      local done, pending = await(asyncio.wait({ b, a }, { return_when = asyncio.FIRST_EXCEPTION }))
      assert.same(set(b), done)
      assert.same(set(a), pending)
      assert.is_true(loop:time() - t0 < 1)
      a:cancel()
   end))

   it("returns at the first error with FIRST_EXCEPTION", helper.async(function()
      local a = asyncio.create_task(sleeper(10))
      local b = asyncio.create_task(async(function()
         await(asyncio.sleep(0.01))
         error("err")
      end)())
      local c = asyncio.create_task(sleeper(0, "fine"))
      local done, pending = await(asyncio.wait({ b, a, c }, { return_when = asyncio.FIRST_EXCEPTION }))
      assert.same(set(b, c), done)
      assert.same(set(a), pending)
      a:cancel()
   end))

   it("waits for all with FIRST_EXCEPTION when none fails", helper.async(function()
      local a = asyncio.create_task(sleeper(0.01))
      local b = asyncio.create_task(sleeper(0.02))
      local done, pending = await(asyncio.wait({ a, b }, { return_when = asyncio.FIRST_EXCEPTION }))
      assert.same(set(a, b), done)
      assert.same({}, pending)
   end))

   it("counts a cancelled future as completed, not failed, for FIRST_EXCEPTION", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b = loop:create_future(), loop:create_future()
      loop:call_soon(function() a:cancel() end)
      loop:call_later(0.01, function() b:set_result(1) end)
      local done, pending = await(asyncio.wait({ a, b }, { return_when = asyncio.FIRST_EXCEPTION }))
      assert.same(set(a, b), done)
      assert.same({}, pending)
   end))

   it("lets the errors be read from the done set (CPython test_wait_with_exception)", helper.async(function()
      local a = asyncio.create_task(sleeper(0.01))
      local b = asyncio.create_task(async(function()
         await(asyncio.sleep(0.02))
         error("really")
      end)())
      local done, pending = await(asyncio.wait({ b, a }))
      assert.equal(2, helper.size(done))
      assert.same({}, pending)
      local errors = 0
      for f in pairs(done) do
         if f:exception() ~= nil then
            errors = errors + 1
         end
      end
      assert.equal(1, errors)
   end))

   it("returns what is done at the timeout, without raising or cancelling", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a = asyncio.create_task(sleeper(0.01))
      local b = asyncio.create_task(sleeper(0.2, "b"))
      local t0 = loop:time()
      local done, pending = await(asyncio.wait({ b, a }, { timeout = 0.05 }))
      local dt = loop:time() - t0
      assert.same(set(a), done)
      assert.same(set(b), pending)
      assert.is_true(dt >= 0.05 and dt < 0.2)
      assert.is_false(b:cancelled())
      assert.equal("b", await(b))
   end))

   it("counts a future done with the timeout as done (CPython test_wait_concurrent_complete)", helper.async(function()
      local a = asyncio.create_task(sleeper(0.02))
      local b = asyncio.create_task(sleeper(0.2))
      await(asyncio.sleep(0)) -- a's deadline is set before the timeout's
      local done, pending = await(asyncio.wait({ b, a }, { timeout = 0.02 }))
      assert.same(set(a), done)
      assert.same(set(b), pending)
      b:cancel()
   end))

   it("takes the pending set it returned", helper.async(function()
      local tasks = {}
      for i = 1, 3 do
         tasks[i] = asyncio.create_task(sleeper(0.01 * i, i))
      end
      local done, pending = await(asyncio.wait(tasks, { return_when = asyncio.FIRST_COMPLETED }))
      assert.same(set(tasks[1]), done)
      done, pending = await(asyncio.wait(pending))
      assert.same(set(tasks[2], tasks[3]), done)
      assert.same({}, pending)
   end))

   it("cancelled, leaves the futures alone (CPython test_yield_wait_does_not_shield_cancel)", helper.async(function()
      local loop = asyncio.get_running_loop()
      local proof = 0
      local waiter = loop:create_future()
      local inner = async(function()
         await(waiter)
         proof = proof + 1
      end)
      local f = asyncio.ensure_future(async(function()
         await(asyncio.wait({ asyncio.create_task(inner()) }))
         proof = proof + 100
      end)())
      await(asyncio.sleep(0))
      f:cancel()
      local ok, err = pcall(await, f)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      waiter:set_result()
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      assert.equal(1, proof)
   end))

   it("removes its callbacks when it returns", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a = loop:create_future()
      local b = asyncio.create_task(sleeper(0))
      await(asyncio.wait({ a, b }, { return_when = asyncio.FIRST_COMPLETED }))
      assert.equal(0, a:remove_done_callback(print)) -- nothing else there either
      local calls = 0
      a:add_done_callback(function() calls = calls + 1 end)
      a:set_result()
      await(asyncio.sleep(0))
      assert.equal(1, calls)
   end))

   it("accepts values with __await", helper.async(function()
      local loop = asyncio.get_running_loop()
      local f = loop:create_future()
      local aw = setmetatable({}, { __await = function() return f end })
      loop:call_soon(function() f:set_result(3) end)
      local done = await(asyncio.wait({ aw }))
      local task = next(done)
      assert.equal(3, task:result())
   end))

   it("names the function and argument in its errors", function()
      local loop = asyncio.new_event_loop()
      local fut = loop:create_future()
      assert.has_error(function() asyncio.wait(fut) end,
         "bad argument #1 to 'wait' (list or set of awaitables expected, got asyncio.Future)")
      assert.has_error(function() asyncio.wait(asyncio.sleep(1)) end,
         "bad argument #1 to 'wait' (list or set of awaitables expected, got coroutine)")
      assert.has_error(function() asyncio.wait({}) end,
         "bad argument #1 to 'wait' (the list of awaitables is empty)")
      assert.has_error(function() asyncio.wait({ fut, 3 }) end,
         "bad argument #1 to 'wait' (awaitable expected, got number)")
      assert.has_error(function() asyncio.wait({ [3] = true }) end,
         "bad argument #1 to 'wait' (list or set of awaitables expected, got a table with key number)")
      assert.has_error(function() asyncio.wait({ fut }, { return_when = -1 }) end,
         "bad argument #2 to 'wait' (option 'return_when' must be asyncio.ALL_COMPLETED, "
            .. "FIRST_COMPLETED or FIRST_EXCEPTION, got number)")
      assert.has_error(function() asyncio.wait({ fut }, { timeout = "1" }) end,
         "bad argument #2 to 'wait' (option 'timeout' must be a number or nil, got string)")
      assert.has_error(function() asyncio.wait({ fut }, { timeot = 1 }) end,
         "bad argument #2 to 'wait' (unknown option 'timeot')")
      assert.has_error(function() asyncio.wait({ fut }, 1) end,
         "bad argument #2 to 'wait' (options table expected, got number)")
      loop:close()
   end)

   it("exports the return_when constants", function()
      assert.equal("ALL_COMPLETED", asyncio.ALL_COMPLETED)
      assert.equal("FIRST_COMPLETED", asyncio.FIRST_COMPLETED)
      assert.equal("FIRST_EXCEPTION", asyncio.FIRST_EXCEPTION)
   end)
end)
