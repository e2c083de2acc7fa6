-- asyncio.wait with FIRST_COMPLETED, then with a timeout, then for the rest
-- (document 002).
-- The random module is replaced by a tiny generator (Park-Miller) that the
-- Python version repeats exactly; the done sets are printed in sorted order
-- (a set has no order).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local random = {x = 444}

function random.uniform(a, b)
   random.x = random.x * 48271 % 2147483647
   return a + (b - a) * random.x / 2147483647
end

-- The results of a set of tasks, sorted.
local function sorted_results(tasks)
   local results = {}
   for task in pairs(tasks) do
      results[#results + 1] = task:result()
   end
   table.sort(results)
   return results
end

-- len() of a set.
local function len(set)
   local n = 0
   for _ in pairs(set) do n = n + 1 end
   return n
end

local coro = async(function(tag)
   print("> " .. tag)
   await(asyncio.sleep(random.uniform(0.5, 5)))
   print("< " .. tag)
   return tag
end)

local loop = asyncio.get_event_loop()

local tasks = {}
for i = 1, 10 do
   tasks[#tasks + 1] = coro(i)
end

print("Get first result:")
local finished, unfinished = loop:run_until_complete(
   asyncio.wait(tasks, {return_when = asyncio.FIRST_COMPLETED}))

for _, result in ipairs(sorted_results(finished)) do
   print(result)
end
print("unfinished: " .. len(unfinished))

print("Get more results in 2 seconds:")
local finished2, unfinished2 = loop:run_until_complete(
   asyncio.wait(unfinished, {timeout = 2}))

for _, result in ipairs(sorted_results(finished2)) do
   print(result)
end
print("unfinished2: " .. len(unfinished2))

print("Get all other results:")
local finished3 = loop:run_until_complete(asyncio.wait(unfinished2))

for _, result in ipairs(sorted_results(finished3)) do
   print(result)
end

loop:close()
