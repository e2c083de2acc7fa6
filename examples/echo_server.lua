-- A TCP echo server on streams, each connection in a task of its own: the
-- "TCP echo server using streams" of Python's asyncio documentation, made
-- to echo every line until the client closes.
--
--   lua5.4 examples/echo_server.lua [host [port [max_clients]]]
--
-- Defaults: 127.0.0.1, port 8888 (0 picks a free one), serving forever;
-- with max_clients it closes after that many connections have finished.
-- Try it with examples/echo_client.lua, or `nc 127.0.0.1 8888`.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local HOST = arg[1] or "127.0.0.1"
local PORT = tonumber(arg[2] or 8888)
local MAX_CLIENTS = tonumber(arg[3])

local served = 0
local server

local handle_echo = async(function(reader, writer)
   local host, port = writer:get_extra_info("peername")
   local peer = port and ("%s:%d"):format(host, port) or host
   for line in reader:lines() do
      print(("Received %q from %s"):format(line, peer))
      writer:write(line .. "\n")
      await(writer:drain())
   end
   print(("Close the connection with %s"):format(peer))
   writer:close()
   await(writer:wait_closed())
   served = served + 1
   if MAX_CLIENTS and served >= MAX_CLIENTS then
      server:close()
   end
end)

asyncio.run(async(function()
   server = await(asyncio.start_server(handle_echo, HOST, PORT))
   for _, sock in ipairs(server:sockets()) do
      print(("Serving on %s:%d"):format(sock.host, sock.port))
   end
   io.stdout:flush()
   -- closing the server (after MAX_CLIENTS) ends serve_forever with a
   -- CancelledError, as in Python
   local ok, err = pcall(await, server:serve_forever())
   if not ok and not asyncio.CancelledError:is(err) then error(err, 0) end
   await(server:wait_closed())
   print("Server closed")
end))
