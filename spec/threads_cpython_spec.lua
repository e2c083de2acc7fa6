-- Scenarios of CPython 3.13's thread and executor tests (test_threads,
-- the executor parts of test_base_events and test_events, the
-- run_coroutine_threadsafe tests of test_tasks), and races of locks and
-- queues beyond those tests, in Lua. Each was run in Python 3.13.0 and
-- here, and asserts what Python printed; Python's exception classes that
-- Lua has no class for (RuntimeError, ValueError) are the error strings
-- docs/reference.md gives.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local await = asyncio.await

local raises, spin = helper.raises, helper.spin

-- A job that keeps its worker busy for d seconds of CPU time.
local function busy(d)
   local t = os.clock() + d
   while os.clock() < t do end
   return true
end

-- Events as "kind i" strings, in order.
local function recorder()
   local log = {}
   return log, function(...)
      log[#log + 1] = table.concat({ ... }, " ")
   end
end

describe("CPython test_threads: ToThreadTests", function()
   it("test_to_thread", helper.async(function()
      assert.equal(42, await(asyncio.to_thread(function(t) return t[1] + t[2] end, { 40, 2 })))
   end))

   it("test_to_thread_exception", helper.async(function()
      local err = helper.error_of(await, asyncio.to_thread(function() error("test") end))
      assert.matches("test", err)
   end))

   it("test_to_thread_concurrent", helper.async(function()
      local jobs = {}
      for i = 0, 9 do
         jobs[#jobs + 1] = asyncio.to_thread(function(x) return x * x end, i)
      end
      assert.same({ 0, 1, 4, 9, 16, 25, 36, 49, 64, 81 }, { table.unpack(await(asyncio.gather(table.unpack(jobs)))) })
   end))

   it("a to_thread task cancelled before its first step never submits its job", helper.async(function()
      local t = asyncio.create_task(asyncio.to_thread(function() return 1 end))
      t:cancel()
      raises(asyncio.CancelledError, await, t)
      assert.is_true(t:cancelled())
   end))

   it("a to_thread task cancelled while its job runs is cancelled", helper.async(function()
      local t = asyncio.create_task(asyncio.to_thread(busy, 0.02))
      spin(1)
      t:cancel()
      raises(asyncio.CancelledError, await, t)
      assert.is_true(t:cancelled())
   end))
   it("a to_thread task cancelled the iteration after it submitted its job: the job has started and runs", function()
      -- Python's new worker takes the job before the loop goes on (Thread.start,
      -- its interpreter lock), so the cancel finds it running
      _G.spec_log = {}
      local t
      asyncio.run(function()
         local loop = asyncio.get_running_loop()
         t = asyncio.create_task(asyncio.to_thread(function(ref)
            local x = os.clock() + 0.02
            while os.clock() < x do end
            ref:call_soon_threadsafe(function() table.insert(_G.spec_log, "late") end)
         end, loop))
         spin(1)
         t:add_done_callback(function() table.insert(_G.spec_log, "task done") end)
      end)
      assert.same({ "task done", "late" }, _G.spec_log)
      assert.is_true(t:cancelled())
      _G.spec_log = nil
   end)
end)

describe("CPython test_events: executor and call_soon_threadsafe", function()
   it("test_run_in_executor_cancel: the future is cancelled at once, and awaiting it raises", helper.async(function()
      local loop = asyncio.get_running_loop()
      local f = loop:run_in_executor(nil, busy, 0.05)
      assert.same({ true, true, true }, { f:cancel(), f:cancelled(), f:done() })
      raises(asyncio.CancelledError, await, f)
      assert.is_false(f:cancel())
      await(loop:shutdown_default_executor())
   end))

   it("test_call_soon_threadsafe_same_thread", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log, add = recorder()
      loop:call_soon_threadsafe(add, "hello")
      loop:call_soon(add, "world")
      spin(1)
      assert.same({ "hello", "world" }, log)
      local h = loop:call_soon_threadsafe(add, "x")
      h:cancel()
      spin(1)
      assert.same({ "hello", "world" }, log)
      assert.is_true(h:cancelled())
   end))

   it("a call a worker posts runs before its future's callbacks and the awaiting task", helper.async(function()
      local loop = asyncio.get_running_loop()
      _G.spec_log = {}
      local fut = loop:run_in_executor(nil, function(ref)
         ref:call_soon_threadsafe(function() table.insert(_G.spec_log, "cb") end)
         return "r"
      end, loop)
      fut:add_done_callback(function() table.insert(_G.spec_log, "done") end)
      local r = await(fut)
      table.insert(_G.spec_log, r)
      assert.same({ "cb", "done", "r" }, _G.spec_log)
      _G.spec_log = nil
   end))

   it("a queued job cancelled while the one before it runs never runs", helper.async(function()
      local loop = asyncio.get_running_loop()
      local ex = asyncio.ThreadPoolExecutor(1)
      local f1 = loop:run_in_executor(ex, busy, 0.05)
      local f2 = loop:run_in_executor(ex, function() return "second" end)
      local f3 = loop:run_in_executor(ex, function() return "third" end)
      assert.is_true(f2:cancel())
      assert.same({ true, "third", true }, { await(f1), await(f3), f2:cancelled() })
      ex:shutdown()
   end))

   it("jobs given to free workers have started when cancelled, the one queued behind them not", helper.async(function()
      local loop = asyncio.get_running_loop()
      local ex = asyncio.ThreadPoolExecutor(2)
      _G.spec_log = {}
      local function job(ref, d, tag)
         local x = os.clock() + d
         while os.clock() < x do end
         ref:call_soon_threadsafe(function(t) table.insert(_G.spec_log, t) end, tag)
      end
      local f1 = loop:run_in_executor(ex, job, loop, 0.02, "j1")
      local f2 = loop:run_in_executor(ex, job, loop, 0.02, "j2")
      local f3 = loop:run_in_executor(ex, job, loop, 0, "j3")
      assert.same({ true, true }, { f2:cancel(), f3:cancel() })
      await(f1)
      ex:shutdown(true)
      spin(2)
      table.sort(_G.spec_log)
      assert.same({ "j1", "j2" }, _G.spec_log)
      _G.spec_log = nil
   end))

   it("shutdown(wait, cancel_futures) finishes the running job and cancels the queued one", helper.async(function()
      local loop = asyncio.get_running_loop()
      local ex = asyncio.ThreadPoolExecutor(1)
      local f1 = loop:run_in_executor(ex, busy, 0.05)
      local f2 = loop:run_in_executor(ex, function() return "second" end)
      await(asyncio.sleep(0.01))
      ex:shutdown(true, true)
      spin(2)
      assert.same({ true, true, true }, { f1:done(), f2:done(), f2:cancelled() })
      assert.is_true(await(f1))
      raises(asyncio.CancelledError, await, f2)
   end))
end)

