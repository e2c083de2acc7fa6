-- More scenarios from CPython 3.13's Lib/test/test_asyncio: test_locks.py
-- (Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier),
-- test_queues.py (Queue, LifoQueue, PriorityQueue) and test_pep492.py
-- (await semantics), beyond the tests locks_cpython_spec.lua,
-- barrier_spec.lua, queues_cpython_spec.lua and coroutines_spec.lua port
-- one by one: variations on those tests (more waiters, cancellations at
-- other points, the documented corner cases), each named after the test
-- it extends. Every expected value, and every order of wakeups, is what
-- the same scenario printed under CPython 3.13. `async with x` is
-- `local _ <close> = await(x:acquire())`.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function spawn(fn, ...)
   return asyncio.create_task(async(fn)(...))
end

local spin = helper.spin

describe("CPython test_pep492 (Lua forms)", function()
   it("awaiting a primitive or a queue itself raises and takes nothing "
      .. "(test_lock_by_with_statement, test_context_manager_with_await)", helper.async(function()
      for _, make in ipairs({ asyncio.Lock, asyncio.Condition, asyncio.Semaphore, asyncio.BoundedSemaphore,
                              asyncio.Event, function() return asyncio.Barrier(1) end, asyncio.Queue }) do
         local x = make()
         await(asyncio.sleep(0.01))
         local err = helper.failure(await, x)
         assert.matches("bad argument #1 to 'await' %(awaitable expected, got asyncio%.%a+%)", err)
         if x.locked then
            assert.is_false(x:locked())
         end
      end
   end))

   it("a coroutine object that a task runs cannot be awaited too (test_double_await)", helper.async(function()
      local afunc = async(function()
         await(asyncio.sleep(0.02))
         return "x"
      end)
      local coro = afunc()
      local t = asyncio.create_task(coro)
      await(asyncio.sleep(0))
      assert.is_string(helper.failure(await, coro))
      -- the task is not disturbed by the failed await
      assert.equal("x", await(t))
      assert.equal("cannot reuse already awaited coroutine", helper.error_of(await, coro))
   end))

   it("says the coroutine is being awaited already, as Python does (test_double_await)", helper.async(function()
      local coro = async(function() await(asyncio.sleep(0.02)) end)()
      local t = asyncio.create_task(coro)
      await(asyncio.sleep(0))
      assert.equal("coroutine is being awaited already", helper.error_of(await, coro))
      await(t)
      -- once the task is done, Python's other message
      assert.equal("cannot reuse already awaited coroutine", helper.error_of(await, coro))
   end))

   it("chained coroutine objects give their value, in debug mode too (test_async_def_coroutines)", function()
      local bar = async(function() return "spam" end)
      local foo = async(function() return await(bar()) end)
      local loop = asyncio.new_event_loop()
      assert.equal("spam", loop:run_until_complete(foo()))
      loop:set_debug(true)
      assert.equal("spam", loop:run_until_complete(foo()))
      loop:close()
      asyncio.set_event_loop(nil)
   end)

   it("an __await value is awaitable, any number of times, and no coroutine (test_iscoroutine)",
      helper.async(function()
      local box = setmetatable({}, { __await = function() return asyncio.sleep(0, "v") end })
      assert.equal("v", await(box))
      assert.is_false(asyncio.iscoroutine(box))
      assert.equal("v", await(box))
      local t = asyncio.ensure_future(box)
      assert.is_true(asyncio.isfuture(t))
      assert.equal("v", await(t))
      assert.is_false(asyncio.iscoroutine(t))
   end))

   it("a plain Lua coroutine is no coroutine object (test_iscoroutine_generator)", function()
      assert.is_false(asyncio.iscoroutine(coroutine.create(function() end)))
      assert.is_false(asyncio.iscoroutinefunction(coroutine.wrap(function() end)))
      local co = async(function() end)()
      assert.is_true(asyncio.iscoroutine(co))
      helper.run(co)
   end)

   it("a task's traceback names the function it is suspended in (test_task_print_stack)", helper.async(function()
      local line
      local function foo()
         line = debug.getinfo(1, "l").currentline + 1
         await(asyncio.sleep(0.02))
      end
      local t = asyncio.create_task(async(foo)())
      await(asyncio.sleep(0))
      -- Lua names the frame by where foo is defined, not by its name
      assert.matches("\n%s*spec/sync_cpython_spec%.lua:" .. line .. ": in function <spec/sync_cpython_spec%.lua:%d+>",
         t:traceback())
      await(t)
   end))
end)

