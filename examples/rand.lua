#!/usr/bin/env lua5.4
-- rand.lua (document 003): three coroutines draw random numbers until one is
-- above their threshold, sleeping between draws without blocking each other.
-- The random module is replaced by a tiny generator (Park-Miller) that the
-- Python version repeats exactly, so both draw the same numbers; its seed is
-- one that finishes in a few seconds.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local random = {x = 97}

function random.seed(a)
   random.x = a
end

function random.randint(a, b)
   random.x = random.x * 48271 % 2147483647
   return a + random.x % (b - a + 1)
end

-- ANSI colors (indexed from 0, as in Python)
local c = {
   [0] = "\27[0m",  -- End of color
   "\27[36m",       -- Cyan
   "\27[91m",       -- Red
   "\27[35m",       -- Magenta
}

local makerandom = async(function(idx, threshold)
   threshold = threshold or 6
   print(c[idx + 1] .. ("Initiated makerandom(%d)."):format(idx))
   local i = random.randint(0, 10)
   while i <= threshold do
      print(c[idx + 1] .. ("makerandom(%d) == %d too low; retrying."):format(idx, i))
      await(asyncio.sleep(idx + 1))
      i = random.randint(0, 10)
   end
   print(c[idx + 1] .. ("---> Finished: makerandom(%d) == %d"):format(idx, i) .. c[0])
   return i
end)

local main = async(function()
   local coros = {}
   for i = 0, 2 do
      coros[#coros + 1] = makerandom(i, 10 - i - 1)
   end
   local res = await(asyncio.gather(table.unpack(coros)))
   return res
end)

random.seed(97)
local r1, r2, r3 = table.unpack(asyncio.run(main()), 1, 3)
print()
print(("r1: %d, r2: %d, r3: %d"):format(r1, r2, r3))
