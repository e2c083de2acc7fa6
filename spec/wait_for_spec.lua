-- asyncio.wait_for (API.md §5): on timeout the awaitable is cancelled and
-- awaited before TimeoutError; a cancellation of the caller reaches it;
-- timeout nil waits forever; a result that comes with the deadline is
-- kept. Ports of CPython's test_waitfor.py.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local is_timeout, is_cancelled = helper.is_timeout, helper.is_cancelled
local async, await = asyncio.async, asyncio.await

local EPSILON = 0.0001

local error_of = helper.error_of

-- A body that keeps running for `run` seconds whatever cancels it
-- (CPython's SlowTask).
local function slow_task(run)
   local state = { exited = false }
   state.run = async(function()
      local loop = asyncio.get_running_loop()
      local exit_at = loop:time() + run
      while true do
         local left = exit_at - loop:time()
         if left <= 0 then
            break
         end
         pcall(await, asyncio.sleep(left))
      end
      state.exited = true
   end)
   return state
end

describe("wait_for", function()
   it("returns every result of the awaitable", helper.async(function()
      local r = table.pack(await(asyncio.wait_for(async(function() return 1, nil, 3 end)(), 1)))
      assert.same({ 1, nil, 3, n = 3 }, r)
      local t = asyncio.create_task(async(function() return nil, "b" end)())
      r = table.pack(await(asyncio.wait_for(t, 1)))
      assert.same({ nil, "b", n = 2 }, r)
   end))

   it("cancels the task and waits for it before raising TimeoutError (CPython test_wait_for)",
      helper.async(function()
         local foo_running
         local fut = asyncio.create_task(async(function()
            foo_running = true
            local _ <close> = setmetatable({}, { __close = function() foo_running = false end })
            await(asyncio.sleep(10))
            return "done"
         end)())
         local err = error_of(await, asyncio.wait_for(fut, 0.01))
         assert.is_true(is_timeout(err))
         assert.is_true(is_cancelled(err.cause))
         assert.is_true(fut:done())
         assert.is_true(fut:cancelled())
         assert.is_false(foo_running)
      end))

   it("waits for a body that ignores the cancellation (CPython test_asyncio_wait_for_timeout)",
      helper.async(function()
         local t = slow_task(0.05)
         local err = error_of(await, asyncio.wait_for(t.run(), 0.02))
         -- the coroutine ran inline, caught its cancellation and returned
         assert.is_nil(err)
         assert.is_true(t.exited)
      end))

   it("cancelled, waits for a body that ignores the cancellation (CPython test_asyncio_wait_for_cancelled)",
      helper.async(function()
         local t = slow_task(0.05)
         local waitfortask = asyncio.create_task(asyncio.wait_for(t.run(), 0.1))
         await(asyncio.sleep(0))
         waitfortask:cancel()
         await(asyncio.wait({ waitfortask }))
         assert.is_true(t.exited)
      end))

   it("with a timeout of 0 returns the result of a future already done", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      fut:set_result("done")
      assert.equal("done", await(asyncio.wait_for(fut, 0)))
      assert.is_true(fut:done())
   end))

   it("with a timeout of 0 never starts a coroutine", helper.async(function()
      local started = false
      local foo = async(function() started = true end)
      local err = error_of(await, asyncio.wait_for(foo(), 0))
      assert.is_true(is_timeout(err))
      await(asyncio.sleep(0))
      assert.is_false(started)
   end))

   for _, delay in ipairs({ 0, -1 }) do
      it(("with a timeout of %d cancels a running task"):format(delay), helper.async(function()
         local loop = asyncio.get_running_loop()
         local running
         local started = loop:create_future()
         local fut = asyncio.create_task(async(function()
            running = true
            started:set_result()
            local _ <close> = setmetatable({}, { __close = function() running = false end })
            await(asyncio.sleep(10))
            return "done"
         end)())
         await(started)
         local err = error_of(await, asyncio.wait_for(fut, delay))
         assert.is_true(is_timeout(err))
         assert.is_true(fut:cancelled())
         assert.is_false(running)
      end))
   end

   it("with timeout nil waits as long as it takes", helper.async(function()
      assert.equal("done", await(asyncio.wait_for(async(function() return "done" end)(), nil)))
      local t = asyncio.create_task(async(function()
         await(asyncio.sleep(0.02))
         return "late"
      end)())
      assert.equal("late", await(asyncio.wait_for(t)))
   end))

   it("returns a result that comes before the deadline (CPython test_wait_for_race_condition)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local fut = loop:create_future()
         local w = asyncio.wait_for(fut, 0.2)
         loop:call_soon(function() fut:set_result("ok") end)
         assert.equal("ok", await(w))
      end))

   it("returns what a body returns after catching its cancellation (CPython test_wait_for_cancellation_race_condition)",
      helper.async(function()
         local inner = async(function()
            local err = error_of(await, asyncio.sleep(1))
            assert(is_cancelled(err))
            return 1
         end)
         assert.equal(1, await(asyncio.wait_for(inner(), 0.01)))
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   it("keeps a result that comes in the same iteration as the deadline", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      -- the result is due just before the deadline...
      loop:call_later(0.005, function() fut:set_result("ok", 2) end)
      local w = asyncio.create_task(asyncio.wait_for(fut, 0.01))
      await(asyncio.sleep(0)) -- w is waiting, its deadline armed
      -- ...and both come due in the same iteration: the guard cancels w
      -- while the result's wake-up is on its way
      local t = loop:time() + 0.02
      while loop:time() < t do
      end
      local r = table.pack(await(w))
      assert.same({ "ok", 2, n = 2 }, r)
      assert.equal(0, w:cancelling())
   end))

   it("arms a new deadline after one that came due behind the result", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut, fut2 = loop:create_future(), loop:create_future()
      local w = asyncio.create_task(async(function()
         local r = await(asyncio.wait_for(fut, 0.01))
         -- the first deadline, queued behind this wake-up and cancelled,
         -- runs after the second one is armed: it must not stand for it
         loop:call_soon(function() fut2:set_result("ok2") end)
         return r, await(asyncio.wait_for(fut2, 1))
      end)())
      await(asyncio.sleep(0)) -- w is waiting, its deadline armed
      fut:set_result("ok")
      local t = loop:time() + 0.02
      while loop:time() < t do
      end
      assert.same({ "ok", "ok2", n = 2 }, table.pack(await(w)))
      assert.equal(0, w:cancelling())
   end))

   it("times out at once with a deadline that has passed as it is armed", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      assert.is_true(is_timeout(error_of(await, asyncio.wait_for(fut, 1e-300))))
      assert.is_true(fut:cancelled())
      local fut2 = loop:create_future()
      loop:call_soon(function() fut2:set_result("x", "y") end)
      assert.same({ "x", "y", n = 2 }, table.pack(await(asyncio.wait_for(fut2, 1e-300))))
      assert.is_true(is_timeout(error_of(await, asyncio.wait_for(asyncio.sleep(1), 1e-300))))
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("waits for the cancellation of the task (CPython test_wait_for_waits_for_task_cancellation)",
      helper.async(function()
         local task_done = false
         local inner_task = asyncio.create_task(async(function()
            local _ <close> = setmetatable({}, { __close = function() task_done = true end })
            local err = error_of(await, asyncio.sleep(10))
            if is_cancelled(err) then
               await(asyncio.sleep(EPSILON))
            end
            error(err, 0)
         end)())
         local err = error_of(await, asyncio.wait_for(inner_task, EPSILON))
         assert.is_true(is_timeout(err))
         assert.is_true(task_done)
         assert.is_true(is_cancelled(err.cause))
      end))

   it("with a timeout of 0 waits for the cancellation of the task", helper.async(function()
      local task_done = false
      local inner_task = asyncio.create_task(async(function()
         local _ <close> = setmetatable({}, { __close = function() task_done = true end })
         local err = error_of(await, asyncio.sleep(10))
         await(asyncio.sleep(EPSILON))
         error(err, 0)
      end)())
      await(asyncio.sleep(EPSILON))
      local err = error_of(await, asyncio.wait_for(inner_task, 0))
      assert.is_true(is_timeout(err))
      assert.is_true(task_done)
      assert.is_true(is_cancelled(err.cause))
   end))

   it("raises the error the task raises while cancelled (CPython test_wait_for_reraises_exception_during_cancellation)",
      helper.async(function()
         local inner_task = asyncio.create_task(async(function()
            local _ <close> = setmetatable({}, { __close = function() error("FooException", 0) end })
            await(asyncio.sleep(0.2))
         end)())
         local err = error_of(await, asyncio.wait_for(inner_task, EPSILON))
         assert.equal("FooException", err)
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   for _, delay in ipairs({ false, 60 }) do
      it(("cancelled, cancels the task it waits for (timeout %s, CPython test_cancel_wait_for)"):format(
         tostring(delay or nil)), helper.async(function()
            local loop = asyncio.get_running_loop()
            local task = asyncio.create_task(async(function()
               await(loop:create_future()) -- blocks forever
            end)())
            local wait = asyncio.create_task(asyncio.wait_for(task, delay or nil))
            loop:call_soon(function() wait:cancel() end)
            local err = error_of(await, wait)
            assert.is_true(is_cancelled(err))
            assert.is_true(task:cancelled())
         end))
   end

   it("returns the value a task gives after catching its cancellation (CPython test_wait_for_cancel_suppressed)",
      helper.async(function()
         local return_42 = async(function()
            local err = error_of(await, asyncio.sleep(10))
            if is_cancelled(err) then
               return 42
            end
         end)
         assert.equal(42, await(asyncio.wait_for(return_42(), 0.01)))
         local t = asyncio.create_task(return_42())
         assert.equal(42, await(asyncio.wait_for(t, 0.01)))
      end))

   it("cancelled as the task finishes, is still cancelled (CPython test_wait_for_issue86296)",
      helper.async(function()
         local inner_task = asyncio.create_task(async(function() return "done" end)())
         local reached_end = false
         local task = asyncio.create_task(async(function()
            await(asyncio.wait_for(inner_task, 100))
            await(asyncio.sleep(1))
            reached_end = true
         end)())
         assert.is_false(task:done())
         await(asyncio.sleep(0))
         task:cancel()
         local err = error_of(await, task)
         assert.is_true(is_cancelled(err))
         assert.is_true(inner_task:done())
         assert.equal("done", await(inner_task))
         assert.is_false(reached_end)
      end))

   it("of a shield cancels only the shield (CPython WaitForShieldTests)", helper.async(function()
      local coro = async(function()
         await(asyncio.sleep(0.02))
         return "done"
      end)
      -- timeout 0
      local task = asyncio.create_task(coro())
      local shielded = asyncio.shield(task)
      local err = error_of(await, asyncio.wait_for(shielded, 0))
      assert.is_true(is_timeout(err))
      assert.is_false(task:done())
      assert.is_false(task:cancelled())
      assert.is_true(shielded:cancelled())
      await(asyncio.sleep(0.05))
      assert.is_true(task:done())
      -- timeout nil
      task = asyncio.create_task(coro())
      await(asyncio.wait_for(asyncio.shield(task), nil))
      assert.equal("done", await(task))
      -- a timeout that passes
      task = asyncio.create_task(coro())
      err = error_of(await, asyncio.wait_for(asyncio.shield(task), 0.005))
      assert.is_true(is_timeout(err))
      assert.is_false(task:done())
      assert.equal("done", await(task))
   end))

   it("leaves the awaiting task's cancel count as it was", helper.async(function()
      local me = asyncio.current_task()
      local err = error_of(await, asyncio.wait_for(asyncio.sleep(1), 0.01))
      assert.is_true(is_timeout(err))
      assert.equal(0, me:cancelling())
      await(asyncio.sleep(0.02)) -- no cancellation left pending
   end))

   it("names the function and argument in its errors", function()
      assert.has_error(function() asyncio.wait_for(42, 1) end,
         "bad argument #1 to 'wait_for' (awaitable expected, got number)")
      assert.has_error(function() asyncio.wait_for(print, 1) end,
         "bad argument #1 to 'wait_for' (awaitable expected, got function; call it to get one)")
      assert.has_error(function() asyncio.wait_for(asyncio.sleep(0), "1") end,
         "bad argument #2 to 'wait_for' (number or nil expected, got string)")
      assert.has_error(function() asyncio.wait_for(asyncio.sleep(0), 0 / 0) end,
         "bad argument #2 to 'wait_for' (number or nil expected, got nan)")
   end)

   it("refuses a call_soon that gives core.make_wait_for_future's function no handle", helper.async(function()
      -- the deadline it queues at once (a delay already passed) was taken
      -- for a Handle unchecked: a segmentation fault when the wait ended
      local core = require("asyncio.core")
      local wait = core.make_wait_for_future(core.await_future, function(...) return true, ... end,
         function() end, function() return 42 end)
      local fut = asyncio.get_running_loop():create_future()
      fut:set_result("x")
      assert.equal("x", wait(fut, -1)) -- a done future arms nothing
      fut = asyncio.get_running_loop():create_future()
      asyncio.get_running_loop():call_soon(function() fut:set_result("x") end)
      local ok, err = pcall(wait, fut, -1)
      assert.is_false(ok)
      assert.matches("call_soon returned number", err)
   end))
end)
