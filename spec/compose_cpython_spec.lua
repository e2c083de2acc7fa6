-- Composing awaitables (gather, wait, wait_for, as_completed, shield,
-- timeouts, TaskGroup) checked against CPython 3.13 by differential
-- testing: each spec is a scenario run both in Python and here, with the
-- order of events, values, states and error kinds Python printed. Named
-- after the CPython test it ports (test_tasks.py, test_waitfor.py,
-- test_timeouts.py, test_taskgroups.py) or, for a scenario of our own,
-- after the Python function whose behaviour it pins down.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local is_timeout, is_cancelled = helper.is_timeout, helper.is_cancelled
local async, await = asyncio.async, asyncio.await

local run_briefly = helper.spin

-- A log of events, and a task that logs "o0", "o1", ... once per loop
-- iteration, n times: the specs compare where events fall between them
-- with where they fell in Python.
local function event_log(n)
   local log = {}
   local ticker = asyncio.create_task(async(function()
      for i = 0, (n or 8) - 1 do
         log[#log + 1] = "o" .. i
         await(asyncio.sleep(0))
      end
   end)())
   return log, ticker
end

-- A set as a plain table, for assert.same.
local function plain(set)
   local t = {}
   for k in pairs(set) do
      t[k] = true
   end
   return t
end

-- Sleeps, logging "<name> cancelled" if cancelled.
local sleeper = async(function(log, name, delay)
   local ok, err = pcall(await, asyncio.sleep(delay or 10))
   if not ok then
      log[#log + 1] = name .. " cancelled"
      error(err, 0)
   end
   return name
end)

describe("gather (CPython _GatheringFuture)", function()
   it("with return_exceptions leaves a child's error unretrieved until every child is done", function()
      -- Python's _done_callback reads errors in its results loop, once
      -- the last child is done: a gather that never ends leaves them
      -- to the "never retrieved" report
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      do
         local a, b = loop:create_future(), loop:create_future()
         local g = asyncio.gather(a, b, { return_exceptions = true })
         a:set_exception("lost")
         loop:run_until_complete(asyncio.sleep(0))
         loop:run_until_complete(asyncio.sleep(0))
         assert.is_false(g:done())
      end
      helper.full_gc()
      loop:close()
      assert.equal(1, #reports)
      assert.equal("Future exception was never retrieved", reports[1].message)
      assert.equal("lost", reports[1].error)
   end)

   it("with return_exceptions retrieves the children's errors once it is done", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local g
      do
         local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
         g = asyncio.gather(a, b, c, { return_exceptions = true })
         a:set_exception("first") -- stored in order
         c:set_exception("third") -- out of order
         loop:run_until_complete(asyncio.sleep(0))
         b:set_result(2)
         loop:run_until_complete(asyncio.sleep(0))
         loop:run_until_complete(asyncio.sleep(0))
         assert.same({ "first", 2, "third", n = 3 }, g:result())
      end
      helper.full_gc()
      loop:close()
      assert.same({}, reports)
   end)
end)

describe("gather, as CPython 3.13's", function()
   it("of futures is done the iteration after its last child, its callback one later (CPython test_success)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
         local g = asyncio.gather(a, b, c)
         local calls = 0
         g:add_done_callback(function() calls = calls + 1 end)
         run_briefly()
         b:set_result(1)
         a:set_result(2)
         run_briefly(2)
         assert.is_false(g:done())
         c:set_result(3)
         run_briefly()
         assert.is_true(g:done())
         assert.equal(0, calls)
         run_briefly()
         assert.equal(1, calls)
         assert.same({ 2, 1, 3, n = 3 }, g:result())
      end))

   it("of coroutine objects is done one iteration later than of futures (CPython CoroutineGatherTests)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local wrap = async(function(fut) return await(fut) end)
         local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
         local g = asyncio.gather(wrap(a), wrap(b), wrap(c), { return_exceptions = true })
         local calls = 0
         g:add_done_callback(function() calls = calls + 1 end)
         run_briefly()
         b:set_result(1)
         c:set_exception("failed")
         run_briefly(2)
         assert.is_false(g:done())
         a:set_result(3)
         run_briefly()
         assert.is_false(g:done())
         run_briefly()
         assert.is_true(g:done())
         assert.equal(0, calls)
         run_briefly()
         assert.equal(1, calls)
         assert.same({ 3, 1, "failed", n = 3 }, g:result())
      end))

   it("of coroutine objects fails the iteration after a child's error (CPython test_one_exception)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local wrap = async(function(fut) return await(fut) end)
         local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
         local g = asyncio.gather(wrap(a), wrap(b), wrap(c))
         run_briefly()
         a:set_result(1)
         b:set_exception("zde")
         run_briefly()
         assert.is_false(g:done())
         run_briefly()
         assert.equal("zde", g:exception())
         c:cancel()
         run_briefly(3)
         assert.equal("zde", g:exception())
      end))

   it("runs its children's done callbacks before its own", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local a, b = loop:create_future(), loop:create_future()
      local g = asyncio.gather(a, b)
      a:add_done_callback(function() log[#log + 1] = "a" end)
      g:add_done_callback(function() log[#log + 1] = "gather" end)
      b:add_done_callback(function() log[#log + 1] = "b" end)
      a:set_result(1)
      b:set_result(2)
      run_briefly(3)
      assert.same({ "a", "b", "gather" }, log)
   end))

   it("starts its tasks in argument order once the caller yields", helper.async(function()
      local log = {}
      local child = async(function(i)
         log[#log + 1] = "start" .. i
         run_briefly()
         log[#log + 1] = "end" .. i
         return i
      end)
      local g = asyncio.gather(child(1), child(2), child(3))
      log[#log + 1] = "after gather"
      assert.same({ 1, 2, 3, n = 3 }, await(g))
      assert.same({ "after gather", "start1", "start2", "start3", "end1", "end2", "end3" }, log)
   end))

   it("with eager tasks is done at once when its children end in their first step", helper.async(function()
      local loop = asyncio.get_running_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      local now = async(function(v) return v end)
      local fail = async(function() error("now", 0) end)
      local later = async(function(v) run_briefly(); return v end)
      local g = asyncio.gather(now(1), now(2))
      assert.is_true(g:done())
      assert.same({ 1, 2, n = 2 }, g:result())
      g = asyncio.gather(now(1), fail())
      assert.is_true(g:done())
      assert.equal("now", g:exception())
      g = asyncio.gather(now(1), fail(), { return_exceptions = true })
      assert.is_true(g:done())
      assert.same({ 1, "now", n = 2 }, g:result())
      g = asyncio.gather(now(1), later(2))
      assert.is_false(g:done())
      assert.same({ 1, 2, n = 2 }, await(g))
      loop:set_task_factory(nil)
   end))

   it("cancelled, fails with a new CancelledError when its children catch it and return", helper.async(function()
      local child = async(function(i)
         if not pcall(await, asyncio.sleep(10)) then
            return i * 10
         end
      end)
      local t = { asyncio.create_task(child(0)), asyncio.create_task(child(1)), asyncio.create_task(child(2)) }
      local g = asyncio.gather(t[1], t[2], t[3])
      run_briefly()
      assert.is_true(g:cancel())
      local err = helper.cancelled(g)
      assert.is_nil(err.message)
      assert.is_false(g:cancelled())
      assert.same({ 0, 10, 20 }, { t[1]:result(), t[2]:result(), t[3]:result() })
   end))

   it("of groups, cancelled, cancels every leaf and fails each group with the message", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
      local g1, g2 = asyncio.gather(a, b), asyncio.gather(c)
      local outer = asyncio.gather(g1, g2)
      assert.is_true(outer:cancel("om"))
      assert.is_true(a:cancelled() and b:cancelled() and c:cancelled())
      assert.is_false(g1:done())
      run_briefly(3)
      for _, g in ipairs({ g1, g2, outer }) do
         assert.is_false(g:cancelled())
         assert.equal("om", g:exception().message)
      end
   end))
end)

describe("wait, as CPython 3.13's", function()
   it("with FIRST_COMPLETED wakes its task two iterations after a future is done", helper.async(function()
      local loop = asyncio.get_running_loop()
      local futs = { loop:create_future(), loop:create_future() }
      local log, ticker = event_log(4)
      local t = asyncio.create_task(async(function()
         local done = await(asyncio.wait(futs, { return_when = asyncio.FIRST_COMPLETED }))
         log[#log + 1] = "woke " .. helper.size(done)
      end)())
      run_briefly()
      futs[2]:set_result(5)
      log[#log + 1] = "set"
      await(t)
      await(ticker)
      assert.same({ "o0", "set", "o1", "o2", "woke 1", "o3" }, log)
   end))

   it("with FIRST_EXCEPTION and a timeout counts a cancelled future as completed, not failed",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local a, b = loop:create_future(), loop:create_future()
         a:cancel()
         local done, pending = await(asyncio.wait({ a, b }, { return_when = asyncio.FIRST_EXCEPTION, timeout = 0.01 }))
         assert.same({ [a] = true }, plain(done))
         assert.same({ [b] = true }, plain(pending))
      end))
end)

describe("wait_for, as CPython 3.13's", function()
   it("wakes its task one iteration after the future it waits for is done", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local log, ticker = event_log(5)
      local t = asyncio.create_task(async(function()
         local v = await(asyncio.wait_for(fut, 1))
         log[#log + 1] = "woke " .. v
      end)())
      run_briefly()
      fut:set_result(7)
      log[#log + 1] = "set"
      await(t)
      await(ticker)
      assert.same({ "o0", "set", "o1", "woke 7", "o2", "o3", "o4" }, log)
   end))

   it("runs a coroutine object inline, its result with no iteration of its own", helper.async(function()
      local log, ticker = event_log(5)
      local t = asyncio.create_task(async(function()
         local v = await(asyncio.wait_for(async(function() run_briefly(2); return 5 end)(), 1))
         log[#log + 1] = "woke " .. v
      end)())
      await(t)
      await(ticker)
      assert.same({ "o0", "o1", "o2", "woke 5", "o3", "o4" }, log)
   end))

   it("with a timeout of 0 gives a done future's error, or its CancelledError (CPython "
      .. "test_wait_for_timeout_less_then_0_or_0_future_done)", helper.async(function()
         local loop = asyncio.get_running_loop()
         local fut = loop:create_future()
         fut:set_result("done")
         assert.equal("done", await(asyncio.wait_for(fut, 0)))
         assert.equal("done", await(asyncio.wait_for(fut, -1)))
         fut = loop:create_future()
         fut:set_exception("failed")
         assert.equal("failed", helper.failure(await, asyncio.wait_for(fut, 0)))
         fut = loop:create_future()
         fut:cancel()
         assert.is_true(is_cancelled(helper.failure(await, asyncio.wait_for(fut, 0))))
      end))

   it("raises the error a coroutine or task raises instead of its cancellation", helper.async(function()
      local inner = async(function()
         if not pcall(await, asyncio.sleep(10)) then
            error("converted", 0)
         end
      end)
      assert.equal("converted", helper.failure(await, asyncio.wait_for(inner(), 0.01)))
      local t = asyncio.create_task(inner())
      assert.equal("converted", helper.failure(await, asyncio.wait_for(t, 0.01)))
      assert.equal("converted", t:exception())
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("lets a cancellation from outside through when the deadline passes in the same iteration",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local inside
         local w = asyncio.create_task(async(function()
            local _, err = pcall(await, asyncio.wait_for(asyncio.sleep(10), 0.01))
            inside = asyncio.current_task():cancelling()
            error(err, 0)
         end)())
         run_briefly() -- w waits, its deadline armed
         loop:call_later(0.01, function() w:cancel("ext") end)
         local t = loop:time() + 0.03
         while loop:time() < t do end -- both come due in one iteration
         local err = helper.cancelled(w)
         assert.is_nil(err.message) -- the deadline's cancel came first
         assert.equal(1, inside)
         assert.is_true(w:cancelled())
      end))
end)

describe("timeout, as CPython 3.13's", function()
   it("of 0 that the scope never awaits under does not expire, nor cancel later", helper.async(function()
      local guard
      do
         local g <close> = asyncio.timeout(0)
         guard = g
      end
      assert.is_false(guard:expired())
      run_briefly(2)
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("expired while the body swallows the cancellation ends the scope normally", helper.async(function()
      local guard
      do
         local g <close> = asyncio.timeout(0.01)
         guard = g
         local ok, err = pcall(await, asyncio.sleep(1))
         assert.is_false(ok)
         assert.is_true(is_cancelled(err))
         assert.equal(1, asyncio.current_task():cancelling())
      end
      assert.is_true(guard:expired())
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("expired while the body raises another error lets that error through", helper.async(function()
      local guard
      local err = helper.failure(function()
         local g <close> = asyncio.timeout(0.01)
         guard = g
         if not pcall(await, asyncio.sleep(1)) then
            error("other", 0)
         end
      end)
      assert.equal("other", err)
      assert.is_true(guard:expired())
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("does not convert a cancel made inside it (CPython test_foreign_cancel_doesnt_timeout_if_not_expired)",
      helper.async(function()
         local guard
         local err = helper.failure(function()
            local g <close> = asyncio.timeout(10)
            guard = g
            asyncio.current_task():cancel("self")
            await(asyncio.sleep(10))
         end)
         assert.equal("self", err.message)
         assert.is_false(guard:expired())
         assert.equal(1, asyncio.current_task():cancelling())
         asyncio.current_task():uncancel()
      end))

   it("lets a cancellation from outside through when it expires in the same iteration", helper.async(function()
      local loop = asyncio.get_running_loop()
      local inside, expired
      local t = asyncio.create_task(async(function()
         local guard
         local _, err = pcall(function()
            local g <close> = asyncio.timeout(0.01)
            guard = g
            await(asyncio.sleep(1))
         end)
         inside, expired = asyncio.current_task():cancelling(), guard:expired()
         error(err, 0)
      end)())
      run_briefly()
      loop:call_later(0.01, function() t:cancel("ext") end)
      local deadline = loop:time() + 0.03
      while loop:time() < deadline do end
      helper.cancelled(t)
      assert.equal(1, inside)
      assert.is_true(expired)
   end))

   -- The guard's deadline and the result of what the scope awaits come
   -- in one iteration, in either order (Python: the task's wakeup and the
   -- timeout callback run in the order they were scheduled).
   for _, case in ipairs({
      { "result first", true, { "woke 1", "leaving 0", "left false 0", "after" } },
      { "deadline first", false, { "cancelled", "leaving 1", "left true 0", "after" } },
   }) do
      it("meeting the awaited result in one iteration, " .. case[1] .. ", ends as Python's", helper.async(function()
         local loop = asyncio.get_running_loop()
         local fut, holder = loop:create_future(), loop:create_future()
         local log = {}
         local t = asyncio.create_task(async(function()
            local guard
            do
               local g <close> = asyncio.timeout(10)
               guard = g
               holder:set_result(g)
               local ok, v = pcall(await, fut)
               log[#log + 1] = ok and ("woke " .. v) or "cancelled"
               log[#log + 1] = "leaving " .. asyncio.current_task():cancelling()
            end
            log[#log + 1] = ("left %s %d"):format(guard:expired(), asyncio.current_task():cancelling())
            await(asyncio.sleep(0))
            log[#log + 1] = "after"
         end)())
         local guard = await(holder)
         run_briefly()
         if case[2] then
            fut:set_result(1)
            guard:reschedule(loop:time() - 1)
         else
            guard:reschedule(loop:time() - 1)
            fut:set_result(1)
         end
         await(t)
         assert.same(case[3], log)
      end))
   end

   it("meeting the awaited result in one iteration, result first, expires at the next await", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut, holder = loop:create_future(), loop:create_future()
      local log = {}
      local t = asyncio.create_task(async(function()
         local guard <close> = asyncio.timeout(10)
         holder:set_result(guard)
         local v = await(fut)
         log[#log + 1] = "woke " .. v
         await(asyncio.sleep(0))
         log[#log + 1] = "not reached"
      end)())
      local guard = await(holder)
      run_briefly()
      fut:set_result(1)
      guard:reschedule(loop:time() - 1)
      assert.is_true(is_timeout(helper.failure(await, t)))
      assert.same({ "woke 1" }, log)
   end))

   it("around a gather cancels its children and raises TimeoutError", helper.async(function()
      local log = {}
      local err = helper.failure(function()
         local _ <close> = asyncio.timeout(0.01)
         await(asyncio.gather(sleeper(log, "a"), sleeper(log, "b")))
      end)
      assert.is_true(is_timeout(err))
      assert.same({ "a cancelled", "b cancelled" }, log)
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("around a task group's exit raises TimeoutError after cancelling its tasks", helper.async(function()
      local log = {}
      local err = helper.failure(function()
         local _ <close> = asyncio.timeout(0.02)
         local tg <close> = asyncio.TaskGroup()
         tg:create_task(sleeper(log, "a"))
         log[#log + 1] = "body end"
      end)
      assert.is_true(is_timeout(err))
      assert.same({ "body end", "a cancelled" }, log)
      assert.equal(0, asyncio.current_task():cancelling())
   end))
end)

describe("as_completed, as CPython 3.13's", function()
   it("hands each result to the next step one iteration after the last", helper.async(function()
      local log, ticker = event_log(8)
      local child = async(function(n, v)
         run_briefly(n)
         log[#log + 1] = "fin " .. v
         return v
      end)
      local tasks = { asyncio.create_task(child(2, "x")), asyncio.create_task(child(1, "y")) }
      for aw in asyncio.as_completed(tasks) do
         local v = await(aw)
         log[#log + 1] = "got " .. v
      end
      await(ticker)
      assert.same({ "o0", "o1", "fin y", "o2", "fin x", "o3", "got y", "got x", "o4", "o5", "o6", "o7" }, log)
   end))

   it("raises a cancelled future's CancelledError, message included, at its step", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b = loop:create_future(), loop:create_future()
      a:cancel("cm")
      loop:call_soon(function() b:set_result("b") end)
      local got = {}
      for aw in asyncio.as_completed({ a, b }) do
         local ok, v = pcall(await, aw)
         got[#got + 1] = ok and v or v.message
      end
      assert.same({ "cm", "b" }, got)
   end))

   it("gives errors and results in the order their futures finished", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
      b:set_exception("x")
      c:set_result("c")
      loop:call_later(0.01, function() a:set_result("a") end)
      local got = {}
      for aw in asyncio.as_completed({ a, b, c }) do
         local _, v = pcall(await, aw)
         got[#got + 1] = v
      end
      assert.same({ "x", "c", "a" }, got)
   end))

   it("of 0 seconds gives what is done already, then TimeoutError", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b = loop:create_future(), loop:create_future()
      a:set_result("a")
      local got = {}
      for aw in asyncio.as_completed({ a, b }, { timeout = 0 }) do
         local ok, v = pcall(await, aw)
         got[#got + 1] = ok and v or (is_timeout(v) and "timeout")
      end
      assert.same({ "a", "timeout" }, got)
      assert.is_false(b:done())
   end))
end)

describe("shield, as CPython 3.13's", function()
   it("wakes its awaiting task two iterations after the inner future is done", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local outer = asyncio.shield(fut)
      local log, ticker = event_log(5)
      local t = asyncio.create_task(async(function()
         local v = await(outer)
         log[#log + 1] = "woke " .. v
      end)())
      run_briefly()
      fut:set_result(7)
      log[#log + 1] = "set"
      await(t)
      await(ticker)
      assert.same({ "o0", "set", "o1", "o2", "woke 7", "o3", "o4" }, log)
   end))

   it("cancelled through its awaiting task gives that task's message and leaves the inner future",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local fut = loop:create_future()
         local t = asyncio.create_task(async(function() return await(asyncio.shield(fut)) end)())
         run_briefly()
         t:cancel("tmsg")
         assert.equal("tmsg", helper.cancelled(t).message)
         assert.is_false(fut:done())
         fut:set_result(1)
      end))

   it("is cancelled without the message of a cancelled inner future (Python's outer.cancel())",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local fut = loop:create_future()
         local outer = asyncio.shield(fut)
         fut:cancel("imsg")
         run_briefly()
         assert.is_true(outer:cancelled())
         assert.is_nil(helper.cancelled(outer).message)
      end))

   it("cancelled, leaves an error the inner future gets later to the never-retrieved report", function()
      -- Python 3.13's shield drops its callback from the inner future when
      -- the outer one is cancelled
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      do
         local inner = loop:create_future()
         local outer = asyncio.shield(inner)
         loop:run_until_complete(asyncio.sleep(0))
         assert.is_true(outer:cancel())
         loop:run_until_complete(asyncio.sleep(0))
         inner:set_exception("late")
         loop:run_until_complete(asyncio.sleep(0))
      end
      helper.full_gc()
      loop:close()
      assert.equal(1, #reports)
      assert.equal("Future exception was never retrieved", reports[1].message)
      assert.equal("late", reports[1].error)
   end)
end)

describe("TaskGroup, as CPython 3.13's", function()
   it("cancels its body at its next await when an eager task fails in its first step", helper.async(function()
      local loop = asyncio.get_running_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      local log = {}
      local err = helper.failure(function()
         local tg <close> = asyncio.TaskGroup()
         assert.equal(5, tg:create_task(async(function() return 5 end)()):result())
         assert.equal("eager", tg:create_task(async(function() error("eager", 0) end)()):exception())
         log[#log + 1] = "body goes on"
         run_briefly()
         log[#log + 1] = "not reached"
      end)
      loop:set_task_factory(nil)
      assert.is_true(asyncio.ExceptionGroup:is(err))
      assert.same({ "eager" }, err.errors)
      assert.same({ "body goes on" }, log)
   end))

   it("raises its group even when the body caught the cancellation and went on", helper.async(function()
      local log = {}
      local err = helper.failure(function()
         local tg <close> = asyncio.TaskGroup()
         tg:create_task(async(function() run_briefly(); error("bad", 0) end)())
         if not pcall(await, asyncio.sleep(10)) then
            log[#log + 1] = "caught"
         end
         run_briefly()
         log[#log + 1] = "went on"
      end)
      assert.same({ "bad" }, err.errors)
      assert.same({ "caught", "went on" }, log)
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("cancels its body one iteration after its tasks, then waits for them", helper.async(function()
      local log, ticker = event_log(8)
      local slow = async(function()
         local ok, err = pcall(await, asyncio.sleep(10))
         if not ok then
            log[#log + 1] = "slow cancelled"
            run_briefly()
            log[#log + 1] = "slow done"
            error(err, 0)
         end
      end)
      local err = helper.failure(function()
         local tg <close> = asyncio.TaskGroup()
         tg:create_task(async(function()
            run_briefly()
            log[#log + 1] = "fail"
            error("a", 0)
         end)())
         tg:create_task(slow())
         local ok, e = pcall(await, asyncio.sleep(10))
         if not ok then
            log[#log + 1] = "body cancelled"
            error(e, 0)
         end
      end)
      log[#log + 1] = "raised"
      await(ticker)
      assert.same({ "a" }, err.errors)
      assert.same({ "o0", "o1", "fail", "o2", "o3", "slow cancelled", "body cancelled", "o4", "slow done", "o5",
         "o6", "raised", "o7" }, log)
   end))

   it("cancelled twice while it waits for a task, raises the first cancellation and keeps both counted",
      helper.async(function()
         local log = {}
         local r = asyncio.create_task(async(function()
            do
               local tg <close> = asyncio.TaskGroup()
               tg:create_task(async(function()
                  local ok, err = pcall(await, asyncio.sleep(10))
                  if not ok then
                     log[#log + 1] = "a cancelled"
                     run_briefly(2)
                     log[#log + 1] = "a finishing"
                     error(err, 0)
                  end
               end)())
            end
            log[#log + 1] = "not reached"
         end)())
         run_briefly(2)
         r:cancel("one")
         run_briefly()
         r:cancel("two")
         assert.equal("one", helper.cancelled(r).message)
         assert.same({ "a cancelled", "a finishing" }, log)
         assert.equal(2, r:cancelling())
      end))

   it("keeps a task's TimeoutError from its own timeout in the group", helper.async(function()
      local log = {}
      local err = helper.failure(function()
         local tg <close> = asyncio.TaskGroup()
         tg:create_task(async(function()
            local _ <close> = asyncio.timeout(0.01)
            await(sleeper(log, "c"))
         end)())
         tg:create_task(sleeper(log, "d"))
      end)
      assert.equal(1, #err.errors)
      assert.is_true(is_timeout(err.errors[1]))
      assert.same({ "c cancelled", "d cancelled" }, log)
   end))
end)

describe("a task cancelled in the iteration its awaitable finishes, as CPython 3.13's", function()
   -- k iterations after the awaited future got its result, the awaiting
   -- task is cancelled: before it woke, the cancel wins; after, it is too late
   local function check(make)
      local loop = asyncio.get_running_loop()
      local got = {}
      for k = 0, 2 do
         local fut = loop:create_future()
         local t = asyncio.create_task(async(function() return await(make(fut)) end)())
         run_briefly()
         fut:set_result(1)
         run_briefly(k)
         local cancelled = t:cancel("tm")
         local ok, v = pcall(await, t)
         got[#got + 1] = ("%s %s"):format(cancelled, ok and tostring(v) or v.message)
      end
      return got
   end

   it("awaiting a shield", helper.async(function()
      assert.same({ "true tm", "true tm", "false 1" }, check(asyncio.shield))
   end))

   it("awaiting wait()", helper.async(function()
      local counted = async(function(fut)
         return helper.size((await(asyncio.wait({ fut }))))
      end)
      assert.same({ "true tm", "true tm", "false 1" }, check(counted))
   end))

   it("awaiting a step of as_completed, whose result the next step gets", helper.async(function()
      local loop = asyncio.get_running_loop()
      for k = 0, 2 do
         local a, b = loop:create_future(), loop:create_future()
         local steps = {}
         for aw in asyncio.as_completed({ a, b }) do
            steps[#steps + 1] = aw
         end
         local t = asyncio.create_task(steps[1])
         run_briefly()
         a:set_result("a")
         run_briefly(k)
         assert.equal(k < 2, t:cancel("tm"))
         if k < 2 then
            assert.equal("tm", helper.cancelled(t).message)
            assert.equal("a", await(steps[2]))
         else
            assert.equal("a", await(t))
            b:set_result("b")
            assert.equal("b", await(steps[2]))
         end
      end
   end))
end)

describe("a CancelledError raised rather than caused, as CPython 3.13's", function()
   it("by a task of a group counts as its cancellation, not a failure", helper.async(function()
      local t1, t2
      do
         local tg <close> = asyncio.TaskGroup()
         t1 = tg:create_task(async(function() run_briefly(); error(asyncio.CancelledError("own")) end)())
         t2 = tg:create_task(async(function() run_briefly(3); return 1 end)())
      end
      assert.is_true(t1:cancelled())
      assert.equal(1, t2:result())
      assert.equal(0, asyncio.current_task():cancelling())
   end))

   it("by the body of a group cancels its tasks and ends the task cancelled", helper.async(function()
      local log = {}
      local r = asyncio.create_task(async(function()
         local tg <close> = asyncio.TaskGroup()
         tg:create_task(sleeper(log, "child"))
         run_briefly()
         error(asyncio.CancelledError("body"))
      end)())
      assert.equal("body", helper.cancelled(r).message)
      assert.same({ "child cancelled" }, log)
      assert.equal(0, r:cancelling())
   end))

   it("by a coroutine under wait_for goes through as it is", helper.async(function()
      local t = asyncio.create_task(async(function()
         return await(asyncio.wait_for(async(function()
            run_briefly()
            error(asyncio.CancelledError("own"))
         end)(), 1))
      end)())
      assert.equal("own", helper.cancelled(t).message)
      assert.equal(0, t:cancelling())
   end))
end)

describe("gather cancelled while a child fails on its cancellation, as CPython 3.13's", function()
   it("fails with that error, or with CancelledError with return_exceptions", helper.async(function()
      local a = async(function()
         if not pcall(await, asyncio.sleep(10)) then
            error("a failed on cancel", 0)
         end
      end)
      local b = async(function()
         if not pcall(await, asyncio.sleep(10)) then
            return "b"
         end
      end)
      local g = asyncio.gather(a(), b())
      run_briefly()
      g:cancel()
      assert.equal("a failed on cancel", helper.failure(await, g))
      g = asyncio.gather(a(), b(), { return_exceptions = true })
      run_briefly()
      g:cancel()
      assert.is_nil(helper.cancelled(g).message)
   end))
end)
