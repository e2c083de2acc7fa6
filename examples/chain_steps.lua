-- Chaining three steps; gather collects the chains' results (document 000).
-- The random module is replaced by a tiny generator (Park-Miller) that the
-- Python version repeats exactly, so both draw the same sleep times.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.time().
local now = function() return asyncio.get_event_loop():time() end

local random = {x = 4444}

function random.randint(a, b)
   random.x = random.x * 48271 % 2147483647
   return a + random.x % (b - a + 1)
end

-- Python's repr of a list of lists of integers.
local function repr(v)
   if type(v) ~= 'table' then
      return tostring(v)
   end
   local parts = {}
   for i = 1, v.n or #v do
      parts[i] = repr(v[i])
   end
   return '[' .. table.concat(parts, ', ') .. ']'
end

-- 任務一
local step_one = async(function(num, n)
   local time_sleep = random.randint(0, 1)
   print(('Task %d,step one, sleep %d'):format(n, time_sleep))
   await(asyncio.sleep(time_sleep))
   print(('Task %d,step one, wakeup'):format(n))
   num = num + 1
   return num
end)

-- 任務二
local step_two = async(function(num, n)
   local time_sleep = random.randint(0, n)
   print(('Task %d,step two, sleep %d'):format(n, time_sleep))
   await(asyncio.sleep(time_sleep))
   print(('Task %d,step two, wakeup'):format(n))
   num = num + 2
   return num
end)

-- 任務三
local step_three = async(function(num, n)
   local time_sleep = random.randint(0, n)
   print(('Task %d,step three, sleep %d'):format(n, time_sleep))
   await(asyncio.sleep(time_sleep))
   print(('Task %d,step three, wakeup'):format(n))
   num = num + 3
   return {n, num}
end)

-- 任務調度
local asyncio_chain = async(function(n)
   local s1 = await(step_one(n, n))
   local s2 = await(step_two(s1, n))
   local s3 = await(step_three(s2, n))
   return s3
end)

-- 收集任務結果
local main = async(function()
   local tasks = {}
   for n = 0, 2 do tasks[#tasks + 1] = asyncio_chain(n) end
   local result = await(asyncio.gather(table.unpack(tasks)))
   print(repr(result))
end)

local start = now()
asyncio.run(main())
print('TIME:  ' .. (now() - start))
