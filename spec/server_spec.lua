-- Servers (API.md §9): a task per connection, port 0, close and
-- wait_closed, serve_forever, reuse_port, 1000 connections at once, and
-- running out of descriptors.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function echo_handler(reader, writer)
   while true do
      local data = await(reader:read(4096))
      if data == nil then
         break
      end
      writer:write(data)
   end
   writer:close()
end

local function roundtrip(port, msg)
   local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
   writer:write(msg)
   local got = await(reader:readexactly(#msg))
   writer:close()
   return got
end

describe("servers", function()
   it("report the port they got for port 0", helper.async(function()
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
      local host, port = server:getsockname()
      assert.equal("127.0.0.1", host)
      assert.is_true(port > 0)
      local socks = server:sockets()
      assert.equal(1, #socks)
      assert.same({ "inet", "127.0.0.1", port }, { socks[1].family, socks[1].host, socks[1].port })
      assert.is_number(socks[1].fd)
      assert.matches("<Server serving 127.0.0.1:" .. port .. ">", tostring(server), 1, true)
      assert.equal("hi", roundtrip(port, "hi"))
      server:close()
      assert.same({}, server:sockets())
      assert.is_nil(server:getsockname())
   end))

   it("come back as many iterations after the call as Python's: 4 for a numeric host, 1 for Unix",
      helper.async(function()
      local tick, ticker = helper.ticker()
      await(asyncio.sleep(0))
      local log = {}
      asyncio.get_running_loop():call_soon(function() log[#log + 1] = "callback" end)
      local t0 = tick()
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
      log[#log + 1] = "returned"
      assert.equal(4, tick() - t0) -- the resolving task, the gather, the wakeup, sleep(0)
      assert.same({ "callback", "returned" }, log)
      server:close()
      local path = os.tmpname()
      os.remove(path)
      t0 = tick()
      local userver = await(asyncio.start_unix_server(echo_handler, path))
      assert.equal(1, tick() - t0) -- create_unix_server's sleep(0)
      userver:close()
      -- a task cancelled before it listens leaves no server behind
      local starting = asyncio.create_task(asyncio.start_server(echo_handler, "127.0.0.1", 0))
      await(asyncio.sleep(0))
      starting:cancel()
      helper.cancelled(starting)
      ticker:cancel()
      await(server:wait_closed())
   end))

   it("listen on a list of hosts, as Python's sequence", helper.async(function()
      local server = await(asyncio.start_server(echo_handler, { "127.0.0.1", "::1" }, 0))
      local families = {}
      for _, s in ipairs(server:sockets()) do
         families[#families + 1] = s.family .. " " .. s.host
         local r, w = await(asyncio.open_connection(s.host, s.port))
         w:write("ping")
         assert.equal("ping", await(r:readexactly(4)))
         w:close()
      end
      assert.same({ "inet 127.0.0.1", "inet6 ::1" }, families)
      server:close()
      -- an address named twice is listened on once, as Python's set
      server = await(asyncio.start_server(echo_handler, { "127.0.0.1", "127.0.0.1" }, 0))
      assert.equal(1, #server:sockets())
      server:close()
      assert.has_error(function() asyncio.start_server(echo_handler, { "127.0.0.1", 5 }, 0) end,
         "bad argument #2 to 'start_server' (list of host strings expected, got number at index 2)")
   end))

   it("run each connection in its own task, concurrently", helper.async(function()
      local loop = asyncio.get_running_loop()
      local release = loop:create_future()
      local running, most = 0, 0
      local server = await(asyncio.start_server(async(function(reader, writer)
         running = running + 1
         most = math.max(most, running)
         await(release)
         writer:write(await(reader:readline()))
         running = running - 1
         writer:close()
      end), "127.0.0.1", 0))
      local _, port = server:getsockname()
      local clients = {}
      for i = 1, 5 do
         clients[i] = asyncio.create_task(async(function()
            local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
            writer:write("n" .. i .. "\n")
            local line = await(reader:readline())
            writer:close()
            return line
         end)())
      end
      while most < 5 do
         await(asyncio.sleep(0.001))
      end
      release:set_result()
      for i = 1, 5 do
         assert.equal("n" .. i .. "\n", await(clients[i]))
      end
      server:close()
      await(server:wait_closed())
   end))

   it("accept a plain function as the callback", helper.async(function()
      local server = await(asyncio.start_server(function(reader, writer)
         writer:write(await(reader:readexactly(3)))
         writer:close()
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      assert.equal("abc", roundtrip(port, "abc"))
      server:close()
   end))

   it("report a failing callback and close its connection", helper.async(function()
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local server = await(asyncio.start_server(async(function()
         error("handler broke")
      end), "127.0.0.1", 0))
      local _, port = server:getsockname()
      local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
      assert.is_nil(await(reader:read()))
      writer:close()
      await(asyncio.sleep(0))
      assert.equal(1, #reports)
      assert.equal("Unhandled exception in client_connected_cb", reports[1].message)
      assert.matches("handler broke", tostring(reports[1].error))
      server:close()
   end))

   it("stop accepting on close; wait_closed waits for the connections", helper.async(function()
      local loop = asyncio.get_running_loop()
      local release = loop:create_future()
      local server = await(asyncio.start_server(async(function(reader, writer)
         await(release)
         writer:write(await(reader:readexactly(2)))
         writer:close()
      end), "127.0.0.1", 0))
      local _, port = server:getsockname()
      local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
      writer:write("ok")
      await(asyncio.sleep(0.01))
      assert.is_true(server:is_serving())
      server:close()
      assert.is_false(server:is_serving())
      local ok, err = pcall(await, asyncio.open_connection("127.0.0.1", port))
      assert.is_false(ok)
      assert.is_true(asyncio.ConnectionRefusedError:is(err))
      local closed = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0.01))
      assert.is_false(closed:done()) -- a connection task still runs
      release:set_result()
      assert.equal("ok", await(reader:readexactly(2))) -- accepted before close: served
      await(closed)
      writer:close()
      await(server:wait_closed()) -- at once now
   end))

   it("close_clients and abort_clients end the connections of handlers blocked in a read (Python 3.13)",
      helper.async(function()
      local server = await(asyncio.start_server(function(reader, writer)
         await(reader:read()) -- ends when the connection is closed under it
         writer:close()
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local r1, w1 = await(asyncio.open_connection("127.0.0.1", port))
      local r2, w2 = await(asyncio.open_connection("127.0.0.1", port))
      await(asyncio.sleep(0.01)) -- both handlers wait in read
      server:close()
      local closed = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0.01))
      assert.is_false(closed:done()) -- the handlers still run
      server:close_clients()
      assert.is_nil(await(r1:read()))
      assert.is_nil(await(r2:read()))
      await(asyncio.wait_for(closed, 1))
      w1:close()
      w2:close()
      local other = await(asyncio.start_server(function(reader) await(reader:read()) end, "127.0.0.1", 0))
      local r3, w3 = await(asyncio.open_connection("127.0.0.1", select(2, other:getsockname())))
      await(asyncio.sleep(0.01))
      other:close()
      other:abort_clients()
      assert.is_nil(await(r3:read()))
      await(asyncio.wait_for(other:wait_closed(), 1))
      w3:close()
   end))

   it("close_clients and abort_clients close the sockets in the next iteration, as Python's transports",
      helper.async(function()
      for _, how in ipairs({ "close_clients", "abort_clients" }) do
         local accepted = asyncio.get_running_loop():create_future()
         local server = await(asyncio.start_server(function(reader, writer)
            accepted:set_result(writer)
            await(reader:read())
         end, "127.0.0.1", 0))
         local _, w = await(asyncio.open_connection(server:getsockname()))
         local conn = await(accepted)
         local closed = asyncio.create_task(server:wait_closed())
         await(asyncio.sleep(0))
         server:close()
         server[how](server)
         assert.is_true(conn:is_closing())
         local n = 0
         while not closed:done() do
            await(asyncio.sleep(0))
            n = n + 1
         end
         assert.equal(2, n, how) -- Python: connection_lost through call_soon, then the waiter
         w:close()
      end
   end))

   it("close_clients and abort_clients also end connections whose handler returned", helper.async(function()
      local kept = {}
      local server = await(asyncio.start_server(function(_, writer)
         kept[#kept + 1] = writer -- a broadcast list, say
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local r1, w1 = await(asyncio.open_connection("127.0.0.1", port))
      local r2, w2 = await(asyncio.open_connection("127.0.0.1", port))
      await(asyncio.sleep(0.01))
      assert.equal(2, #kept)
      server:close()
      server:abort_clients()
      assert.is_true(kept[1]:is_closing()) -- it was left open
      assert.is_true(kept[2]:is_closing())
      assert.is_nil(await(asyncio.wait_for(r1:read(), 1)))
      assert.is_nil(await(asyncio.wait_for(r2:read(), 1)))
      w1:close()
      w2:close()
      server = await(asyncio.start_server(function(_, writer) kept[3] = writer end, "127.0.0.1", 0))
      local r3, w3 = await(asyncio.open_connection("127.0.0.1", select(2, server:getsockname())))
      await(asyncio.sleep(0.01))
      server:close()
      server:close_clients()
      assert.is_nil(await(asyncio.wait_for(r3:read(), 1)))
      w3:close()
   end))

   it("wake a waiting wait_closed when a handler closes its writer, as Python (test_close_clients)",
      helper.async(function()
      local server = await(asyncio.start_server(async(function(reader, writer)
         await(reader:read())
         writer:close()
         await(asyncio.sleep(10)) -- its cleanup: Python's server counts the transport
      end), "127.0.0.1", 0))
      local _, port = server:getsockname()
      local _, w = await(asyncio.open_connection("127.0.0.1", port))
      await(asyncio.sleep(0.01))
      server:close()
      local closed = asyncio.create_task(server:wait_closed())
      await(asyncio.sleep(0))
      assert.is_false(closed:done())
      server:close_clients()
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      assert.is_true(closed:done()) -- it waited for the handler's end (here 10 s)
      w:close()
   end))

   it("serves clients whose bytes came in one poll in the order they were sent, as Python", helper.async(function()
      local order = {}
      local server = await(asyncio.start_server(function(reader, writer)
         local line = await(reader:readline())
         order[#order + 1] = line
         writer:close()
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local readers, writers = {}, {}
      for i = 1, 4 do
         readers[i], writers[i] = await(asyncio.open_connection("127.0.0.1", port))
      end
      await(asyncio.sleep(0.01)) -- every handler waits in readline
      for i = 1, 4 do writers[i]:write(("client %d\n"):format(i)) end
      while #order < 4 do await(asyncio.sleep(0.001)) end
      assert.same({ "client 1\n", "client 2\n", "client 3\n", "client 4\n" }, order)
      for i = 1, 4 do
         writers[i]:close()
         assert.is_nil(await(readers[i]:read())) -- the handler closed its end
      end
      server:close()
   end))

   it("starts the handler of a connection before open_connection returns it, as Python", helper.async(function()
      local log = {}
      local server = await(asyncio.start_server(function(_, writer)
         log[#log + 1] = "handler"
         writer:close()
      end, "127.0.0.1", 0))
      local _, writer = await(asyncio.open_connection("127.0.0.1", select(2, server:getsockname())))
      log[#log + 1] = "connected"
      assert.same({ "handler", "connected" }, log)
      writer:close()
      server:close()
   end))

   it("serve_forever raises CancelledError when the server is closed, after its connections end",
      helper.async(function()
      local release = asyncio.get_running_loop():create_future()
      local server = await(asyncio.start_server(function(_, writer)
         await(release)
         writer:close()
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local forever = asyncio.create_task(server:serve_forever())
      local _, writer = await(asyncio.open_connection("127.0.0.1", port))
      await(asyncio.sleep(0.01)) -- the connection task runs
      server:close()
      await(asyncio.sleep(0.01))
      assert.is_false(forever:done()) -- waits for the connection task, as Python 3.13
      release:set_result()
      local err = helper.error_of(await, forever)
      assert.is_true(asyncio.CancelledError:is(err), tostring(err))
      assert.is_false(server:is_serving())
      writer:close()
   end))

   it("serve_forever is cancellable, and cancelling it closes the server", helper.async(function()
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local t = asyncio.create_task(server:serve_forever())
      await(asyncio.sleep(0.01))
      assert.equal("yo", roundtrip(port, "yo"))
      t:cancel()
      local ok, err = pcall(await, t)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.is_false(server:is_serving())
      assert.is_false(pcall(await, asyncio.open_connection("127.0.0.1", port)))
      -- Python's words (it said "server is closed")
      assert.matches("server <Server closed> is closed$", helper.error_of(await, server:serve_forever()))
   end))

   it("made with start_serving = false refuse connections until start_serving or serve_forever, as Python's",
      helper.async(function()
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0, { start_serving = false }))
      local _, port = server:getsockname()
      assert.is_false(server:is_serving())
      assert.equal(("<Server not serving 127.0.0.1:%d>"):format(port), tostring(server))
      helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_connection("127.0.0.1", port))
      await(server:start_serving())
      assert.equal(("<Server serving 127.0.0.1:%d>"):format(port), tostring(server))
      await(server:start_serving()) -- once serving, nothing more to do
      assert.is_true(server:is_serving())
      assert.equal("on", roundtrip(port, "on"))
      server:close()
      helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_connection("127.0.0.1", port))
      assert.matches("is closed$", helper.error_of(await, server:start_serving()))
      -- a Unix one, started by serve_forever
      local dir = os.tmpname()
      os.remove(dir)
      local path = dir .. ".sock"
      local unix = await(asyncio.start_unix_server(echo_handler, path, { start_serving = false }))
      helper.raises(asyncio.ConnectionRefusedError, await, asyncio.open_unix_connection(path))
      local forever = asyncio.create_task(unix:serve_forever())
      await(asyncio.sleep(0))
      assert.is_true(unix:is_serving())
      local reader, writer = await(asyncio.open_unix_connection(path))
      writer:write("unix\n")
      assert.equal("unix\n", await(reader:readline()))
      writer:close()
      forever:cancel()
      helper.cancelled(forever)
      -- the options are booleans
      assert.matches("option 'start_serving': boolean expected, got number",
                     helper.error_of(asyncio.start_server, echo_handler, "127.0.0.1", 0, { start_serving = 1 }))
      assert.matches("option 'cleanup_socket': boolean expected, got string",
                     helper.error_of(asyncio.start_unix_server, echo_handler, path, { cleanup_socket = "no" }))
   end))

   it("are to-be-closed", helper.async(function()
      local port
      do
         local server <close> = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
         port = select(2, server:getsockname())
         assert.equal("tbc", roundtrip(port, "tbc"))
      end
      assert.is_false(pcall(await, asyncio.open_connection("127.0.0.1", port)))
   end))

   it("wait at the end of a to-be-closed scope in a task until closed, as `async with server`",
      helper.async(function()
         local log = {}
         local server = await(asyncio.start_server(async(function(_, writer)
            await(asyncio.sleep(0.02))
            log[#log + 1] = "handler done"
            writer:close()
         end), "127.0.0.1", 0))
         local _, port = server:getsockname()
         local writer
         do
            local _ <close> = server
            writer = select(2, await(asyncio.open_connection("127.0.0.1", port)))
         end
         log[#log + 1] = "scope left"
         writer:close()
         assert.same({ "handler done", "scope left" }, log)
      end))

   it("let a handler that closed its writer wait for the server to close", helper.async(function()
      local loop = asyncio.get_running_loop()
      local server
      local finished = loop:create_future()
      server = await(asyncio.start_server(async(function(reader, writer)
         await(reader:readline()) -- a "shutdown" command
         writer:close()
         server:close()
         await(asyncio.wait_for(server:wait_closed(), 1))
         finished:set_result("wait_closed returned")
      end), "127.0.0.1", 0))
      local _, port = server:getsockname()
      local _, writer = await(asyncio.open_connection("127.0.0.1", port))
      writer:write("shutdown\n")
      assert.equal("wait_closed returned", await(finished))
      writer:close()
   end))

   it("share a port with reuse_port, and refuse it without", helper.async(function()
      local a = await(asyncio.start_server(echo_handler, "127.0.0.1", 0, { reuse_port = true }))
      local _, port = a:getsockname()
      local b = await(asyncio.start_server(echo_handler, "127.0.0.1", port, { reuse_port = true }))
      assert.equal(port, select(2, b:getsockname()))
      assert.equal("rp", roundtrip(port, "rp"))
      local ok, err = pcall(await, asyncio.start_server(echo_handler, "127.0.0.1", port))
      assert.is_false(ok)
      assert.is_true(asyncio.OSError:is(err))
      assert.equal("EADDRINUSE", err.code)
      a:close()
      b:close()
   end))

   it("listen on IPv6 ::1", helper.async(function()
      local server = await(asyncio.start_server(echo_handler, "::1", 0))
      local socks = server:sockets()
      assert.equal("inet6", socks[1].family)
      local reader, writer = await(asyncio.open_connection("::1", socks[1].port))
      writer:write("v6")
      assert.equal("v6", await(reader:readexactly(2)))
      writer:close()
      server:close()
   end))

   it("take Python's iterations to connect, start the handler, echo and close", function()
      -- the loop is stepped one iteration at a time, each polling; the
      -- numbers are those Python 3.13 prints for the same program
      local loop = asyncio.new_event_loop()
      local it, log = 0, {}
      local function note(...) log[#log + 1] = it .. " " .. table.concat({ ... }, " ") end
      local handler = async(function(r, w)
         note("handler start")
         while true do
            local d = await(r:read(100))
            note("server read", tostring(d))
            if not d then break end
            w:write(d:upper())
            await(w:drain())
         end
         w:close()
         await(w:wait_closed())
         note("server closed")
      end)
      local client = async(function(port)
         local r, w = await(asyncio.open_connection("127.0.0.1", port))
         note("client connected")
         for _, m in ipairs({ "a", "bb" }) do
            w:write(m)
            await(w:drain())
            note("client got", await(r:read(100)))
         end
         w:write_eof()
         note("client read at end", tostring(await(r:read(100))))
         w:close()
         await(w:wait_closed())
         note("client closed")
      end)
      local srv = loop:run_until_complete(asyncio.start_server(handler, "127.0.0.1", 0))
      local ct = loop:create_task(client(select(2, srv:getsockname())))
      for _ = 1, 40 do
         it = it + 1
         os.execute("sleep 0.002") -- what the peer sent has arrived by the next poll
         helper.step(loop)
         if ct:done() and #log >= 10 then break end
      end
      assert.same({ "5 handler start", "5 client connected", "7 server read a", "9 client got A",
                    "11 server read bb", "13 client got BB", "15 server read nil", "17 server closed",
                    "18 client read at end nil", "20 client closed" }, log)
      srv:close()
      loop:run_until_complete(srv:wait_closed())
      loop:close()
   end)

   it("count a connection from the iteration after its accept, as Python's transport attaches", function()
      -- stepped: the accept is in step 2's poll; close_clients() in step 3
      -- reaches the new connection, whose handler (step 5) finds its writer
      -- closing (Python 3.13 prints the same); in step 2 it does not yet
      local function run(close_at)
         local loop = asyncio.new_event_loop()
         local it, log = 0, {}
         local srv = loop:run_until_complete(asyncio.start_server(function(_, w)
            log[#log + 1] = it .. " handler, closing " .. tostring(w:is_closing())
            w:close()
         end, "127.0.0.1", 0))
         loop:create_task(async(function()
            local _, w = await(asyncio.open_connection(srv:getsockname()))
            log[#log + 1] = it .. " connected"
            w:close()
         end)())
         for i = 1, 8 do
            it = i
            os.execute("sleep 0.002")
            if i == close_at then
               loop:call_soon(function() srv:close_clients() end)
            end
            helper.step(loop)
         end
         srv:close()
         loop:run_until_complete(srv:wait_closed())
         loop:close()
         return log
      end
      assert.same({ "5 handler, closing true", "5 connected" }, run(3))
      assert.same({ "5 handler, closing false", "5 connected" }, run(2))
   end)

   it("check the backlog option when called, naming the caller's line", function()
      local function err_of(f)
         local ok, err = pcall(f)
         assert.is_false(ok)
         return err
      end
      assert.matches("^[^:]*server_spec%.lua:%d+: bad argument #4 to 'start_server' "
                     .. "%(backlog must be a non%-negative integer",
         err_of(function() asyncio.start_server(echo_handler, "127.0.0.1", 0, { backlog = "x" }) end))
      assert.matches("bad argument #3 to 'start_unix_server' %(backlog must be a non%-negative integer",
         err_of(function() asyncio.start_unix_server(echo_handler, "/tmp/x.sock", { backlog = 0 / 0 }) end))
      assert.matches("backlog must be",
                     err_of(function() asyncio.start_server(echo_handler, nil, 0, { backlog = -1 }) end))
      assert.matches("backlog out of range %(at most 2147483647%)",
         err_of(function() asyncio.start_server(echo_handler, nil, 0, { backlog = math.maxinteger }) end))
      assert.matches("port must be an integer, got nan",
         err_of(function() asyncio.start_server(echo_handler, nil, 0 / 0) end))
   end)

   it("serve 1000 connections open at the same time", helper.async(function()
      local N = 1000
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0, { backlog = 1024 }))
      local _, port = server:getsockname()
      local loop = asyncio.get_running_loop()
      local all_open = loop:create_future()
      local open, most = 0, 0
      local clients = {}
      for i = 1, N do
         clients[i] = asyncio.create_task(async(function()
            local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
            open = open + 1
            most = math.max(most, open)
            if open == N then
               all_open:set_result()
            end
            await(all_open)
            local msg = ("%04d"):format(i) .. string.rep("m", 96)
            writer:write(msg)
            local got = await(reader:readexactly(100))
            writer:close()
            open = open - 1
            return got == msg
         end)())
      end
      for i = 1, N do
         assert.is_true(await(clients[i]))
      end
      assert.equal(N, most)
      server:close()
      await(server:wait_closed())
   end, 20))

   it("survive running out of descriptors without spinning", helper.async(function()
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local listener = server._listeners[1]
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local N = 3
      local clients = {}
      -- take every free descriptor, then give back exactly N
      local ok, err = helper.with_fds_exhausted(1024, 256, function(fill)
         for _ = 1, N do
            core.fdclose(table.remove(fill))
         end
         -- the clients take them all before the loop runs: the server cannot accept
         local streams = {}
         for i = 1, N do
            streams[i] = assert(core.connect(loop, "inet", "127.0.0.1", port, true))
         end
         for i = 1, N do
            await(streams[i]:connected())
            local reader, writer = streams[i]:halves()
            clients[i] = { reader = reader, writer = writer }
         end
         local cpu0 = os.clock()
         await(asyncio.sleep(0.6))
         local cpu = os.clock() - cpu0
         local accepted, failures, paused = listener:stats()
         assert.equal(0, accepted)
         assert.is_true(failures >= 1 and failures <= 5, "accept failed " .. failures .. " times")
         assert.is_true(paused)
         assert.is_true(cpu < 0.2, "used " .. cpu .. " s of CPU while out of descriptors")
         assert.is_true(#reports >= 1)
         assert.matches("accept failed", reports[1].message)
         assert.equal("EMFILE", reports[1].error.code)
         assert.is_true(server:is_serving())
      end)
      assert(ok, err)
      -- descriptors are back: the waiting connections are served
      for i = 1, N do
         clients[i].writer:write("back" .. i)
         assert.equal("back" .. i, await(clients[i].reader:readexactly(5)))
         clients[i].writer:close()
      end
      assert.equal(N, (listener:stats()))
      server:close()
   end, 10))

   it("reject misuse naming the function and argument", helper.async(function()
      assert.has_error(function() asyncio.start_server(nil, "127.0.0.1", 0) end,
         "bad argument #1 to 'start_server' (function expected, got nil)")
      assert.has_error(function() asyncio.start_server(echo_handler, 42, 0) end,
         "bad argument #2 to 'start_server' (string or nil expected, got number)")
      assert.has_error(function() asyncio.start_server(echo_handler, "127.0.0.1", {}) end,
         "bad argument #3 to 'start_server' (port number or service name expected, got table)")
      assert.has_error(function() asyncio.start_unix_server(echo_handler, nil) end,
         "bad argument #2 to 'start_unix_server' (string expected, got nil)")
      assert.has_error(function() asyncio.start_server(echo_handler, "127.0.0.1", 70000) end,
         "bad argument #3 to 'start_server' (port out of range)")
   end))

   it("resume a handler's writer:wait_closed() before server:wait_closed(), as Python", helper.async(function()
      -- Python's transport tells its protocol, then detaches from its server
      local order = {}
      local server = await(asyncio.start_server(async(function(reader, writer)
         await(reader:readline())
         writer:close()
         await(writer:wait_closed())
         order[#order + 1] = "handler"
      end), "127.0.0.1", 0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      server:close()
      local waiting = asyncio.create_task(async(function()
         await(server:wait_closed())
         order[#order + 1] = "server"
      end)())
      writer:write("bye\n")
      assert.is_nil(await(reader:read()))
      await(waiting)
      writer:close()
      assert.same({ "handler", "server" }, order)
   end))

   it("refuse options they do not know, as Python refuses a keyword (ssl was ignored: plain text)",
      helper.async(function()
         assert.has_error(function() asyncio.start_server(echo_handler, "127.0.0.1", 0, { bogus = 1 }) end,
            "bad argument #4 to 'start_server' (unknown option 'bogus')")
         assert.has_error(function() asyncio.start_unix_server(echo_handler, "/tmp/x", { reuse_port = true }) end,
            "bad argument #3 to 'start_unix_server' (unknown option 'reuse_port')")
         assert.has_error(function() asyncio.open_connection("127.0.0.1", 1, { ssl = true }) end,
            "bad argument #3 to 'open_connection' (option 'ssl': TLS is not supported)")
         assert.has_error(function() asyncio.open_unix_connection("/tmp/x", { nodelay = true }) end,
            "bad argument #2 to 'open_unix_connection' (unknown option 'nodelay')")
         assert.has_error(function() asyncio.getaddrinfo("localhost", 80, { flags = 1 }) end,
            "bad argument #3 to 'getaddrinfo' (unknown option 'flags')")
         assert.has_error(function() asyncio.open_datagram({ reuse_address = true }) end,
            "bad argument #1 to 'open_datagram' (option 'reuse_address': not supported: SO_REUSEADDR is unsafe "
            .. "for UDP)")
         assert.has_error(function() asyncio.open_datagram({ tls = false }) end,
            "bad argument #1 to 'open_datagram' (unknown option 'tls')")
         -- the options they know still pass, and Python's defaults: ssl=false (None)
         -- and reuse_address (SO_REUSEADDR is always set on a listening socket)
         local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0,
            { limit = 10, backlog = 5, reuse_port = true, nodelay = false, family = "inet", ssl = false,
              reuse_address = true }))
         local ep = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0, reuse_address = false }))
         ep:close()
         local _, port = server:getsockname()
         local _, writer = await(asyncio.open_connection("127.0.0.1", port, { limit = 10, nodelay = true,
            family = "inet" }))
         writer:close()
         server:close()
      end))

   it("refuse a zero byte in a host, service or signal name (the system cut the name there)",
      helper.async(function()
         -- "127.0.0.1\0.example.org" connected to 127.0.0.1: not the host a program checked
         assert.has_error(function() asyncio.open_connection("127.0.0.1\0.example.org", 1) end,
            "bad argument #1 to 'open_connection' (embedded zero in the host name)")
         assert.has_error(function() asyncio.getaddrinfo("localhost", "80\0junk") end,
            "bad argument #2 to 'getaddrinfo' (embedded zero in the service name)")
         assert.has_error(function() asyncio.start_server(echo_handler, "127.0.0.1\0x", 0) end,
            "bad argument #2 to 'start_server' (embedded zero in the host name)")
         assert.has_error(function() asyncio.start_server(echo_handler, { "127.0.0.1", "::1\0x" }, 0) end,
            "bad argument #2 to 'start_server' (embedded zero in the host name at index 2)")
         assert.has_error(function() asyncio.open_datagram({ local_host = "127.0.0.1\0x" }) end,
            "bad argument #1 to 'open_datagram' (embedded zero in the host name)")
         local loop = asyncio.get_running_loop()
         assert.has_error(function() loop:add_signal_handler("SIGUSR1\0x", print) end,
            "bad argument #1 to 'add_signal_handler' (embedded zero in the signal name)")
         local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
         local _, port = server:getsockname()
         local _, writer = await(asyncio.open_connection("127.0.0.1", port))
         assert.is_nil(writer:get_extra_info("peername\0x")) -- it answered the peername
         assert.equal("127.0.0.1", (writer:get_extra_info("peername")))
         local ep = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
         assert.has_error(function() ep:send("x", "127.0.0.1\0x", port) end,
            "bad argument #2 to 'send' (embedded zero in the host)")
         assert.has_error(function() ep:send("x", "127.0.0.1") end, -- it raised EINVAL from the system
            "bad argument #3 to 'send' (port expected after a host)")
         ep:close()
         writer:close()
         server:close()
      end))
end)

-- Python's sock=: a socket made elsewhere (another library's, or one
-- systemd passed on) given instead of an address. Here such sockets are a
-- socketpair's ends, and copies (dup2) of our own servers' sockets.
describe("the sock option", function()
   -- A copy of the listening socket of server, on a descriptor of its own,
   -- and the server closed: a bound socket nobody serves.
   local function orphan_socket(server)
      local fd = server:sockets()[1].fd
      local copy, spare = core.pipe()
      core.fddup2(fd, copy)
      core.fdclose(spare)
      server:close()
      await(server:wait_closed())
      return copy
   end

   it("makes a connection of a connected socket, the stream owning it", helper.async(function()
      local a, b = core.socketpair("stream")
      local r1, w1 = await(asyncio.open_connection(nil, nil, { sock = a }))
      local r2, w2 = await(asyncio.open_unix_connection(nil, { sock = b }))
      assert.equal(a, w1:get_extra_info("socket"))
      w1:write("ping\n")
      assert.equal("ping\n", await(r2:readline()))
      w2:write("pong")
      w2:write_eof()
      assert.equal("pong", await(r1:read()))
      w1:close()
      w2:close()
      await(w1:wait_closed())
      await(w2:wait_closed())
      assert.is_nil(core.fdwrite(a, "x")) -- closed with the stream
   end))

   it("serves on a bound socket, TCP or Unix, and a Unix one's file goes at the close", helper.async(function()
      local fd = orphan_socket(await(asyncio.start_server(echo_handler, "127.0.0.1", 0)))
      local server = await(asyncio.start_server(echo_handler, nil, nil, { sock = fd }))
      local _, port = server:getsockname()
      assert.equal("hi", roundtrip(port, "hi"))
      server:close()
      await(server:wait_closed())
      local path = os.tmpname()
      os.remove(path)
      fd = orphan_socket(await(asyncio.start_unix_server(echo_handler, path, { cleanup_socket = false })))
      server = await(asyncio.start_unix_server(echo_handler, nil, { sock = fd }))
      local reader, writer = await(asyncio.open_unix_connection(path))
      writer:write("yo")
      assert.equal("yo", await(reader:readexactly(2)))
      writer:close()
      -- a socket file cannot be opened, but renamed onto itself it can
      assert.is_true(os.rename(path, path))
      server:close()
      await(server:wait_closed())
      assert.is_nil(os.rename(path, path)) -- unlinked, as Python 3.13's cleanup_socket
   end))

   it("refuses what is not a stream socket, or an address besides", helper.async(function()
      local a, b = core.socketpair("stream")
      local d1, d2 = core.socketpair("dgram")
      local rfd, wfd = core.pipe()
      local function refused(pattern, f, ...)
         local ok, err = pcall(f, ...)
         assert.is_false(ok)
         assert.matches(pattern, err)
      end
      refused("bad argument #3 to 'open_connection' %(host/port and option 'sock' cannot be given together%)",
         asyncio.open_connection, "127.0.0.1", nil, { sock = a })
      refused("bad argument #3 to 'open_connection' %(option 'sock': not a socket%)",
         asyncio.open_connection, nil, nil, { sock = rfd })
      refused("bad argument #3 to 'open_connection' %(option 'sock': not a stream socket%)",
         asyncio.open_connection, nil, nil, { sock = d1 })
      refused("bad argument #3 to 'open_connection' %(option 'sock': file descriptor expected, got 1.5%)",
         asyncio.open_connection, nil, nil, { sock = 1.5 })
      refused("bad argument #4 to 'start_server' %(host/port and option 'sock' cannot be given together%)",
         asyncio.start_server, echo_handler, nil, 8080, { sock = a })
      refused("bad argument #2 to 'open_unix_connection' %(path and option 'sock' cannot be given together%)",
         asyncio.open_unix_connection, "/tmp/x", { sock = a })
      local server = await(asyncio.start_server(echo_handler, "127.0.0.1", 0))
      local tcp = orphan_socket(server)
      refused("bad argument #3 to 'start_unix_server' %(option 'sock': a Unix stream socket expected, " ..
         "got an inet socket%)", asyncio.start_unix_server, echo_handler, nil, { sock = tcp })
      -- a stream's own socket is refused when the connection is made
      local _, w = await(asyncio.open_connection(nil, nil, { sock = a }))
      refused("option 'sock': descriptor " .. a .. " is a stream of this loop already",
         await, asyncio.open_connection(nil, nil, { sock = a }))
      w:close()
      for _, fd in ipairs({ b, d1, d2, rfd, wfd, tcp }) do core.fdclose(fd) end
   end))
end)
