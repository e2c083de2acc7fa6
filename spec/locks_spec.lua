-- Synchronization primitives (API.md §6): what CPython's tests do not
-- cover, or cover only through private fields. The ports of test_locks.py
-- are in locks_cpython_spec.lua and barrier_spec.lua.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function spawn(fn, ...)
   return asyncio.create_task(async(fn)(...))
end

local cancelled = helper.cancelled

-- Each call (a method called with a dot) fails with an error matching
-- pattern, which names the method and the class it wants.
local function each_names_bad_self(calls, pattern)
   for what, call in pairs(calls) do
      local ok, err = pcall(call)
      assert.is_false(ok, what)
      assert.matches(pattern, err)
   end
end

-- The primitives that `<close>` releases, each with a way to tell whether
-- it is held.
local lockables = {
   Lock = { make = asyncio.Lock, held = function(l) return l:locked() end },
   Semaphore = { make = asyncio.Semaphore, held = function(s) return s:locked() end },
   BoundedSemaphore = { make = asyncio.BoundedSemaphore, held = function(s) return s:locked() end },
   Condition = { make = asyncio.Condition, held = function(c) return c:locked() end },
}

for name, kind in pairs(lockables) do
   describe(name .. " as a to-be-closed variable", function()
      it("acquire() resolves to the object itself", helper.async(function()
         local x = kind.make()
         local got = await(x:acquire())
         assert.equal(x, got)
         x:release()
      end))

      it("is released when the scope returns", helper.async(function()
         local x = kind.make()
         local function use()
            local _ <close> = await(x:acquire())
            assert.is_true(kind.held(x))
            return "done"
         end
         assert.equal("done", use())
         assert.is_false(kind.held(x))
      end))

      it("is released when the scope raises", helper.async(function()
         local x = kind.make()
         local ok, err = pcall(function()
            local _ <close> = await(x:acquire())
            error("boom", 0)
         end)
         assert.is_false(ok)
         assert.equal("boom", err)
         assert.is_false(kind.held(x))
      end))

      it("is released when the task is cancelled inside the scope", helper.async(function()
         local x = kind.make()
         local inside = asyncio.Event()
         local t = spawn(function()
            local _ <close> = await(x:acquire())
            inside:set()
            await(asyncio.sleep(10))
         end)
         await(inside:wait())
         assert.is_true(kind.held(x))
         t:cancel()
         cancelled(t)
         assert.is_false(kind.held(x))
      end))

      it("is not released by a scope that failed to acquire", helper.async(function()
         local x = kind.make()
         local _ <close> = await(x:acquire())
         local t = spawn(function()
            local _ <close> = await(x:acquire()) -- cancelled while waiting here
         end)
         await(asyncio.sleep(0))
         t:cancel()
         cancelled(t)
         assert.is_true(kind.held(x))
      end))
   end)
end