describe("CPython test_base_events: the default executor", function()
   it("refuses new jobs after shutdown_default_executor, which can be awaited again", helper.async(function()
      local loop = asyncio.get_running_loop()
      await(loop:shutdown_default_executor())
      local ok, err = pcall(loop.run_in_executor, loop, nil, busy, 0)
      assert.is_false(ok)
      assert.matches("Executor shutdown has been called", err)
      assert.matches("Executor shutdown has been called", helper.error_of(await, asyncio.to_thread(busy, 0)))
      assert.is_nil(await(loop:shutdown_default_executor()))
   end))

   it("refuses jobs on an executor shut down, through submit and run_in_executor", helper.async(function()
      local loop = asyncio.get_running_loop()
      local ex = asyncio.ThreadPoolExecutor(1)
      ex:shutdown()
      local ok, err = pcall(ex.submit, ex, busy, 0)
      assert.same({ false, "cannot schedule new futures after shutdown" }, { ok, err })
      ok, err = pcall(loop.run_in_executor, loop, ex, busy, 0)
      assert.same({ false, "cannot schedule new futures after shutdown" }, { ok, err })
   end))

   it("keeps the loop running while shutdown_default_executor waits for a job", helper.async(function()
      local loop = asyncio.get_running_loop()
      local ticks = 0
      local fut = loop:run_in_executor(nil, busy, 0.05)
      loop:call_later(0.01, function() ticks = ticks + 1 end)
      await(loop:shutdown_default_executor())
      assert.equal(1, ticks)
      assert.is_true(fut:done())
   end))

   it("asyncio.run waits for a job still running and runs what it posts", function()
      _G.spec_log = {}
      asyncio.run(function()
         local loop = asyncio.get_running_loop()
         loop:run_in_executor(nil, function(ref)
            local t = os.clock() + 0.03
            while os.clock() < t do end
            ref:call_soon_threadsafe(function() table.insert(_G.spec_log, "late") end)
         end, loop)
      end)
      assert.same({ "late" }, _G.spec_log)
      _G.spec_log = nil
   end)
end)

