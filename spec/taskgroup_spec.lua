-- asyncio.TaskGroup (API.md §5): closing the scope awaits every task; the
-- first failure cancels the others and the body; one ExceptionGroup holds
-- every failure; a cancellation from outside cancels the tasks. Ports of
-- CPython's test_taskgroups.py; a group is entered when it is made.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local is_cancelled, finally = helper.is_cancelled, helper.finally
local async, await = asyncio.async, asyncio.await

-- Errors are strings named after the Python exceptions of the originals.
local function raise(name)
   error(name, 0)
end

-- The set of the errors of an ExceptionGroup, nested groups as "group".
local function error_types(eg)
   assert(asyncio.ExceptionGroup:is(eg), "not an ExceptionGroup: " .. tostring(eg))
   local types = {}
   for _, e in ipairs(eg.errors) do
      types[asyncio.ExceptionGroup:is(e) and "group" or tostring(e)] = true
   end
   return types
end

local error_of = helper.error_of

local sleep_return = async(function(dt, value)
   await(asyncio.sleep(dt))
   return value
end)

local crash_after = async(function(dt, name)
   await(asyncio.sleep(dt))
   raise(name or "ZeroDivisionError")
end)

describe("TaskGroup", function()
   it("waits for its tasks (CPython test_taskgroup_01)", helper.async(function()
      local t1, t2
      do
         local g <close> = asyncio.TaskGroup()
         t1 = g:create_task(sleep_return(0.01, 42))
         t2 = g:create_task(sleep_return(0.02, 11))
      end
      assert.equal(42, t1:result())
      assert.equal(11, t2:result())
   end))

   it("takes tasks while the body runs (CPython test_taskgroup_02)", helper.async(function()
      local t1, t2
      do
         local g <close> = asyncio.TaskGroup()
         t1 = g:create_task(sleep_return(0.01, 42))
         await(asyncio.sleep(0.015))
         t2 = g:create_task(sleep_return(0.02, 11))
      end
      assert.equal(42, t1:result())
      assert.equal(11, t2:result())
   end))

   it("goes on when one of its tasks is cancelled (CPython test_taskgroup_03)", helper.async(function()
      local t1, t2
      do
         local g <close> = asyncio.TaskGroup()
         t1 = g:create_task(sleep_return(1, 42))
         await(asyncio.sleep(0.015))
         t1:cancel()
         t2 = g:create_task(sleep_return(0.02, 11))
      end
      assert.is_true(t1:cancelled())
      assert.equal(11, t2:result())
   end))

   it("cancels the others when a task fails (CPython test_taskgroup_04)", helper.async(function()
      local num, t2_cancel, t2 = 0, false, nil
      local foo2 = async(function()
         local err = error_of(await, asyncio.sleep(1))
         if is_cancelled(err) then
            t2_cancel = true
            error(err, 0)
         end
         num = num + 1
      end)
      local runner = async(function()
         do
            local g <close> = asyncio.TaskGroup()
            g:create_task(crash_after(0.01))
            t2 = g:create_task(foo2())
         end
         num = num + 10
      end)
      local err = error_of(await, asyncio.create_task(runner()))
      assert.same({ ZeroDivisionError = true }, error_types(err))
      assert.equal(0, num)
      assert.is_true(t2_cancel)
      assert.is_true(t2:cancelled())
   end))

   it("cancels the children and the body on a child's error (CPython test_cancel_children_on_child_error)",
      helper.async(function()
         local num, t2_cancel, runner_cancel = 0, false, false
         local foo2 = async(function()
            local err = error_of(await, asyncio.sleep(5))
            if is_cancelled(err) then
               t2_cancel = true
               error(err, 0)
            end
            num = num + 1
         end)
         local runner = async(function()
            do
               local g <close> = asyncio.TaskGroup()
               g:create_task(crash_after(0.01))
               g:create_task(crash_after(0.01))
               g:create_task(crash_after(0.01))
               g:create_task(foo2())
               local err = error_of(await, asyncio.sleep(10))
               if is_cancelled(err) then
                  runner_cancel = true
               end
               error(err, 0)
            end
            num = num + 10 -- luacheck: ignore (unreachable)
         end)
         local err = error_of(await, asyncio.create_task(runner()))
         assert.same({ ZeroDivisionError = true }, error_types(err))
         assert.equal(3, #err.errors)
         assert.equal(0, num)
         assert.is_true(t2_cancel)
         assert.is_true(runner_cancel)
      end))

   it("cancelled from outside cancels its tasks and propagates the cancellation (CPython test_cancellation)",
      helper.async(function()
         local num = 0
         local foo = async(function()
            local err = error_of(await, asyncio.sleep(5))
            if is_cancelled(err) then
               num = num + 1
            end
            error(err, 0)
         end)
         local runner = async(function()
            local g <close> = asyncio.TaskGroup()
            for _ = 1, 5 do
               g:create_task(foo())
            end
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         assert.is_false(r:done())
         r:cancel("test")
         local err = error_of(await, r)
         assert.is_true(is_cancelled(err))
         assert.equal("test", err.message)
         assert.equal(5, num)
      end))

   it("cancelled from outside cancels the body too (CPython test_taskgroup_07)", helper.async(function()
      local num = 0
      local foo = async(function()
         local err = error_of(await, asyncio.sleep(5))
         if is_cancelled(err) then
            num = num + 1
         end
         error(err, 0)
      end)
      local runner = async(function()
         local g <close> = asyncio.TaskGroup()
         for _ = 1, 5 do
            g:create_task(foo())
         end
         local err = error_of(await, asyncio.sleep(10))
         if is_cancelled(err) then
            num = num + 10
         end
         error(err, 0)
      end)
      local r = asyncio.create_task(runner())
      await(asyncio.sleep(0.01))
      r:cancel()
      assert.is_true(is_cancelled(error_of(await, r)))
      assert.equal(15, num)
   end))

   it("cancelled, raises the errors of tasks failing while cancelled (CPython test_taskgroup_08)",
      helper.async(function()
         local foo = async(function()
            local _ <close> = finally(function() raise("ZeroDivisionError") end)
            await(asyncio.sleep(10))
         end)
         local runner = async(function()
            local g <close> = asyncio.TaskGroup()
            for _ = 1, 5 do
               g:create_task(foo())
            end
            await(asyncio.sleep(10))
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         assert.is_false(r:done())
         r:cancel()
         local err = error_of(await, r)
         assert.same({ ZeroDivisionError = true }, error_types(err))
         assert.is_true(r:done() and not r:cancelled())
      end))

   it("cancelled while a task fails, propagates the cancellation (CPython test_cancellation_in_body)",
      helper.async(function()
         local runner = async(function()
            local g <close> = asyncio.TaskGroup()
            for _ = 1, 5 do
               g:create_task(crash_after(0.05))
            end
            await(asyncio.sleep(10))
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         assert.is_false(r:done())
         r:cancel("test")
         local err = error_of(await, r)
         assert.is_true(is_cancelled(err))
         assert.equal("test", err.message)
      end))

   for _, wait in ipairs({ true, false }) do
      it(("puts the body's error in the group and cancels the tasks (CPython test_taskgroup_%s)"):format(
         wait and "09" or "10"), helper.async(function()
            local t1, t2
            local runner = async(function()
               local g <close> = asyncio.TaskGroup()
               t1 = g:create_task(sleep_return(1, 42))
               t2 = g:create_task(sleep_return(2, 11))
               if wait then
                  await(asyncio.sleep(0.01))
               end
               raise("ZeroDivisionError")
            end)
            local err = error_of(await, runner())
            assert.same({ ZeroDivisionError = true }, error_types(err))
            assert.is_true(t1:cancelled())
            assert.is_true(t2:cancelled())
         end))
   end

   it("nested, cancelled from outside (CPython test_taskgroup_11)", helper.async(function()
      local runner = async(function()
         local _ <close> = asyncio.TaskGroup()
         local g2 <close> = asyncio.TaskGroup()
         for _ = 1, 5 do
            g2:create_task(crash_after(0.05))
         end
         await(asyncio.sleep(10))
      end)
      local r = asyncio.create_task(runner())
      await(asyncio.sleep(0.01))
      assert.is_false(r:done())
      r:cancel()
      assert.is_true(is_cancelled(error_of(await, r)))
   end))

   it("nested with a task in the outer group, cancelled from outside (CPython test_taskgroup_12)",
      helper.async(function()
         local runner = async(function()
            local g1 <close> = asyncio.TaskGroup()
            g1:create_task(asyncio.sleep(10))
            local g2 <close> = asyncio.TaskGroup()
            for _ = 1, 5 do
               g2:create_task(crash_after(0.05))
            end
            await(asyncio.sleep(10))
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         r:cancel()
         assert.is_true(is_cancelled(error_of(await, r)))
      end))

   it("nested: the outer group's failure cancels the inner one (CPython test_taskgroup_13)", helper.async(function()
      local runner = async(function()
         local g1 <close> = asyncio.TaskGroup()
         g1:create_task(crash_after(0.01, "ValueError"))
         local g2 <close> = asyncio.TaskGroup()
         g2:create_task(crash_after(10, "ValueError"))
      end)
      local err = error_of(await, asyncio.create_task(runner()))
      assert.same({ ValueError = true }, error_types(err))
   end))

   it("nested: the inner group's failure is a group in the outer one (CPython test_taskgroup_14)",
      helper.async(function()
         local runner = async(function()
            local g1 <close> = asyncio.TaskGroup()
            g1:create_task(crash_after(10, "ValueError"))
            local g2 <close> = asyncio.TaskGroup()
            g2:create_task(crash_after(0.01, "ValueError"))
         end)
         local err = error_of(await, asyncio.create_task(runner()))
         assert.same({ group = true }, error_types(err))
         assert.same({ ValueError = true }, error_types(err.errors[1]))
      end))

   for _, nested in ipairs({ false, true }) do
      it(("cancelled, waits for a body that cleans up slowly, failing meanwhile (CPython test_taskgroup_%s)"):format(
         nested and "16" or "15"), helper.async(function()
            local nested_runner = async(function()
               local g1 <close> = asyncio.TaskGroup()
               g1:create_task(crash_after(0.03))
               local err = error_of(await, asyncio.sleep(10))
               if is_cancelled(err) then
                  await(asyncio.sleep(0.05))
               end
               error(err, 0)
            end)
            local runner = nested and async(function()
               await(asyncio.create_task(nested_runner()))
            end) or nested_runner
            local r = asyncio.create_task(runner())
            await(asyncio.sleep(0.01))
            assert.is_false(r:done())
            r:cancel()
            -- the task failed while the body cleaned up: the group's error wins
            local err = error_of(await, r)
            assert.same({ ZeroDivisionError = true }, error_types(err))
         end))
   end

   it("without tasks, cancelled from outside (CPython test_taskgroup_17)", helper.async(function()
      local num = 0
      local runner = async(function()
         local _ <close> = asyncio.TaskGroup()
         local err = error_of(await, asyncio.sleep(10))
         if is_cancelled(err) then
            num = num + 10
         end
         error(err, 0)
      end)
      local r = asyncio.create_task(runner())
      await(asyncio.sleep(0.01))
      r:cancel()
      assert.is_true(is_cancelled(error_of(await, r)))
      assert.equal(10, num)
   end))

   it("turns an error raised by a cancelled body into a group (CPython test_taskgroup_18)", helper.async(function()
      local num = 0
      local runner = async(function()
         local _ <close> = asyncio.TaskGroup()
         local err = error_of(await, asyncio.sleep(10))
         if is_cancelled(err) then
            num = num + 10
            raise("MyExc") -- not a good idea, but supported
         end
      end)
      local r = asyncio.create_task(runner())
      await(asyncio.sleep(0.01))
      r:cancel()
      local err = error_of(await, r)
      assert.same({ MyExc = true }, error_types(err))
      assert.equal(10, num)
   end))

   it("keeps the body's error raised in cleanup beside the task's (CPython test_taskgroup_19)", helper.async(function()
      local nested = async(function()
         local _ <close> = finally(function() raise("MyExc") end)
         await(asyncio.sleep(10))
      end)
      local runner = async(function()
         local g <close> = asyncio.TaskGroup()
         g:create_task(crash_after(0.01))
         await(nested())
      end)
      local err = error_of(await, asyncio.create_task(runner()))
      assert.same({ MyExc = true, ZeroDivisionError = true }, error_types(err))
   end))

   it("waits for tasks that its tasks add (CPython test_taskgroup_24)", helper.async(function()
      local coro1 = async(function(delay) await(asyncio.sleep(delay)) end)
      local added
      local root = async(function(g)
         await(asyncio.sleep(0.01))
         added = { g:create_task(coro1(0.01)), g:create_task(coro1(0.02)) }
      end)
      do
         local g <close> = asyncio.TaskGroup()
         g:create_task(root(g))
      end
      assert.is_true(added[1]:done() and added[2]:done())
   end))

   it("stops a hydra (CPython test_taskgroup_25)", helper.async(function()
      local nhydras = 0
      local hydra
      hydra = async(function(g)
         nhydras = nhydras + 1
         await(asyncio.sleep(0.01))
         g:create_task(hydra(g))
         g:create_task(hydra(g))
      end)
      local hercules = async(function()
         while nhydras < 10 do
            await(asyncio.sleep(0.015))
         end
         raise("ZeroDivisionError")
      end)
      local err = error_of(function()
         local g <close> = asyncio.TaskGroup()
         g:create_task(hydra(g))
         g:create_task(hercules())
      end)
      assert.same({ ZeroDivisionError = true }, error_types(err))
      assert.is_true(nhydras >= 10)
   end))

   it("names its tasks as create_task does (CPython test_taskgroup_task_name)", helper.async(function()
      local g <close> = asyncio.TaskGroup()
      local t = g:create_task(asyncio.sleep(0), { name = "yolo" })
      assert.equal("yolo", t:get_name())
      local u = g:create_task(function() return asyncio.current_task():get_name() end, { name = "fn" })
      assert.equal("fn", await(u))
   end))

   it("refuses new tasks once a task failed (CPython test_taskgroup_no_create_task_after_failure)",
      helper.async(function()
         local refused
         local coro1 = async(function()
            await(asyncio.sleep(0.001))
            raise("ZeroDivisionError")
         end)
         local coro2 = async(function(g)
            local err = error_of(await, asyncio.sleep(1))
            if is_cancelled(err) then
               refused = error_of(g.create_task, g, coro1())
            end
         end)
         local err = error_of(function()
            local g <close> = asyncio.TaskGroup()
            g:create_task(coro1())
            g:create_task(coro2(g))
         end)
         assert.same({ ZeroDivisionError = true }, error_types(err))
         assert.matches("^TaskGroup <TaskGroup.*> is shutting down$", refused)
      end))

   it("keeps both errors when a scope inside it fails on exit (CPython test_taskgroup_context_manager_exit_raises)",
      helper.async(function()
         local main = async(function()
            local task = asyncio.current_task()
            local err = error_of(function()
               local tg <close> = asyncio.TaskGroup()
               local _ <close> = finally(function() raise("CustomException") end)
               tg:create_task(async(function() raise("CustomException") end)())
               await(asyncio.sleep(1))
            end)
            assert.equal(0, task:cancelling())
            assert.equal(2, #err.errors)
            assert.same({ CustomException = true }, error_types(err))
         end)
         await(asyncio.create_task(main()))
      end))

   it("refuses new tasks once it is closed (CPython test_taskgroup_finished)", helper.async(function()
      local tg
      do
         local g <close> = asyncio.TaskGroup()
         tg = g
      end
      local coro = asyncio.sleep(0.01)
      assert.has_error(function() tg:create_task(coro) end,
         "TaskGroup <TaskGroup entered> is finished") -- Python 3.13's words
      -- closed, as Python's coro.close(): debug mode does not report it
      local _, awaited = require("asyncio.core").coro_info(coro)
      assert.is_true(awaited)
   end))

   it("must be made inside a task (CPython test_taskgroup_without_parent_task)", function()
      assert.has_error(function() asyncio.TaskGroup() end,
         "'TaskGroup' must be called inside a task (it cannot determine the parent task)")
   end)

   it("leaves the parent's cancel count at 0 after a failure (CPython test_cancelling_level_preserved)",
      helper.async(function()
         local err = error_of(function()
            local tg <close> = asyncio.TaskGroup()
            tg:create_task(crash_after(0, "RuntimeError"))
         end)
         assert.same({ RuntimeError = true }, error_types(err))
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   it("nested, both failing, keeps the outer cancellation (CPython test_nested_groups_both_cancelled)",
      helper.async(function()
         local inner_err
         local err = error_of(function()
            local outer_tg <close> = asyncio.TaskGroup()
            inner_err = error_of(function()
               local inner_tg <close> = asyncio.TaskGroup()
               inner_tg:create_task(crash_after(0, "RuntimeError"))
               outer_tg:create_task(crash_after(0, "ValueError"))
            end)
            assert.equal(1, asyncio.current_task():cancelling())
         end)
         assert.same({ RuntimeError = true }, error_types(inner_err))
         assert.same({ ValueError = true }, error_types(err))
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   it("failing while its task is cancelled from outside keeps the cancellation (CPython test_error_and_cancel)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local started = loop:create_future()
         local reached = {}
         local raise_error = async(function()
            started:set_result()
            await(asyncio.sleep(0))
            raise("RuntimeError")
         end)
         local inner = async(function()
            local err = error_of(function()
               local tg <close> = asyncio.TaskGroup()
               tg:create_task(raise_error())
               await(asyncio.sleep(1))
               reached[#reached + 1] = "sleep in group"
            end)
            assert(asyncio.ExceptionGroup:is(err))
            reached.cancelling = asyncio.current_task():cancelling()
            await(asyncio.sleep(1))
            reached[#reached + 1] = "sleep after group"
         end)
         local t = asyncio.create_task(inner())
         await(started)
         assert.equal(0, t:cancelling())
         t:cancel()
         assert.equal(1, t:cancelling())
         assert.is_true(is_cancelled(error_of(await, t)))
         assert.is_true(t:cancelled())
         assert.equal(1, reached.cancelling)
         assert.same({}, { table.unpack(reached) })
      end))

   it("prints its state", helper.async(function()
      local g <close> = asyncio.TaskGroup()
      assert.equal("<TaskGroup entered>", tostring(g))
      g:create_task(asyncio.sleep(0.01))
      assert.equal("<TaskGroup tasks=1 entered>", tostring(g))
      local closed
      do
         local h <close> = asyncio.TaskGroup()
         closed = h
      end
      assert.equal("<TaskGroup entered>", tostring(closed)) -- as Python's, after its exit
   end))

   it("reports a task failing after its parent finished", helper.async(function()
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local release = loop:create_future()
      local child
      local parent = asyncio.create_task(async(function()
         local g = asyncio.TaskGroup() -- never closed: the parent returns
         child = g:create_task(async(function()
            await(release)
            raise("late")
         end)())
      end)())
      await(parent)
      release:set_result()
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      assert.equal(1, #reports)
      assert.matches("has errored out but its parent task .* is already completed", reports[1].message)
      assert.equal("late", reports[1].error)
      assert.equal(child, reports[1].task)
   end))

   it("names the function and argument in its errors", helper.async(function()
      local g <close> = asyncio.TaskGroup()
      assert.has_error(function() g:create_task(42) end,
         "bad argument #1 to 'create_task' (coroutine object or function expected, got number)")
      assert.has_error(function() g:create_task(asyncio.sleep(0), 3) end,
         "bad argument #2 to 'create_task' (options table expected, got number)")
      assert.has_error(function() g:create_task(asyncio.sleep(0), { eager = true }) end,
         "bad argument #2 to 'create_task' (unknown option 'eager')")
      assert.equal("3", g:create_task(asyncio.sleep(0), { name = 3 }):get_name()) -- Python's str(name)
      assert.has_error(function() g.create_task(nil, asyncio.sleep(0)) end,
         "bad argument #1 to 'create_task' (TaskGroup expected, got nil)")
      assert.has_error(function() asyncio.TaskGroup(1) end, -- it was ignored
         "bad argument #1 to 'TaskGroup' (no value expected, got number)")
   end))

   it("blames the caller's line for an async function not called, and refuses a second close",
      helper.async(function()
         local g <close> = asyncio.TaskGroup()
         local ok, err = pcall(function() g:create_task(asyncio.async(function() end)) end)
         assert.is_false(ok) -- it named a line of taskgroups.lua
         assert.matches("^spec/taskgroup_spec%.lua:%d+: bad argument #1 to 'create_task' %(coroutine object "
            .. "expected, got async function; call it first%)$", err)
         local h = asyncio.TaskGroup()
         local close = getmetatable(h).__close
         close(h)
         ok, err = pcall(close, h) -- it failed inside, on errors it had let go
         assert.is_false(ok)
         assert.matches("TaskGroup <TaskGroup entered> has already been closed$", err)
         ok, err = pcall(close, nil)
         assert.is_false(ok)
         assert.matches("bad argument #1 to '__close' %(TaskGroup expected, got nil%)$", err)
      end))
end)
