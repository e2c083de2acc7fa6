-- asyncio.timeout and asyncio.timeout_at (API.md §5): to-be-closed guards
-- that turn their own expiry into TimeoutError and nothing else. Ports of
-- CPython's test_timeouts.py; Lua has no `async with`, so a guard is
-- entered when it is made and the tests about entering do not apply.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local is_timeout, is_cancelled = helper.is_timeout, helper.is_cancelled
local async, await = asyncio.async, asyncio.await

local error_of = helper.error_of

-- Keeps the loop (and the process) busy for dt seconds without yielding.
local function busy(dt)
   local loop = asyncio.get_running_loop()
   local t = loop:time() + dt
   while loop:time() < t do
   end
end

describe("timeout", function()
   it("raises TimeoutError when the deadline passes", helper.async(function()
      local cm
      local err = error_of(function()
         local guard <close> = asyncio.timeout(0.01)
         cm = guard
         await(asyncio.sleep(10))
      end)
      assert.is_true(is_timeout(err))
      assert.is_true(is_cancelled(err.cause))
      assert.is_true(cm:expired())
   end))

   it("at a time raises TimeoutError when it passes", helper.async(function()
      local loop = asyncio.get_running_loop()
      local deadline = loop:time() + 0.01
      local cm
      local err = error_of(function()
         local guard <close> = asyncio.timeout_at(deadline)
         cm = guard
         await(asyncio.sleep(10))
      end)
      assert.is_true(is_timeout(err))
      assert.is_true(cm:expired())
      assert.equal(deadline, cm:when())
   end))

   it("nested with the same deadline: only the outer converts", helper.async(function()
      local loop = asyncio.get_running_loop()
      local cancelled = false
      local cm1, cm2
      local deadline = loop:time() + 0.01
      local err = error_of(function()
         local g1 <close> = asyncio.timeout_at(deadline)
         cm1 = g1
         local inner = error_of(function()
            local g2 <close> = asyncio.timeout_at(deadline)
            cm2 = g2
            await(asyncio.sleep(10))
         end)
         if is_cancelled(inner) then
            cancelled = true
         end
         error(inner, 0)
      end)
      assert.is_true(is_timeout(err))
      assert.is_true(cancelled)
      assert.is_true(cm1:expired())
      assert.is_true(cm2:expired())
   end))

   it("lets the body see the CancelledError first", helper.async(function()
      local cancelled = false
      local err = error_of(function()
         local _ <close> = asyncio.timeout(0.01)
         local ok, e = pcall(await, asyncio.sleep(10))
         if not ok and is_cancelled(e) then
            cancelled = true
         end
         error(e, 0)
      end)
      assert.is_true(is_timeout(err))
      assert.is_true(cancelled)
   end))

   it("not reached does nothing", helper.async(function()
      local loop = asyncio.get_running_loop()
      local cm
      do
         local guard <close> = asyncio.timeout(10)
         cm = guard
         await(asyncio.sleep(0.01))
      end
      assert.is_false(cm:expired())
      assert.is_true(cm:when() > loop:time())
   end))

   it("of nil never expires", helper.async(function()
      for _, make in ipairs({ asyncio.timeout, asyncio.timeout_at }) do
         local cm
         do
            local guard <close> = make(nil)
            cm = guard
            await(asyncio.sleep(0.01))
         end
         assert.is_false(cm:expired())
         assert.is_nil(cm:when())
      end
   end))

   for _, case in ipairs({ { 0, "sleep(10)" }, { 0, "sleep(0)" }, { -11, "sleep(0)" } }) do
      it(("of %d expires at once, around %s"):format(case[1], case[2]), helper.async(function()
         local loop = asyncio.get_running_loop()
         local t0 = loop:time()
         local cm
         local err = error_of(function()
            local guard <close> = asyncio.timeout(case[1])
            cm = guard
            await(asyncio.sleep(case[2] == "sleep(0)" and 0 or 10))
         end)
         local t1 = loop:time()
         assert.is_true(is_timeout(err))
         assert.is_true(cm:expired())
         if case[1] == 0 then
            assert.is_true(t0 <= cm:when() and cm:when() <= t1)
         else
            assert.is_true(cm:when() < t0)
         end
      end))
   end

   it("lets other errors through", helper.async(function()
      local cm
      local err = error_of(function()
         local guard <close> = asyncio.timeout(0.01)
         cm = guard
         error("KeyError", 0)
      end)
      assert.equal("KeyError", err)
      assert.is_false(cm:expired())
   end))

   it("lets an error raised while cancelling through (CPython test_foreign_exception_on_timeout)",
      helper.async(function()
         local crash = async(function()
            local _ <close> = setmetatable({}, { __close = function() error("ZeroDivisionError", 0) end })
            await(asyncio.sleep(1))
         end)
         local cm
         local err = error_of(function()
            local guard <close> = asyncio.timeout(0.01)
            cm = guard
            await(crash())
         end)
         assert.equal("ZeroDivisionError", err)
         assert.is_true(cm:expired())
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   it("does not convert a cancellation it did not cause", helper.async(function()
      local cm
      local err = error_of(function()
         local guard <close> = asyncio.timeout(10)
         cm = guard
         asyncio.current_task():cancel()
         await(asyncio.sleep(10))
      end)
      assert.is_true(is_cancelled(err))
      assert.is_false(cm:expired())
      asyncio.current_task():uncancel()
   end))

   it("leaves the task it ran in not cancelled", helper.async(function()
      local task = asyncio.create_task(async(function()
         local err = error_of(function()
            local _ <close> = asyncio.timeout(0.001)
            await(asyncio.sleep(10))
         end)
         assert(is_timeout(err))
      end)())
      await(task)
      assert.is_false(task:cancelled())
      assert.is_true(task:done())
      assert.equal(0, task:cancelling())
   end))

   it("nested, both expired while the loop was busy (CPython test_nested_timeouts_concurrent)",
      helper.async(function()
         local inner
         local err = error_of(function()
            local _ <close> = asyncio.timeout(0.002)
            inner = error_of(function()
               local _ <close> = asyncio.timeout(0.1) -- luacheck: ignore
               busy(0.01)
               await(asyncio.sleep(1))
            end)
            error(inner, 0)
         end)
         assert.is_true(is_cancelled(inner)) -- the inner did not expire
         assert.is_true(is_timeout(err))
      end))

   it("nested: the outer stops what follows the inner one (CPython test_nested_timeouts_loop_busy)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local t0 = loop:time()
         local inner
         local err = error_of(function()
            local _ <close> = asyncio.timeout(0.1)
            inner = error_of(function()
               local _ <close> = asyncio.timeout(0.01) -- luacheck: ignore
               busy(0.1)
               await(asyncio.sleep(1))
            end)
            -- both deadlines passed while the loop was busy: the inner guard
            -- sees two cancel requests and lets the CancelledError through,
            -- as in Python (whose assertRaises(TimeoutError) lets it pass)
            if not is_timeout(inner) then
               error(inner, 0)
            end
            await(asyncio.sleep(10)) -- interrupted by the outer guard
         end)
         local t1 = loop:time()
         assert.is_true(is_cancelled(inner))
         assert.is_true(is_timeout(err))
         assert.is_true(t1 - t0 <= 1)
      end))

   it("can be rescheduled from another task (CPython test_reschedule)", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local deadline1 = loop:time() + 10
      local deadline2 = deadline1 + 20
      local task = asyncio.create_task(async(function()
         local cm <close> = asyncio.timeout_at(deadline1)
         fut:set_result(cm)
         await(asyncio.sleep(50))
      end)())
      local cm = await(fut)
      assert.equal(deadline1, cm:when())
      cm:reschedule(deadline2)
      assert.equal(deadline2, cm:when())
      cm:reschedule(nil)
      assert.is_nil(cm:when())
      task:cancel()
      local err = error_of(await, task)
      assert.is_true(is_cancelled(err))
      assert.is_false(cm:expired())
   end))

   it("rescheduled earlier expires earlier", helper.async(function()
      local loop = asyncio.get_running_loop()
      local t0 = loop:time()
      local err = error_of(function()
         local cm <close> = asyncio.timeout(10)
         cm:reschedule(loop:time() + 0.01)
         await(asyncio.sleep(10))
      end)
      assert.is_true(is_timeout(err))
      assert.is_true(loop:time() - t0 < 5)
   end))

   it("rescheduled into the past expires on the next iteration", helper.async(function()
      local loop = asyncio.get_running_loop()
      local err = error_of(function()
         local cm <close> = asyncio.timeout(10)
         cm:reschedule(loop:time() - 1)
         await(asyncio.sleep(0))
         await(asyncio.sleep(0))
      end)
      assert.is_true(is_timeout(err))
   end))

   it("prints its state", helper.async(function()
      do
         local cm <close> = asyncio.timeout(10)
         assert.matches("^<Timeout %[active%] when=%d+%.?%d*>$", tostring(cm))
      end
      do
         local cm <close> = asyncio.timeout(nil)
         assert.equal("<Timeout [active] when=nil>", tostring(cm))
      end
      -- the deadline as Python's repr of round(when, 3) prints it
      local cases = { { 1e15 + 0.5, "1000000000000000.5" }, { 5, "5" }, { 5.0, "5.0" },
                      { 1.0005, "1.0" }, { 1234567.8915, "1234567.891" }, { -0.0004, "-0.0" } }
      for _, case in ipairs(cases) do -- these were "1e+15", "5.0", "5.0", "1.001", "1234567.892", "0.0"
         local cm <close> = asyncio.timeout_at(case[1])
         assert.equal("<Timeout [active] when=" .. case[2] .. ">", tostring(cm))
      end
      local expired
      error_of(function()
         local cm <close> = asyncio.timeout(0.01)
         expired = cm
         await(asyncio.sleep(10))
      end)
      assert.equal("<Timeout [expired]>", tostring(expired))
      local finished
      do
         local cm <close> = asyncio.timeout(10)
         finished = cm
         await(asyncio.sleep(0))
      end
      assert.equal("<Timeout [finished]>", tostring(finished))
   end))

   it("nested in a cleanup after the outer expired (CPython test_nested_timeout_in_finally)",
      helper.async(function()
         local inner
         local err = error_of(function()
            local _ <close> = asyncio.timeout(0.01)
            local ok, e = pcall(await, asyncio.sleep(1))
            inner = error_of(function()
               local _ <close> = asyncio.timeout(0.01) -- luacheck: ignore
               await(asyncio.sleep(10))
            end)
            if not ok then
               error(e, 0)
            end
         end)
         assert.is_true(is_timeout(inner))
         assert.is_true(is_timeout(err))
      end))

   it("after a cancellation that was caught still expires (CPython test_timeout_after_cancellation)",
      helper.async(function()
         asyncio.current_task():cancel()
         local e = error_of(await, asyncio.sleep(1))
         assert.is_true(is_cancelled(e))
         local err = error_of(function()
            local _ <close> = asyncio.timeout(0)
            await(asyncio.sleep(1))
         end)
         assert.is_true(is_timeout(err))
         assert.equal(1, asyncio.current_task():cancelling())
         asyncio.current_task():uncancel()
      end))

   it("after a cancellation that was caught lets a new one through", helper.async(function()
      asyncio.current_task():cancel()
      error_of(await, asyncio.sleep(1))
      local err = error_of(function()
         local _ <close> = asyncio.timeout(1)
         asyncio.current_task():cancel()
         await(asyncio.sleep(2))
      end)
      assert.is_true(is_cancelled(err))
      asyncio.current_task():uncancel()
      asyncio.current_task():uncancel()
   end))

   it("cannot be rescheduled once finished, expired or expiring", helper.async(function()
      local finished
      do
         local cm <close> = asyncio.timeout(0.01)
         finished = cm
      end
      assert.has_error(function() finished:reschedule(0.02) end, "Cannot change state of finished Timeout")
      local expired
      error_of(function()
         local cm <close> = asyncio.timeout(0.01)
         expired = cm
         await(asyncio.sleep(1))
      end)
      assert.has_error(function() expired:reschedule(0.02) end, "Cannot change state of expired Timeout")
      do
         local cm <close> = asyncio.timeout(0.01)
         local err = error_of(await, asyncio.sleep(1))
         assert.is_true(is_cancelled(err))
         assert.has_error(function() cm:reschedule(0.02) end, "Cannot change state of expiring Timeout")
      end
   end))

   it("with a task group around a failing cleanup raises the group's error (CPython test_timeout_taskgroup)",
      helper.async(function()
         local task = async(function()
            local _ <close> = setmetatable({}, { __close = function() error("ZeroDivisionError", 0) end })
            await(asyncio.sleep(2)) -- interrupted after 0.01 s
         end)
         local err = error_of(function()
            local _ <close> = asyncio.timeout(0.01)
            local tg <close> = asyncio.TaskGroup()
            tg:create_task(task())
            local _ <close> = setmetatable({}, { __close = function() await(asyncio.sleep(1)) end }) -- luacheck: ignore
            error("ValueError", 0)
         end)
         assert.is_true(asyncio.ExceptionGroup:is(err))
         assert.same({ "ZeroDivisionError" }, err.errors)
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   it("must be made inside a task", function()
      assert.has_error(function() asyncio.timeout(1) end,
         "'timeout' must be called inside a task (its guard cancels the task that made it)")
      assert.has_error(function() asyncio.timeout_at(nil) end,
         "'timeout_at' must be called inside a task (its guard cancels the task that made it)")
   end)

   it("names the function and argument in its errors", helper.async(function()
      assert.has_error(function() asyncio.timeout("1") end,
         "bad argument #1 to 'timeout' (number or nil expected, got string)")
      assert.has_error(function() asyncio.timeout(0 / 0) end,
         "bad argument #1 to 'timeout' (number or nil expected, got nan)")
      assert.has_error(function() asyncio.timeout_at({}) end,
         "bad argument #1 to 'timeout_at' (number or nil expected, got table)")
      assert.has_error(function() asyncio.timeout(1, 2) end, -- it was ignored
         "bad argument #2 to 'timeout' (no value expected, got number)")
      assert.has_error(function() asyncio.timeout_at(1, 2) end,
         "bad argument #2 to 'timeout_at' (no value expected, got number)")
      local cm <close> = asyncio.timeout(1)
      assert.has_error(function() cm:reschedule("x") end,
         "bad argument #1 to 'reschedule' (number or nil expected, got string)")
      assert.has_error(function() cm.reschedule(3, 1) end,
         "calling 'reschedule' on bad self (Timeout expected, got number)")
   end))
end)
