-- Scenarios ported from CPython 3.13's own asyncio tests (test_streams.py,
-- test_subprocess.py, test_server.py), each named after the test it
-- ports; what each asserts is what Python printed for the same script.
-- Real sockets on 127.0.0.1 and real child processes.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await
local PIPE = asyncio.PIPE

local failure = helper.failure

-- A server on 127.0.0.1 whose connections ({reader=, writer=}) are
-- handed out in order by the queue it returns too.
local function queue_server()
   local conns = asyncio.Queue()
   local server = await(asyncio.start_server(function(r, w)
      conns:put_nowait({ reader = r, writer = w })
   end, "127.0.0.1", 0))
   return server, conns
end

-- A queue_server and a client: returns the server, the client's reader
-- and writer, the server's side of that connection, and the queue.
local function connected(opts)
   local server, conns = queue_server()
   local host, port = server:getsockname()
   local reader, writer = await(asyncio.open_connection(host, port, opts))
   return server, reader, writer, await(conns:get()), conns
end

-- A peer of server (helper.reset_peer) that sends what, then resets.
local function reset_peer(server, conns, what)
   local host, port = server:getsockname()
   return helper.reset_peer(host, port, what, function() return await(conns:get()) end)
end

local function sh(cmd, opts)
   return await(asyncio.create_subprocess_shell(cmd, opts))
end

