-- Scenarios ported from CPython 3.13's Lib/test/test_asyncio/test_streams.py,
-- test_server.py and the stream-level parts of test_unix_events.py
-- (open_unix_connection, start_unix_server) that io_cpython_spec.lua and
-- streams_spec.lua do not cover yet. Python feeds a bare StreamReader;
-- here the bytes come from the server's side of a real connection on
-- 127.0.0.1 (or a Unix socket in a temporary directory), sent in the same
-- pieces. What each test asserts is what CPython 3.13 printed for the same
-- script, in the Lua forms API.md documents (nil for b'' at the end,
-- LimitOverrunError where readline raises ValueError, argument errors
-- where Python raises ValueError for a bad argument).
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local DATA = "line1\nline2\nline3\n"

-- A server on 127.0.0.1 and a client connected to it: returns the server,
-- the client's reader and writer, and the server's side of that
-- connection as sreader, swriter. opts go to open_connection.
local function pair(opts)
   local accepted = asyncio.Queue()
   local server = await(asyncio.start_server(function(r, w)
      accepted:put_nowait({ r, w })
   end, "127.0.0.1", 0))
   local host, port = server:getsockname()
   local reader, writer = await(asyncio.open_connection(host, port, opts))
   local conn = await(accepted:get())
   return server, reader, writer, conn[1], conn[2]
end

-- Closes the writers given and the server, and waits for the server.
local function finish(server, ...)
   for _, w in ipairs({ ... }) do
      w:close()
   end
   server:close()
   await(server:wait_closed())
end

-- What awaiting aw gives, as a string to compare with Python's output: the
-- value ("nil" for nil), or for an asyncio error its class, message and
-- fields, or for any other error "error: <message>".
local ERRORS = { "IncompleteReadError", "LimitOverrunError", "ConnectionRefusedError", "OSError" }
local function outcome(aw)
   local ok, v = pcall(await, aw)
   if ok then
      return tostring(v)
   end
   for _, name in ipairs(ERRORS) do
      if asyncio[name]:is(v) then
         return ("%s(%s) partial=%s expected=%s consumed=%s"):format(name, v.message, tostring(v.partial),
            tostring(v.expected), tostring(v.consumed))
      end
   end
   return "error: " .. tostring(v)
end

-- A fresh temporary directory (removed by rmdir_all).
local function tempdir()
   local p = assert(io.popen("mktemp -d"))
   local dir = p:read("l")
   p:close()
   return dir
end

local function rmdir_all(dir)
   os.execute(("rm -rf '%s'"):format(dir))
end

local exists = helper.exists

