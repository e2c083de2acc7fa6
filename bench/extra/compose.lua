-- gather of N trivial coroutine objects, wait_for on N tasks that are
-- about to finish, one after the other, and cancel of N sleeping tasks
-- (README.md). Prints RESULT lines.
-- With "eager", tasks start inside create_task (the eager task factory),
-- as Node's async functions run up to their first await when called.
--
--    lua5.4 bench/extra/compose.lua gather|wait_for|cancel [N] [eager]

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local workload = arg[1] or "gather"
local N = tonumber(arg[2]) or (workload == "gather" and 200000 or 100000)
local run = {}
local eager = arg[3] == "eager"

local trivial = async(function(i)
   return i
end)

local function report(dt)
   print(("RESULT %s %s n=%d total_ms=%.1f ns_per_op=%.0f"):format(
      workload, eager and "aio-eager" or "aio", N, dt * 1e3, dt / N * 1e9))
end

function run.gather()
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

function run.wait_for()
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

-- Each task ends by a CancelledError raised at its await, so each keeps
-- the traceback of where it was cancelled.
function run.cancel()
   local loop = asyncio.get_running_loop()
   local t0 = loop:time()
   local tasks = {}
   for i = 1, N do
      tasks[i] = asyncio.create_task(asyncio.sleep(10))
   end
   await(asyncio.sleep(0))
   for i = 1, N do
      tasks[i]:cancel()
   end
   tasks[N + 1] = { return_exceptions = true }
   local results = await(asyncio.gather(table.unpack(tasks, 1, N + 1)))
   local dt = loop:time() - t0
   assert(asyncio.CancelledError:is(results[N]), "cancel results")
   report(dt)
end

asyncio.run(function()
   if eager then
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
   end
   return assert(run[workload], "unknown workload")()
end)