-- As CPython's RunCoroutineThreadsafeTests: a worker submits add() to the
-- loop that started it and blocks on the concurrent future's result.
local function target(ref, fail, cancel, timeout)
   local cf = ref:run_coroutine_threadsafe(function(a, b, fail_, cancel_)
      local aio = require("asyncio")
      aio.await(aio.sleep(0.05))
      if fail_ then
         error("Fail!", 0)
      elseif cancel_ then
         aio.current_task():cancel()
         aio.await(aio.sleep(0))
      end
      return a + b
   end, 1, 2, fail, cancel)
   local ok, r = pcall(cf.result, cf, timeout)
   if not cf:done() then
      cf:cancel()
   end
   if not ok then
      error(r, 0)
   end
   return r
end

describe("CPython test_tasks: RunCoroutineThreadsafeTests", function()
   it("test_run_coroutine_threadsafe", helper.async(function()
      local loop = asyncio.get_running_loop()
      assert.equal(3, await(loop:run_in_executor(nil, target, loop)))
   end))

   it("test_run_coroutine_threadsafe_with_exception", helper.async(function()
      local loop = asyncio.get_running_loop()
      assert.matches("^Fail!", helper.error_of(await, loop:run_in_executor(nil, target, loop, true)))
   end))

   it("test_run_coroutine_threadsafe_with_timeout", helper.async(function()
      local loop = asyncio.get_running_loop()
      raises(asyncio.TimeoutError, await, loop:run_in_executor(nil, target, loop, false, false, 0))
      spin(2)
      for t in pairs(asyncio.all_tasks()) do
         assert.is_true(t == asyncio.current_task() or t:done())
      end
   end))

   it("test_run_coroutine_threadsafe_task_cancelled", helper.async(function()
      local loop = asyncio.get_running_loop()
      raises(asyncio.CancelledError, await, loop:run_in_executor(nil, target, loop, false, true))
   end))
end)

