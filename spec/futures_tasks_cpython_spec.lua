-- CPython's Lib/test/test_asyncio (3.13): the BaseFutureTests, BaseTaskTests
-- and GatherTestsBase scenarios of test_futures.py and test_tasks.py that
-- spec/tasks_cpython_spec.lua and the other specs do not port yet: the
-- "never retrieved" report of futures left pending or holding a result,
-- futures awaited twice, cancel messages seen through result() and
-- exception(), uncancel in a structured block, sleep, wait with
-- FIRST_EXCEPTION, gather of futures, task names and create_task. Each
-- expectation is what Python 3.13.0 printed for the same scenario. Most run
-- on a loop of their own, stepped one iteration at a time as CPython's
-- test_utils.run_briefly does.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local CancelledError, TimeoutError = asyncio.CancelledError, asyncio.TimeoutError

local with_loop = helper.with_loop

local brief = helper.step
local raises = helper.raises

-- CPython's GatherTestsBase._run_loop: runs the loop until nothing is
-- ready; five iterations are more than any scenario below needs.
local function settle(loop)
   for _ = 1, 5 do
      brief(loop)
   end
end

-- A list of n new futures of loop.
local function futures(loop, n)
   local list = {}
   for i = 1, n do
      list[i] = loop:create_future()
   end
   return table.unpack(list, 1, n)
end

