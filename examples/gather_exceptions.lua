-- gather with return_exceptions: the errors take their places in the list of
-- results (document 000).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Lua has no high-resolution clock: the loop's monotonic clock stands in for
-- time.time().
local now = function() return asyncio.get_event_loop():time() end

-- Lua has no ValueError: a tiny error class that prints like Python's.
local ValueError = {__tostring = function() return 'ValueError()' end}

-- Python's repr of a list of strings and errors, as print(results) shows it.
local function repr(v)
   if type(v) == 'string' then
      return "'" .. v .. "'"
   elseif type(v) == 'table' and getmetatable(v) == nil then
      local parts = {}
      for i = 1, v.n or #v do
         parts[i] = repr(v[i])
      end
      return '[' .. table.concat(parts, ', ') .. ']'
   end
   return tostring(v)
end

local dosomething = async(function(num)
   print(('第 %d 任務,第一步'):format(num))
   await(asyncio.sleep(2))
   print(('第 %d 任務,第二步'):format(num))
   return ('第 %d 任務完成'):format(num)
end)

local raise_error = async(function(num)
   error(setmetatable({}, ValueError))
end)

local main = async(function()
   local tasks = {}
   for i = 0, 4 do tasks[#tasks + 1] = dosomething(i) end
   local tasks1 = {}
   for i = 0, 4 do tasks1[#tasks1 + 1] = raise_error(i) end
   local args = {table.unpack(tasks)}
   table.move(tasks1, 1, #tasks1, #args + 1, args)
   args[#args + 1] = {return_exceptions = true}
   local results = await(asyncio.gather(table.unpack(args)))
   print(repr(results))
end)

local start = now()
asyncio.run(main())
print('TIME:  ' .. (now() - start))
