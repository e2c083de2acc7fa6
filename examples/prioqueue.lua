-- prioqueue.lua (document 004): a PriorityQueue hands its items out smallest
-- first; the consumer's fetches are limited by a Semaphore.
-- The HTTP request is replaced by a short sleep that returns what httpbin
-- would echo back (the query argument, as a string); random.sample is
-- replaced by a tiny generator (Park-Miller) that the Python version repeats
-- exactly.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local random = {x = 444}

function random.sample(population, k)
   local pool = {table.unpack(population)}
   local result = {}
   for _ = 1, k do
      random.x = random.x * 48271 % 2147483647
      result[#result + 1] = table.remove(pool, random.x % #pool + 1)
   end
   return result
end

local range100 = {}
for i = 0, 99 do range100[#range100 + 1] = i end
local NUMBERS = random.sample(range100, 7)
local URL = 'http://httpbin.org/get?a=%d'
local sema = asyncio.Semaphore(3)

local fetch_async = async(function(a)
   await(asyncio.sleep(0.1))  -- stands in for GET URL:format(a)
   local data = {args = {a = tostring(a)}}
   return data.args.a
end)

local collect_result = async(function(a)
   local _ <close> = await(sema:acquire())
   return await(fetch_async(a))
end)

local produce = async(function(queue)
   for _, num in ipairs(NUMBERS) do
      print(('producing %d'):format(num))
      local item = {num, num}
      await(queue:put(item))
   end
end)

local consume = async(function(queue)
   while true do
      local item = await(queue:get())
      local num = item[1]
      local rs = await(collect_result(num))
      print(('consuming %s...'):format(rs))
      queue:task_done()
   end
end)

local run = async(function()
   local queue = asyncio.PriorityQueue()
   local consumer = asyncio.ensure_future(consume(queue))
   await(produce(queue))
   await(queue:join())
   consumer:cancel()
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(run())
loop:close()
