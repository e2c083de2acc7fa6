#!/usr/bin/env lua5.4
-- countasync.lua (document 003): three counts sleep their second together.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.perf_counter().
local function perf_counter()
   return asyncio.get_event_loop():time()
end

local count = async(function()
   print("One")
   await(asyncio.sleep(1))
   print("Two")
end)

local main = async(function()
   await(asyncio.gather(count(), count(), count()))
end)

local s = perf_counter()
asyncio.run(main())
local elapsed = perf_counter() - s
print(string.format("%s executed in %0.2f seconds.", arg[0], elapsed))
