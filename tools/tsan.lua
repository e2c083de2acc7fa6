-- Every path by which threads meet, for ThreadSanitizer (`make tsan`):
-- jobs of the default executor and of a ThreadPoolExecutor calling back
-- into the loop, loop threads fed by call_soon_threadsafe and
-- run_coroutine_threadsafe while the poster's own loop waits, concurrent
-- futures waited on from both sides, host names resolved off the loop,
-- loop threads doing I/O of their own, executors shut down with queued
-- jobs, the arena's prefault thread, and loop threads stopped and joined
-- with work still posted. It checks
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

-- A loop thread doing I/O of its own (a TCP echo through its loop, a
-- child process), a job that fails, and a concurrent future waited on with
-- a timeout that passes.
local function io_thread_round()
   local handle = asyncio.start_loop_thread()
   local echoed = await(handle:run_coroutine_threadsafe(function()
      local a = require("asyncio")
      local server = a.await(a.start_server(function(reader, writer)
         writer:write(a.await(reader:readline()))
         writer:close()
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local reader, writer = a.await(a.open_connection("127.0.0.1", port))
      writer:write("ping\n")
      local line = a.await(reader:readline())
      writer:close()
      server:close()
      local proc = a.await(a.create_subprocess_exec("echo", { "child" }, { stdout = a.PIPE }))
      local out = a.await(proc:communicate())
      return line .. out
   end))
   assert(echoed == "ping\nchild\n", "a loop thread's own I/O")
   local slow = handle:run_coroutine_threadsafe(function()
      local a = require("asyncio")
      a.await(a.sleep(0.05))
      return "late"
   end)
   assert(not pcall(slow.result, slow, 0.001), "result(timeout) passes")
   assert(await(slow) == "late", "then the result")
   local ok, err = pcall(await, asyncio.to_thread(function() error("job failed", 0) end))
   assert(not ok and tostring(err):find("job failed", 1, true), "a job's error")
   handle:stop()
   handle:join()
end

-- An executor shut down with jobs still queued, their futures cancelled.
local function cancel_futures_round()
   local executor = asyncio.ThreadPoolExecutor(1)
   local futures = {}
   for i = 1, 6 do
      futures[i] = executor:submit(function(n) return n end, i)
   end
   executor:shutdown(true, true)
   for i = 1, 6 do
      local fut = futures[i]
      assert(fut:cancelled() or await(fut) == i, "done or cancelled")
   end
end

-- Memory enough for the arena to keep a spare chunk, which its thread
-- faults in while this one allocates (src/prefault.c).
local function arena_round()
   local t = {}
   for i = 1, 400000 do
      t[i] = { i }
   end
   local stats = require("asyncio.core").arena_stats()
   assert(stats == nil or stats.spare_bytes > 0, "the arena keeps a spare")
   return #t
end

asyncio.run(function()
   local loop = asyncio.get_running_loop()
   local executor = asyncio.ThreadPoolExecutor(3)
   arena_round()
   for _ = 1, rounds do
      executor_round(loop, nil)
      executor_round(loop, executor)
      loop_thread_round()
      io_thread_round()
      cancel_futures_round()
      local addrs = await(asyncio.getaddrinfo("127.0.0.1", 80))
      assert(#addrs > 0, "getaddrinfo")
      assert(await(asyncio.to_thread(function(a, b) return a .. b end, "x", "y")) == "xy", "to_thread")
   end
   executor:shutdown(true)
   print(("tsan: %d rounds, every result as expected"):format(rounds))
end)
