-- asyncio.TaskGroup checked against CPython 3.13: ports of the scenarios of
-- Lib/test/test_asyncio/test_taskgroups.py that spec/taskgroup_spec.lua
-- and spec/compose_cpython_spec.lua leave out, and variants of them that
-- log more (events, cancel counts, task states). Every expectation is what
-- the same scenario printed under CPython 3.13. A group is entered when it
-- is made, so Python's tests about entering twice or not at all have no
-- Lua form; errors are strings named after the Python exceptions.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local is_cancelled = helper.is_cancelled
local async, await = asyncio.async, asyncio.await

local error_of = helper.error_of

-- An error message without the "file:line: " where Lua raised it.
local function bare(message)
   return (tostring(message):gsub("^[^:]+:%d+: ", ""))
end

-- The list of the errors of an ExceptionGroup, nested groups as "group".
local function error_list(eg)
   assert(asyncio.ExceptionGroup:is(eg), "not an ExceptionGroup: " .. tostring(eg))
   local list = {}
   for i, e in ipairs(eg.errors) do
      list[i] = asyncio.ExceptionGroup:is(e) and "group" or bare(e)
   end
   return list
end

local sleep_return = async(function(dt, value)
   await(asyncio.sleep(dt))
   return value
end)

-- Sleeps dt seconds, logs "crash" and fails with ZeroDivisionError.
local crash_soon = async(function(log, dt)
   await(asyncio.sleep(dt))
   log[#log + 1] = "crash"
   error("ZeroDivisionError", 0)
end)

describe("TaskGroup, ported from CPython 3.13's test_taskgroups.py", function()
   it("cancelled while its body lingers in its cancellation, raises the task's failure (CPython test_taskgroup_15)",
      helper.async(function()
         local log = {}
         local runner = async(function()
            local g1 <close> = asyncio.TaskGroup()
            g1:create_task(crash_soon(log, 0.03))
            local ok, err = pcall(await, asyncio.sleep(10))
            if not ok and is_cancelled(err) then
               log[#log + 1] = "body cancelled"
               local slept, e2 = pcall(await, asyncio.sleep(0.05))
               if slept then
                  log[#log + 1] = "body slept"
               else
                  log[#log + 1] = "body sleep cut"
                  error(e2, 0)
               end
            end
            error(err, 0)
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         assert.is_false(r:done())
         r:cancel()
         local err = error_of(await, r)
         assert.same({ "ZeroDivisionError" }, error_list(err))
         assert.same({ "body cancelled", "crash", "body sleep cut" }, log)
         assert.is_false(r:cancelled())
         assert.equal(1, r:cancelling())
      end))

   it("in a task awaited by the one cancelled, raises the task's failure (CPython test_taskgroup_16)",
      helper.async(function()
         local log = {}
         local nested_runner = async(function()
            local g1 <close> = asyncio.TaskGroup()
            g1:create_task(crash_soon(log, 0.03))
            local ok, err = pcall(await, asyncio.sleep(10))
            if not ok and is_cancelled(err) then
               log[#log + 1] = "body cancelled"
               await(asyncio.sleep(0.05))
            end
            error(err, 0)
         end)
         local t
         local runner = async(function()
            t = asyncio.create_task(nested_runner())
            await(t)
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         assert.is_false(r:done())
         r:cancel()
         local err = error_of(await, r)
         assert.same({ "ZeroDivisionError" }, error_list(err))
         assert.same({ "body cancelled", "crash" }, log)
         assert.is_false(r:cancelled())
         assert.equal(1, r:cancelling())
         assert.is_false(t:cancelled())
         assert.equal(1, t:cancelling())
      end))

   it("cancelled while it waits for its tasks at exit, is cancelled and cancels them (CPython test_taskgroup_22)",
      helper.async(function()
         local ts = {}
         local runner = async(function()
            local g <close> = asyncio.TaskGroup()
            ts[1] = g:create_task(sleep_return(1, 42))
            ts[2] = g:create_task(sleep_return(2, 11))
         end)
         local r = asyncio.create_task(runner())
         await(asyncio.sleep(0.01))
         r:cancel()
         local err = helper.cancelled(r)
         assert.is_nil(err.message)
         assert.is_true(r:cancelled())
         assert.equal(1, r:cancelling())
         assert.is_true(ts[1]:cancelled())
         assert.is_true(ts[2]:cancelled())
      end))

   it("forgets its tasks as they finish (CPython test_taskgroup_23)", helper.async(function()
      local do_job = async(function(delay) await(asyncio.sleep(delay)) end)
      local g <close> = asyncio.TaskGroup()
      for count = 0, 9 do
         await(asyncio.sleep(0.01))
         g:create_task(do_job(0.025))
         if count == 5 then
            -- Python printed 3 and <TaskGroup tasks=3 entered> (it depends on timing)
            local n = tonumber(tostring(g):match("^<TaskGroup tasks=(%d+) entered>$"))
            assert.is_true(n ~= nil and n < 5, tostring(g))
         end
      end
      await(asyncio.sleep(0.1))
      assert.equal("<TaskGroup entered>", tostring(g))
   end))

   it("closed, refuses a task outside of a running task and closes its coroutine "
      .. "(CPython test_coro_closed_when_tg_closed)", function()
         local loop = asyncio.new_event_loop()
         local message, awaited
         loop:run_until_complete(async(function()
            local tg
            do
               local g <close> = asyncio.TaskGroup()
               tg = g
            end
            local coro = asyncio.sleep(0)
            message = bare(error_of(function() tg:create_task(coro) end))
            awaited = select(2, require("asyncio.core").coro_info(coro))
         end)())
         loop:close()
         assert.equal("TaskGroup <TaskGroup entered> is finished", message)
         assert.is_true(awaited)
      end)
end)

describe("TaskGroup, variants of CPython 3.13's test_taskgroups.py", function()
   it("refuses a task added while it shuts down and keeps that error beside the first "
      .. "(CPython test_taskgroup_no_create_task_after_failure)", helper.async(function()
         local log = {}
         local adder = async(function(tg)
            local ok, err = pcall(await, asyncio.sleep(10))
            if not ok then
               log[#log + 1] = "adder cancelled"
               local e = error_of(function() tg:create_task(asyncio.sleep(0)) end)
               log[#log + 1] = bare(e)
               error(e, 0)
            end
            error(err, 0)
         end)
         local err = error_of(function()
            local tg <close> = asyncio.TaskGroup()
            tg:create_task(adder(tg))
            tg:create_task(async(function()
               await(asyncio.sleep(0))
               error("ZeroDivisionError", 0)
            end)())
         end)
         local shutting = "TaskGroup <TaskGroup tasks=1 errors=1 cancelling> is shutting down"
         assert.same({ "ZeroDivisionError", shutting }, error_list(err))
         assert.same({ "adder cancelled", shutting }, log)
         assert.equal(0, asyncio.current_task():cancelling())
      end))

   it("whose body cancels its own task without awaiting, ends normally; the next await is cancelled "
      .. "(CPython test_cancellation)", helper.async(function()
         local log = {}
         local t = asyncio.create_task(async(function()
            do
               local _ <close> = asyncio.TaskGroup()
               asyncio.current_task():cancel()
            end
            log[#log + 1] = "after group"
            if not pcall(await, asyncio.sleep(0)) then
               log[#log + 1] = "cancelled at next await"
               error(asyncio.CancelledError)
            end
            log[#log + 1] = "slept"
         end)())
         helper.cancelled(t)
         assert.same({ "after group", "cancelled at next await" }, log)
         assert.is_true(t:cancelled())
         assert.equal(1, t:cancelling())
      end))

   it("whose body cancels its own task with a task running, cancels it and propagates "
      .. "(CPython test_cancellation)", helper.async(function()
         local log = {}
         local t = asyncio.create_task(async(function()
            do
               local tg <close> = asyncio.TaskGroup()
               tg:create_task(async(function()
                  local ok, err = pcall(await, asyncio.sleep(10))
                  if not ok then
                     log[#log + 1] = "child cancelled"
                     error(err, 0)
                  end
               end)())
               asyncio.current_task():cancel()
            end
            log[#log + 1] = "after group"
         end)())
         helper.cancelled(t)
         assert.same({ "child cancelled" }, log)
         assert.is_true(t:cancelled())
         assert.equal(1, t:cancelling())
      end))

   it("keeps the failures of one iteration in the order they came, and cancels tasks not failed yet "
      .. "(CPython test_taskgroup_04)", helper.async(function()
         local log
         local fail = async(function(name, n, insist)
            local ok, err = pcall(function()
               for _ = 1, n do
                  await(asyncio.sleep(0))
               end
            end)
            if not ok then
               log[#log + 1] = name .. " cancelled"
               error(insist and name or err, 0)
            end
            log[#log + 1] = name .. " fails"
            error(name, 0)
         end)
         local cases = {
            { { { "a", 1 }, { "b", 1 }, { "c", 1 } }, { "a", "b", "c" }, { "a fails", "b fails", "c fails" },
              { false, false, false } },
            { { { "a", 1 }, { "b", 2 }, { "c", 2, true } }, { "a", "c" }, { "a fails", "b cancelled", "c cancelled" },
              { false, true, false } },
         }
         for _, case in ipairs(cases) do
            log = {}
            local ts = {}
            local err = error_of(function()
               local tg <close> = asyncio.TaskGroup()
               for i, args in ipairs(case[1]) do
                  ts[i] = tg:create_task(fail(table.unpack(args)))
               end
            end)
            assert.same(case[2], error_list(err))
            assert.same(case[3], log)
            assert.same(case[4], { ts[1]:cancelled(), ts[2]:cancelled(), ts[3]:cancelled() })
         end
      end))

   it("prints itself cancelling once it aborted, and refuses tasks as finished (CPython test_taskgroup_finished)",
      helper.async(function()
         local tg
         error_of(function()
            local g <close> = asyncio.TaskGroup()
            tg = g
            assert.equal("<TaskGroup entered>", tostring(g))
            error("ValueError", 0)
         end)
         assert.equal("<TaskGroup cancelling>", tostring(tg))
         assert.equal("TaskGroup <TaskGroup cancelling> is finished",
            bare(error_of(function() tg:create_task(asyncio.sleep(0)) end)))
         local t = asyncio.create_task(async(function()
            local g <close> = asyncio.TaskGroup()
            tg = g
            g:create_task(asyncio.sleep(10))
            await(asyncio.sleep(10))
         end)())
         await(asyncio.sleep(0.01))
         t:cancel()
         helper.cancelled(t)
         assert.equal("<TaskGroup cancelling>", tostring(tg))
         error_of(function()
            local g <close> = asyncio.TaskGroup()
            tg = g
            g:create_task(async(function()
               await(asyncio.sleep(0))
               error("v", 0)
            end)())
            g:create_task(asyncio.sleep(10))
            assert.equal("<TaskGroup tasks=2 entered>", tostring(g))
         end)
         assert.equal("<TaskGroup cancelling>", tostring(tg))
      end))
end)
