-- Every path by which threads meet, for ThreadSanitizer (`make tsan`):
-- jobs of the default executor and of a ThreadPoolExecutor calling back
-- into the loop, loop threads fed by call_soon_threadsafe and
-- run_coroutine_threadsafe while the poster's own loop waits, concurrent
-- futures waited on from both sides, host names resolved off the loop,
-- and loop threads stopped and joined with work still posted. It checks
-- results, not timings: under the sanitizer everything is slow.
--
--   make tsan                     (a ThreadSanitizer build, ROUNDS=20)
--   lua5.4 tools/tsan.lua [ROUNDS]
local asyncio = require("asyncio")
local await = asyncio.await

local rounds = tonumber(arg[1]) or 20

-- Jobs that post back to the loop (call_soon_threadsafe from a worker),
-- gathered with the results of the jobs themselves.
local function executor_round(loop, executor)
   local posted = 0
   local function note()
      posted = posted + 1
   end
   local ref = loop -- a job gets a copy: the loop's ThreadRef
   local futures = {}
   for i = 1, 8 do
      futures[i] = loop:run_in_executor(executor, function(target, n)
         target:call_soon_threadsafe(function() end)
         local sum = 0
         for k = 1, n do
            sum = sum + k
         end
         return sum
      end, ref, i * 100)
      loop:call_soon_threadsafe(note)
   end
   local results = await(asyncio.gather(table.unpack(futures)))
   for i = 1, 8 do
      local n = i * 100
      assert(results[i] == n * (n + 1) // 2, "job result")
   end
   await(asyncio.sleep(0))
   assert(posted == 8, "call_soon_threadsafe from this thread")
end

-- A loop thread given calls and coroutines while this loop waits, then
-- stopped with one more call posted, and joined.
local function loop_thread_round()
   local handle = asyncio.start_loop_thread()
   local futures = {}
   for i = 1, 6 do
      handle:call_soon_threadsafe(function() end)
      futures[i] = handle:run_coroutine_threadsafe(function(n)
         local a = require("asyncio")
         a.await(a.sleep(0))
         return n * 2
      end, i)
   end
   for i = 1, 6 do
      assert(await(futures[i]) == i * 2, "run_coroutine_threadsafe result")
   end
   assert(futures[1]:result(5) == 2, "blocking result of a done future")
   handle:call_soon_threadsafe(function() end)
   handle:stop()
   handle:join()
end

asyncio.run(function()
   local loop = asyncio.get_running_loop()
   local executor = asyncio.ThreadPoolExecutor(3)
   for _ = 1, rounds do
      executor_round(loop, nil)
      executor_round(loop, executor)
      loop_thread_round()
      local addrs = await(asyncio.getaddrinfo("127.0.0.1", 80))
      assert(#addrs > 0, "getaddrinfo")
      assert(await(asyncio.to_thread(function(a, b) return a .. b end, "x", "y")) == "xy", "to_thread")
   end
   executor:shutdown(true)
   print(("tsan: %d rounds, every result as expected"):format(rounds))
end)