describe("test_streams.py", function()
   it("test_read_exception over a socket: a read after a reset that came behind data raises it",
      helper.async(function()
         -- Python 3.13: the peer sends b'partial' and resets; a read(100)
         -- made well after raises ConnectionResetError (its transport read
         -- the bytes, then the reset, and the reader raises before looking
         -- at its buffer); ours returned 'partial'
         local server, conns = queue_server()
         local conn = reset_peer(server, conns, "partial")
         for _ = 1, 2 do
            local err = failure(function()
               await(conn.reader:read(100))
            end)
            assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
         end
         assert.is_true(conn.writer:is_closing())
         conn.writer:close()
         server:close()
      end))

   it("test_readuntil_limit_found_sep over a socket: more than twice the limit pauses reading", helper.async(function()
      -- Python 3.13, limit 3: b'some dataAA' came (more than 6 bytes:
      -- its transport paused), then b'A': readuntil(b'AAA') raises
      -- LimitOverrunError (consumed 9) twice, and read(100) returns
      -- b'some dataAA', the last A not read in before the buffer is taken
      -- down to the limit; ours returned 'some dataAAA'
      local server, reader, writer, conn = connected({ limit = 3 })
      conn.writer:write("some dataAA")
      await(asyncio.sleep(0.02))
      for _, more in ipairs({ "", "A" }) do
         conn.writer:write(more)
         await(asyncio.sleep(0.02))
         local err = failure(function()
            await(reader:readuntil("AAA"))
         end)
         assert.is_true(asyncio.LimitOverrunError:is(err), tostring(err))
         assert.equal(9, err.consumed)
      end
      assert.equal("some dataAA", await(reader:read(100)))
      -- reading again: the A that waited comes with the next poll
      assert.equal("A", await(reader:read(100)))
      writer:close()
      conn.writer:close()
      server:close()
   end))

   it("test_drain_raises after the peer closed: the failing send's drain raises 'Connection lost'",
      helper.async(function()
         -- Python 3.13: the peer closed, we read its end and write on: the
         -- first write passes (the peer's kernel answers with a reset), the
         -- next send fails with EPIPE and its drain raises
         -- ConnectionResetError('Connection lost'), later ones
         -- BrokenPipeError; ours raised BrokenPipeError at once (the end
         -- read before made the send's error the reader's too)
         local server, reader, writer, conn = connected()
         conn.writer:close()
         await(conn.writer:wait_closed())
         assert.is_nil(await(reader:read()))
         writer:write("x")
         await(writer:drain())
         await(asyncio.sleep(0.02)) -- the reset comes back
         writer:write("x")
         local err = failure(function()
            await(writer:drain())
         end)
         assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
         assert.equal("Connection lost", err.message)
         writer:write("x")
         err = failure(function()
            await(writer:drain())
         end)
         assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
         writer:close()
         server:close()
      end))

   it("test_drain_raises with a reset that came before: drain raises the reader's ECONNRESET, as wait_closed",
      helper.async(function()
         -- Python 3.13 (its transport read the reset: the reader holds
         -- ConnectionResetError errno 104): write + drain raises it, twice,
         -- and so do read and wait_closed; ours raised ConnectionResetError
         -- 'Connection lost' (no errno), and a close() then wait_closed()
         -- returned without raising
         local server, conns = queue_server()
         local conn = reset_peer(server, conns)
         for _ = 1, 2 do
            conn.writer:write("x")
            local err = failure(function()
               await(conn.writer:drain())
            end)
            assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
            assert.is_not_nil(err.errno, tostring(err)) -- 'Connection lost' has none
         end
         assert.is_true(asyncio.ConnectionResetError:is(failure(function()
            await(conn.reader:read(10))
         end)))
         conn.writer:close()
         assert.is_true(asyncio.ConnectionResetError:is(failure(function()
            await(conn.writer:wait_closed())
         end)))
         -- closing first: wait_closed raises the reset too
         local conn2 = reset_peer(server, conns)
         conn2.writer:close()
         local err = failure(function()
            await(conn2.writer:wait_closed())
         end)
         assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
         assert.equal("ECONNRESET", err.code)
         server:close()
      end))

   -- What each step gave, as one string: results, or the error's class
   -- and fields.
   local function outcome(aw)
      local ok, v = pcall(await, aw)
      if ok then
         return v == nil and "nil" or v
      end
      for _, name in ipairs({ "IncompleteReadError", "LimitOverrunError" }) do
         if asyncio[name]:is(v) then
            return ("%s partial=%s expected=%s consumed=%s"):format(name, tostring(v.partial),
               tostring(v.expected), tostring(v.consumed))
         end
      end
      return tostring(v)
   end

   it("test_readline, test_read_eof, test_readexactly_eof, test_readuntil_eof over a socket", helper.async(function()
      -- as Python 3.13 printed them (b'' is nil here)
      local server, reader, writer, conn = connected()
      conn.writer:write("line1\nline2\nli")
      conn.writer:write_eof()
      assert.same({ "line1\n", "line2\n", "li", "nil" },
         { outcome(reader:readline()), outcome(reader:readline()), outcome(reader:readline()),
           outcome(reader:readline()) })
      assert.is_true(reader:at_eof())
      assert.equal("nil", outcome(reader:read()))
      assert.equal("", outcome(reader:readexactly(0)))
      assert.equal("IncompleteReadError partial= expected=1 consumed=nil", outcome(reader:readexactly(1)))
      assert.equal("IncompleteReadError partial= expected=nil consumed=nil", outcome(reader:readuntil("x")))
      writer:close()
      conn.writer:close()
      server:close()
      server, reader, writer, conn = connected()
      conn.writer:write("abcde--fg")
      conn.writer:write_eof()
      assert.same({ "abc", "de--", "IncompleteReadError partial=fg expected=nil consumed=nil",
                    "IncompleteReadError partial= expected=5 consumed=nil" },
         { outcome(reader:readexactly(3)), outcome(reader:readuntil("--")), outcome(reader:readuntil("--")),
           outcome(reader:readexactly(5)) })
      writer:close()
      conn.writer:close()
      server:close()
   end))

   it("test_read, test_read_zero, test_at_eof over a socket", helper.async(function()
      local server, reader, writer, conn = connected()
      conn.writer:write("0123456789")
      await(conn.writer:drain())
      assert.equal("", await(reader:read(0)))
      assert.equal("012", await(reader:read(3)))
      assert.is_false(reader:at_eof())
      conn.writer:write_eof()
      assert.equal("3456789", await(reader:read(-1)))
      assert.is_true(reader:at_eof())
      assert.is_nil(await(reader:read(3)))
      assert.equal("", await(reader:read(0)))
      writer:close()
      conn.writer:close()
      server:close()
   end))

   it("test_readline_limit and test_readuntil_limit over a socket: what is dropped, what stays", helper.async(function()
      local server, reader, writer, conn = connected({ limit = 7 })
      conn.writer:write("1234567\n12345678\n1\n1234567890")
      conn.writer:write_eof()
      await(asyncio.sleep(0.02))
      local overrun = "LimitOverrunError partial=nil expected=nil consumed="
      -- Python raises ValueError where readline overruns, and drops the line
      assert.same({ "1234567\n", overrun .. "8", "1\n", overrun .. "10", "nil" },
         { outcome(reader:readline()), outcome(reader:readline()), outcome(reader:readline()),
           outcome(reader:readline()), outcome(reader:readline()) })
      writer:close()
      conn.writer:close()
      server:close()
      server, reader, writer, conn = connected({ limit = 5 })
      conn.writer:write("0123456789\nab\n")
      conn.writer:write_eof()
      await(asyncio.sleep(0.02))
      -- readuntil leaves the data where it was
      assert.same({ overrun .. "10", "012", overrun .. "7", overrun .. "7", "ab\n", "nil" },
         { outcome(reader:readuntil("\n")), outcome(reader:read(3)), outcome(reader:readuntil("\n")),
           outcome(reader:readline()), outcome(reader:readline()), outcome(reader:readline()) })
      writer:close()
      conn.writer:close()
      server:close()
   end))

   it("test_readuntil_multi_separator over a socket: the match that ends first, the shorter on a tie",
      helper.async(function()
         local server, reader, writer, conn = connected()
         conn.writer:write("line\r\nxx\nyy\rzz")
         conn.writer:write_eof()
         assert.same({ "line\r\n", "xx\n", "y", "y\r", "IncompleteReadError partial=zz expected=nil consumed=nil" },
            { outcome(reader:readuntil({ "\r\n", "\n" })), outcome(reader:readuntil({ "\n", "\r" })),
              outcome(reader:readuntil({ "yy", "y" })), outcome(reader:readuntil({ "\r", "z" })),
              outcome(reader:readuntil({ "q", "r" })) })
         writer:close()
         conn.writer:close()
         server:close()
      end))

   it("test_exception_cancel over a socket: a cancelled readline loses nothing", helper.async(function()
      local server, reader, writer, conn = connected()
      local t = asyncio.create_task(reader:readline())
      await(asyncio.sleep(0.01))
      t:cancel()
      helper.cancelled(t)
      conn.writer:write("after\n")
      assert.equal("after\n", await(reader:readline()))
      t = asyncio.create_task(reader:readexactly(6))
      for _, chunk in ipairs({ "ab", "cd", "efgh" }) do
         await(asyncio.sleep(0.01))
         assert.is_false(t:done())
         conn.writer:write(chunk)
      end
      assert.equal("abcdef", await(t))
      assert.equal("gh", await(reader:read(10)))
      writer:close()
      conn.writer:close()
      server:close()
   end))

   it("test_wait_closed_on_close, test_async_writer_api_exception_after_close, test_eof_feed_when_closing_writer",
      helper.async(function()
         local server = await(asyncio.start_server(function(r, w)
            await(r:readline())
            w:write("HTTP/1.0 200 OK\r\n\r\nTest message")
            await(w:drain())
            w:close()
            await(w:wait_closed())
         end, "127.0.0.1", 0))
         local reader, writer = await(asyncio.open_connection(server:getsockname()))
         writer:write("GET / HTTP/1.0\r\n\r\n")
         assert.equal("HTTP/1.0 200 OK\r\n", await(reader:readline()))
         assert.equal("\r\nTest message", await(reader:read()))
         assert.is_false(writer:is_closing())
         writer:close()
         assert.is_true(writer:is_closing())
         await(writer:wait_closed())
         writer:write("data") -- dropped
         local err = failure(function()
            await(writer:drain())
         end)
         assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
         assert.equal("Connection lost", err.message)
         await(writer:wait_closed())
         assert.is_nil(await(reader:read()))
         -- closed at once: the end is there
         reader, writer = await(asyncio.open_connection(server:getsockname()))
         writer:close()
         await(writer:wait_closed())
         assert.is_true(reader:at_eof())
         assert.is_nil(await(reader:read()))
         server:close()
      end))

   it("test_start_server: an echo client and server log in Python's order", helper.async(function()
      local log = {}
      local function say(s)
         log[#log + 1] = s
      end
      local server = await(asyncio.start_server(function(r, w)
         say("srv: connected")
         for line in r:lines() do
            say("srv: got " .. line)
            w:write(line:upper() .. "\n")
            await(w:drain())
            say("srv: echoed " .. line)
         end
         say("srv: eof")
         w:close()
         await(w:wait_closed())
         say("srv: closed")
      end, "127.0.0.1", 0))
      say("cli: connecting")
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      say("cli: connected")
      for _, word in ipairs({ "one", "two" }) do
         writer:write(word .. "\n")
         say("cli: sent " .. word)
         await(writer:drain())
         say("cli: drained " .. word)
         local resp = await(reader:readline())
         say("cli: resp " .. resp:sub(1, -2))
      end
      writer:write_eof()
      say("cli: write_eof")
      say("cli: rest " .. tostring(await(reader:read())))
      writer:close()
      await(writer:wait_closed())
      say("cli: closed")
      server:close()
      await(server:wait_closed())
      say("srv closed")
      -- Python 3.13 printed this order
      assert.same({ "cli: connecting", "srv: connected", "cli: connected", "cli: sent one", "cli: drained one",
         "srv: got one", "srv: echoed one", "cli: resp ONE", "cli: sent two", "cli: drained two", "srv: got two",
         "srv: echoed two", "cli: resp TWO", "cli: write_eof", "srv: eof", "srv: closed", "cli: rest nil",
         "cli: closed", "srv closed" }, log)
   end))
end)

describe("cancelled reads, as Python's StreamReader", function()
   it("a cancelled read() to the end loses what had arrived, as Python's read(-1)", helper.async(function()
      -- Python 3.13 printed b'c', b'tail' and b'' below: its read(-1) takes
      -- the bytes as they come; ours kept them all for the next read
      local server, reader, writer, conn = connected()
      local t = asyncio.create_task(reader:read())
      for _, chunk in ipairs({ "a", "b" }) do
         await(asyncio.sleep(0.02))
         conn.writer:write(chunk)
      end
      await(asyncio.sleep(0.02))
      t:cancel()
      helper.cancelled(t)
      conn.writer:write("c")
      await(asyncio.sleep(0.02))
      local err = failure(function()
         await(asyncio.wait_for(reader:read(), 0.02))
      end)
      assert.is_true(asyncio.TimeoutError:is(err), tostring(err))
      conn.writer:write("tail")
      conn.writer:write_eof()
      assert.equal("tail", await(reader:read()))
      writer:close()
      conn.writer:close()
      server:close()
      -- the output a communicate() cut by a timeout had read is gone
      local p = sh("echo start; exec sleep 30", { stdout = PIPE })
      err = failure(function()
         await(asyncio.wait_for(p:communicate(), 0.1))
      end)
      assert.is_true(asyncio.TimeoutError:is(err), tostring(err))
      p:kill()
      assert.same({ "", nil, n = 2 }, table.pack(await(p:communicate())))
   end))

   it("a read() cancelled before it ran, or in the iteration its bytes came, keeps them", helper.async(function()
      local server, reader, writer, conn = connected()
      conn.writer:write("pre")
      await(asyncio.sleep(0.02))
      local t = asyncio.create_task(reader:read())
      t:cancel()
      helper.cancelled(t)
      t = asyncio.create_task(reader:read(100))
      await(asyncio.sleep(0))
      assert.equal("pre", await(t))
      t = asyncio.create_task(reader:read())
      await(asyncio.sleep(0.02))
      conn.writer:write("late")
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      t:cancel()
      helper.cancelled(t)
      conn.writer:write_eof()
      assert.equal("late", await(reader:read())) -- as Python's
      writer:close()
      conn.writer:close()
      server:close()
   end))
end)

describe("test_server.py", function()
   -- a handler that reads to the end, then closes
   local function serve(r, w)
      pcall(await, r:read())
      w:close()
      await(w:wait_closed())
   end

   it("test_wait_closed_basic: wait_closed waits for the close and the last connection", helper.async(function()
      local server = await(asyncio.start_server(serve, "127.0.0.1", 0))
      local task1 = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0))
      assert.is_false(task1:done())
      local _, writer = await(asyncio.open_connection(server:getsockname()))
      local task2 = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0))
      assert.is_false(task1:done() or task2:done())
      server:close()
      await(asyncio.sleep(0))
      local task3 = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0))
      assert.is_false(task1:done() or task2:done() or task3:done())
      writer:close()
      await(writer:wait_closed())
      await(task1)
      await(task2)
      await(task3)
      await(server:wait_closed()) -- at once
   end))

   it("test_wait_closed_race: close and the client's close queued together", helper.async(function()
      local server = await(asyncio.start_server(serve, "127.0.0.1", 0))
      local task = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0))
      assert.is_false(task:done())
      local _, writer = await(asyncio.open_connection(server:getsockname()))
      local loop = asyncio.get_running_loop()
      loop:call_soon(function() server:close() end)
      loop:call_soon(function() writer:close() end)
      await(server:wait_closed())
   end))

   it("test_close_clients and test_abort_clients: wait_closed is done two iterations later", helper.async(function()
      for _, how in ipairs({ "close_clients", "abort_clients" }) do
         local server = await(asyncio.start_server(function(_, w)
            await(w:wait_closed())
         end, "127.0.0.1", 0))
         local host, port = server:getsockname()
         local reader, writer = await(asyncio.open_connection(host, port, { limit = 4096 }))
         local task = asyncio.create_task(server:wait_closed())
         await(asyncio.sleep(0))
         assert.is_false(task:done())
         server:close()
         server[how](server)
         await(asyncio.sleep(0))
         assert.is_false(task:done())
         await(asyncio.sleep(0))
         assert.is_true(task:done())
         assert.is_nil(await(reader:read()))
         writer:close()
      end
   end))

   it("test_start_unix_server_1: start_serving takes one iteration, as Python's sleep(0)", helper.async(function()
      -- it returned without yielding: a callback scheduled before ran after
      local path = os.tmpname() -- a fresh name: the file goes, the server's socket takes its place
      os.remove(path)
      local server = await(asyncio.start_unix_server(function() end, path))
      local order = {}
      asyncio.get_running_loop():call_soon(function() order[#order + 1] = "callback" end)
      await(server:start_serving())
      order[#order + 1] = "start_serving returned"
      assert.same({ "callback", "start_serving returned" }, order)
      assert.is_true(server:is_serving())
      server:close()
   end))

   it("test_start_server_1: serve_forever cancelled from a handler closes the server", helper.async(function()
      local main_task
      local server = await(asyncio.start_server(function(r, w)
         await(r:readline())
         main_task:cancel()
         w:write("1")
         w:close()
         await(w:wait_closed())
      end, "127.0.0.1", 0))
      assert.is_true(server:is_serving())
      main_task = asyncio.create_task(function()
         local srv <close> = server
         await(srv:serve_forever())
      end)
      await(asyncio.sleep(0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      writer:write("hello\n")
      helper.cancelled(main_task)
      assert.same({}, server:sockets())
      assert.is_false(server:is_serving())
      assert.equal("1", await(reader:read()))
      local err = failure(function()
         await(server:serve_forever())
      end)
      assert.matches("is closed", tostring(err))
      writer:close()
   end))
end)

describe("test_subprocess.py", function()
   it("test_stdin_broken_pipe, stdin closed with 1 MB queued: a second drain raises 'Connection lost'",
      helper.async(function()
         -- Python 3.13: BrokenPipeError, then ConnectionResetError('Connection
         -- lost') for every later drain, and the close waiter keeps
         -- BrokenPipeError (write_eof instead of close: the same); ours
         -- raised BrokenPipeError again
         local p = sh("head -c 10 >/dev/null; sleep 0.05", { stdin = PIPE })
         p.stdin:write(string.rep("x", 1 << 20))
         p.stdin:close()
         local err = failure(function()
            await(p.stdin:drain())
         end)
         assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
         for _ = 1, 2 do
            err = failure(function()
               await(p.stdin:drain())
            end)
            assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
            assert.equal("Connection lost", err.message)
         end
         err = failure(function()
            await(p.stdin:wait_closed())
         end)
         assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
         assert.equal(0, await(p:wait()))
      end))

   it("test_subprocess_concurrent_wait: a waiting wait() resumes after the tasks handed the pipes' ends",
      helper.async(function()
         -- Python 3.13 resolves the exit waiters only once every pipe
         -- closed (_try_finish), after its pipe_connection_lost fed the
         -- end: a task reading stdout, then stderr, to their end logs
         -- before the task in wait(), 10 times out of 10; ours woke wait()
         -- first when the child had exited before the loop polled
         for _ = 1, 3 do
            local log = {}
            local p = sh("read a; echo A$a; echo B$a >&2; exit 5", { stdin = PIPE, stdout = PIPE, stderr = PIPE })
            local waiting = asyncio.create_task(async(function()
               table.insert(log, "wait " .. await(p:wait()))
            end)())
            p.stdin:write("1\n")
            p.stdin:close()
            local reading = asyncio.create_task(async(function()
               table.insert(log, "out " .. await(p.stdout:read()))
               table.insert(log, "err " .. await(p.stderr:read()))
            end)())
            await(asyncio.sleep(0))
            os.execute("sleep 0.03") -- the child is done before the loop polls again
            await(waiting)
            await(reading)
            assert.same({ "out A1\n", "err B1\n", "wait 5" }, log)
         end
      end))

   local function exec(program, args, opts)
      return await(asyncio.create_subprocess_exec(program, args, opts))
   end

   it("test_stdin_stdout, test_communicate, test_communicate_none_input, test_shell", helper.async(function()
      local p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
      assert.is_nil(p.returncode)
      p.stdin:write("some data")
      await(p.stdin:drain())
      p.stdin:close()
      assert.equal("some data", await(p.stdout:read()))
      assert.equal(0, await(p:wait()))
      p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
      assert.same({ "some data", nil, n = 2 }, table.pack(await(p:communicate("some data"))))
      assert.equal(0, p.returncode)
      p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
      assert.same({ "", nil, n = 2 }, table.pack(await(p:communicate())))
      p = exec("sh", { "-c", "echo out; echo err >&2" }, { stdout = PIPE, stderr = asyncio.STDOUT })
      assert.same({ "out\nerr\n", nil, n = 2 }, table.pack(await(p:communicate())))
      assert.equal(7, await(sh("exit 7"):wait()))
   end))

   it("test_kill, test_terminate, test_send_signal: minus the signal's number", helper.async(function()
      local p = exec("sleep", { "30" })
      p:kill()
      assert.equal(-9, await(p:wait()))
      p = exec("sleep", { "30" })
      p:terminate()
      assert.equal(-15, await(p:wait()))
      p = exec("sh", { "-c", "echo sleeping; exec sleep 30" }, { stdout = PIPE })
      assert.equal("sleeping\n", await(p.stdout:readline()))
      p:send_signal("SIGHUP")
      assert.equal(-1, await(p:wait()))
      assert.equal(-15, await(sh("kill -TERM $$"):wait()))
   end))

   it("test_communicate_ignore_broken_pipe and the test_devnull_* tests", helper.async(function()
      local p = exec("true", {}, { stdin = PIPE })
      assert.same({ nil, nil, n = 2 }, table.pack(await(p:communicate(string.rep("x", 1 << 20)))))
      assert.equal(0, p.returncode)
      p = exec("wc", { "-c" }, { stdin = PIPE, stdout = PIPE, stderr = PIPE })
      local out, err = await(p:communicate(""))
      assert.same({ "0", "" }, { out:match("%d+"), err })
      p = exec("wc", { "-c" }, { stdin = asyncio.DEVNULL, stdout = PIPE })
      assert.equal("0", (await(p:communicate())):match("%d+"))
      p = exec("wc", { "-c" }, { stdin = PIPE, stdout = asyncio.DEVNULL, stderr = PIPE })
      assert.same({ nil, "", n = 2 }, table.pack(await(p:communicate("abc"))))
      p = exec("wc", { "-c" }, { stdin = PIPE, stdout = PIPE, stderr = asyncio.DEVNULL })
      out, err = await(p:communicate("abc"))
      assert.same({ "3", nil }, { out:match("%d+"), err })
   end))

   it("test_cancel_process_wait and test_subprocess_concurrent_wait", helper.async(function()
      local p = exec("sleep", { "30" })
      local loop = asyncio.get_running_loop()
      local t = loop:create_task(p:wait())
      loop:call_soon(function() t:cancel() end)
      helper.cancelled(t)
      assert.is_nil(p.returncode) -- the child runs on
      p:kill()
      assert.equal(-9, await(p:wait()))
      p = exec("cat", {}, { stdin = PIPE, stdout = PIPE })
      assert.equal("some data", (await(p:communicate("some data"))))
      assert.same({ 0, 0, 0, n = 3 }, await(asyncio.gather(p:wait(), p:wait(), p:wait())))
      p = sh("sleep 0.02; exit 3")
      assert.same({ 3, 3, n = 2 }, await(asyncio.gather(p:wait(), p:wait())))
   end))

   it("test_read_stdout_after_process_exit and test_popen_error", helper.async(function()
      local p = sh("head -c 262144 /dev/zero; exit 1", { stdout = PIPE })
      local total = 0
      while true do
         local data = await(p.stdout:read(65536))
         if data == nil then
            break
         end
         total = total + #data
         await(asyncio.sleep(0.01))
      end
      assert.equal(262144, total)
      assert.equal(1, await(p:wait()))
      local err = failure(exec, "/nonexistent/prog")
      assert.is_true(asyncio.FileNotFoundError:is(err), tostring(err))
      assert.equal("/nonexistent/prog", err.filename)
      err = failure(exec, "true", {}, { cwd = "/nonexistent/dir" })
      assert.is_true(asyncio.FileNotFoundError:is(err), tostring(err))
      assert.equal("/nonexistent/dir", err.filename)
      err = failure(exec, "/etc/passwd")
      assert.is_true(asyncio.PermissionError:is(err), tostring(err))
   end))
end)
