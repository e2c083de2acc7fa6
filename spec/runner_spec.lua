-- asyncio.Runner (Python 3.11): asyncio.run in parts, one loop for several
-- run calls.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("asyncio.Runner", function()
   it("runs several mains on one loop and closes it at scope exit", function()
      local loop, leftover
      do
         local runner <close> = asyncio.Runner()
         local r = table.pack(runner:run(async(function()
            await(asyncio.sleep(0))
            return 1, nil, 3
         end)()))
         assert.same({ n = 3, 1, nil, 3 }, r)
         loop = runner:get_loop()
         assert.equal(loop, asyncio.get_event_loop())
         assert.equal(42, runner:run(function(x)
            assert.equal(loop, asyncio.get_running_loop())
            leftover = asyncio.create_task(asyncio.sleep(10))
            return x * 2
         end, 21))
         assert.is_false(loop:is_closed())
         assert.equal("<asyncio.Runner initialized>", tostring(runner))
      end
      assert.is_true(loop:is_closed())
      assert.is_true(leftover:cancelled())
   end)

   it("raises the error of main and stays usable", function()
      local runner <close> = asyncio.Runner()
      local err = helper.error_of(runner.run, runner, function() error({ code = 7 }) end)
      assert.equal(7, err.code)
      assert.equal("again", runner:run(function() return "again" end))
   end)

   it("takes debug and loop_factory", function()
      local made
      local runner = asyncio.Runner({ debug = true, loop_factory = function()
         made = asyncio.new_event_loop()
         return made
      end })
      assert.equal(made, nil)
      local loop = runner:get_loop()
      assert.equal(made, loop)
      assert.is_true(loop:get_debug())
      runner:close()
      assert.is_true(loop:is_closed())
   end)

   it("refuses to run when closed, inside a running loop, or with bad arguments", function()
      local runner = asyncio.Runner()
      runner:get_loop()
      runner:close()
      runner:close() -- twice is fine
      assert.equal("Runner is closed", helper.error_of(runner.run, runner, function() end))
      assert.equal("Runner is closed", helper.error_of(runner.get_loop, runner))
      local open = asyncio.Runner()
      assert.matches("cannot be called from a running event loop", open:run(function()
         return helper.error_of(open.run, open, function() end)
      end))
      assert.matches("bad argument #1 to 'run' %(coroutine object or function expected, got number%)",
         helper.error_of(open.run, open, 5))
      assert.matches("unknown option 'bogus'", helper.error_of(asyncio.Runner, { bogus = true }))
      assert.matches("option 'debug' must be a boolean", helper.error_of(asyncio.Runner, { debug = 1 }))
      open:close()
   end)

   it("leaves nothing to close if no loop was made", function()
      local runner = asyncio.Runner()
      runner:close()
      assert.equal("<asyncio.Runner created>", tostring(runner))
   end)
end)

