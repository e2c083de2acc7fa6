-- The second scenario of tools/oom.sh: streams, a server, UDP, a
-- subprocess and a worker thread, under the failing allocator
-- (tools/oomhost.c), bounded by a timeout guard as tools/oom.lua.
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await
local function scenario()
   local _ <close> = asyncio.timeout(2)
   local handle = async(function(reader, writer)
      while true do
         local line = await(reader:readline())
         if not line then break end
         writer:write(line:upper())
         await(writer:drain())
      end
      writer:close()
      await(writer:wait_closed())
   end)
   local server = await(asyncio.start_server(handle, "127.0.0.1", 0))
   local _, port = server:getsockname()
   local r, w = await(asyncio.open_connection("127.0.0.1", port))
   for i = 1, 5 do
      w:write("line " .. i .. "\n")
      await(r:readline())
   end
   w:writelines({ "a\n", "b\n" })
   await(r:readexactly(4))
   w:write_eof()
   await(r:read())
   w:close()
   await(w:wait_closed())
   server:close()
   await(server:wait_closed())
   local ep = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
   local _, uport = ep:getsockname()
   ep:send("ping", "127.0.0.1", uport)
   await(ep:recv())
   ep:close()
   local p = await(asyncio.create_subprocess_exec("cat", {}, { stdin = asyncio.PIPE, stdout = asyncio.PIPE }))
   await(p:communicate("hello"))
   -- a child closing its stdin: the loss reaches wait_closed two hops on
   p = await(asyncio.create_subprocess_exec("sh", { "-c", "exec 0<&-; sleep 0.05" }, { stdin = asyncio.PIPE }))
   pcall(await, p.stdin:wait_closed())
   await(p:wait())
   -- output read ahead while nobody reads, taken in by wait()
   p = await(asyncio.create_subprocess_exec("printf", { "a\\nb\\n" }, { stdout = asyncio.PIPE }))
   await(p:wait())
   while not p.stdout:at_eof() do
      await(p.stdout:readline())
   end
   await(asyncio.to_thread(function(x) return x * 2 end, 21))
end
dofile("tools/oom_run.lua")(scenario)
