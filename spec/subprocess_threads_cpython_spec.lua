-- Scenarios of CPython 3.13's subprocess and thread tests that the other
-- specs do not cover yet: test_subprocess.py (SubprocessMixin), the rest of
-- test_threads.py, the executor parts of test_base_events.py and
-- test_events.py, and test_tasks.py's RunCoroutineThreadsafeTests written
-- with start_loop_thread (the main thread submits to a loop thread). Each
-- scenario was written as a Python script and run with CPython 3.13.0; the
-- specs assert what Python printed, in the Lua forms of API.md (a read at
-- the end gives nil where Python gives b"", argument errors where Python
-- raises ValueError or TypeError). Real processes (sh, cat, wc, sleep) and
-- real threads. Where we differ from Python the spec is pending, with
-- Python's behaviour as its assertions.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local await = asyncio.await
local PIPE = asyncio.PIPE

local raises = helper.raises

local function exec(program, args, opts)
   return await(asyncio.create_subprocess_exec(program, args, opts))
end

local function shell(cmd, opts)
   return await(asyncio.create_subprocess_shell(cmd, opts))
end

-- Our process id (/proc/self is read in this process, not in a child).
local function own_pid()
   local f = assert(io.open("/proc/self/stat"))
   local pid = f:read("n")
   f:close()
   return pid
end