describe("test_streams.py, StreamReader scenarios over a socket", function()
   it("reads what there is, up to n (test_read_line_breaks)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      swriter:write("line1")
      swriter:write("line2")
      await(asyncio.sleep(0.01))
      assert.equal("line1", await(reader:read(5)))
      assert.equal("line2", await(reader:read(5)))
      finish(server, writer, swriter)
   end))

   it("read() waiting reads every piece to the end (test_read_until_eof)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      local t = asyncio.create_task(reader:read(-1))
      await(asyncio.sleep(0.01))
      swriter:write("chunk1\n")
      swriter:write("chunk2")
      swriter:write_eof()
      assert.equal("chunk1\nchunk2", await(t))
      assert.is_true(reader:at_eof())
      finish(server, writer, swriter)
   end))

   it("read and readexactly are not bound by the limit (test_read_limit, test_readexactly_limit)",
      helper.async(function()
         local server, reader, writer, _, swriter = pair({ limit = 3 })
         swriter:write("chunk")
         await(asyncio.sleep(0.01))
         assert.equal("chunk", await(reader:read(5)))
         swriter:write("chunk")
         await(asyncio.sleep(0.01))
         assert.equal("chunk", await(reader:readexactly(5)))
         finish(server, writer, swriter)
      end))

   it("refuses a limit of 0 or less (test_invalid_limit)", helper.async(function()
      -- Python: ValueError('Limit cannot be <= 0') before connecting
      for _, limit in ipairs({ 0, -1 }) do
         assert.matches("limit must be a positive integer",
            helper.failure(asyncio.open_connection, "127.0.0.1", 1, { limit = limit }))
         assert.matches("limit must be a positive integer",
            helper.failure(asyncio.open_unix_connection, "/nonexistent", { limit = limit }))
      end
   end))

   it("readline over the limit with the data there drops the line (test_readline_limit_with_existing_data)",
      helper.async(function()
         -- Python raises ValueError('Separator is found, but chunk is longer
         -- than limit'), then b'line2\n' is left
         local server, reader, writer, _, swriter = pair({ limit = 3 })
         swriter:write("li")
         swriter:write("ne1\nline2\n")
         await(asyncio.sleep(0.01))
         local err = helper.raises(asyncio.LimitOverrunError, await, reader:readline())
         assert.matches("Separator is found, but chunk is longer than limit", err.message, 1, true)
         assert.equal("line2\n", await(reader:read(100)))
         finish(server, writer, swriter)
         -- no "\n": the whole buffer goes ('Separator is not found, and
         -- chunk exceed the limit'); what comes later is read
         server, reader, writer, _, swriter = pair({ limit = 3 })
         swriter:write("li")
         swriter:write("ne1")
         swriter:write("li")
         await(asyncio.sleep(0.01))
         err = helper.raises(asyncio.LimitOverrunError, await, reader:readline())
         assert.matches("Separator is not found, and chunk exceed the limit", err.message, 1, true)
         swriter:write("xy\n")
         await(asyncio.sleep(0.01))
         assert.equal("xy\n", await(reader:read(100)))
         finish(server, writer, swriter)
      end))

   it("readline takes one line and leaves the rest (test_readline_nolimit_nowait, test_readline_read_byte_count)",
      helper.async(function()
         local server, reader, writer, _, swriter = pair()
         swriter:write(DATA:sub(1, 6))
         swriter:write(DATA:sub(7))
         await(asyncio.sleep(0.01))
         assert.equal("line1\n", await(reader:readline()))
         assert.equal("line2\nl", await(reader:read(7)))
         assert.equal("ine3\n", await(reader:read(100)))
         finish(server, writer, swriter)
      end))

   it("readline at the end (test_readline_eof, test_readline_empty_eof)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      swriter:write("some data")
      swriter:write_eof()
      await(asyncio.sleep(0.01))
      assert.equal("some data", await(reader:readline()))
      assert.is_nil(await(reader:readline())) -- Python: b''
      finish(server, writer, swriter)
   end))

   it("readuntil refuses an empty separator or list (test_readuntil_separator)", helper.async(function()
      -- Python: ValueError 'Separator should be at least one-byte string'
      -- twice, then 'Separator should contain at least one element'
      local server, reader, writer, _, swriter = pair()
      assert.matches("separator must be a non%-empty string", helper.failure(reader.readuntil, reader, ""))
      assert.matches("separator must be a non%-empty string", helper.failure(reader.readuntil, reader, { "" }))
      assert.matches("separator list must not be empty", helper.failure(reader.readuntil, reader, {}))
      -- nothing was consumed or broken
      swriter:write("ok\n")
      assert.equal("ok\n", await(reader:readuntil()))
      finish(server, writer, swriter)
   end))

   it("readuntil takes up to the separator, the rest stays (test_readuntil_multi_chunks)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      for _, piece in ipairs({ "lineAAA", "lineAAA", "lineAAAxxx" }) do
         swriter:write(piece)
         await(asyncio.sleep(0.01))
         assert.equal("lineAAA", await(reader:readuntil("AAA")))
      end
      assert.equal("xxx", await(reader:read(100)))
      finish(server, writer, swriter)
   end))

   it("readuntil finds a separator split across pieces (test_readuntil_multi_chunks_1)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      local cases = {
         { { "QWEaa", "XYaa", "a" }, "QWEaaXYaaa" },
         { { "QWEaa", "XYa", "aa" }, "QWEaaXYaaa" },
         { { "aaa" }, "aaa" },
         { { "Xaaa" }, "Xaaa" },
         { { "XXX", "a", "a", "a" }, "XXXaaa" },
      }
      for _, case in ipairs(cases) do
         local t = asyncio.create_task(reader:readuntil("aaa"))
         await(asyncio.sleep(0))
         for _, piece in ipairs(case[1]) do
            swriter:write(piece)
            await(asyncio.sleep(0.005))
         end
         assert.equal(case[2], await(t))
      end
      finish(server, writer, swriter)
   end))

   it("readuntil with a list over the limit keeps the data (test_readuntil_multi_separator_limit)",
      helper.async(function()
         local server, reader, writer, _, swriter = pair({ limit = 3 })
         swriter:write("some dataA")
         await(asyncio.sleep(0.01))
         assert.equal("LimitOverrunError(Separator is found, but chunk is longer than limit) partial=nil"
            .. " expected=nil consumed=9", outcome(reader:readuntil({ "A", "ome dataA" })))
         assert.equal("some dataA", await(reader:read(100)))
         finish(server, writer, swriter)
      end))

   it("readuntil with separators longer than the buffer waits (test_readuntil_multi_separator_negative_offset)",
      helper.async(function()
         local server, reader, writer, _, swriter = pair()
         swriter:write("data")
         await(asyncio.sleep(0.01))
         local t = asyncio.create_task(reader:readuntil({ "A", "long sep" }))
         await(asyncio.sleep(0.005))
         swriter:write("Z")
         await(asyncio.sleep(0.005))
         swriter:write("Aaaa")
         await(asyncio.sleep(0.005))
         assert.equal("dataZA", await(t))
         assert.equal("aaa", await(reader:read(100)))
         finish(server, writer, swriter)
      end))

   it("readexactly(0) is empty, a negative count an error (test_readexactly_zero_or_less)", helper.async(function()
      -- Python: ValueError('readexactly size can not be less than zero')
      local server, reader, writer, _, swriter = pair()
      swriter:write(DATA)
      await(asyncio.sleep(0.01))
      assert.equal("", await(reader:readexactly(0)))
      assert.matches("must not be negative", helper.failure(reader.readexactly, reader, -1))
      assert.equal(DATA, await(reader:read(100)))
      finish(server, writer, swriter)
   end))

   it("readexactly waits for its bytes and leaves the rest (test_readexactly)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      local t = asyncio.create_task(reader:readexactly(2 * #DATA))
      await(asyncio.sleep(0.005))
      swriter:write(DATA)
      swriter:write(DATA)
      swriter:write(DATA)
      assert.equal(DATA .. DATA, await(t))
      await(asyncio.sleep(0.01))
      assert.equal(DATA, await(reader:read(100)))
      finish(server, writer, swriter)
   end))

   it("readexactly's IncompleteReadError says how much came (test_readexactly_eof)", helper.async(function()
      local server, reader, writer, _, swriter = pair()
      local t = asyncio.create_task(reader:readexactly(2 * #DATA))
      await(asyncio.sleep(0.005))
      swriter:write(DATA)
      swriter:write_eof()
      assert.equal("IncompleteReadError(18 bytes read on a total of 36 expected bytes) partial=" .. DATA
         .. " expected=36 consumed=nil", outcome(t))
      finish(server, writer, swriter)
   end))

   it("readline and readuntil waiting while pieces come past the limit (test_readline_limit, "
      .. "test_readuntil_limit, the pieces fed while the read waits)", helper.async(function()
         local server, reader, writer, _, swriter = pair({ limit = 5 })
         local function send(piece)
            swriter:write(piece)
            await(asyncio.sleep(0.005))
         end
         local t = asyncio.create_task(async(outcome)(reader:readline()))
         await(asyncio.sleep(0.005))
         send("abc")
         send("defgh")
         -- Python: ValueError('Separator is not found, and chunk exceed the
         -- limit'); the buffer is dropped, and what comes next is a new line
         assert.equal("LimitOverrunError(Separator is not found, and chunk exceed the limit) partial=nil"
            .. " expected=nil consumed=8", await(t))
         send("ij\nk\n")
         assert.equal("ij\n", await(reader:readline()))
         assert.equal("k\n", await(reader:readline()))
         -- the limit bounds where the separator starts, not where it ends
         for _, pieces in ipairs({ { "abc", "dX", "Yz" }, { "abcdX", "Yz" } }) do
            t = asyncio.create_task(reader:readuntil("XY"))
            await(asyncio.sleep(0.005))
            for _, piece in ipairs(pieces) do
               send(piece)
            end
            assert.equal("abcdXY", await(t))
            assert.equal("z", await(reader:read(100)))
         end
         finish(server, writer, swriter)
      end))

   it("reads far past twice the limit resume the paused reading (test_readexactly_limit, test_read_limit "
      .. "with 30000 bytes)", helper.async(function()
         local server, reader, writer, _, swriter = pair({ limit = 3 })
         local bytes = {}
         for i = 1, 30000 do
            bytes[i] = string.char(65 + i % 26)
         end
         local big = table.concat(bytes)
         swriter:write(big)
         assert.is_true(big == await(reader:readexactly(#big)))
         -- Python: ValueError('Separator is found, but chunk is longer than
         -- limit'), the line dropped
         swriter:write(big .. "\n")
         local err = helper.raises(asyncio.LimitOverrunError, await, reader:readline())
         assert.equal("Separator is found, but chunk is longer than limit", err.message)
         swriter:write(big .. "END")
         err = helper.raises(asyncio.LimitOverrunError, await, reader:readuntil("END"))
         assert.equal("Separator is found, but chunk is longer than limit", err.message)
         assert.equal(30000, err.consumed)
         swriter:write(big)
         swriter:write_eof()
         local all = await(reader:read(-1)) -- what readuntil left, and the rest
         assert.equal(60003, #all)
         assert.is_true(all == big .. "END" .. big)
         finish(server, writer, swriter)
      end))

   it("after a reset every read raises it, bytes buffered or not (test_readline_exception, "
      .. "test_readexactly_exception over a socket)", helper.async(function()
         -- Python 3.13: the peer sends b'line\nmore' and resets; readline,
         -- readexactly(2), readuntil, read(0), read(-1), readexactly(0) all
         -- raise ConnectionResetError, at_eof() is False, wait_closed raises
         local accepted = asyncio.Queue()
         local server = await(asyncio.start_server(function(r, w)
            accepted:put_nowait({ reader = r, writer = w })
         end, "127.0.0.1", 0))
         local host, port = server:getsockname()
         local conn = helper.reset_peer(host, port, "line\nmore", function() return await(accepted:get()) end)
         local r = conn.reader
         assert.is_false(r:at_eof())
         assert.is_true(conn.writer:is_closing())
         local reads = {
            function() return r:readline() end,
            function() return r:readexactly(2) end,
            function() return r:readuntil("re") end,
            function() return r:read(0) end,
            function() return r:read(-1) end,
            function() return r:readexactly(0) end,
         }
         for _, read in ipairs(reads) do
            helper.raises(asyncio.ConnectionResetError, await, read())
         end
         assert.is_false(r:at_eof())
         conn.writer:close()
         helper.raises(asyncio.ConnectionResetError, await, conn.writer:wait_closed())
         finish(server)
      end))

   it("a read waiting when the reset comes raises it (test_exception_waiter over a socket)", helper.async(function()
      local accepted = asyncio.Queue()
      local server = await(asyncio.start_server(function(r, w)
         accepted:put_nowait({ reader = r, writer = w })
      end, "127.0.0.1", 0))
      local host, port = server:getsockname()
      local waiter
      local conn = helper.reset_peer(host, port, "line\nmore", function()
         local c = await(accepted:get())
         waiter = asyncio.create_task(c.reader:readuntil("never"))
         return c
      end)
      helper.raises(asyncio.ConnectionResetError, await, waiter)
      conn.writer:close()
      finish(server)
   end))
end)

describe("test_streams.py, connections and servers", function()
   -- Python's test server: reads a request to its blank line, answers and closes
   local function http_handler(r, w)
      repeat
         local line = await(r:readline())
      until line == nil or line == "\r\n"
      w:write("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nTest message")
      await(w:drain())
      w:close()
      await(w:wait_closed())
   end

   it("a request and its answer over TCP and Unix (test_open_connection, test_open_unix_connection, "
      .. "test_async_writer_api, test_wait_closed_on_close_with_unread_data)", helper.async(function()
         local reports = helper.capture_reports(asyncio.get_running_loop())
         local dir = tempdir()
         local path = dir .. "/http.sock"
         local server = await(asyncio.start_server(http_handler, "127.0.0.1", 0))
         local userver = await(asyncio.start_unix_server(http_handler, path))
         local openers = {
            function() return asyncio.open_connection(server:getsockname()) end,
            function() return asyncio.open_unix_connection(path) end,
         }
         for _, open in ipairs(openers) do
            local reader, writer = await(open())
            writer:write("GET / HTTP/1.0\r\n\r\n")
            assert.equal("HTTP/1.0 200 OK\r\n", await(reader:readline()))
            local rest = await(reader:read())
            assert.equal("\r\n\r\nTest message", rest:sub(-#"\r\n\r\nTest message"))
            assert.is_false(writer:is_closing())
            writer:close()
            assert.is_true(writer:is_closing())
            await(writer:wait_closed())
         end
         -- closed with the answer unread
         local reader, writer = await(openers[1]())
         writer:write("GET / HTTP/1.0\r\n\r\n")
         assert.equal("HTTP/1.0 200 OK\r\n", await(reader:readline()))
         writer:close()
         await(writer:wait_closed())
         assert.is_true(writer:is_closing())
         finish(server)
         finish(userver)
         assert.is_false(exists(path))
         rmdir_all(dir)
         assert.same({}, reports)
      end))

   it("echo a line over a Unix server, the handler an async function or a plain one that starts a task "
      .. "(test_start_unix_server)", helper.async(function()
         local loop = asyncio.get_running_loop()
         local reports = helper.capture_reports(loop)
         local dir = tempdir()
         local handle_client = async(function(r, w)
            local line = await(r:readline())
            w:write(line)
            await(w:drain())
            w:close()
            await(w:wait_closed())
         end)
         local function handle_client_callback(r, w)
            loop:create_task(handle_client(r, w))
         end
         local function client(path)
            local r, w = await(asyncio.open_unix_connection(path))
            w:write("hello world!\n")
            local back = await(r:readline())
            w:close()
            await(w:wait_closed())
            return back
         end
         for i, cb in ipairs({ handle_client, handle_client_callback }) do
            local path = dir .. "/u" .. i .. ".sock"
            local server = await(asyncio.start_unix_server(cb, path))
            assert.equal("hello world!\n", client(path))
            finish(server)
            assert.is_false(exists(path))
         end
         rmdir_all(dir)
         assert.same({}, reports)
      end))

   it("every one of several drains waiting on a full writer resumes (test_multiple_drain)", helper.async(function()
      local server, _, writer, sreader, swriter = pair()
      writer:set_write_buffer_limits(1000)
      local big = ("x"):rep(4 * 1024 * 1024)
      writer:write(big)
      local drained = 0
      local drainers = {}
      for i = 1, 10 do
         drainers[i] = asyncio.create_task(function()
            await(writer:drain())
            drained = drained + 1
         end)
      end
      await(asyncio.sleep(0.02))
      assert.equal(0, drained)
      assert.is_true(writer:get_write_buffer_size() > 1000)
      assert.equal(#big, #await(sreader:readexactly(#big)))
      await(asyncio.gather(table.unpack(drainers)))
      assert.equal(10, drained)
      finish(server, writer, swriter)
   end))

   it("a failing handler is reported, one that cancels itself is not (test_unhandled_exception, "
      .. "test_unhandled_cancel)", helper.async(function()
         local reports = helper.capture_reports(asyncio.get_running_loop())
         local handlers = {
            async(function() error("test") end),
            async(function(_, w)
               w:close()
               asyncio.current_task():cancel()
            end),
         }
         local expected = { 1, 0 }
         for i, handler in ipairs(handlers) do
            for k in pairs(reports) do
               reports[k] = nil
            end
            local server = await(asyncio.start_server(handler, "127.0.0.1", 0))
            await(server:start_serving())
            local _, writer = await(asyncio.open_connection(server:getsockname()))
            writer:write("test msg")
            await(writer:drain())
            writer:close()
            await(writer:wait_closed())
            finish(server)
            assert.equal(expected[i], #reports)
            if expected[i] == 1 then
               assert.equal("Unhandled exception in client_connected_cb", reports[1].message)
               assert.matches("test", tostring(reports[1].error))
            end
         end
      end))
end)

describe("test_server.py, Unix server cleanup", function()
   local function serve() end

   it("removes its socket file on close (test_unix_server_addr_cleanup)", helper.async(function()
      local dir = tempdir()
      local path = dir .. "/s.sock"
      local server = await(asyncio.start_unix_server(serve, path))
      assert.is_true(exists(path))
      server:close()
      assert.is_false(exists(path)) -- at once, as Python's close()
      rmdir_all(dir)
   end))

   it("leaves a socket that replaced its own (test_unix_server_cleanup_replaced)", helper.async(function()
      local dir = tempdir()
      local path = dir .. "/s.sock"
      local server = await(asyncio.start_unix_server(serve, path))
      os.remove(path)
      local other = await(asyncio.start_unix_server(serve, path))
      server:close()
      assert.is_true(exists(path))
      local _, writer = await(asyncio.open_unix_connection(path)) -- the other still listens
      writer:close()
      other:close()
      rmdir_all(dir)
   end))

   it("closes quietly when its file is already gone (test_unix_server_cleanup_gone)", helper.async(function()
      local dir = tempdir()
      local path = dir .. "/s.sock"
      local server = await(asyncio.start_unix_server(serve, path))
      os.remove(path)
      server:close()
      await(server:wait_closed())
      assert.is_false(exists(path))
      rmdir_all(dir)
   end))

   it("keeps its file with cleanup_socket = false (test_unix_server_cleanup_prevented)", helper.async(function()
      local dir = tempdir()
      local path = dir .. "/s.sock"
      local server = await(asyncio.start_unix_server(serve, path, { cleanup_socket = false }))
      server:close()
      assert.is_true(exists(path))
      rmdir_all(dir)
   end))
end)

describe("test_server.py, start_serving and serve_forever over a Unix socket", function()
   it("serve_forever cancelled from a handler closes the server (test_start_unix_server_1)", helper.async(function()
      local dir = tempdir()
      local path = dir .. "/s.sock"
      local main_task
      local server = await(asyncio.start_unix_server(function(r, w)
         await(r:readline())
         main_task:cancel()
         w:write("1")
         w:close()
         await(w:wait_closed())
      end, path))
      local started = asyncio.Event()
      main_task = asyncio.create_task(function()
         local srv <close> = server
         await(srv:start_serving())
         assert.is_true(srv:is_serving())
         started:set()
         await(srv:serve_forever())
      end)
      await(started:wait())
      local reader, writer = await(asyncio.open_unix_connection(path))
      writer:write(("1"):rep(5120) .. "\n")
      helper.cancelled(main_task)
      assert.same({}, server:sockets())
      assert.is_false(server:is_serving())
      assert.equal("1", await(reader:read()))
      assert.is_false(exists(path))
      assert.matches("is closed", tostring(helper.failure(await, server:serve_forever())))
      writer:close()
      rmdir_all(dir)
   end))

   it("a server started with start_serving = false serves only after start_serving() "
      .. "(test_start_server_1, test_start_unix_server_1)", helper.async(function()
         -- Python 3.13: is_serving() False; a connect is refused (bound, not
         -- listening); after start_serving() True
         local server = await(asyncio.start_server(function(_, w) w:close() end, "127.0.0.1", 0,
            { start_serving = false }))
         assert.is_false(server:is_serving())
         assert.equal(1, #server:sockets())
         helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_connection(server:getsockname()))
         await(server:start_serving())
         assert.is_true(server:is_serving())
         finish(server)
      end))
end)

describe("test_unix_events.py, Unix streams", function()
   it("addresses and half-close over a Unix socket (test_open_unix_connection, test_start_unix_server)",
      helper.async(function()
         -- Python 3.13: the client's peername is the path and its sockname
         -- ''; the server's side the other way round; write after
         -- write_eof raises ('Cannot call write() after write_eof()'), a
         -- drain then returns, and the other side still answers
         local dir = tempdir()
         local path = dir .. "/s.sock"
         local accepted = asyncio.Queue()
         local server = await(asyncio.start_unix_server(function(r, w)
            accepted:put_nowait({ r, w })
         end, path))
         assert.equal(path, server:getsockname())
         local reader, writer = await(asyncio.open_unix_connection(path))
         local conn = await(accepted:get())
         local sreader, swriter = conn[1], conn[2]
         assert.equal(path, writer:get_extra_info("peername"))
         assert.equal("", writer:get_extra_info("sockname"))
         assert.equal("", swriter:get_extra_info("peername"))
         assert.equal(path, swriter:get_extra_info("sockname"))
         assert.is_true(writer:can_write_eof())
         writer:write("x")
         writer:write_eof()
         assert.is_false(writer:is_closing())
         assert.matches("write_eof", helper.failure(writer.write, writer, "y"))
         await(writer:drain())
         assert.equal("x", await(sreader:read()))
         swriter:write("back")
         swriter:close()
         assert.equal("back", await(reader:read()))
         writer:close()
         await(writer:wait_closed())
         finish(server)
         rmdir_all(dir)
      end))

   it("a server replaces a stale socket file (test_create_unix_server_existing_path_sock)",
      helper.async(function()
         local dir = tempdir()
         local path = dir .. "/s.sock"
         -- a socket file nobody listens on: a server's, moved away before it closed
         local old = await(asyncio.start_unix_server(function() end, dir .. "/old.sock"))
         assert.is_true(os.rename(dir .. "/old.sock", path))
         old:close()
         await(old:wait_closed())
         assert.is_true(exists(path))
         local server = await(asyncio.start_unix_server(function() end, path))
         assert.is_true(server:is_serving())
         local _, writer = await(asyncio.open_unix_connection(path))
         writer:close()
         finish(server)
         assert.is_false(exists(path))
         rmdir_all(dir)
      end))

   it("a server refuses a path where a file that is no socket is (test_create_unix_server_existing_path_nonsock)",
      helper.async(function()
         -- Python: OSError errno 98, "Address '<path>' is already in use";
         -- the file stays
         local dir = tempdir()
         local path = dir .. "/s.sock"
         assert(io.open(path, "wb")):close()
         local err = helper.raises(asyncio.OSError, await, asyncio.start_unix_server(function() end, path))
         assert.equal(98, err.errno)
         assert.equal("EADDRINUSE", err.code)
         assert.is_true(exists(path))
         assert.equal("", helper.read_file(path))
         rmdir_all(dir)
      end))

   it("connecting to a missing path or a stale socket fails, and other paths (test_create_unix_connection_pathlike)",
      helper.async(function()
         -- Python: FileNotFoundError errno 2, then ConnectionRefusedError errno 111
         local dir = tempdir()
         local path = dir .. "/s.sock"
         local err = helper.raises(asyncio.OSError, await, asyncio.open_unix_connection(path))
         assert.equal(2, err.errno)
         assert.equal("ENOENT", err.code)
         -- a regular file or a directory: ConnectionRefusedError (111);
         -- a missing directory: FileNotFoundError (2)
         assert(io.open(dir .. "/file", "w")):close()
         for _, target in ipairs({ dir .. "/file", dir }) do
            err = helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_unix_connection(target))
            assert.equal(111, err.errno)
         end
         err = helper.raises(asyncio.OSError, await, asyncio.open_unix_connection(dir .. "/missing/x"))
         assert.equal("ENOENT", err.code)
         -- a server on a directory: EADDRINUSE (98); in a missing one: ENOENT
         err = helper.raises(asyncio.OSError, await, asyncio.start_unix_server(function() end, dir))
         assert.equal("EADDRINUSE", err.code)
         err = helper.raises(asyncio.OSError, await, asyncio.start_unix_server(function() end, dir .. "/missing/x"))
         assert.equal("ENOENT", err.code)
         local old = await(asyncio.start_unix_server(function() end, dir .. "/old.sock"))
         assert.is_true(os.rename(dir .. "/old.sock", path))
         finish(old)
         err = helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_unix_connection(path))
         assert.equal(111, err.errno)
         rmdir_all(dir)
      end))
end)
