-- The benchmark workloads on luv, with the task layer of sched.lua.
--   lua5.4 bench.lua spawn|switch|pingpong|timers|queue N
--   lua5.4 bench.lua echo PORT        (echo server, one task per connection)
-- Prints one RESULT line; bench/README.md describes the workloads.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local C = dofile(dir .. "/../../lib/common.lua")
local uv = require "luv"
local S = require "sched"

local W = {}

function W.spawn(n)
   local function work(i)
      S.yield0()
      return i
   end
   local rss0 = C.mem()
   local t0 = S.now()
   local tasks = {}
   for i = 1, n do tasks[i] = S.spawn(work, i) end
   local results = S.gather(tasks)
   local dt = S.now() - t0
   local sum = 0
   for i = 1, n do sum = sum + results[i] end
   C.check(sum == n * (n + 1) // 2, "sum of task results")
   local _, hwm = C.mem()
   C.result("spawn", "luv", { { "tasks_per_s", n / dt }, { "peak_rss_mb", hwm / 2^20, "%.1f" },
                              { "bytes_per_task", (hwm - rss0) / n } })
end

function W.switch(n)
   local t0 = S.now()
   for _ = 1, n do S.yield0() end
   local dt = S.now() - t0
   C.result("switch", "luv", { { "ns_per_yield", dt / n * 1e9 } })
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
   local a2b, b2a = S.Queue(1), S.Queue(1)
   local t0 = S.now()
   local results = S.gather { S.spawn(ping, a2b, b2a), S.spawn(pong, a2b, b2a) }
   local dt = S.now() - t0
   C.check(results[1] == n, "final ping value")
   C.result("pingpong", "luv", { { "roundtrips_per_s", n / dt }, { "ns_per_roundtrip", dt / n * 1e9 } })
end

function W.timers(n)
   local max_late, min_late, sum_late = -math.huge, math.huge, 0
   local function sleeper(ms)
      local start = S.now()
      S.sleep(ms / 1000)
      local late = S.now() - start - ms / 1000
      sum_late = sum_late + late
      if late > max_late then max_late = late end
      if late < min_late then min_late = late end
   end
   local delay = C.lcg()
   local rss0 = C.mem()
   local t0 = S.now()
   local tasks = {}
   for i = 1, n do tasks[i] = S.spawn(sleeper, delay()) end
   S.gather(tasks)
   local wall = S.now() - t0
   local _, hwm = C.mem()
   C.result("timers", "luv", { { "wall_s", wall, "%.3f" }, { "max_late_ms", max_late * 1e3, "%.2f" },
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
   local q = S.Queue(100)
   local t0 = S.now()
   local tasks = { S.spawn(producer, q) }
   for i = 1, consumers do tasks[i + 1] = S.spawn(consumer, q) end
   local results = S.gather(tasks)
   local dt = S.now() - t0
   local sum = 0
   for i = 2, consumers + 1 do sum = sum + results[i] end
   C.check(sum == n * (n + 1) // 2, "sum of consumed items")
   C.result("queue", "luv", { { "items_per_s", n / dt } })
end

function W.echo(port)
   local function serve(stream)
      while true do
         local data = stream:read()
         if not data then break end
         stream:write(data)
      end
      stream:close()
   end
   local server = uv.new_tcp()
   assert(server:bind("127.0.0.1", port))
   assert(server:listen(1024, function(err)
      assert(not err, err)
      local conn = uv.new_tcp()
      server:accept(conn)
      conn:nodelay(true)
      S.spawn(serve, S.stream(conn))
   end))
   -- runs until the runner kills the process
end

local workload, n = C.args("spawn|switch|pingpong|timers|queue N | echo PORT")
local fn = W[workload] or error("unknown workload '" .. workload .. "'")
S.run(function() fn(n) end)
