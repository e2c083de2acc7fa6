-- Scenarios of CPython 3.13's Lib/test/test_asyncio/test_streams.py,
-- test_subprocess.py, test_unix_events.py and test_sock_lowlevel.py that
-- the other *_cpython_spec.lua files and streams_spec.lua, server_spec.lua,
-- subprocess_spec.lua and threads_spec.lua did not port yet, one it() per
-- CPython test, named after it. Each asserts what CPython 3.13 printed for
-- a small script doing the same through the streams API (real sockets on
-- 127.0.0.1, Unix sockets in a temporary directory, real processes), in
-- the Lua forms API.md documents: nil where Python reads b'' at the end,
-- argument errors where Python raises ValueError or TypeError for a bad
-- argument. The sock_* tests of test_sock_lowlevel.py are ported as the
-- same exchanges over streams.
--
-- Left out, having no meaning here: the transport, protocol and child
-- watcher tests (UnixReadPipeTransportTests, UnixWritePipeTransportTests,
-- the ChildWatcher and Policy classes, test_proc_exited,
-- test_subprocess_protocol_events, test_close_kill_running,
-- test_close_dont_kill_finished, test_subprocess_repr), the bare
-- StreamReader and StreamReaderProtocol constructors (test_feed_*,
-- test_streamreader*_constructor_*, test___repr__*, which look at the
-- private buffer), SSL, pickling, ResourceWarning, path objects, the
-- sock= arguments, sendfile, fork, Windows, contextvars and the signal
-- tests that mock signal.signal.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await
local PIPE = asyncio.PIPE

-- A fresh path for a Unix socket, with nothing there yet (no shell: under
-- make check one would run with the sanitizers preloaded).
local function socket_path()
   local path = os.tmpname()
   os.remove(path)
   return path
end

local exists = helper.exists

-- python3 on PATH, for peers that reset a connection (elsewhere without
-- one, those specs are pending).
local python3 = helper.find_python()

-- A peer in a python3 process listening on 127.0.0.1 (or on the Unix
-- socket at path): it prints where it listens, accepts one connection,
-- waits for a line on its stdin, then closes that connection with the
-- bytes we sent it unread, so its kernel resets it (SO_LINGER 0 on TCP),
-- and prints "closed". Returns the process and its port (or nil).
local function resetting_peer(path)
   local script = [[
import socket, struct, sys
if len(sys.argv) > 1:
    s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])
else:
    s = socket.socket(); s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1] if len(sys.argv) == 1 else "", flush=True)
c, _ = s.accept()
sys.stdin.readline()
if len(sys.argv) == 1:
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("closed", flush=True)
sys.stdin.readline()
]]
   -- env without LD_PRELOAD: no sanitizer runtime in python3 under make check
   local p = await(asyncio.create_subprocess_exec(python3, { "-c", script, path }, {
      stdin = PIPE, stdout = PIPE, env = { PATH = os.getenv("PATH") } }))
   local where = await(p.stdout:readline())
   return p, tonumber(where)
end

-- test_open_connection_error, test_open_unix_connection_error: the peer
-- resets a connection we wrote to; read raises ConnectionResetError,
-- closing the writer after it reports nothing.
local function connection_error(unix)
   local loop = asyncio.get_running_loop()
   local reports = helper.capture_reports(loop)
   local path = unix and socket_path() or nil
   local peer, port = resetting_peer(path)
   local reader, writer
   if unix then
      reader, writer = await(asyncio.open_unix_connection(path))
   else
      reader, writer = await(asyncio.open_connection("127.0.0.1", port))
   end
   writer:write("unread")
   await(writer:drain())
   await(asyncio.sleep(0.02)) -- the bytes reach the peer's kernel
   peer.stdin:write("close\n")
   assert.equal("closed\n", await(peer.stdout:readline()))
   await(asyncio.sleep(0.02))
   local err = helper.raises(asyncio.ConnectionResetError, await, reader:read())
   assert.equal("ECONNRESET", err.code)
   writer:close()
   await(asyncio.sleep(0))
   assert.same({}, reports)
   peer.stdin:close()
   assert.equal(0, await(peer:wait()))
   if path then
      os.remove(path)
   end
end

local python_it = python3 and it or pending

