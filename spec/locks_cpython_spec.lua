-- CPython's Lib/test/test_asyncio/test_locks.py (3.13): the Lock, Event,
-- Condition and Semaphore scenarios, in Lua (Barrier's are in
-- barrier_spec.lua). Python's `await x.acquire()` returns True; ours
-- resolves to the object itself, so those checks test for it. Counts of
-- private waiter lists are read from tostring, which shows them as
-- Python's repr does.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function spawn(fn, ...)
   return asyncio.create_task(async(fn)(...))
end

local cancelled = helper.cancelled

local function waiters(x)
   return tonumber(tostring(x):match("waiters:(%d+)") or 0)
end

describe("CPython test_locks: LockTests", function()
   it("test_repr", helper.async(function()
      local lock = asyncio.Lock()
      assert.matches("^<asyncio%.Lock object at .* %[unlocked%]>$", tostring(lock))
      await(lock:acquire())
      assert.matches("%[locked%]>$", tostring(lock))
   end))

   it("test_lock", function()
      local lock = asyncio.Lock()
      local ok, err = pcall(helper.run, function() await(lock) end)
      assert.is_false(ok)
      assert.matches("awaitable expected", err)
      assert.is_false(lock:locked())
   end)

   it("test_acquire", helper.async(function()
      local lock = asyncio.Lock()
      local result = {}
      assert.equal(lock, await(lock:acquire()))
      local function c(n)
         return spawn(function()
            if await(lock:acquire()) then
               result[#result + 1] = n
            end
            return true
         end)
      end
      local t1, t2 = c(1), c(2)
      await(asyncio.sleep(0))
      assert.same({}, result)
      lock:release()
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      local t3 = c(3)
      lock:release()
      await(asyncio.sleep(0))
      assert.same({ 1, 2 }, result)
      lock:release()
      await(asyncio.sleep(0))
      assert.same({ 1, 2, 3 }, result)
      for _, t in ipairs({ t1, t2, t3 }) do
         assert.is_true(t:done())
         assert.is_true(t:result())
      end
   end))

   it("test_acquire_cancel", helper.async(function()
      local lock = asyncio.Lock()
      await(lock:acquire())
      local task = asyncio.create_task(lock:acquire())
      asyncio.get_running_loop():call_soon(task.cancel, task)
      cancelled(task)
      assert.equal(0, waiters(lock))
   end))

   it("test_cancel_race", helper.async(function()
      -- A holds the lock, B and C wait; B is cancelled while A releases:
      -- the lock must go to C.
      local lock = asyncio.Lock()
      local lockit = async(function(blocker)
         await(lock:acquire())
         local ok, err = pcall(function()
            if blocker ~= nil then
               await(blocker)
            end
         end)
         lock:release()
         if not ok then
            error(err, 0)
         end
      end)
      local fa = asyncio.get_running_loop():create_future()
      local ta = asyncio.create_task(lockit(fa))
      await(asyncio.sleep(0))
      assert.is_true(lock:locked())
      local tb = asyncio.create_task(lockit(nil))
      await(asyncio.sleep(0))
      assert.equal(1, waiters(lock))
      local tc = asyncio.create_task(lockit(nil))
      await(asyncio.sleep(0))
      assert.equal(2, waiters(lock))
      -- Create the race and check.
      fa:set_result(nil)
      tb:cancel()
      await(asyncio.sleep(0))
      assert.is_false(lock:locked())
      assert.is_true(ta:done())
      assert.is_true(tb:cancelled())
      await(tc)
   end))

   it("test_cancel_release_race", helper.async(function()
      -- Acquire 4 locks, cancel second, release first: only one may be taken.
      local loop = asyncio.get_running_loop()
      local lock = asyncio.Lock()
      local lock_count, call_count = 0, 0
      local lockit = async(function()
         call_count = call_count + 1
         await(lock:acquire())
         lock_count = lock_count + 1
      end)
      await(lock:acquire())
      local t1 = asyncio.create_task(lockit())
      local t2 = asyncio.create_task(lockit())
      local t3 = asyncio.create_task(lockit())
      await(asyncio.sleep(0))
      loop:call_soon(function()
         t1:cancel()
         lock:release()
      end)
      cancelled(t1)
      -- Make sure only one lock was taken
      assert.equal(1, lock_count)
      -- While 3 calls were made to lockit()
      assert.equal(3, call_count)
      assert.is_true(t1:cancelled() and t2:done())
      -- Cleanup the task that is stuck on acquire.
      t3:cancel()
      await(asyncio.sleep(0))
      assert.is_true(t3:cancelled())
   end))

   it("test_finished_waiter_cancelled", helper.async(function()
      local lock = asyncio.Lock()
      await(lock:acquire())
      assert.is_true(lock:locked())
      local tb = asyncio.create_task(lock:acquire())
      await(asyncio.sleep(0))
      assert.equal(1, waiters(lock))
      -- Create a second waiter, wake up the first, and cancel it.
      -- Without the fix, the second was not woken up.
      local tc = asyncio.create_task(lock:acquire())
      tb:cancel()
      lock:release()
      await(asyncio.sleep(0))
      assert.is_true(lock:locked())
      assert.is_true(tb:cancelled())
      await(tc)
   end))

   it("test_release_not_acquired", function()
      local lock = asyncio.Lock()
      assert.is_false(pcall(lock.release, lock))
   end)

   it("test_release_no_waiters", helper.async(function()
      local lock = asyncio.Lock()
      await(lock:acquire())
      assert.is_true(lock:locked())
      lock:release()
      assert.is_false(lock:locked())
   end))

   it("test_context_manager", helper.async(function()
      local lock = asyncio.Lock()
      assert.is_false(lock:locked())
      do
         local _ <close> = await(lock:acquire())
         assert.is_true(lock:locked())
      end
      assert.is_false(lock:locked())
   end))
end)

describe("CPython test_locks: EventTests", function()
   it("test_repr", helper.async(function()
      local ev = asyncio.Event()
      assert.matches("%[unset%]>$", tostring(ev))
      ev:set()
      assert.matches("%[set%]>$", tostring(ev))
      ev:clear()
      asyncio.create_task(ev:wait())
      await(asyncio.sleep(0))
      assert.matches("waiters:1", tostring(ev))
      ev:set()
   end))

   it("test_wait", helper.async(function()
      local ev = asyncio.Event()
      assert.is_false(ev:is_set())
      local result = {}
      local function c(n)
         return spawn(function()
            if await(ev:wait()) then
               result[#result + 1] = n
            end
         end)
      end
      local t1, t2 = c(1), c(2)
      await(asyncio.sleep(0))
      assert.same({}, result)
      local t3 = c(3)
      ev:set()
      await(asyncio.sleep(0))
      assert.same({ 3, 1, 2 }, result)
      for _, t in ipairs({ t1, t2, t3 }) do
         assert.is_true(t:done())
         assert.is_nil(t:result())
      end
   end))

   it("test_wait_on_set", helper.async(function()
      local ev = asyncio.Event()
      ev:set()
      assert.is_true(await(ev:wait()))
   end))

   it("test_wait_cancel", helper.async(function()
      local ev = asyncio.Event()
      local wait = asyncio.create_task(ev:wait())
      asyncio.get_running_loop():call_soon(wait.cancel, wait)
      cancelled(wait)
      assert.equal(0, waiters(ev))
   end))

   it("test_clear", function()
      local ev = asyncio.Event()
      assert.is_false(ev:is_set())
      ev:set()
      assert.is_true(ev:is_set())
      ev:clear()
      assert.is_false(ev:is_set())
   end)

   it("test_clear_with_waiters", helper.async(function()
      local ev = asyncio.Event()
      local result = {}
      local t = spawn(function()
         if await(ev:wait()) then
            result[#result + 1] = 1
         end
         return true
      end)
      await(asyncio.sleep(0))
      assert.same({}, result)
      ev:set()
      ev:clear()
      assert.is_false(ev:is_set())
      ev:set()
      ev:set()
      assert.equal(1, waiters(ev))
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      assert.equal(0, waiters(ev))
      assert.is_true(t:done())
      assert.is_true(t:result())
   end))
end)

describe("CPython test_locks: ConditionTests", function()
   it("test_wait", helper.async(function()
      local cond = asyncio.Condition()
      local result = {}
      local function c(n)
         return spawn(function()
            await(cond:acquire())
            if await(cond:wait()) then
               result[#result + 1] = n
            end
            return true
         end)
      end
      local t1, t2, t3 = c(1), c(2), c(3)
      await(asyncio.sleep(0))
      assert.same({}, result)
      assert.is_false(cond:locked())
      assert.equal(cond, await(cond:acquire()))
      cond:notify()
      await(asyncio.sleep(0))
      assert.same({}, result)
      assert.is_true(cond:locked())
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      assert.is_true(cond:locked())
      cond:notify(2)
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      assert.is_true(cond:locked())
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1, 2 }, result)
      assert.is_true(cond:locked())
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1, 2, 3 }, result)
      assert.is_true(cond:locked())
      for _, t in ipairs({ t1, t2, t3 }) do
         assert.is_true(t:done())
         assert.is_true(t:result())
      end
   end))

   it("test_wait_cancel", helper.async(function()
      local cond = asyncio.Condition()
      await(cond:acquire())
      local wait = asyncio.create_task(cond:wait())
      asyncio.get_running_loop():call_soon(wait.cancel, wait)
      cancelled(wait)
      assert.equal(0, waiters(cond))
      assert.is_true(cond:locked())
   end))

   it("test_wait_cancel_contested", helper.async(function()
      local cond = asyncio.Condition()
      await(cond:acquire())
      assert.is_true(cond:locked())
      local wait_task = asyncio.create_task(cond:wait())
      await(asyncio.sleep(0))
      assert.is_false(cond:locked())
      -- Notify, but contest the lock before cancelling
      await(cond:acquire())
      assert.is_true(cond:locked())
      cond:notify()
      asyncio.get_running_loop():call_soon(wait_task.cancel, wait_task)
      asyncio.get_running_loop():call_soon(cond.release, cond)
      pcall(await, wait_task) -- cancelled or not, it holds the lock again
      assert.is_true(cond:locked())
   end))

   it("test_wait_cancel_after_notify", helper.async(function()
      local waited = false
      local cond = asyncio.Condition()
      local waiter = spawn(function()
         local _ <close> = await(cond:acquire())
         waited = true -- Make sure this area was reached
         await(cond:wait())
      end)
      await(asyncio.sleep(0)) -- Start waiting
      await(cond:acquire())
      cond:notify()
      await(asyncio.sleep(0)) -- Get to acquire()
      waiter:cancel()
      await(asyncio.sleep(0)) -- Activate cancellation
      cond:release()
      await(asyncio.sleep(0)) -- Cancellation should occur
      assert.is_true(waiter:cancelled())
      assert.is_true(waited)
   end))

   it("test_wait_unacquired", helper.async(function()
      local cond = asyncio.Condition()
      local ok, err = pcall(await, cond:wait())
      assert.is_false(ok)
      assert.matches("cannot wait on un%-acquired lock", err)
   end))

   it("test_wait_for", helper.async(function()
      local cond = asyncio.Condition()
      local presult = false
      local function predicate()
         return presult
      end
      local result = {}
      local t = spawn(function()
         await(cond:acquire())
         if await(cond:wait_for(predicate)) then
            result[#result + 1] = 1
            cond:release()
         end
         return true
      end)
      await(asyncio.sleep(0))
      assert.same({}, result)
      await(cond:acquire())
      cond:notify()
      cond:release()
      await(asyncio.sleep(0))
      assert.same({}, result)
      presult = true
      await(cond:acquire())
      cond:notify()
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      assert.is_true(t:done())
      assert.is_true(t:result())
   end))

   it("test_wait_for_unacquired", helper.async(function()
      local cond = asyncio.Condition()
      -- predicate can return true immediately
      local list = { 1, 2, 3 }
      assert.equal(list, await(cond:wait_for(function() return list end)))
      local ok, err = pcall(await, cond:wait_for(function() return false end))
      assert.is_false(ok)
      assert.matches("cannot wait on un%-acquired lock", err)
   end))

   it("test_notify", helper.async(function()
      local cond = asyncio.Condition()
      local result = {}
      local function c(n)
         return spawn(function()
            await(cond:acquire())
            if await(cond:wait()) then
               result[#result + 1] = n
               cond:release()
            end
            return true
         end)
      end
      local t1, t2, t3 = c(1), c(2), c(3)
      await(asyncio.sleep(0))
      assert.same({}, result)
      await(cond:acquire())
      cond:notify(1)
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      await(cond:acquire())
      cond:notify(1)
      cond:notify(2048)
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1, 2, 3 }, result)
      for _, t in ipairs({ t1, t2, t3 }) do
         assert.is_true(t:done())
         assert.is_true(t:result())
      end
   end))

   it("test_notify_all", helper.async(function()
      local cond = asyncio.Condition()
      local result = {}
      local function c(n)
         return spawn(function()
            await(cond:acquire())
            if await(cond:wait()) then
               result[#result + 1] = n
               cond:release()
            end
            return true
         end)
      end
      local t1, t2 = c(1), c(2)
      await(asyncio.sleep(0))
      assert.same({}, result)
      await(cond:acquire())
      cond:notify_all()
      cond:release()
      await(asyncio.sleep(0))
      assert.same({ 1, 2 }, result)
      assert.is_true(t1:result() and t2:result())
   end))

   it("test_notify_unacquired", function()
      local cond = asyncio.Condition()
      assert.is_false(pcall(cond.notify, cond))
   end)

   it("test_notify_all_unacquired", function()
      local cond = asyncio.Condition()
      assert.is_false(pcall(cond.notify_all, cond))
   end)

   it("test_repr", helper.async(function()
      local cond = asyncio.Condition()
      assert.matches("^<asyncio%.Condition object at .* %[unlocked%]>$", tostring(cond))
      await(cond:acquire())
      assert.matches("%[locked%]>$", tostring(cond))
      asyncio.create_task(cond:wait())
      await(asyncio.sleep(0))
      -- the waiter released the lock to wait
      assert.matches("%[unlocked, waiters:1%]>$", tostring(cond))
   end))

   it("test_context_manager", helper.async(function()
      local cond = asyncio.Condition()
      assert.is_false(cond:locked())
      do
         local _ <close> = await(cond:acquire())
         assert.is_true(cond:locked())
      end
      assert.is_false(cond:locked())
   end))

   it("test_explicit_lock", helper.async(function()
      local function f(lock, cond)
         lock = lock or asyncio.Lock()
         cond = cond or asyncio.Condition(lock)
         assert.equal(lock, cond._lock)
         assert.is_false(lock:locked())
         assert.is_false(cond:locked())
         do
            local _ <close> = await(cond:acquire())
            assert.is_true(lock:locked())
            assert.is_true(cond:locked())
         end
         assert.is_false(lock:locked())
         assert.is_false(cond:locked())
         do
            local _ <close> = await(lock:acquire())
            assert.is_true(lock:locked())
            assert.is_true(cond:locked())
         end
         assert.is_false(lock:locked())
         assert.is_false(cond:locked())
      end
      f()
      f(asyncio.Lock())
      local lock = asyncio.Lock()
      f(lock, asyncio.Condition(lock))
   end))

   it("test_ambiguous_loops", function()
      -- a lock bound to one loop, then waited on from another
      local lock = asyncio.Lock()
      helper.run(function()
         await(lock:acquire())
         local t = asyncio.create_task(lock:acquire())
         await(asyncio.sleep(0))
         lock:release()
         await(t)
         lock:release()
      end)
      helper.run(function()
         local _ <close> = await(lock:acquire()) -- the fast path needs no loop
         local cond = asyncio.Condition(lock)
         local ok, err = pcall(await, cond:acquire())
         assert.is_false(ok)
         assert.matches("is bound to a different event loop", err)
      end)
      local cond = asyncio.Condition()
      helper.run(function()
         local _ <close> = await(cond:acquire())
         pcall(await, asyncio.wait_for(cond:wait(), 0.001))
      end)
      helper.run(function()
         local _ <close> = await(cond:acquire())
         local ok, err = pcall(await, cond:wait())
         assert.is_false(ok)
         assert.matches("is bound to a different event loop", err)
      end)
   end)

   it("test_timeout_in_block", helper.async(function()
      local condition = asyncio.Condition()
      local _ <close> = await(condition:acquire())
      local ok, err = pcall(await, asyncio.wait_for(condition:wait(), 0.05))
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.is_true(condition:locked())
   end))

   it("test_cancelled_error_wakeup", helper.async(function()
      -- a CancelledError received while awaiting the wakeup is raised as is
      local wake = false
      local raised
      local cond = asyncio.Condition()
      local task = spawn(function()
         local _ <close> = await(cond:acquire())
         local ok, err = pcall(await, cond:wait_for(function() return wake end))
         assert.is_false(ok)
         raised = err
         error(raised, 0)
      end)
      await(asyncio.sleep(0))
      -- Task is waiting on the condition, cancel it there.
      task:cancel("foo")
      local err = cancelled(task)
      assert.equal("foo", err.message)
      -- the same error object as the one raised
      assert.equal(raised, err)
   end))

   it("test_cancelled_error_re_aquire", helper.async(function()
      -- a CancelledError received while re-acquiring the lock is raised as is
      local wake = false
      local raised
      local cond = asyncio.Condition()
      local task = spawn(function()
         local _ <close> = await(cond:acquire())
         local ok, err = pcall(await, cond:wait_for(function() return wake end))
         assert.is_false(ok)
         raised = err
         error(raised, 0)
      end)
      await(asyncio.sleep(0))
      -- Task is waiting on the condition
      await(cond:acquire())
      wake = true
      cond:notify()
      await(asyncio.sleep(0))
      -- Task is now trying to re-acquire the lock, cancel it there.
      task:cancel("foo")
      cond:release()
      local err = cancelled(task)
      assert.equal("foo", err.message)
      assert.equal(raised, err)
   end))

   local function consumers_race(relock)
      return helper.async(function()
         local condition = asyncio.Condition()
         local state = 0
         local consumer = async(function()
            local _ <close> = await(condition:acquire())
            while true do
               await(condition:wait_for(function() return state ~= 0 end))
               if state < 0 then
                  return
               end
               state = state - 1
            end
         end)
         -- create two consumers
         local c = { asyncio.create_task(consumer()), asyncio.create_task(consumer()) }
         -- wait for them to settle
         await(asyncio.sleep(0))
         do
            local _ <close> = await(condition:acquire())
            -- produce one item and wake up one
            state = state + 1
            condition:notify(1)
            if relock then
               -- let the target task wake up and wait to re-acquire the lock
               await(asyncio.sleep(0))
            end
            -- Cancel it while it is awaiting to be run / the lock.
            c[1]:cancel()
            -- now wait for the item to be consumed; if it is not, the
            -- notify did not take hold because it raced with cancel()
            pcall(function()
               local _ <close> = asyncio.timeout(0.01)
               await(condition:wait_for(function() return state == 0 end))
            end)
            assert.equal(0, state)
            -- clean up
            state = -1
            condition:notify_all()
         end
         await(c[2])
      end)
   end

   it("test_cancelled_wakeup", consumers_race(false))
   it("test_cancelled_wakeup_relock", consumers_race(true))
end)

describe("CPython test_locks: SemaphoreTests", function()
   it("test_initial_value_zero", function()
      local sem = asyncio.Semaphore(0)
      assert.is_true(sem:locked())
   end)

   it("test_repr", helper.async(function()
      local sem = asyncio.Semaphore()
      assert.matches("%[unlocked, value:1%]>$", tostring(sem))
      await(sem:acquire())
      assert.matches("%[locked%]>$", tostring(sem))
      assert.not_matches("waiters", tostring(sem))
      asyncio.create_task(sem:acquire())
      asyncio.create_task(sem:acquire())
      await(asyncio.sleep(0))
      assert.matches("waiters:2", tostring(sem))
      sem:release()
      sem:release()
   end))

   it("test_semaphore", function()
      local sem = asyncio.Semaphore()
      assert.is_false(pcall(helper.run, function() await(sem) end))
      assert.is_false(sem:locked())
   end)

   it("test_semaphore_value", function()
      assert.is_false(pcall(asyncio.Semaphore, -1))
   end)

   it("test_acquire", helper.async(function()
      local sem = asyncio.Semaphore(3)
      local result = {}
      assert.equal(sem, await(sem:acquire()))
      assert.equal(sem, await(sem:acquire()))
      assert.is_false(sem:locked())
      local function c(n)
         return spawn(function()
            await(sem:acquire())
            result[#result + 1] = n
            return true
         end)
      end
      local t1, t2, t3 = c(1), c(2), c(3)
      await(asyncio.sleep(0))
      assert.same({ 1 }, result)
      assert.is_true(sem:locked())
      assert.equal(2, waiters(sem))
      assert.equal(0, sem._value)
      local t4 = c(4)
      sem:release()
      sem:release()
      assert.equal(0, sem._value)
      await(asyncio.sleep(0))
      assert.equal(0, sem._value)
      assert.equal(3, #result)
      assert.is_true(sem:locked())
      assert.equal(1, waiters(sem))
      assert.is_true(t1:done() and t1:result())
      local done = 0
      for _, t in ipairs({ t2, t3, t4 }) do
         if t:done() and t:result() then
            done = done + 1
         end
      end
      assert.equal(2, done)
      -- cleanup locked semaphore
      sem:release()
      await(asyncio.gather(t2, t3, t4))
   end))

   it("test_acquire_cancel", helper.async(function()
      local sem = asyncio.Semaphore()
      await(sem:acquire())
      local acquire = asyncio.create_task(sem:acquire())
      asyncio.get_running_loop():call_soon(acquire.cancel, acquire)
      cancelled(acquire)
      assert.equal(0, waiters(sem))
   end))

   it("test_acquire_cancel_before_awoken", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local t = {}
      for i = 1, 4 do
         t[i] = asyncio.create_task(sem:acquire())
      end
      await(asyncio.sleep(0))
      t[1]:cancel()
      t[2]:cancel()
      sem:release()
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      assert.is_true(t[3]:done())
      assert.is_false(t[4]:done())
      t[3]:cancel()
      t[4]:cancel()
      await(asyncio.sleep(0))
   end))

   it("test_acquire_hang", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local t1 = asyncio.create_task(sem:acquire())
      local t2 = asyncio.create_task(sem:acquire())
      await(asyncio.sleep(0))
      t1:cancel()
      sem:release()
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      assert.is_true(sem:locked())
      assert.is_true(t2:done())
   end))

   it("test_acquire_no_hang", helper.async(function()
      local sem = asyncio.Semaphore(1)
      local t2
      local t1 = spawn(function()
         do
            local _ <close> = await(sem:acquire())
            await(asyncio.sleep(0))
         end
         t2:cancel()
      end)
      t2 = spawn(function()
         local _ <close> = await(sem:acquire())
         error("must not get here")
      end)
      local r = await(asyncio.gather(t1, t2, { return_exceptions = true }))
      assert.is_nil(r[1])
      assert.is_true(asyncio.CancelledError:is(r[2]))
      await(asyncio.wait_for(sem:acquire(), 1.0))
   end))

   it("test_release_not_acquired", function()
      local sem = asyncio.BoundedSemaphore()
      assert.is_false(pcall(sem.release, sem))
   end)

   it("test_release_no_waiters", helper.async(function()
      local sem = asyncio.Semaphore()
      await(sem:acquire())
      assert.is_true(sem:locked())
      sem:release()
      assert.is_false(sem:locked())
   end))

   it("test_acquire_fifo_order", helper.async(function()
      local sem = asyncio.Semaphore(1)
      local result = {}
      local coro = async(function(tag)
         await(sem:acquire())
         result[#result + 1] = tag .. "_1"
         await(asyncio.sleep(0.01))
         sem:release()
         await(sem:acquire())
         result[#result + 1] = tag .. "_2"
         await(asyncio.sleep(0.01))
         sem:release()
      end)
      do
         local tg <close> = asyncio.TaskGroup()
         tg:create_task(coro("c1"))
         tg:create_task(coro("c2"))
         tg:create_task(coro("c3"))
      end
      assert.same({ "c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2" }, result)
   end))

   it("test_acquire_fifo_order_2", helper.async(function()
      local sem = asyncio.Semaphore(1)
      local result = {}
      local t1 = spawn(function()
         await(sem:acquire())
         result[#result + 1] = 1
         return true
      end)
      local t2 = spawn(function()
         await(sem:acquire())
         result[#result + 1] = 2
         sem:release()
         await(sem:acquire())
         result[#result + 1] = 4
         return true
      end)
      local t3 = spawn(function()
         await(sem:acquire())
         result[#result + 1] = 3
         return true
      end)
      await(asyncio.sleep(0))
      sem:release()
      sem:release()
      await(asyncio.gather(t1, t2, t3))
      assert.same({ 1, 2, 3, 4 }, result)
   end))

   it("test_acquire_fifo_order_3", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local result = {}
      local function c(n)
         return spawn(function()
            await(sem:acquire())
            result[#result + 1] = n
            return true
         end)
      end
      local t1, t2, t3 = c(1), c(2), c(3)
      await(asyncio.sleep(0))
      t1:cancel()
      await(asyncio.sleep(0))
      sem:release()
      sem:release()
      await(asyncio.gather(t1, t2, t3, { return_exceptions = true }))
      assert.same({ 2, 3 }, result)
   end))

   it("test_acquire_fifo_order_4", helper.async(function()
      -- a successful acquire() wakes up the tasks that waited only because
      -- of the FIFO rule
      local sem = asyncio.Semaphore(0)
      local result = {}
      local t4
      local c4 = async(function()
         result[#result + 1] = 4
         return true
      end)
      local t1 = spawn(function()
         assert.equal(0, sem._value)
         await(sem:acquire())
         assert.equal(0, sem._value) -- every waiting task was woken
         t4 = asyncio.create_task(c4()) -- runs after c3, not c2
         result[#result + 1] = 1
         return true
      end)
      local t2 = spawn(function()
         sem:release()
         sem:release()
         sem:release()
         assert.equal(2, sem._value)
         assert.is_true(sem:locked()) -- c1 has not woken up yet
         await(sem:acquire())
         result[#result + 1] = 2
         return true
      end)
      local t3 = spawn(function()
         await(sem:acquire())
         assert.is_true(sem:locked())
         result[#result + 1] = 3
         return true
      end)
      await(asyncio.sleep(0))
      assert.equal(2, sem._value)
      assert.equal(3, waiters(sem))
      await(asyncio.sleep(0))
      await(asyncio.gather(t1, t2, t3, t4))
      assert.same({ 1, 2, 3, 4 }, result)
   end))
end)
