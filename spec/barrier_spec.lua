-- Barrier (API.md §6): CPython's BarrierTests from test_locks.py (3.13) in
-- Lua, then our own checks.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local N = 5

local function make_tasks(n, coro)
   local tasks = {}
   for i = 1, n do
      tasks[i] = asyncio.create_task(coro())
   end
   return tasks
end

local function gather_tasks(n, coro)
   local tasks = make_tasks(n, coro)
   return await(asyncio.gather(table.unpack(tasks))), tasks
end

local function count(list, value)
   local n = 0
   for _, v in ipairs(list) do
      if v == value then
         n = n + 1
      end
   end
   return n
end

local function sorted(list)
   local copy = { table.unpack(list) }
   table.sort(copy)
   return copy
end

local function range(n)
   local r = {}
   for i = 0, n - 1 do
      r[#r + 1] = i
   end
   return r
end

local BrokenBarrierError = asyncio.BrokenBarrierError

describe("CPython test_locks: BarrierTests", function()
   it("test_barrier", helper.async(function()
      local barrier = asyncio.Barrier(N)
      assert.matches("filling", tostring(barrier))
      assert.is_false(pcall(await, barrier))
      assert.matches("filling", tostring(barrier))
   end))

   it("test_repr", helper.async(function()
      local barrier = asyncio.Barrier(N)
      assert.matches("^<asyncio%.Barrier object at .* %[filling, waiters:0/5%]>$", tostring(barrier))
      local waiters = {}
      local wait = async(function() await(barrier:wait()) end)
      for _ = 1, 2 do
         waiters[#waiters + 1] = asyncio.create_task(wait())
      end
      await(asyncio.sleep(0))
      assert.matches("waiters:2/5", tostring(barrier))
      assert.matches("filling", tostring(barrier))
      -- create missing waiters
      for _ = 1, barrier.parties - barrier.n_waiting do
         waiters[#waiters + 1] = asyncio.create_task(wait())
      end
      await(asyncio.sleep(0))
      assert.matches("draining", tostring(barrier))
      -- add a part of waiters
      for _ = 1, 2 do
         waiters[#waiters + 1] = asyncio.create_task(wait())
      end
      await(asyncio.sleep(0))
      -- and reset
      await(barrier:reset())
      assert.matches("resetting", tostring(barrier))
      -- add a part of waiters again
      for _ = 1, 2 do
         waiters[#waiters + 1] = asyncio.create_task(wait())
      end
      await(asyncio.sleep(0))
      -- and abort
      await(barrier:abort())
      assert.matches("%[broken%]>$", tostring(barrier))
      assert.is_true(barrier.broken)
      local all = { table.unpack(waiters) }
      all[#all + 1] = { return_exceptions = true }
      await(asyncio.gather(table.unpack(all)))
   end))

   it("test_barrier_parties", function()
      assert.is_false(pcall(asyncio.Barrier, 0))
      assert.is_false(pcall(asyncio.Barrier, -4))
      assert.equal(N, asyncio.Barrier(N).parties)
   end)

   it("keeps parties, n_waiting and broken read-only, as Python's properties", helper.async(function()
      -- assigned, they changed how many tasks pass: a 2-party barrier let one through
      local barrier = asyncio.Barrier(2)
      for _, field in ipairs({ "parties", "n_waiting", "broken" }) do
         local ok, err = pcall(function() barrier[field] = 1 end)
         assert.is_false(ok)
         assert.matches("^spec/barrier_spec%.lua:%d+: attempt to set the read%-only field '" .. field
            .. "' of a Barrier$", err)
      end
      assert.equal(2, barrier.parties)
      local first = asyncio.create_task(barrier:wait())
      await(asyncio.sleep(0))
      assert.is_false(first:done())
      assert.equal(1, barrier.n_waiting)
      await(barrier:wait())
      await(first)
   end))

   it("test_context_manager", helper.async(function()
      local barrier = asyncio.Barrier(3)
      local results = {}
      gather_tasks(3, async(function()
         local i = await(barrier:wait())
         results[#results + 1] = i
      end))
      assert.same(range(3), sorted(results))
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_filling_one_task", helper.async(function()
      local barrier = asyncio.Barrier(1)
      assert.equal(0, await(barrier:wait()))
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_filling_one_task_twice", helper.async(function()
      local barrier = asyncio.Barrier(1)
      local t1 = asyncio.create_task(barrier:wait())
      await(asyncio.sleep(0))
      assert.equal(0, barrier.n_waiting)
      local t2 = asyncio.create_task(barrier:wait())
      await(asyncio.sleep(0))
      assert.equal(t1:result(), t2:result())
      assert.equal(t1:done(), t2:done())
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_filling_task_by_task", helper.async(function()
      local barrier = asyncio.Barrier(3)
      local t1 = asyncio.create_task(barrier:wait())
      await(asyncio.sleep(0))
      assert.equal(1, barrier.n_waiting)
      assert.matches("filling", tostring(barrier))
      local t2 = asyncio.create_task(barrier:wait())
      await(asyncio.sleep(0))
      assert.equal(2, barrier.n_waiting)
      assert.matches("filling", tostring(barrier))
      local t3 = asyncio.create_task(barrier:wait())
      await(asyncio.sleep(0))
      await(asyncio.wait({ t1, t2, t3 }))
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_filling_tasks_wait_twice", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results = {}
      gather_tasks(N, async(function()
         await(barrier:wait())
         results[#results + 1] = true
         await(barrier:wait())
         results[#results + 1] = false
      end))
      assert.equal(N * 2, #results)
      assert.equal(N, count(results, true))
      assert.equal(N, count(results, false))
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_filling_tasks_check_return_value", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1, results2 = {}, {}
      local res = gather_tasks(N, async(function()
         await(barrier:wait())
         results1[#results1 + 1] = true
         local i = await(barrier:wait())
         results2[#results2 + 1] = true
         return i
      end))
      assert.equal(N, #results1)
      assert.equal(N, #results2)
      assert.same(range(N), sorted(res))
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_draining_state", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results = {}
      gather_tasks(N, async(function()
         await(barrier:wait())
         -- barrier state changes to filling when the last task is released
         results[#results + 1] = tostring(barrier):find("draining") ~= nil
      end))
      assert.equal(N, #results)
      assert.is_false(results[N])
      for i = 1, N - 1 do
         assert.is_true(results[i])
      end
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_blocking_tasks_while_draining", helper.async(function()
      local rewait = 2
      local barrier = asyncio.Barrier(N)
      local barrier_nowaiting = asyncio.Barrier(N - rewait)
      local rewait_n = rewait
      gather_tasks(N, async(function()
         await(barrier:wait()) -- first time waiting
         if rewait_n > 0 then
            rewait_n = rewait_n - 1
            await(barrier:wait()) -- wait again only for rewait tasks
         else
            await(barrier_nowaiting:wait()) -- wait for end of draining state
            await(barrier:wait()) -- wait for other waiting tasks
         end
      end))
   end))

   it("test_filling_tasks_cancel_one", helper.async(function()
      local barrier = asyncio.Barrier(3)
      local results = {}
      local coro = async(function()
         await(barrier:wait())
         results[#results + 1] = true
      end)
      local t1 = asyncio.create_task(coro())
      await(asyncio.sleep(0))
      assert.equal(1, barrier.n_waiting)
      local t2 = asyncio.create_task(coro())
      await(asyncio.sleep(0))
      assert.equal(2, barrier.n_waiting)
      t1:cancel()
      await(asyncio.sleep(0))
      assert.equal(1, barrier.n_waiting)
      local ok, err = pcall(await, t1)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.is_true(t1:cancelled())
      local t3 = asyncio.create_task(coro())
      await(asyncio.sleep(0))
      assert.equal(2, barrier.n_waiting)
      local t4 = asyncio.create_task(coro())
      await(asyncio.gather(t2, t3, t4))
      assert.equal(3, #results)
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_reset_barrier", helper.async(function()
      local barrier = asyncio.Barrier(1)
      asyncio.create_task(barrier:reset())
      await(asyncio.sleep(0))
      assert.equal(0, barrier.n_waiting)
      assert.is_false(barrier.broken)
   end))

   it("test_reset_barrier_while_tasks_waiting", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results = {}
      local tasks = make_tasks(N - 1, async(function()
         local ok, err = pcall(await, barrier:wait())
         if not ok and BrokenBarrierError:is(err) then
            results[#results + 1] = true
         end
      end))
      await(asyncio.sleep(0))
      -- reset the barrier
      asyncio.create_task(async(function() await(barrier:reset()) end)())
      await(asyncio.gather(table.unpack(tasks)))
      assert.equal(N - 1, #results)
      assert.equal(0, barrier.n_waiting)
      assert.not_matches("resetting", tostring(barrier))
      assert.is_false(barrier.broken)
   end))

   it("test_reset_barrier_when_tasks_half_draining", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1 = {}
      local rest_of_tasks = N // 2
      gather_tasks(N, async(function()
         local ok, err = pcall(await, barrier:wait())
         if not ok then
            assert.is_true(BrokenBarrierError:is(err))
            results1[#results1 + 1] = true -- waiting tasks
         elseif rest_of_tasks == barrier._count then
            await(barrier:reset()) -- tasks outside the barrier
         end
      end))
      assert.equal(rest_of_tasks, #results1)
      assert.equal(0, barrier.n_waiting)
      assert.not_matches("resetting", tostring(barrier))
      assert.is_false(barrier.broken)
   end))

   it("test_reset_barrier_when_tasks_half_draining_half_blocking", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1, results2 = {}, {}
      local blocking_tasks = N // 2
      local n = 0
      gather_tasks(N, async(function()
         local ok, err = pcall(await, barrier:wait())
         if not ok then
            assert.is_true(BrokenBarrierError:is(err))
            results1[#results1 + 1] = true -- still waiting tasks
            await(barrier:wait()) -- so now waiting again to reach nb_parties
         else
            n = n + 1
            if n > blocking_tasks then
               -- reset now: raise BrokenBarrierError for waiting tasks
               await(barrier:reset())
               await(barrier:wait())
            else
               local ok2 = pcall(await, barrier:wait())
               if not ok2 then
                  results2[#results2 + 1] = true -- no catch: blocked tasks go on
               end
            end
         end
      end))
      assert.equal(blocking_tasks, #results1)
      assert.equal(0, #results2)
      assert.equal(0, barrier.n_waiting)
      assert.not_matches("resetting", tostring(barrier))
      assert.is_false(barrier.broken)
   end))

   it("test_reset_barrier_while_tasks_waiting_and_waiting_again", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1, results2 = {}, {}
      local tasks = make_tasks(N - 1, async(function()
         local ok, err = pcall(await, barrier:wait())
         if not ok and BrokenBarrierError:is(err) then
            results1[#results1 + 1] = true
         end
         await(barrier:wait())
         results2[#results2 + 1] = true
      end))
      -- reset barrier, N-1 waiting tasks raise a BrokenBarrierError
      asyncio.create_task(barrier:reset())
      await(asyncio.sleep(0))
      -- complete the waiting tasks in the second wait
      asyncio.create_task(async(function()
         await(barrier:wait())
         results2[#results2 + 1] = true
      end)())
      await(asyncio.gather(table.unpack(tasks)))
      assert.is_false(barrier.broken)
      assert.equal(N - 1, #results1)
      assert.equal(N, #results2)
      assert.equal(0, barrier.n_waiting)
   end))

   it("test_reset_barrier_while_tasks_draining", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1, results2, results3 = {}, {}, {}
      local n = 0
      gather_tasks(N, async(function()
         await(barrier:wait())
         n = n + 1
         if n == N then
            -- last task exited from barrier
            await(barrier:reset())
            -- wait here to reach the `parties`
            await(barrier:wait())
         else
            local ok = pcall(await, barrier:wait()) -- second waiting
            if ok then
               results1[#results1 + 1] = true -- N-1 tasks here
            else
               results2[#results2 + 1] = true -- never goes here
            end
         end
         -- Now, pass the barrier again: last wait, must be completed
         await(barrier:wait())
         results3[#results3 + 1] = true
      end))
      assert.is_false(barrier.broken)
      assert.equal(N - 1, #results1)
      assert.equal(0, #results2)
      assert.equal(N, #results3)
      assert.equal(0, barrier.n_waiting)
   end))

   it("test_abort_barrier", helper.async(function()
      local barrier = asyncio.Barrier(1)
      asyncio.create_task(barrier:abort())
      await(asyncio.sleep(0))
      assert.equal(0, barrier.n_waiting)
      assert.is_true(barrier.broken)
   end))

   it("test_abort_barrier_when_tasks_half_draining_half_blocking", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1, results2 = {}, {}
      local blocking_tasks = N // 2
      local n = 0
      gather_tasks(N, async(function()
         local ok, err = pcall(await, barrier:wait())
         if not ok then
            assert.is_true(BrokenBarrierError:is(err))
            results1[#results1 + 1] = true -- tasks waiting to drain
         else
            n = n + 1
            if n > blocking_tasks then
               await(barrier:abort()) -- BrokenBarrierError for all tasks
            else
               local ok2, err2 = pcall(await, barrier:wait())
               if not ok2 then
                  assert.is_true(BrokenBarrierError:is(err2))
                  results2[#results2 + 1] = true -- blocked tasks (already drained)
               end
            end
         end
      end))
      assert.is_true(barrier.broken)
      assert.equal(blocking_tasks, #results1)
      assert.equal(N - blocking_tasks - 1, #results2)
      assert.equal(0, barrier.n_waiting)
      assert.not_matches("resetting", tostring(barrier))
   end))

   it("test_abort_barrier_when_exception", helper.async(function()
      local barrier = asyncio.Barrier(N)
      local results1, results2 = {}, {}
      gather_tasks(N, async(function()
         local ok, err = pcall(function()
            local i = await(barrier:wait())
            if i == N // 2 then
               error("RuntimeError", 0)
            end
            await(barrier:wait())
            results1[#results1 + 1] = true
         end)
         if not ok then
            if BrokenBarrierError:is(err) then
               results2[#results2 + 1] = true
            elseif err == "RuntimeError" then
               await(barrier:abort())
            else
               error(err, 0)
            end
         end
      end))
      assert.is_true(barrier.broken)
      assert.equal(0, #results1)
      assert.equal(N - 1, #results2)
      assert.equal(0, barrier.n_waiting)
   end))

   it("test_abort_barrier_when_exception_then_resetting", helper.async(function()
      local barrier1, barrier2 = asyncio.Barrier(N), asyncio.Barrier(N)
      local results1, results2, results3 = {}, {}, {}
      gather_tasks(N, async(function()
         local ok, err = pcall(function()
            local i = await(barrier1:wait())
            if i == N // 2 then
               error("RuntimeError", 0)
            end
            await(barrier1:wait())
            results1[#results1 + 1] = true
         end)
         if not ok then
            if BrokenBarrierError:is(err) then
               results2[#results2 + 1] = true
            elseif err == "RuntimeError" then
               await(barrier1:abort())
            else
               error(err, 0)
            end
         end
         -- Synchronize and reset the barrier. Must synchronize first so that
         -- everyone has left it when we reset, and after so that no one
         -- enters it before the reset.
         local i = await(barrier2:wait())
         if i == N // 2 then
            await(barrier1:reset())
         end
         await(barrier2:wait())
         await(barrier1:wait())
         results3[#results3 + 1] = true
      end))
      assert.is_false(barrier1.broken)
      assert.equal(0, #results1)
      assert.equal(N - 1, #results2)
      assert.equal(N, #results3)
      assert.equal(0, barrier1.n_waiting)
   end))
end)

describe("Barrier", function()
   it("hands out arrival indexes 0 to parties - 1, round after round", helper.async(function()
      local barrier = asyncio.Barrier(3)
      local seen = {}
      gather_tasks(3, async(function()
         for round = 1, 4 do
            local i = await(barrier:wait())
            seen[#seen + 1] = round * 10 + i
         end
      end))
      assert.same({ 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42 }, sorted(seen))
   end))

   it("checks its argument", function()
      local ok, err = pcall(asyncio.Barrier, 0)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'Barrier' %(parties must be >= 1%)", err)
      ok, err = pcall(asyncio.Barrier)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'Barrier'", err)
      ok, err = pcall(asyncio.Barrier, 2.5)
      assert.is_false(ok)
      assert.matches("number has no integer representation", err)
   end)

   it("raises BrokenBarrierError in later waits once aborted, until reset", helper.async(function()
      local barrier = asyncio.Barrier(2)
      await(barrier:abort())
      local ok, err = pcall(await, barrier:wait())
      assert.is_false(ok)
      assert.is_true(BrokenBarrierError:is(err))
      assert.equal("BrokenBarrierError: Barrier aborted", tostring(err))
      await(barrier:reset())
      assert.is_false(barrier.broken)
      local t = asyncio.create_task(barrier:wait())
      assert.equal(0, await(barrier:wait())) -- this task arrives first
      assert.equal(1, await(t))
   end))
end)
