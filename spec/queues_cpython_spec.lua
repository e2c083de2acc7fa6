-- CPython's Lib/test/test_asyncio/test_queues.py (3.13), scenario by
-- scenario, in Lua. Checks of private fields (q._getters, q._putters) read
-- the same counts from tostring(q), which shows them as Python's str does.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function spawn(fn, ...)
   return asyncio.create_task(async(fn)(...))
end

local raises, cancelled = helper.raises, helper.cancelled

describe("CPython test_queues: QueueBasicTests", function()
   it("test_repr_or_str", helper.async(function()
      local q = asyncio.Queue()
      assert.matches("^<Queue", tostring(q))
      do -- getters
         local tg <close> = asyncio.TaskGroup()
         local getter = tg:create_task(q:get())
         await(asyncio.sleep(0))
         assert.matches("_getters%[1%]", tostring(q))
         q:put_nowait(0)
         assert.equal(0, await(getter))
      end
      q = asyncio.Queue(1)
      local putter
      do -- putters
         local tg <close> = asyncio.TaskGroup()
         q:put_nowait(1)
         putter = tg:create_task(q:put(2))
         await(asyncio.sleep(0))
         assert.matches("_putters%[1%]", tostring(q))
         q:get_nowait()
      end
      assert.is_true(putter:done())
      q = asyncio.Queue()
      q:put_nowait(1)
      assert.matches("_queue=%[1%]", tostring(q))
   end))

   it("test_empty", helper.async(function()
      local q = asyncio.Queue()
      assert.is_true(q:empty())
      await(q:put(1))
      assert.is_false(q:empty())
      assert.equal(1, await(q:get()))
      assert.is_true(q:empty())
   end))

   it("test_full", helper.async(function()
      local q = asyncio.Queue()
      assert.is_false(q:full())
      q = asyncio.Queue(1)
      await(q:put(1))
      assert.is_true(q:full())
   end))

   it("test_order", helper.async(function()
      local q = asyncio.Queue()
      for _, i in ipairs({ 1, 3, 2 }) do
         await(q:put(i))
      end
      assert.same({ 1, 3, 2 }, { await(q:get()), await(q:get()), await(q:get()) })
   end))

   it("test_maxsize", helper.async(function()
      local q = asyncio.Queue(2)
      assert.equal(2, q.maxsize)
      local have_been_put = {}
      local t = spawn(function()
         for i = 0, 2 do
            await(q:put(i))
            have_been_put[#have_been_put + 1] = i
         end
         return true
      end)
      for _ = 1, 2 do
         await(asyncio.sleep(0))
      end
      -- The putter is blocked after putting two items.
      assert.same({ 0, 1 }, have_been_put)
      assert.equal(0, await(q:get()))
      -- Let the putter resume and put last item.
      await(asyncio.sleep(0))
      assert.same({ 0, 1, 2 }, have_been_put)
      assert.equal(1, await(q:get()))
      assert.equal(2, await(q:get()))
      assert.is_true(t:done())
      assert.is_true(t:result())
   end))
end)

describe("CPython test_queues: QueueGetTests", function()
   it("test_blocking_get", helper.async(function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      assert.equal(1, await(q:get()))
   end))

   it("test_get_with_putters", helper.async(function()
      -- a get wakes a blocked putter (the original appends a bare future to
      -- q._putters; here a real put waits instead)
      local q = asyncio.Queue(1)
      await(q:put(1))
      local putter = asyncio.create_task(q:put(2))
      await(asyncio.sleep(0))
      assert.equal(1, await(q:get()))
      await(putter)
      assert.is_nil(putter:result())
   end))

   it("test_blocking_get_wait", helper.async(function()
      local loop = asyncio.get_running_loop()
      local q = asyncio.Queue()
      local started = asyncio.Event()
      local finished = false
      local queue_get_task = spawn(function()
         started:set()
         local res = await(q:get())
         finished = true
         return res
      end)
      await(started:wait())
      assert.is_false(finished)
      loop:call_later(0.01, q.put_nowait, q, 1)
      local res = await(queue_get_task)
      assert.is_true(finished)
      assert.equal(1, res)
   end))

   it("test_nonblocking_get", function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      assert.equal(1, q:get_nowait())
   end)

   it("test_nonblocking_get_exception", function()
      local q = asyncio.Queue()
      raises(asyncio.QueueEmpty, q.get_nowait, q)
   end)

   it("test_get_cancelled_race", helper.async(function()
      local q = asyncio.Queue()
      local t1 = asyncio.create_task(q:get())
      local t2 = asyncio.create_task(q:get())
      await(asyncio.sleep(0))
      t1:cancel()
      await(asyncio.sleep(0))
      assert.is_true(t1:done())
      await(q:put("a"))
      await(asyncio.sleep(0))
      assert.equal("a", await(t2))
   end))

   it("test_get_with_waiting_putters", helper.async(function()
      local q = asyncio.Queue(1)
      asyncio.create_task(q:put("a"))
      asyncio.create_task(q:put("b"))
      assert.equal("a", await(q:get()))
      assert.equal("b", await(q:get()))
   end))

   it("test_why_are_getters_waiting", helper.async(function()
      local consumer = async(function(queue, num_expected)
         for _ = 1, num_expected do
            await(queue:get())
         end
      end)
      local producer = async(function(queue, num_items)
         for i = 0, num_items - 1 do
            await(queue:put(i))
         end
      end)
      local q = asyncio.Queue(1)
      local tg <close> = asyncio.TaskGroup()
      tg:create_task(producer(q, 5))
      tg:create_task(consumer(q, 5))
   end))

   it("test_cancelled_getters_not_being_held_in_self_getters", helper.async(function()
      local queue = asyncio.Queue(5)
      raises(asyncio.TimeoutError, await, asyncio.wait_for(queue:get(), 0.1))
      assert.not_matches("_getters", tostring(queue))
   end))
end)

describe("CPython test_queues: QueuePutTests", function()
   it("test_blocking_put", helper.async(function()
      local q = asyncio.Queue()
      -- No maxsize, won't block.
      await(q:put(1))
      assert.equal(1, await(q:get()))
   end))

   it("test_blocking_put_wait", helper.async(function()
      local q = asyncio.Queue(1)
      local started = asyncio.Event()
      local finished = false
      local loop = asyncio.get_running_loop()
      loop:call_later(0.01, q.get_nowait, q)
      local queue_put_task = spawn(function()
         started:set()
         await(q:put(1))
         await(q:put(2))
         finished = true
      end)
      await(started:wait())
      assert.is_false(finished)
      await(queue_put_task)
      assert.is_true(finished)
   end))

   it("test_nonblocking_put", function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      assert.equal(1, q:get_nowait())
   end)

   it("test_get_cancel_drop_one_pending_reader", helper.async(function()
      local q = asyncio.Queue()
      local reader = asyncio.create_task(q:get())
      await(asyncio.sleep(0))
      q:put_nowait(1)
      q:put_nowait(2)
      reader:cancel()
      local ok = pcall(await, reader)
      if not ok then -- try again
         reader = asyncio.create_task(q:get())
         await(reader)
      end
      -- if we get 2, it means 1 got dropped!
      assert.equal(1, reader:result())
   end))

   it("test_get_cancel_drop_many_pending_readers", helper.async(function()
      local q = asyncio.Queue()
      local reader1, reader2, reader3
      do
         local tg <close> = asyncio.TaskGroup()
         reader1 = tg:create_task(q:get())
         reader2 = tg:create_task(q:get())
         reader3 = tg:create_task(q:get())
         await(asyncio.sleep(0))
         q:put_nowait(1)
         q:put_nowait(2)
         reader1:cancel()
         cancelled(reader1)
         await(reader3)
      end
      -- It is undefined in which order concurrent readers receive results.
      local got = { reader2:result(), reader3:result() }
      table.sort(got)
      assert.same({ 1, 2 }, got)
   end))

   it("test_put_cancel_drop", helper.async(function()
      local q = asyncio.Queue(1)
      q:put_nowait(1)
      -- putting a second item in the queue has to block (qsize=1)
      local writer = asyncio.create_task(q:put(2))
      await(asyncio.sleep(0))
      assert.equal(1, q:get_nowait())
      writer:cancel()
      if not pcall(await, writer) then -- try again
         writer = asyncio.create_task(q:put(2))
         await(writer)
      end
      assert.equal(2, q:get_nowait())
      assert.equal(0, q:qsize())
   end))

   it("test_nonblocking_put_exception", function()
      local q = asyncio.Queue(1)
      q:put_nowait(1)
      raises(asyncio.QueueFull, q.put_nowait, q, 2)
   end)

   it("test_float_maxsize", helper.async(function()
      local q = asyncio.Queue(1.3)
      q:put_nowait(1)
      q:put_nowait(2)
      assert.is_true(q:full())
      raises(asyncio.QueueFull, q.put_nowait, q, 3)
      q = asyncio.Queue(1.3)
      await(q:put(1))
      await(q:put(2))
      assert.is_true(q:full())
   end))

   it("test_put_cancelled", helper.async(function()
      local q = asyncio.Queue()
      local t = spawn(function()
         await(q:put(1))
         return true
      end)
      assert.equal(1, await(q:get()))
      assert.is_true(t:done())
      assert.is_true(t:result())
   end))

   it("test_put_cancelled_race", helper.async(function()
      local q = asyncio.Queue(1)
      local put_a = asyncio.create_task(q:put("a"))
      local put_b = asyncio.create_task(q:put("b"))
      local put_c = asyncio.create_task(q:put("X"))
      await(asyncio.sleep(0))
      assert.is_true(put_a:done())
      assert.is_false(put_b:done())
      put_c:cancel()
      await(asyncio.sleep(0))
      assert.is_true(put_c:done())
      assert.equal("a", q:get_nowait())
      await(asyncio.sleep(0))
      assert.equal("b", q:get_nowait())
      await(put_b)
   end))

   it("test_put_with_waiting_getters", helper.async(function()
      local q = asyncio.Queue()
      local t = asyncio.create_task(q:get())
      await(asyncio.sleep(0))
      await(q:put("a"))
      assert.equal("a", await(t))
   end))

   it("test_why_are_putters_waiting", helper.async(function()
      local queue = asyncio.Queue(2)
      local putter = async(function(item)
         await(queue:put(item))
      end)
      local getter = async(function()
         await(asyncio.sleep(0))
         for _ = 1, queue:qsize() do
            queue:get_nowait()
         end
      end)
      local tg <close> = asyncio.TaskGroup()
      tg:create_task(getter())
      for i = 0, 3 do
         tg:create_task(putter(i))
      end
   end))

   it("test_cancelled_puts_not_being_held_in_self_putters", helper.async(function()
      local queue = asyncio.Queue(1)
      queue:put_nowait(1)
      local put_task = asyncio.create_task(queue:put(1))
      await(asyncio.sleep(0))
      assert.matches("_putters%[1%]", tostring(queue))
      put_task:cancel()
      cancelled(put_task)
      assert.not_matches("_putters", tostring(queue))
   end))

   it("test_cancelled_put_silence_value_error_exception", helper.async(function()
      local queue = asyncio.Queue(1)
      queue:put_nowait(1)
      local put_task = asyncio.create_task(queue:put(1))
      await(asyncio.sleep(0))
      -- get_nowait() removes the future of put_task from the putters
      queue:get_nowait()
      -- removing it again when cancelled must not fail
      put_task:cancel()
      cancelled(put_task)
   end))
end)

describe("CPython test_queues: LifoQueueTests and PriorityQueueTests", function()
   it("LifoQueue test_order", helper.async(function()
      local q = asyncio.LifoQueue()
      for _, i in ipairs({ 1, 3, 2 }) do
         await(q:put(i))
      end
      assert.same({ 2, 3, 1 }, { await(q:get()), await(q:get()), await(q:get()) })
   end))

   it("PriorityQueue test_order", helper.async(function()
      local q = asyncio.PriorityQueue()
      for _, i in ipairs({ 1, 3, 2 }) do
         await(q:put(i))
      end
      assert.same({ 1, 2, 3 }, { await(q:get()), await(q:get()), await(q:get()) })
   end))
end)

for _, kind in ipairs({ "Queue", "LifoQueue", "PriorityQueue" }) do
   local q_class = asyncio[kind]

   describe("CPython test_queues: " .. kind .. "JoinTests", function()
      it("test_task_done_underflow", function()
         local q = q_class()
         assert.is_false(pcall(q.task_done, q))
      end)

      it("test_task_done", helper.async(function()
         local q = q_class()
         for i = 0, 99 do
            q:put_nowait(i)
         end
         local accumulator = 0
         -- Two workers get items from the queue and call task_done after each.
         -- Join the queue and assert all items have been processed.
         local running = true
         local worker = async(function()
            while running do
               local item = await(q:get())
               accumulator = accumulator + item
               q:task_done()
            end
         end)
         local tg <close> = asyncio.TaskGroup()
         local tasks = { tg:create_task(worker()), tg:create_task(worker()) }
         await(q:join())
         assert.equal(4950, accumulator)
         -- close running generators
         running = false
         for _ = 1, #tasks do
            q:put_nowait(0)
         end
      end))

      it("test_join_empty_queue", helper.async(function()
         local q = q_class()
         await(q:join())
         await(q:join())
      end))

      it("test_format", function()
         local q = q_class()
         assert.equal(("<%s maxsize=0>"):format(kind), tostring(q))
         q:put_nowait(1)
         q:put_nowait(1)
         q:get_nowait()
         q:get_nowait()
         assert.equal(("<%s maxsize=0 tasks=2>"):format(kind), tostring(q))
      end)
   end)

   describe("CPython test_queues: " .. kind .. "ShutdownTests", function()
      local function shut(fn, ...)
         raises(asyncio.QueueShutDown, fn, ...)
      end

      it("test_format", function()
         local q = q_class()
         q:shutdown()
         assert.equal(("<%s maxsize=0 shutdown>"):format(kind), tostring(q))
      end)

      it("test_shutdown_empty", helper.async(function()
         local q = q_class()
         local loop = asyncio.get_running_loop()
         local get_task = loop:create_task(q:get())
         await(asyncio.sleep(0)) -- want get task pending before shutdown
         q:shutdown(false)
         assert.equal(0, q:qsize())
         await(q:join())
         await(asyncio.sleep(0))
         assert.is_true(get_task:done())
         shut(await, get_task)
         shut(await, q:put("data"))
         shut(q.put_nowait, q, "data")
         shut(await, q:get())
         shut(q.get_nowait, q)
      end))

      it("test_shutdown_nonempty", helper.async(function()
         local q = q_class(1)
         local loop = asyncio.get_running_loop()
         q:put_nowait("data")
         local join_task = loop:create_task(q:join())
         local put_task = loop:create_task(q:put("data2"))
         await(asyncio.sleep(0))
         assert.is_false(put_task:done())
         q:shutdown(false) -- unfinished tasks: 1 -> 1
         assert.equal(1, q:qsize())
         await(asyncio.sleep(0))
         assert.is_true(put_task:done())
         shut(await, put_task)
         assert.equal("data", await(q:get()))
         await(asyncio.sleep(0))
         assert.is_false(join_task:done())
         shut(await, q:put("data"))
         shut(q.put_nowait, q, "data")
         shut(await, q:get())
         shut(q.get_nowait, q)
         q:task_done()
         await(asyncio.sleep(0))
         assert.is_true(join_task:done())
         await(join_task)
         assert.is_false(pcall(q.task_done, q))
      end))

      it("test_shutdown_immediate", helper.async(function()
         local q = q_class()
         local loop = asyncio.get_running_loop()
         q:put_nowait("data")
         local join_task = loop:create_task(q:join())
         q:shutdown(true) -- unfinished tasks: 1 -> 0
         assert.equal(0, q:qsize())
         await(asyncio.sleep(0))
         assert.is_true(join_task:done())
         await(join_task)
         shut(await, q:put("data"))
         shut(q.put_nowait, q, "data")
         shut(await, q:get())
         shut(q.get_nowait, q)
         assert.is_false(pcall(q.task_done, q))
      end))

      it("test_shutdown_immediate_with_unfinished", helper.async(function()
         local q = q_class()
         local loop = asyncio.get_running_loop()
         q:put_nowait("data")
         q:put_nowait("data")
         local join_task = loop:create_task(q:join())
         assert.equal("data", await(q:get()))
         q:shutdown(true) -- unfinished tasks: 2 -> 1
         assert.equal(0, q:qsize())
         await(asyncio.sleep(0))
         assert.is_false(join_task:done())
         shut(await, q:put("data"))
         shut(q.put_nowait, q, "data")
         shut(await, q:get())
         shut(q.get_nowait, q)
         q:task_done()
         assert.is_false(pcall(q.task_done, q))
         await(asyncio.sleep(0))
         assert.is_true(join_task:done())
         await(join_task)
      end))
   end)
end