-- The children of this process whose command is name, as "pid state"
-- lines (zombies included), from /proc (ps may not be installed).
local function children(name)
   local list = {}
   local me = own_pid()
   local p = assert(io.popen("cat /proc/[0-9]*/stat 2>/dev/null"))
   for line in p:lines() do
      local pid, comm, state, ppid = line:match("^(%d+) %((.*)%) (%S) (%d+)")
      if comm == name and tonumber(ppid) == me then
         list[#list + 1] = pid .. " " .. state
      end
   end
   p:close()
   return list
end

-- The children of those names this process had before this file's tests.
local NAMES = { "sleep", "cat", "wc", "tee", "echo", "true", "false" }
local before = {}

describe("CPython test_subprocess: SubprocessMixin", function()
   setup(function()
      for _, name in ipairs(NAMES) do
         for _, line in ipairs(children(name)) do
            before[name .. " " .. line:match("%d+")] = true
         end
      end
   end)

   it("takes start_new_session (test_start_new_session)", helper.async(function()
      local p = shell("exit 8", { start_new_session = true })
      assert.equal(8, await(p:wait()))
      -- the child leads a session of its own: its session id (field 6 of
      -- /proc/PID/stat) is its pid
      local sid = "read -r s < /proc/$$/stat; set -- ${s##*) }; echo $4"
      p = shell(sid, { start_new_session = true, stdout = PIPE })
      local out = await(p:communicate())
      assert.equal(p.pid, tonumber(out))
      p = shell(sid, { stdout = PIPE })
      out = await(p:communicate())
      assert.are_not.equal(p.pid, tonumber(out))
      assert.matches("start_new_session' must be a boolean",
                     helper.error_of(asyncio.create_subprocess_shell, "true", { start_new_session = 1 }))
   end))

   it("kills a shell whose child holds its stdout (test_kill_issue43884)", helper.async(function()
      local p = shell("sleep 0.05; sleep 0.05", { stdout = PIPE })
      await(asyncio.sleep(0.01))
      p:kill()
      assert.equal(-9, await(p:wait()))
      assert.is_nil(await(p.stdout:read())) -- once the orphaned sleep ends
   end))

   it("waits in wait() for the pipe a grandchild holds, as Python 3.13 (test_kill_issue43884)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local t0 = loop:time()
         local p = shell("sleep 0.05; sleep 0.05", { stdout = PIPE })
         await(asyncio.sleep(0.01))
         p:kill()
         assert.equal(-9, await(p:wait()))
         assert.is_true(loop:time() - t0 >= 0.045)
      end))

   it("gives communicate's input to a child through a pipe it does not leak (test_stdin_not_inheritable)",
      helper.async(function()
         local p = exec("wc", { "-c" }, { stdin = PIPE, stdout = PIPE, stderr = PIPE })
         local out, err = await(p:communicate("abc"))
         assert.same({ "3", "" }, { out:match("%S+"), err })
         assert.equal(0, await(p:wait()))
      end))

   it("lets the child read its input from /dev/stdin (test_devstdin_input)", helper.async(function()
      local p = exec("sh", { "-c", "cat /dev/stdin | wc -c" }, { stdin = PIPE, stdout = PIPE, stderr = PIPE })
      local out, err = await(p:communicate("abc"))
      assert.same({ "3", "" }, { out:match("%S+"), err })
      assert.equal(0, await(p:wait()))
   end))

   it("kills and reaps the child of a creation cancelled (test_cancel_make_subprocess_transport_exec)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local t = loop:create_task(asyncio.create_subprocess_exec("sleep", { "31" }))
         loop:call_soon(function() t:cancel() end)
         helper.cancelled(t)
         assert.is_true(t:cancelled())
         assert.same({}, children("sleep"))
      end))

   it("closes the pipes it made when the program cannot run (test_popen_error_with_stdin_pipe)",
      helper.async(function()
         local core = require("asyncio.core")
         local fds = core.open_fds()
         for _, opts in ipairs({ {}, { stdin = PIPE }, { stdin = PIPE, stdout = PIPE, stderr = PIPE } }) do
            local err = raises(asyncio.FileNotFoundError, exec, "/nonexistent/prog", {}, opts)
            assert.equal("/nonexistent/prog", err.filename)
         end
         assert.equal(fds, core.open_fds())
      end))

   it("refuses text, encoding and errors (test_create_subprocess_exec_text_mode_fails, ..._shell_...)",
      helper.async(function()
         for _, name in ipairs({ "text", "encoding", "errors" }) do
            local opts = { [name] = name == "text" or "utf-8" }
            assert.matches("unknown option '" .. name .. "'",
               helper.failure(asyncio.create_subprocess_exec, "true", {}, opts))
            assert.matches("unknown option '" .. name .. "'",
               helper.failure(asyncio.create_subprocess_shell, "true", opts))
         end
      end))

   -- As CPython's check_stdout_output: the output, returncode 0, and a
   -- wait() started then is done one iteration later.
   local function check_stdout_output(p, output)
      assert.equal(output, (await(p:communicate())))
      assert.equal(0, p.returncode)
      local t = asyncio.create_task(p:wait())
      await(asyncio.sleep(0))
      assert.is_true(t:done())
      assert.equal(0, t:result())
   end

   it("passes env to a shell (test_create_subprocess_env_shell)", helper.async(function()
      local p = shell('printf %s "$FOO"', { env = { PATH = os.getenv("PATH"), FOO = "bar" }, stdout = PIPE })
      check_stdout_output(p, "bar")
   end))

   it("passes env to a program (test_create_subprocess_env_exec)", helper.async(function()
      local env = { PATH = os.getenv("PATH"), FOO = "baz" }
      local p = exec("sh", { "-c", 'printf %s "$FOO"' }, { env = env, stdout = PIPE })
      check_stdout_output(p, "baz")
   end))

   it("gives each of ten concurrent communicates its own output (test_subprocess_communicate_stdout)",
      helper.async(function()
         local tasks, want = {}, {}
         for i = 0, 9 do
            want[#want + 1] = "foo" .. i
            tasks[#tasks + 1] = asyncio.create_task(function()
               local p = exec("echo", { "foo" .. i }, { stdout = PIPE })
               return (await(p:communicate())):match("%S+")
            end)
         end
         assert.same(want, { table.unpack(await(asyncio.gather(table.unpack(tasks)))) })
      end))

   it("signals a child about to exit without a bogus status (test_subprocess_send_signal_race)",
      helper.async(function()
         for _ = 1, 5 do
            local p = exec("sleep", { "0.05" })
            await(asyncio.sleep(0.05))
            local ok, err = pcall(p.send_signal, p, "SIGUSR1")
            if not ok then
               assert.is_true(asyncio.ProcessLookupError:is(err), tostring(err))
            end
            local rc = await(p:wait())
            assert.is_true(rc == 0 or rc == -10, tostring(rc))
         end
      end))

   it("reads all of an output above the limit (test_pause_reading)", helper.async(function()
      -- (no tr: under make check the children inherit the sanitizer, and
      -- tr's leak report would abort it)
      local p = exec("sh", { "-c", "printf " .. string.rep("x", 21) }, { stdin = PIPE, stdout = PIPE, limit = 10 })
      assert.same({ string.rep("x", 21), nil, n = 2 }, table.pack(await(p:communicate())))
      assert.equal(0, p.returncode)
   end))

   it("ignores input to communicate without a stdin pipe (communicate's _noop for stdin)", helper.async(function()
      pending("divergence: communicate(input) without stdin = PIPE raises an argument error; Python ignores the input")
      local p = exec("cat", {}, { stdin = asyncio.DEVNULL, stdout = PIPE })
      local ok, out, err = pcall(function() return await(p:communicate("x")) end)
      assert.same({ true, "", nil }, { ok, out, err })
      assert.equal(0, p.returncode)
   end))
end)

describe("CPython test_subprocess: pipes, exits and cancellation beyond its tests", function()
   it("ends stdout when the child closes it, before it exits (test_read_stdout_after_process_exit)",
      helper.async(function()
         local p = exec("sh", { "-c", "echo early; exec >&-; sleep 0.05; exit 3" }, { stdout = PIPE })
         assert.equal("early\n", await(p.stdout:read()))
         assert.is_nil(p.returncode)
         assert.equal(3, await(p:wait()))
         p = exec("sh", { "-c", "echo early; exec >&-; echo err >&2; sleep 0.03; exit 4" },
            { stdout = PIPE, stderr = PIPE })
         assert.same({ "early\n", "err\n", n = 2 }, table.pack(await(p:communicate())))
         assert.equal(4, p.returncode)
      end))

   it("gives up a communicate on a timeout, then answers the next one empty (test_communicate)",
      helper.async(function()
         local p = exec("sh", { "-c", "echo partial; exec sleep 30" }, { stdout = PIPE })
         raises(asyncio.TimeoutError, await, asyncio.wait_for(p:communicate(), 0.05))
         assert.is_nil(p.returncode)
         p:kill()
         -- what the cancelled communicate read is gone with it, as in Python
         assert.same({ "", nil, n = 2 }, table.pack(await(p:communicate())))
         assert.equal(-9, p.returncode)
      end))

   it("closes stdin when a communicate feeding it is cancelled (test_cancel_process_wait)", helper.async(function()
      local p = exec("sh", { "-c", "read x; echo got $x; exec sleep 30" }, { stdin = PIPE, stdout = PIPE })
      local t = asyncio.create_task(p:communicate("hello\n"))
      await(asyncio.sleep(0.05))
      t:cancel()
      helper.cancelled(t)
      assert.is_nil(p.returncode)
      assert.is_true(p.stdin:is_closing())
      p:kill()
      assert.equal(-9, await(p:wait()))
      assert.is_nil(await(p.stdout:read()))
   end))

   it("times out a wait() leaving the child alone, then communicate after kill (test_cancel_process_wait)",
      helper.async(function()
         local p = exec("sleep", { "30" }, { stdin = PIPE, stdout = PIPE })
         raises(asyncio.TimeoutError, await, asyncio.wait_for(p:wait(), 0.02))
         assert.is_nil(p.returncode)
         p:kill()
         assert.same({ "", nil, n = 2 }, table.pack(await(p:communicate("abc"))))
         assert.equal(-9, p.returncode)
      end))

   it("merges 1 MiB of stdout and stderr with STDOUT, and passes 1 MiB both ways (test_stdin_stdout)",
      helper.async(function()
         local p = exec("sh", { "-c", "head -c 1048576 /dev/zero; head -c 1000 /dev/zero >&2" },
            { stdout = PIPE, stderr = asyncio.STDOUT })
         local out, err = await(p:communicate())
         assert.same({ 1049576, nil, 0 }, { #out, err, p.returncode })
         local bytes = {}
         for i = 0, 255 do
            bytes[#bytes + 1] = string.char(i)
         end
         local data = string.rep(table.concat(bytes), 4096)
         p = exec("sh", { "-c", "tee /dev/stderr" }, { stdin = PIPE, stdout = PIPE, stderr = PIPE })
         out, err = await(p:communicate(data))
         assert.same({ true, true, 0 }, { out == data, err == data, p.returncode })
      end))

   it("takes all of the output of a child that closed its stdin early (test_communicate_ignore_broken_pipe)",
      helper.async(function()
         local p = exec("sh", { "-c", "exec 0<&-; head -c 200000 /dev/zero; exit 5" }, { stdin = PIPE, stdout = PIPE })
         local out, err = await(p:communicate(string.rep("y", 1 << 20)))
         assert.same({ 200000, nil, 5 }, { #out, err, p.returncode })
      end))

   it("reports exit codes as Python does (test_shell, test_kill)", helper.async(function()
      local codes = {}
      for _, cmd in ipairs({ "true", "false", "exit 255", "exit 256", "if", "kill -KILL $$" }) do
         codes[#codes + 1] = await(shell(cmd, { stderr = asyncio.DEVNULL }):wait())
      end
      codes[#codes + 1] = await(exec("false", {}):wait())
      assert.same({ 0, 1, 255, 0, 2, -9, 1 }, codes)
   end))

   it("answers wait() again once done, and signal 0 as Python (test_send_signal)", helper.async(function()
      local p = exec("true", {})
      assert.same({ 0, 0, 0 }, { await(p:wait()), await(p:wait()), p.returncode })
      raises(asyncio.ProcessLookupError, p.send_signal, p, 0)
      p = exec("sleep", { "30" })
      assert.is_nil(p:send_signal(0))
      assert.is_nil(p.returncode)
      p:terminate()
      assert.equal(-15, await(p:wait()))
   end))

   it("lets a child trap SIGTERM and choose its status (test_terminate)", helper.async(function()
      local p = shell('trap "exit 7" TERM; echo ready; while :; do sleep 0.01; done', { stdout = PIPE })
      assert.equal("ready\n", await(p.stdout:readline()))
      p:terminate()
      assert.equal(7, await(p:wait()))
      assert.is_nil(await(p.stdout:read()))
   end))

   it("ends the output of a killed child after what it wrote (test_kill)", helper.async(function()
      local p = exec("sh", { "-c", "printf abc; exec sleep 30" }, { stdout = PIPE })
      assert.equal("abc", await(p.stdout:readexactly(3)))
      p:kill()
      assert.is_nil(await(p.stdout:read()))
      assert.equal(-9, await(p:wait()))
   end))

   it("counts a thousand lines written then ended with write_eof (test_stdin_stdout)", helper.async(function()
      local p = exec("wc", { "-l" }, { stdin = PIPE, stdout = PIPE })
      for i = 0, 999 do
         p.stdin:write("line " .. i .. "\n")
      end
      await(p.stdin:drain())
      p.stdin:write_eof()
      assert.equal("1000", (await(p.stdout:read())):match("%S+"))
      assert.equal(0, await(p:wait()))
   end))

   it("keeps the lines of a child that exited, the last one unended (test_read_stdout_after_process_exit)",
      helper.async(function()
         local p = exec("sh", { "-c", 'printf "a\\nb\\nc"' }, { stdout = PIPE })
         assert.equal(0, await(p:wait()))
         local lines = {}
         for line in p.stdout:lines() do
            lines[#lines + 1] = line
         end
         assert.same({ "a", "b", "c" }, lines)
      end))

   it("has no stdin writer for DEVNULL (test_devnull_input)", helper.async(function()
      local p = exec("cat", {}, { stdin = asyncio.DEVNULL, stdout = PIPE })
      assert.is_nil(p.stdin)
      assert.same({ "", nil, n = 2 }, table.pack(await(p:communicate())))
   end))

   it("sends stderr to /dev/null with STDOUT when stdout is DEVNULL (test_devnull_output)", helper.async(function()
      local p = exec("sh", { "-c", "echo out; echo err >&2; exit 2" },
         { stdout = asyncio.DEVNULL, stderr = asyncio.STDOUT })
      assert.same({ nil, nil, n = 2 }, table.pack(await(p:communicate())))
      assert.equal(2, p.returncode)
      p = exec("sh", { "-c", "echo out; echo err >&2" }, { stdout = PIPE, stderr = asyncio.DEVNULL })
      assert.same({ "out\n", nil, n = 2 }, table.pack(await(p:communicate())))
   end))

   it("runs children in a loop thread and in the main loop at once (test_subprocess_concurrent_wait)",
      function()
         local lt <close> = asyncio.start_loop_thread()
         local function child(tag)
            local aio = require("asyncio")
            local p = aio.await(aio.create_subprocess_exec("sh", { "-c", "cat; echo " .. tag .. "; exit 3" },
               { stdin = aio.PIPE, stdout = aio.PIPE }))
            local out = aio.await(p:communicate("in-" .. tag .. "\n"))
            return out, p.returncode
         end
         assert.same({ "in-thread\nthread\n", 3 }, { lt:run_coroutine_threadsafe(child, "thread"):result(5) })
         helper.run(function()
            local cfs, mine = {}, {}
            for i = 1, 3 do
               cfs[i] = lt:run_coroutine_threadsafe(child, "t" .. i)
               mine[i] = asyncio.create_task(function()
                  local p = exec("sh", { "-c", "cat; exit " .. i }, { stdin = PIPE, stdout = PIPE })
                  local out = await(p:communicate("m" .. i))
                  return out .. p.returncode
               end)
            end
            for i = 1, 3 do
               assert.same({ "in-t" .. i .. "\nt" .. i .. "\n", 3 }, { await(cfs[i]) })
            end
            assert.same({ "m11", "m22", "m33" }, { table.unpack(await(asyncio.gather(table.unpack(mine)))) })
         end)
      end)

   it("leaves no child behind, zombie or running (every test above)", function()
      local left = {}
      for _, name in ipairs(NAMES) do
         for _, line in ipairs(children(name)) do
            if not before[name .. " " .. line:match("%d+")] then
               left[#left + 1] = name .. " " .. line
            end
         end
      end
      assert.same({}, left)
   end)
end)

describe("CPython test_threads and the executor tests of test_events, test_base_events", function()
   it("runs the function once (test_to_thread_once)", helper.async(function()
      local path = os.tmpname()
      await(asyncio.to_thread(function(p)
         local f = assert(io.open(p, "a"))
         f:write("x\n")
         f:close()
      end, path))
      assert.equal("x\n", helper.read_file(path))
      os.remove(path)
   end))

   it("passes the arguments, a table for Python's keywords (test_to_thread_args_kwargs)", helper.async(function()
      local a, kw = await(asyncio.to_thread(function(x, y) return x, y end, "test", { something = true }))
      assert.same({ "test", { something = true } }, { a, kw })
   end))

   it("runs the job in another thread (test_run_in_executor)", helper.async(function()
      local loop = asyncio.get_running_loop()
      _G.spec_main_mark = true
      local res, elsewhere = await(loop:run_in_executor(nil, function(x)
         return x, _G.spec_main_mark == nil
      end, "yo"))
      _G.spec_main_mark = nil
      assert.same({ "yo", true }, { res, elsewhere })
   end))

   it("uses the executor set as default, and refuses it once shut down (test_set_default_executor)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         local ex = asyncio.ThreadPoolExecutor(1)
         loop:set_default_executor(ex)
         assert.equal(5, await(loop:run_in_executor(nil, function() return 5 end)))
         assert.equal(6, await(asyncio.to_thread(function() return 6 end)))
         ex:shutdown()
         local ok, err = pcall(loop.run_in_executor, loop, nil, function() return 1 end)
         assert.same({ false, "cannot schedule new futures after shutdown" }, { ok, err })
         assert.equal("cannot schedule new futures after shutdown",
            helper.error_of(await, asyncio.to_thread(function() return 1 end)))
      end))

   it("refuses a default executor that is not a ThreadPoolExecutor (test_set_default_executor_error)",
      helper.async(function()
         local loop = asyncio.get_running_loop()
         assert.matches("ThreadPoolExecutor expected", helper.failure(loop.set_default_executor, loop, {}))
         assert.equal(7, await(loop:run_in_executor(nil, function() return 7 end))) -- the default one still
      end))
end)

-- As CPython's RunCoroutineThreadsafeTests' add(): waits 50 ms, then
-- fails, or cancels its own task, or returns a + b.
local function add(a, b, fail, cancel)
   local aio = require("asyncio")
   aio.await(aio.sleep(0.05))
   if fail then
      error("Fail!", 0)
   elseif cancel then
      aio.current_task():cancel()
      aio.await(aio.sleep(0))
   end
   return a + b
end

-- The tasks of the loop thread not done, but for the one counting.
local function pending_tasks(lt)
   return lt:run_coroutine_threadsafe(function()
      local aio = require("asyncio")
      local n = 0
      for t in pairs(aio.all_tasks()) do
         if t ~= aio.current_task() and not t:done() then
            n = n + 1
         end
      end
      return n
   end):result(5)
end

describe("CPython test_tasks: RunCoroutineThreadsafeTests, submitting to a loop thread", function()
   it("test_run_coroutine_threadsafe", function()
      local lt <close> = asyncio.start_loop_thread()
      assert.equal(3, lt:run_coroutine_threadsafe(add, 1, 2):result(5))
   end)

   it("test_run_coroutine_threadsafe_with_exception", function()
      local lt <close> = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(add, 1, 2, true)
      assert.matches("^Fail!", helper.failure(cf.result, cf, 5))
   end)

   it("test_run_coroutine_threadsafe_with_timeout", function()
      local lt <close> = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(add, 1, 2)
      raises(asyncio.TimeoutError, cf.result, cf, 0)
      assert.is_true(cf:done() or cf:cancel())
      assert.is_true(cf:cancelled())
      os.execute("sleep 0.02")
      assert.equal(0, pending_tasks(lt))
   end)

   it("test_run_coroutine_threadsafe_task_cancelled", function()
      local lt <close> = asyncio.start_loop_thread()
      local cf = lt:run_coroutine_threadsafe(add, 1, 2, false, true)
      raises(asyncio.CancelledError, cf.result, cf, 5)
      assert.is_true(cf:cancelled())
   end)

   it("the same, awaited from a task (test_run_coroutine_threadsafe and the others, wrap_future)",
      function()
         local lt <close> = asyncio.start_loop_thread()
         helper.run(function()
            assert.equal(3, await(lt:run_coroutine_threadsafe(add, 1, 2)))
            assert.matches("^Fail!", helper.error_of(await, lt:run_coroutine_threadsafe(add, 1, 2, true)))
            local cf = lt:run_coroutine_threadsafe(add, 1, 2, false, true)
            raises(asyncio.CancelledError, await, cf)
            assert.is_true(cf:cancelled())
         end)
      end)
end)
