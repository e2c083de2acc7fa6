-- Scenarios ported from CPython 3.13's own asyncio tests (test_streams.py,
-- test_subprocess.py, test_server.py), each named after the test it
-- ports; what each asserts is what Python printed for the same script.
-- Real sockets on 127.0.0.1 and real child processes.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await
local PIPE = asyncio.PIPE

local failure = helper.failure

-- A server on 127.0.0.1 whose connections are handed out in order:
-- returns it, the client's reader and writer, the server's side of that
-- connection ({reader=, writer=}), and the queue of the next ones.
local function connected(opts)
   local conns = asyncio.Queue()
   local server = await(asyncio.start_server(function(r, w)
      conns:put_nowait({ reader = r, writer = w })
   end, "127.0.0.1", 0))
   local _, port = server:getsockname()
   local reader, writer = await(asyncio.open_connection("127.0.0.1", port, opts))
   return server, reader, writer, await(conns:get()), conns
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
         local server, reader, writer, conn = connected()
         conn.writer:write(string.rep("x", 3 << 19)) -- more than a close drains
         await(asyncio.sleep(0.02))
         writer:write("partial")
         await(writer:drain())
         await(asyncio.sleep(0.02))
         writer:close() -- bytes left unread: the kernel sends a reset behind "partial"
         await(asyncio.sleep(0.05))
         for _ = 1, 2 do
            local err = failure(function()
               await(conn.reader:read(100))
            end)
            assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
         end
         assert.is_true(conn.writer:is_closing())
         assert.is_not_nil(reader)
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

   -- Resets the connection of conn (the server's side of connected()):
   -- the client closes with bytes conn sent it unread.
   local function reset_by_peer(writer, conn)
      conn.writer:write(string.rep("x", 3 << 19)) -- more than a close drains
      await(asyncio.sleep(0.02))
      writer:close()
      await(asyncio.sleep(0.05)) -- the reset arrives
   end

   it("test_drain_raises with a reset that came before: drain raises the reader's ECONNRESET, as wait_closed",
      helper.async(function()
         -- Python 3.13 (its transport read the reset: the reader holds
         -- ConnectionResetError errno 104): write + drain raises it, twice,
         -- and so do read and wait_closed; ours raised ConnectionResetError
         -- 'Connection lost' (no errno), and a close() then wait_closed()
         -- returned without raising
         local server, _, writer, conn, conns = connected()
         reset_by_peer(writer, conn)
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
         local _, writer2 = await(asyncio.open_connection(server:getsockname()))
         local conn2 = await(conns:get())
         reset_by_peer(writer2, conn2)
         conn2.writer:close()
         local err = failure(function()
            await(conn2.writer:wait_closed())
         end)
         assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
         assert.equal("ECONNRESET", err.code)
         server:close()
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
end)
