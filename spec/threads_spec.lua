-- Threads and the executor (API.md §8): to_thread, run_in_executor,
-- ThreadPoolExecutor, start_loop_thread, call_soon_threadsafe.

local helper = require("spec.helper")
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Runs a Lua program in a process of its own with this state's module
-- paths; returns its output and whether it exited with status 0.
local function run_process(code)
   local prelude = ("package.path = %q; package.cpath = %q; "):format(package.path, package.cpath)
   local p = assert(io.popen(("lua5.4 -e %q 2>&1"):format(prelude .. code), "r"))
   local out = p:read("a")
   local ok, _, status = p:close()
   return out, ok and status == 0
end

describe("to_thread", function()
   it("returns a coroutine object, as Python's async def: a task can run it", helper.async(function()
      assert.is_true(asyncio.iscoroutinefunction(asyncio.to_thread))
      local job = asyncio.to_thread(function(x) return x * 2 end, 21)
      assert.is_true(asyncio.iscoroutine(job))
      local t = asyncio.create_task(job)
      assert.equal(42, await(t))
      local a, b = table.unpack(await(asyncio.gather(asyncio.to_thread(function() return "a" end),
                                                     asyncio.sleep(0, "b"))))
      assert.equal("a", a)
      assert.equal("b", b)
   end))

   it("does nothing until it runs, as Python's", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local job = asyncio.to_thread(function(l, f)
         l:call_soon_threadsafe(function(ff) ff:set_result("ran") end, f)
      end, loop, fut)
      await(asyncio.sleep(0.05))
      assert.is_false(fut:done())
      assert.is_nil(loop:_lua().default_executor) -- not even made
      await(job)
      assert.equal("ran", await(fut))
   end))

   it("names the await's line in an argument error", helper.async(function()
      local ok, err = pcall(function()
         local x = await(asyncio.to_thread(nil))
         return x
      end)
      assert.is_false(ok)
      assert.matches("^[^:]*threads_spec.lua:%d+: bad argument #1 to 'to_thread' %(function expected, got nil%)$", err)
   end))

   it("returns every result, nils and nested tables included", helper.async(function()
      local n, a, b, c, t = await(asyncio.to_thread(function(...)
         return select("#", ...), ...
      end, 1, nil, "x\0y", { 1.5, { deep = true }, k = "v" }))
      assert.equal(4, n)
      assert.equal(1, a)
      assert.is_nil(b)
      assert.equal("x\0y", c)
      assert.same({ 1.5, { deep = true }, k = "v" }, t)
      assert.equal("integer", math.type(a))
      assert.equal("float", math.type(t[1]))
      local r = table.pack(await(asyncio.to_thread(function() return nil, nil end)))
      assert.equal(2, r.n)
   end))

   it("runs in a state collected in generational mode, as lua5.4's own", helper.async(function()
      -- incremental, the garbage of tasks with big results piled up there
      local function mode()
         local previous = collectgarbage("incremental")
         collectgarbage(previous)
         return previous
      end
      assert.equal("generational", await(asyncio.to_thread(mode)))
      local thread = asyncio.start_loop_thread()
      assert.equal("generational", await(thread:run_coroutine_threadsafe(mode)))
      thread:stop()
      thread:join()
   end))

   it("runs in another Lua state where require works", helper.async(function()
      _G.spec_threads_marker = true
      local seen, upper = await(asyncio.to_thread(function(s)
         return _G.spec_threads_marker == nil, require("string").upper(s)
      end, "abc"))
      _G.spec_threads_marker = nil
      assert.is_true(seen)
      assert.equal("ABC", upper)
   end))

   it("raises a string error with the worker's traceback", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function() error("boom") end))
      assert.is_false(ok)
      assert.matches("boom", err)
      assert.matches("stack traceback", err)
   end))

   it("raises a number error as the same number, as a task does", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function() error(42) end))
      assert.is_false(ok)
      assert.equal(42, err)
      assert.equal("integer", math.type(err))
   end))

   it("raises a table error as a copy", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function() error({ code = 7 }) end))
      assert.is_false(ok)
      assert.same({ code = 7 }, err)
   end))

   it("raises an asyncio error object with its class", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function()
         local aio = require("asyncio")
         error(aio.TimeoutError("too slow", { code = 3 }))
      end))
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.equal("too slow", err.message)
      assert.equal(3, err.code)
   end))

   it("hands an asyncio error object to a fresh worker with its class", helper.async(function()
      local executor = asyncio.ThreadPoolExecutor(1) -- a new state, asyncio not loaded yet
      local function check(e)
         return require("asyncio").TimeoutError:is(e), e.message
      end
      assert.same({ true, "x" }, { await(executor:submit(check, asyncio.TimeoutError("x"))) })
      executor:shutdown()
   end))

   it("raises an error class raised as it is as an instance, as Python's raise Class", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function()
         error(require("asyncio").TimeoutError)
      end))
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.equal("TimeoutError", tostring(err))
      local job = asyncio.create_task(asyncio.async(function()
         return await(asyncio.to_thread(function()
            error(require("asyncio").CancelledError)
         end))
      end)())
      assert.is_false(pcall(await, job))
      assert.is_true(job:cancelled())
   end))

   it("fails with a stand-in string when the job raises nil, as a task does", helper.async(function()
      local job = asyncio.create_task(asyncio.to_thread(function() error(nil) end))
      assert.equal("(error object is a nil value)", helper.error_of(await, job))
      assert.equal("(error object is a nil value)", job:exception())
   end))

   it("cancels a job that has not started with its future", helper.async(function()
      local executor = asyncio.ThreadPoolExecutor(1)
      local first = executor:submit(function()
         local t = os.clock() + 0.1
         while os.clock() < t do end
         return "first"
      end)
      local second = executor:submit(function() _G.second_ran = true end)
      assert.is_true(second:cancel())
      assert.is_true(second:cancelled())
      assert.equal("first", await(first))
      local ran = await(executor:submit(function() return _G.second_ran end))
      assert.is_nil(ran)
      executor:shutdown()
   end))

   it("cancels a task awaiting a job", helper.async(function()
      local task = asyncio.create_task(function()
         return await(asyncio.to_thread(function()
            local t = os.clock() + 0.1
            while os.clock() < t do end
         end))
      end)
      await(asyncio.sleep(0.01))
      task:cancel()
      local ok, err = pcall(await, task)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
   end))

   it("raises an error that cannot be copied as its string form", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function() error(io.stdout) end))
      assert.is_false(ok)
      assert.matches("file", err)
   end))

   it("fails the awaitable when a result cannot be copied", helper.async(function()
      local ok, err = pcall(await, asyncio.to_thread(function() return 1, print end))
      assert.is_false(ok)
      assert.matches("result #2 of the function: cannot copy a function value", err)
   end))

   describe("refuses, when awaited, before the job starts", function()
      local function refuses(pattern, ...)
         local args = table.pack(...)
         helper.run(function()
            local ok, err = pcall(await, asyncio.to_thread(table.unpack(args, 1, args.n)))
            assert.is_false(ok)
            assert.matches(pattern, err)
         end)
      end

      it("a function argument", function()
         refuses("bad argument #2 to 'to_thread' %(cannot copy a function value to another thread%)",
            function() end, function() end)
      end)
      it("a function inside a table", function()
         refuses("bad argument #3 to 'to_thread' %(cannot copy a function value",
            function() end, 1, { f = function() end })
      end)
      it("a userdata", function()
         refuses("bad argument #2 to 'to_thread' %(cannot copy a userdata value", function() end, io.stdout)
      end)
      it("a coroutine", function()
         refuses("bad argument #2 to 'to_thread' %(cannot copy a thread value",
            function() end, coroutine.create(print))
      end)
      it("an object of the library, by its name", function()
         -- a Lock was 'a table with a cycle', a Queue 'a function value'
         local lock = asyncio.Lock()
         refuses("bad argument #2 to 'to_thread' %(cannot copy an asyncio%.Lock to another thread: of the "
            .. "library's objects, only loops and futures cross %(as references%)%)$", function() end, lock)
         refuses("bad argument #2 to 'to_thread' %(cannot copy an asyncio%.Queue to", function() end,
            { asyncio.Queue() })
         refuses("bad argument #3 to 'to_thread' %(cannot copy an asyncio%.Event to", function() end, 1,
            asyncio.Event())
      end)
      it("a table with a cycle", function()
         local t = { 1 }
         t.self = { t }
         refuses("bad argument #2 to 'to_thread' %(cannot copy a table with a cycle", function() end, t)
      end)
      it("a function with upvalues", function()
         local up = 1
         refuses("bad argument #1 to 'to_thread' %(the function has an upvalue 'up'",
            function() return up end)
      end)
      it("a C function that no loaded module has", function()
         refuses("bad argument #1 to 'to_thread' %(cannot copy a C function to another thread unless",
            coroutine.wrap(function() end))
      end)
      it("an async function, named as such", function()
         refuses("bad argument #1 to 'to_thread' %(an async function cannot be copied to another thread",
            asyncio.async(function() end))
      end)
      it("no function", function()
         refuses("bad argument #1 to 'to_thread' %(function expected, got nil%)")
      end)
   end)

   it("runs a C function of a loaded module by its name", helper.async(function()
      assert.equal("ababab", await(asyncio.to_thread(string.rep, "ab", 3)))
      assert.equal("number", await(asyncio.to_thread(type, 1)))
      -- a module the worker has not loaded yet is required there
      assert.equal("number", type(await(asyncio.to_thread(require("asyncio.core").monotonic))))
   end))

   it("shares a table twice when it is not a cycle", helper.async(function()
      local shared = { 1 }
      local t = await(asyncio.to_thread(function(x) return x end, { shared, shared }))
      assert.same({ { 1 }, { 1 } }, t)
   end))

   it("runs many jobs concurrently on at most as many threads as cores", helper.async(function()
      local futs = {}
      for i = 1, 200 do
         futs[i] = asyncio.create_task(asyncio.to_thread(function(x) return x * x end, i))
      end
      for i = 1, 200 do
         assert.equal(i * i, await(futs[i]))
      end
      local executor = asyncio.get_running_loop():_lua().default_executor
      assert.is_true(executor:_workers() >= 1)
   end))

   it("keeps the loop running while jobs run", helper.async(function()
      local ticks = 0
      local fut = asyncio.create_task(asyncio.to_thread(function(s)
         local t = os.clock() + s
         while os.clock() < t do end
         return "slow"
      end, 0.2))
      while not fut:done() do
         await(asyncio.sleep(0.01))
         ticks = ticks + 1
      end
      assert.equal("slow", await(fut))
      assert.is_true(ticks >= 5)
   end))
