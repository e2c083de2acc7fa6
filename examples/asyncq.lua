#!/usr/bin/env lua5.4
-- asyncq.lua (document 003): producers put timestamped items in a queue,
-- consumers take them out and tell how long each waited.
-- Usage: lua5.4 examples/asyncq.lua [-p NPROD] [-c NCON]   (default: -p 5 -c 10)
-- The random module and os.urandom are replaced by a tiny generator
-- (Park-Miller) that the Python version repeats exactly, so both draw the
-- same numbers and items; the sleeps are tenths of the document's (0 to 1
-- second instead of 0 to 10).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.perf_counter().
local function perf_counter()
   return asyncio.get_event_loop():time()
end

local random = {x = 389}

function random.seed(a)
   random.x = a
end

function random.randint(a, b)
   random.x = random.x * 48271 % 2147483647
   return a + random.x % (b - a + 1)
end

local makeitem = async(function(size)
   size = size or 5
   local hex = {}
   for _ = 1, size do
      hex[#hex + 1] = ("%02x"):format(random.randint(0, 255))
   end
   return table.concat(hex)
end)

local randsleep = async(function(caller)
   local i = random.randint(0, 10) / 10
   if caller then
      print(("%s sleeping for %s seconds."):format(caller, i))
   end
   await(asyncio.sleep(i))
end)

local produce = async(function(name, q)
   local n = random.randint(0, 10)
   for _ = 1, n do  -- Synchronous loop for each single producer
      await(randsleep(("Producer %d"):format(name)))
      local i = await(makeitem())
      local t = perf_counter()
      await(q:put({i, t}))
      print(("Producer %d added <%s> to queue."):format(name, i))
   end
end)

local consume = async(function(name, q)
   while true do
      await(randsleep(("Consumer %d"):format(name)))
      local i, t = table.unpack(await(q:get()))
      local now = perf_counter()
      print(("Consumer %d got element <%s>"):format(name, i)
            .. (" in %0.5f seconds."):format(now - t))
      q:task_done()
   end
end)

local main = async(function(nprod, ncon)
   local q = asyncio.Queue()
   local producers = {}
   for n = 0, nprod - 1 do
      producers[#producers + 1] = asyncio.create_task(produce(n, q))
   end
   local consumers = {}
   for n = 0, ncon - 1 do
      consumers[#consumers + 1] = asyncio.create_task(consume(n, q))
   end
   await(asyncio.gather(table.unpack(producers)))
   await(q:join())  -- Implicitly awaits consumers, too
   for _, c in ipairs(consumers) do
      c:cancel()
   end
end)

-- What argparse does here: -p/--nprod and -c/--ncon take an integer.
local function parse_args(argv)
   local ns = {nprod = 5, ncon = 10}
   local options = {["-p"] = "nprod", ["--nprod"] = "nprod",
                    ["-c"] = "ncon", ["--ncon"] = "ncon"}
   local i = 1
   while i <= #argv do
      local key = options[argv[i]]
      local value = key and math.tointeger(tonumber(argv[i + 1]))
      if not value then
         io.stderr:write("usage: asyncq.lua [-p NPROD] [-c NCON]\n")
         os.exit(2)
      end
      ns[key] = value
      i = i + 2
   end
   return ns
end

random.seed(389)
local ns = parse_args(arg)
local start = perf_counter()
asyncio.run(main(ns.nprod, ns.ncon))
local elapsed = perf_counter() - start
print(("Program completed in %0.5f seconds."):format(elapsed))
