-- The benchmark workloads on cqueues, with the helpers of tasks.lua.
--   lua5.4 bench.lua spawn|switch|pingpong|timers|queue N
--   lua5.4 bench.lua echo PORT        (echo server, one coroutine per connection)
-- Prints one RESULT line; bench/README.md describes the workloads.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local C = dofile(dir .. "/../../lib/common.lua")
local T = require "tasks"

local W = {}

function W.spawn(n)
   local function work(i)
      T.sleep(0)
      return i
   end
   local rss0 = C.mem()
   local t0 = T.now()
   local tasks = {}
   for i = 1, n do tasks[i] = T.spawn(work, i) end
   local results = T.gather(tasks)
   local dt = T.now() - t0
   local sum = 0
   for i = 1, n do sum = sum + results[i] end
   C.check(sum == n * (n + 1) // 2, "sum of task results")
   local _, hwm = C.mem()
   C.result("spawn", "cqueues", { { "tasks_per_s", n / dt }, { "peak_rss_mb", hwm / 2^20, "%.1f" },
                                  { "bytes_per_task", (hwm - rss0) / n } })
end

function W.switch(n)
   local t0 = T.now()
   for _ = 1, n do T.sleep(0) end
   local dt = T.now() - t0
   C.result("switch", "cqueues", { { "ns_per_yield", dt / n * 1e9 } })
end

function W.pingpong(n)
   local function ping(a2b, b2a)
      local v = 0
      for _ = 1, n do
         a2b:put(v)
         v = b2a:get()
      end
      return v
   end
   local function pong(a2b, b2a)
      for _ = 1, n do b2a:put(a2b:get() + 1) end
   end
   local a2b, b2a = T.Queue(1), T.Queue(1)
   local t0 = T.now()
   local results = T.gather { T.spawn(ping, a2b, b2a), T.spawn(pong, a2b, b2a) }
   local dt = T.now() - t0
   C.check(results[1] == n, "final ping value")
   C.result("pingpong", "cqueues", { { "roundtrips_per_s", n / dt }, { "ns_per_roundtrip", dt / n * 1e9 } })
end

function W.timers(n)
   local max_late, min_late, sum_late = -math.huge, math.huge, 0
   local function sleeper(ms)
      local start = T.now()
      T.sleep(ms / 1000)
      local late = T.now() - start - ms / 1000
      sum_late = sum_late + late
      if late > max_late then max_late = late end
      if late < min_late then min_late = late end
   end
   local delay = C.lcg()
   local rss0 = C.mem()
   local t0 = T.now()
   local tasks = {}
   for i = 1, n do tasks[i] = T.spawn(sleeper, delay()) end
   T.gather(tasks)
   local wall = T.now() - t0
   local _, hwm = C.mem()
   C.result("timers", "cqueues", { { "wall_s", wall, "%.3f" }, { "max_late_ms", max_late * 1e3, "%.2f" },
      { "mean_late_ms", sum_late / n * 1e3, "%.2f" }, { "min_late_ms", min_late * 1e3, "%.2f" },
      { "bytes_per_task", (hwm - rss0) / n }, { "peak_rss_mb", hwm / 2^20, "%.1f" } })
end

function W.queue(n)
   local consumers = 4
   local function producer(q)
      for i = 1, n do q:put(i) end
      for _ = 1, consumers do q:put(-1) end -- one end marker per consumer
   end
   local function consumer(q)
      local sum = 0
      while true do
         local v = q:get()
         if v < 0 then return sum end
         sum = sum + v
      end
   end
   local q = T.Queue(100)
   local t0 = T.now()
   local tasks = { T.spawn(producer, q) }
   for i = 1, consumers do tasks[i + 1] = T.spawn(consumer, q) end
   local results = T.gather(tasks)
   local dt = T.now() - t0
   local sum = 0
   for i = 2, consumers + 1 do sum = sum + results[i] end
   C.check(sum == n * (n + 1) // 2, "sum of consumed items")
   C.result("queue", "cqueues", { { "items_per_s", n / dt } })
end

function W.echo(port)
   local socket = require "cqueues.socket"
   local function serve(conn)
      conn:setmode("bn", "bn") -- binary; no output buffering: each write is sent at once
      conn:onerror(function(_, _, err) return err end) -- a reset ends the loop, not the program
      while true do
         local data = conn:read(-65536) -- whatever has arrived, up to 64 KiB
         if not data then break end
         conn:write(data)
      end
      conn:close()
   end
   local server = socket.listen { host = "127.0.0.1", port = port, reuseaddr = true, backlog = 1024 }
   for conn in server:clients { nodelay = true } do
      T.spawn(serve, conn)
   end
end

local workload, n = C.args("spawn|switch|pingpong|timers|queue N | echo PORT")
local fn = W[workload] or error("unknown workload '" .. workload .. "'")
T.run(function() fn(n) end)
