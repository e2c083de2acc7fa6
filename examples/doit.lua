-- ensure_future vs create_task vs plain coroutines (document 002, the
-- question): all three run the ten doit() at once. The first argument picks
-- the variant: coro (the default), ensure_future or create_task.
--
--    lua5.4 examples/doit.lua [coro|ensure_future|create_task]

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local doit = async(function(i)
   print(("Start %d"):format(i))
   await(asyncio.sleep(3))
   print(("End %d"):format(i))
   return i
end)

local variant = arg[1] or "coro"
local loop = asyncio.get_event_loop()
local futures = {}
for i = 0, 9 do
   if variant == "ensure_future" then
      futures[#futures + 1] = asyncio.ensure_future(doit(i), { loop = loop })
   elseif variant == "create_task" then
      futures[#futures + 1] = loop:create_task(doit(i))
   else
      futures[#futures + 1] = doit(i)
   end
end
local result = loop:run_until_complete(asyncio.gather(table.unpack(futures)))
-- Python prints the list as [0, 1, ...]
print("[" .. table.concat(result, ", ") .. "]")
