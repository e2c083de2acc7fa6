-- At most three fetches at a time under a Semaphore (document 004).
-- The HTTP request is replaced by a short sleep that returns what httpbin
-- would echo back: the query argument, as a string.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local NUMBERS = {}
for i = 0, 11 do NUMBERS[#NUMBERS + 1] = i end
local URL = 'http://httpbin.org/get?a=%d'
local sema = asyncio.Semaphore(3)

local fetch_async = async(function(a)
   await(asyncio.sleep(0.1))  -- stands in for GET URL:format(a)
   local data = {args = {a = tostring(a)}}
   return data.args.a
end)

local print_result = async(function(a)
   local _ <close> = await(sema:acquire())
   local r = await(fetch_async(a))
   print(('fetch(%d) = %s'):format(a, r))
end)

local loop = asyncio.get_event_loop()
local coros = {}
for _, num in ipairs(NUMBERS) do
   coros[#coros + 1] = print_result(num)
end
local f = asyncio.wait(coros)
loop:run_until_complete(f)
