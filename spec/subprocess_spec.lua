-- Child processes (API.md §9): create_subprocess_exec and _shell, pipes,
-- wait, communicate, signals, errors, descriptors and zombies. Every test
-- runs real programs (/bin/sh, cat, sleep).
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await
local PIPE, STDOUT, DEVNULL = asyncio.PIPE, asyncio.STDOUT, asyncio.DEVNULL

local function sh(cmd, opts)
   return await(asyncio.create_subprocess_shell(cmd, opts))
end

local function exec(program, args, opts)
   return await(asyncio.create_subprocess_exec(program, args, opts))
end

-- Whether a process with this pid still exists, zombie or not.
local function exists(pid)
   local f = io.open("/proc/" .. pid .. "/stat")
   if f then
      f:close()
   end
   return f ~= nil
end

local failure = helper.failure

describe("subprocesses", function()
   it("hand a child's output on one iteration after a socket, so its last line comes with its returncode",
      helper.async(function()
         local p = await(asyncio.create_subprocess_exec("sh", { "-c", "read x; echo hi; exit 3" },
                                                        { stdin = asyncio.PIPE, stdout = asyncio.PIPE }))
         local seen = {}
         local reading = asyncio.create_task(async(function()
            local line = await(p.stdout:readline())
            seen[#seen + 1] = { line, p.returncode }
            seen[#seen + 1] = { await(p.stdout:read()), p.returncode }
         end)())
         await(asyncio.sleep(0.02))
         p.stdin:write("go\n")
         os.execute("sleep 0.05") -- the line, the end and the exit come in one poll
         await(reading)
         -- Python 3.13: hi 3, then b'' 3
         assert.same({ { "hi\n", 3 }, { nil, 3 } }, seen)
      end))

   it("read a child's output all the time, as Python's pipe transport, up to twice the limit", helper.async(function()
      -- after wait(), everything the child wrote is there: a read gets it
      -- all at once, without suspending, and the end follows
      local p = exec("head", { "-c", "65536", "/dev/zero" }, { stdout = PIPE })
      await(p:wait())
      await(asyncio.sleep(0.01))
      local order = {}
      asyncio.get_running_loop():call_soon(function() order[#order + 1] = "callback" end)
      assert.equal(65536, #await(p.stdout:read(65536)))
      order[#order + 1] = "read"
      assert.is_true(p.stdout:at_eof())
      assert.is_nil(await(p.stdout:read(65536)))
      assert.same({ "read" }, order) -- Python's buffer had it: no suspension
      -- a child writing more than a pipe holds is not stopped while
      -- nobody reads: its wait() returns (it deadlocked past 64 KiB)
      p = exec("head", { "-c", "100000", "/dev/zero" }, { stdout = PIPE })
      assert.equal(0, await(asyncio.wait_for(p:wait(), 5)))
      assert.equal(100000, #await(p.stdout:read()))
      -- past twice the limit, reading waits for reads to take it down,
      -- and nothing is lost
      p = exec("head", { "-c", "1000000", "/dev/zero" }, { stdout = PIPE, limit = 1000 })
      await(asyncio.sleep(0.05))
      assert.is_nil(p.returncode) -- held: the child waits on its full pipe
      local total = 0
      for chunk in function() return await(p.stdout:read(4096)) end do
         total = total + #chunk
      end
      assert.equal(1000000, total)
      assert.equal(0, await(p:wait()))
   end))

   it("return from wait() once the output's end came too, as Python's (its wait waits for the pipes)",
      helper.async(function()
      for _ = 1, 5 do
         local p = exec("printf", { "a\\nb\\n" }, { stdout = PIPE })
         assert.equal(0, await(p:wait()))
         local lines = {}
         while not p.stdout:at_eof() do -- the usual Python loop: no extra nil
            lines[#lines + 1] = tostring(await(p.stdout:readline()))
         end
         assert.same({ "a\n", "b\n" }, lines)
      end
      -- a pipe a grandchild keeps open is waited for until it closes it,
      -- as Python's wait() waits for its pipe transports to disconnect
      local p = sh("sleep 0.2 & sleep 0.05; exit 4", { stdout = PIPE }) -- exits once wait() waits
      local t0 = asyncio.get_running_loop():time()
      assert.equal(4, await(p:wait()))
      assert.is_true(asyncio.get_running_loop():time() - t0 >= 0.15)
      assert.is_true(p.stdout:at_eof())
   end))

   it("wait in wait() for a grandchild's output, handed to a reader first, as Python's", helper.async(function()
      local p = sh("(sleep 0.1; echo late) & sleep 0.05; exit 3", { stdout = PIPE })
      local events = {}
      local reader = async(function()
         repeat
            local line = await(p.stdout:readline())
            events[#events + 1] = "read " .. tostring(line)
         until line == nil or line == ""
      end)
      local waiter = async(function()
         local returncode = await(p:wait()) -- before #events is read
         events[#events + 1] = "wait " .. returncode
      end)
      await(asyncio.gather(reader(), waiter()))
      assert.same({ "read late\n", "read nil", "wait 3" }, events)
   end))

   it("wait in wait() for a grandchild's output that a cancelled read was waiting for", helper.async(function()
      local loop = asyncio.get_running_loop()
      local p = sh("sleep 0.1 & sleep 0.05; exit 2", { stdout = PIPE })
      local wait = asyncio.create_task(p:wait()) -- waiting before the exit
      local read = asyncio.create_task(p.stdout:read())
      await(asyncio.sleep(0.02))
      read:cancel()
      local t0 = loop:time()
      assert.equal(2, await(wait))
      assert.is_true(loop:time() - t0 >= 0.07)
      assert.is_true(p.stdout:at_eof())
      assert.is_true(read:cancelled())
   end))

   it("stop waiting in wait() for a grandchild's output once it fills the buffer nobody reads",
      helper.async(function()
      -- 300,000 bytes: more than twice the limit plus what a pipe holds, so
      -- the grandchild blocks writing; Python's wait() would wait forever
      local p = sh("(sleep 0.05; head -c 300000 /dev/zero) & sleep 0.02; exit 6", { stdout = PIPE })
      local loop = asyncio.get_running_loop()
      local t0 = loop:time()
      assert.equal(6, await(asyncio.wait_for(p:wait(), 2)))
      assert.is_true(loop:time() - t0 >= 0.025) -- it did wait for the output
      assert.equal(300000, #await(p.stdout:read())) -- all of it, once read
   end))

   it("do not wait in wait() for a stdin a grandchild keeps, which Python closes itself", helper.async(function()
      local p = sh("exec 3<&0; sleep 0.5 <&3 & sleep 0.05; exit 5", { stdin = PIPE })
      local loop = asyncio.get_running_loop()
      local t0 = loop:time()
      assert.equal(5, await(p:wait()))
      assert.is_true(loop:time() - t0 < 0.3) -- not the 0.5 s the grandchild keeps stdin
   end))

   it("connect their pipes in a task of their own, which takes a Task-N name as Python's", helper.async(function()
      local nop = async(function() end)
      local function next_number()
         return tonumber(asyncio.create_task(nop()):get_name():match("^Task%-(%d+)$"))
      end
      local before = next_number()
      exec("true", {})
      assert.equal(before + 2, next_number()) -- Python's _connect_pipes task in between
   end))

   it("run a program and read its output with communicate", helper.async(function()
      local p = exec("echo", { "hello", 42 }, { stdout = PIPE })
      assert.is_number(p.pid)
      assert.is_nil(p.stdin)
      assert.is_nil(p.stderr)
      assert.equal("<Process " .. p.pid .. ">", tostring(p))
      local out, err = await(p:communicate())
      assert.equal("hello 42\n", out)
      assert.is_nil(err)
      assert.equal(0, p.returncode)
   end))

   it("pass 4 MiB through cat both ways without a deadlock", helper.async(function()
      local chunk = {}
      for i = 0, 255 do chunk[#chunk + 1] = string.char(i) end
      local data = string.rep(table.concat(chunk), 4 * 4096)
      local p = exec("cat", nil, { stdin = PIPE, stdout = PIPE })
      local out = await(p:communicate(data))
      assert.equal(#data, #out)
      assert.is_true(out == data)
      assert.equal(0, p.returncode)
   end))

   -- Python's write never blocks: writing all the input before reading the
   -- output must not deadlock (it did while a write suspended its task).
   it("take all the input with write, then give the output to read", helper.async(function()
      local p = exec("cat", nil, { stdin = PIPE, stdout = PIPE })
      p.stdin:write(string.rep("x", 1000000))
      p.stdin:close()
      assert.equal(1000000, #await(p.stdout:read()))
      assert.equal(0, await(p:wait()))
   end, 10))

   -- the options were checked when called and read when awaited: a value
   -- changed in between went through unchecked (cut at a zero byte)
   it("use the options as they were when called", helper.async(function()
      local opts = { cwd = "/", env = { V = "abc" }, stdout = PIPE }
      local aw = asyncio.create_subprocess_exec("/bin/sh", { "-c", 'pwd; echo "V=$V"' }, opts)
      opts.cwd = "/tmp\0/does-not-exist"
      opts.env.V = "abc\0def"
      opts.stdout = nil
      local p = await(aw)
      assert.equal("/\nV=abc\n", (await(p:communicate())))
   end))

   it("answer a second communicate with empty output, as Python", helper.async(function()
      local p = exec("cat", nil, { stdin = PIPE, stdout = PIPE })
      assert.equal("once", (await(p:communicate("once"))))
      local out, err = await(p:communicate("more"))
      assert.equal("", out)
      assert.is_nil(err)
   end))

   it("keep stdout and stderr apart, or merge stderr into stdout", helper.async(function()
      local p = sh("echo out; echo err >&2; exit 3", { stdout = PIPE, stderr = PIPE })
      local out, err = await(p:communicate())
      assert.equal("out\n", out)
      assert.equal("err\n", err)
      assert.equal(3, p.returncode)
      p = sh("echo out; echo err >&2", { stdout = PIPE, stderr = STDOUT })
      out, err = await(p:communicate())
      assert.equal("out\nerr\n", out)
      assert.is_nil(err)
   end))

   it("connect DEVNULL and inherit what is not given", helper.async(function()
      local p = sh("cat; echo done", { stdin = DEVNULL, stdout = PIPE, stderr = DEVNULL })
      assert.equal("done\n", (await(p:communicate())))
      -- stdin inherited, stdout to /dev/null: nothing to read, just an exit
      p = sh("exit 0", { stdout = DEVNULL })
      assert.equal(0, await(p:wait()))
   end))

   it("talk to a child line by line through its pipes", helper.async(function()
      local p = exec("cat", nil, { stdin = PIPE, stdout = PIPE })
      for i = 1, 3 do
         p.stdin:write("line " .. i .. "\n")
         await(p.stdin:drain())
         assert.equal("line " .. i .. "\n", await(p.stdout:readline()))
      end
      p.stdin:write_eof() -- a pipe ends by closing: cat sees the end
      assert.is_nil(await(p.stdout:read()))
      assert.equal(0, await(p:wait()))
   end))

   it("report exit codes and deaths by signal as Python does", helper.async(function()
      assert.equal(7, await(sh("exit 7"):wait()))
      local p = exec("sleep", { 10 })
      assert.is_nil(p.returncode)
      p:kill()
      assert.equal(-9, await(p:wait()))
      p = exec("sleep", { 10 })
      p:terminate()
      assert.equal(-15, await(p:wait()))
      p = exec("sleep", { 10 })
      p:send_signal("INT")
      assert.equal(-2, await(p:wait()))
      assert.equal(-2, p.returncode)
   end))

   it("come back after as many iterations as Python's pipes take, and die if cancelled then", helper.async(function()
      local loop = asyncio.get_running_loop()
      local function iterations_of(opts)
         local n, counting = 0, true
         local function tick()
            n = n + 1
            if counting then loop:call_soon(tick) end
         end
         loop:call_soon(tick)
         local p = await(asyncio.create_subprocess_exec("true", {}, opts))
         local seen = n -- before the tick still queued runs
         counting = false
         await(p:communicate())
         return seen
      end
      -- Python 3.13: two iterations, and two more per pipe
      assert.equal(2, iterations_of({}))
      assert.equal(4, iterations_of({ stdout = PIPE }))
      assert.equal(8, iterations_of({ stdin = PIPE, stdout = PIPE, stderr = PIPE }))
      -- cancelled before it came back: the child is killed and reaped
      local marker = os.tmpname()
      os.remove(marker)
      local t = asyncio.create_task(asyncio.create_subprocess_shell("sleep 0.05; touch " .. marker))
      loop:call_soon(function() t:cancel() end)
      assert.is_true(asyncio.CancelledError:is(helper.error_of(await, t)))
      await(asyncio.sleep(0.15))
      assert.is_nil(io.open(marker))
   end))

   it("raise ProcessLookupError for a signal to a child already reaped, as Python does", helper.async(function()
      local p = exec("sleep", { 10 })
      p:send_signal("INT")
      assert.equal(-2, await(p:wait()))
      -- its pid may be another process's by now: nothing may be sent
      for _, send in ipairs({ function() p:kill() end, function() p:terminate() end,
                              function() p:send_signal(0) end }) do
         local ok, err = pcall(send)
         assert.is_false(ok)
         assert.is_true(asyncio.ProcessLookupError:is(err))
         assert.is_true(asyncio.OSError:is(err))
         assert.equal("ESRCH", err.code)
         assert.equal("ProcessLookupError: No such process", tostring(err))
      end
      assert.equal(-2, p.returncode)
      assert.is_true(asyncio.ProcessLookupError:is(asyncio.OSError.from_errno(3, "ESRCH", "x")))
   end))

   it("ignore a signal to a child reaped while its output is still unread, as Python's transport",
      helper.async(function()
         -- it raised ProcessLookupError: a finally p:kill() after a child that
         -- exited on its own failed (a wait_for(communicate) timing out, say)
         local p = exec("sh", { "-c", "echo bye" }, { stdout = asyncio.PIPE })
         assert.equal(0, await(p:wait()))
         p:kill() -- nothing sent: the pid may be another's
         assert.equal("bye\n", await(p.stdout:read()))
         -- the output read to its end, the transport is finished: now it raises
         local ok, err = pcall(p.kill, p)
         assert.is_false(ok)
         assert.is_true(asyncio.ProcessLookupError:is(err))
      end))

   it("signal their own child whatever a script writes in pid, and keep returncode read-only",
      helper.async(function()
         local victim, p = exec("sleep", { 10 }), exec("sleep", { 10 })
         local own = p.pid
         p.pid = victim.pid -- a plain field, as Python's: kill() went to the victim
         local ok, err = pcall(function() p.returncode = 0 end) -- wait() returned it
         assert.is_false(ok)
         assert.matches("attempt to set the read%-only field 'returncode' of a Process$", err)
         p:kill()
         assert.equal(-9, await(p:wait()))
         assert.is_nil(victim.returncode)
         assert.equal(own, tostring(p):match("%d+") + 0)
         victim:kill()
         assert.equal(-9, await(victim:wait()))
      end))

   it("wake every task waiting, and keep a cancelled wait from the others", helper.async(function()
      local p = exec("sleep", { 10 })
      local w1 = asyncio.create_task(p:wait())
      local w2 = asyncio.create_task(p:wait())
      local w3 = asyncio.create_task(p:wait())
      await(asyncio.sleep(0))
      w2:cancel()
      assert.is_true(asyncio.CancelledError:is(failure(await, w2)))
      assert.is_nil(p.returncode) -- the child runs on
      p:kill()
      assert.equal(-9, await(w1))
      assert.equal(-9, await(w3))
      assert.equal(-9, await(p:wait()))
   end))

   it("let communicate() be cancelled and the child still be waited for", helper.async(function()
      -- exec, not sh: a shell's own child would keep the pipe, and wait()
      -- would wait for it, as Python's
      local p = exec("sleep", { "10" }, { stdout = PIPE })
      local ok, err = pcall(await, asyncio.wait_for(p:communicate(), 0.05))
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.is_nil(p.returncode)
      p:kill()
      assert.equal(-9, await(p:wait()))
   end))

   it("ignore a child that exits without reading its input", helper.async(function()
      local p = sh("exit 0", { stdin = PIPE, stdout = PIPE })
      local out = await(p:communicate(string.rep("z", 1 << 20)))
      assert.equal("", out)
      assert.equal(0, p.returncode)
   end))

   it("take Python's iterations from the child's exit to wait() returning", function()
      -- stepped one polling iteration at a time: as in Python 3.13, whose
      -- watcher hands the exit over through call_soon_threadsafe (the
      -- returncode appears an iteration after the poll that saw the exit),
      -- and wakes wait() from connection_lost through call_soon, wait()
      -- returns two iterations after the returncode appeared
      local loop = asyncio.new_event_loop()
      local it, waited, p = 0, nil, nil
      local t = loop:create_task(async(function()
         p = await(asyncio.create_subprocess_exec("sh", { "-c", "sleep 0.1" }))
         assert.equal(0, await(p:wait()))
         waited = it
      end)())
      local seen
      for _ = 1, 200 do
         it = it + 1
         os.execute("sleep 0.01")
         helper.step(loop)
         if p and p.returncode ~= nil and not seen then seen = it end
         if t:done() then break end
      end
      t:result()
      assert.equal(2, waited - seen)
      loop:close()
   end)

   it("warn from the sixth write dropped after the child went away, as Python's logger", function()
      local out = helper.run_fresh([[
local asyncio = require("asyncio")
asyncio.run(function()
   local p = asyncio.await(asyncio.create_subprocess_exec("true", {}, { stdin = asyncio.PIPE }))
   asyncio.await(p:wait())
   for i = 0, 7 do
      p.stdin:write("x")
      asyncio.await(asyncio.sleep(0.005))
      io.stdout:write("wrote ", i, "\n")
      io.stdout:flush()
   end
end)
]])
      local warning = "pipe closed by peer or os.write(pipe, data) raised exception.\n"
      -- Python 3.13 prints the same
      assert.equal("wrote 0\nwrote 1\nwrote 2\nwrote 3\nwrote 4\n" .. warning .. "wrote 5\n" .. warning
                   .. "wrote 6\n" .. warning .. "wrote 7\n", out)
   end)

   it("close stdin once the child closed its end, dropping later writes, as Python", helper.async(function()
      local p = sh("exec 0<&-; sleep 0.05", { stdin = PIPE })
      await(p.stdin:wait_closed()) -- returns: the child closed it, with nothing queued
      assert.is_true(p.stdin:is_closing())
      assert.is_nil(p.stdin:get_extra_info("pipe")) -- the descriptor is given back
      p.stdin:write("dropped") -- as Python's pipe transport: neither sent nor raised
      p.stdin:writelines({ "dropped", "too" })
      p.stdin:write_eof()
      local err = failure(function()
         await(p.stdin:drain())
      end)
      assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
      assert.equal("Connection lost", err.message)
      p.stdin:close()
      assert.equal(0, await(p:wait()))
      -- a child that exited: Python's loop has learnt it by then too
      p = sh("exit 0", { stdin = PIPE })
      assert.equal(0, await(p:wait()))
      await(p.stdin:wait_closed())
      p.stdin:write(string.rep("x", 1 << 20))
      err = failure(function()
         await(p.stdin:drain())
      end)
      assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
      await(p:communicate()) -- ignores it, as Python's
   end))

   it("communicate without pipes still lets the loop turn, as Python's three _noop tasks", helper.async(function()
      local p = exec("true")
      assert.equal(0, await(p:wait()))
      local order = {}
      asyncio.get_running_loop():call_soon(function() order[#order + 1] = "callback" end)
      assert.same({ n = 2 }, table.pack(await(p:communicate())))
      order[#order + 1] = "communicate returned" -- came first: it did not yield
      assert.same({ "callback", "communicate returned" }, order)
   end))

   it("close stdin at write_eof, queued bytes first, dropping later writes, as Python", helper.async(function()
      local p = sh("sleep 0.02; wc -c", { stdin = PIPE, stdout = PIPE })
      p.stdin:write(string.rep("x", 100000)) -- more than the pipe takes at once
      p.stdin:write_eof()
      assert.is_true(p.stdin:is_closing()) -- was false until the bytes were sent
      p.stdin:write("more") -- dropped: it raised "'write' called after 'write_eof'"
      await(p.stdin:drain())
      await(p.stdin:wait_closed())
      assert.equal("100000", (await(p.stdout:read()):gsub("%s", "")))
      assert.equal(0, await(p:wait()))
      -- nothing queued: closed at once, and the same (these raised "closed")
      p = sh("wc -c", { stdin = PIPE, stdout = PIPE })
      p.stdin:write("abc")
      p.stdin:write_eof()
      assert.is_true(p.stdin:is_closing())
      p.stdin:write("dropped")
      p.stdin:writelines({ "dropped" })
      p.stdin:write_eof()
      await(p.stdin:wait_closed())
      assert.equal("3", (await(p.stdout:read()):gsub("%s", "")))
      assert.equal(0, await(p:wait()))
   end))

   it("let a drain begun right after the parent closes stdin return, as Python's (no socket rule)",
      helper.async(function()
         -- it raised ConnectionResetError("Connection lost"): Python's pipe
         -- transport tells its protocol two hops after the pipe closes
         for _, how in ipairs({ "close", "write_eof" }) do
            local p = sh("cat > /dev/null", { stdin = PIPE })
            p.stdin:write("hello")
            p.stdin[how](p.stdin)
            await(p.stdin:drain())
            await(p.stdin:wait_closed())
            assert.equal(0, await(p:wait()))
         end
      end))

   it("communicate with a child gone, its stdin closing, in Python's iterations", function()
      -- Python's _feed_stdin drains all the same (a sleep(0) on a closing
      -- pipe): 4 iterations, where it took 3
      local n = 0
      asyncio.run(async(function()
         local loop = asyncio.get_running_loop()
         local function tick()
            n = n + 1
            loop:call_soon(tick)
         end
         local p = exec("true", {}, { stdin = PIPE })
         await(asyncio.sleep(0.1))
         loop:call_soon(tick)
         await(asyncio.sleep(0))
         local before = n
         await(p:communicate("data"))
         assert.equal(4, n - before)
      end))
   end)

   it("fail a waiting drain with BrokenPipeError when the child stops reading", helper.async(function()
      local p = sh("head -c 10 >/dev/null; sleep 0.05", { stdin = PIPE })
      p.stdin:write(string.rep("x", 1 << 20)) -- more than the pipe takes
      local err = failure(function()
         await(p.stdin:drain())
      end)
      assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
      assert.is_true(p.stdin:is_closing())
      p.stdin:write("more") -- dropped
      -- Python's drain begun after the loss raises "Connection lost"; the
      -- close waiter keeps the error
      err = failure(function()
         await(p.stdin:drain())
      end)
      assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
      err = failure(function()
         await(p.stdin:wait_closed())
      end)
      assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
      assert.equal(0, await(p:wait()))
   end))

   it("let a drain begun as a write to a gone child fails return, as Python's (the loss comes two hops later)",
      helper.async(function()
      local p = sh("sleep 0.05; exec 0<&-; sleep 0.1", { stdin = PIPE })
      for _ = 1, 500 do -- the loop blocked until the child closed its end: no poll sees it
         local fd0 = io.open("/proc/" .. p.pid .. "/fdinfo/0") -- not the pipe itself
         if fd0 == nil then break end
         fd0:close()
         os.execute("sleep 0.01")
      end
      p.stdin:write("lost") -- the pipe's reader is gone: fails at once
      assert.is_true(p.stdin:is_closing())
      await(p.stdin:drain()) -- Python's finds its protocol still connected
      local err = failure(function()
         await(p.stdin:drain())
      end)
      assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
      assert.equal("Connection lost", err.message)
      assert.equal(0, await(p:wait()))
      -- the iteration the child closes its end: as Python's, a drain then
      -- returns if nothing was queued, and waits for the loss (the
      -- write's BrokenPipeError) if the writer was paused; a drain
      -- cancelled before does not change that
      for _, case in ipairs({ { 10, false }, { 10, true }, { 200000, false }, { 200000, true } }) do
         p = sh("sleep 0.05; exec 0<&-; sleep 0.1", { stdin = PIPE })
         p.stdin:write(string.rep("x", case[1]))
         if case[2] then
            pcall(await, asyncio.wait_for(p.stdin:drain(), 0.01))
         end
         while not p.stdin:is_closing() do
            await(asyncio.sleep(0))
         end
         err = helper.error_of(await, p.stdin:drain())
         if case[1] == 10 then
            assert.is_nil(err, tostring(err))
         else
            assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
         end
         assert.equal(0, await(p:wait()))
      end
      -- the same while another task waits in wait_closed() or a drain:
      -- Python's wakes it two hops after the loss, so the new drain
      -- still finds the protocol connected
      for _, case in ipairs({ { 10, "wait_closed" }, { 200000, "drain" }, { 200000, "wait_closed" } }) do
         p = sh("sleep 0.05; exec 0<&-; sleep 0.1", { stdin = PIPE })
         p.stdin:write(string.rep("x", case[1]))
         local waiter = asyncio.ensure_future(async(function()
            return helper.error_of(await, p.stdin[case[2]](p.stdin))
         end)())
         await(asyncio.sleep(0))
         while not p.stdin:is_closing() do
            await(asyncio.sleep(0))
         end
         err = helper.error_of(await, p.stdin:drain())
         local waited = await(waiter)
         if case[1] == 10 then
            assert.is_nil(err, tostring(err))
            assert.is_nil(waited, tostring(waited))
         else
            assert.is_true(asyncio.BrokenPipeError:is(err), case[2] .. ": " .. tostring(err))
            assert.is_true(asyncio.BrokenPipeError:is(waited), case[2] .. ": " .. tostring(waited))
         end
         assert.equal(0, await(p:wait()))
      end
   end))

   it("give a pipe's descriptor back at its end, keeping what was read", helper.async(function()
      helper.full_gc()
      local fds = core.open_fds()
      local p = sh("printf 'a\\nb\\nc\\n'", { stdout = PIPE })
      local lines = {}
      for line in p.stdout:lines() do
         lines[#lines + 1] = line
      end
      assert.same({ "a", "b", "c" }, lines)
      assert.is_true(p.stdout:at_eof())
      assert.is_nil(await(p.stdout:read()))
      assert.equal(0, await(p:wait()))
      assert.equal(fds, core.open_fds()) -- p is alive: nothing waits for the GC
      -- bytes that arrived with the end are not lost
      p = sh("printf 'last words'", { stdout = PIPE })
      assert.equal(0, await(p:wait()))
      assert.equal("last words", await(p.stdout:read(100)))
      assert.is_nil(await(p.stdout:read(100)))
   end))

   it("keep what a child wrote readable after it exited", helper.async(function()
      local p = sh("echo kept", { stdout = PIPE })
      assert.equal(0, await(p:wait()))
      assert.equal("kept\n", await(p.stdout:read()))
      assert.is_nil(await(p.stdout:read()))
   end))

   it("are spelled asyncio.subprocess.PIPE too, as in Python", function()
      assert.equal(PIPE, asyncio.subprocess.PIPE)
      assert.equal(STDOUT, asyncio.subprocess.STDOUT)
      assert.equal(DEVNULL, asyncio.subprocess.DEVNULL)
   end)

   it("learn of exits by polling where the kernel has no pidfd", helper.async(function()
      local subprocess = require("asyncio.subprocess")
      assert.is_nil(asyncio._poll_exit)
      subprocess._poll_exit = true
      local ok, err = pcall(function()
         local fds = core.open_fds()
         local p = sh("exit 5")
         local q = exec("sleep", { 10 })
         q:kill()
         assert.equal(5, await(p:wait()))
         assert.equal(-9, await(q:wait()))
         assert.is_false(exists(p.pid))
         assert.equal(fds, core.open_fds())
      end)
      subprocess._poll_exit = false
      assert(ok, err)
   end))

   it("run in cwd with env", helper.async(function()
      local p = sh("pwd; echo \"$GREETING\"", {
         stdout = PIPE, cwd = "/tmp", env = { GREETING = "hi there", PATH = "/usr/bin:/bin" } })
      assert.equal("/tmp\nhi there\n", (await(p:communicate())))
   end))

   it("raise OSError in the parent when the program cannot run", helper.async(function()
      local err = failure(await, asyncio.create_subprocess_exec("/nonexistent/program", {}))
      assert.is_true(asyncio.OSError:is(err))
      assert.equal("ENOENT", err.code)
      err = failure(await, asyncio.create_subprocess_exec("no-such-program-here"))
      assert.equal("ENOENT", err.code)
      err = failure(await, asyncio.create_subprocess_shell("true", { cwd = "/nonexistent" }))
      assert.equal("ENOENT", err.code)
   end))

   it("name the program or the cwd that failed, as Python's filename", helper.async(function()
      local err = failure(await, asyncio.create_subprocess_exec("no-such-program-here", { "x" }))
      assert.is_true(asyncio.FileNotFoundError:is(err))
      assert.equal("no-such-program-here", err.filename)
      err = failure(await, asyncio.create_subprocess_shell("true", { cwd = "/no/such/dir" }))
      assert.equal("ENOENT", err.code)
      assert.equal("/no/such/dir", err.filename)
   end))

   it("report EACCES and ENOEXEC, never running a non-program through sh", helper.async(function()
      local path = os.tmpname() -- mode 0600
      local f = assert(io.open(path, "w"))
      f:write("\0\1\2 not a program\n")
      f:close()
      local err = failure(await, asyncio.create_subprocess_exec(path))
      assert.equal("EACCES", err.code)
      assert.equal(path, err.filename)
      assert.is_true(os.execute("chmod 700 " .. path))
      err = failure(await, asyncio.create_subprocess_exec(path))
      os.remove(path)
      assert.equal("ENOEXEC", err.code)
   end))

   it("look for the program in the PATH of env when env is given", helper.async(function()
      local err = failure(await, asyncio.create_subprocess_exec("sh", { "-c", "exit 0" },
         { env = { PATH = "/nonexistent" } }))
      assert.equal("ENOENT", err.code)
      local p = exec("sh", { "-c", "exit 4" }, { env = { PATH = "/nonexistent:/usr/bin:/bin" } })
      assert.equal(4, await(p:wait()))
   end))

   it("connect a descriptor or an open file, as Python takes them", helper.async(function()
      local r, w = core.pipe()
      local p = exec("echo", { "to a descriptor" }, { stdout = w, stderr = STDOUT })
      assert.equal(0, await(p:wait()))
      assert.equal("to a descriptor\n", core.fdread(r, 100))
      core.fdclose(r)
      core.fdclose(w)
      local f = io.tmpfile()
      f:write("first ")
      p = exec("echo", { "to a file" }, { stdout = f })
      assert.equal(0, await(p:wait()))
      f:seek("set")
      assert.equal("first to a file\n", f:read("a"))
      f:close()
      local err = failure(asyncio.create_subprocess_exec, "true", {}, { stdout = f })
      assert.matches("option 'stdout' must be", err) -- a closed file is no file
   end))

   it("tell a pipe writer's descriptor as get_extra_info('pipe')", helper.async(function()
      local p = exec("cat", nil, { stdin = PIPE })
      assert.is_number(p.stdin:get_extra_info("pipe"))
      assert.is_nil(p.stdin:get_extra_info("socket"))
      assert.is_true(p.stdin:can_write_eof())
      p.stdin:close()
      assert.equal(0, await(p:wait()))
   end))

   it("run fifty at once, and leave no descriptor and no zombie behind", helper.async(function()
      helper.full_gc() -- streams earlier tests dropped close now, not during ours
      local fds = core.open_fds()
      local procs, pids = {}, {}
      for i = 1, 50 do
         procs[i] = sh("echo " .. i, { stdout = PIPE })
         pids[i] = procs[i].pid
      end
      local outs = {}
      for i = 1, 50 do
         outs[i] = asyncio.create_task(procs[i]:communicate())
      end
      for i = 1, 50 do
         assert.equal(i .. "\n", await(outs[i]))
         assert.equal(0, procs[i].returncode)
      end
      assert.equal(fds, core.open_fds())
      for i = 1, 50 do
         assert.is_false(exists(pids[i]), "process " .. pids[i] .. " was not reaped")
      end
   end, 20)) -- fifty forks take seconds under the sanitizers on a busy machine

   it("kill and reap a child whose loop was closed, once its Process is collected", function()
      local loop = asyncio.new_event_loop()
      local pid
      loop:run_until_complete(asyncio.async(function()
         pid = exec("sleep", { 30 }).pid
      end)())
      loop:close()
      assert.is_true(exists(pid))
      helper.full_gc()
      assert.is_false(exists(pid), "process " .. pid .. " was left behind")
   end)

   it("close their pidfd once, even with the finalizer called by hand as the exit is signalled", helper.async(function()
      local loop = asyncio.get_running_loop()
      local p = exec("true", {})
      -- a zombie by now: the next poll finds its pidfd readable and queues
      -- the reader after the callback below, which runs the finalizer and
      -- lets a pipe take the pidfd's number
      local state
      for _ = 1, 500 do
         local f = io.open("/proc/" .. p.pid .. "/stat")
         state = f and f:read("a"):match("^%d+ %b() (%a)")
         if f then f:close() end
         if state == "Z" or state == nil then break end
         os.execute("sleep 0.01")
      end
      -- reaped already, the exit seen by a poll of the spawn's iterations
      -- (a loaded machine): that run cannot set the scene; it must not hang
      if state == nil then
         assert.equal(0, await(p:wait()))
         return
      end
      local r, w
      loop:call_soon(function()
         getmetatable(p).__gc(p)
         r, w = core.pipe()
      end)
      await(asyncio.sleep(0.05))
      assert.is_truthy(r)
      assert.is_truthy(core.fdwrite(w, "still mine"))
      assert.equal("still mine", core.fdread(r))
      core.fdclose(r)
      core.fdclose(w)
   end))

   it("check their arguments", function()
      local err = failure(asyncio.create_subprocess_exec, nil)
      assert.matches("bad argument #1 to 'create_subprocess_exec' %(string expected, got nil%)", err)
      err = failure(asyncio.create_subprocess_exec, "ls", { {} })
      assert.matches("bad argument #2 to 'create_subprocess_exec' %(item 1 is a table, not a string%)", err)
      err = failure(asyncio.create_subprocess_exec, "ls", "-l")
      assert.matches("bad argument #2 to 'create_subprocess_exec'", err)
      err = failure(asyncio.create_subprocess_shell, 42)
      assert.matches("bad argument #1 to 'create_subprocess_shell' %(string expected, got number%)", err)
      err = failure(asyncio.create_subprocess_shell, "true", { stdout = STDOUT })
      assert.matches("asyncio.STDOUT is only for stderr", err)
      err = failure(asyncio.create_subprocess_shell, "true", { stdin = "pipe" })
      assert.matches("option 'stdin' must be asyncio.PIPE", err)
      err = failure(asyncio.create_subprocess_shell, "true", { shell = true })
      assert.matches("unknown option 'shell'", err)
      err = failure(asyncio.create_subprocess_shell, "true", { env = { 1, 2 } })
      assert.matches("option 'env' must map names to strings", err)
      -- strings with a zero byte were cut short there, silently, as C strings
      err = failure(asyncio.create_subprocess_exec, "echo", { "a\0b" })
      assert.matches("bad argument #2 to 'create_subprocess_exec' %(item 1 has an embedded zero%)", err)
      err = failure(asyncio.create_subprocess_exec, "ec\0ho", {})
      assert.matches("bad argument #1 to 'create_subprocess_exec' %(embedded zero", err)
      err = failure(asyncio.create_subprocess_shell, "echo x\0 y")
      assert.matches("bad argument #1 to 'create_subprocess_shell' %(embedded zero", err)
      err = failure(asyncio.create_subprocess_shell, "env", { env = { A = "1\0 2" } })
      assert.matches("option 'env' entry \"A\" has an embedded zero", err)
      err = failure(asyncio.create_subprocess_shell, "env", { env = { ["A=B"] = "1" } })
      assert.matches("option 'env' has a bad name \"A=B\"", err)
      err = failure(asyncio.create_subprocess_shell, "pwd", { cwd = "/tm\0p" })
      assert.matches("option 'cwd' has an embedded zero", err)
   end)

   it("check the arguments of a Process's methods", helper.async(function()
      local p = sh("exit 0")
      assert.matches("input given but stdin is not asyncio.PIPE", failure(p.communicate, p, "x"))
      assert.matches("bad argument #1 to 'communicate'", failure(p.communicate, p, 42))
      assert.matches("bad argument #1 to 'wait' %(Process expected", failure(p.wait, {}))
      assert.matches("unknown signal 'SIGNOPE'", failure(p.send_signal, p, "SIGNOPE"))
      assert.matches("bad argument #1 to 'send_signal'", failure(p.send_signal, p, {}))
      assert.matches("^bad argument #1 to 'send_signal' %(invalid signal number%)", failure(p.send_signal, p, 1.5))
      assert.equal(0, await(p:wait()))
      local alive = sh("sleep 5")
      alive:send_signal(0) -- kill's probe: it exists, and nothing happens
      alive:send_signal(15.0)
      assert.equal(-15, await(alive:wait()))
   end))

   it("cannot be awaited outside a task", function()
      local err = failure(await, asyncio.create_subprocess_shell("true"))
      assert.matches("await called outside of a running task", err)
   end)
end)
