-- Tasks (API.md §4): scheduling order, results, errors, cancellation,
-- unwinding. Orders asserted here were checked against CPython 3.11.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("tasks", function()
   it("hold no coroutine until they first run, so a burst of them costs no thread each", helper.async(function()
      -- each task made a thread at create_task (about 930 bytes more each),
      -- though tasks ending in their first step share one from the pool
      local f = function() return 1 end
      collectgarbage()
      local before = collectgarbage("count")
      local tasks = {}
      for i = 1, 10000 do
         tasks[i] = asyncio.create_task(f)
      end
      collectgarbage()
      local per_task = (collectgarbage("count") - before) * 1024 / 10000
      assert.is_true(per_task < 700, ("%.0f bytes per pending task"):format(per_task))
      await(asyncio.gather(table.unpack(tasks)))
   end))

   it("do not take the debug hook of the code that created them", helper.async(function()
      -- a hook set in the creating task followed into every task it made
      local child = function() return select(2, debug.gethook()) == nil end -- no mask
      debug.sethook(function() end, "l")
      local tasks = {}
      for i = 1, 5 do
         tasks[i] = asyncio.create_task(child)
      end
      debug.sethook()
      for i = 1, 5 do
         assert.is_true(await(tasks[i]))
      end
   end))

   it("do not take the debug hook a finished task set on its own coroutine", helper.async(function()
      -- a finished task's coroutine went to the pool hook and all, and the
      -- next task to start ran under the hook its predecessor had set
      local hooked = asyncio.create_task(function()
         debug.sethook(function() end, "l")
         return true
      end)
      local next_one = asyncio.create_task(function() return debug.gethook() == nil end)
      assert.is_true(await(hooked))
      assert.is_true(await(next_one))
   end))

   it("start on the next iteration, in creation order", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local t = async(function(n)
         log[#log + 1] = n
         await(asyncio.sleep(0))
         log[#log + 1] = n .. "b"
      end)
      asyncio.create_task(t("t1"))
      loop:call_soon(function() log[#log + 1] = "cb" end)
      asyncio.create_task(t("t2"))
      await(asyncio.sleep(0))
      log[#log + 1] = "main"
      await(asyncio.sleep(0))
      assert.same({ "t1", "cb", "t2", "main", "t1b", "t2b" }, log)
   end))

   it("wake an awaiting task through a done callback, in order", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local c = asyncio.create_task(async(function() log[#log + 1] = "child"; return 5 end)())
      local fut = loop:create_future()
      fut:add_done_callback(function() log[#log + 1] = "fcb" end)
      c:add_done_callback(function() log[#log + 1] = "ccb" end)
      loop:call_soon(function() fut:set_result(1) end)
      assert.equal(5, await(c))
      log[#log + 1] = "main"
      await(asyncio.sleep(0))
      assert.same({ "child", "ccb", "main", "fcb" }, log)
   end))

   it("resume a sleeper one iteration after its deadline, like Python", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local when = loop:time() + 0.02
      loop:call_at(when + 0.000001, function() log[#log + 1] = "late" end)
      local sleeper = asyncio.create_task(async(function()
         await(asyncio.sleep(when - loop:time()))
         log[#log + 1] = "sleeper"
      end)())
      await(sleeper)
      await(asyncio.sleep(0))
      assert.same({ "late", "sleeper" }, log)
   end))

   it("return every result, nils included", helper.async(function()
      local t = asyncio.create_task(async(function() return nil, 2, nil end)())
      local r = table.pack(await(t))
      assert.same({ n = 3, nil, 2, nil }, r)
      r = table.pack(t:result())
      assert.equal(3, r.n)
   end))

   it("wrap a plain function", helper.async(function()
      local t = asyncio.create_task(function()
         await(asyncio.sleep(0))
         return "plain"
      end)
      assert.equal("plain", await(t))
   end))

   it("have names", helper.async(function()
      local t = asyncio.create_task(asyncio.sleep(0), { name = "worker" })
      assert.equal("worker", t:get_name())
      t:set_name("renamed")
      assert.equal("renamed", t:get_name())
      local u = asyncio.create_task(asyncio.sleep(0))
      assert.matches("^Task%-%d+$", u:get_name())
      assert.matches("^<Task pending name=Task%-%d+", tostring(u))
      await(u)
      assert.matches("^<Task finished name=Task%-%d+ result=nil>$", tostring(u))
      -- as Python's str(name) (it was refused); an option it does not know is refused
      local numbered = asyncio.create_task(asyncio.sleep(0), { name = 3 })
      assert.equal("3", numbered:get_name())
      await(numbered)
      assert.has_error(function() asyncio.create_task(asyncio.sleep(0), { eager = true }) end,
         "bad argument #2 to 'create_task' (unknown option 'eager')")
      -- a name is any string, zero bytes included
      local z = asyncio.create_task(asyncio.sleep(0), { name = "a\0b" })
      assert.equal("<Task pending name=a\0b>", tostring(z))
      await(z)
      assert.equal("<Task finished name=a\0b result=nil>", tostring(z))
      -- Python 3.13: a pending task with cancel requests is "cancelling"
      local c = asyncio.create_task(asyncio.sleep(10), { name = "C" })
      await(asyncio.sleep(0))
      c:cancel()
      assert.equal("<Task cancelling name=C>", tostring(c))
      c:uncancel()
      assert.equal("<Task pending name=C>", tostring(c))
      c:cancel()
      pcall(await, c)
      assert.equal("<Task cancelled name=C>", tostring(c))
      -- as Python: a named task takes no number, the next unnamed one does
      local n = tonumber(u:get_name():match("%d+"))
      asyncio.create_task(asyncio.sleep(0), { name = "named" })
      assert.equal("Task-" .. (n + 1), asyncio.create_task(asyncio.sleep(0)):get_name())
      assert.has_error(function() asyncio.create_task(42) end,
         "bad argument #1 to 'create_task' (coroutine object or function expected, got number)")
   end))

   it("refuse an async function not called, as Python refuses a coroutine function", helper.async(function()
      local work = async(function() return 1 end)
      local err = helper.error_of(function() asyncio.create_task(work) end)
      assert.matches("^spec/tasks_spec.lua:%d+: bad argument #1 to '[%w.]*create_task' %(coroutine object expected, "
                     .. "got async function; call it first%)", err)
      local loop = asyncio.get_running_loop()
      assert.matches("bad argument #1 to 'create_task'", helper.error_of(function() loop:create_task(work) end))
      assert.equal(1, await(asyncio.create_task(work())))
   end))

   it("refuse set_result and set_exception with Python's words", helper.async(function()
      local task = asyncio.create_task(asyncio.sleep(0))
      assert.matches("Task does not support set_result operation", helper.error_of(task.set_result, task, 1))
      assert.matches("Task does not support set_exception operation",
                     helper.error_of(task.set_exception, task, "e"))
      await(task)
   end))

   it("know the current task and all tasks", helper.async(function()
      local me = asyncio.current_task()
      assert.equal("test", me:get_name())
      local other = asyncio.create_task(asyncio.sleep(0.01))
      local all = asyncio.all_tasks()
      assert.is_true(all[me])
      assert.is_true(all[other])
      await(other)
      assert.is_nil(asyncio.all_tasks()[other])
      assert.equal(other:get_coro(), other:get_coro())
   end))

   it("count all_tasks() and wait's sets with #, as Python's len() (it said 0)", helper.async(function()
      local a, b = asyncio.create_task(asyncio.sleep(0)), asyncio.create_task(asyncio.sleep(1))
      assert.equal(3, #asyncio.all_tasks())
      local done, pending = await(asyncio.wait({ a, b }, { return_when = asyncio.FIRST_COMPLETED }))
      assert.equal(1, #done)
      assert.equal(1, #pending)
      b:cancel()
      pcall(await, b)
      assert.equal(1, #asyncio.all_tasks())
   end))

   it("all_tasks iterates with pairs in the order the tasks were made", helper.async(function()
      local made = { asyncio.current_task() }
      for i = 1, 40 do
         made[#made + 1] = asyncio.create_task(asyncio.sleep(0.01, i))
      end
      local seen = {}
      for task, yes in pairs(asyncio.all_tasks()) do
         assert.is_true(yes)
         seen[#seen + 1] = task
      end
      assert.equal(41, #seen)
      for i = 1, 41 do
         assert.equal(made[i], seen[i])
      end
      for i = 2, 41 do await(made[i]) end
   end))

   it("all_tasks stays exact while tasks come and go", helper.async(function()
      local function count()
         local n = 0
         for _ in pairs(asyncio.all_tasks()) do n = n + 1 end
         return n
      end
      local base = count()
      local short, long = {}, {}
      for i = 1, 50 do
         short[i] = asyncio.create_task(asyncio.sleep(0))
         long[i] = asyncio.create_task(asyncio.sleep(0.05))
      end
      assert.equal(base + 100, count())
      for i = 1, 50 do await(short[i]) end
      assert.equal(base + 50, count())
      for i = 1, 30 do short[i] = asyncio.create_task(asyncio.sleep(0)) end
      assert.equal(base + 80, count())
      for i = 1, 50 do await(long[i]) end
      for i = 1, 30 do await(short[i]) end
      assert.equal(base, count())
   end))

   it("current_task raises without a running loop, and is nil between tasks", function()
      assert.has_error(function() asyncio.current_task() end, "no running event loop")
      local loop = asyncio.new_event_loop()
      local seen = "unset"
      loop:call_soon(function()
         seen = asyncio.current_task()
         loop:stop()
      end)
      loop:run_forever()
      assert.is_nil(seen)
      assert.is_nil(asyncio.current_task(loop)) -- a loop that is not running
      loop:close()
   end)

   it("a task woken by its cancelled waiter keeps that waiter's message", helper.async(function()
      -- the future is cancelled first, then the task in the same iteration:
      -- as in Python, the future's CancelledError reaches the task
      local fut = asyncio.get_running_loop():create_future()
      local t = asyncio.create_task(async(function() await(fut) end)())
      await(asyncio.sleep(0))
      fut:cancel("from the future")
      assert.is_true(t:cancel("from the task"))
      local err = helper.error_of(await, t)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.equal("from the future", err.message)
   end))

   it("a task woken by a waiter that failed with a CancelledError keeps that error", helper.async(function()
      local fut = asyncio.get_running_loop():create_future()
      local t = asyncio.create_task(async(function() await(fut) end)())
      await(asyncio.sleep(0))
      local set = asyncio.CancelledError("set-exc")
      fut:set_exception(set)
      assert.is_true(t:cancel("from the task"))
      local err = helper.error_of(await, t)
      assert.equal(set, err) -- the very object, as Python's
      assert.is_true(t:cancelled())
   end))

   it("fails with a stand-in string when its body raises nil, as lua.c reports it", helper.async(function()
      local bad = asyncio.create_task(async(function() error(nil) end)())
      local slow = asyncio.create_task(asyncio.sleep(1))
      local done = await(asyncio.wait({ bad, slow }, { return_when = asyncio.FIRST_EXCEPTION }))
      assert.is_true(done[bad]) -- a failure: wait does not wait for slow
      assert.equal("(error object is a nil value)", bad:exception())
      assert.equal("(error object is a nil value)", helper.error_of(await, bad))
      slow:cancel()
   end))

   it("cancel() on a failed task silences its never-retrieved report", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local t = loop:create_task(async(function() error("failed") end)())
      loop:run_until_complete(asyncio.wait({ t }))
      assert.is_false(t:cancel())
      t = nil -- luacheck: ignore
      helper.full_gc()
      loop:close()
      assert.equal(0, #reports)
   end)

   it("ensure_future passes futures and wraps coroutine objects", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      assert.equal(fut, asyncio.ensure_future(fut))
      local t = asyncio.ensure_future(async(function() return 9 end)())
      assert.equal("task", require("asyncio.core").typeof(t))
      assert.equal(9, await(t))
      assert.has_error(function() asyncio.ensure_future(1) end,
         "bad argument #1 to 'ensure_future' (awaitable expected, got number)")
   end))

   it("ensure_future takes the loop as Python's keyword too: {loop = loop}", helper.async(function()
      local loop = asyncio.get_running_loop()
      local t = asyncio.ensure_future(async(function() return 7 end)(), { loop = loop })
      assert.equal(loop, t:get_loop())
      assert.equal(7, await(t))
      assert.equal(8, await(asyncio.ensure_future(async(function() return 8 end)(), loop)))
      local ok, err = pcall(asyncio.ensure_future, async(function() end)(), { lop = loop })
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'ensure_future' %(unknown option 'lop'%)", err)
      ok, err = pcall(function()
         local task = asyncio.ensure_future(async(function() end)(), "loop")
         return task
      end)
      assert.is_false(ok)
      assert.matches("tasks_spec.lua:%d+: bad argument #2 to 'ensure_future' "
                     .. "%(event loop or nil expected, got string%)", err)
   end))

   it("a task cannot await itself", helper.async(function()
      local me = asyncio.current_task()
      local ok, err = pcall(await, me)
      assert.is_false(ok)
      assert.matches("^Task cannot await on itself: <Task pending name=", err) -- Python's words
   end))

   it("report a bad yield", helper.async(function()
      local t = asyncio.create_task(function() coroutine.yield() end)
      local ok, err = pcall(await, t)
      assert.is_false(ok)
      assert.matches("bad yield", err)
   end))
end)

describe("task errors", function()
   it("keep the original error value and where it was raised", helper.async(function()
      local e = asyncio.InvalidStateError("inner")
      local function raise_here() error(e) end
      local t = asyncio.create_task(async(function()
         await(asyncio.sleep(0))
         raise_here()
      end)())
      local ok, err = pcall(await, t)
      assert.is_false(ok)
      assert.equal(e, err)
      assert.matches("raise_here", err.traceback)
      assert.matches("raise_here", t:traceback())
      assert.equal(e, t:exception())
      assert.matches("^<Task finished name=Task%-%d+ error=InvalidStateError: inner>$", tostring(t))
   end))

   -- The traceback is luaL_traceback's layout without its search of
   -- package.loaded, which cost ~150 us per failed or cancelled task.
   it("keep a traceback in Lua's layout, naming functions as the caller does",
      helper.async(function()
         local obj = {}
         function obj.method(_) error("deep down") end
         local function recurse(n)
            if n == 0 then obj:method() end
            local r = recurse(n - 1)
            return r
         end
         package.loaded["spec.traceback_probe"] = { recurse = recurse }
         local t = asyncio.create_task(async(function() recurse(40) end)())
         pcall(await, t)
         package.loaded["spec.traceback_probe"] = nil
         local lines = {}
         for line in t:traceback():gmatch("[^\n]+") do lines[#lines + 1] = line end
         assert.equal("stack traceback:", lines[1])
         assert.equal("\t[C]: in function 'error'", lines[2])
         assert.matches("^\tspec/tasks_spec.lua:%d+: in method 'method'$", lines[3])
         assert.matches("^\tspec/tasks_spec.lua:%d+: in upvalue 'recurse'$", lines[4])
         -- 45 frames (error, the method, 41 calls of recurse, the task's
         -- function and its base): the first 10, the number skipped, the last 11
         assert.equal("\t...\t(skipping 24 levels)", lines[12])
         assert.equal(1 + 10 + 1 + 11, #lines)
         assert.matches("^\tspec/tasks_spec.lua:%d+: in function <spec/tasks_spec.lua:%d+>$", lines[#lines - 1])
         assert.equal("\t[C]: in ?", lines[#lines])
         assert.not_matches("traceback_probe", t:traceback())
      end))

   it("fail, not run again, when their coroutine is closed or resumed from outside",
      helper.async(function()
         local runs, co = 0, nil
         local body = async(function()
            runs = runs + 1
            co = coroutine.running()
            await(asyncio.sleep(0.01))
            return "done"
         end)
         local closed = asyncio.create_task(body())
         await(asyncio.sleep(0))
         assert.is_true(coroutine.close(co))
         local ok, err = pcall(await, closed)
         assert.is_false(ok)
         assert.equal("the task's coroutine was resumed or closed outside the event loop", err)
         assert.equal(1, runs)
         local resumed = asyncio.create_task(body())
         await(asyncio.sleep(0))
         coroutine.resume(co) -- the body goes on here, outside its task
         ok, err = pcall(await, resumed)
         assert.is_false(ok)
         assert.equal("the task's coroutine was resumed or closed outside the event loop", err)
         assert.equal(2, runs)
      end))

   it("pass string errors through unchanged", helper.async(function()
      local t = asyncio.create_task(function() error("plain", 0) end)
      local ok, err = pcall(await, t)
      assert.is_false(ok)
      assert.equal("plain", err)
   end))

   it("are reported when never retrieved", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      do
         loop:create_task(function() error("nobody looks", 0) end)
         loop:run_until_complete(asyncio.sleep(0.001))
      end
      helper.full_gc()
      loop:close()
      assert.equal(1, #reports)
      assert.equal("Task exception was never retrieved", reports[1].message)
      assert.equal("nobody looks", reports[1].error)
      assert.matches("stack traceback", reports[1].traceback)
      -- Python's context key is "future", for a task too ("task" stays)
      assert.equal("task", require("asyncio.core").typeof(reports[1].future))
      assert.equal(reports[1].future, reports[1].task)
   end)

   it("a failing callback is reported, not raised", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      loop:call_soon(function() error("cb failed", 0) end)
      loop:run_until_complete(asyncio.sleep(0))
      loop:close()
      assert.equal(1, #reports)
      assert.equal("cb failed", reports[1].error)
      assert.matches("^Exception in callback", reports[1].message)
   end)

   it("a failing done callback is reported with a Handle, as Python's", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local fut = loop:create_future()
      local function cb() error("done cb failed", 0) end
      fut:add_done_callback(cb)
      fut:set_result(1)
      loop:run_until_complete(asyncio.sleep(0))
      loop:close()
      assert.equal(1, #reports)
      assert.equal("done cb failed", reports[1].error)
      local handle = reports[1].handle
      assert.equal("handle", require("asyncio.core").typeof(handle)) -- was the bare function
      assert.is_false(handle:cancelled())
      assert.equal(loop, handle:get_loop())
      -- named as Python names it: the callback, and where it was written
      local info = debug.getinfo(cb, "S")
      local where = ("function at %s:%d"):format(info.short_src, info.linedefined)
      assert.equal("Exception in callback " .. where, reports[1].message)
      assert.equal("<Handle " .. where .. ">", tostring(handle))
   end)
end)

describe("cancellation", function()
   it("raises CancelledError at the pending await, with the message", helper.async(function()
      local started = asyncio.Event and nil
      local t = asyncio.create_task(async(function() await(asyncio.sleep(10)) end)())
      await(asyncio.sleep(0))
      assert.is_true(t:cancel("stop it"))
      assert.equal(1, t:cancelling())
      local ok, err = pcall(await, t)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.equal("stop it", err.message)
      assert.is_true(t:cancelled())
      assert.is_false(t:cancel())
      assert.matches("^<Task cancelled name=", tostring(t))
      assert.is_nil(started)
   end))

   it("twice while sleeping: the first message wins and uncancel cannot undo it, as Python's", helper.async(function()
      for _, wait in ipairs({ "sleep", "queue" }) do
         local q = asyncio.Queue()
         local t = asyncio.create_task(async(function()
            if wait == "sleep" then await(asyncio.sleep(10)) else await(q:get()) end
            return "resumed"
         end)())
         await(asyncio.sleep(0))
         t:cancel("first")
         t:cancel("second")
         assert.equal(2, t:cancelling())
         -- Python: the waiter future is cancelled for good by the first
         assert.equal(1, t:uncancel())
         assert.equal(0, t:uncancel())
         local err = helper.cancelled(t)
         assert.equal("first", err.message, wait)
      end
   end))

   it("before the task starts: the body never runs", helper.async(function()
      local ran = false
      local t = asyncio.create_task(function() ran = true end)
      t:cancel()
      assert.is_false(pcall(await, t))
      assert.is_false(ran)
      assert.is_true(t:cancelled())
   end))

   it("can be caught and the task goes on", helper.async(function()
      local t = asyncio.create_task(async(function()
         local ok, err = pcall(await, asyncio.sleep(10))
         assert(not ok and asyncio.CancelledError:is(err))
         assert(asyncio.current_task():uncancel() == 0)
         await(asyncio.sleep(0))
         return "survived"
      end)())
      await(asyncio.sleep(0))
      t:cancel()
      assert.equal("survived", await(t))
      assert.is_false(t:cancelled())
   end))

   it("of an awaiting task cancels what it awaits", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local inner = asyncio.create_task(async(function() await(asyncio.sleep(10)) end)())
      local t1 = asyncio.create_task(function() await(fut) end)
      local t2 = asyncio.create_task(function() await(inner) end)
      await(asyncio.sleep(0))
      t1:cancel()
      t2:cancel()
      assert.is_false(pcall(await, t1))
      assert.is_false(pcall(await, t2))
      assert.is_true(fut:cancelled())
      assert.is_true(inner:cancelled())
   end))

   it("of a running task lands at its next await", helper.async(function()
      local t
      t = asyncio.create_task(function()
         t:cancel()
         local ok, err = pcall(await, asyncio.sleep(0))
         assert(not ok and asyncio.CancelledError:is(err))
         return "caught"
      end)
      assert.equal("caught", await(t))
   end))

   it("closes to-be-closed variables inside the task, which may await", helper.async(function()
      local log = {}
      local function guard(name)
         return setmetatable({}, { __close = function(_, err)
            await(asyncio.sleep(0.001))
            log[#log + 1] = name .. ":" .. (asyncio.CancelledError:is(err) and "cancelled" or tostring(err))
         end })
      end
      local failing = asyncio.create_task(function()
         local _ <close> = guard("a")
         await(asyncio.sleep(0))
         error("oops", 0)
      end)
      local cancelled = asyncio.create_task(function()
         local _ <close> = guard("b")
         await(asyncio.sleep(10))
      end)
      await(asyncio.sleep(0))
      cancelled:cancel()
      assert.is_false(pcall(await, failing))
      assert.is_false(pcall(await, cancelled))
      table.sort(log)
      assert.same({ "a:oops", "b:cancelled" }, log)
      assert.is_true(cancelled:cancelled())
   end))

   it("uncancel withdraws a cancel at sleep(0) but not one that ended a sleep (regression)",
      helper.async(function()
         -- Python 3.13 prints "0 slept" and "0.01 cancelled": sleep(d) awaits a
         -- future, which cancel() cancels for good; sleep(0) is a bare yield
         local sleeper = async(function(d)
            return pcall(await, asyncio.sleep(d)) and "slept" or "cancelled"
         end)
         local got = {}
         for _, d in ipairs({ 0, 0.01 }) do
            local t = asyncio.create_task(sleeper(d))
            await(asyncio.sleep(0))
            t:cancel()
            t:uncancel()
            got[#got + 1] = await(t)
         end
         assert.same({ "slept", "cancelled" }, got)
      end))

   it("uncancel withdraws a task's own cancel at sleep(0) but not at a sleep", helper.async(function()
      -- Python 3.13 prints "0 slept" and "0.01 cancelled"
      local selfcancel = async(function(d)
         asyncio.current_task():cancel()
         return pcall(await, asyncio.sleep(d)) and "slept" or "cancelled"
      end)
      local got = {}
      for _, d in ipairs({ 0, 0.01 }) do
         local t = asyncio.create_task(selfcancel(d))
         await(asyncio.sleep(0)) -- t cancelled itself and sleeps
         t:uncancel()
         got[#got + 1] = await(t)
      end
      assert.same({ "slept", "cancelled" }, got)
   end))

   it("uncancel counts down cancel requests", helper.async(function()
      local t = asyncio.create_task(asyncio.sleep(10))
      t:cancel()
      t:cancel()
      assert.equal(2, t:cancelling())
      assert.equal(1, t:uncancel())
      assert.equal(0, t:uncancel())
      assert.equal(0, t:uncancel())
      await(asyncio.sleep(0))
   end))
end)

describe("asyncio.run", function()
   it("cancels the tasks left behind in the order they were made, as Python does", function()
      local order = {}
      asyncio.run(async(function()
         local leftover = async(function(i)
            if not pcall(await, asyncio.sleep(10)) then
               order[#order + 1] = i
            end
         end)
         for i = 1, 40 do
            asyncio.create_task(leftover(i))
         end
         await(asyncio.sleep(0))
      end))
      local expected = {}
      for i = 1, 40 do expected[i] = i end
      assert.same(expected, order)
   end)

   it("returns the main results, nils included", function()
      local r = table.pack(asyncio.run(async(function(a) return a, nil end), 1))
      assert.same({ n = 2, 1, nil }, r)
      r = table.pack(asyncio.run(async(function() return 3 end)()))
      assert.same({ n = 1, 3 }, r)
      assert.equal("f", asyncio.run(function(x) return x end, "f"))
   end)

   it("raises the main error itself", function()
      local e = {}
      local ok, err = pcall(asyncio.run, function() error(e) end)
      assert.is_false(ok)
      assert.equal(e, err)
   end)

   it("cancels leftover tasks and lets them finish cancelling", function()
      local cleaned = false
      asyncio.run(function()
         asyncio.create_task(function()
            local _ <close> = setmetatable({}, { __close = function()
               await(asyncio.sleep(0))
               cleaned = true
            end })
            await(asyncio.sleep(10))
         end)
         await(asyncio.sleep(0))
      end)
      assert.is_true(cleaned)
   end)

   it("cannot be nested", function()
      local ok, err = pcall(asyncio.run, function()
         return asyncio.run(function() end)
      end)
      assert.is_false(ok)
      assert.matches("cannot be called from a running event loop", err)
   end)
end)
