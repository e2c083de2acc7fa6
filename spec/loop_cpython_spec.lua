-- CPython's Lib/test/test_asyncio (3.13): the event loop, runner and eager
-- task scenarios of test_base_events.py, test_events.py, test_runners.py
-- and test_eager_task_factory.py that spec/tasks_cpython_spec.lua does not
-- port already (callbacks and timers, handles, run_until_complete and
-- run_forever, stop, close, the exception handler and its default, debug
-- mode, readers and writers on socketpairs, signal handlers, the current
-- loop, asyncio.run and Runner, task factories). Each expectation is what
-- Python 3.13.0 printed for the same scenario; where we differ, the test
-- is pending with the divergence in one line.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local with_loop = helper.with_loop

local brief = helper.step

-- A log and a maker of callbacks that append x to it.
local function logger()
   local log = {}
   return log, function(x) return function() log[#log + 1] = x end end
end

-- Runs f() with io.stderr writing into a string, and returns that string.
local function stderr_of(f)
   local written, stderr = {}, io.stderr
   io.stderr = { write = function(self, ...) -- luacheck: ignore 122
      for _, s in ipairs({ ... }) do written[#written + 1] = tostring(s) end
      return self
   end }
   local ok, err = pcall(f)
   io.stderr = stderr -- luacheck: ignore 122
   if not ok then
      error(err, 0)
   end
   return table.concat(written)
end

local function message(f, ...)
   return tostring(helper.failure(f, ...))
end

describe("CPython test_base_events", function()
   it("test_call_soon, test_call_soon_non_callable (debug mode)", function()
      with_loop(function(loop)
         local h = loop:call_soon(function() end)
         assert.equal("handle", core.typeof(h))
         assert.is_false(h:cancelled())
         loop:set_debug(true)
         helper.failure(loop.call_soon, loop, 1) -- Python: TypeError, a callable object was expected
         loop:set_debug(false)
      end)
   end)

   it("test_call_soon_non_callable outside debug mode: refused at once, where Python reports it when it runs",
      function()
      -- a deliberate choice: bad input gets a clear error naming the
      -- function and the argument, in every mode
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         local ok, err = pcall(function() return loop:call_soon(1) end)
         assert.is_false(ok)
         assert.matches("bad argument #1 to 'call_soon' %(function expected, got number%)", err)
         brief(loop)
         assert.equal(0, #reports)
      end)
   end)

   it("test_call_later, test_time_and_call_at", function()
      with_loop(function(loop)
         helper.failure(loop.call_later, loop, nil, print) -- Python: delay must not be None
         helper.failure(loop.call_at, loop, nil, print) -- Python: when cannot be None
         local th = loop:call_later(10, print)
         assert.is_true(th:when() > loop:time())
         th:cancel()
         local when = loop:time() + 0.05
         loop:call_at(when, function() loop:stop() end)
         local t0 = loop:time()
         loop:run_forever()
         assert.is_true(loop:time() - t0 >= 0.05 - 0.001)
         assert.is_true(loop:time() >= when)
      end)
   end)

   it("test_set_debug", function()
      with_loop(function(loop)
         loop:set_debug(true)
         assert.is_true(loop:get_debug())
         loop:set_debug(false)
         assert.is_false(loop:get_debug())
      end)
   end)

   it("test_run_until_complete_type_error, test_run_until_complete_loop", function()
      with_loop(function(loop)
         helper.failure(loop.run_until_complete, loop, "blah")
         local other = asyncio.new_event_loop()
         local f = loop:create_future()
         -- Python: The future belongs to a different loop than the one specified as the loop argument
         assert.matches("different loop", message(other.run_until_complete, other, f))
         other:close()
         assert.is_false(f:done())
      end)
   end)

   it("test_default_exc_handler_callback: call_soon and call_later", function()
      with_loop(function(loop)
         local function zero_error(fut)
            fut:set_result(true)
            error("zero", 0)
         end
         for _, schedule in ipairs({
            function(...) return loop:call_soon(...) end,
            function(...) return loop:call_later(0.01, ...) end,
         }) do
            local out = stderr_of(function()
               local fut = loop:create_future()
               schedule(zero_error, fut)
               fut:add_done_callback(function() loop:stop() end)
               loop:run_forever()
            end)
            assert.matches("^Exception in callback", out)
            assert.matches("zero", out, 1, true)
         end
      end)
   end)

   it("test_default_exc_handler_coro: Task exception was never retrieved, when collected", function()
      with_loop(function(loop)
         local out = stderr_of(function()
            local fut = asyncio.ensure_future(async(function()
               await(asyncio.sleep(0.01))
               error("zero", 0)
            end)())
            fut:add_done_callback(function() loop:stop() end)
            loop:run_forever()
            fut = nil -- luacheck: ignore 311
            helper.full_gc()
            brief(loop)
         end)
         assert.matches("^Task exception was never retrieved", out)
         assert.matches("zero", out, 1, true)
      end)
   end)

   it("test_set_exc_handler_invalid", function()
      with_loop(function(loop)
         -- Python: A callable object or None is expected, got 'spam'
         helper.failure(loop.set_exception_handler, loop, "spam")
         assert.is_nil(loop:get_exception_handler())
      end)
   end)

   it("test_default_exc_handler_broken, with a custom handler that fails", function()
      with_loop(function(loop)
         loop:set_exception_handler(function() error("ham", 0) end)
         local log, push = logger()
         local out = stderr_of(function()
            loop:call_soon(function() error("zero", 0) end)
            loop:call_soon(push("next"))
            brief(loop)
         end)
         -- Python's default handler gets {message = "Unhandled error in
         -- exception handler", exception = ham, context = the callback's}
         assert.matches("^Unhandled error in exception handler", out)
         assert.matches("ham", out, 1, true)
         assert.matches("Exception in callback", out, 1, true)
         assert.matches("zero", out, 1, true)
         assert.same({ "next" }, log)
      end)
   end)

   it("test_set_task_factory_invalid, test_set_task_factory", function()
      with_loop(function(loop)
         -- Python: task factory must be a callable or None
         helper.failure(loop.set_task_factory, loop, 1)
         assert.is_nil(loop:get_task_factory())
         local made = {}
         local function factory(l, coro)
            local t = asyncio.eager_task_factory(l, coro)
            made[#made + 1] = t
            return t
         end
         loop:set_task_factory(factory)
         assert.equal(factory, loop:get_task_factory())
         local t = loop:create_task(async(function() end)())
         assert.same({ t }, made)
         loop:run_until_complete(t)
         loop:set_task_factory(nil)
         assert.is_nil(loop:get_task_factory())
         t = loop:create_task(async(function() end)())
         assert.equal(1, #made)
         loop:run_until_complete(t)
      end)
   end)

   it("test_env_var_debug", function()
      local code = [[
local asyncio = require("asyncio")
local loop = asyncio.new_event_loop()
print(loop:get_debug())
loop:close()
]]
      assert.equal("false\n", (helper.run_fresh(code, "env -u LUA_ASYNCIO_DEBUG")))
      assert.equal("false\n", (helper.run_fresh(code, "LUA_ASYNCIO_DEBUG=")))
      assert.equal("true\n", (helper.run_fresh(code, "LUA_ASYNCIO_DEBUG=1")))
   end)

   it("test_create_named_task_with_default_factory", function()
      with_loop(function(loop)
         local task = loop:create_task(async(function() end)(), { name = "test_task" })
         assert.equal("test_task", task:get_name())
         loop:run_until_complete(task)
      end)
   end)

   it("test_create_named_task_with_custom_factory: a factory that takes no options", function()
      with_loop(function(loop)
         -- a factory that ignores the options: Python names the task it returns
         loop:set_task_factory(function(l, coro) return asyncio.eager_task_factory(l, coro) end)
         local task = loop:create_task(async(function() end)(), { name = "test_task" })
         assert.equal("test_task", task:get_name())
         loop:run_until_complete(task)
      end)
   end)

   it("test_create_task_error_closes_coro: ensure_future on a closed loop raises", function()
      local loop = asyncio.new_event_loop()
      loop:close()
      assert.matches("Event loop is closed", message(asyncio.ensure_future, async(function() end)(), loop))
   end)

   it("test_log_slow_callbacks: a slow callback and a slow task step", function()
      with_loop(function(loop)
         loop:set_debug(true)
         loop.slow_callback_duration = 0
         local reports = helper.capture_reports(loop)
         local function slow()
            local out = {}
            for _, r in ipairs(reports) do
               if r.message:match("^Executing") then out[#out + 1] = r.message end
            end
            return out
         end
         loop:call_soon(function(l) l:stop() end, loop)
         loop:run_forever()
         local got = slow()
         assert.equal(1, #got)
         assert.matches("^Executing <Handle .*> took %S+ seconds$", got[1])
         asyncio.ensure_future(async(function(l) l:stop() end)(loop))
         loop:run_forever()
         got = slow()
         assert.equal(2, #got)
         assert.matches("^Executing <Task .*> took %S+ seconds$", got[2])
         loop:set_debug(false)
      end)
   end)
end)

describe("CPython test_events", function()
   it("test_run_until_complete", function()
      with_loop(function(loop)
         local t0 = loop:time()
         loop:run_until_complete(asyncio.sleep(0.05))
         assert.is_true(loop:time() - t0 >= 0.05 - 0.001)
      end)
   end)

   it("test_run_until_complete_stopped: stop() from inside the task", function()
      with_loop(function(loop)
         local t = loop:create_task(async(function()
            loop:stop()
            await(asyncio.sleep(0.05))
         end)())
         assert.matches("Event loop stopped before Future completed%.", message(loop.run_until_complete, loop, t))
         assert.is_false(t:done())
         loop:run_until_complete(t)
         assert.is_true(t:done())
      end)
   end)

   it("test_call_later, test_call_soon: run_forever until a callback stops it", function()
      with_loop(function(loop)
         local results = {}
         local function callback(...)
            results[#results + 1] = { ... }
            loop:stop()
         end
         loop:call_later(0.05, callback, "hello world")
         local t0 = loop:time()
         loop:run_forever()
         assert.same({ { "hello world" } }, results)
         assert.is_true(loop:time() - t0 >= 0.05 - 0.001)
         results = {}
         loop:call_soon(callback, "hello", "world")
         loop:run_forever()
         assert.same({ { "hello", "world" } }, results)
      end)
   end)

   it("test_call_soon_threadsafe_same_thread", function()
      with_loop(function(loop)
         local results = {}
         local function callback(arg)
            results[#results + 1] = arg
            if #results >= 2 then loop:stop() end
         end
         loop:call_soon_threadsafe(callback, "hello")
         loop:call_soon(callback, "world")
         loop:run_forever()
         assert.same({ "hello", "world" }, results)
      end)
   end)

   it("test_call_soon_threadsafe: posted from another thread before the loop's own call_soon", function()
      with_loop(function(loop)
         local results = {}
         local function callback(arg)
            results[#results + 1] = arg
            if #results >= 2 then loop:stop() end
         end
         local r, w = core.pipe()
         local fut = loop:create_future()
         fut:add_done_callback(function(f) callback(f:result()) end)
         -- the worker posts, then tells us so through the pipe
         local job = loop:run_in_executor(nil, function(l, f, wfd)
            l:call_soon_threadsafe(function(g, v) g:set_result(v) end, f, "hello")
            require("asyncio.core").fdwrite(wfd, "x")
         end, loop, fut, w)
         local deadline = os.time() + 5
         while core.fdread(r, 1) == nil and os.time() < deadline do end
         loop:call_soon(function() callback({ "world", fut:done() }) end)
         loop:run_forever()
         loop:run_until_complete(job)
         core.fdclose(r)
         core.fdclose(w)
         -- the posted set_result ran before "world" (queued after it was
         -- posted); the future's done callback one iteration later
         assert.same({ { "world", true }, "hello" }, results)
      end)
   end)

   it("test_reader_callback: on a socketpair, until end of file", function()
      with_loop(function(loop)
         local r, w = core.socketpair("stream")
         local got, log = {}, {}
         loop:add_reader(r, function()
            local data = core.fdread(r, 1024)
            if data == nil then return end -- a spurious wakeup
            if data ~= "" then
               got[#got + 1] = data
               log[#log + 1] = data
            else
               log[#log + 1] = loop:remove_reader(r)
               core.fdclose(r)
               loop:stop()
            end
         end)
         local function run_until(pred)
            local deadline = loop:time() + 5
            while not pred() and loop:time() < deadline do brief(loop) end
         end
         loop:call_soon(core.fdwrite, w, "abc")
         run_until(function() return #table.concat(got) >= 3 end)
         loop:call_soon(core.fdwrite, w, "def")
         run_until(function() return #table.concat(got) >= 6 end)
         loop:call_soon(core.fdclose, w)
         loop:run_forever()
         assert.equal("abcdef", table.concat(got))
         assert.same({ "abc", "def", true }, log)
      end)
   end)

   it("test_writer_callback: on a socketpair", function()
      with_loop(function(loop)
         local r, w = core.socketpair("stream")
         local data = string.rep("x", 1024)
         loop:add_writer(w, function(d)
            core.fdwrite(w, d)
            loop:stop()
         end, data)
         loop:run_forever()
         assert.is_true(loop:remove_writer(w))
         assert.is_false(loop:remove_writer(w))
         core.fdclose(w)
         assert.equal(data, core.fdread(r, 2048))
         core.fdclose(r)
      end)
   end)

   it("test_single_selecter_event_callback_after_stopping: run_forever in rounds, a ready reader once a round",
      function()
      with_loop(function(loop)
         local log, push = logger()
         local r, w = core.socketpair("stream")
         core.fdwrite(w, "x") -- never read: ready at every poll
         loop:add_reader(r, push("R"))
         for i = 0, 2 do
            loop:call_soon(push("stop" .. i))
            loop:call_soon(loop.stop, loop)
            loop:run_forever()
         end
         assert.same({ "stop0", "R", "stop1", "R", "stop2", "R" }, log)
         loop:remove_reader(r)
         core.fdclose(r)
         core.fdclose(w)
      end)
   end)

   it("test_add_signal_handler: bad signals raise, SIGKILL cannot be caught, SIGINT is", function()
      with_loop(function(loop)
         local caught = 0
         local function handler() caught = caught + 1 end
         -- Python: TypeError for 'boom', ValueError for NSIG + 1, 0 and -1, RuntimeError for SIGKILL
         for _, sig in ipairs({ "boom", 66, 0, -1 }) do
            helper.failure(loop.add_signal_handler, loop, sig, handler)
            helper.failure(loop.remove_signal_handler, loop, sig)
         end
         assert.matches("cannot be caught", message(loop.add_signal_handler, loop, "SIGKILL", handler))
         assert.is_false(loop:remove_signal_handler("SIGKILL"))
         loop:add_signal_handler("SIGINT", handler)
         core.kill(core.getpid(), core.signal_number("SIGINT"))
         local rounds = 0
         while caught == 0 and rounds < 100 do
            brief(loop)
            rounds = rounds + 1
         end
         assert.equal(1, caught)
         assert.equal(2, rounds) -- as in Python
         assert.is_true(loop:remove_signal_handler("SIGINT"))
         assert.is_false(loop:remove_signal_handler("SIGINT"))
      end)
   end)

   it("test_signal_handling_while_selecting, test_signal_handling_args", function()
      with_loop(function(loop)
         local caught = {}
         loop:add_signal_handler("SIGUSR1", function(...)
            caught[#caught + 1] = { ... }
            loop:stop()
         end, 42)
         -- the signal comes while the loop waits in its poll
         os.execute(("(sleep 0.02; kill -USR1 %d) &"):format(core.getpid()))
         local guard = loop:call_later(5, function() loop:stop() end)
         local t0 = loop:time()
         loop:run_forever()
         guard:cancel()
         assert.same({ { 42 } }, caught)
         assert.is_true(loop:time() - t0 < 4)
         loop:remove_signal_handler("SIGUSR1")
      end)
   end)

   it("test_remove_fds_after_closing, test_add_fds_after_closing", function()
      local loop = asyncio.new_event_loop()
      local r, w = core.socketpair("stream")
      loop:add_reader(r, print)
      loop:add_writer(w, print)
      loop:close()
      assert.is_false(loop:remove_reader(r))
      assert.is_false(loop:remove_writer(w))
      assert.matches("Event loop is closed", message(loop.add_reader, loop, r, print))
      assert.matches("Event loop is closed", message(loop.add_writer, loop, w, print))
      core.fdclose(r)
      core.fdclose(w)
   end)

   it("test_close: what else a closed loop refuses", function()
      local loop = asyncio.new_event_loop()
      loop:close()
      for _, f in ipairs({
         function() loop:call_soon_threadsafe(print) end,
         function() loop:call_at(loop:time(), print) end,
         function() loop:add_signal_handler("SIGTERM", print) end,
         function() loop:run_in_executor(nil, print) end,
      }) do
         assert.matches("Event loop is closed", message(f))
      end
      assert.is_false(loop:remove_signal_handler("SIGTERM")) -- as Python's
   end)

   it("test_callback_with_exception: the context names the handle, for timers too", function()
      with_loop(function(loop)
         local reports = helper.capture_reports(loop)
         local function callback() error("v", 0) end
         local h = loop:call_soon(callback)
         brief(loop)
         assert.equal(1, #reports)
         assert.equal(h, reports[1].handle)
         assert.equal("v", reports[1].exception)
         assert.matches("^Exception in callback", reports[1].message)
         local th = loop:call_later(0, callback)
         loop:call_later(0.001, function() loop:stop() end)
         loop:run_forever()
         assert.equal(2, #reports)
         assert.equal(th, reports[2].handle)
         assert.equal("timerhandle", core.typeof(th))
         assert.matches("^Exception in callback", reports[2].message)
      end)
   end)

   it("test_when, test_timer (TimerTests)", function()
      with_loop(function(loop)
         local when = loop:time() + 5
         local h = loop:call_at(when, print, 1, 2, 3)
         assert.equal(when, h:when())
         assert.is_false(h:cancelled())
         h:cancel()
         assert.is_true(h:cancelled())
         assert.equal(when, h:when())
      end)
   end)

   it("test_timer_comparison (TimerTests): TimerHandles compare by deadline", function()
      with_loop(function(loop)
         local when = loop:time() + 5
         local a, b = loop:call_at(when, print), loop:call_at(when, print)
         local c = loop:call_at(when + 1, print)
         assert.is_true(a <= b and b <= a)
         assert.is_false(a < b or b < a)
         assert.is_true(a < c and a <= c)
         assert.is_false(c < a or c <= a)
         assert.is_true(c > b and c >= b)
         c:cancel() -- as Python's: cancelling changes no deadline
         assert.is_true(a < c)
         -- a Handle has no deadline: no order with it
         assert.has_error(function() return a < loop:call_soon(print) end)
         a:cancel()
         b:cancel()
      end)
   end)

   it("test_set_event_loop (PolicyTests): a loop or nil", function()
      with_loop(function(loop)
         assert.equal(loop, asyncio.get_event_loop())
         -- Python: loop must be an instance of AbstractEventLoop or None, not 'int'
         helper.failure(asyncio.set_event_loop, 42)
         assert.equal(loop, asyncio.get_event_loop())
      end)
   end)

   it("test_get_event_loop_after_set_none (PolicyTests): a new loop, as API.md says", function()
      -- a deliberate difference: Python 3.13 raises RuntimeError here, but
      -- API.md's get_event_loop creates a loop when there is none
      local loop = asyncio.new_event_loop()
      asyncio.set_event_loop(loop)
      asyncio.set_event_loop(nil)
      local made = asyncio.get_event_loop()
      assert.are_not.equal(loop, made)
      assert.equal(made, asyncio.get_event_loop())
      made:close()
      asyncio.set_event_loop(nil)
      loop:close()
   end)

   it("test_get_event_loop_returns_running_loop", function()
      local loop, other = asyncio.new_event_loop(), asyncio.new_event_loop()
      asyncio.set_event_loop(other)
      local a, b = loop:run_until_complete(async(function()
         return asyncio.get_event_loop() == loop, asyncio.get_running_loop() == loop
      end)())
      assert.is_true(a)
      assert.is_true(b)
      assert.equal(other, asyncio.get_event_loop())
      asyncio.set_event_loop(nil)
      loop:close()
      other:close()
      assert.matches("no running event loop", message(asyncio.get_running_loop))
   end)
end)

describe("CPython test_runners", function()
   it("test_asyncio_run_only_coro (a number; a function is a main here)", function()
      helper.failure(asyncio.run, 1) -- Python: a coroutine was expected, got 1
   end)

   it("test_asyncio_run_set_event_loop: the run's loop is current inside", function()
      assert.is_true(asyncio.run(async(function()
         return asyncio.get_event_loop() == asyncio.get_running_loop()
      end)()))
   end)

   it("test_asyncio_run_set_event_loop: the run's loop is not left current after the run", function()
      -- Python 3.13 then raises in get_event_loop(); API.md's makes a new loop
      local inside = asyncio.run(async(function() return asyncio.get_running_loop() end)())
      local made = asyncio.get_event_loop()
      assert.are_not.equal(inside, made)
      assert.is_true(inside:is_closed())
      made:close()
      asyncio.set_event_loop(nil)
   end)

   it("test_asyncio_run_loop_factory", function()
      local calls, made = {}, nil
      local function factory(...)
         calls[#calls + 1] = table.pack(...)
         made = asyncio.new_event_loop()
         return made
      end
      assert.is_true(asyncio.run(async(function()
         return asyncio.get_running_loop() == made
      end)(), { loop_factory = factory }))
      assert.same({ { n = 0 } }, calls)
      assert.is_true(made:is_closed())
   end)

   it("test_non_debug, test_custom_factory", function()
      do
         local runner <close> = asyncio.Runner({ debug = false })
         assert.is_false(runner:get_loop():get_debug())
      end
      local loop = asyncio.new_event_loop()
      do
         local runner <close> = asyncio.Runner({ loop_factory = function() return loop end })
         assert.equal(loop, runner:get_loop())
      end
      assert.is_true(loop:is_closed())
   end)

   it("test_run_non_coro, test_run_future", function()
      local runner <close> = asyncio.Runner()
      helper.failure(runner.run, runner, 123) -- Python: a coroutine was expected, got 123
      local fut = runner:get_loop():create_future()
      helper.failure(runner.run, runner, fut) -- Python: a coroutine was expected, got <Future pending>
      assert.is_false(fut:done())
   end)

   it("test_set_event_loop_called_once: the runner's loop stays current between runs", function()
      local runner = asyncio.Runner()
      local get = async(function() return asyncio.get_running_loop() end)
      local l1 = runner:run(get())
      assert.equal(l1, asyncio.get_event_loop())
      assert.equal(l1, runner:run(get()))
      runner:close()
      assert.is_true(l1:is_closed())
   end)
end)

describe("CPython test_eager_task_factory", function()
   it("test_eager_task_factory_set, test_issue122332", function()
      with_loop(function(loop)
         loop:set_task_factory(asyncio.eager_task_factory)
         assert.equal(asyncio.eager_task_factory, loop:get_task_factory())
         loop:run_until_complete(async(function()
            local t = loop:create_task(async(function() end)())
            assert.equal("task", core.typeof(t))
            assert.is_true(t:done())
            await(t)
            assert.is_nil(t:get_coro())
         end)())
      end)
   end)

   local chain
   chain = async(function(depth)
      if depth == 0 then return 0 end
      return 1 + await(chain(depth - 1))
   end)
   local taskgroups
   taskgroups = async(function(width, depth)
      if depth == 0 then return end
      local tg <close> = asyncio.TaskGroup()
      for _ = 1, width do
         tg:create_task(taskgroups(width, depth - 1))
      end
   end)
   local gathers
   gathers = async(function(width, depth)
      if depth == 0 then return end
      local children = {}
      for i = 1, width do
         children[i] = gathers(width, depth - 1)
      end
      await(asyncio.gather(table.unpack(children)))
   end)

   -- Python counted the tasks its factory made, and those done when it
   -- returned them: lazy {made, done} then eager.
   for _, case in ipairs({
      { "test_awaitables_chain", function() return chain(100) end, 100, { 1, 0 }, { 1, 0 } },
      { "test_recursive_taskgroups", function() return taskgroups(5, 4) end, nil, { 781, 0 }, { 781, 780 } },
      { "test_recursive_gather", function() return gathers(5, 4) end, nil, { 781, 0 }, { 781, 780 } },
   }) do
      local name, main, result, lazy, eager = table.unpack(case)
      it(("%s, without and with eager tasks"):format(name), function()
         for _, mode in ipairs({ { false, lazy }, { true, eager } }) do
            with_loop(function(loop)
               local count = { 0, 0 }
               loop:set_task_factory(function(l, coro, opts)
                  count[1] = count[1] + 1
                  local o = { eager_start = mode[1] }
                  for k, v in pairs(opts or {}) do o[k] = v end
                  local t = asyncio.eager_task_factory(l, coro, o)
                  if t:done() then count[2] = count[2] + 1 end
                  return t
               end)
               assert.same({ result }, { loop:run_until_complete(main()) })
               assert.same(mode[2], count)
            end)
         end
      end)
   end
end)
