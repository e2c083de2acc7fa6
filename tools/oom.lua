-- The scenario of tools/oom.sh: the library's common paths, run under an
-- allocator that fails at one chosen allocation (tools/oomhost.c). Each
-- stage is bounded by a timeout guard, so a callback lost to the memory
-- error ends the run with TimeoutError instead of a wait that never ends:
-- what still hangs is a task the runtime itself lost.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local async, await = asyncio.async, asyncio.await

local function scenario()
   local _ <close> = asyncio.timeout(2)
   local loop = asyncio.get_running_loop()
   local work = async(function(i)
      await(asyncio.sleep(0))
      return i
   end)
   local tasks = {}
   for i = 1, 20 do
      tasks[i] = asyncio.create_task(work(i))
   end
   await(asyncio.gather(table.unpack(tasks)))
   -- several results: their table is made when the task ends
   await(asyncio.create_task(async(function() await(asyncio.sleep(0)); return 1, 2 end)()))
   await(asyncio.gather(work(1), work(2), asyncio.sleep(0.001)))
   local q = asyncio.Queue(2)
   local producer = asyncio.create_task(async(function()
      for i = 1, 10 do
         await(q:put(i))
      end
   end)())
   for _ = 1, 10 do
      await(q:get())
   end
   await(producer)
   local lock, event = asyncio.Lock(), asyncio.Event()
   local holder = asyncio.create_task(async(function()
      local _ <close> = await(lock:acquire())
      await(event:wait())
   end)())
   await(asyncio.sleep(0))
   event:set()
   await(holder)
   pcall(await, asyncio.wait_for(asyncio.sleep(1), 0.001))
   do
      local _ <close> = asyncio.timeout(1)
      await(asyncio.sleep(0))
   end
   local fut = loop:create_future()
   loop:call_soon(function() fut:set_result(1) end)
   await(fut)
   loop:call_later(0.001, function() end)
   loop:call_at(loop:time() + 10, print):cancel()
   local sleeper = asyncio.create_task(async(function() await(asyncio.sleep(10)) end)())
   await(asyncio.sleep(0))
   sleeper:cancel()
   pcall(await, sleeper)
   do
      local tg <close> = asyncio.TaskGroup()
      tg:create_task(work(1))
      tg:create_task(work(2))
   end
   loop:set_task_factory(asyncio.eager_task_factory)
   await(asyncio.gather(work(1), work(2)))
   loop:set_task_factory(nil)
   await(asyncio.wait({ work(1), work(2) }))
   for aw in asyncio.as_completed({ work(1), work(2) }) do
      await(aw)
   end
   await(asyncio.shield(work(3)))
   pcall(await, asyncio.create_task(async(function() error("x") end)()))
   -- a handler run inside the poll that sees its signal, as asyncio.run's
   -- SIGINT handler: what fire() allocates must not escape ev_run
   loop:_add_signal_handler_now("SIGINT", function() end)
   core.kill(core.getpid(), "SIGINT")
   await(asyncio.sleep(0.01))
   loop:remove_signal_handler("SIGINT")
end

dofile("tools/oom_run.lua")(scenario)
