-- The arena (src/arena.c): the allocator of the Lua state that loads the
-- core first. Blocks must keep their contents through every resize, go back
-- to the arena when Lua frees them, and the process must end cleanly after
-- lua_close has freed everything through an allocator whose library Lua has
-- already unloaded.

local helper = require("spec.helper")
local asyncio = require("asyncio")
local core = require("asyncio.core")
local async, await = asyncio.async, asyncio.await

-- The sanitizer build leaves the arena out: AddressSanitizer must see
-- every block.
local sanitized = (os.getenv("ASYNCIO_CPATH") or ""):find("asan") ~= nil

local run_lua = helper.run_fresh

-- A deterministic pseudo-random number in 1..n.
local seed = 42
local function rand(n)
   seed = (seed * 1103515245 + 12345) % 2147483648
   return seed % n + 1
end

describe("the arena", function()
   it("serves the state that loaded the core first", function()
      local stats = core.arena_stats()
      if sanitized then
         assert.is_nil(stats)
      else
         assert.is_table(stats)
         assert.is_true(stats.live > 0)
         assert.is_true(stats.chunks >= 1)
      end
   end)

   it("keeps what blocks hold while they grow, shrink and are reused", function()
      local keep = {}
      for round = 1, 12 do
         for i = 1, 1500 do
            local n = rand(150)
            local t = {}
            for j = 1, n do t[j] = j * round end -- grows through many size classes
            for j = n, n // 2 + 1, -1 do t[j] = nil end
            t.k = round                           -- a rehash shrinks the array
            local c = string.char(64 + i % 26)
            keep[rand(400)] = { t = t, n = n // 2, round = round, s = c:rep(rand(1100)), c = c }
         end
         collectgarbage()
         for _, k in pairs(keep) do
            assert.equal(k.n, #k.t)
            for j = 1, k.n do assert.equal(j * k.round, k.t[j]) end
            assert.equal(k.c:rep(#k.s), k.s)
         end
      end
   end)

   it("takes back the blocks of finished tasks", function()
      if sanitized then return end
      helper.full_gc()
      local before = core.arena_stats().live
      helper.run(function()
         local tasks = {}
         for i = 1, 5000 do
            tasks[i] = asyncio.create_task(async(function(x)
               await(asyncio.sleep(0))
               return x
            end)(i))
         end
         local results = await(asyncio.gather(table.unpack(tasks)))
         assert.equal(5000, #results)
      end)
      helper.full_gc()
      local after = core.arena_stats().live
      assert.is_true(after < before + 500, ("live blocks went from %d to %d"):format(before, after))
   end)

   it("gives the chunks of a burst back once its blocks are freed", function()
      if sanitized then return end
      local out, status = run_lua([[
         local asyncio = require("asyncio")
         local core = require("asyncio.core")
         local function bytes()
            collectgarbage()
            collectgarbage()
            return core.arena_stats().bytes
         end
         local before = bytes()
         asyncio.run(function()
            local tasks = {}
            for i = 1, 50000 do
               tasks[i] = asyncio.create_task(asyncio.async(function()
                  asyncio.await(asyncio.sleep(0))
               end)())
            end
            asyncio.await(asyncio.gather(table.unpack(tasks)))
            _G.peak = bytes() -- the tasks are still referenced here
         end)
         local after = bytes()
         -- a few blocks that outlive the burst may pin a chunk or two (8
         -- MiB each, asked for with 2 MiB more to align them); no more
         print(_G.peak > before + (20 << 20), after - before <= 2 * (10 << 20))
      ]])
      assert.equal(0, status)
      assert.equal("true\ttrue\n", out)
   end)

   it("keeps big blocks whole as tables grow past 2 MiB, shrink and are freed", function()
      if sanitized then return end
      local out, status = run_lua([[
         local core = require("asyncio.core")
         local function stats()
            collectgarbage()
            collectgarbage()
            return core.arena_stats()
         end
         local before = stats()
         local array, hash = {}, {}
         for i = 1, 600000 do array[i] = i * 3 end       -- doublings: 2, 4, 8 MiB arrays
         for i = 1, 200000 do hash["k" .. i] = i end     -- a big hash part
         local grown = stats()
         for i = 1, 600000 do assert(array[i] == i * 3) end
         for i = 1, 200000 do assert(hash["k" .. i] == i) end
         for i = 600000, 1001, -1 do array[i] = nil end  -- a rehash shrinks it
         array.x = true
         for i = 1, 200000 do hash["k" .. i] = nil end
         hash.y = 1
         local shrunk = stats()
         for i = 1, 1000 do assert(array[i] == i * 3) end
         array, hash = nil, nil
         local after = stats()
         print(grown.big_blocks >= before.big_blocks + 2, grown.big_bytes >= 10 << 20,
               shrunk.big_bytes < grown.big_bytes, after.big_blocks == before.big_blocks,
               after.live <= before.live + 10)
      ]])
      assert.equal(0, status)
      assert.equal("true\ttrue\ttrue\ttrue\ttrue\n", out)
   end)

   it("serves long strings and deep stacks from big blocks, made and freed in any order", function()
      if sanitized then return end
      local out, status = run_lua([[
         local core = require("asyncio.core")
         local seed = 7
         local function rand(n)
            seed = (seed * 1103515245 + 12345) % 2147483648
            return seed % n + 1
         end
         local live, made = {}, 0
         for _ = 1, 300 do                 -- enough to rehash the table of blocks
            local k = rand(40)
            if live[k] then
               local s = live[k]
               assert(#s == s:byte(1) * 4096 + (2 << 20) and s == s:sub(1, 1):rep(#s))
               live[k] = nil
            else
               local c = rand(200)
               live[k] = string.char(c):rep(c * 4096 + (2 << 20))
               made = made + 1
            end
            if made % 50 == 0 then collectgarbage() end
         end
         -- a Lua stack of 300,000 values (2 MiB and more) grows and shrinks
         local t = {}
         for i = 1, 300000 do t[i] = i end
         local function count(...) return select("#", ...), (select(300000, ...)) end
         local n, last = count(table.unpack(t))
         local peak = core.arena_stats().big_blocks
         live, t = nil, nil
         collectgarbage()
         collectgarbage()
         print(n, last, peak > 5, core.arena_stats().big_blocks < peak)
      ]])
      assert.equal(0, status)
      assert.equal("300000\t300000\ttrue\ttrue\n", out)
   end)

   it("lets the process end cleanly after lua_close frees everything through it", function()
      -- lua_close unloads the core before it frees the last blocks: this
      -- crashed until the core pinned its library
      local out, status = run_lua([[
         local asyncio = require("asyncio")
         local t = {}
         for i = 1, 20000 do t[i] = { i, tostring(i) } end
         asyncio.run(asyncio.async(function()
            for _ = 1, 100 do asyncio.await(asyncio.sleep(0)) end
         end)())
         local stats = require("asyncio.core").arena_stats()
         print(stats ~= nil, stats and stats.live > 20000)
      ]])
      assert.equal(0, status)
      assert.equal("true\ttrue\n", out)
   end)

   -- The spare chunk (src/prefault.c): once the arena takes chunks of the
   -- largest size, a thread writes to the pages of the next one until the
   -- arena takes it; a write that landed after that would clobber a block.
   local prefault_script = [[
      local asyncio = require("asyncio")
      local core = require("asyncio.core")
      local spare, bad = 0, 0
      for round = 1, 4 do
         local keep = {}
         asyncio.run(asyncio.async(function()
            local tasks = {}
            for i = 1, 30000 do -- each task's coroutine and frames: fresh chunks
               tasks[i] = asyncio.create_task(asyncio.async(function(k)
                  local t = { k, k * 3, ("x"):rep(k % 200) }
                  asyncio.await(asyncio.sleep(0))
                  return t
               end)(i))
            end
            keep = asyncio.await(asyncio.gather(table.unpack(tasks, 1, 30000)))
         end)())
         spare = math.max(spare, core.arena_stats().spare_bytes)
         for i = 1, 30000 do
            local t = keep[i]
            if t[1] ~= i or t[2] ~= i * 3 or #t[3] ~= i % 200 or t[3] ~= ("x"):rep(i % 200) then
               bad = bad + 1
            end
         end
         keep = nil -- luacheck: ignore 311 (for the collector)
         collectgarbage()
         collectgarbage() -- empty chunks go back, and are taken again next round
      end
      print(bad, spare > 0)
   ]]

   local function cpus()
      local p = io.popen("nproc") -- the CPUs this process may use
      local n = tonumber(p:read("l"))
      p:close()
      return n or 1
   end

   -- Runs the scenario with env: no block may lose what it holds, and a
   -- spare chunk is kept or not, as spare says.
   local function check_prefault(env, spare)
      local out, status = run_lua(prefault_script, env)
      assert.equal(0, status)
      assert.equal(("0\t%s\n"):format(tostring(spare)), out)
   end

   it("faults in a spare chunk ahead on a thread, and no block loses what it holds", function()
      if sanitized then return end
      check_prefault(nil, cpus() > 1)
   end)

   it("stops the thread before the arena takes the spare, however far it got", function()
      -- ASYNCIO_PREFAULT=slow: the thread pauses after each page, so the
      -- arena takes spares it has not finished
      if sanitized then return end
      check_prefault("ASYNCIO_PREFAULT=slow", cpus() > 1)
   end)

   it("keeps no spare chunk when the process may use one CPU only", function()
      if sanitized then return end
      -- run_fresh puts its environment before the command: env runs it
      check_prefault("taskset -c 0 env", false)
   end)

   -- The kernel's setting for transparent huge pages: "always", "madvise"
   -- or "never" (nil when it has none).
   local function thp_mode()
      local f = io.open("/sys/kernel/mm/transparent_hugepage/enabled")
      if not f then return nil end
      local line = f:read("l")
      f:close()
      return line and line:match("%[(%a+)%]")
   end

   it("advises no huge pages unless ASYNCIO_HUGEPAGES is 1", function()
      if sanitized or thp_mode() ~= "madvise" then return end -- only advice tells
      local script = [[
         require("asyncio")
         local t = {}
         for i = 1, 200000 do t[i] = { i } end -- chunks and big blocks
         local f = io.open("/proc/self/smaps_rollup")
         local kb = f:read("a"):match("AnonHugePages:%s*(%d+)")
         f:close()
         print(#t, tonumber(kb) > 0)
      ]]
      local out, status = run_lua(script)
      assert.equal(0, status)
      assert.equal("200000\tfalse\n", out)
      -- with the advice, the same work keeps what it holds (whether the
      -- kernel had huge pages at hand is its business)
      check_prefault("ASYNCIO_HUGEPAGES=1", cpus() > 1)
   end)

   it("keeps no spare chunk when ASYNCIO_PREFAULT is 0", function()
      if sanitized then return end
      check_prefault("ASYNCIO_PREFAULT=0", false)
   end)

   it("is left out when ASYNCIO_ARENA is 0", function()
      local out, status = run_lua([[print(require("asyncio.core").arena_stats())]], "ASYNCIO_ARENA=0")
      assert.equal(0, status)
      assert.equal("nil\n", out)
   end)

   it("is not taken by the states of worker threads", function()
      local in_worker = helper.run(function()
         return await(asyncio.to_thread(function()
            return require("asyncio.core").arena_stats() == nil
         end))
      end)
      assert.is_true(in_worker)
   end)
end)