describe("CPython test_locks: Condition, more", function()
   local function waiters_logging(c, log, n)
      local ts = {}
      for i = 0, n - 1 do
         ts[#ts + 1] = spawn(function()
            local _ <close> = await(c:acquire())
            await(c:wait())
            log[#log + 1] = i
         end)
      end
      return ts
   end

   it("notify(0) wakes none, notify(2) two, notify(10) the rest, in order (test_notify)", helper.async(function()
      local c, log = asyncio.Condition(), {}
      local ts = waiters_logging(c, log, 5)
      spin()
      do
         local _ <close> = await(c:acquire())
         c:notify(0)
      end
      spin()
      assert.same({}, log)
      do
         local _ <close> = await(c:acquire())
         c:notify(2)
      end
      spin(2)
      assert.same({ 0, 1 }, log)
      do
         local _ <close> = await(c:acquire())
         c:notify(10)
      end
      spin(6)
      assert.same({ 0, 1, 2, 3, 4 }, log)
      do
         local _ <close> = await(c:acquire())
         c:notify(1) -- nobody waits: nothing happens
      end
      await(asyncio.gather(table.unpack(ts)))
   end))

   it("a waiter cancelled before notify(2) passes a wakeup on: 0, 2 and 3 run (test_cancelled_wakeup)",
      helper.async(function()
      local c, log = asyncio.Condition(), {}
      local ts = waiters_logging(c, log, 4)
      spin()
      ts[2]:cancel()
      spin()
      do
         local _ <close> = await(c:acquire())
         c:notify(2)
      end
      spin(5)
      assert.same({ 0, 2, 3 }, log)
      assert.is_true(ts[2]:cancelled())
      do
         local _ <close> = await(c:acquire())
         c:notify_all()
      end
      await(asyncio.gather(ts[1], ts[3], ts[4]))
      assert.same({ 0, 2, 3 }, log)
   end))

   it("a predicate's error leaves wait_for with the lock held (test_wait_for)", helper.async(function()
      local c, n = asyncio.Condition(), 0
      local boom = setmetatable({}, { __tostring = function() return "pred" end })
      local function pred()
         n = n + 1
         if n == 2 then
            error(boom)
         end
         return false
      end
      local held_at_error
      local t = spawn(function()
         local _ <close> = await(c:acquire())
         local ok, err = pcall(await, c:wait_for(pred))
         held_at_error = c:locked()
         if not ok then
            error(err, 0)
         end
      end)
      spin()
      do
         local _ <close> = await(c:acquire())
         c:notify()
      end
      assert.equal(boom, helper.failure(await, t))
      assert.is_true(held_at_error)
      assert.is_false(c:locked())
      assert.equal(2, n)
   end))

   it("notify_all wakes only the waiters whose predicate holds, with its value (test_wait_for)",
      helper.async(function()
      local c, v, log = asyncio.Condition(), 0, {}
      local ts = {}
      for i, target in ipairs({ 2, 1, 3 }) do
         ts[#ts + 1] = spawn(function()
            local _ <close> = await(c:acquire())
            local r = await(c:wait_for(function() return v >= target and v end))
            log[#log + 1] = { i - 1, r }
         end)
      end
      spin()
      local expected = { { { 1, 1 } }, { { 1, 1 }, { 0, 2 } }, { { 1, 1 }, { 0, 2 }, { 2, 3 } } }
      for step = 1, 3 do
         do
            local _ <close> = await(c:acquire())
            v = step
            c:notify_all()
         end
         spin(4)
         assert.same(expected[step], log)
      end
      await(asyncio.gather(table.unpack(ts)))
   end))

   it("two conditions on one lock: notifying one wakes none of the other (test_explicit_lock)",
      helper.async(function()
      local lock = asyncio.Lock()
      local a, b = asyncio.Condition(lock), asyncio.Condition(lock)
      local log = {}
      local function w(c, name)
         return spawn(function()
            local _ <close> = await(c:acquire())
            await(c:wait())
            log[#log + 1] = name
         end)
      end
      local ta, tb = w(a, "a"), w(b, "b")
      spin()
      do
         local _ <close> = await(a:acquire())
         assert.is_true(b:locked())
         a:notify_all()
      end
      spin(3)
      assert.same({ "a" }, log)
      assert.is_false(tb:done())
      do
         local _ <close> = await(b:acquire())
         b:notify()
      end
      await(asyncio.gather(ta, tb))
      assert.same({ "a", "b" }, log)
   end))
end)

describe("CPython test_locks: Semaphore, Event and Lock, more", function()
   it("releases made while tasks wait go to them in order; a newcomer waits behind (test_acquire_fifo_order)",
      helper.async(function()
      local sem, log = asyncio.Semaphore(0), {}
      local function w(i)
         return spawn(function()
            await(sem:acquire())
            log[#log + 1] = i
         end)
      end
      local ts = {}
      for i = 0, 4 do
         ts[#ts + 1] = w(i)
      end
      spin()
      assert.is_true(sem:locked())
      sem:release()
      sem:release()
      sem:release()
      assert.is_true(sem:locked())
      spin()
      assert.same({ 0, 1, 2 }, log)
      assert.is_true(sem:locked())
      sem:release()
      ts[#ts + 1] = w(99)
      spin(2)
      assert.same({ 0, 1, 2, 3 }, log)
      assert.is_true(sem:locked())
      sem:release()
      sem:release()
      await(asyncio.gather(table.unpack(ts)))
      assert.same({ 0, 1, 2, 3, 4, 99 }, log)
      assert.is_true(sem:locked())
   end))

   it("a BoundedSemaphore stays locked while a woken waiter has not run, "
      .. "and refuses a release above its value (test_release_not_acquired)", helper.async(function()
      local b = asyncio.BoundedSemaphore(2)
      await(b:acquire())
      await(b:acquire())
      assert.is_true(b:locked())
      local t = asyncio.create_task(b:acquire())
      spin()
      b:release()
      assert.is_true(b:locked())
      await(t)
      b:release()
      b:release()
      assert.matches("BoundedSemaphore released too many times", helper.failure(b.release, b))
      assert.is_false(b:locked())
   end))

   it("set() then clear() still wakes every waiter with true, not a later one (test_clear_with_waiters)",
      helper.async(function()
      local e, log = asyncio.Event(), {}
      local function w(i)
         return spawn(function()
            local r = await(e:wait())
            log[#log + 1] = { i, r }
         end)
      end
      local ts = { w(0), w(1), w(2) }
      spin()
      e:set()
      e:clear()
      local t3 = w(3)
      spin()
      assert.same({ { 0, true }, { 1, true }, { 2, true } }, log)
      assert.is_false(e:is_set())
      assert.is_false(t3:done())
      e:set()
      await(t3)
      assert.same({ { 0, true }, { 1, true }, { 2, true }, { 3, true } }, log)
      e:set()
      assert.is_true(await(e:wait()))
      await(asyncio.gather(table.unpack(ts)))
   end))

   it("cancelling the woken waiter and another one: the lock goes to 1 then 3 (test_cancel_race)",
      helper.async(function()
      local lock, log = asyncio.Lock(), {}
      await(lock:acquire())
      local ts = {}
      for i = 0, 3 do
         ts[#ts + 1] = spawn(function()
            local _ <close> = await(lock:acquire())
            log[#log + 1] = i
            await(asyncio.sleep(0))
         end)
      end
      spin()
      lock:release()
      ts[1]:cancel()
      ts[3]:cancel()
      await(asyncio.gather(ts[1], ts[2], ts[3], ts[4], { return_exceptions = true }))
      assert.same({ 1, 3 }, log)
      local states = {}
      for i, t in ipairs(ts) do
         states[i] = t:cancelled()
      end
      assert.same({ true, false, true, false }, states)
      assert.is_false(lock:locked())
   end))
end)

describe("CPython test_locks: Barrier, more", function()
   it("abort() breaks the waiters, and later waits, until reset(); indexes of a new round "
      .. "(test_abort_barrier, test_reset_barrier)", helper.async(function()
      local b, log = asyncio.Barrier(3), {}
      local function w(i)
         return spawn(function()
            local ok, r = pcall(await, b:wait())
            if ok then
               log[#log + 1] = { i, r }
            else
               assert.is_true(asyncio.BrokenBarrierError:is(r), tostring(r))
               log[#log + 1] = { i, "broken" }
            end
         end)
      end
      w(0)
      spin()
      assert.equal(1, b.n_waiting)
      assert.is_false(b.broken)
      w(1)
      spin()
      assert.equal(2, b.n_waiting)
      await(b:abort())
      assert.equal(0, b.n_waiting)
      assert.is_true(b.broken)
      assert.same({}, log)
      spin()
      assert.same({ { 0, "broken" }, { 1, "broken" } }, log)
      await(w(2))
      assert.same({ { 0, "broken" }, { 1, "broken" }, { 2, "broken" } }, log)
      assert.equal(0, b.n_waiting)
      await(b:reset())
      assert.is_false(b.broken)
      assert.equal(0, b.n_waiting)
      await(asyncio.gather(w(3), w(4), w(5)))
      assert.same({ { 0, "broken" }, { 1, "broken" }, { 2, "broken" }, { 5, 2 }, { 3, 0 }, { 4, 1 } }, log)
      assert.equal(0, b.n_waiting)
      await(b:abort())
      await(b:abort())
      assert.is_true(b.broken)
      await(b:reset())
      await(b:reset())
      assert.is_false(b.broken)
   end))

   it("a barrier of one party never waits (test_filling_one_task)", helper.async(function()
      local b = asyncio.Barrier(1)
      assert.equal(0, await(b:wait()))
      assert.equal(0, await(b:wait()))
      assert.equal(0, b.n_waiting)
   end))

   it("a waiter cancelled while filling leaves it unbroken for the next two (test_filling_tasks_cancel_one)",
      helper.async(function()
      local b, log = asyncio.Barrier(2), {}
      local function w(i)
         return spawn(function()
            local r = await(b:wait())
            log[#log + 1] = { i, r }
         end)
      end
      local t0 = w(0)
      spin()
      t0:cancel()
      spin()
      assert.is_true(t0:cancelled())
      assert.equal(0, b.n_waiting)
      assert.is_false(b.broken)
      await(asyncio.gather(w(1), w(2)))
      assert.same({ { 2, 1 }, { 1, 0 } }, log)
   end))
end)

describe("CPython test_queues: more", function()
   it("each get_nowait() from a full queue lets the next blocked put() in (test_blocking_put_wait)",
      helper.async(function()
      local q, log = asyncio.Queue(2), {}
      q:put_nowait("a")
      q:put_nowait("b")
      local ts = {}
      for _, x in ipairs({ "c", "d", "e" }) do
         ts[#ts + 1] = spawn(function()
            await(q:put(x))
            log[#log + 1] = x
         end)
      end
      spin()
      assert.is_true(q:full())
      assert.equal(2, q:qsize())
      assert.equal("a", q:get_nowait())
      assert.is_false(q:full())
      assert.equal(1, q:qsize())
      spin()
      assert.same({ "c" }, log)
      assert.equal(2, q:qsize())
      assert.is_true(q:full())
      assert.equal("b", q:get_nowait())
      assert.equal("c", q:get_nowait())
      spin()
      assert.same({ "c", "d", "e" }, log)
      local rest = {}
      while not q:empty() do
         rest[#rest + 1] = q:get_nowait()
      end
      await(asyncio.gather(table.unpack(ts)))
      assert.same({ "d", "e" }, rest)
   end))

   it("an item taken by get_nowait() before the woken getter runs sends it back to wait "
      .. "(test_why_are_getters_waiting)", helper.async(function()
      local q, log = asyncio.Queue(), {}
      local t = spawn(function()
         local v = await(q:get())
         log[#log + 1] = v
      end)
      spin()
      q:put_nowait("x")
      assert.equal("x", q:get_nowait())
      spin()
      assert.same({}, log)
      assert.is_false(t:done())
      q:put_nowait("y")
      await(t)
      assert.same({ "y" }, log)
   end))

   it("blocked getters of a PriorityQueue get the smallest items in their order; "
      .. "ties go by the next element (PriorityQueueTests test_order)", helper.async(function()
      local q, log = asyncio.PriorityQueue(), {}
      local ts = {}
      for i = 0, 2 do
         ts[#ts + 1] = spawn(function()
            local v = await(q:get())
            log[#log + 1] = { i, v }
         end)
      end
      spin()
      for _, v in ipairs({ { 3, "c" }, { 1, "a" }, { 2, "b" } }) do
         q:put_nowait(v)
      end
      await(asyncio.gather(table.unpack(ts)))
      assert.same({ { 0, { 1, "a" } }, { 1, { 2, "b" } }, { 2, { 3, "c" } } }, log)
      for _, v in ipairs({ { 2, "b" }, { 1, "z" }, { 1, "a" }, { 0, "q" } }) do
         q:put_nowait(v)
      end
      local out = {}
      for i = 1, 4 do
         out[i] = q:get_nowait()
      end
      assert.same({ { 0, "q" }, { 1, "a" }, { 1, "z" }, { 2, "b" } }, out)
   end))

   it("a full LifoQueue hands out its last item, then the blocked put's (LifoQueueTests test_order)",
      helper.async(function()
      local q = asyncio.LifoQueue(2)
      q:put_nowait(1)
      q:put_nowait(2)
      local t = asyncio.create_task(q:put(3))
      spin()
      assert.equal(2, q:get_nowait())
      await(t)
      assert.equal(3, q:get_nowait())
      assert.equal(1, q:get_nowait())
      assert.is_true(q:empty())
   end))

   it("every join() returns once the last task_done() comes, and a later join waits again (test_task_done)",
      helper.async(function()
      local q, log = asyncio.Queue(), {}
      for i = 0, 2 do
         q:put_nowait(i)
      end
      local function j(i)
         return spawn(function()
            await(q:join())
            log[#log + 1] = i
         end)
      end
      local ts = { j(0), j(1), j(2) }
      spin()
      local seen = {}
      for k = 1, 3 do
         q:get_nowait()
         q:task_done()
         spin()
         seen[k] = { table.unpack(log) }
      end
      assert.same({ {}, {}, { 0, 1, 2 } }, seen)
      await(asyncio.gather(table.unpack(ts)))
      assert.matches("task_done%(%) called too many times", helper.failure(q.task_done, q))
      q:put_nowait("x")
      q:get_nowait()
      local t = j(9)
      spin()
      assert.is_false(t:done())
      q:task_done()
      await(t)
      assert.same({ 0, 1, 2, 9 }, log)
   end))

   it("shutdown() wakes a blocked put() with QueueShutDown; gets drain what is left, then raise "
      .. "(test_shutdown_nonempty)", helper.async(function()
      local q, log = asyncio.Queue(1), {}
      q:put_nowait("a")
      local tp = spawn(function()
         local ok, err = pcall(await, q:put("b"))
         assert.is_true(ok or asyncio.QueueShutDown:is(err), tostring(err))
         log[#log + 1] = ok and "put b" or "put-shutdown b"
      end)
      spin()
      q:shutdown()
      spin()
      assert.same({ "put-shutdown b" }, log)
      assert.equal(1, q:qsize())
      local ts = { tp }
      for i = 0, 2 do
         ts[#ts + 1] = spawn(function()
            local ok, v = pcall(await, q:get())
            assert.is_true(ok or asyncio.QueueShutDown:is(v), tostring(v))
            log[#log + 1] = ok and ("get " .. i .. " " .. v) or ("get-shutdown " .. i)
         end)
      end
      await(asyncio.gather(table.unpack(ts)))
      assert.same({ "put-shutdown b", "get 0 a", "get-shutdown 1", "get-shutdown 2" }, log)
      helper.raises(asyncio.QueueShutDown, q.put_nowait, q, "z")
      helper.raises(asyncio.QueueShutDown, q.get_nowait, q)
      q:shutdown()
      q:shutdown(true)
   end))

   it("shutdown(true) counts the dropped items as done; join still waits for the one gotten "
      .. "(test_shutdown_immediate_with_unfinished)", helper.async(function()
      local q, log = asyncio.Queue(), {}
      for i = 0, 2 do
         q:put_nowait(i)
      end
      q:get_nowait()
      local t = spawn(function()
         await(q:join())
         log[#log + 1] = "joined"
      end)
      spin()
      q:shutdown(true)
      spin()
      assert.same({}, log)
      assert.equal(0, q:qsize())
      assert.is_true(q:empty())
      q:task_done()
      await(t)
      assert.same({ "joined" }, log)
      assert.matches("task_done%(%) called too many times", helper.failure(q.task_done, q))
   end))

   it("a get() that timed out in wait_for takes nothing from the next getter (test_get_cancelled_race)",
      helper.async(function()
      local q, log = asyncio.Queue(), {}
      local ok, err = pcall(await, asyncio.wait_for(q:get(), 0.01))
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err), tostring(err))
      log[#log + 1] = "timeout"
      local t = spawn(function()
         local v = await(q:get())
         log[#log + 1] = v
      end)
      spin()
      q:put_nowait("v")
      await(t)
      assert.same({ "timeout", "v" }, log)
      assert.is_true(q:empty())
   end))
end)

describe("CPython test_locks and test_queues: corner cases", function()
   it("notify(-1) wakes nobody (test_notify)", helper.async(function()
      local c, log = asyncio.Condition(), {}
      local ts = {}
      for i = 0, 1 do
         ts[#ts + 1] = spawn(function()
            local _ <close> = await(c:acquire())
            await(c:wait())
            log[#log + 1] = i
         end)
      end
      spin()
      do
         local _ <close> = await(c:acquire())
         c:notify(-1)
      end
      spin(2)
      assert.same({}, log)
      do
         local _ <close> = await(c:acquire())
         c:notify_all()
      end
      await(asyncio.gather(table.unpack(ts)))
      assert.same({ 0, 1 }, log)
   end))

   it("a waiter cancelled before the release does not hold a newcomer back (test_cancel_race)",
      helper.async(function()
      local loop = asyncio.get_running_loop()
      local n = 0
      local function tick() n = n + 1 end
      for _, make in ipairs({ asyncio.Lock, function() return asyncio.Semaphore(0) end }) do
         local x = make()
         if x:locked() == false then
            await(x:acquire())
         end
         local t = asyncio.create_task(x:acquire())
         spin()
         t:cancel()
         x:release()
         assert.is_false(x:locked())
         n = 0
         loop:call_soon(tick)
         await(x:acquire()) -- at once: the only waiter is cancelled
         assert.equal(0, n)
         assert.is_true(x:locked())
         spin()
         assert.is_true(t:cancelled())
         x:release()
      end
   end))

   it("a Semaphore waiter cancelled after it was woken passes the permit to the next "
      .. "(test_acquire_cancel_before_awoken)", helper.async(function()
      local sem, log = asyncio.Semaphore(0), {}
      local ts = {}
      for i = 0, 2 do
         ts[#ts + 1] = spawn(function()
            await(sem:acquire())
            log[#log + 1] = i
         end)
      end
      spin()
      sem:release()
      ts[1]:cancel()
      spin(2)
      assert.same({ 1 }, log)
      assert.is_true(sem:locked())
      sem:release()
      await(asyncio.gather(ts[2], ts[3]))
      assert.same({ 1, 2 }, log)
   end))

   it("a task cancelled while the barrier drains leaves it unbroken, and the next round fills "
      .. "(test_draining_state)", helper.async(function()
      local b, log = asyncio.Barrier(2), {}
      local function bw(i)
         return spawn(function()
            local ok, v = pcall(await, b:wait())
            if ok then
               log[#log + 1] = { i, v }
            else
               assert.is_true(asyncio.CancelledError:is(v), tostring(v))
               log[#log + 1] = { i, "cancelled" }
               error(v, 0)
            end
         end)
      end
      local t0 = bw(0)
      spin()
      local t1 = bw(1)
      spin()
      assert.same({ { 1, 1 } }, log)
      assert.equal(0, b.n_waiting)
      t0:cancel()
      await(asyncio.gather(t0, t1, { return_exceptions = true }))
      assert.same({ { 1, 1 }, { 0, "cancelled" } }, log)
      assert.equal(0, b.n_waiting)
      assert.is_false(b.broken)
      assert.is_true(t0:cancelled())
      await(asyncio.gather(bw(2), bw(3)))
      assert.same({ { 1, 1 }, { 0, "cancelled" }, { 3, 1 }, { 2, 0 } }, log)
   end))

   it("maxsize -1 and 0 are unbounded; a PriorityQueue of 2 is full with 2 (test_maxsize)", function()
      for _, m in ipairs({ -1, 0 }) do
         local q = asyncio.Queue(m)
         for i = 0, 4 do
            q:put_nowait(i)
         end
         assert.equal(m, q.maxsize)
         assert.is_false(q:full())
         assert.equal(5, q:qsize())
      end
      local q = asyncio.PriorityQueue(2)
      q:put_nowait(5)
      q:put_nowait(1)
      assert.is_true(q:full())
   end)

   it("shutdown(true) fails a put() woken for a free slot, the getters, then the other put() "
      .. "(test_shutdown_immediate)", helper.async(function()
      local q, log = asyncio.Queue(1), {}
      q:put_nowait("a")
      local function g(i)
         return spawn(function()
            local ok, v = pcall(await, q:get())
            assert.is_true(ok or asyncio.QueueShutDown:is(v), tostring(v))
            log[#log + 1] = ok and ("get " .. i) or ("g-sd " .. i)
         end)
      end
      local function p(x)
         return spawn(function()
            local ok, v = pcall(await, q:put(x))
            assert.is_true(ok or asyncio.QueueShutDown:is(v), tostring(v))
            log[#log + 1] = ok and ("put " .. x) or ("p-sd " .. x)
         end)
      end
      local pb, pc = p("b"), p("c")
      spin()
      assert.equal("a", q:get_nowait()) -- wakes the put of b
      local g0, g1 = g(0), g(1)
      q:shutdown(true)
      await(asyncio.gather(pb, pc, g0, g1))
      assert.same({ "p-sd b", "g-sd 0", "g-sd 1", "p-sd c" }, log)
      assert.equal(0, q:qsize())
   end))
end)

describe("CPython test_pep492: more", function()
   it("an error in an __await hook reaches the awaiting task unchanged (test_types_coroutine)",
      helper.async(function()
      local boom = {}
      local bad = setmetatable({}, { __await = function() error(boom) end })
      assert.equal(boom, helper.failure(await, bad))
   end))

   it("a stream is read line by line until its end (test_readline)", helper.async(function()
      -- Python's `async for line in stream` gives b'line1\n', b'line2\n', b'line3';
      -- reader:lines() drops the newlines, as io.lines does (API.md §9)
      local function proc()
         return await(asyncio.create_subprocess_exec("printf", { "line1\\nline2\\nline3" },
            { stdout = asyncio.PIPE }))
      end
      local p = proc()
      local data = {}
      while true do
         local line = await(p.stdout:readline())
         if not line then
            break
         end
         data[#data + 1] = line
      end
      assert.same({ "line1\n", "line2\n", "line3" }, data)
      await(p:wait())
      p = proc()
      data = {}
      for line in p.stdout:lines() do
         data[#data + 1] = line
      end
      assert.same({ "line1", "line2", "line3" }, data)
      await(p:wait())
   end))
end)

describe("CPython test_locks: timeouts", function()
   it("wait_for(..., 0) times out even when the operation would not wait (test_timeout_in_block)",
      helper.async(function()
      -- Python wraps the coroutine in a task that is cancelled before it starts
      local lock = asyncio.Lock()
      helper.raises(asyncio.TimeoutError, await, asyncio.wait_for(lock:acquire(), 0))
      assert.is_false(lock:locked())
      local q = asyncio.Queue()
      q:put_nowait(1)
      helper.raises(asyncio.TimeoutError, await, asyncio.wait_for(q:get(), 0))
      assert.equal(1, q:qsize())
      local e = asyncio.Event()
      e:set()
      helper.raises(asyncio.TimeoutError, await, asyncio.wait_for(e:wait(), 0))
   end))

   it("a Condition wait() timing out gives the lock back to the holder (test_timeout_in_block)",
      helper.async(function()
      local c = asyncio.Condition()
      do
         local _ <close> = await(c:acquire())
         for _, t in ipairs({ 0, 0.01 }) do
            helper.raises(asyncio.TimeoutError, await, asyncio.wait_for(c:wait(), t))
            assert.is_true(c:locked())
         end
      end
      assert.is_false(c:locked())
   end))
end)
