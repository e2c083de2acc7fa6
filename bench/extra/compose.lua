-- gather of N trivial coroutine objects, and wait_for on N tasks that are
-- about to finish, one after the other (README.md). Prints RESULT lines.
-- With "eager", tasks start inside create_task (the eager task factory),
-- as Node's async functions run up to their first await when called.
--
--    lua5.4 bench/extra/compose.lua gather|wait_for [N] [eager]

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local workload = arg[1] or "gather"
local N = tonumber(arg[2]) or (workload == "gather" and 200000 or 100000)
local eager = arg[3] == "eager"

local trivial = async(function(i)
   return i
end)

local function report(dt)
   print(("RESULT %s %s n=%d total_ms=%.1f ns_per_op=%.0f"):format(
      workload, eager and "aio-eager" or "aio", N, dt * 1e3, dt / N * 1e9))
end

local function gather()
   local loop = asyncio.get_running_loop()
   local t0 = loop:time()
   local coros = {}
   for i = 1, N do
      coros[i] = trivial(i)
   end
   local results = await(asyncio.gather(table.unpack(coros, 1, N)))
   local dt = loop:time() - t0
   assert(results.n == N and results[N] == N, "gather results")
   report(dt)
end

local function wait_for()
   local loop = asyncio.get_running_loop()
   local create_task, wait_for_ = asyncio.create_task, asyncio.wait_for
   local t0 = loop:time()
   local sum = 0
   for i = 1, N do
      sum = sum + await(wait_for_(create_task(trivial(i)), 10))
   end
   local dt = loop:time() - t0
   assert(sum == N * (N + 1) // 2, "wait_for results")
   report(dt)
end

asyncio.run(function()
   if eager then
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
   end
   return (workload == "gather" and gather or wait_for)()
end)
