-- Hundreds of tasks waiting in every kind of wait the library has (queues,
-- locks, semaphores, events, conditions, barriers, timeouts, wait_for,
-- threads and a loop thread, TCP and Unix streams, a writer held back by a
-- slow reader, UDP, subprocess pipes and a killed child, task groups,
-- gather, shield),
-- cancelled at random moments, with full collections in between. Where
-- tools/fuzz.lua calls functions with odd arguments, this drives correct
-- programs through their unlikely interleavings: the run must end with
-- every task done, and under the sanitizers (`make stress`) with no memory
-- error.
--
--   make stress                   (ASan build, seeds 1-8)
--   lua5.4 tools/stress.lua SEED [ROUNDS]
--
-- A run that has not ended after STRESS_WATCHDOG seconds (60) prints where
-- every task is suspended and exits with status 3.
local asyncio = require("asyncio")
local await = asyncio.await

-- a seed that is no integer would run seed 1 while claiming another
local seed = math.tointeger(tonumber(arg[1] or 1))
  or error(("seed must be an integer, got '%s'"):format(arg[1]), 0)
local rounds = tonumber(arg[2]) or 40
math.randomseed(seed)
local R = math.random

-- Reports a hang: where each task waits.
local function watchdog(loop, main)
   return loop:call_later(tonumber(os.getenv("STRESS_WATCHDOG")) or 60, function()
      io.stderr:write("stress: seed ", seed, " hung; its tasks:\n")
      for task in pairs(asyncio.all_tasks(loop)) do
         io.stderr:write(tostring(task), "\n", task:traceback(), "\n---\n")
      end
      io.stderr:write("the main task: ", main:traceback(), "\n")
      os.exit(3)
   end)
end

-- An echo server of lines, flushing now and then.
local function echo_server()
   return asyncio.start_server(function(reader, writer)
      local _ <close> = writer
      while true do
         local line = await(reader:readline())
         if not line then
            break
         end
         writer:write(line)
         if R() < 0.3 then
            await(writer:drain())
         end
      end
   end, "127.0.0.1", 0)
end

-- A to-be-closed value that runs f on leaving the scope, however it is
-- left: a cancellation too.
local function finally(f)
   return setmetatable({}, { __close = f })
end

-- Bodies of tasks, one per kind of wait, over the shared objects in s.
local function kinds(s)
   return {
      function() await(s.queue:put(R(100))) end,
      function() return await(s.queue:get()) end,
      function()
         await(s.lifo:put(1))
         await(s.lifo:get())
      end,
      function()
         await(s.prio:put({ R(5), R(5) }))
         return await(s.prio:get())
      end,
      function()
         local _ <close> = await(s.lock:acquire())
         await(asyncio.sleep(R() * 0.002))
      end,
      function()
         local _ <close> = await(s.sem:acquire())
         await(asyncio.sleep(0))
      end,
      function() await(s.event:wait()) end,
      function()
         local _ <close> = await(s.cond:acquire())
         await(s.cond:wait())
      end,
      function() await(s.barrier:wait()) end,
      function() return await(asyncio.wait_for(asyncio.sleep(R() * 0.003, "x"), R() * 0.003)) end,
      function()
         local _ <close> = asyncio.timeout(R() * 0.003)
         await(asyncio.sleep(0.01))
      end,
      function()
         return await(asyncio.to_thread(function(n)
            local sum = 0
            for i = 1, n do
               sum = sum + i
            end
            return sum
         end, R(1000)))
      end,
      function()
         local reader, writer = await(asyncio.open_connection("127.0.0.1", s.port))
         local _ <close> = writer
         writer:write(("x"):rep(R(10000)) .. "\n")
         return await(reader:readline())
      end,
      function()
         local proc = await(asyncio.create_subprocess_exec("cat", {},
            { stdin = asyncio.PIPE, stdout = asyncio.PIPE }))
         return await(proc:communicate(("y"):rep(R(5000))))
      end,
      function()
         local tg <close> = asyncio.TaskGroup()
         for _ = 1, R(3) do
            tg:create_task(asyncio.sleep(R() * 0.002))
         end
      end,
      function()
         return await(asyncio.gather(asyncio.sleep(0), asyncio.sleep(R() * 0.001), { return_exceptions = true }))
      end,
      function() return await(asyncio.shield(asyncio.sleep(R() * 0.002))) end,
      function()
         -- a datagram to the echo endpoint, its answer awaited
         local ep = await(asyncio.open_datagram({ remote_host = "127.0.0.1", remote_port = s.udp_port }))
         local _ <close> = finally(function() ep:close() end)
         ep:send(("d"):rep(R(500)))
         return await(ep:recv())
      end,
      function()
         local reader, writer = await(asyncio.open_unix_connection(s.unix_path))
         local _ <close> = writer
         writer:write("u" .. ("v"):rep(R(2000)) .. "\n")
         return await(reader:readexactly(2)), await(reader:readuntil("\n"))
      end,
      function()
         -- a child that would run long, killed, or cancelled while waiting
         local proc = await(asyncio.create_subprocess_exec("sleep", { "5" }))
         local _ <close> = finally(function()
            if proc.returncode == nil then
               proc:kill()
            end
         end)
         await(asyncio.sleep(R() * 0.002))
         proc:kill()
         return await(proc:wait())
      end,
      function()
         -- writes past the high-water mark to a reader that reads slowly
         local reader, writer = await(asyncio.open_connection("127.0.0.1", s.slow_port))
         local _ <close> = writer
         for _ = 1, R(8) do
            writer:write(("w"):rep(65536))
            await(writer:drain())
         end
         return reader
      end,
      function()
         return await(s.thread:run_coroutine_threadsafe(function(n)
            local a = require("asyncio")
            a.await(a.sleep(0))
            return n
         end, R(10)))
      end,
   }
