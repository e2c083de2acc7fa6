-- Many fetches at once from a local server, at most LIMIT connections at a
-- time under a Semaphore (document 004's semaphore example with real
-- connections in place of its sleeps).
--
--   lua5.4 examples/fetch_many.lua [count [limit]]
--
-- Defaults: 200 fetches, 20 at a time. The server, started here on a free
-- port of 127.0.0.1, answers "GET <n>" with a size line and that many
-- bytes; every fetch checks the document it got.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local COUNT = tonumber(arg[1] or 200)
local LIMIT = tonumber(arg[2] or 20)

-- The document number n: its size and contents depend on n alone.
local function document(n)
   local size = 1000 + (n * 7919) % 60000
   return string.rep(string.char(65 + n % 26), size)
end

local serve_document = async(function(reader, writer)
   local line = await(reader:readline())
   local n = tonumber(line and line:match("^GET (%d+)\n$"))
   if n then
      local body = document(n)
      writer:write(#body .. "\n")
      writer:write(body)
   else
      writer:write("0\n")
   end
   writer:close()
   await(writer:wait_closed())
end)

local active, most = 0, 0

local fetch = async(function(sema, port, n)
   local _ <close> = await(sema:acquire())
   active = active + 1
   most = math.max(most, active)
   local reader, writer <close> = await(asyncio.open_connection("127.0.0.1", port))
   writer:write(("GET %d\n"):format(n))
   local size = tonumber(await(reader:readline()))
   local body = await(reader:readexactly(size))
   active = active - 1
   assert(body == document(n), "document " .. n .. " arrived damaged")
   return #body
end)

asyncio.run(async(function()
   local server <close> = await(asyncio.start_server(serve_document, "127.0.0.1", 0))
   local _, port = server:getsockname()
   local sema = asyncio.Semaphore(LIMIT)
   local fetches = {}
   for n = 1, COUNT do
      fetches[n] = fetch(sema, port, n)
   end
   local t0 = asyncio.get_running_loop():time()
   local sizes = await(asyncio.gather(table.unpack(fetches)))
   local elapsed = asyncio.get_running_loop():time() - t0
   local total = 0
   for _, size in ipairs(sizes) do
      total = total + size
   end
   print(("fetched %d documents, %d bytes"):format(#sizes, total))
   print(("at most %d connections at a time (limit %d)"):format(most, LIMIT))
   io.stderr:write(("%.3f s\n"):format(elapsed))
end))
