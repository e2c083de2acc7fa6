-- The benchmark workloads on this repository's asyncio library, written
-- against shared/API.md only (the runner loads the library from the checkout
-- through LUA_PATH and LUA_CPATH).
--   lua5.4 bench.lua spawn|switch|pingpong|timers|queue N
--   lua5.4 bench.lua echo PORT [drain]   (echo server, one task per connection)
-- Prints one RESULT line; bench/README.md describes the workloads.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local C = dofile(dir .. "/../lib/common.lua")
local asyncio = require "asyncio"
local async, await = asyncio.async, asyncio.await

local W = {}

-- A clock for the running task: the loop's monotonic time, read afresh at
-- each call (API.md §2), as the other runtimes read theirs.
local function clock()
   local loop = asyncio.get_running_loop()
   return function() return loop:time() end
end

W.spawn = async(function(n)
   local now = clock()
   local work = async(function(i)
      await(asyncio.sleep(0))
      return i
   end)
   local rss0 = C.mem()
   local t0 = now()
   local tasks = {}
   for i = 1, n do tasks[i] = asyncio.create_task(work(i)) end
   local results = await(asyncio.gather(table.unpack(tasks, 1, n)))
   local dt = now() - t0
   local sum = 0
   for i = 1, n do sum = sum + results[i] end
   C.check(sum == n * (n + 1) // 2, "sum of task results")
   local _, hwm = C.mem()
   C.result("spawn", "aio", { { "tasks_per_s", n / dt }, { "peak_rss_mb", hwm / 2^20, "%.1f" },
                              { "bytes_per_task", (hwm - rss0) / n } })
end)

W.switch = async(function(n)
   local now = clock()
   local t0 = now()
   for _ = 1, n do await(asyncio.sleep(0)) end
   local dt = now() - t0
   C.result("switch", "aio", { { "ns_per_yield", dt / n * 1e9 } })
end)

W.pingpong = async(function(n)
   local now = clock()
   local ping = async(function(a2b, b2a)
      local v = 0
      for _ = 1, n do
         await(a2b:put(v))
         v = await(b2a:get())
      end
      return v
   end)
   local pong = async(function(a2b, b2a)
      for _ = 1, n do await(b2a:put(await(a2b:get()) + 1)) end
   end)
   local a2b, b2a = asyncio.Queue(1), asyncio.Queue(1)
   local t0 = now()
   local results = await(asyncio.gather(asyncio.create_task(ping(a2b, b2a)),
                                        asyncio.create_task(pong(a2b, b2a))))
   local dt = now() - t0
   C.check(results[1] == n, "final ping value")
   C.result("pingpong", "aio", { { "roundtrips_per_s", n / dt }, { "ns_per_roundtrip", dt / n * 1e9 } })
end)

W.timers = async(function(n)
   local now = clock()
   local max_late, min_late, sum_late = -math.huge, math.huge, 0
   local sleeper = async(function(ms)
      local start = now()
      await(asyncio.sleep(ms / 1000))
      local late = now() - start - ms / 1000
      sum_late = sum_late + late
      if late > max_late then max_late = late end
      if late < min_late then min_late = late end
   end)
   local delay = C.lcg()
   local rss0 = C.mem()
   local t0 = now()
   local tasks = {}
   for i = 1, n do tasks[i] = asyncio.create_task(sleeper(delay())) end
   await(asyncio.gather(table.unpack(tasks, 1, n)))
   local wall = now() - t0
   local _, hwm = C.mem()
   C.result("timers", "aio", { { "wall_s", wall, "%.3f" }, { "max_late_ms", max_late * 1e3, "%.2f" },
      { "mean_late_ms", sum_late / n * 1e3, "%.2f" }, { "min_late_ms", min_late * 1e3, "%.2f" },
      { "bytes_per_task", (hwm - rss0) / n }, { "peak_rss_mb", hwm / 2^20, "%.1f" } })
end)

W.queue = async(function(n)
   local now = clock()
   local consumers = 4
   local producer = async(function(q)
      for i = 1, n do await(q:put(i)) end
      for _ = 1, consumers do await(q:put(-1)) end -- one end marker per consumer
   end)
   local consumer = async(function(q)
      local sum = 0
      while true do
         local v = await(q:get())
         if v < 0 then return sum end
         sum = sum + v
      end
   end)
   local q = asyncio.Queue(100)
   local t0 = now()
   local tasks = { asyncio.create_task(producer(q)) }
   for i = 1, consumers do tasks[i + 1] = asyncio.create_task(consumer(q)) end
   local results = await(asyncio.gather(table.unpack(tasks, 1, consumers + 1)))
   local dt = now() - t0
   local sum = 0
   for i = 2, consumers + 1 do sum = sum + results[i] end
   C.check(sum == n * (n + 1) // 2, "sum of consumed items")
   C.result("queue", "aio", { { "items_per_s", n / dt } })
end)

-- As the luv, cqueues and Node servers: echo whatever one read returns and
-- do not wait for the write to complete. With the argument `drain`, await
-- writer:drain() after each write as the Python server does.
W.echo = async(function(port)
   local drain = arg[3] == "drain"
   local serve = async(function(reader, writer)
      local ok, err = pcall(function()
         while true do
            local data = await(reader:read(65536))
            if not data then break end -- end of stream
            writer:write(data)
            if drain then await(writer:drain()) end
         end
      end)
      writer:close()
      -- the client drops its connections when it stops: resets are expected
      if not ok and not asyncio.OSError:is(err) then error(err, 0) end
   end)
   local server = await(asyncio.start_server(serve, "127.0.0.1", port, { backlog = 1024 }))
   await(server:serve_forever())
end)

local workload, n = C.args("spawn|switch|pingpong|timers|queue N | echo PORT [drain]")
local fn = W[workload] or error("unknown workload '" .. workload .. "'")
asyncio.run(fn(n))