end

-- A datagram endpoint that sends every datagram back to its sender.
local function udp_echo()
   local ep = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
   local task = asyncio.create_task(function()
      while true do
         local data, host, port = await(ep:recv())
         if data == nil then
            return
         end
         ep:send(data, host, port)
      end
   end)
   return ep, task
end

-- A server that reads 4 KiB at a time with pauses, so that writers wait in
-- drain().
local function slow_server()
   return asyncio.start_server(function(reader, writer)
      local _ <close> = writer
      while await(reader:read(4096)) do
         await(asyncio.sleep(0.001))
      end
   end, "127.0.0.1", 0)
end

-- One random disturbance from the main task: a cancel (with or without a
-- message), the event flipped, the condition notified, the barrier reset,
-- an item taken without waiting, a full collection.
local function disturb(s, tasks)
   if R() < 0.3 then
      collectgarbage("collect")
   end
   local task = tasks[R(#tasks)]
   task:cancel(R() < 0.5 and "stress" or nil)
   local r = R()
   if r < 0.2 then
      s.event:set()
   elseif r < 0.4 then
      s.event:clear()
   end
   if R() < 0.2 then
      local _ <close> = await(s.cond:acquire())
      if R() < 0.5 then
         s.cond:notify(R(2))
      else
         s.cond:notify_all()
      end
   end
   if R() < 0.05 then
      await(s.barrier:reset())
   end
   if R() < 0.1 then
      pcall(s.queue.get_nowait, s.queue)
   end
end

-- every third seed in debug mode, whose notes on each future, task, handle
-- and coroutine object are more for the collector to get right
local debug_mode = seed % 3 == 0

asyncio.run(function()
   local loop = asyncio.get_running_loop()
   if debug_mode then
      loop:set_debug(true)
      loop.slow_callback_duration = math.huge -- a sanitized build is slow: no reports
   end
   local guard = watchdog(loop, asyncio.current_task())
   local server = await(echo_server())
   local slow = await(slow_server())
   local unix_path = os.tmpname()
   os.remove(unix_path)
   local unix_server = await(asyncio.start_unix_server(function(reader, writer)
      local _ <close> = writer
      local line = await(reader:readline())
      if line then
         writer:write(line)
      end
   end, unix_path))
   local udp, udp_task = udp_echo()
   local s = {
      slow_port = select(2, slow:getsockname()),
      unix_path = unix_path,
      udp_port = select(2, udp:getsockname()),
      thread = asyncio.start_loop_thread(),
      queue = asyncio.Queue(2), lifo = asyncio.LifoQueue(1), prio = asyncio.PriorityQueue(),
      lock = asyncio.Lock(), sem = asyncio.BoundedSemaphore(2), event = asyncio.Event(),
      cond = asyncio.Condition(), barrier = asyncio.Barrier(3),
      port = select(2, server:getsockname()),
   }
   local bodies = kinds(s)
   local tasks = {}
   for _ = 1, rounds do
      for _ = 1, 20 do
         tasks[#tasks + 1] = asyncio.create_task(bodies[R(#bodies)])
      end
      for _ = 1, R(5) do
         await(asyncio.sleep(R() < 0.5 and 0 or R() * 0.002))
         disturb(s, tasks)
      end
   end
   for _, task in ipairs(tasks) do
      task:cancel()
   end
   local list = table.move(tasks, 1, #tasks, 1, {})
   list[#list + 1] = { return_exceptions = true }
   await(asyncio.gather(table.unpack(list)))
   for i, task in ipairs(tasks) do
      assert(task:done(), ("task %d is not done"):format(i))
   end
   collectgarbage("collect") -- writers of cancelled clients close when collected
   for _, srv in ipairs({ server, slow, unix_server }) do
      srv:close()
      await(srv:wait_closed())
   end
   udp:close()
   await(udp_task)
   s.thread:stop()
   s.thread:join()
   guard:cancel()
   print(("stress: seed %d%s: %d tasks, all done"):format(seed, debug_mode and " (debug mode)" or "", #tasks))
end)