describe("concurrent futures of a loop thread, as Python's run_coroutine_threadsafe", function()
   local lt
   before_each(function() lt = asyncio.start_loop_thread() end)
   after_each(function()
      lt:stop()
      lt:join()
   end)

   local slow = asyncio.async(function(x, d)
      local aio = require("asyncio")
      aio.await(aio.sleep(d))
      return x
   end)

   it("gives the result, then cannot be cancelled", function()
      local cf = lt:run_coroutine_threadsafe(slow(1, 0.02))
      assert.is_false(cf:done())
      assert.equal(1, cf:result())
      assert.same({ true, false, false }, { cf:done(), cf:cancelled(), cf:cancel() })
      assert.is_nil(cf:exception())
   end)

   it("times out result(0.01), then cancel() is true twice and result raises CancelledError", function()
      local cf = lt:run_coroutine_threadsafe(slow(1, 1))
      raises(asyncio.TimeoutError, cf.result, cf, 0.01)
      assert.same({ true, true, true, true }, { cf:cancel(), cf:cancelled(), cf:done(), cf:cancel() })
      raises(asyncio.CancelledError, cf.result, cf)
      raises(asyncio.CancelledError, cf.exception, cf)
   end)

   it("is cancelled when its task cancels itself", function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         aio.current_task():cancel()
         aio.await(aio.sleep(0))
      end)
      raises(asyncio.CancelledError, cf.result, cf)
      assert.is_true(cf:cancelled())
   end)

   it("stays cancelled when its task catches the cancellation and returns", function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         local ok = pcall(aio.await, aio.sleep(1))
         return ok and "slept" or "caught"
      end)
      busy(0.02)
      assert.is_true(cf:cancel())
      raises(asyncio.CancelledError, cf.result, cf)
      assert.is_true(cf:cancelled())
   end)

   it("cancelled as soon as submitted: its task takes its first step, then is cancelled", function()
      local cf = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         _G.spec_log = { "start" }
         aio.await(aio.sleep(0))
         table.insert(_G.spec_log, "end")
      end)
      assert.is_true(cf:cancel())
      local log = lt:run_coroutine_threadsafe(function()
         local aio = require("asyncio")
         for _ = 1, 3 do
            aio.await(aio.sleep(0))
         end
         return _G.spec_log
      end):result()
      assert.same({ "start" }, log)
      assert.is_true(cf:cancelled())
   end)

   it("wraps a done concurrent future into a future done two iterations later", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(slow(4, 0))
      cf:result()
      local n, stop = 0, false
      local ticker = asyncio.create_task(function()
         while not stop do
            n = n + 1
            await(asyncio.sleep(0))
         end
      end)
      spin(1)
      n = 0
      local w = asyncio.wrap_future(cf)
      assert.is_false(w:done())
      assert.equal(4, await(w))
      assert.equal(2, n)
      n = 0
      assert.equal(4, await(cf))
      assert.equal(2, n)
      stop = true
      await(ticker)
   end))

   it("cancelling the wrapper of a done concurrent future leaves it as it was", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(slow(1, 0))
      cf:result()
      local w = asyncio.wrap_future(cf)
      assert.same({ true, false, true }, { w:cancel(), cf:cancelled(), w:cancelled() })
      spin(2)
      assert.same({ false, 1 }, { cf:cancelled(), cf:result() })
   end))

   it("is cancelled with the task awaiting it, and by a wait_for timeout", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(slow(1, 1))
      local t = asyncio.create_task(function() return await(cf) end)
      await(asyncio.sleep(0.01))
      t:cancel()
      raises(asyncio.CancelledError, await, t)
      assert.is_true(cf:cancelled())
      cf = lt:run_coroutine_threadsafe(slow(3, 1))
      raises(asyncio.TimeoutError, await, asyncio.wait_for(asyncio.wrap_future(cf), 0.01))
      assert.same({ true, true }, { cf:cancelled(), cf:done() })
   end))

   it("wakes every task awaiting it, in the order they started waiting", helper.async(function()
      local cf = lt:run_coroutine_threadsafe(slow("z", 0.03))
      local log, add = recorder()
      local ts = {}
      for i = 0, 2 do
         ts[#ts + 1] = asyncio.create_task(function() add(i, await(cf)) end)
      end
      await(asyncio.gather(table.unpack(ts)))
      assert.same({ "0 z", "1 z", "2 z" }, log)
   end))
end)

