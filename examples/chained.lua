#!/usr/bin/env lua5.4
-- chained.lua (document 003): each chain awaits part1, then part2 with
-- part1's result; the chains run at the same time.
-- Usage: lua5.4 examples/chained.lua [n ...]   (default: 1 2 3)
-- The random module is replaced by a tiny generator (Park-Miller) that the
-- Python version repeats exactly, so both draw the same sleep times; the
-- sleeps are tenths of the document's (0 to 1 second instead of 0 to 10).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.perf_counter().
local function perf_counter()
   return asyncio.get_event_loop():time()
end

local random = {x = 444}

function random.seed(a)
   random.x = a
end

function random.randint(a, b)
   random.x = random.x * 48271 % 2147483647
   return a + random.x % (b - a + 1)
end

local part1 = async(function(n)
   local i = random.randint(0, 10) / 10
   print(("part1(%d) sleeping for %s seconds."):format(n, i))
   await(asyncio.sleep(i))
   local result = ("result%d-1"):format(n)
   print(("Returning part1(%d) == %s."):format(n, result))
   return result
end)

local part2 = async(function(n, arg)
   local i = random.randint(0, 10) / 10
   print(("part2(%d, '%s') sleeping for %s seconds."):format(n, arg, i))
   await(asyncio.sleep(i))
   local result = ("result%d-2 derived from %s"):format(n, arg)
   print(("Returning part2(%d, '%s') == %s."):format(n, arg, result))
   return result
end)

local chain = async(function(n)
   local start = perf_counter()
   local p1 = await(part1(n))
   local p2 = await(part2(n, p1))
   local elapsed = perf_counter() - start
   print(("-->Chained result%d => %s (took %0.2f seconds)."):format(n, p2, elapsed))
end)

local main = async(function(...)
   local chains = {}
   for _, n in ipairs({...}) do
      chains[#chains + 1] = chain(n)
   end
   await(asyncio.gather(table.unpack(chains)))
end)

random.seed(444)
local args = {1, 2, 3}
if #arg > 0 then
   args = {}
   for i, a in ipairs(arg) do
      args[i] = math.tointeger(tonumber(a)) or error(("invalid int: '%s'"):format(a))
   end
end
local start = perf_counter()
asyncio.run(main(table.unpack(args)))
local elapsed = perf_counter() - start
print(("Program finished in %0.2f seconds."):format(elapsed))