describe("test_streams.py", function()
   python_it("test_open_connection_error", helper.async(function()
      connection_error(false)
   end))

   python_it("test_open_unix_connection_error", helper.async(function()
      connection_error(true)
   end))

   it("test_readuntil_bytearray", helper.async(function()
      -- Python: b'some data\r\n', and the buffer is empty after it
      local server = await(asyncio.start_server(function(_, w)
         w:write("some data\r\n")
         w:write_eof()
      end, "127.0.0.1", 0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      assert.equal("some data\r\n", await(reader:readuntil("\r\n")))
      assert.is_nil(await(reader:read(100)))
      writer:close()
      server:close()
      await(server:wait_closed())
   end))

   it("test_read_all_from_pipe_reader", helper.async(function()
      -- a child's pipe read to its end through a reader of limit 1 (Python
      -- b'data'): reading all is not bound by the limit
      local p = await(asyncio.create_subprocess_exec("printf", { "data" }, { stdout = PIPE, limit = 1 }))
      assert.equal("data", await(p.stdout:read(-1)))
      assert.equal(0, await(p:wait()))
   end))
end)

describe("test_subprocess.py", function()
   it("test_empty_input", helper.async(function()
      -- Python: b'0\n', b'' and 0
      local p = await(asyncio.create_subprocess_exec("wc", { "-c" }, { stdin = PIPE, stdout = PIPE, stderr = PIPE }))
      local out, err = await(p:communicate(""))
      assert.equal("0", out:match("^%s*(%d+)%s*$"))
      assert.equal("", err)
      assert.equal(0, await(p:wait()))
   end))

   it("test_devnull_error", helper.async(function()
      -- Python: b'3\n', None and 0
      local p = await(asyncio.create_subprocess_exec("sh", { "-c", "wc -c; echo err >&2" },
         { stdin = PIPE, stdout = PIPE, stderr = asyncio.DEVNULL }))
      local r = table.pack(await(p:communicate("abc")))
      assert.equal(2, r.n)
      assert.equal("3", r[1]:match("^%s*(%d+)%s*$"))
      assert.is_nil(r[2])
      assert.equal(0, await(p:wait()))
   end))

   it("test_cancel_post_init", helper.async(function()
      -- cancelled in the iteration it starts: Python prints cancelled True,
      -- and nothing reaches the exception handler
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local t = loop:create_task(asyncio.create_subprocess_exec("sleep", { "32" }))
      loop:call_soon(function() t:cancel() end)
      helper.cancelled(t)
      assert.is_true(t:cancelled())
      await(asyncio.sleep(0))
      assert.same({}, reports)
   end))

   it("test_create_subprocess_with_pidfd", helper.async(function()
      -- asyncio.run in a worker thread runs a child there (Python: (0, b'some data'))
      local rc, out = await(asyncio.to_thread(function()
         local aio = require("asyncio")
         return aio.run(function()
            local p = aio.await(aio.create_subprocess_exec("cat", {}, { stdin = aio.PIPE, stdout = aio.PIPE }))
            local o = aio.await(p:communicate("some data"))
            return p.returncode, o
         end)
      end))
      assert.equal(0, rc)
      assert.equal("some data", out)
   end))
end)

describe("test_unix_events.py", function()
   it("test_check_signal", helper.async(function()
      -- Python: TypeError for '1', ValueError for NSIG + 1, 0 and -1
      local loop = asyncio.get_running_loop()
      assert.matches("unknown signal '1'", helper.failure(loop.add_signal_handler, loop, "1", print))
      for _, sig in ipairs({ 66, 0, -1 }) do
         assert.matches("invalid signal number", helper.failure(loop.add_signal_handler, loop, sig, print))
      end
   end))

   it("test_add_signal_handler_coroutine_error", helper.async(function()
      -- Python: TypeError 'coroutines cannot be used with add_signal_handler()'
      -- for an async function and for a coroutine object
      local loop = asyncio.get_running_loop()
      local afn = async(function() end)
      for _, h in ipairs({ afn, afn() }) do
         assert.matches("coroutines cannot be used with add_signal_handler()",
            helper.failure(loop.add_signal_handler, loop, "SIGUSR1", h), 1, true)
      end
      assert.is_false(loop:remove_signal_handler("SIGUSR1"))
   end))

   it("test_add_signal_handler_install_error3", helper.async(function()
      -- Python: RuntimeError 'sig 9 cannot be caught'
      local loop = asyncio.get_running_loop()
      assert.matches("cannot be caught", helper.failure(loop.add_signal_handler, loop, "SIGKILL", print))
   end))

   it("test_remove_signal_handler", helper.async(function()
      -- Python: True, then False
      local loop = asyncio.get_running_loop()
      loop:add_signal_handler("SIGHUP", print)
      assert.is_true(loop:remove_signal_handler("SIGHUP"))
      assert.is_false(loop:remove_signal_handler("SIGHUP"))
   end))

   it("test_create_unix_server_nopath_nosock", helper.async(function()
      -- Python: ValueError 'path was not specified, and no sock specified'
      assert.matches("bad argument #2 to 'start_unix_server'",
         helper.failure(asyncio.start_unix_server, function() end, nil))
   end))

   it("test_create_unix_connection_nopath_nosock", helper.async(function()
      -- Python: ValueError 'no path and sock were specified'
      assert.matches("bad argument #1 to 'open_unix_connection'",
         helper.failure(asyncio.open_unix_connection, nil))
   end))

   it("test_create_unix_server_bind_error", helper.async(function()
      -- Python: FileNotFoundError (errno 2), and the socket is closed
      local core = require("asyncio.core")
      -- the collector may not close what earlier specs left while we count
      helper.full_gc()
      collectgarbage("stop")
      local fds = core.open_fds()
      local ok, err = pcall(await, asyncio.start_unix_server(function() end, "/nonexistent/dir/sock"))
      local after = core.open_fds()
      collectgarbage("restart")
      assert.is_false(ok)
      assert.is_true(asyncio.FileNotFoundError:is(err), tostring(err))
      assert.equal(2, err.errno)
      assert.equal(fds, after)
   end))

   it("test_add_reader_invalid_argument", helper.async(function()
      -- Python: ValueError 'Invalid file object' from all four
      local loop = asyncio.get_running_loop()
      local calls = {
         add_reader = function() loop:add_reader({}, print) end,
         add_writer = function() loop:add_writer({}, print) end,
         remove_reader = function() loop:remove_reader({}) end,
         remove_writer = function() loop:remove_writer({}) end,
      }
      for name, call in pairs(calls) do
         assert.matches("bad argument #1 to '" .. name .. "' %(number expected, got table%)", helper.failure(call))
      end
   end))

   it("test_add_reader_or_writer_transport_fd", helper.async(function()
      -- Python: RuntimeError 'File descriptor N is used by transport ...'
      -- from all four while the connection is open
      local loop = asyncio.get_running_loop()
      local server = await(asyncio.start_server(function() end, "127.0.0.1", 0))
      local _, writer = await(asyncio.open_connection(server:getsockname()))
      local fd = writer:get_extra_info("socket")
      for _, name in ipairs({ "add_reader", "add_writer", "remove_reader", "remove_writer" }) do
         local f = loop[name]
         local err = helper.failure(f, loop, fd, print)
         assert.matches("file descriptor " .. fd .. " is used by a stream", err, 1, true)
      end
      -- closing, the stream lets go of it (Python: False, no error)
      writer:close()
      assert.is_false(loop:remove_reader(fd))
      server:close()
      await(server:wait_closed())
      -- a child's pipe is no socket: Python's add_reader takes its descriptor
      local p = await(asyncio.create_subprocess_exec("cat", {}, { stdin = PIPE }))
      local pfd = p.stdin:get_extra_info("pipe")
      loop:add_reader(pfd, print)
      assert.is_true(loop:remove_reader(pfd))
      p.stdin:close()
      assert.equal(0, await(p:wait()))
   end))
end)

describe("test_sock_lowlevel.py, over streams", function()
   it("test_sock_client_ops", helper.async(function()
      -- a request, and the answer read to its end
      local server = await(asyncio.start_server(async(function(r, w)
         local line = await(r:readline())
         w:write("HTTP/1.0 200 OK\r\n\r\n" .. line)
         await(w:drain())
         w:close()
      end), "127.0.0.1", 0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      writer:write("GET / HTTP/1.0\r\n\r\n")
      assert.equal("HTTP/1.0 200 OK\r\n", await(reader:readline()))
      assert.equal("\r\nGET / HTTP/1.0\r\n", await(reader:read()))
      assert.is_nil(await(reader:read()))
      writer:close()
      server:close()
      await(server:wait_closed())
   end))

   it("test_sock_client_racing", helper.async(function()
      -- a read cancelled before anything came: a read at once raises (its
      -- waiter is still there); one iteration later the next read gets the
      -- answer, and then the end (Python: RuntimeError, then b'HTTP/1.0 200
      -- OK\r\n\r\nbody', then b'')
      local server = await(asyncio.start_server(async(function(r, w)
         await(r:readline())
         w:write("HTTP/1.0 200 OK\r\n\r\nbody")
         w:close()
      end), "127.0.0.1", 0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      local t = asyncio.create_task(reader:read(1024))
      await(asyncio.sleep(0))
      t:cancel()
      assert.matches("'read' called while another task is already waiting for incoming data",
         helper.failure(await, reader:read(1024)))
      await(asyncio.sleep(0))
      writer:write("GET / HTTP/1.0\r\n\r\n")
      local data = await(reader:read(1024))
      -- the answer may come in two pieces: what is left comes before the end
      while not data:find("body", 1, true) do
         data = data .. await(reader:read(1024))
      end
      assert.equal("HTTP/1.0 200 OK\r\n\r\nbody", data)
      assert.is_nil(await(reader:read(1024)))
      assert.is_true(t:cancelled())
      writer:close()
      server:close()
      await(server:wait_closed())
   end))

   it("test_huge_content", helper.async(function()
      -- 1,000,000 bytes posted while the answer is read, echoed back whole
      local N = 1000000
      local server = await(asyncio.start_server(async(function(r, w)
         local head = await(r:readuntil("\r\n\r\n"))
         local n = tonumber(head:match("Content%-Length: (%d+)"))
         w:write("HTTP/1.0 200 OK\r\n\r\n" .. await(r:readexactly(n)))
         await(w:drain())
         w:close()
         await(w:wait_closed())
      end), "127.0.0.1", 0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      writer:write(("POST /loop HTTP/1.0\r\nContent-Length: %d\r\n\r\n"):format(N))
      local body = string.rep("0123456789", N // 10)
      local sending = asyncio.create_task(async(function()
         writer:write(body)
         await(writer:drain())
      end)())
      assert.equal("HTTP/1.0 200 OK\r\n\r\n", await(reader:readuntil("\r\n\r\n")))
      local got = await(reader:read())
      assert.equal(N, #got)
      assert.is_true(got == body)
      await(sending)
      writer:close()
      server:close()
      await(server:wait_closed())
   end, 20))

   it("test_unix_sock_client_ops", helper.async(function()
      -- as test_sock_client_ops on a Unix socket, whose path goes with the server
      local path = socket_path()
      local server = await(asyncio.start_unix_server(async(function(r, w)
         local line = await(r:readline())
         w:write("HTTP/1.0 200 OK\r\n\r\n" .. line)
         await(w:drain())
         w:close()
      end), path))
      local reader, writer = await(asyncio.open_unix_connection(path))
      writer:write("GET / HTTP/1.0\r\n\r\n")
      assert.equal("HTTP/1.0 200 OK\r\n", await(reader:readline()))
      assert.equal("\r\nGET / HTTP/1.0\r\n", await(reader:read()))
      writer:close()
      server:close()
      await(server:wait_closed())
      assert.is_false(exists(path))
   end))

   it("test_sock_client_fail", helper.async(function()
      -- a port nobody listens on: ConnectionRefusedError, errno 111
      local host, port = helper.refused_port()
      local err = helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_connection(host, port))
      assert.equal(111, err.errno)
   end))

   it("test_cancel_sock_accept", helper.async(function()
      -- waiting for connections that do not come times out (Python:
      -- TimeoutError, and is_serving() False after: cancelling serve_forever
      -- closed the server); connecting then is refused
      local server = await(asyncio.start_server(function() end, "127.0.0.1", 0))
      local host, port = server:getsockname()
      helper.raises(asyncio.TimeoutError, await, asyncio.wait_for(server:serve_forever(), 0.1))
      assert.is_false(server:is_serving())
      server:close()
      await(server:wait_closed())
      helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_connection(host, port))
   end))
end)

describe("test_sock_lowlevel.py, accepting and datagrams", function()
   it("test_sock_accept", helper.async(function()
      -- the accepted side's peer is the client's own address, and the
      -- client's peer is where the server listens
      local accepted = asyncio.Queue()
      local server = await(asyncio.start_server(function(_, w)
         accepted:put_nowait(w)
      end, "127.0.0.1", 0))
      local host, port = server:getsockname()
      local _, writer = await(asyncio.open_connection(host, port))
      local conn = await(accepted:get())
      assert.same({ writer:get_extra_info("sockname") }, { conn:get_extra_info("peername") })
      assert.same({ host, port }, { writer:get_extra_info("peername") })
      assert.same({ host, port }, { conn:get_extra_info("sockname") })
      writer:close()
      conn:close()
      server:close()
      await(server:wait_closed())
   end))

   it("test_recvfrom", helper.async(function()
      -- 4096 bytes sent to an echo endpoint come back whole, from its address
      local echo = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
      local echoing = asyncio.create_task(async(function()
         local data, h, p = await(echo:recv())
         echo:send(data, h, p)
      end)())
      local ehost, eport = echo:getsockname()
      local client = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
      local data = string.rep("\1", 4096)
      client:send(data, ehost, eport)
      assert.same({ data, ehost, eport }, { await(client:recv()) })
      await(echoing)
      client:close()
      echo:close()
   end))
end)

-- test_events.py and test_base_events.py: servers, connections and
-- datagrams through start_server, open_connection and open_datagram.
describe("test_events.py and test_base_events.py, through streams", function()
   -- what each of a server's sockets answers to, as "family host": the
   -- loopback address of its family when it listens on every interface
   local function serves_everywhere(server)
      local seen = {}
      for _, s in ipairs(server:sockets()) do
         local peer = s.family == "inet6" and "::1" or "127.0.0.1"
         local r, w = await(asyncio.open_connection(peer, s.port))
         seen[#seen + 1] = s.family .. " " .. s.host .. " " .. await(r:read())
         w:close()
      end
      return seen
   end

   local function hello(_, w)
      w:write("hi")
      w:close()
   end

   -- test_create_server_dual_stack (no host), test_create_server_empty_host ("")
   for _, case in ipairs({ { "test_create_server_dual_stack", nil }, { "test_create_server_empty_host", "" } }) do
      it(case[1] .. ": listens on every address of both families", helper.async(function()
         local server = await(asyncio.start_server(hello, case[2], 0))
         assert.same({ "inet 0.0.0.0 hi", "inet6 :: hi" }, serves_everywhere(server))
         server:close()
         await(server:wait_closed())
      end))
   end

   it("test_get_loop: a server's loop is the one it serves on", helper.async(function()
      local server = await(asyncio.start_server(hello, "127.0.0.1", 0))
      assert.equal(asyncio.get_running_loop(), server:get_loop())
      server:close()
   end))

   it("test_create_server_cant_bind: OSError, and the socket is closed", helper.async(function()
      local core = require("asyncio.core")
      local taken = await(asyncio.start_server(hello, "127.0.0.1", 0))
      local _, port = taken:getsockname()
      helper.full_gc()
      collectgarbage("stop") -- the collector may not close what earlier specs left while we count
      local fds = core.open_fds()
      -- 192.0.2.1 (TEST-NET-1) is no address of this machine
      local ok1, unassigned = pcall(await, asyncio.start_server(hello, "192.0.2.1", 0))
      local ok2, in_use = pcall(await, asyncio.start_server(hello, "127.0.0.1", port))
      local after = core.open_fds()
      collectgarbage("restart")
      assert.is_false(ok1)
      assert.equal("EADDRNOTAVAIL", unassigned.code)
      assert.is_false(ok2)
      assert.equal("EADDRINUSE", in_use.code)
      assert.equal(fds, after)
      taken:close()
   end))

   it("test_create_connection_service_name: a port may be a service name", helper.async(function()
      -- "http" is resolved (to port 80, where nobody listens here: refused,
      -- not a resolver error); a name no service has is the resolver's OSError
      local ok, err = pcall(await, asyncio.open_connection("127.0.0.1", "http"))
      if not ok then
         assert.equal("ECONNREFUSED", err.code, tostring(err))
         assert.matches(":80:", tostring(err))
      end
      ok, err = pcall(await, asyncio.open_connection("127.0.0.1", "nonsense"))
      assert.is_false(ok)
      assert.is_true(asyncio.OSError:is(err))
      assert.matches("^EAI_", err.code)
   end))

   it("test_datagram_send_to_non_listening_address: the refusal does not stop later datagrams",
      helper.async(function()
         local function endpoint()
            return await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
         end
         local a, b, gone = endpoint(), endpoint(), endpoint()
         local host, pa = a:getsockname()
         local _, pgone = gone:getsockname()
         gone:close()
         a:send("lost", host, pgone) -- ICMP port unreachable comes back to a
         await(asyncio.sleep(0.01))
         b:send("kept", host, pa)
         local data, from_host, from_port = await(asyncio.wait_for(a:recv(), 2))
         assert.same({ "kept", host, select(2, b:getsockname()) }, { data, from_host, from_port })
         a:close()
         b:close()
      end))
end)