describe("races of locks and queues, as Python 3.13 orders them", function()
   it("Lock: a waiter cancelled as release wakes it passes the lock on", helper.async(function()
      local lock = asyncio.Lock()
      await(lock:acquire())
      local log, add = recorder()
      local ts = {}
      for i = 0, 2 do
         ts[i] = asyncio.create_task(function()
            if not pcall(await, lock:acquire()) then return add("cx", i) end
            add("got", i)
            spin(1)
            lock:release()
            add("rel", i)
         end)
      end
      spin(1)
      lock:release()
      ts[0]:cancel()
      spin(6)
      assert.same({ "cx 0", "got 1", "rel 1", "got 2", "rel 2" }, log)
      assert.is_false(lock:locked())
   end))

   it("Semaphore: release twice, the first woken cancelled: both others get it", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local log, add = recorder()
      local ts = {}
      for i = 0, 2 do
         ts[i] = asyncio.create_task(function() add(pcall(await, sem:acquire()) and "got" or "cx", i) end)
      end
      spin(1)
      sem:release()
      sem:release()
      ts[0]:cancel()
      spin(4)
      assert.same({ "cx 0", "got 1", "got 2" }, log)
      assert.is_true(sem:locked())
   end))

   it("Semaphore: a new acquirer waits behind the waiter a release woke", helper.async(function()
      local sem = asyncio.Semaphore(0)
      local log, add = recorder()
      local function waiter(i)
         return function() add(pcall(await, sem:acquire()) and "got" or "cx", i) end
      end
      local t = asyncio.create_task(waiter(0))
      spin(1)
      sem:release()
      local t2 = asyncio.create_task(waiter(1))
      assert.is_true(sem:locked())
      spin(3)
      assert.same({ "got 0" }, log)
      t2:cancel()
      await(asyncio.wait({ t, t2 }))
   end))

   it("Condition: the notified waiter cancelled at once passes the notification on", helper.async(function()
      local cond = asyncio.Condition()
      local log, add = recorder()
      local ts = {}
      for i = 0, 2 do
         ts[i] = asyncio.create_task(function()
            await(cond:acquire())
            local ok, err = pcall(await, cond:wait())
            if ok then
               add("woke", i)
            elseif asyncio.CancelledError:is(err) then
               add("cx", i, tostring(cond:locked()))
            end
            cond:release()
         end)
      end
      spin(2)
      await(cond:acquire())
      cond:notify(1)
      cond:release()
      ts[0]:cancel()
      spin(6)
      assert.same({ "cx 0 true", "woke 1" }, log)
      ts[2]:cancel()
      await(ts[2])
   end))

   it("Event: a waiter cancelled as set wakes it is cancelled, the other gets true", helper.async(function()
      local ev = asyncio.Event()
      local log, add = recorder()
      local ts = {}
      for i = 0, 1 do
         ts[i] = asyncio.create_task(function()
            local ok, r = pcall(await, ev:wait())
            add(ok and "set" or "cx", i, tostring(ok and r))
         end)
      end
      spin(1)
      ev:set()
      ts[0]:cancel()
      spin(2)
      assert.same({ "cx 0 false", "set 1 true" }, log)
   end))

   it("Queue: a getter cancelled as put wakes it leaves the item to the next getter", helper.async(function()
      local q = asyncio.Queue()
      local log, add = recorder()
      local ts = {}
      for i = 0, 1 do
         ts[i] = asyncio.create_task(function()
            local ok, item = pcall(await, q:get())
            add(ok and "got" or "cx", i, ok and item or "")
         end)
      end
      spin(1)
      q:put_nowait("a")
      ts[0]:cancel()
      spin(3)
      assert.same({ "cx 0 ", "got 1 a" }, log)
      assert.equal(0, q:qsize())
   end))

   it("Queue: a putter cancelled as get wakes it lets the next putter in", helper.async(function()
      local q = asyncio.Queue(1)
      q:put_nowait("x")
      local log, add = recorder()
      local ts = {}
      for i = 0, 1 do
         ts[i] = asyncio.create_task(function() add(pcall(await, q:put(i)) and "put" or "cx", i) end)
      end
      spin(1)
      add("get", q:get_nowait())
      ts[0]:cancel()
      spin(3)
      assert.same({ "get x", "cx 0", "put 1" }, log)
      assert.equal(1, q:get_nowait())
   end))

   it("Queue: shutdown with waiting getters, putters and join", helper.async(function()
      local q = asyncio.Queue(1)
      local function report(aw)
         return function()
            local ok, r = pcall(await, aw)
            if ok then return "ok:" .. tostring(r) end
            return asyncio.QueueShutDown:is(r) and "QueueShutDown" or tostring(r)
         end
      end
      local all = {}
      for _ = 1, 2 do
         all[#all + 1] = asyncio.create_task(report(q:get()))
      end
      spin(1)
      q:put_nowait(1)
      for i = 0, 1 do
         all[#all + 1] = asyncio.create_task(report(q:put(i)))
      end
      local joiner = asyncio.create_task(report(q:join()))
      spin(1)
      q:shutdown()
      assert.same({ "ok:1", "ok:0", "ok:nil", "QueueShutDown" },
         { table.unpack(await(asyncio.gather(table.unpack(all)))) })
      assert.same({ 0, false }, { q:qsize(), joiner:done() })
      q:task_done()
      spin(1)
      assert.is_false(joiner:done())
      q:task_done()
      spin(1)
      assert.equal("ok:nil", joiner:result())
   end))
end)
