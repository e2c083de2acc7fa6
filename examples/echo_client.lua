-- A TCP echo client on streams: the "TCP echo client using streams" of
-- Python's asyncio documentation, sending each message as a line and
-- printing what comes back.
--
--   lua5.4 examples/echo_client.lua [host [port [message...]]]
--
-- Defaults: 127.0.0.1, port 8888, the message "Hello World!". Gives up
-- after 5 seconds (wait_for) if the server does not answer.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local HOST = arg[1] or "127.0.0.1"
local PORT = tonumber(arg[2] or 8888)
local MESSAGES = { table.unpack(arg, 3) }
if #MESSAGES == 0 then
   MESSAGES = { "Hello World!" }
end

local tcp_echo_client = async(function(messages)
   local reader, writer = await(asyncio.wait_for(asyncio.open_connection(HOST, PORT), 5))
   for _, message in ipairs(messages) do
      print(("Send: %q"):format(message))
      writer:write(message .. "\n")
      local data = await(asyncio.wait_for(reader:readline(), 5))
      print(("Received: %q"):format(data and data:gsub("\n$", "") or "(connection closed)"))
   end
   print("Close the connection")
   writer:close()
   await(writer:wait_closed())
end)

asyncio.run(tcp_echo_client(MESSAGES))
