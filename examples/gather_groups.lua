-- Groups of gathers, gathered: each group is a future that can be awaited or
-- cancelled as a whole (document 002).
-- The random module is replaced by a tiny generator (Park-Miller) that the
-- Python version repeats exactly.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local random = {x = 444}

function random.uniform(a, b)
   random.x = random.x * 48271 % 2147483647
   return a + (b - a) * random.x / 2147483647
end

-- Python's repr of a list of lists of strings.
local function repr(v)
   if type(v) == 'string' then
      return "'" .. v .. "'"
   end
   local parts = {}
   for i = 1, v.n or #v do
      parts[i] = repr(v[i])
   end
   return '[' .. table.concat(parts, ', ') .. ']'
end

-- Python's pprint: a list that does not fit in 80 columns gets one item a
-- line, each indented under the opening bracket.
local function pformat(v, indent, allowance)
   local r = repr(v)
   if type(v) == 'string' or #r <= 80 - indent - allowance then
      return r
   end
   local n = v.n or #v
   local parts = {}
   for i = 1, n do
      parts[i] = pformat(v[i], indent + 1, i == n and allowance + 1 or 1)
   end
   return '[' .. table.concat(parts, ',\n' .. (' '):rep(indent + 1)) .. ']'
end

local function pprint(v)
   print(pformat(v, 0, 0))
end

local coro = async(function(tag)
   print("> " .. tag)
   await(asyncio.sleep(random.uniform(1, 3)))
   print("< " .. tag)
   return tag
end)

-- asyncio.gather(*[coro("group N.{}".format(i)) for i in range(1, last + 1)])
local function group(n, last)
   local coros = {}
   for i = 1, last do
      coros[#coros + 1] = coro(("group %d.%d"):format(n, i))
   end
   return asyncio.gather(table.unpack(coros))
end

local loop = asyncio.get_event_loop()

local group1 = group(1, 5)
local group2 = group(2, 3)
local group3 = group(3, 9)

local all_groups = asyncio.gather(group1, group2, group3)

local results = loop:run_until_complete(all_groups)

loop:close()

pprint(results)
