-- CPython's Lib/test/test_asyncio (3.13): the Future, Task, event loop,
-- runner and eager task scenarios of test_futures.py, test_tasks.py,
-- test_base_events.py, test_events.py, test_runners.py and
-- test_eager_task_factory.py, in Lua. Each expectation is what Python
-- 3.13.0 printed for the same scenario. Most run on a loop of their own,
-- stepped one iteration at a time as CPython's test_utils.run_briefly does.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local CancelledError, InvalidStateError = asyncio.CancelledError, asyncio.InvalidStateError

local with_loop = helper.with_loop

local brief = helper.step

local raises = helper.raises

local function method(obj, name)
   return function(...)
      return obj[name](obj, ...)
   end
end

describe("CPython test_futures", function()
   it("test_initial_state", function()
      with_loop(function(loop)
         local f = loop:create_future()
         assert.is_false(f:cancelled())
         assert.is_false(f:done())
         raises(InvalidStateError, method(f, "result"))
         raises(InvalidStateError, method(f, "exception"))
      end)
   end)

   it("test_cancel", function()
      with_loop(function(loop)
         local f = loop:create_future()
         assert.is_true(f:cancel())
         assert.is_true(f:cancelled())
         assert.is_true(f:done())
         raises(CancelledError, method(f, "result"))
         raises(CancelledError, method(f, "exception"))
         raises(InvalidStateError, method(f, "set_result"), nil)
         raises(InvalidStateError, method(f, "set_exception"), "x")
         assert.is_false(f:cancel())
      end)
   end)

   it("test_future_cancel_message_getter", function()
      with_loop(function(loop)
         local f = loop:create_future()
         assert.is_true(f:cancel("my msg"))
         assert.equal("my msg", raises(CancelledError, method(f, "result")).message)
         assert.equal("my msg", raises(CancelledError, method(f, "exception")).message)
         assert.is_false(f:cancel("other")) -- the first message stays
         assert.equal("my msg", raises(CancelledError, method(f, "result")).message)
      end)
   end)

   it("test_result", function()
      with_loop(function(loop)
         local f = loop:create_future()
         raises(InvalidStateError, method(f, "result"))
         f:set_result(42)
         assert.is_false(f:cancelled())
         assert.is_true(f:done())
         assert.equal(42, f:result())
         assert.is_nil(f:exception())
         raises(InvalidStateError, method(f, "set_result"), 43)
         raises(InvalidStateError, method(f, "set_exception"), "y")
         assert.is_false(f:cancel())
         assert.equal(42, f:result())
      end)
   end)

   it("test_exception", function()
      with_loop(function(loop)
         local f = loop:create_future()
         local exc = { "boom" }
         raises(InvalidStateError, method(f, "exception"))
         f:set_exception(exc)
         assert.is_false(f:cancelled())
         assert.is_true(f:done())
         assert.equal(exc, helper.failure(method(f, "result")))
         assert.equal(exc, f:exception())
         raises(InvalidStateError, method(f, "set_result"), 1)
         raises(InvalidStateError, method(f, "set_exception"), exc)
         assert.is_false(f:cancel())
      end)
   end)

   it("a future failed with a CancelledError is done, not cancelled, and cancels a task that awaits it", function()
      with_loop(function(loop)
         local f = loop:create_future()
         local exc = CancelledError("x")
         f:set_exception(exc)
         assert.is_true(f:done())
         assert.is_false(f:cancelled())
         assert.equal(exc, f:exception())
         local t = loop:create_task(async(function() await(f) end)())
         assert.equal("x", raises(CancelledError, loop.run_until_complete, loop, t).message)
         assert.is_true(t:cancelled())
         assert.equal(0, t:cancelling())
      end)
   end)

   -- BaseFutureDoneCallbackTests: which callbacks run after removals
   local function bag_callbacks(removals)
      local bag = {}
      with_loop(function(loop)
         local f = loop:create_future()
         local cbs = {}
         for i, thing in ipairs({ 42, 17, 100 }) do
            cbs[i] = function() bag[#bag + 1] = thing end
            f:add_done_callback(cbs[i])
         end
         for _, i in ipairs(removals) do
            f:remove_done_callback(cbs[i])
         end
         assert.same({}, bag)
         f:set_result("foo")
         assert.same({}, bag) -- never inside set_result
         brief(loop)
         assert.equal("foo", f:result())
      end)
      return bag
   end

   it("test_callbacks_remove_first_callback", function()
      assert.same({ 17, 100 }, bag_callbacks({ 1, 1 }))
   end)

   it("test_callbacks_remove_first_and_second_callback", function()
      assert.same({ 100 }, bag_callbacks({ 1, 2, 1 }))
   end)

   it("test_callbacks_remove_third_callback", function()
      assert.same({ 42, 17 }, bag_callbacks({ 3, 3 }))
   end)

   it("test_callbacks_invoked_on_set_result", function()
      assert.same({ 42, 17, 100 }, bag_callbacks({}))
   end)

   it("test_callbacks_invoked_on_set_exception", function()
      with_loop(function(loop)
         local bag = {}
         local f = loop:create_future()
         f:add_done_callback(function() bag[#bag + 1] = 100 end)
         f:set_exception("e")
         brief(loop)
         assert.same({ 100 }, bag)
         assert.equal("e", f:exception())
      end)
   end)

   it("test_remove_done_callback", function()
      with_loop(function(loop)
         local bag = {}
         local f = loop:create_future()
         local function make(thing) return function() bag[#bag + 1] = thing end end
         local cb1, cb2, cb3 = make(1), make(2), make(3)
         f:add_done_callback(cb1)
         f:add_done_callback(cb2)
         assert.equal(1, f:remove_done_callback(cb2))
         assert.equal(0, f:remove_done_callback(cb3))
         f:add_done_callback(cb2)
         for _ = 1, 5 do
            f:add_done_callback(cb1)
         end
         assert.equal(6, f:remove_done_callback(cb1))
         f:set_result("foo")
         brief(loop)
         assert.same({ 2 }, bag)
      end)
   end)

   it("test_schedule_callbacks_list_mutation_1", function()
      -- the callbacks were scheduled when the future finished: removing one
      -- from another changes nothing
      with_loop(function(loop)
         local log = {}
         local s1 = function() log[#log + 1] = "s1" end
         local f = loop:create_future()
         f:add_done_callback(function(fut)
            log[#log + 1] = "mut"
            log[#log + 1] = fut:remove_done_callback(s1)
         end)
         f:add_done_callback(s1)
         f:add_done_callback(s1)
         f:set_result(1)
         brief(loop)
         assert.same({ "mut", 0, "s1", "s1" }, log)
      end)
   end)

   it("schedules a callback added to a done future after those already scheduled", function()
      with_loop(function(loop)
         local log = {}
         local function push(x) return function() log[#log + 1] = x end end
         local f = loop:create_future()
         f:add_done_callback(push("cb1"))
         loop:call_soon(push("soon1"))
         f:set_result(1)
         loop:call_soon(push("soon2"))
         f:add_done_callback(push("cb2"))
         brief(loop)
         assert.same({ "soon1", "cb1", "soon2", "cb2" }, log)
      end)
   end)

   it("test_tb_logger_not_called_after_cancel", function()
      -- cancel() on a failed future or task, though it answers false, counts
      -- as retrieving its error
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         local task
         loop:run_until_complete(async(function()
            task = loop:create_task(async(function() error("TypeError") end)())
            await(asyncio.sleep(0.01))
            assert.is_false(task:cancel())
         end)())
         local f = loop:create_future()
         f:set_exception("x")
         assert.is_false(f:cancel())
         task, f = nil, nil -- luacheck: ignore 311
         helper.full_gc()
         brief(loop)
         loop:close()
         assert.same({}, reports)
      end)
   end)

   it("test_tb_logger_exception_unretrieved", function()
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         local f = loop:create_future()
         f:set_exception("lost")
         f = nil -- luacheck: ignore 311
         helper.full_gc()
         brief(loop)
         assert.equal(1, #reports)
         assert.equal("Future exception was never retrieved", reports[1].message)
         assert.matches("lost$", reports[1].error)
         assert.is_not_nil(reports[1].future)
      end)
   end)

   it("test_tb_logger_exception_retrieved, test_tb_logger_exception_result_retrieved", function()
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         for _, how in ipairs({ "exception", "result" }) do
            local f = loop:create_future()
            f:set_exception("got")
            pcall(f[how], f)
         end
         local f = loop:create_future()
         f:set_result(1)
         f = loop:create_future()
         f:cancel()
         f = nil -- luacheck: ignore 311
         helper.full_gc()
         brief(loop)
         loop:close()
         assert.same({}, reports)
      end)
   end)
end)

describe("CPython test_tasks", function()
   local sleep10 = async(function() await(asyncio.sleep(10)) end)

   it("test_task_cancel_message_getter", function()
      with_loop(function(loop)
         local t = loop:create_task(async(function() end)())
         assert.is_true(t:cancel("my message"))
         assert.equal(1, t:cancelling())
         local err = raises(CancelledError, loop.run_until_complete, loop, t)
         assert.equal("my message", err.message)
         assert.is_true(t:cancelled())
      end)
   end)

   it("test_task_awaits_on_itself", function()
      with_loop(function(loop)
         local task
         task = loop:create_task(async(function() await(task) end)())
         local err = helper.failure(loop.run_until_complete, loop, task)
         assert.matches("Task cannot await on itself", tostring(err))
      end)
   end)

   it("test_cancelling", function()
      with_loop(function(loop)
         local t = loop:create_task(sleep10())
         assert.equal(0, t:cancelling())
         assert.is_true(t:cancel())
         assert.equal(1, t:cancelling())
         assert.matches("cancelling", tostring(t))
         assert.is_true(t:cancel()) -- still true, and counted
         assert.equal(2, t:cancelling())
         raises(CancelledError, loop.run_until_complete, loop, t)
         assert.equal(2, t:cancelling())
         assert.is_false(t:cancel())
         assert.equal(2, t:cancelling())
      end)
   end)

   it("test_uncancel_basic", function()
      with_loop(function(loop)
         local log = {}
         local t = loop:create_task(async(function()
            local ok, err = pcall(await, asyncio.sleep(10))
            assert(not ok and CancelledError:is(err))
            log[#log + 1] = asyncio.current_task():uncancel()
            await(asyncio.sleep(10))
         end)())
         loop:run_until_complete(asyncio.sleep(0.01))
         assert.is_true(t:cancel())
         assert.equal(1, t:cancelling())
         assert.is_false(t:cancelled())
         loop:run_until_complete(asyncio.sleep(0.01))
         assert.same({ 0 }, log)
         assert.not_matches("cancelling", tostring(t))
         assert.equal(0, t:cancelling())
         assert.is_false(t:cancelled())
         assert.is_true(t:cancel())
         assert.equal(1, t:cancelling())
         raises(CancelledError, loop.run_until_complete, loop, t)
         assert.is_true(t:cancelled())
         assert.equal(0, t:uncancel()) -- no longer effective
         assert.is_true(t:cancelled())
      end)
   end)

   it("test_uncancel_resets_must_cancel", function()
      with_loop(function(loop)
         local fut = loop:create_future()
         local task = loop:create_task(async(function() await(fut); return 42 end)())
         loop:run_until_complete(asyncio.sleep(0)) -- waiting for fut
         fut:set_result(nil) -- runnable
         assert.is_true(task:cancel())
         assert.equal(1, task:cancelling())
         assert.equal(0, task:uncancel())
         assert.equal(0, task:cancelling())
         assert.equal(42, loop:run_until_complete(task))
      end)
   end)

   it("uncancel does not go below zero, and undoes a cancel of a task not started", function()
      with_loop(function(loop)
         local seen
         local task = loop:create_task(async(function()
            seen = asyncio.current_task():cancelling()
            await(asyncio.sleep(0))
            return "ok"
         end)())
         assert.equal(0, task:uncancel())
         assert.is_true(task:cancel())
         assert.equal(0, task:uncancel())
         assert.equal(0, task:uncancel())
         assert.equal("ok", loop:run_until_complete(task))
         assert.equal(0, seen)
      end)
   end)

   -- test_cancel_with_message_then_future_result/_exception and
   -- test_cancel_with_message_before_starting_task: the message, if any,
   -- reaches the task that retrieves the result or the error
   for _, case in ipairs({ { n = 0 }, { n = 1 }, { "my message", n = 1 }, { 5, n = 1 } }) do
      for _, variant in ipairs({ "result", "exception", "before_starting" }) do
         local name = ("test_cancel_with_message_then_future_%s (cancel(%s))")
            :format(variant, case.n == 0 and "" or tostring(case[1]))
         it(name, function()
            with_loop(function(loop)
               local task = loop:create_task(async(function()
                  local inner = loop:create_task(sleep10())
                  if variant ~= "before_starting" then
                     await(asyncio.sleep(0))
                  end
                  inner:cancel(table.unpack(case, 1, case.n))
                  local done, pending = await(asyncio.wait({ inner }))
                  assert.equal(1, #done)
                  assert.equal(0, #pending)
                  if variant == "result" then inner:result() else inner:exception() end
               end)())
               local err = raises(CancelledError, loop.run_until_complete, loop, task)
               assert.equal(case[1], err.message)
            end)
         end)
      end
   end

   it("test_cancel_yield", function()
      with_loop(function(loop)
         local log = {}
         local t = loop:create_task(async(function()
            log[#log + 1] = 1
            await(asyncio.sleep(0))
            log[#log + 1] = 2
            await(asyncio.sleep(0))
            return 12
         end)())
         brief(loop) -- start coro
         assert.is_true(t:cancel())
         raises(CancelledError, loop.run_until_complete, loop, t)
         assert.same({ 1 }, log)
         assert.is_true(t:done())
         assert.is_true(t:cancelled())
         assert.is_false(t:cancel())
      end)
   end)

   it("test_cancel_inner_future", function()
      with_loop(function(loop)
         local f = loop:create_future()
         local t = loop:create_task(async(function() await(f); return 12 end)())
         brief(loop)
         f:cancel()
         raises(CancelledError, loop.run_until_complete, loop, t)
         assert.is_true(f:cancelled())
         assert.is_true(t:cancelled())
      end)
   end)

   it("test_cancel_both_task_and_inner_future", function()
      with_loop(function(loop)
         local f = loop:create_future()
         local t = loop:create_task(async(function() await(f); return 12 end)())
         brief(loop)
         assert.is_true(f:cancel("fmsg"))
         assert.is_true(t:cancel("tmsg"))
         -- the future's own cancellation is what the task gets
         assert.equal("fmsg", raises(CancelledError, loop.run_until_complete, loop, t).message)
         assert.is_true(t:done())
         assert.is_true(f:cancelled())
         assert.is_true(t:cancelled())
      end)
   end)

   it("test_cancel_task_catching", function()
      with_loop(function(loop)
         local fut1, fut2 = loop:create_future(), loop:create_future()
         local caught
         local t = loop:create_task(async(function()
            await(fut1)
            local ok, err = pcall(await, fut2)
            if not ok then
               caught = { err.message, asyncio.current_task():cancelling() }
               return 42
            end
         end)())
         brief(loop)
         fut1:set_result(nil)
         brief(loop)
         assert.is_true(t:cancel("m"))
         assert.is_true(fut2:cancelled())
         assert.equal(42, loop:run_until_complete(t))
         assert.same({ "m", 1 }, caught)
         assert.is_false(t:cancelled())
         assert.equal(1, t:cancelling())
      end)
   end)

   it("test_cancel_task_ignoring", function()
      with_loop(function(loop)
         local fut1, fut2, fut3 = loop:create_future(), loop:create_future(), loop:create_future()
         local t = loop:create_task(async(function()
            await(fut1)
            pcall(await, fut2)
            return await(fut3)
         end)())
         brief(loop)
         fut1:set_result(nil)
         brief(loop)
         assert.is_true(t:cancel())
         assert.is_true(fut2:cancelled())
         brief(loop)
         fut3:set_result(42)
         assert.equal(42, loop:run_until_complete(t))
         assert.is_false(fut3:cancelled())
         assert.is_false(t:cancelled())
      end)
   end)

   it("test_cancel_current_task", function()
      with_loop(function(loop)
         local t
         t = loop:create_task(async(function()
            assert.is_true(t:cancel())
            assert.equal(1, t:cancelling())
            await(asyncio.sleep(100)) -- cancelled at once
            return 12
         end)())
         assert.is_false(t:cancelled())
         raises(CancelledError, loop.run_until_complete, loop, t)
         assert.is_true(t:done())
         assert.is_true(t:cancelled())
         assert.is_false(t:cancel())
      end)
   end)

   it("test_cancel_at_end", function()
      with_loop(function(loop)
         local t
         t = loop:create_task(async(function()
            assert.is_true(t:cancel("end msg"))
            return 12
         end)())
         assert.equal("end msg", raises(CancelledError, loop.run_until_complete, loop, t).message)
         assert.is_true(t:done())
         assert.is_true(t:cancelled())
         assert.is_false(t:cancel())
      end)
   end)

   it("test_cancel_awaited_task", function()
      with_loop(function(loop)
         local fut = loop:create_future()
         local task, nested_task
         task = loop:create_task(async(function()
            nested_task = loop:create_task(async(function() await(fut) end)())
            await(asyncio.sleep(0))
            task:cancel("self msg")
            await(nested_task) -- cancelled at once, with the message
         end)())
         assert.equal("self msg", raises(CancelledError, loop.run_until_complete, loop, task).message)
         assert.is_true(task:cancelled())
         assert.is_true(nested_task:cancelled())
         assert.is_true(fut:cancelled())
      end)
   end)

   it("cancels a task whose wakeup is already queued: the future's result is dropped", function()
      with_loop(function(loop)
         local fut = loop:create_future()
         local log = {}
         local t = loop:create_task(async(function()
            local ok, err = pcall(await, fut)
            log[#log + 1] = ok and err or err.message
            if not ok then error(err, 0) end
         end)())
         brief(loop)
         fut:set_result(9)
         assert.is_true(t:cancel("late"))
         assert.equal("late", raises(CancelledError, loop.run_until_complete, loop, t).message)
         assert.same({ "late" }, log)
      end)
   end)

   it("keeps the first message for a waiting task cancelled twice, the last for one not started", function()
      with_loop(function(loop)
         local body = async(function() await(asyncio.sleep(10)) end)
         local started = loop:create_task(body())
         brief(loop)
         assert.is_true(started:cancel("first"))
         assert.is_true(started:cancel("second"))
         assert.equal(2, started:cancelling())
         assert.equal("first", raises(CancelledError, loop.run_until_complete, loop, started).message)
         local unstarted = loop:create_task(body())
         assert.is_true(unstarted:cancel("first"))
         assert.is_true(unstarted:cancel("second"))
         assert.equal("second", raises(CancelledError, loop.run_until_complete, loop, unstarted).message)
      end)
   end)

   it("test_stop_while_run_in_complete", function()
      with_loop(function(loop)
         local x = 0
         local t = loop:create_task(async(function()
            while x < 10 do
               await(asyncio.sleep(0.001))
               x = x + 1
               if x == 2 then loop:stop() end
            end
         end)())
         local err = helper.failure(loop.run_until_complete, loop, t)
         assert.matches("Event loop stopped before Future completed%.", tostring(err))
         assert.is_false(t:done())
         assert.equal(2, x)
         assert.is_true(t:cancel())
         raises(CancelledError, loop.run_until_complete, loop, t)
         assert.equal(2, x)
      end)
   end)

   it("test_current_task", function()
      with_loop(function(loop)
         assert.is_nil(asyncio.current_task(loop))
         local task
         task = loop:create_task(async(function()
            assert.equal(task, asyncio.current_task())
            assert.equal(task, asyncio.current_task(nil))
            assert.equal(task, asyncio.current_task(loop))
         end)())
         loop:run_until_complete(task)
         assert.is_nil(asyncio.current_task(loop))
         local in_callback = "not run"
         loop:call_soon(function() in_callback = asyncio.current_task() end)
         brief(loop)
         assert.is_nil(in_callback)
      end)
   end)

   it("test_current_task_with_interleaving_tasks", function()
      with_loop(function(loop)
         local fut1, fut2 = loop:create_future(), loop:create_future()
         local log = {}
         local task1, task2
         task1 = loop:create_task(async(function()
            log[#log + 1] = asyncio.current_task() == task1 and "c1" or "?"
            await(fut1)
            log[#log + 1] = asyncio.current_task() == task1 and "c1b" or "?"
            fut2:set_result(true)
         end)())
         task2 = loop:create_task(async(function()
            log[#log + 1] = asyncio.current_task() == task2 and "c2" or "?"
            fut1:set_result(true)
            await(fut2)
            log[#log + 1] = asyncio.current_task() == task2 and "c2b" or "?"
         end)())
         loop:run_until_complete(asyncio.wait({ task1, task2 }))
         assert.same({ "c1", "c2", "c1b", "c2b" }, log)
         assert.is_nil(asyncio.current_task(loop))
      end)
   end)

   it("test_yield_future_passes_cancel", function()
      with_loop(function(loop)
         local proof = 0
         local waiter = loop:create_future()
         local inner = async(function()
            local ok, err = pcall(await, waiter)
            assert(not ok)
            proof = proof + 1
            error(err, 0)
         end)
         local f = asyncio.ensure_future(async(function()
            local ok, err = pcall(await, inner())
            if ok then
               proof = proof + 10
            elseif CancelledError:is(err) then
               proof = proof + 100
            end
         end)(), loop)
         brief(loop)
         f:cancel()
         loop:run_until_complete(f)
         assert.equal(101, proof)
         assert.is_true(waiter:cancelled())
         assert.is_false(f:cancelled()) -- it swallowed the cancellation
      end)
   end)

   it("test_log_destroyed_pending_task", function()
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         local task = asyncio.ensure_future(async(function(lp) -- luacheck: ignore 231
            await(lp:create_future()) -- nothing else holds it
            error("code never reached")
         end)(loop), loop)
         assert.equal(1, #asyncio.all_tasks(loop))
         brief(loop) -- waiting for the future
         task = nil -- luacheck: ignore 311
         helper.full_gc()
         assert.equal(0, #asyncio.all_tasks(loop))
         brief(loop)
         assert.equal(1, #reports)
         assert.equal("Task was destroyed but it is pending!", reports[1].message)
         assert.is_not_nil(reports[1].task)
      end)
   end)

   it("test_task_set_methods", function()
      with_loop(function(loop)
         local task = loop:create_task(async(function() return "ko" end)())
         assert.matches("not support set_result", tostring(helper.failure(task.set_result, task, "ok")))
         assert.matches("not support set_exception", tostring(helper.failure(task.set_exception, task, "e")))
         assert.equal("ko", loop:run_until_complete(task))
      end)
   end)

   it("test_sleep_zero", function()
      with_loop(function(loop)
         local result = 0
         loop:run_until_complete(async(function()
            loop:call_soon(function() result = result + 1 end)
            assert.equal(0, result)
            local num = await(asyncio.sleep(0, 10))
            assert.equal(1, result) -- inc'ed by call_soon
            result = result + num
         end)())
         assert.equal(11, result)
      end)
   end)

   it("test_other_loop_future", function()
      with_loop(function(loop)
         local other = asyncio.new_event_loop()
         local fut = other:create_future()
         local err = helper.failure(loop.run_until_complete, loop, async(function() await(fut) end)())
         assert.matches("got Future .* attached to a different loop", tostring(err))
         other:close()
      end)
   end)

   it("test_exception_traceback", function()
      with_loop(function(loop)
         loop:run_until_complete(async(function()
            local task = loop:create_task(async(function() error(InvalidStateError("1 / 0")) end)())
            await(asyncio.sleep(0)) -- skip one loop iteration
            assert.matches("traceback", task:exception().traceback)
         end)())
      end)
   end)

   it("test_get_coro", function()
      with_loop(function(loop)
         local coro = async(function() await(asyncio.sleep(0)) end)()
         local task = loop:create_task(coro)
         loop:run_until_complete(task)
         assert.equal(coro, task:get_coro())
      end)
   end)

   it("awaits a done future or task without yielding to the loop, as Python", function()
      with_loop(function(loop)
         local log = {}
         local a = async(function()
            local f = loop:create_future()
            f:set_result(1)
            log[#log + 1] = "A before"
            log[#log + 1] = "A got " .. await(f)
            local t = loop:create_task(asyncio.sleep(0, 5))
            await(asyncio.sleep(0))
            await(asyncio.sleep(0))
            log[#log + 1] = "A got " .. await(t)
         end)
         local b = async(function()
            for i = 1, 4 do
               log[#log + 1] = "B" .. i
               if i < 4 then await(asyncio.sleep(0)) end
            end
         end)
         loop:run_until_complete(asyncio.gather(a(), b()))
         assert.same({ "A before", "A got 1", "B1", "B2", "A got 5", "B3", "B4" }, log)
      end)
   end)

   it("test_cancel_traceback_for_future_result", function()
      with_loop(function(loop)
         local line = debug.getinfo(1, "l").currentline + 2
         local nested = async(function()
            await(asyncio.sleep(10)) -- nested sleep
         end)
         local task = loop:create_task(async(function()
            local t = loop:create_task(nested())
            await(asyncio.sleep(0))
            t:cancel()
            await(t) -- search target
         end)())
         local err = raises(CancelledError, loop.run_until_complete, loop, task)
         assert.matches("tasks_cpython_spec.lua:" .. line .. ":", err.traceback)
         assert.matches("tasks_cpython_spec.lua:" .. (line + 6) .. ":", task:traceback())
      end)
   end)
end)

describe("CPython test_base_events and test_events", function()
   local function logger()
      local log = {}
      return log, function(x) return function() log[#log + 1] = x end end
   end

   it("test_call_later_negative_delays", function()
      with_loop(function(loop)
         local log, push = logger()
         loop:call_later(-1, push("a"))
         loop:call_later(-2, push("b"))
         brief(loop)
         assert.same({ "b", "a" }, log)
      end)
   end)

   it("runs the callbacks queued before due timers, and what they queue on the next iteration", function()
      with_loop(function(loop)
         local log, push = logger()
         loop:call_soon(push("A"))
         loop:call_later(0, push("B"))
         loop:call_soon(push("C"))
         loop:call_at(loop:time() - 1, push("D"))
         loop:call_soon(function()
            log[#log + 1] = "E"
            loop:call_soon(push("F"))
            loop:call_later(0, push("G"))
         end)
         brief(loop)
         assert.same({ "A", "C", "E", "D", "B" }, log)
         brief(loop)
         assert.same({ "A", "C", "E", "D", "B", "F", "G" }, log)
      end)
   end)

   it("test_handle: cancel() and cancelled(), before and after the callback runs", function()
      with_loop(function(loop)
         local log, push = logger()
         local h1, h2 = loop:call_soon(push("h1")), loop:call_soon(push("h2"))
         assert.is_false(h1:cancelled())
         h1:cancel()
         assert.is_true(h1:cancelled())
         h1:cancel()
         brief(loop)
         assert.same({ "h2" }, log)
         assert.is_false(h2:cancelled())
         h2:cancel() -- after it ran: marked all the same, as Python's
         assert.is_true(h2:cancelled())
         local th = loop:call_later(10, push("th"))
         assert.is_true(th:when() > loop:time())
         th:cancel()
         assert.is_true(th:cancelled())
      end)
   end)

   it("skips handles cancelled by a callback of the same iteration", function()
      with_loop(function(loop)
         local log, push = logger()
         local victim, timer
         loop:call_soon(function()
            log[#log + 1] = "killer"
            victim:cancel()
            timer:cancel()
         end)
         victim = loop:call_soon(push("victim"))
         timer = loop:call_later(-1, push("timer"))
         brief(loop)
         assert.same({ "killer" }, log)
      end)
   end)

   it("test_run_forever_pre_stopped, test_run_once: stop() then run_forever() runs one iteration", function()
      with_loop(function(loop)
         local log, push = logger()
         loop:call_soon(function()
            log[#log + 1] = "c1"
            loop:call_soon(push("c2"))
         end)
         loop:stop()
         loop:stop() -- twice is once
         loop:run_forever()
         assert.same({ "c1" }, log)
         loop:stop()
         loop:run_forever()
         assert.same({ "c1", "c2" }, log)
      end)
   end)

   it("lets the iteration in which stop() is called finish", function()
      with_loop(function(loop)
         local log, push = logger()
         loop:call_soon(push("a"))
         loop:call_soon(function() log[#log + 1] = "stop"; loop:stop() end)
         loop:call_soon(push("b"))
         loop:run_forever()
         assert.same({ "a", "stop", "b" }, log)
      end)
   end)

   it("run_until_complete of a done future runs one iteration", function()
      with_loop(function(loop)
         local log, push = logger()
         local f = loop:create_future()
         f:set_result(7)
         loop:call_soon(function()
            log[#log + 1] = "c1"
            loop:call_soon(push("c2"))
         end)
         assert.equal(7, loop:run_until_complete(f))
         assert.same({ "c1" }, log)
      end)
   end)

   it("run_until_complete stops at the end of the iteration after the one the future is done in", function()
      with_loop(function(loop)
         local log, push = logger()
         local f = loop:create_future()
         loop:call_soon(function()
            log[#log + 1] = "set"
            f:set_result(1)
            loop:call_soon(push("after"))
         end)
         loop:call_soon(push("same"))
         assert.equal(1, loop:run_until_complete(f))
         -- the future's done callback that stops the loop was queued first
         assert.same({ "set", "same", "after" }, log)
      end)
   end)

   it("test_run_until_complete_stopped: a stopped loop raises, and the task goes on at the next run", function()
      with_loop(function(loop)
         loop:stop()
         local t = loop:create_task(async(function()
            await(asyncio.sleep(0))
            await(asyncio.sleep(0))
            return "done"
         end)())
         local err = helper.failure(loop.run_until_complete, loop, t)
         assert.matches("Event loop stopped before Future completed%.", tostring(err))
         assert.is_false(t:done())
         assert.equal("done", loop:run_until_complete(t))
         local f = loop:create_future()
         f:set_result(1)
         loop:stop()
         assert.equal(1, loop:run_until_complete(f)) -- done already: no error
      end)
   end)

   it("test_run_until_complete_nesting, test_running_loop_within_a_loop", function()
      with_loop(function(loop)
         local other = asyncio.new_event_loop()
         local errs = loop:run_until_complete(async(function()
            local coro = asyncio.sleep(0)
            local e1 = helper.error_of(loop.run_until_complete, loop, coro)
            await(coro)
            return { e1, helper.error_of(loop.run_forever, loop), helper.error_of(other.run_forever, other),
               helper.error_of(loop.close, loop) }
         end)())
         assert.matches("already running", tostring(errs[1]))
         assert.matches("already running", tostring(errs[2]))
         assert.matches("another loop is running", tostring(errs[3]))
         assert.matches("running event loop", tostring(errs[4]))
         other:close()
      end)
   end)

   it("test_set_exc_handler_custom, test_set_exc_handler_broken: the loop goes on", function()
      with_loop(function(loop)
         local log, push = logger()
         assert.is_nil(loop:get_exception_handler())
         local seen = {}
         local function handler(l, ctx)
            seen[#seen + 1] = { l == loop, ctx.message:match("^Exception in callback") ~= nil,
               ctx.error:match("boom$") ~= nil, ctx.handle ~= nil }
         end
         loop:set_exception_handler(handler)
         assert.equal(handler, loop:get_exception_handler())
         loop:call_soon(function() error("boom") end)
         loop:call_soon(push("after"))
         brief(loop)
         assert.same({ { true, true, true, true } }, seen)
         loop:call_exception_handler({ message = "custom", error = "c" })
         assert.equal(2, #seen)
         loop:set_exception_handler(nil)
         assert.is_nil(loop:get_exception_handler())
         -- a handler that fails: the default one reports both, to stderr
         loop:set_exception_handler(function() error("handler broke") end)
         local stderr = io.stderr
         local ok = pcall(function()
            io.stderr = io.tmpfile() -- luacheck: ignore 122
            loop:call_soon(function() error("boom") end)
            loop:call_soon(push("after broken"))
            brief(loop)
         end)
         io.stderr = stderr -- luacheck: ignore 122
         assert.is_true(ok)
         assert.same({ "after", "after broken" }, log)
      end)
   end)

   it("test_call_coroutine: debug mode refuses an async function as a callback", function()
      with_loop(function(loop)
         local afn = async(function() end)
         loop:set_debug(true)
         assert.is_true(loop:get_debug())
         local function refusal(f, ...) return tostring(helper.failure(f, loop, ...)) end
         assert.matches("coroutines cannot be used with call_soon", refusal(loop.call_soon, afn))
         assert.matches("coroutines cannot be used with call_at", refusal(loop.call_later, 1, afn))
         assert.matches("coroutines cannot be used with call_at", refusal(loop.call_at, 1, afn))
         loop:set_debug(false)
      end)
   end)

   it("test_close: a closed loop refuses to schedule or run", function()
      with_loop(function(loop)
         loop:close()
         assert.is_true(loop:is_closed())
         assert.is_false(loop:is_running())
         loop:close() -- twice is fine
         for _, f in ipairs({
            function() loop:call_soon(print) end,
            function() loop:call_later(1, print) end,
            function() loop:run_forever() end,
            function() loop:run_until_complete(loop:create_future()) end,
            function() loop:create_task(async(function() end)()) end,
         }) do
            assert.matches("Event loop is closed", tostring(helper.failure(f)))
         end
      end)
   end)

   it("test_reader_callback: queued callbacks, then I/O, then due timers", function()
      with_loop(function(loop)
         local log, push = logger()
         local r, w = core.pipe()
         core.fdwrite(w, "x")
         loop:add_reader(r, push("io"))
         loop:call_soon(function()
            log[#log + 1] = "first"
            loop:call_soon(push("soon"))
            loop:call_later(0, push("timer"))
         end)
         brief(loop)
         assert.same({ "first", "io" }, log)
         brief(loop)
         assert.same({ "first", "io", "soon", "io", "timer" }, log)
         assert.is_true(loop:remove_reader(r))
         assert.is_false(loop:remove_reader(r))
         core.fdclose(r)
         core.fdclose(w)
      end)
   end)

   it("registers a descriptor with add_writer at once: ready then, it runs before one made ready after", function()
      -- libev registered it only at the next poll, after the write below
      -- had made the other one ready: the reader ran first
      with_loop(function(loop)
         local log, push = logger()
         local r1, w1 = core.pipe()
         local r2, w2 = core.pipe()
         loop:add_reader(r1, push("R1"))
         brief(loop)
         loop:add_writer(w2, push("W2"))
         core.fdwrite(w1, "x")
         brief(loop)
         assert.same({ "W2", "R1" }, log) -- Python: ['W2', 'R1']
         loop:remove_reader(r1)
         loop:remove_writer(w2)
         for _, fd in ipairs({ r1, w1, r2, w2 }) do core.fdclose(fd) end
      end)
   end)

   it("unregisters a descriptor at remove_reader, so adding it again puts it last, as Python", function()
      -- libev kept the removed descriptor registered, in its old place
      with_loop(function(loop)
         local log, push = logger()
         local r1, w1 = core.pipe()
         local r2, w2 = core.pipe()
         core.fdwrite(w1, "x")
         loop:add_reader(r1, push("R1"))
         brief(loop)
         assert.is_true(loop:remove_reader(r1))
         loop:add_writer(w2, push("W2"))
         loop:add_reader(r1, push("R1"))
         brief(loop)
         assert.same({ "R1", "W2", "R1" }, log) -- Python: ['R1', 'W2', 'R1']
         loop:remove_reader(r1)
         loop:remove_writer(w2)
         for _, fd in ipairs({ r1, w1, r2, w2 }) do core.fdclose(fd) end
      end)
   end)

   it("runs a descriptor's reader before its writer, whichever was added first, as Python's _process_events",
      function()
      -- with one descriptor watched the shadow set is not read (no
      -- epoll_wait more per poll): libev runs the later watcher first
      with_loop(function(loop)
         local log, push = logger()
         local a, b = core.socketpair("stream")
         core.fdwrite(b, "x")
         loop:add_writer(a, push("W"))
         loop:add_reader(a, push("R"))
         brief(loop)
         assert.same({ "R", "W" }, log) -- Python: ['R', 'W']
         loop:remove_reader(a)
         loop:remove_writer(a)
         core.fdclose(a)
         core.fdclose(b)
      end)
   end)

   it("test_add_signal_handler: the handler runs one iteration after the poll that saw the signal", function()
      with_loop(function(loop)
         local log, push = logger()
         loop:add_signal_handler("SIGUSR1", function(arg) log[#log + 1] = "usr1 " .. arg end, "arg")
         core.kill(core.getpid(), core.signal_number("SIGUSR1"))
         loop:call_soon(push("soon"))
         brief(loop)
         assert.same({ "soon" }, log)
         brief(loop)
         assert.same({ "soon", "usr1 arg" }, log)
         assert.is_true(loop:remove_signal_handler("SIGUSR1"))
         assert.is_false(loop:remove_signal_handler("SIGUSR1"))
         assert.is_false(loop:remove_signal_handler("SIGKILL"))
      end)
   end)
end)

describe("CPython test_runners", function()
   local main42 = async(function()
      await(asyncio.sleep(0))
      return 42
   end)

   it("test_asyncio_run_return, test_asyncio_run_raises", function()
      assert.equal(42, asyncio.run(main42()))
      local err = helper.failure(asyncio.run, async(function()
         await(asyncio.sleep(0))
         error({ "spam" })
      end)())
      assert.same({ "spam" }, err)
   end)

   it("test_asyncio_run_debug", function()
      local debug_mode = async(function() return asyncio.get_event_loop():get_debug() end)
      assert.is_false(asyncio.run(debug_mode(), { debug = false }))
      assert.is_true(asyncio.run(debug_mode(), { debug = true }))
   end)

   it("test_asyncio_run_from_running_loop", function()
      local err = asyncio.run(async(function()
         local coro = main42()
         local e = helper.error_of(asyncio.run, coro)
         await(coro)
         return e
      end)())
      assert.matches("cannot be called from a running", tostring(err))
   end)

   it("test_asyncio_run_cancels_hanging_tasks", function()
      local lo_task, seen
      assert.equal(123, asyncio.run(async(function()
         lo_task = asyncio.create_task(async(function()
            local ok, err = pcall(await, asyncio.sleep(0.1))
            seen = not ok and CancelledError:is(err)
            error(err, 0)
         end)())
         await(asyncio.sleep(0))
         return 123
      end)()))
      assert.is_true(seen)
      assert.is_true(lo_task:done())
      assert.is_true(lo_task:cancelled())
   end)

   it("test_asyncio_run_reports_hanging_tasks_errors", function()
      local lo_task, swallower
      local reports = {}
      assert.equal(1, asyncio.run(async(function()
         asyncio.get_running_loop():set_exception_handler(function(_, ctx) reports[#reports + 1] = ctx end)
         lo_task = asyncio.create_task(async(function()
            if not pcall(await, asyncio.sleep(0.1)) then error("div", 0) end
         end)())
         swallower = asyncio.create_task(async(function()
            if not pcall(await, asyncio.sleep(0.1)) then
               await(asyncio.sleep(0)) -- and it may still await
               return "sw"
            end
         end)())
         return 1
      end)()))
      assert.is_true(lo_task:done())
      assert.equal("sw", swallower:result())
      assert.equal(1, #reports)
      assert.matches("asyncio.run.*shutdown", reports[1].message)
      assert.equal(lo_task, reports[1].task)
      assert.equal("div", reports[1].error)
   end)

   it("runs a task main made as it returned before cancelling the rest; a main cancelling itself raises", function()
      local ran, left = false, nil
      assert.equal("u", asyncio.run(async(function()
         left = asyncio.create_task(async(function() ran = true end)())
         return "u"
      end)()))
      -- its first step was queued before main's done callback that stops the loop
      assert.is_true(ran)
      assert.is_false(left:cancelled())
      local err = raises(CancelledError, asyncio.run, async(function()
         asyncio.current_task():cancel("bye")
         await(asyncio.sleep(0))
      end)())
      assert.equal("bye", err.message)
   end)

   it("test_run, test_explicit_close, test_double_close, test_second_with_block_raises", function()
      local loop, bg, left
      local runner = asyncio.Runner()
      do
         local _ <close> = runner
         assert.equal(42, runner:run(main42()))
         loop = runner:get_loop()
         -- the loop stays between runs, with what was left running on it
         bg = loop:create_task(asyncio.sleep(0.01, "bg"))
         assert.equal("bg", runner:run(async(function() return await(bg) end)()))
         left = loop:create_task(asyncio.sleep(10))
         assert.equal("s", runner:run(asyncio.sleep(0, "s")))
         assert.is_false(left:done())
      end
      assert.is_true(loop:is_closed())
      assert.is_true(left:cancelled())
      assert.matches("Runner is closed", tostring(helper.failure(runner.get_loop, runner)))
      assert.matches("Runner is closed", tostring(helper.failure(runner.run, runner, function() end)))
      runner:close() -- no-op
      -- a runner closed before it made its loop is not closed at all, as in Python
      runner = asyncio.Runner()
      runner:close()
      loop = runner:get_loop()
      assert.is_false(loop:is_closed())
      runner:close()
      assert.is_true(loop:is_closed())
   end)

   it("test_recursive_run, test_debug", function()
      local runner <close> = asyncio.Runner({ debug = true })
      assert.is_true(runner:get_loop():get_debug())
      local err = runner:run(async(function()
         local coro = main42()
         local e = helper.error_of(runner.run, runner, coro)
         await(coro)
         return e
      end)())
      assert.matches("Runner.run%(%) cannot be called from a running event loop", tostring(err))
      assert.equal(42, runner:run(main42())) -- still usable
   end)
end)

describe("CPython test_eager_task_factory", function()
   local function with_eager_loop(body)
      with_loop(function(loop)
         loop:set_task_factory(asyncio.eager_task_factory)
         assert.equal(asyncio.eager_task_factory, loop:get_task_factory())
         body(loop)
      end)
   end
   local hello = async(function() return "hello" end)
   local blocky = async(function()
      await(asyncio.sleep(0.01))
      return "finished after blocking"
   end)

   it("test_await_future_during_eager_step", function()
      with_eager_loop(function(loop)
         assert.equal("my message", loop:run_until_complete(async(function()
            local fut = loop:create_future()
            local t = loop:create_task(async(function(f, v) f:set_result(v) end)(fut, "my message"))
            assert.is_true(t:done())
            return await(fut)
         end)()))
      end)
   end)

   it("test_eager_completion, test_block_after_eager_step", function()
      with_eager_loop(function(loop)
         assert.equal("hello", loop:run_until_complete(async(function()
            local t = loop:create_task(hello())
            assert.is_true(t:done())
            return await(t)
         end)()))
         assert.equal("finished after blocking", loop:run_until_complete(async(function()
            local t = loop:create_task(blocky())
            assert.is_false(t:done())
            return await(t)
         end)()))
      end)
   end)

   it("test_cancellation_after_eager_completion", function()
      with_eager_loop(function(loop)
         assert.equal("hello", loop:run_until_complete(async(function()
            local t = loop:create_task(hello())
            assert.is_false(t:cancel())
            assert.is_false(t:cancelled())
            return await(t)
         end)()))
      end)
   end)

   it("test_cancellation_after_eager_step_blocks", function()
      with_eager_loop(function(loop)
         local err = raises(CancelledError, loop.run_until_complete, loop, async(function()
            local t = loop:create_task(blocky())
            t:cancel("cancellation message")
            assert.equal(1, t:cancelling())
            await(t)
         end)())
         assert.equal("cancellation message", err.message)
      end)
   end)

   it("test_current_task, test_all_tasks_with_eager_completion, test_all_tasks_with_blocking", function()
      with_eager_loop(function(loop)
         loop:run_until_complete(async(function()
            local captured, all_inside
            local t = loop:create_task(async(function()
               captured = asyncio.current_task()
               await(asyncio.sleep(0))
               assert.equal(captured, asyncio.current_task())
            end)())
            assert.equal(t, captured)
            assert.is_true(asyncio.all_tasks()[t])
            await(t)
            local done = loop:create_task(async(function() all_inside = asyncio.all_tasks() end)())
            assert.is_true(all_inside[done])
            assert.is_nil(asyncio.all_tasks()[done])
         end)())
      end)
   end)

   it("schedules done callbacks of an eagerly finished task with call_soon, and starts lazily off the loop", function()
      with_eager_loop(function(loop)
         local t = loop:create_task(hello()) -- the loop is not running: lazy
         assert.is_false(t:done())
         brief(loop)
         assert.equal("hello", t:result())
         loop:run_until_complete(async(function()
            local failed = loop:create_task(async(function() error("eager fail", 0) end)())
            assert.is_true(failed:done())
            assert.equal("eager fail", failed:exception())
            local log = {}
            failed:add_done_callback(function() log[#log + 1] = "cb" end)
            assert.same({}, log)
            await(asyncio.sleep(0))
            assert.same({ "cb" }, log)
         end)())
      end)
   end)

   it("runs an eager task's first step before create_task returns, the rest in order", function()
      with_eager_loop(function(loop)
         local log = {}
         loop:run_until_complete(async(function()
            loop:call_soon(function() log[#log + 1] = "soon before" end)
            local t = loop:create_task(async(function()
               log[#log + 1] = "e1 start"
               await(asyncio.sleep(0))
               log[#log + 1] = "e1 resumed"
            end)())
            log[#log + 1] = "after create"
            loop:call_soon(function() log[#log + 1] = "soon after" end)
            await(t)
         end)())
         assert.same({ "e1 start", "after create", "soon before", "e1 resumed", "soon after" }, log)
      end)
   end)
end)

describe("CPython task names", function()
   it("numbers tasks Task-N across the APIs that make them, asyncio.run spending two", function()
      local leaf = async(function() return asyncio.current_task():get_name() end)
      local main = async(function()
         local out = { asyncio.current_task():get_name() }
         out[#out + 1] = asyncio.create_task(leaf()):get_name()
         local g = await(asyncio.gather(leaf(), leaf()))
         out[#out + 1] = g[1]
         out[#out + 1] = g[2]
         out[#out + 1] = await(asyncio.shield(leaf()))
         out[#out + 1] = await(asyncio.wait_for(leaf(), 1)) -- inline: the caller's name
         out[#out + 1] = await(asyncio.ensure_future(leaf()))
         out[#out + 1] = asyncio.create_task(leaf(), { name = 42 }):get_name()
         return out
      end)
      local function numbers(names)
         local base, out = tonumber(names[1]:match("^Task%-(%d+)$")), {}
         for i, n in ipairs(names) do
            out[i] = n:match("^Task%-(%d+)$") and tonumber(n:match("%d+")) - base or n
         end
         return out, base
      end
      local first, base1 = numbers(asyncio.run(main()))
      assert.same({ 0, 1, 2, 3, 4, 0, 5, "42" }, first)
      local second, base2 = numbers(asyncio.run(main()))
      assert.same(first, second)
      assert.equal(base1 + 6 + 2, base2)
   end)
end)