-- A done callback that records the futures it is called with.
local function recorder()
   local calls = {}
   return calls, function(f) calls[#calls + 1] = f end
end

describe("CPython test_futures (more)", function()
   it("test_constructor_use_running_loop, test_constructor_use_global_loop", function()
      with_loop(function(loop)
         local f = loop:run_until_complete(async(function() return asyncio.Future() end)())
         assert.equal(loop, f:get_loop())
         assert.equal(loop, asyncio.Future():get_loop())
      end)
   end)

   it("test_exception_class", function()
      -- Python instantiates a class given to set_exception; here a class
      -- stands for an instance of itself, so it passes the same test
      with_loop(function(loop)
         local f = loop:create_future()
         f:set_exception(asyncio.InvalidStateError)
         assert.is_true(asyncio.InvalidStateError:is(f:exception()))
         raises(asyncio.InvalidStateError, function() return f:result() end)
      end)
   end)

   it("test_yield_from_twice: a future awaited twice gives its result twice", function()
      with_loop(function(loop)
         local f = loop:create_future()
         local log = {}
         local t = loop:create_task(async(function()
            log[#log + 1] = "A"
            local x = await(f)
            log[#log + 1] = "B" .. x
            local y = await(f)
            log[#log + 1] = "C" .. y
            return x, y
         end)())
         brief(loop)
         assert.same({ "A" }, log)
         f:set_result(42)
         local x, y = loop:run_until_complete(t)
         assert.equal(42, x)
         assert.equal(42, y)
         assert.same({ "A", "B42", "C42" }, log)
      end)
   end)

   it("test_remove_done_callback: compares callbacks with ==, as Python's list removal", function()
      with_loop(function(loop)
         local log = {}
         local Cb = {}
         Cb.__call = function(self) log[#log + 1] = self.key end
         Cb.__eq = function(a, b) return a.key == b.key end
         local function cb(key) return setmetatable({ key = key }, Cb) end
         local f = loop:create_future()
         f:add_done_callback(cb("a"))
         f:add_done_callback(cb("b"))
         f:add_done_callback(cb("a"))
         assert.equal(2, f:remove_done_callback(cb("a")))
         f:set_result(1)
         brief(loop)
         assert.same({ "b" }, log)
      end)
   end)

   it("test_tb_logger_abandoned, test_tb_logger_result_unretrieved, test_tb_logger_result_retrieved", function()
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         local _ = loop:create_future() -- abandoned pending
         loop:create_future():set_result(42) -- result never retrieved
         local f = loop:create_future()
         f:set_result(42)
         assert.equal(42, f:result())
         f = nil -- luacheck: ignore 311
         helper.full_gc()
         brief(loop)
         loop:close()
         assert.same({}, reports)
      end)
   end)

   it("test_constructor_positional: Future takes a loop or nothing", function()
      assert.has_error(function() return asyncio.Future(42) end,
         "bad argument #1 to 'Future' (event loop or nil expected, got number)")
   end)

   it("test_wrap_future_use_global_loop, test_wrap_future_use_running_loop", function()
      local lt <close> = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(function() return 1 end)
      assert.equal(1, cf:result(5))
      with_loop(function(loop)
         -- outside a task: the current loop
         assert.equal(loop, asyncio.wrap_future(cf):get_loop())
         -- in a task of another loop: that one, the running loop
         local other = asyncio.new_event_loop()
         local wrapped = other:run_until_complete(async(function() return asyncio.wrap_future(cf) end)())
         assert.equal(other, wrapped:get_loop())
         other:close()
      end)
   end)
end)

describe("CPython test_tasks (more)", function()
   local sleep10 = async(function() await(asyncio.sleep(10)) end)

   it("test_task_basics", function()
      with_loop(function(loop)
         local inner1 = async(function() return 42 end)
         local inner2 = async(function() return 1000 end)
         local outer = async(function()
            local a = await(inner1())
            local b = await(inner2())
            return a + b
         end)
         assert.equal(1042, loop:run_until_complete(outer()))
      end)
   end)

   it("test_uncancel_structured_blocks", function()
      with_loop(function(loop)
         -- a timeout written by hand with call_later, cancel and uncancel
         local make_request_with_timeout = async(function(sleep, timeout)
            local task = asyncio.current_task()
            local timed_out, block_finished = false, false
            local handle = task:get_loop():call_later(timeout, function()
               timed_out = true
               task:cancel()
            end)
            local ok, err = pcall(function()
               await(asyncio.sleep(sleep))
               block_finished = true
            end)
            handle:cancel()
            if timed_out and task:uncancel() == 0 and not ok and getmetatable(err) == CancelledError then
               ok, err = false, TimeoutError()
            end
            if not ok and not TimeoutError:is(err) then
               error(err, 0)
            end
            -- outer code, not affected by the timeout
            await(asyncio.sleep(0))
            return timed_out, block_finished, true
         end)

         local t1 = loop:create_task(make_request_with_timeout(10, 0.01))
         assert.same({ true, false, true }, { loop:run_until_complete(t1) })
         assert.equal(0, t1:cancelling())

         local t2 = loop:create_task(make_request_with_timeout(0, 10))
         assert.same({ false, true, true }, { loop:run_until_complete(t2) })
         assert.equal(0, t2:cancelling())
      end)
   end)

   it("test_cancel", function()
      with_loop(function(loop)
         local t = loop:create_task(async(function()
            await(asyncio.sleep(10))
            return 12
         end)())
         loop:call_soon(function() t:cancel() end)
         local err = raises(CancelledError, loop.run_until_complete, loop, t)
         assert.is_nil(err.message)
         assert.is_true(t:done())
         assert.is_true(t:cancelled())
         assert.is_false(t:cancel())
      end)
   end)

   -- cancel(...) arguments and the message the error carries, as in Python
   local message_cases = {
      { args = {}, n = 0, message = nil },
      { args = {}, n = 1, message = nil }, -- cancel(nil), Python's cancel(None)
      { args = { "my message" }, n = 1, message = "my message" },
      { args = { 5 }, n = 1, message = 5 }, -- non-string values round-trip
   }

   for _, how in ipairs({ "result", "exception" }) do
      it("test_cancel_with_message_then_future_" .. how, function()
         for _, case in ipairs(message_cases) do
            with_loop(function(loop)
               local task = loop:create_task(async(function()
                  local t = loop:create_task(sleep10())
                  await(asyncio.sleep(0))
                  t:cancel(table.unpack(case.args, 1, case.n))
                  local done, pending = await(asyncio.wait({ t }))
                  assert.equal(1, helper.size(done))
                  assert.equal(0, helper.size(pending))
                  assert.is_true(t:cancelled())
                  t[how](t)
               end)())
               local err = raises(CancelledError, loop.run_until_complete, loop, task)
               assert.equal(case.message, err.message)
            end)
         end
      end)
   end

   it("test_cancel_with_message_before_starting_task", function()
      with_loop(function(loop)
         local ran = false
         local task = loop:create_task(async(function()
            local t = loop:create_task(async(function()
               ran = true
               await(asyncio.sleep(10))
            end)())
            t:cancel("my message") -- no sleep before: it never starts
            local done = await(asyncio.wait({ t }))
            assert.equal(1, helper.size(done))
            assert.is_true(t:cancelled())
            t:exception()
         end)())
         local err = raises(CancelledError, loop.run_until_complete, loop, task)
         assert.equal("my message", err.message)
         assert.is_false(ran)
      end)
   end)

   it("test_cancel_traceback_for_future_exception", function()
      with_loop(function(loop)
         local line = debug.getinfo(1, "l").currentline + 2
         local nested = async(function()
            await(asyncio.sleep(10)) -- nested sleep
         end)
         local task = loop:create_task(async(function()
            local t = loop:create_task(nested())
            await(asyncio.sleep(0))
            t:cancel()
            await(asyncio.wait({ t }))
            t:exception() -- search target
         end)())
         local err = raises(CancelledError, loop.run_until_complete, loop, task)
         assert.matches("futures_tasks_cpython_spec.lua:" .. line .. ":", err.traceback)
         assert.matches("futures_tasks_cpython_spec.lua:" .. (line + 7) .. ":", task:traceback())
      end)
   end)

   it("test_wait_first_exception_in_wait", function()
      with_loop(function(loop)
         local a = loop:create_task(asyncio.sleep(10))
         local zde = { "ZeroDivisionError" }
         local b = loop:create_task(async(function()
            await(asyncio.sleep(0.01))
            error(zde)
         end)())
         local t0 = loop:time()
         local done, pending = loop:run_until_complete(asyncio.wait({ b, a },
            { return_when = asyncio.FIRST_EXCEPTION }))
         assert.same({ [b] = true }, done)
         assert.same({ [a] = true }, pending)
         assert.equal(zde, b:exception())
         assert.is_false(a:done())
         assert.is_true(loop:time() - t0 < 1)
         a:cancel()
         loop:run_until_complete(asyncio.wait({ a }))
      end)
   end)

   it("test_sleep: the second sleep gives its extra argument", function()
      with_loop(function(loop)
         local sleeper = async(function(dt, arg)
            await(asyncio.sleep(dt / 2))
            return await(asyncio.sleep(dt / 2, arg))
         end)
         local t0 = loop:time()
         local t = loop:create_task(sleeper(0.02, "yeah"))
         loop:run_until_complete(t)
         assert.is_true(t:done())
         assert.equal("yeah", t:result())
         assert.is_true(loop:time() - t0 >= 0.02)
      end)
   end)

   it("test_sleep_when_delay_is_nan", function()
      -- Python's ValueError("Invalid delay: NaN (not a number)") is raised
      -- by the await; here sleep refuses the argument when called
      with_loop(function(loop)
         local t = loop:create_task(async(function()
            await(asyncio.sleep(0 / 0))
         end)())
         local err = helper.failure(loop.run_until_complete, loop, t)
         assert.matches("bad argument #1 to 'sleep' %(number is NaN%)", err)
      end)
   end)

   it("test_task_cancel_sleeping_task", function()
      with_loop(function(loop)
         local doit = async(function()
            local sleeper = loop:create_task(asyncio.sleep(5000))
            loop:call_later(0.01, function() sleeper:cancel() end)
            local ok, err = pcall(await, sleeper)
            if not ok and CancelledError:is(err) then
               return "cancelled"
            end
            return "slept in"
         end)
         local t0 = loop:time()
         assert.equal("cancelled", loop:run_until_complete(doit()))
         assert.is_true(loop:time() - t0 < 1)
      end)
   end)

   it("test_cancel_gather_2", function()
      for _, case in ipairs(message_cases) do
         with_loop(function(loop)
            local test = async(function()
               local time = 0
               while true do
                  time = time + 0.01
                  await(asyncio.gather(asyncio.sleep(0.01), { return_exceptions = true }))
                  if time > 1 then
                     return
                  end
               end
            end)
            local main = async(function()
               local qwe = loop:create_task(test())
               await(asyncio.sleep(0.03))
               qwe:cancel(table.unpack(case.args, 1, case.n))
               await(qwe)
            end)
            local err = raises(CancelledError, loop.run_until_complete, loop, main())
            assert.equal(case.message, err.message)
         end)
      end
   end)

   it("test_coroutine_non_gen_function_return_future: a task's result may be a future, not awaited", function()
      with_loop(function(loop)
         local fut = loop:create_future()
         local t1 = loop:create_task(async(function() return fut end)())
         local t2 = loop:create_task(async(function() fut:set_result("test") end)())
         assert.equal(fut, loop:run_until_complete(t1))
         assert.is_nil(t2:result()) -- done in the same iteration as t1
         assert.equal("test", fut:result())
      end)
   end)

   it("test_create_task_with_noncoroutine", function()
      with_loop(function(loop)
         for _ = 1, 2 do -- twice, as Python checks no caching breaks it
            assert.has_error(function() loop:create_task(123) end,
               "bad argument #1 to 'create_task' (coroutine object or function expected, got number)")
         end
      end)
   end)

   it("test_create_task_with_async_function", function()
      with_loop(function(loop)
         local coro = async(function() end)
         for _ = 1, 2 do
            local task = loop:create_task(coro())
            assert.is_true(asyncio.isfuture(task))
            loop:run_until_complete(task)
            assert.is_true(task:done())
         end
      end)
   end)

   it("test_ensure_future_awaitable: create_task refuses a value with __await, ensure_future wraps it", function()
      with_loop(function(loop)
         local Aw = {
            __await = function()
               return async(function() return 42 end)()
            end,
         }
         assert.has_error(function() loop:create_task(setmetatable({}, Aw)) end,
            "bad argument #1 to 'create_task' (coroutine object or function expected, got table)")
         local t = asyncio.ensure_future(setmetatable({}, Aw))
         assert.is_true(asyncio.isfuture(t))
         assert.is_not_nil(t.get_name) -- a Task
         assert.equal(42, loop:run_until_complete(t))
         assert.equal(42, loop:run_until_complete(asyncio.ensure_future(setmetatable({}, Aw), loop)))
      end)
   end)

   it("test_bare_create_task, test_bare_create_named_task", function()
      with_loop(function(loop)
         local inner = async(function() return 1 end)
         local noop = async(function() end)
         local r, name = loop:run_until_complete(async(function()
            local t = asyncio.create_task(inner())
            local v = await(t)
            local t2 = asyncio.create_task(noop(), { name = "No-op" })
            local n = t2:get_name()
            await(t2)
            return v, n
         end)())
         assert.equal(1, r)
         assert.equal("No-op", name)
      end)
   end)

   it("test_task_set_name_pylong: a number name is converted to a string", function()
      with_loop(function(loop)
         local t = loop:create_task(async(function() return 123 end)(), { name = 987654321 })
         assert.equal("987654321", t:get_name())
         t:set_name(123456789)
         assert.equal("123456789", t:get_name())
         assert.equal(123, loop:run_until_complete(t))
      end)
   end)

   it("test_ensure_future_neither, test_ensure_future_error_msg", function()
      with_loop(function(loop)
         assert.has_error(function() asyncio.ensure_future("ok") end,
            "bad argument #1 to 'ensure_future' (awaitable expected, got string)")
         local other = asyncio.new_event_loop()
         local f = loop:create_future()
         assert.has_error(function() asyncio.ensure_future(f, other) end,
            "bad argument #2 to 'ensure_future' (the future is attached to a different loop)")
         assert.has_error(function() asyncio.ensure_future(f, { loop = other }) end,
            "bad argument #2 to 'ensure_future' (the future is attached to a different loop)")
         assert.equal(f, asyncio.ensure_future(f, loop))
         other:close()
      end)
   end)

   it("test_ensure_future_coroutine, test_ensure_future_future, test_ensure_future_task", function()
      with_loop(function(loop)
         local notmuch = async(function() return "ok" end)
         local other = asyncio.new_event_loop()
         local t = asyncio.ensure_future(notmuch(), other)
         assert.equal(other, t:get_loop())
         assert.equal("ok", other:run_until_complete(t))
         other:close()
         -- inside a running loop: that loop
         t = loop:run_until_complete(async(function() return asyncio.ensure_future(notmuch()) end)())
         assert.equal(loop, t:get_loop())
         assert.equal("ok", loop:run_until_complete(t))
         -- none running: the current loop
         t = asyncio.ensure_future(notmuch())
         assert.equal(loop, t:get_loop())
         assert.equal("ok", loop:run_until_complete(t))
         -- a future or task is returned as it is, on its own loop only
         local f = loop:create_future()
         f:set_result("ko")
         assert.equal(f, asyncio.ensure_future(f))
         assert.equal("ko", loop:run_until_complete(f))
         other = asyncio.new_event_loop()
         for _, x in ipairs({ f, t }) do
            assert.has_error(function() asyncio.ensure_future(x, other) end,
               "bad argument #2 to 'ensure_future' (the future is attached to a different loop)")
            assert.equal(x, asyncio.ensure_future(x, loop))
         end
         other:close()
      end)
   end)

   it("test_ensure_future_task_awaitable: __await giving a coroutine object", function()
      with_loop(function(loop)
         local Aw = { __await = function() return asyncio.sleep(0, "ok") end }
         local task = asyncio.ensure_future(setmetatable({}, Aw), loop)
         loop:run_until_complete(task)
         assert.is_true(task:done())
         assert.equal("ok", task:result())
         assert.is_true(asyncio.iscoroutine(task:get_coro()))
      end)
   end)

   it("test_current_task_with_implicit_loop, test_current_task_no_running_loop", function()
      with_loop(function(loop)
         local other = asyncio.new_event_loop()
         local task
         task = loop:create_task(async(function()
            assert.equal(task, asyncio.current_task(loop))
            assert.equal(task, asyncio.current_task(nil))
            assert.equal(task, asyncio.current_task())
            assert.is_nil(asyncio.current_task(other))
         end)())
         loop:run_until_complete(task)
         assert.is_nil(asyncio.current_task(loop))
         other:close()
      end)
   end)

   it("test_task_cancel_waiter_future", function()
      with_loop(function(loop)
         local fut = loop:create_future()
         local task = loop:create_task(async(function() await(fut) end)())
         brief(loop)
         task:cancel()
         brief(loop)
         assert.is_true(fut:cancelled())
         assert.is_true(task:done())
         raises(CancelledError, loop.run_until_complete, loop, task)
         assert.is_true(task:cancelled())
      end)
   end)

   it("test_iscoroutinefunction", function()
      assert.is_false(asyncio.iscoroutinefunction(function() end))
      assert.is_true(asyncio.iscoroutinefunction(async(function() end)))
      assert.is_true(asyncio.iscoroutinefunction(asyncio.sleep))
      assert.is_false(asyncio.iscoroutinefunction(asyncio.gather))
   end)
end)

describe("CPython test_tasks FutureGatherTests (more)", function()
   it("test_success, test_result_exception_success", function()
      for _, opts in ipairs({ {}, { return_exceptions = false }, { return_exceptions = true } }) do
         with_loop(function(loop)
            local a, b, c = futures(loop, 3)
            local fut = asyncio.gather(a, b, c, opts)
            local calls, cb = recorder()
            fut:add_done_callback(cb)
            b:set_result(1)
            a:set_result(2)
            settle(loop)
            assert.same({}, calls)
            assert.is_false(fut:done())
            c:set_result(3)
            settle(loop)
            assert.same({ fut }, calls)
            assert.same({ 2, 1, 3, n = 3 }, fut:result())
         end)
      end
   end)

   it("test_return_exceptions", function()
      with_loop(function(loop)
         local a, b, c, d = futures(loop, 4)
         local fut = asyncio.gather(a, b, c, d, { return_exceptions = true })
         local calls, cb = recorder()
         fut:add_done_callback(cb)
         local exc, exc2 = { "ZeroDivisionError" }, { "RuntimeError" }
         b:set_result(1)
         c:set_exception(exc)
         a:set_result(3)
         settle(loop)
         assert.is_false(fut:done())
         d:set_exception(exc2)
         settle(loop)
         assert.is_true(fut:done())
         assert.same({ fut }, calls)
         local r = fut:result()
         assert.equal(4, r.n)
         assert.equal(3, r[1])
         assert.equal(1, r[2])
         assert.equal(exc, r[3])
         assert.equal(exc2, r[4])
      end)
   end)

   it("test_one_cancellation", function()
      with_loop(function(loop)
         local a, b, c, d, e = futures(loop, 5)
         local fut = asyncio.gather(a, b, c, d, e)
         local calls, cb = recorder()
         fut:add_done_callback(cb)
         a:set_result(1)
         b:cancel()
         settle(loop)
         assert.is_true(fut:done())
         assert.same({ fut }, calls)
         assert.is_false(fut:cancelled())
         assert.is_true(CancelledError:is(fut:exception()))
         assert.is_nil(fut:exception().message)
         -- does nothing
         c:set_result(3)
         d:cancel()
         e:set_exception({ "RuntimeError" })
         e:exception()
         settle(loop)
         assert.equal(1, #calls)
      end)
   end)

   it("test_one_cancellation, with a message: the gather's CancelledError carries it", function()
      with_loop(function(loop)
         local a, b = futures(loop, 2)
         local fut = asyncio.gather(a, b)
         b:cancel("bmsg")
         settle(loop)
         assert.equal("bmsg", fut:exception().message)
      end)
   end)

   it("test_result_exception_one_cancellation", function()
      with_loop(function(loop)
         local a, b, c, d, e, f = futures(loop, 6)
         local fut = asyncio.gather(a, b, c, d, e, f, { return_exceptions = true })
         local calls, cb = recorder()
         fut:add_done_callback(cb)
         a:set_result(1)
         local zde = { "ZeroDivisionError" }
         b:set_exception(zde)
         c:cancel()
         settle(loop)
         assert.is_false(fut:done())
         d:set_result(3)
         e:cancel("emsg")
         local rte = { "RuntimeError" }
         f:set_exception(rte)
         local res = loop:run_until_complete(fut)
         assert.equal(6, res.n)
         assert.equal(1, res[1])
         assert.equal(zde, res[2])
         assert.is_true(CancelledError:is(res[3]))
         assert.equal("", res[3].message) -- Python's args ('',)
         assert.equal(3, res[4])
         assert.is_true(CancelledError:is(res[5]))
         assert.equal("emsg", res[5].message)
         assert.equal(rte, res[6])
         assert.same({ fut }, calls)
      end)
   end)

   it("test_constructor_homogenous_futures", function()
      with_loop(function(loop)
         local other = asyncio.new_event_loop()
         local children = { futures(other, 3) }
         local fut = asyncio.gather(table.unpack(children))
         assert.equal(other, fut:get_loop())
         settle(other)
         assert.is_false(fut:done())
         local fut2 = asyncio.gather(table.unpack(children))
         assert.equal(other, fut2:get_loop())
         for _, child in ipairs(children) do
            child:set_result(0)
         end
         settle(other)
         assert.is_true(fut:done())
         assert.is_true(fut2:done())
         assert.same({ 0, 0, 0, n = 3 }, fut:result())
         other:close()
         assert.equal(loop, asyncio.get_event_loop())
      end)
   end)

   it("test_constructor_empty_sequence_use_running_loop", function()
      with_loop(function(loop)
         local fut = loop:run_until_complete(async(function() return asyncio.gather() end)())
         assert.is_true(asyncio.isfuture(fut))
         assert.equal(loop, fut:get_loop())
         assert.is_true(fut:done())
         assert.same({ n = 0 }, fut:result())
      end)
   end)
end)

describe("CPython test_futures and test_tasks, stepped: callback order and iterations", function()
   local function logger()
      local log = {}
      return log, function(x) return function() log[#log + 1] = x end end
   end

   it("runs callbacks and a waiting task's wakeup in registration order (test_callbacks_invoked_on_set_result)",
      function()
         with_loop(function(loop)
            local log, push = logger()
            local f = loop:create_future()
            f:add_done_callback(push("cb1"))
            local t = loop:create_task(async(function()
               local v = await(f)
               log[#log + 1] = "T:" .. v
            end)())
            brief(loop)
            f:add_done_callback(push("cb2"))
            t:add_done_callback(push("tdone"))
            loop:call_soon(push("soon"))
            f:set_result(1)
            loop:call_soon(push("soon2"))
            for _ = 1, 3 do
               log[#log + 1] = "|"
               brief(loop)
            end
            assert.same({ "|", "soon", "cb1", "T:1", "cb2", "soon2", "|", "tdone", "|" }, log)
         end)
      end)

   it("resumes a task awaiting a new task the iteration after it ends (test_task_basics)", function()
      with_loop(function(loop)
         local log = {}
         local inner = async(function()
            log[#log + 1] = "inner"
            return 5
         end)
         loop:create_task(async(function()
            local x = loop:create_task(inner())
            log[#log + 1] = "outer created"
            local v = await(x)
            log[#log + 1] = "outer got " .. v
         end)())
         for _ = 1, 5 do
            log[#log + 1] = "|"
            brief(loop)
         end
         assert.same({ "|", "outer created", "|", "inner", "|", "outer got 5", "|", "|" }, log)
      end)
   end)

   it("cancels the awaited future at once, the task at the next iteration (test_cancel_inner_future)", function()
      with_loop(function(loop)
         local log, push = logger()
         local f = loop:create_future()
         f:add_done_callback(function(fu) log[#log + 1] = "fcb cancelled=" .. tostring(fu:cancelled()) end)
         local t = loop:create_task(async(function()
            local ok, err = pcall(await, f)
            if not ok then
               log[#log + 1] = "T caught"
               error(err, 0)
            end
         end)())
         brief(loop)
         t:add_done_callback(push("tdone"))
         f:add_done_callback(push("fcb2"))
         t:cancel()
         log[#log + 1] = "after cancel f.cancelled=" .. tostring(f:cancelled())
         for _ = 1, 4 do
            log[#log + 1] = "|"
            brief(loop)
         end
         assert.same({ "after cancel f.cancelled=true", "|", "fcb cancelled=true", "T caught", "fcb2",
            "|", "tdone", "|", "|" }, log)
      end)
   end)

   it("starts gather's children once the caller yields, its callback before the caller (CoroutineGatherTests)",
      function()
         with_loop(function(loop)
            local log, push = logger()
            local child = async(function(n)
               log[#log + 1] = "c" .. n .. " start"
               await(asyncio.sleep(0))
               log[#log + 1] = "c" .. n .. " end"
               return n
            end)
            loop:create_task(async(function()
               local g = asyncio.gather(child(1), child(2))
               g:add_done_callback(push("gdone"))
               log[#log + 1] = "main awaits"
               local r = await(g)
               log[#log + 1] = "main got " .. r[1] .. r[2]
            end)())
            for _ = 1, 7 do
               log[#log + 1] = "|"
               brief(loop)
            end
            assert.same({ "|", "main awaits", "|", "c1 start", "c2 start", "|", "c1 end", "c2 end", "|", "|",
               "gdone", "main got 12", "|", "|" }, log)
         end)
      end)

   it("takes one iteration for sleep of a negative delay, as for sleep(0) (test_sleep_zero)", helper.async(function()
      local count, ticker = helper.ticker()
      await(asyncio.sleep(0))
      for _, delay in ipairs({ 0, -1 }) do
         local start = count()
         await(asyncio.sleep(delay))
         assert.equal(1, count() - start)
      end
      ticker:cancel()
   end))

   it("sleeps with an infinite delay until cancelled (test_sleep_cancel)", helper.async(function()
      local t = asyncio.create_task(asyncio.sleep(math.huge, "x"))
      await(asyncio.sleep(0.01))
      assert.is_false(t:done())
      t:cancel()
      helper.cancelled(t)
      assert.is_true(t:cancelled())
   end))
end)

describe("CPython test_tasks, more scenarios", function()
   local sleep10 = async(function() await(asyncio.sleep(10)) end)

   it("gives a future listed twice to as_completed once (test_as_completed_duplicate_coroutines)",
      helper.async(function()
         local f = asyncio.get_running_loop():create_future()
         asyncio.get_running_loop():call_soon(function() f:set_result(7) end)
         local out = {}
         for aw in asyncio.as_completed({ f, f }) do
            local v = await(aw)
            out[#out + 1] = v
         end
         assert.same({ 7 }, out)
      end))

   it("ends cancelled, with its message, a task whose body raises CancelledError (test_cancel_current_task)",
      function()
         with_loop(function(loop)
            local t = loop:create_task(async(function() error(CancelledError("own")) end)())
            local err = raises(CancelledError, loop.run_until_complete, loop, t)
            assert.equal("own", err.message)
            assert.is_true(t:cancelled())
         end)
      end)

   it("reports a failed gather nobody retrieves, not one with return_exceptions (test_tb_logger_exception_unretrieved)",
      function()
         with_loop(function(loop)
            local reports = helper.capture_reports(loop)
            local bad = { "bad" }
            local boom = async(function() error(bad) end)
            local g = asyncio.gather(boom())
            for _ = 1, 3 do
               brief(loop)
            end
            assert.is_true(g:done())
            g = asyncio.gather(boom(), { return_exceptions = true }) -- luacheck: ignore 311
            for _ = 1, 3 do
               brief(loop)
            end
            g = nil -- luacheck: ignore 311
            helper.full_gc()
            brief(loop)
            assert.equal(1, #reports)
            -- Python names the class: "_GatheringFuture exception was never retrieved"
            assert.equal("Future exception was never retrieved", reports[1].message)
            assert.equal(bad, reports[1].error)
         end)
      end)

   it("hands a cancel message through gather, shield and wait to the awaiting task (test_cancel_gather_2)",
      function()
         with_loop(function(loop)
            local kids = { loop:create_task(sleep10()), loop:create_task(sleep10()) }
            local inner = loop:create_task(sleep10())
            local waited = loop:create_task(sleep10())
            local cases = {
               { "kmsg", function() await(asyncio.gather(kids[1], kids[2])) end },
               { "lmsg", function() await(asyncio.shield(inner)) end },
               { "mmsg", function() await(asyncio.wait({ waited })) end },
            }
            for _, case in ipairs(cases) do
               local t = loop:create_task(case[2])
               brief(loop)
               t:cancel(case[1])
               assert.equal(case[1], raises(CancelledError, loop.run_until_complete, loop, t).message)
            end
            assert.is_true(kids[1]:cancelled())
            assert.is_true(kids[2]:cancelled())
            assert.is_false(inner:done())
            assert.is_false(waited:done())
         end)
      end)
end)