describe("Lock", function()
   it("is taken at once when free, without a loop iteration", helper.async(function()
      local loop = asyncio.get_running_loop()
      local lock = asyncio.Lock()
      local ran = false
      loop:call_soon(function() ran = true end)
      await(lock:acquire())
      assert.is_false(ran)
      assert.is_true(lock:locked())
      lock:release()
   end))

   it("is fair: a newcomer waits behind a woken waiter", helper.async(function()
      local lock = asyncio.Lock()
      local order = {}
      await(lock:acquire())
      local waiter = spawn(function()
         await(lock:acquire())
         order[#order + 1] = "waiter"
         lock:release()
      end)
      await(asyncio.sleep(0))
      lock:release() -- wakes the waiter, which has not run yet
      assert.is_false(lock:locked())
      local newcomer = spawn(function()
         await(lock:acquire())
         order[#order + 1] = "newcomer"
         lock:release()
      end)
      await(asyncio.gather(waiter, newcomer))
      assert.same({ "waiter", "newcomer" }, order)
   end))

   it("hands itself to waiters in the order they came", helper.async(function()
      local lock = asyncio.Lock()
      local order = {}
      await(lock:acquire())
      local tasks = {}
      for i = 1, 6 do
         tasks[i] = spawn(function()
            local _ <close> = await(lock:acquire())
            order[#order + 1] = i
            await(asyncio.sleep(0))
         end)
      end
      await(asyncio.sleep(0))
      lock:release()
      await(asyncio.gather(table.unpack(tasks)))
      assert.same({ 1, 2, 3, 4, 5, 6 }, order)
   end))

   it("keeps the order of the others when waiters are cancelled at either end or between",
      helper.async(function()
         local lock = asyncio.Lock()
         await(lock:acquire())
         local order, tasks = {}, {}
         for i = 1, 9 do
            tasks[i] = spawn(function()
               local _ <close> = await(lock:acquire())
               order[#order + 1] = i
            end)
         end
         await(asyncio.sleep(0))
         for _, i in ipairs({ 1, 9, 2, 5, 8, 3 }) do
            tasks[i]:cancel()
         end
         await(asyncio.sleep(0))
         lock:release()
         tasks[10] = { return_exceptions = true }
         await(asyncio.gather(table.unpack(tasks, 1, 10)))
         assert.same({ 4, 6, 7 }, order)
      end))

   it("a waiter cancelled after it was woken does not keep the lock", helper.async(function()
      local lock = asyncio.Lock()
      await(lock:acquire())
      local first = asyncio.create_task(lock:acquire())
      local second = asyncio.create_task(lock:acquire())
      await(asyncio.sleep(0))
      lock:release() -- wakes first
      first:cancel() -- before it ran
      cancelled(first)
      assert.equal(lock, await(second))
      assert.is_true(lock:locked())
   end))

   it("raises when released while not locked", function()
      local lock = asyncio.Lock()
      local ok, err = pcall(lock.release, lock)
      assert.is_false(ok)
      assert.matches("Lock is not acquired%.", err)
   end)

   it("misuse through a Condition or a <close> names the user's line", helper.async(function()
      local function line_of(f)
         local ok, err = pcall(f)
         assert.is_false(ok)
         return err:match("^[^:]*locks_spec%.lua:(%d+): ") and err:gsub("^[^:]*:%d+: ", "")
      end
      local cond, lock, sem = asyncio.Condition(), asyncio.Lock(), asyncio.BoundedSemaphore(1)
      assert.equal("Lock is not acquired.", line_of(function() cond:release() end))
      assert.equal("Lock is not acquired.", line_of(function()
         local _ <close> = await(lock:acquire())
         lock:release()
      end))
      assert.equal("Lock is not acquired.", line_of(function()
         local _ <close> = await(cond:acquire())
         cond:release()
      end))
      assert.equal("BoundedSemaphore released too many times", line_of(function()
         local _ <close> = await(sem:acquire())
         sem:release()
      end))
      -- as Python: notify checks the lock before its argument
      assert.has_error(function() cond:notify("2") end, "cannot notify on un-acquired lock")
   end))

   it("methods called with a dot instead of a colon name the mistake at the caller's line", function()
      local lock, event, cond, sem = asyncio.Lock(), asyncio.Event(), asyncio.Condition(), asyncio.BoundedSemaphore()
      each_names_bad_self({
         ["lock.release"] = function() lock.release() end,
         ["lock.locked"] = function() local held = lock.locked({}) return held end,
         ["event.set"] = function() event.set() end,
         ["cond.notify"] = function() cond.notify() end,
         ["sem.release"] = function() sem.release() end,
      }, "^spec/locks_spec.lua:%d+: calling '%w+' on bad self %(asyncio%.%w+ expected, got %w+%)")
      assert.is_false(lock:locked()) -- the colon still works
   end)

   it("so do the methods of Barrier, Server, Timeout and ThreadPoolExecutor", helper.async(function()
      local barrier, executor = asyncio.Barrier(2), asyncio.ThreadPoolExecutor(1)
      local server = await(asyncio.start_server(function() end, "127.0.0.1", 0))
      local guard <close> = asyncio.timeout(5)
      each_names_bad_self({
         ["barrier.wait"] = function() local aw = barrier.wait() return aw end,
         ["barrier.abort"] = function() local aw = barrier.abort({}) return aw end,
         ["server.close"] = function() server.close() end,
         ["server.wait_closed"] = function() local aw = server.wait_closed() return aw end,
         ["server.getsockname"] = function() local port = server.getsockname() return port end,
         ["guard.expired"] = function() local e = guard.expired() return e end,
         ["executor.submit"] = function() local f = executor.submit(print) return f end,
         ["executor.shutdown"] = function() executor.shutdown() end,
      }, "^spec/locks_spec.lua:%d+: calling '[%w_]+' on bad self %([%w.]+ expected, got %w+%)")
      -- the colon still works, and async methods stay async
      assert.is_true(asyncio.iscoroutinefunction(barrier.wait))
      assert.is_true(asyncio.iscoroutinefunction(server.serve_forever))
      assert.is_false(guard:expired())
      assert.is_true(server:is_serving())
      server:close()
      await(server:wait_closed())
      executor:shutdown()
   end))

   it("constructors refuse extra arguments, as Python's (an old loop argument)", function()
      local loop = asyncio.new_event_loop()
      assert.has_error(function() asyncio.Lock(loop) end,
                       "bad argument #1 to 'Lock' (no value expected, got asyncio.Loop)")
      assert.has_error(function() asyncio.Event(loop) end)
      assert.has_error(function() asyncio.Condition(nil, loop) end)
      assert.has_error(function() asyncio.Semaphore(1, loop) end)
      assert.has_error(function() asyncio.BoundedSemaphore(1, loop) end)
      assert.has_error(function() asyncio.Barrier(2, loop) end,
                       "bad argument #2 to 'Barrier' (no value expected, got asyncio.Loop)")
      assert.has_error(function() asyncio.Condition():wait_for(5) end,
                       "bad argument #1 to 'wait_for' (function expected, got number)")
      loop:close()
   end)

   it("methods refuse arguments past their own, as Python's (threading-style timeouts waited forever)",
      function()
         local lock, ev, cond = asyncio.Lock(), asyncio.Event(), asyncio.Condition()
         local sem, barrier = asyncio.Semaphore(1), asyncio.Barrier(2)
         local function err_of(f)
            local ok, err = pcall(f)
            assert.is_false(ok)
            return (err:gsub("^spec/locks_spec%.lua:%d+: ", "HERE: "))
         end
         assert.equal("HERE: bad argument #1 to 'wait' (no value expected, got number)",
            err_of(function() local _ = ev:wait(0.1) end))
         assert.equal("HERE: bad argument #1 to 'acquire' (no value expected, got boolean)",
            err_of(function() local _ = lock:acquire(false) end))
         assert.equal("HERE: bad argument #1 to 'release' (no value expected, got number)",
            err_of(function() sem:release(2) end)) -- it released one
         assert.equal("HERE: bad argument #2 to 'wait_for' (no value expected, got number)",
            err_of(function() local _ = cond:wait_for(print, 1) end))
         assert.equal("HERE: bad argument #1 to 'wait' (no value expected, got number)",
            err_of(function() local _ = barrier:wait(1) end))
         assert.equal("HERE: bad argument #1 to 'set' (no value expected, got number)",
            err_of(function() ev:set(1) end))
         assert.is_false(ev:is_set())
         assert.equal(1, sem._value)
         -- what they take still passes: notify(n) gets as far as its lock check
         assert.matches("cannot notify on un%-acquired lock", err_of(function() cond:notify(1) end))
      end)

   it("raises when acquired outside a task", function()
      local lock = asyncio.Lock()
      local ok, err = pcall(await, lock:acquire())
      assert.is_false(ok)
      assert.matches("await called outside of a running task", err)
      assert.is_false(lock:locked())
   end)

   it("acquire() is a reusable coroutine object", helper.async(function()
      local lock = asyncio.Lock()
      local op = lock:acquire()
      assert.equal(op, lock:acquire())
      assert.is_true(asyncio.iscoroutine(op))
      assert.matches("^<coroutine object Lock%.acquire at 0x%x+>$", tostring(op))
      local t = asyncio.create_task(op)
      assert.equal(lock, await(t))
      lock:release()
      assert.equal(lock, op:await())
      lock:release()
   end))

   it("allocates nothing when uncontended", helper.async(function()
      local lock = asyncio.Lock()
      await(lock:acquire())
      lock:release()
      collectgarbage("stop")
      local before = collectgarbage("count")
      for _ = 1, 1000 do
         local _ <close> = await(lock:acquire())
      end
      local grown = collectgarbage("count") - before
      collectgarbage("restart")
      assert.is_true(grown < 1, ("grew by %.1f KiB"):format(grown))
   end))

   it("is bound to the loop that first waits on it", function()
      local lock = asyncio.Lock()
      helper.run(function()
         await(lock:acquire())
         local t = asyncio.create_task(lock:acquire())
         await(asyncio.sleep(0))
         lock:release()
         await(t)
      end)
      local ok, err = pcall(helper.run, function() await(lock:acquire()) end)
      assert.is_false(ok)
      assert.matches("<asyncio%.Lock object at .*> is bound to a different event loop", err)
   end)

   it("is collected with its operations once unreachable", function()
      local weak = setmetatable({}, { __mode = "v" })
      helper.run(function()
         local lock = asyncio.Lock()
         weak.lock, weak.op = lock, lock:acquire()
         await(lock:acquire())
         local t = asyncio.create_task(lock:acquire())
         await(asyncio.sleep(0))
         lock:release()
         await(t)
      end)
      helper.full_gc()
      assert.is_nil(weak.lock)
      assert.is_nil(weak.op)
   end)
end)

describe("Event", function()
   it("wakes every waiter; one cancelled meanwhile does not matter", helper.async(function()
      local ev = asyncio.Event()
      local woke = {}
      local tasks = {}
      for i = 1, 3 do
         tasks[i] = spawn(function()
            assert.is_true(await(ev:wait()))
            woke[#woke + 1] = i
         end)
      end
      await(asyncio.sleep(0))
      tasks[2]:cancel()
      ev:set()
      cancelled(tasks[2])
      await(tasks[1])
      await(tasks[3])
      assert.same({ 1, 3 }, woke)
      assert.is_true(await(ev:wait())) -- set: no wait
   end))

   it("wait() is a reusable coroutine object", helper.async(function()
      local ev = asyncio.Event()
      assert.equal(ev:wait(), ev:wait())
      local t = asyncio.create_task(ev:wait())
      await(asyncio.sleep(0))
      ev:set()
      assert.is_true(await(t))
   end))
end)

describe("Condition", function()
   it("a notified waiter cancelled before it ran passes the notification on", helper.async(function()
      local cond = asyncio.Condition()
      local woke = {}
      local function waiter(name)
         return spawn(function()
            local _ <close> = await(cond:acquire())
            await(cond:wait())
            woke[#woke + 1] = name
         end)
      end
      local a, b = waiter("a"), waiter("b")
      await(asyncio.sleep(0))
      do
         local _ <close> = await(cond:acquire())
         cond:notify(1) -- meant for a
         a:cancel()
      end
      cancelled(a)
      await(b) -- b got the notification a could not use
      assert.same({ "b" }, woke)
   end))

   it("reacquires the lock before a cancelled wait() raises", helper.async(function()
      local cond = asyncio.Condition()
      local held_after
      local t = spawn(function()
         local _ <close> = await(cond:acquire())
         local ok = pcall(await, cond:wait())
         held_after = cond:locked()
         assert.is_false(ok)
      end)
      await(asyncio.sleep(0))
      local _ <close> = await(cond:acquire()) -- hold the lock while t is cancelled
      t:cancel()
      await(asyncio.sleep(0))
      assert.is_false(t:done()) -- t waits for the lock before it raises
      cond:release()
      await(t)
      assert.is_true(held_after)
      await(cond:acquire())
   end))

   it("wait() and wait_for() without the lock raise the same bare message", helper.async(function()
      local cond = asyncio.Condition()
      assert.equal("cannot wait on un-acquired lock", helper.error_of(await, cond:wait()))
      assert.equal("cannot wait on un-acquired lock",
         helper.error_of(await, cond:wait_for(function() return false end)))
      -- awaited by the user's code, it names that line (it named none)
      local ok, err = pcall(function() local _ = await(cond:wait()) end)
      assert.is_false(ok)
      assert.matches("^spec/locks_spec%.lua:%d+: cannot wait on un%-acquired lock$", err)
   end))

   it("wait_for() resolves to the predicate's value", helper.async(function()
      local cond = asyncio.Condition()
      local value
      local t = spawn(function()
         local _ <close> = await(cond:acquire())
         return await(cond:wait_for(function() return value end))
      end)
      await(asyncio.sleep(0))
      local values = { n = 3, false, nil, "ready" }
      for i = 1, values.n do
         local _ <close> = await(cond:acquire())
         value = values[i]
         cond:notify_all()
         await(asyncio.sleep(0))
      end
      assert.equal("ready", await(t))
   end))

   it("checks its arguments", helper.async(function()
      local ok, err = pcall(asyncio.Condition, {})
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'Condition' %(Lock expected, got table%)", err)
      local cond = asyncio.Condition()
      await(cond:acquire())
      ok, err = pcall(cond.notify, cond, "two")
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'notify' %(number expected, got string%)", err)
      cond:release()
      ok, err = pcall(cond.notify, cond)
      assert.is_false(ok)
      assert.matches("cannot notify on un%-acquired lock", err)
   end))

   it("a task collected in wait() takes the free lock back before its <close> releases it, as Python does", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local released
      do
         local cond = asyncio.Condition()
         loop:create_task(function()
            local _ <close> = await(cond:acquire())
            local _ <close> = setmetatable({}, { __close = function() released = not cond:locked() end })
            await(cond:wait())
         end)
         loop:run_until_complete(asyncio.sleep(0))
      end
      helper.full_gc()
      -- Python reports the task alone; the release found the lock held
      assert.equal(1, #reports)
      assert.equal("Task was destroyed but it is pending!", reports[1].message)
      assert.is_nil(reports[1].error)
      assert.is_false(released)
      loop:close()
   end)
end)

describe("Semaphore", function()
   it("a waiter cancelled after it got a permit gives it back", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local first = asyncio.create_task(sem:acquire())
      local second = asyncio.create_task(sem:acquire())
      await(asyncio.sleep(0))
      sem:release() -- the permit goes to first
      first:cancel() -- before it ran
      cancelled(first)
      assert.equal(sem, await(second))
      assert.is_true(sem:locked())
      assert.equal(0, sem._value)
   end))

   it("is locked while tasks wait, even with permits left (FIFO)", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local t = asyncio.create_task(sem:acquire())
      await(asyncio.sleep(0))
      sem:release()
      sem:release()
      assert.is_true(sem:locked()) -- t was woken but has not run
      await(t)
      assert.is_false(sem:locked())
   end))

   it("checks its argument", function()
      for _, bad in ipairs({ { -1, "value must be >= 0" }, { 1.5, "number has no integer representation" },
         { 2 ^ 63, "number has no integer representation" }, { 0 / 0, "number has no integer representation" },
         { "3", "integer expected, got string" } }) do
         local ok, err = pcall(asyncio.Semaphore, bad[1])
         assert.is_false(ok)
         assert.matches("bad argument #1 to 'Semaphore' %(" .. bad[2]:gsub("%-", "%%-") .. "%)", err)
      end
      assert.is_false(asyncio.Semaphore(0.0 + 2):locked())
   end)
end)

describe("BoundedSemaphore", function()
   it("raises when released above its initial value", helper.async(function()
      local sem = asyncio.BoundedSemaphore(2)
      await(sem:acquire())
      sem:release()
      local ok, err = pcall(sem.release, sem)
      assert.is_false(ok)
      assert.matches("BoundedSemaphore released too many times", err)
      assert.matches("%[unlocked, value:2%]", tostring(sem))
      assert.is_false(pcall(asyncio.BoundedSemaphore, -1))
   end))

   it("a waiter cancelled after it got a permit gives it back", helper.async(function()
      local sem = asyncio.BoundedSemaphore(1)
      await(sem:acquire())
      local first = asyncio.create_task(sem:acquire())
      local second = asyncio.create_task(sem:acquire())
      await(asyncio.sleep(0))
      sem:release()
      first:cancel()
      cancelled(first)
      await(second)
      sem:release()
      assert.is_false(pcall(sem.release, sem))
   end))
end)
