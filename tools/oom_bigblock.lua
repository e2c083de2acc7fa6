-- A big block (2 MiB and more: the arena's own mapping, src/bigblock.c)
-- that shrinks while the allocator fails: it must stay a big block that
-- later frees and resizes still find, though Lua now knows it by a small
-- size. Run by `make oom` under build/oomhost with the plain core (the
-- sanitizer build leaves the arena out), OOM_AT 1 to 4; prints OK.
-- luacheck: globals oom_arm
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local core = require("asyncio.core")
assert(core.arena_stats(), "the arena is off")
local function fill(n)
   local t = {}
   for i = 1, n do t[i] = i end
   return t
end
local t, u = fill(200000), fill(200000)   -- array parts of 4 MiB: big blocks
for i = 200000, 1001, -1 do t[i] = nil end
for i = 200000, 2001, -1 do u[i] = nil end
oom_arm(true)
pcall(function() t.x = 1 end)                -- rehashes shrink the arrays to
pcall(function() u.x = 1 end)                -- 16 and 32 KiB, or fail to
oom_arm(false)
for i = 1, 1000 do assert(t[i] == i) end
for i = 1, 2000 do assert(u[i] == i) end
for i = 1001, 300000 do t[i] = -i end        -- one grows big again
for i = 1, 300000 do assert(t[i] == (i <= 1000 and i or -i)) end
t, u = nil, nil -- luacheck: ignore 311 331 (the collector frees their arrays)
collectgarbage()
collectgarbage()
assert(core.arena_stats().big_blocks == 0, "big blocks left")
print("OK")
