-- Memory safety: what the loop holds stays alive, what nothing holds is
-- collected and reported, and the collector can run at any moment.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function weak()
   return setmetatable({}, { __mode = "v" })
end

describe("garbage collection", function()
   it("keeps a pending task referenced only by the loop", function()
      local loop = asyncio.new_event_loop()
      local done = false
      local ref = weak()
      ref[1] = loop:create_task(async(function()
         await(asyncio.sleep(0.01))
         done = true
      end)())
      helper.full_gc()
      assert.is_not_nil(ref[1])
      loop:run_until_complete(asyncio.sleep(0.03))
      assert.is_true(done)
      loop:close()
   end)

   it("collects and reports a task waiting on a future nobody holds", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local ref = weak()
      do
         local fut = loop:create_future()
         ref[1] = loop:create_task(function() await(fut) end)
         loop:run_until_complete(asyncio.sleep(0))
      end
      helper.full_gc()
      assert.equal(1, #reports)
      assert.equal("Task was destroyed but it is pending!", reports[1].message)
      reports[1] = nil
      helper.full_gc()
      assert.is_nil(ref[1])
      loop:close()
   end)

   it("closes the to-be-closed variables of a collected pending task, as Python runs its finally", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local log = {}
      -- starts a task that waits, with a guard closed by on_close, on a
      -- future nothing else holds
      local function pending_with_guard(on_close)
         local fut = loop:create_future()
         loop:create_task(function()
            local guard <close> = setmetatable({}, { __close = on_close }) -- luacheck: ignore 211
            await(fut)
         end)
         loop:run_until_complete(asyncio.sleep(0))
      end
      pending_with_guard(function(_, err) log[#log + 1] = "closed " .. tostring(err) end)
      helper.full_gc()
      assert.same({ "closed nil" }, log)
      assert.equal(1, #reports)
      assert.equal("Task was destroyed but it is pending!", reports[1].message)
      -- a __close that fails, or tries to await, is part of the report
      pending_with_guard(function() await(asyncio.sleep(0)) end)
      helper.full_gc()
      assert.equal(2, #reports)
      assert.matches("await called outside of a running task", tostring(reports[2].error))
      loop:close()
   end)

   it("refuses a __gc called by hand on a live task, the collector stopped or not", helper.async(function()
      local fut = asyncio.get_running_loop():create_future()
      local t = asyncio.create_task(async(function() return await(fut) end)())
      await(asyncio.sleep(0))
      collectgarbage("stop")
      getmetatable(t).__gc(t)
      collectgarbage("restart")
      getmetatable(t).__gc(t)
      fut:set_result(5)
      assert.equal(5, await(t))
   end))

   it("reports the errors nobody retrieved at close in the order they failed", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local keep = {}
      for i = 1, 12 do
         keep[i] = loop:create_future()
         keep[i]:set_exception("e" .. i)
      end
      loop:close()
      local seen = {}
      for i, r in ipairs(reports) do seen[i] = r.error end
      assert.same({ "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11", "e12" }, seen)
   end)

   it("reports a collected gather's awaiting task, not the children gather made", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      do
         local fut = loop:create_future()
         local inner = async(function() await(fut) end)
         loop:create_task(async(function() await(asyncio.gather(inner(), inner())) end)(), { name = "outer" })
         loop:run_until_complete(asyncio.sleep(0))
         loop:run_until_complete(asyncio.sleep(0))
      end
      helper.full_gc()
      assert.equal(1, #reports) -- as Python's gather: _log_destroy_pending = False
      assert.equal("Task was destroyed but it is pending!", reports[1].message)
      assert.equal("outer", reports[1].task:get_name())
      loop:close()
   end)

   it("pending tasks of a loop never closed are reported at exit, as Python's", function()
      -- the seeds' fire-and-forget example: lua_close finalizes the tasks
      -- without clearing the loop's weak table of them
      local out, status = helper.run_fresh([[
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await
local forgotten = async(function() await(asyncio.sleep(10)) end)
local loop = asyncio.new_event_loop()
loop:run_until_complete(async(function()
   asyncio.ensure_future(forgotten())
   await(asyncio.sleep(0.01))
   print("main done")
end)())
]])
      assert.equal(0, status)
      assert.equal("main done\nTask was destroyed but it is pending!\ntask: <Task pending name=Task-2>\n", out)
      -- a task finished, or a loop closed by asyncio.run, leaves nothing to say
      out = helper.run_fresh([[
local asyncio = require("asyncio")
asyncio.run(function() asyncio.create_task(asyncio.sleep(10)) end)
print("ran")
]])
      assert.equal("ran\n", out)
   end)

   it("a collected pending task that a finalizer wakes again is left alone (no coroutine to resume)", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      do
         local fut = loop:create_future()
         loop:create_task(function() await(fut) end)
         loop:run_until_complete(asyncio.sleep(0))
         -- made after the task, finalized before it in the same cycle:
         -- wakes the task while the collector is closing its coroutine
         setmetatable({}, { __gc = function() fut:set_result("late") end })
      end
      helper.full_gc()
      loop:run_until_complete(asyncio.sleep(0)) -- steps the woken task: must not crash
      assert.is_true(#reports >= 1)
      loop:close()
   end)

   -- Growing the ready ring, or a future's callback list, allocates; a
   -- finalizer run by that allocation may queue entries or add callbacks
   -- too. Both used to lose entries (a task step lost is a task hung). Run
   -- in a fresh lua5.4, where the collector's pace makes it happen.
   local function run_fresh(code)
      return (helper.run_fresh('local asyncio = require("asyncio")\n' .. code))
   end

   it("loses no entry a finalizer queues while the ready ring grows", function()
      assert.equal("7000\t7000\n", run_fresh([[
local loop = asyncio.new_event_loop()
local queued, ran = 0, 0
local function cb() ran = ran + 1 end
for _ = 1, 100 do loop:call_soon(cb) end -- the ring's head moves off 0
loop:call_soon(loop.stop, loop)
loop:run_forever()
queued, ran = 0, 0
local mt = { __gc = function() queued = queued + 1; loop:call_soon(cb) end }
for _ = 1, 5000 do setmetatable({}, mt) end
for _ = 1, 2000 do queued = queued + 1; loop:call_soon(cb) end
collectgarbage()
loop:call_soon(loop.stop, loop)
loop:run_forever()
print(queued, ran)
]]))
   end)

   it("loses no callback a finalizer adds while a future's list grows", function()
      local out = run_fresh([[
local loop = asyncio.new_event_loop()
local added, ran, reports = 0, 0, 0
loop:set_exception_handler(function() reports = reports + 1 end)
local function cb() ran = ran + 1 end
local futs, cur = {}, nil
local mt = { __gc = function() if cur then added = added + 1; cur:add_done_callback(cb) end end }
for i = 1, 2000 do
   cur = loop:create_future()
   futs[i] = cur
   for _ = 1, 6 do
      added = added + 1
      cur:add_done_callback(cb)
      for _ = 1, 20 do setmetatable({}, mt) end
   end
end
cur = nil
for i = 1, #futs do futs[i]:set_result(i) end
loop:call_soon(loop.stop, loop)
loop:run_forever()
print(added == ran, reports)
]])
      assert.equal("true\t0\n", out)
   end)

   it("closes a loop that still has tasks, timers and readers", function()
      local loop = asyncio.new_event_loop()
      local r, w = core.pipe()
      loop:create_task(async(function() await(asyncio.sleep(10)) end)())
      loop:call_later(10, print)
      loop:add_reader(r, print)
      loop:add_signal_handler("SIGUSR2", print)
      loop:run_until_complete(asyncio.sleep(0))
      loop:close()
      helper.full_gc()
      core.fdclose(r)
      core.fdclose(w)
   end)

   it("collects an unclosed loop with tasks, timers and readers", function()
      local r, w = core.pipe()
      do
         local loop = asyncio.new_event_loop()
         loop:set_exception_handler(function() end)
         loop:create_task(async(function() await(asyncio.sleep(10)) end)())
         loop:call_later(10, print)
         loop:add_reader(r, print)
         loop:add_writer(w, print)
         loop:run_until_complete(asyncio.sleep(0))
      end
      helper.full_gc()
      -- a new loop can take over the same signal and fds
      local loop = asyncio.new_event_loop()
      loop:add_reader(r, print)
      loop:close()
      core.fdclose(r)
      core.fdclose(w)
   end)
end)

-- Every scenario is a task body exercising one path of the core.
local scenarios = {
   sleep_and_chain = function()
      local add = async(function(a, b) await(asyncio.sleep(0)); return a + b end)
      assert(await(add(1, 2)) == 3)
      await(asyncio.sleep(0.001))
   end,
   many_tasks = function()
      local list = {}
      for i = 1, 200 do
         list[i] = asyncio.create_task(async(function(n) await(asyncio.sleep(0)); return n end)(i))
      end
      for i = 1, 200 do assert(await(list[i]) == i) end
   end,
   futures_and_callbacks = function()
      local loop = asyncio.get_running_loop()
      local fut = loop:create_future()
      local hits = 0
      for _ = 1, 10 do fut:add_done_callback(function() hits = hits + 1 end) end
      loop:call_later(0.001, function() fut:set_result("v", nil) end)
      assert(await(fut) == "v")
      await(asyncio.sleep(0))
      assert(hits == 10)
   end,
   errors = function()
      local t = asyncio.create_task(function() error(asyncio.InvalidStateError("x")) end)
      local ok, err = pcall(await, t)
      assert(not ok and asyncio.InvalidStateError:is(err))
   end,
   cancellation = function()
      local t = asyncio.create_task(function()
         local _ <close> = setmetatable({}, { __close = function() await(asyncio.sleep(0)) end })
         await(asyncio.sleep(10))
      end)
      await(asyncio.sleep(0))
      t:cancel("bye")
      assert(not pcall(await, t) and t:cancelled())
   end,
   timers = function()
      local loop = asyncio.get_running_loop()
      local fired = 0
      for i = 1, 50 do
         local h = loop:call_later(i * 0.0001, function() fired = fired + 1 end)
         if i % 2 == 0 then h:cancel() end
      end
      await(asyncio.sleep(0.02))
      assert(fired == 25)
   end,
   readers = function()
      local loop = asyncio.get_running_loop()
      local r, w = core.pipe()
      local fut = loop:create_future()
      loop:add_reader(r, function() loop:remove_reader(r); fut:set_result(core.fdread(r)) end)
      loop:call_soon(function() core.fdwrite(w, "data") end)
      assert(await(fut) == "data")
      core.fdclose(r)
      core.fdclose(w)
   end,
   parked_on_queues = function()
      local a2b, b2a = asyncio.Queue(1), asyncio.Queue(1)
      local pong = asyncio.create_task(async(function()
         for _ = 1, 20 do await(b2a:put(await(a2b:get()) + 1)) end
      end)())
      local v = 0
      for _ = 1, 20 do
         await(a2b:put(v))
         v = await(b2a:get())
      end
      await(pong)
      assert(v == 20)
      -- parked tasks cancelled before and after their wakeup
      local q = asyncio.Queue()
      local getters = {}
      for i = 1, 4 do getters[i] = asyncio.create_task(q:get()) end
      await(asyncio.sleep(0))
      getters[1]:cancel()
      q:put_nowait("x")
      getters[2]:cancel() -- woken for "x": passes it on to getters[3]
      await(asyncio.sleep(0)) -- getters[2] runs and wakes getters[3]
      await(asyncio.sleep(0)) -- getters[3] runs
      assert(getters[3]:done() and getters[3]:result() == "x")
      getters[4]:cancel()
      for i = 1, 4 do pcall(await, getters[i]) end
   end,
   parked_on_unreferenced_queue = function()
      asyncio.get_running_loop():set_exception_handler(function() end)
      do
         local q = asyncio.Queue()
         asyncio.create_task(function() await(q:get()) end)
      end
      await(asyncio.sleep(0))
   end,
   parked_on_a_stream = function()
      local server = await(asyncio.start_server(function(reader, writer)
         local line = await(reader:readline())
         writer:write(line)
         writer:close()
      end, "127.0.0.1", 0))
      local _, port = server:getsockname()
      local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
      local cancelled = asyncio.create_task(reader:read(10))
      await(asyncio.sleep(0))
      cancelled:cancel()
      assert(not pcall(await, cancelled))
      writer:write("ping\n")
      assert(await(reader:readline()) == "ping\n")
      writer:close()
      server:close()
      await(server:wait_closed())
   end,
   unreferenced_waiter = function()
      asyncio.get_running_loop():set_exception_handler(function() end)
      do
         local fut = asyncio.get_running_loop():create_future()
         asyncio.create_task(function() await(fut) end)
      end
      await(asyncio.sleep(0))
   end,
}

local names = {}
for name in pairs(scenarios) do names[#names + 1] = name end
table.sort(names)

describe("scenarios", function()
   for _, name in ipairs(names) do
      it(name, helper.async(scenarios[name]))
   end
end)

describe("scenarios with the collector forced after every step", function()
   local pause
   setup(function()
      pause = collectgarbage("setpause", 0)
      collectgarbage("incremental")
   end)
   teardown(function()
      collectgarbage("setpause", pause)
   end)
   for _, name in ipairs(names) do
      it(name, helper.async(function()
         local loop = asyncio.get_running_loop()
         local stop = false
         local function collect()
            collectgarbage("collect")
            if not stop then loop:call_soon(collect) end
         end
         loop:call_soon(collect)
         scenarios[name]()
         stop = true
      end, 20))
   end
end)