end)

describe("loop:run_in_executor", function()
   it("uses the default executor for nil", helper.async(function()
      local loop = asyncio.get_running_loop()
      assert.equal(5, await(loop:run_in_executor(nil, function(a, b) return a + b end, 2, 3)))
   end))

   it("uses the given executor", helper.async(function()
      local loop = asyncio.get_running_loop()
      local executor = asyncio.ThreadPoolExecutor(1)
      assert.equal("one", await(loop:run_in_executor(executor, function() return "one" end)))
      assert.equal(1, executor:_workers())
      executor:shutdown()
   end))

   it("uses the executor set by set_default_executor for nil, as to_thread does", helper.async(function()
      local loop = asyncio.get_running_loop()
      local executor = asyncio.ThreadPoolExecutor(1)
      loop:set_default_executor(executor)
      assert.equal("one", await(loop:run_in_executor(nil, function() return "one" end)))
      assert.equal("two", await(asyncio.to_thread(function() return "two" end)))
      assert.equal(1, executor:_workers())
      executor:shutdown()
      local err = helper.error_of(loop.run_in_executor, loop, nil, function() end)
      assert.matches("cannot schedule new futures after shutdown", err)
      loop:set_default_executor(asyncio.ThreadPoolExecutor(1)) -- asyncio.run's end shuts it down
      err = helper.error_of(loop.set_default_executor, loop, "pool")
      assert.matches("bad argument #1 to 'set_default_executor' %(ThreadPoolExecutor expected, got string%)", err)
   end))

   it("raises Event loop is closed on a closed loop, whether its executor was used or not", function()
      for _, used in ipairs({ false, true }) do
         local loop = asyncio.new_event_loop()
         if used then
            loop:run_until_complete(loop:run_in_executor(nil, function() return 1 end))
         end
         loop:close()
         local ok, err = pcall(function()
            local fut = loop:run_in_executor(nil, function() end)
            return fut -- not a tail call: the error names this line
         end)
         assert.is_false(ok)
         assert.equal("Event loop is closed", err:gsub("^[^:]*:%d+: ", ""))
         assert.matches("^spec/threads_spec.lua:%d+: ", err) -- the caller's line
      end
   end)

   it("names its arguments in errors", helper.async(function()
      local loop = asyncio.get_running_loop()
      local ok, err = pcall(loop.run_in_executor, loop, nil, function() end, 1, print)
      assert.is_false(ok)
      assert.matches("bad argument #4 to 'run_in_executor' %(cannot copy a function value", err)
      ok, err = pcall(loop.run_in_executor, loop, 42, function() end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'run_in_executor' %(ThreadPoolExecutor or nil expected", err)
   end))
end)

describe("ThreadPoolExecutor", function()
   it("never starts more workers than max_workers", helper.async(function()
      local executor = asyncio.ThreadPoolExecutor(3)
      local futs = {}
      for i = 1, 50 do
         futs[i] = executor:submit(function(x) return x + 1 end, i)
      end
      for i = 1, 50 do
         assert.equal(i + 1, await(futs[i]))
      end
      assert.is_true(executor:_workers() <= 3)
      executor:shutdown()
   end))

   it("finishes running and queued jobs on shutdown(wait)", helper.async(function()
      local executor = asyncio.ThreadPoolExecutor(2)
      local futs = {}
      for i = 1, 6 do
         futs[i] = executor:submit(function(x)
            local t = os.clock() + 0.05
            while os.clock() < t do end
            return x
         end, i)
      end
      executor:shutdown(true) -- blocks until the six jobs ran
      for i = 1, 6 do
         assert.equal(i, await(futs[i]))
      end
      local ok, err = pcall(executor.submit, executor, function() end)
      assert.is_false(ok)
      assert.equal("cannot schedule new futures after shutdown", err) -- no line of ours
   end))

   it("cancels the queued jobs on shutdown(wait, true), as cancel_futures=True", helper.async(function()
      local loop = asyncio.get_running_loop()
      local executor = asyncio.ThreadPoolExecutor(1)
      _G.spec_first_started = false
      local futs = { executor:submit(function(ref)
         ref:call_soon_threadsafe(function() _G.spec_first_started = true end)
         local t = os.clock() + 0.05
         while os.clock() < t do end
         return "ran"
      end, loop) }
      for i = 2, 4 do
         futs[i] = executor:submit(function() return "ran" end)
      end
      while not _G.spec_first_started do await(asyncio.sleep(0)) end
      _G.spec_first_started = nil
      executor:shutdown(false, true)
      local outcomes = {}
      for i = 1, 4 do
         local ok, v = pcall(await, futs[i])
         outcomes[i] = ok and v or (asyncio.CancelledError:is(v) and "cancelled" or tostring(v))
      end
      assert.same({ "ran", "cancelled", "cancelled", "cancelled" }, outcomes)
      executor:shutdown(true)
   end))

   it("lets the jobs finish when shut down without waiting", helper.async(function()
      local executor = asyncio.ThreadPoolExecutor(2)
      local fut = executor:submit(function()
         local t = os.clock() + 0.05
         while os.clock() < t do end
         return "finished"
      end)
      executor:shutdown(false)
      assert.equal("finished", await(fut))
   end))

   it("is shut down, waiting, when it goes out of a to-be-closed scope", helper.async(function()
      local fut
      do
         local executor <close> = asyncio.ThreadPoolExecutor(1)
         fut = executor:submit(function()
            local t = os.clock() + 0.05
            while os.clock() < t do end
            return "done"
         end)
      end
      assert.equal("done", await(fut))
   end))

   it("rejects a bad max_workers", function()
      assert.has_error(function() asyncio.ThreadPoolExecutor(0) end,
         "bad argument #1 to 'ThreadPoolExecutor' (max_workers must be between 1 and 1024)")
      assert.has_error(function() asyncio.ThreadPoolExecutor("2") end)
      assert.has_error(function() asyncio.ThreadPoolExecutor(1e12) end,
         "bad argument #1 to 'ThreadPoolExecutor' (max_workers must be between 1 and 1024)")
      local two = asyncio.ThreadPoolExecutor(2.0) -- an integral float will do, as for Semaphore
      assert.equal("<ThreadPoolExecutor max_workers=2>", tostring(two))
      two:shutdown()
   end)

   it("refuses arguments it does not take, Python's thread_name_prefix among them", function()
      -- both went unnoticed, as if taken
      assert.has_error(function() asyncio.ThreadPoolExecutor(1, "worker") end,
         "bad argument #2 to 'ThreadPoolExecutor' (no value expected, got string)")
      assert.has_error(function() asyncio.start_loop_thread(1) end,
         "bad argument #1 to 'start_loop_thread' (no value expected, got number)")
   end)
end)

describe("a loop's reference in another thread", function()
   it("stops the loop with stop(), Python's call_soon_threadsafe(loop.stop)", function()
      local loop = asyncio.new_event_loop()
      local lt = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(function(ref)
         return ref:stop()
      end, loop)
      assert.is_true(cf:result(2))
      loop:run_forever() -- returns: the stop is queued
      lt:stop()
      lt:join()
      loop:close()
   end)

   it("stops the loop in the iteration that takes the stop in, as Python's", function()
      -- a call_soon made by a call posted just before ran first: the stop
      -- was itself a call_soon, one iteration later
      local loop = asyncio.new_event_loop()
      local order = {}
      _G.record = function(what) order[#order + 1] = what end
      local done = loop:run_in_executor(nil, function(ref)
         ref:call_soon_threadsafe(function()
            _G.record("posted")
            require("asyncio").get_running_loop():call_soon(_G.record, "its call_soon")
         end)
         ref:stop()
      end, loop)
      os.execute("sleep 0.05") -- both are posted before the loop runs
      loop:run_forever()
      assert.same({ "posted" }, order)
      loop:run_until_complete(done)
      assert.same({ "posted", "its call_soon" }, order)
      loop:close()
      _G.record = nil
   end)

   it("refuses call_soon_threadsafe() without a function at the call, as a loop thread's handle does", function()
      -- it was posted, and failed in the loop's thread on a line of the library
      local loop = asyncio.new_event_loop()
      local lt = asyncio.start_loop_thread()
      local ok, err = pcall(function() local h = lt:call_soon_threadsafe() return h end)
      assert.is_false(ok)
      assert.matches("^spec/threads_spec%.lua:%d+: bad argument #1 to 'call_soon_threadsafe' "
         .. "%(function expected, got no value%)$", err)
      local cf = lt:run_coroutine_threadsafe(function(ref)
         local ok2, err2 = pcall(function() local h = ref:call_soon_threadsafe(nil, 1) return h end)
         return ok2, err2
      end, loop)
      local ok2, err2 = cf:result(5)
      assert.is_false(ok2)
      assert.matches("bad argument #1 to 'call_soon_threadsafe' %(function expected, got nil%)$", err2)
      lt:stop()
      lt:join()
      loop:close()
   end)
end)

describe("results from workers", function()
   it("resume the awaiting task in Python's iteration", helper.async(function()
      local loop = asyncio.get_running_loop()
      local tick, ticker = helper.ticker()
      await(asyncio.sleep(0))
      for _, start in ipairs({ function() return asyncio.to_thread(function(x) return x * 2 end, 21) end,
                               function() return loop:run_in_executor(nil, function(x) return x * 2 end, 21) end }) do
         local t0
         local waiter = asyncio.create_task(async(function()
            local v = await(start())
            return v, tick() - t0
         end)())
         await(asyncio.sleep(0))
         os.execute("sleep 0.05") -- the job is done, its result in the inbox
         t0 = tick()
         local v, ticks = await(waiter)
         assert.equal(42, v)
         -- Python 3.13: call_soon_threadsafe(set_result) runs in the
         -- iteration of that poll, the task resumes in the next
         assert.equal(2, ticks)
      end
      ticker:cancel()
   end))
end)

describe("loop:call_soon_threadsafe", function()
   -- Each submission has a 2 ms head start, so its poster can cancel it;
   -- it ends when the poster blocks (Python's thread releases its lock
   -- there). 20 round trips waiting out the head start take 40 ms or more.
   local ROUND_TRIPS, HEAD_START = 20, 0.002

   it("from a job that ends runs without waiting out the head start", helper.async(function()
      local loop = asyncio.get_running_loop()
      local t0 = loop:time()
      for i = 1, ROUND_TRIPS do
         local fut = loop:create_future()
         loop:run_in_executor(nil, function(ref, f, v)
            ref:call_soon_threadsafe(function(f2, v2) f2:set_result(v2) end, f, v)
         end, loop, fut, i)
         assert.equal(i, await(fut))
      end
      assert.is_true(loop:time() - t0 < ROUND_TRIPS * HEAD_START)
   end))

   it("to a loop thread runs at once when the poster's loop waits", helper.async(function()
      local loop = asyncio.get_running_loop()
      local lt = asyncio.start_loop_thread()
      await(lt:run_coroutine_threadsafe(function() end)) -- started
      local t0 = loop:time()
      for i = 1, ROUND_TRIPS do
         assert.equal(i, await(lt:run_coroutine_threadsafe(function(x) return x end, i)))
      end
      assert.is_true(loop:time() - t0 < ROUND_TRIPS * HEAD_START)
      lt:stop()
      lt:join()
   end))

   it("from a job runs before the job's future is done, as in Python", helper.async(function()
      local loop = asyncio.get_running_loop()
      _G.posted_ran = false
      local f = loop:run_in_executor(nil, function(ref)
         ref:call_soon_threadsafe(function() _G.posted_ran = true end)
         return "result"
      end, loop)
      os.execute("sleep 0.1") -- the loop is busy: both messages wait in its inbox
      while not f:done() do
         await(asyncio.sleep(0))
      end
      assert.is_true(_G.posted_ran) -- the future was done first
      assert.equal("result", await(f))
      _G.posted_ran = nil
   end))

   it("posted before a call_soon of the loop's thread runs first, as Python's (CPython's test_call_soon_threadsafe)",
      function()
         local loop = asyncio.new_event_loop()
         local executor = asyncio.ThreadPoolExecutor(1)
         executor:submit(function(ref)
            for i = 0, 2 do
               ref:call_soon_threadsafe(function(name) _G.order[#_G.order + 1] = name end, "t" .. i)
            end
         end, loop)
         executor:shutdown(true) -- the three calls are posted
         _G.order = {}
         loop:call_soon(function() _G.order[#_G.order + 1] = "main" end)
         loop:call_later(0, function() _G.order[#_G.order + 1] = "timer" end)
         loop:call_soon(function() loop:stop() end)
         loop:run_forever()
         assert.same({ "t0", "t1", "t2", "main", "timer" }, _G.order)
         _G.order = nil
         loop:close()
      end)

   it("schedules a callback from the loop's own thread", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local handle = loop:call_soon_threadsafe(function(v) fut:set_result(v) end, 9)
      assert.equal("userdata", type(handle))
      assert.equal(9, await(fut))
   end))

   it("wakes a loop blocked in its poll from a worker thread", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local t0 = loop:time()
      -- the job ends only after it resolved fut: the main task is blocked
      -- on fut alone, the loop waiting in epoll
      loop:run_in_executor(nil, function(l, f)
         local t = os.clock() + 0.05
         while os.clock() < t do end
         assert(tostring(l):match("ThreadRef loop"))
         l:call_soon_threadsafe(function(ff, v) ff:set_result(v) end, f, "woken")
      end, loop, fut)
      assert.equal("woken", await(fut))
      assert.is_true(loop:time() - t0 < 2)
   end))

   it("lets a worker run a task on the loop and wait for it", helper.async(function()
      local loop = asyncio.get_running_loop()
      _G.spec_threads_main = "main state"
      local got = await(asyncio.to_thread(function(l)
         local cf = l:run_coroutine_threadsafe(function(x)
            local aio = require("asyncio")
            aio.await(aio.sleep(0.01))
            return _G.spec_threads_main .. " " .. x
         end, "ok")
         return cf:result(5)
      end, loop))
      _G.spec_threads_main = nil
      assert.equal("main state ok", got)
   end))

   it("turns a copied future back into the same future", helper.async(function()
      local fut = asyncio.get_running_loop():create_future()
      local back = await(asyncio.to_thread(function(f) return f end, fut))
      assert.equal(fut, back)
   end))
end)

describe("start_loop_thread errors", function()
   it("raises when the thread cannot load asyncio", function()
      local path, cpath = package.path, package.cpath
      package.path, package.cpath = "/nonexistent/?.lua", "/nonexistent/?.so"
      local ok, err = pcall(asyncio.start_loop_thread)
      package.path, package.cpath = path, cpath
      assert.is_false(ok)
      assert.matches("cannot start the loop thread: .*module 'asyncio.threads' not found", err)
   end)

   it("a future reference cannot take calls", helper.async(function()
      local fut = asyncio.get_running_loop():create_future()
      local msg = await(asyncio.to_thread(function(f)
         local ok, e = pcall(f.call_soon_threadsafe, f, print)
         return not ok and e
      end, fut))
      assert.matches("a loop expected, got a future", msg)
   end))
end)

describe("start_loop_thread", function()
   local lt
   before_each(function()
      lt = asyncio.start_loop_thread()
   end)
   after_each(function()
      lt:stop()
      lt:join()
   end)

   it("runs a function as a task there and hands back its results", function()
      local cf = lt:run_coroutine_threadsafe(function(x)
         local aio = require("asyncio")
         aio.await(aio.sleep(0.01))
         return x * 2, "two"
      end, 21)
      local a, b = cf:result(5)
      assert.equal(42, a)
      assert.equal("two", b)
      assert.is_true(cf:done())
   end)

   it("raises TimeoutError from result(timeout), then the result once done", function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(0.5))
         return "late"
      end)
      local ok, err = pcall(cf.result, cf, 0.01)
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.is_false(cf:done())
      assert.equal("late", cf:result())
   end)

   it("waits without a deadline for a timeout beyond any clock, and not at all for a negative one", function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(0.05))
         return "done"
      end)
      local ok, err = pcall(cf.result, cf, -1)
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      ok, err = pcall(cf.result, cf, 0 / 0)
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.equal("done", cf:result(math.huge)) -- spun forever before
   end)

   it("settles the concurrent future of a task that fails with nil", function()
      local cf = lt:run_coroutine_threadsafe(function() error(nil) end)
      local ok, err = pcall(cf.result, cf, 5) -- timed out before: never settled
      assert.is_false(ok)
      assert.matches("^%(error object is a nil value%)", err)
   end)

   it("takes an async function, or a coroutine object, as Python's run_coroutine_threadsafe(coro)", function()
      local work = asyncio.async(function(x)
         local aio = require("asyncio")
         aio.await(aio.sleep(0))
         return x * 2
      end)
      assert.equal(42, lt:run_coroutine_threadsafe(work, 21):result(5))
      local co = work(4)
      assert.equal(8, lt:run_coroutine_threadsafe(co):result(5))
      assert.has_error(function() asyncio.await(co) end) -- it was used up there
   end)

   it("is cancelled when the task awaiting it gives up (wait_for), and so is its task", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(10))
      end)
      local err = helper.error_of(await, asyncio.wait_for(cf, 0.02))
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.is_true(cf:cancelled())
   end))

   it("raises the task's error", function()
      local cf = lt:run_coroutine_threadsafe(function() error("failed there") end)
      local ok, err = pcall(cf.result, cf, 5)
      assert.is_false(ok)
      assert.matches("failed there", err)
      assert.matches("failed there", cf:exception())
      assert.is_nil(lt:run_coroutine_threadsafe(function() return 1 end):exception(5))
   end)

   it("cancels the task with the concurrent future", function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(10))
      end)
      assert.is_true(cf:cancel())
      assert.is_true(cf:cancelled())
      assert.is_true(cf:cancel()) -- as concurrent.futures: it is cancelled
      local ok, err = pcall(cf.result, cf)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
   end)

   it("runs submissions in the order made", function()
      for i = 1, 50 do
         if i % 2 == 0 then
            lt:call_soon_threadsafe(function(v)
               _G.order = _G.order or {}
               table.insert(_G.order, v)
            end, i)
         else
            lt:run_coroutine_threadsafe(function(v)
               _G.order = _G.order or {}
               table.insert(_G.order, v)
            end, i)
         end
      end
      local order = lt:run_coroutine_threadsafe(function() return _G.order end):result(5)
      local expected = {}
      for i = 1, 50 do expected[i] = i end
      assert.same(expected, order)
   end)

   it("fails the concurrent future when the task factory raises, and reports it", function()
      lt:run_coroutine_threadsafe(function()
         local loop = require("asyncio").get_running_loop()
         loop:set_exception_handler(function(_, context)
            _G.reported = tostring(context.exception)
         end)
         loop:set_task_factory(function()
            loop:set_task_factory(nil) -- once
            error("no tasks today", 0)
         end)
      end):result(5)
      local cf = lt:run_coroutine_threadsafe(function() return 1 end)
      local ok, err = pcall(cf.result, cf, 5)
      assert.is_false(ok)
      assert.equal("no tasks today", err)
      assert.equal("no tasks today", lt:run_coroutine_threadsafe(function() return _G.reported end):result(5))
   end)

   it("wakes the tasks awaiting one concurrent future in the order they came", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(0.02))
         return "done"
      end)
      local order, tasks = {}, {}
      for i = 1, 5 do
         tasks[i] = asyncio.create_task(asyncio.async(function()
            await(cf)
            order[#order + 1] = i
         end)())
      end
      await(asyncio.gather(table.unpack(tasks)))
      assert.same({ 1, 2, 3, 4, 5 }, order)
   end))

   it("runs the first step of a task whose future was cancelled before it started, as Python", function()
      -- it never started the body: Python's cancel reaches the task through
      -- call_soon_threadsafe, after the task's first step
      local cf = lt:run_coroutine_threadsafe(function()
         _G.first_step = true
         local aio = require("asyncio")
         aio.await(aio.sleep(10))
         _G.not_reached = true
      end)
      assert.is_true(cf:cancel())
      assert.is_true(cf:cancelled())
      local seen = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(0)) -- the cancel's iteration
         return _G.first_step, _G.not_reached
      end)
      local first, later = seen:result(5)
      assert.is_true(first)
      assert.is_nil(later)
   end)

   it("does not run a call cancelled before it ran", function()
      local handle = lt:call_soon_threadsafe(function() _G.ran = true end)
      assert.is_true(handle:cancel())
      assert.is_true(handle:cancelled())
      assert.is_nil(lt:run_coroutine_threadsafe(function() return _G.ran end):result(5))
      -- one cancelled after it ran says cancelled() all the same, as Python's
      -- Handle (it said false): cancel() answers that it was too late
      handle = lt:call_soon_threadsafe(function() _G.ran2 = true end)
      assert.is_true(lt:run_coroutine_threadsafe(function() return _G.ran2 end):result(5))
      assert.is_false(handle:cancel())
      assert.is_true(handle:cancelled())
   end)

   it("takes a loop and a future in call_soon_threadsafe as references, as run_coroutine_threadsafe does",
      helper.async(function()
         -- it refused them: "cannot copy an asyncio.Loop to another thread"
         local fut = asyncio.get_running_loop():create_future()
         lt:call_soon_threadsafe(function(loop, f)
            loop:call_soon_threadsafe(function(f2) f2:set_result("back") end, f)
         end, asyncio.get_running_loop(), fut)
         assert.equal("back", await(fut))
      end))

   it("takes a loop and a future in a loop reference's call_soon_threadsafe as references too",
      helper.async(function()
         -- the reference's method had no Runtime: it refused them, with the
         -- message that says they cross as references
         local got = await(lt:run_coroutine_threadsafe(function(mainref)
            local aio = require("asyncio")
            local here = aio.get_running_loop()
            local fut = here:create_future()
            mainref:call_soon_threadsafe(function(loop, f)
               loop:call_soon_threadsafe(function(f2) f2:set_result("back") end, f)
            end, here, fut)
            return aio.await(aio.wait_for(fut, 5))
         end, asyncio.get_running_loop()))
         assert.equal("back", got)
      end))

   it("leaves a coroutine object unawaited when its arguments cannot be copied or the loop is closed", function()
      -- it was counted as awaited before the copy and the post
      local up = 1
      local body = asyncio.async(function(f) return f() end)
      local co = body(function() return up end)
      assert.is_false(pcall(lt.run_coroutine_threadsafe, lt, co))
      assert.equal(1, asyncio.run(co))
      local stopped = asyncio.start_loop_thread()
      stopped:stop()
      stopped:join()
      local co2 = asyncio.async(function() return 2 end)()
      local ok, err = pcall(stopped.run_coroutine_threadsafe, stopped, co2)
      assert.is_false(ok)
      assert.matches("Event loop is closed", tostring(err))
      assert.equal(2, asyncio.run(co2))
   end)

   it("refuses a coroutine object it cannot copy by what it is, and leaves it unawaited", helper.async(function()
      -- it blamed the library's upvalues ('core', 'await') or a C function
      local function refusal(aw)
         local ok, err = pcall(function() local cf = lt:run_coroutine_threadsafe(aw) return cf end)
         assert.is_false(ok)
         return (err:gsub("^spec/threads_spec%.lua:%d+: ", "HERE: "))
      end
      local sleeping = asyncio.sleep(0.001, "still mine")
      assert.equal("HERE: bad argument #1 to 'run_coroutine_threadsafe' (a coroutine object of asyncio's own "
         .. "functions (sleep, wait_for, to_thread...) cannot be copied; pass a function that awaits it)",
         refusal(sleeping))
      assert.equal("still mine", await(sleeping)) -- it counted as awaited
      assert.matches("%(a shared coroutine object, such as sleep%(0%) or q:get%(%), cannot be copied;",
         refusal(asyncio.sleep(0)))
      local up = 1
      local with_upvalue = asyncio.async(function() return up end)()
      assert.matches("%(cannot copy the coroutine object's function: the function has an upvalue 'up'",
         refusal(with_upvalue))
      await(with_upvalue)
      assert.matches("%(the coroutine object was awaited already;", refusal(with_upvalue))
   end))

   it("is awaitable from a task without blocking the loop", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(0.1))
         return "there"
      end)
      local ticks = 0
      local ticker = asyncio.create_task(function()
         while true do
            await(asyncio.sleep(0.01))
            ticks = ticks + 1
         end
      end)
      assert.equal("there", await(cf))
      ticker:cancel()
      assert.is_true(ticks >= 3)
      -- and once it is done already
      assert.equal("there", await(cf))
   end))

   it("fails the concurrent future when the function cannot be found there", function()
      package.loaded.spec_threads_fake = { f = coroutine.wrap(function() end) }
      local cf = lt:run_coroutine_threadsafe(package.loaded.spec_threads_fake.f)
      package.loaded.spec_threads_fake = nil
      local ok, err = pcall(cf.result, cf, 5)
      assert.is_false(ok)
      assert.matches("module 'spec_threads_fake' not found", err)
   end)

   it("refuses what cannot be copied", function()
      local ok, err = pcall(lt.call_soon_threadsafe, lt, function() end, io.stdout)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'call_soon_threadsafe' %(cannot copy a userdata value", err)
      ok, err = pcall(lt.run_coroutine_threadsafe, lt, coroutine.wrap(print))
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'run_coroutine_threadsafe' %(cannot copy a C function", err)
   end)

   -- Finalizers run in reverse order of marking: a holder made first is
   -- finalized after the objects it holds, and may still call them.
   it("raise, not crash, when used after their finalizer ran", function()
      local seen = {}
      do
         local holder = setmetatable({}, { __gc = function(self)
            for _, m in ipairs({ "done", "cancelled", "cancel", "result" }) do
               seen[#seen + 1] = select(2, pcall(self.cf[m], self.cf))
            end
            seen[#seen + 1] = tostring(self.cf)
            for _, m in ipairs({ "cancelled", "cancel" }) do
               seen[#seen + 1] = select(2, pcall(self.handle[m], self.handle))
            end
            seen[#seen + 1] = tostring(self.handle)
         end })
         holder.cf = lt:run_coroutine_threadsafe(function() return 1 end)
         holder.handle = lt:call_soon_threadsafe(function() end)
         holder.cf:result(2)
      end
      collectgarbage()
      collectgarbage()
      for i = 1, 4 do
         assert.matches("attempt to use a collected ConcurrentFuture", seen[i])
      end
      assert.equal("<ConcurrentFuture collected>", seen[5])
      assert.matches("attempt to use a collected ThreadHandle", seen[6])
      assert.matches("attempt to use a collected ThreadHandle", seen[7])
      assert.equal("<ThreadHandle collected>", seen[8])
   end)

   it("refuses submissions once stopped", function()
      lt:stop()
      lt:join()
      assert.has_error(function() lt:call_soon_threadsafe(function() end) end, "Event loop is closed")
   end)
end)

describe("wrap_future", function()
   it("makes a future of the loop from a concurrent one, and hands a Future back as it is", helper.async(function()
      local lt <close> = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(function(x)
         local a = require("asyncio")
         a.await(a.sleep(0.01))
         return x * 2, nil, "y"
      end, 21)
      local f = asyncio.wrap_future(cf)
      assert.is_true(asyncio.isfuture(f))
      assert.is_false(f:done())
      assert.same({ 42, nil, "y", n = 3 }, table.pack(await(f)))
      local fut = asyncio.get_running_loop():create_future()
      assert.equal(fut, asyncio.wrap_future(fut))
      -- cancelling the wrapper cancels the concurrent future and its task
      local long = lt:run_coroutine_threadsafe(function()
         local a = require("asyncio")
         a.await(a.sleep(10))
      end)
      asyncio.wrap_future(long):cancel()
      await(asyncio.sleep(0))
      assert.is_true(long:cancelled())
      assert.has_error(function() asyncio.wrap_future(5) end,
         "bad argument #1 to 'wrap_future' (Future or ConcurrentFuture expected, got number)")
      -- an option it does not know was ignored
      local ok, err = pcall(function() local w = asyncio.wrap_future(long, { bogus = 1 }) return w end)
      assert.is_false(ok)
      assert.matches("^spec/threads_spec%.lua:%d+: bad argument #2 to 'wrap_future' %(unknown option 'bogus'%)$", err)
   end))
end)

describe("shutdown", function()
   it("a to-be-closed loop thread is stopped and joined", function()
      local cf
      do
         local lt <close> = asyncio.start_loop_thread()
         cf = lt:run_coroutine_threadsafe(function() return "ran" end)
      end
      assert.equal("ran", cf:result(0))
   end)

   it("a stopping loop thread waits for its default executor's jobs, then closes its loop", function()
      local out, status = helper.run_fresh([[
         local asyncio = require("asyncio")
         local lt = asyncio.start_loop_thread()
         print(lt:run_coroutine_threadsafe(function()
            local aio = require("asyncio")
            _G.loop = aio.get_running_loop()
            return aio.await(aio.to_thread(function() return "job ran" end))
         end):result(5))
         local cf = lt:run_coroutine_threadsafe(function()
            -- a job still running when the thread is stopped
            local aio = require("asyncio")
            aio.get_running_loop():run_in_executor(nil, function()
               local t = require("asyncio.core").monotonic() + 0.05
               repeat until require("asyncio.core").monotonic() > t
            end)
         end)
         cf:result(5)
         lt:stop()
         lt:join()
         print("joined")
      ]])
      assert.equal("job ran\njoined\n", out)
      assert.equal(0, status)
   end)

   it("a stopping loop thread cancels, each in its turn, tasks submitted while others clean up", function()
      -- one submitted during the first clean-up had its future cancelled
      -- while it ran; one submitted during the second was never cancelled.
      -- The threads keep step through files: a task's clean-up waits until
      -- the next task is submitted.
      local dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir " .. dir))
      local function wait_for_file(name)
         for _ = 1, 1000 do
            local f = io.open(dir .. "/" .. name)
            if f then
               f:close()
               return
            end
            os.execute("sleep 0.005")
         end
         error("no " .. name)
      end
      local lt = asyncio.start_loop_thread()
      -- a task notes that it started, and, cancelled, cleans up until the
      -- next one has started
      local function body(name, where, next_started)
         local a = require("asyncio")
         assert(io.open(where .. "/" .. name .. ".started", "w")):close()
         local ok = pcall(a.await, a.sleep(10))
         assert(io.open(where .. "/" .. name .. ".cleaning", "w")):close()
         for _ = 1, next_started and 300 or 0 do
            local f = io.open(where .. "/" .. next_started)
            if f then
               f:close()
               break
            end
            a.await(a.sleep(0.002))
         end
         return name .. (ok and " slept" or " cleaned up")
      end
      local cf1 = lt:run_coroutine_threadsafe(body, "T1", dir, "T2.started")
      wait_for_file("T1.started")
      lt:stop()
      wait_for_file("T1.cleaning")
      local cf2 = lt:run_coroutine_threadsafe(body, "T2", dir, "T3.started")
      wait_for_file("T2.cleaning")
      local cf3 = lt:run_coroutine_threadsafe(body, "T3", dir)
      lt:join()
      os.execute("rm -r " .. dir)
      assert.equal("T1 cleaned up", cf1:result(0))
      assert.equal("T2 cleaned up", cf2:result(0))
      assert.equal("T3 cleaned up", cf3:result(0))
   end)

   it("a stopping loop thread cancels what was submitted while it waited for its jobs", function()
      local core = require("asyncio.core")
      local lt = asyncio.start_loop_thread()
      lt:run_coroutine_threadsafe(function()
         require("asyncio").get_running_loop():run_in_executor(nil, function()
            local c = require("asyncio.core")
            local t = c.monotonic() + 0.2 -- keeps the stopping loop waiting
            repeat until c.monotonic() > t
         end)
      end):result(5)
      lt:stop()
      local t0 = core.monotonic()
      repeat until core.monotonic() > t0 + 0.05 -- the loop waits for the job now
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(5))
      end)
      lt:join()
      assert.is_true(cf:cancelled()) -- it stayed pending forever
   end)

   it("asyncio.run shuts the default executor down", function()
      local executor
      asyncio.run(function()
         await(asyncio.to_thread(function() return 1 end))
         executor = asyncio.get_running_loop():_lua().default_executor
      end)
      local ok, err = pcall(executor.submit, executor, function() end)
      assert.is_false(ok)
      assert.matches("after shutdown", err)
   end)

   it("asyncio.run keeps the loop running for jobs that need it", function()
      local t0 = os.time()
      local clock0 = require("asyncio.core").monotonic()
      asyncio.run(function()
         asyncio.get_running_loop():run_in_executor(nil, function(l) -- not awaited: still running when main returns
            local t = os.clock() + 0.05
            while os.clock() < t do end
            return l:run_coroutine_threadsafe(function() return "from the loop" end):result(10)
         end, asyncio.get_running_loop())
      end)
      assert.is_true(require("asyncio.core").monotonic() - clock0 < 5, os.time() - t0)
   end)

   it("loop:shutdown_default_executor() is done once the jobs are", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:run_in_executor(nil, function()
         local t = os.clock() + 0.05
         while os.clock() < t do end
         return "job"
      end)
      await(loop:shutdown_default_executor())
      assert.is_true(fut:done())
      assert.equal("job", await(fut))
      assert.has_error(function() await(asyncio.to_thread(print)) end, "Executor shutdown has been called")
   end))

   it("loop:shutdown_default_executor(timeout) refuses a timeout that is no number, or NaN, when awaited",
      helper.async(function()
      local loop = asyncio.get_running_loop()
      for _, bad in ipairs({ "1", 0 / 0, true }) do
         local err = helper.failure(await, loop:shutdown_default_executor(bad))
         assert.matches("^bad argument #1 to 'shutdown_default_executor' %(number or nil expected, got %a+%)$", err)
      end
      assert.equal("still", await(asyncio.to_thread(function() return "still" end)))
   end))

   it("loop:shutdown_default_executor(timeout) of jobs done in time reports nothing", helper.async(function()
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      assert.equal("job", await(asyncio.to_thread(function() return "job" end)))
      await(loop:shutdown_default_executor(5))
      assert.equal(0, #reports)
   end))

   it("asyncio.run waits for the default executor's jobs THREAD_JOIN_TIMEOUT seconds at most, as Python's runner",
      function()
      -- Python's runner gives them constants.THREAD_JOIN_TIMEOUT (300 s),
      -- warns and returns; the jobs still finish before the process ends
      local out = helper.run_fresh([[
local asyncio = require("asyncio")
local core = require("asyncio.core")
require("asyncio.threads").THREAD_JOIN_TIMEOUT = 0.1
local t0 = core.monotonic()
asyncio.run(function()
   asyncio.get_running_loop():set_exception_handler(function(_, ctx) print("report: " .. ctx.message) end)
   asyncio.create_task(asyncio.to_thread(function() os.execute("sleep 0.6") io.stdout:write("job done\n") end))
   asyncio.await(asyncio.sleep(0.01))
end)
print("run returned early", core.monotonic() - t0 < 0.5)
]])
      assert.equal("report: The executor did not finishing joining its threads within 0.1 seconds.\n"
         .. "run returned early\ttrue\njob done\n", out)
   end)

   it("loop:shutdown_default_executor() returns a coroutine object that does nothing until it runs, as Python's",
      helper.async(function()
      local loop = asyncio.get_running_loop()
      local co = loop:shutdown_default_executor()
      assert.is_true(asyncio.iscoroutine(co))
      assert.equal("still", await(asyncio.to_thread(function() return "still" end)))
      local t = asyncio.create_task(co) -- as Python's: a coroutine, so a task can run it
      assert.is_nil(await(t))
      assert.has_error(function() await(asyncio.to_thread(print)) end, "Executor shutdown has been called")
   end))

   it("after shutdown_default_executor, even before any job, the default executor is refused", helper.async(function()
      local loop = asyncio.get_running_loop()
      await(loop:shutdown_default_executor()) -- there was no default executor yet
      -- as Python's: made a new one and ran print before
      assert.has_error(function() loop:run_in_executor(nil, print) end, "Executor shutdown has been called")
   end))

   it("closing a loop while its jobs run drops their results", function()
      local loop = asyncio.new_event_loop()
      local executor = asyncio.ThreadPoolExecutor(2)
      local futs = {}
      for i = 1, 4 do
         futs[i] = loop:run_in_executor(executor, function(x)
            local t = os.clock() + 0.05
            while os.clock() < t do end
            return x
         end, i)
      end
      loop:close()
      executor:shutdown(true) -- the jobs finish; nothing reaches the closed loop
      for i = 1, 4 do
         assert.is_false(futs[i]:done())
      end
   end)

   it("cancels the concurrent futures of tasks a stopped loop thread leaves", function()
      local lt = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.await(aio.sleep(10))
      end)
      lt:run_coroutine_threadsafe(function() end):result(5) -- the task started
      lt:stop()
      lt:join()
      assert.is_true(cf:cancelled())
   end)

   it("a process exits cleanly with a loop thread and jobs still running", function()
      local out, ok = run_process([[
         local asyncio = require("asyncio")
         local lt = asyncio.start_loop_thread()
         lt:run_coroutine_threadsafe(function()
            local aio = require("asyncio")
            aio.await(aio.sleep(60))
         end)
         local executor = asyncio.ThreadPoolExecutor(2)
         executor:submit(function()
            local t = os.clock() + 0.1
            while os.clock() < t do end
         end)
         print("main done")
      ]])
      assert.is_true(ok, out)
      assert.equal("main done\n", out)
   end)

   it("a collected loop thread handle stops and joins its thread", function()
      local out, ok = run_process([[
         local asyncio = require("asyncio")
         do
            local lt = asyncio.start_loop_thread()
            lt:call_soon_threadsafe(function() print("ran") end)
         end
         collectgarbage() collectgarbage()
         print("collected")
      ]])
      assert.is_true(ok, out)
      assert.equal("ran\ncollected\n", out)
   end)
end)