-- Ctrl-C (SIGINT) under lua5.4, which catches it while it runs a script: as
-- Python's Runner, the first one cancels the main task and run raises
-- "interrupted!" (lua5.4's own error for it); a second one stops at once.
-- Each case runs in its own lua5.4 process, which signals itself.
describe("asyncio.run", function()
   local debug_of = asyncio.async(function()
      return asyncio.get_running_loop():get_debug()
   end)

   it("takes Python's keyword arguments as a table after a coroutine object", function()
      assert.is_true(asyncio.run(debug_of(), { debug = true }))
      assert.is_false(asyncio.run(debug_of(), { debug = false }))
      local made
      asyncio.run(debug_of(), { loop_factory = function()
         made = asyncio.new_event_loop()
         return made
      end })
      assert.is_true(made:is_closed())
   end)

   it("refuses what a coroutine object cannot take (it used to ignore it)", function()
      local function failure(...)
         local main = debug_of()
         local ok, err = pcall(asyncio.run, main, ...)
         asyncio.run(main) -- awaited: no report
         assert.is_false(ok)
         return err
      end
      assert.matches("bad argument #2 to 'run' %(options table expected, got string%)", failure("junk"))
      assert.matches("bad argument #2 to 'run' %(unknown option 'bogus'%)", failure({ bogus = 1 }))
      assert.matches("bad argument #3 to 'run' %(nothing expected after the options%)", failure({}, 42))
   end)

   it("Runner:run refuses arguments after a coroutine object too", function()
      local runner <close> = asyncio.Runner()
      local main = debug_of()
      local ok, err = pcall(runner.run, runner, main, { debug = true })
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'run' %(nothing expected after a coroutine object%)", err)
      assert.is_false(runner:run(main))
   end)

   it("still passes its arguments to a function", function()
      assert.equal(3, asyncio.run(function(a, b) return a + b end, 1, 2))
   end)
end)

describe("asyncio.run and Ctrl-C", function()
   local PRELUDE = [[
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await
-- io.popen, as os.execute (system()) ignores SIGINT while its command runs
local function ctrl_c() io.popen("kill -INT " .. require("asyncio.core").getpid()):close() end
]]

   local function run_lua(code)
      return helper.run_fresh(PRELUDE .. code)
   end

   it("cancels the main task at the first, then raises interrupted!", function()
      local out, status = run_lua([[
local ok, err = pcall(asyncio.run, async(function()
   local _ <close> = setmetatable({}, { __close = function() print("main unwound") end })
   ctrl_c()
   await(asyncio.sleep(10))
   print("not reached")
end))
print(ok, err)
-- lua5.4's own handler is back once run returns
print(pcall(function() ctrl_c() for _ = 1, 1e9 do end end))
]])
      assert.matches("^main unwound\nfalse\tinterrupted!\nfalse\t[^\n]*interrupted!\n$", out)
      assert.equal(0, status)
   end)

   it("returns what main returns if main swallows the cancellation", function()
      local out = run_lua([[
print(asyncio.run(async(function()
   ctrl_c()
   local ok, err = pcall(await, asyncio.sleep(10))
   print("caught", asyncio.CancelledError:is(err))
   asyncio.current_task():uncancel()
   return "done"
end)))
]])
      assert.equal("caught\ttrue\ndone\n", out)
   end)

   it("stops at the second even if main goes on", function()
      local out = run_lua([[
print(pcall(asyncio.run, async(function()
   ctrl_c()
   pcall(await, asyncio.sleep(10))
   print("ignored the first")
   ctrl_c()
   await(asyncio.sleep(10))
   print("not reached")
end)))
]])
      assert.equal("ignored the first\nfalse\tinterrupted!\n", out)
   end)

   it("raises the CancelledError of a main task cancelled just before (CPython test_interrupt_cancelled_task)",
      function()
         -- the run's handler is Python's plain signal handler: it runs before
         -- main wakes from the first cancel, and cancels it a second time
         local out = run_lua([[
local core = require("asyncio.core")
local subtask = async(function(task)
   await(asyncio.sleep(0))
   task:cancel()
   -- a kill() of our own process delivers the signal before it returns, as
   -- Python's os.kill in CPython's test (ctrl_c's is another process's:
   -- the next poll could miss it)
   core.kill(core.getpid(), "SIGINT")
end)
local runner <close> = asyncio.Runner()
local ok, err = pcall(runner.run, runner, async(function()
   asyncio.create_task(subtask(asyncio.current_task()))
   local _, e = pcall(await, asyncio.sleep(10))
   print("cancelling", asyncio.current_task():cancelling())
   error(e, 0)
end)())
print(ok, asyncio.CancelledError:is(err))
print(runner:run(asyncio.sleep(0, "runs on"))) -- a stop() once left queued cut it short
]])
         assert.equal("cancelling\t2\nfalse\ttrue\nruns on\n", out)
      end)

   it("runs the SIGINT handler at the next iteration though another thread's loop polled since", function()
      -- every loop's poll cleared the flag that makes the run's busy loop
      -- poll for the signal: main woke from the first cancel before it
      local out = run_lua([[
local core = require("asyncio.core")
local lt = asyncio.start_loop_thread()
local subtask = async(function(task)
   await(asyncio.sleep(0))
   task:cancel()
   core.kill(core.getpid(), "SIGINT")
   -- the loop thread polls (and runs this) before our loop's next iteration
   lt:run_coroutine_threadsafe(function() return 1 end):result(5)
end)
local runner = asyncio.Runner()
local ok, err = pcall(runner.run, runner, async(function()
   asyncio.create_task(subtask(asyncio.current_task()))
   local _, e = pcall(await, asyncio.sleep(10))
   print("cancelling", asyncio.current_task():cancelling())
   error(e, 0)
end)())
print(ok, asyncio.CancelledError:is(err), pcall(runner.close, runner))
lt:stop()
lt:join()
]])
      assert.equal("cancelling\t2\nfalse\ttrue\ttrue\n", out)
   end)

   it("ends a run whose main only sleeps (it used to hang)", function()
      local out = run_lua([[
io.popen(("(sleep 0.1; kill -INT %d) &"):format(require("asyncio.core").getpid())):close()
print(pcall(asyncio.run, asyncio.sleep(5)))
]])
      assert.equal("false\tinterrupted!\n", out)
   end)

   it("stops a plain run_forever or run_until_complete, which raise interrupted!", function()
      local out = run_lua([[
local loop = asyncio.new_event_loop()
local function ctrl_c_soon()
   io.popen(("(sleep 0.1; kill -INT %d) &"):format(require("asyncio.core").getpid())):close()
end
ctrl_c_soon()
loop:call_later(5, print, "not reached")
print(pcall(loop.run_forever, loop))
ctrl_c_soon()
print(pcall(loop.run_until_complete, loop, asyncio.sleep(5)))
print(loop:is_running(), loop:is_closed())
loop:close()
-- lua5.4's own handler is back
print(pcall(function() ctrl_c() for _ = 1, 1e9 do end end))
]])
      -- it used to be reported inside a callback, lost, and the loop ran on
      assert.matches("^false\tinterrupted!\nfalse\tinterrupted!\nfalse\tfalse\nfalse\t[^\n]*interrupted!\n$", out)
   end)

   it("leaves SIGINT alone when main handles it itself", function()
      local out = run_lua([[
print(asyncio.run(async(function()
   local loop = asyncio.get_running_loop()
   local got = loop:create_future()
   loop:add_signal_handler("SIGINT", function() got:set_result("handled by main") end)
   ctrl_c()
   return await(got)
end)))
]])
      assert.equal("handled by main\n", out)
   end)

   it("ends the process at a second Ctrl-C the loop has not seen, as lua5.4 (a task computing)", function()
      local out, status = run_lua([[
local pid = require("asyncio.core").getpid()
io.popen(("(sleep 0.2; kill -INT %d; sleep 0.3; kill -INT %d) >/dev/null 2>&1 &"):format(pid, pid)):close()
print(pcall(asyncio.run, async(function()
   local t0 = os.clock()
   while os.clock() - t0 < 5 do end -- never awaits: the loop never sees the first
   print("busy loop ended") -- it used to run to here, Ctrl-C or not
end)))
]])
      assert.equal("", out)
      assert.not_equal(0, status)
   end)

   it("takes SIGINT back when main removes its own handler (it used to hang)", function()
      local out = run_lua([[
print(pcall(asyncio.run, async(function()
   local loop = asyncio.get_running_loop()
   loop:add_signal_handler("SIGINT", print)
   print("removed", loop:remove_signal_handler("SIGINT"))
   print("again", loop:remove_signal_handler("SIGINT")) -- the run's is not main's
   ctrl_c()
   await(asyncio.sleep(5))
end)))
local loop = asyncio.new_event_loop()
print(pcall(loop.run_until_complete, loop, async(function()
   print("removed", loop:remove_signal_handler("SIGINT"))
   ctrl_c()
   await(asyncio.sleep(5))
end)()))
]])
      assert.equal("removed\ttrue\nagain\tfalse\nfalse\tinterrupted!\n"
         .. "removed\tfalse\nfalse\tinterrupted!\n", out)
   end)
end)
