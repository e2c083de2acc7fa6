-- Queues (API.md §7): Queue, LifoQueue, PriorityQueue. The scenarios
-- ported from CPython's test_queues.py are in queues_cpython_spec.lua.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

-- Starts fn(...) as a task.
local function spawn(fn, ...)
   return asyncio.create_task(async(fn)(...))
end

-- Awaits t and returns its error (fails if it succeeds).
local function failure(t)
   return helper.failure(await, t)
end

local cancelled = helper.cancelled

local function drain(q)
   local items = {}
   while not q:empty() do
      items[#items + 1] = q:get_nowait()
   end
   return items
end

describe("Queue", function()
   it("hands items out first in, first out", helper.async(function()
      local q = asyncio.Queue()
      for i = 1, 100 do
         await(q:put(i))
      end
      assert.equal(100, q:qsize())
      for i = 1, 100 do
         assert.equal(i, await(q:get()))
      end
      assert.is_true(q:empty())
   end))

   it("keeps its order while the ring wraps and grows", function()
      local q = asyncio.Queue()
      local expect, n = 1, 0
      for round = 1, 50 do
         for _ = 1, round do
            n = n + 1
            q:put_nowait(n)
         end
         for _ = 1, round // 2 do
            assert.equal(expect, q:get_nowait())
            expect = expect + 1
         end
      end
      while not q:empty() do
         assert.equal(expect, q:get_nowait())
         expect = expect + 1
      end
      assert.equal(n + 1, expect)
   end)

   it("has maxsize, qsize, empty and full", function()
      local q = asyncio.Queue(2)
      assert.equal(2, q.maxsize)
      assert.is_true(q:empty())
      q:put_nowait("a")
      assert.is_false(q:full())
      q:put_nowait("b")
      assert.is_true(q:full())
      assert.equal(2, q:qsize())
      assert.equal(0, asyncio.Queue().maxsize)
      assert.is_false(asyncio.Queue():full())
      local neg = asyncio.Queue(-1) -- maxsize <= 0: unbounded
      for i = 1, 10 do
         neg:put_nowait(i)
      end
      assert.is_false(neg:full())
   end)

   it("raises QueueFull and QueueEmpty from the _nowait forms", function()
      local q = asyncio.Queue(1)
      local ok, err = pcall(q.get_nowait, q)
      assert.is_false(ok)
      assert.is_true(asyncio.QueueEmpty:is(err))
      q:put_nowait(1)
      ok, err = pcall(q.put_nowait, q, 2)
      assert.is_false(ok)
      assert.is_true(asyncio.QueueFull:is(err))
      assert.equal(1, q:qsize())
   end)

   it("blocks get() while empty and put() while full", helper.async(function()
      local q = asyncio.Queue(1)
      local log = {}
      local getter = spawn(function()
         log[#log + 1] = "got " .. await(q:get())
      end)
      await(asyncio.sleep(0))
      assert.same({}, log)
      await(q:put("x"))
      await(q:put("y")) -- fits: the getter has not run yet, but "x" is taken when it does
      local putter = spawn(function()
         await(q:put("z"))
         log[#log + 1] = "put z"
      end)
      await(getter)
      await(asyncio.sleep(0))
      assert.same({ "got x" }, log)
      assert.equal("y", await(q:get()))
      await(putter)
      assert.same({ "got x", "put z" }, log)
      assert.equal("z", q:get_nowait())
   end))

   it("wakes blocked getters in the order they came", helper.async(function()
      local q = asyncio.Queue()
      local got = {}
      for i = 1, 5 do
         spawn(function()
            local v = await(q:get())
            got[#got + 1] = i .. ":" .. v
         end)
      end
      await(asyncio.sleep(0))
      for _, v in ipairs({ "a", "b", "c", "d", "e" }) do
         q:put_nowait(v)
      end
      await(asyncio.sleep(0))
      assert.same({ "1:a", "2:b", "3:c", "4:d", "5:e" }, got)
   end))

   it("keeps the order of the others when getters are cancelled at either end or between", helper.async(function()
      -- a cancelled waiter leaves the list from whichever side is nearer
      local q = asyncio.Queue()
      local got, tasks = {}, {}
      for i = 1, 9 do
         tasks[i] = spawn(function()
            local v = await(q:get())
            got[#got + 1] = i .. ":" .. v
         end)
      end
      await(asyncio.sleep(0))
      for _, i in ipairs({ 1, 9, 2, 5, 8, 3 }) do
         tasks[i]:cancel()
      end
      await(asyncio.sleep(0))
      for _, v in ipairs({ "a", "b", "c" }) do
         q:put_nowait(v)
      end
      await(asyncio.sleep(0))
      assert.same({ "4:a", "6:b", "7:c" }, got)
      assert.equal(0, q:qsize())
   end))

   it("takes no more memory while getters are cancelled, one by one, behind one that stays", function()
      -- each cancelled getter left a nil at the front of the list's stack,
      -- kept for good: after a million, q:get() raised "stack overflow";
      -- a fresh process, so that no other test's garbage is counted
      local out, status = helper.run_fresh([[
         local asyncio = require("asyncio")
         local await = asyncio.await
         print(asyncio.run(function()
            local q = asyncio.Queue()
            local function getter()
               return await(q:get())
            end
            local older, newer = asyncio.create_task(getter), asyncio.create_task(getter)
            await(asyncio.sleep(0))
            local function cycle(n)
               for _ = 1, n do
                  older:cancel()
                  older, newer = newer, asyncio.create_task(getter)
                  await(asyncio.sleep(0))
               end
               for _ = 1, 4 do
                  collectgarbage()
               end
               return collectgarbage("count")
            end
            local before = cycle(2000)
            local grown = cycle(40000) - before
            q:put_nowait("a")
            q:put_nowait("b")
            return grown < 200 or ("grew by %.0f KiB"):format(grown), await(older), await(newer)
         end))
      ]])
      assert.equal("true\ta\tb\n", out)
      assert.equal(0, status)
   end)

   it("queues a woken getter's step where Python queues its waiter's callback", helper.async(function()
      -- Python 3.13 prints ['cs1', 'a 1', 'cs2', 'b 2', 'main']
      local loop = asyncio.get_running_loop()
      local q = asyncio.Queue()
      local log = {}
      local function getter(name)
         return asyncio.create_task(asyncio.async(function()
            local v = await(q:get())
            log[#log + 1] = name .. " " .. v
         end)())
      end
      local a, b = getter("a"), getter("b")
      await(asyncio.sleep(0))
      loop:call_soon(function() log[#log + 1] = "cs1" end)
      q:put_nowait(1)
      loop:call_soon(function() log[#log + 1] = "cs2" end)
      q:put_nowait(2)
      await(asyncio.sleep(0))
      log[#log + 1] = "main"
      await(asyncio.gather(a, b))
      assert.same({ "cs1", "a 1", "cs2", "b 2", "main" }, log)
   end))

   it("rejects nil items", function()
      local q = asyncio.Queue()
      local ok, err = pcall(function() return q:put(nil) end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'put' %(nil is not a valid queue item%)", err)
      ok, err = pcall(function() q:put_nowait(nil) end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'put_nowait' %(nil is not a valid queue item%)", err)
      assert.equal(0, q:qsize())
   end)

   it("checks its arguments", function()
      local ok, err = pcall(asyncio.Queue, "big")
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'Queue' %(number expected, got string%)", err)
      ok, err = pcall(asyncio.PriorityQueue, 0 / 0)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'PriorityQueue' %(maxsize is NaN%)", err)
      local q = asyncio.Queue()
      ok, err = pcall(q.qsize, {})
      assert.is_false(ok)
      assert.matches("Queue expected, got table", err)
      ok, err = pcall(q.get, {})
      assert.is_false(ok)
      assert.matches("Queue expected, got table", err)
   end)

   it("refuses arguments past a method's own, as Python's (q:get(false) waited forever)", function()
      local ok, err = pcall(asyncio.Queue, 1, asyncio.get_event_loop())
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'Queue' %(no value expected, got asyncio.Loop%)", err)
      local q = asyncio.Queue()
      for name, call in pairs({
         get = function() local _ = q:get(false) end,
         get_nowait = function() q:get_nowait(1) end,
         join = function() local _ = q:join(1) end,
         task_done = function() q:task_done(1) end,
         qsize = function() q:qsize(1) end,
      }) do
         ok, err = pcall(call)
         assert.is_false(ok)
         assert.matches("^spec/queues_spec%.lua:%d+: bad argument #1 to '" .. name .. "' %(no value expected", err)
      end
      ok, err = pcall(function() local _ = q:put(1, false) end)
      assert.is_false(ok)
      assert.matches("^spec/queues_spec%.lua:%d+: bad argument #2 to 'put' %(no value expected, got boolean%)$", err)
      ok, err = pcall(function() q:put_nowait(1, 2) end)
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'put_nowait' %(no value expected, got number%)$", err)
      assert.equal(0, q:qsize())
      q:shutdown(true) -- what they take still passes
   end)

   it("raises from task_done() called more times than items were put", function()
      local q = asyncio.Queue()
      local ok, err = pcall(q.task_done, q)
      assert.is_false(ok)
      assert.matches("task_done%(%) called too many times", err)
      q:put_nowait(1)
      q:get_nowait()
      q:task_done()
      assert.is_false(pcall(q.task_done, q))
   end)

   it("describes itself as Python's str() does", helper.async(function()
      local q = asyncio.Queue(3)
      assert.equal("<Queue maxsize=3>", tostring(q))
      q:put_nowait(1)
      q:put_nowait("two")
      assert.equal("<Queue maxsize=3 _queue=[1, 'two'] tasks=2>", tostring(q))
      local g = asyncio.create_task(asyncio.Queue():get())
      local e = asyncio.Queue()
      local w = asyncio.create_task(e:get())
      await(asyncio.sleep(0))
      assert.equal("<Queue maxsize=0 _getters[1]>", tostring(e))
      e:shutdown()
      assert.equal("<Queue maxsize=0 shutdown>", tostring(e))
      g:cancel()
      assert.equal("<LifoQueue maxsize=0>", tostring(asyncio.LifoQueue()))
      assert.equal("<PriorityQueue maxsize=1.5>", tostring(asyncio.PriorityQueue(1.5)))
      assert.is_true(asyncio.QueueShutDown:is(failure(w)))
   end))

   it("quotes string items as Python's repr does", function()
      local q = asyncio.Queue()
      q:put_nowait("it's")
      q:put_nowait('say "hi"')
      q:put_nowait("a\\b\n\0\127'\"")
      -- Python: <Queue maxsize=0 _queue=["it's", 'say "hi"', 'a\\b\n\x00\x7f\'"'] tasks=3>
      assert.equal([[<Queue maxsize=0 _queue=["it's", 'say "hi"', 'a\\b\n\x00\x7f\'"'] tasks=3>]],
                   tostring(q))
   end)

   it("can be used with the _nowait forms outside a task, but not awaited", function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      assert.equal(1, q:get_nowait())
      local ok, err = pcall(await, q:get())
      assert.is_false(ok)
      assert.matches("await called outside of a running task", err)
   end)
end)

describe("the storage of a queue", function()
   it("is given back when a large backlog drains, for each kind of queue", function()
      -- it kept the table of its largest backlog (16 MB for a million items)
      for make, first in pairs({ [asyncio.Queue] = 7, [asyncio.LifoQueue] = 3, [asyncio.PriorityQueue] = 3 }) do
         local q = make()
         helper.full_gc()
         local before = collectgarbage("count")
         for i = 1, 100000 do
            q:put_nowait(i)
         end
         assert.is_true(collectgarbage("count") - before > 1000) -- KiB: the backlog's table
         for _ = 1, 100000 do
            q:get_nowait()
         end
         helper.full_gc()
         assert.is_true(collectgarbage("count") - before < 64)
         q:put_nowait(7) -- and it works on, from a small table
         q:put_nowait(3)
         assert.equal(2, q:qsize())
         assert.equal(first, q:get_nowait())
      end
   end)
end)

describe("put objects not awaited yet", function()
   -- a FIFO's put object keeps its item in the ring, past the last item,
   -- until it is awaited: a model of each queue says what must come out
   local kinds = {
      { make = asyncio.Queue, take = function(m) return table.remove(m, 1) end },
      { make = asyncio.LifoQueue, take = function(m) return table.remove(m) end },
      { make = asyncio.PriorityQueue, take = function(m)
         local at = 1
         for i = 2, #m do
            if m[i] < m[at] then at = i end
         end
         return table.remove(m, at)
      end },
   }

   local function check(kind, seed, maxsize)
      math.randomseed(seed)
      local q, model, pending, held, shared = kind.make(maxsize), {}, {}, {}, nil
      local nextv, down = 0, false
      local function full() return maxsize > 0 and #model >= maxsize end
      local function value()
         nextv = nextv + 1
         return nextv
      end
      local function expect_error(cls, ok, err)
         assert.is_false(ok)
         assert.is_true(cls:is(err), tostring(err))
      end
      local function make_put() -- a put object, maybe awaited later
         local v = value()
         local obj = q:put(v)
         if shared == nil then shared = obj end
         assert.equal(pending[shared] == nil, obj == shared)
         pending[obj] = v
         held[#held + 1] = obj
      end
      for _ = 1, 2000 do
         local r = math.random(100)
         if r <= 30 then
            make_put()
         elseif r <= 50 and #held > 0 then -- await one, maybe awaited already
            local at = math.random(#held)
            local obj = held[at]
            local v = pending[obj]
            if v == nil then
               local ok, err = pcall(await, obj)
               assert.is_false(ok)
               assert.equal("cannot reuse already awaited coroutine", err)
               table.remove(held, at)
            elseif down then
               expect_error(asyncio.QueueShutDown, pcall(await, obj))
               pending[obj] = nil
            elseif not full() then
               await(obj)
               model[#model + 1] = v
               pending[obj] = nil
            end
         elseif r <= 60 then
            local v = value()
            local ok, err = pcall(q.put_nowait, q, v)
            if down then
               expect_error(asyncio.QueueShutDown, ok, err)
            elseif full() then
               expect_error(asyncio.QueueFull, ok, err)
            else
               assert.is_true(ok, err)
               model[#model + 1] = v
            end
         elseif r <= 88 then
            if #model > 0 then
               local got = r <= 75 and q:get_nowait() or await(q:get())
               assert.equal(kind.take(model), got)
            else
               local ok, err = pcall(q.get_nowait, q)
               expect_error(down and asyncio.QueueShutDown or asyncio.QueueEmpty, ok, err)
            end
         elseif r <= 89 and maxsize == 0 and not down and kind.make == asyncio.Queue then
            -- a backlog: the ring grows, then shrinks once drained
            for _ = 1, 1100 do
               local v = value()
               q:put_nowait(v)
               model[#model + 1] = v
            end
            make_put()
            local got = {}
            for i = 1, #model do
               got[i] = q:get_nowait()
            end
            assert.same(model, got)
            model = {}
         elseif r == 90 and math.random(20) == 1 then
            local immediate = math.random(2) == 1
            q:shutdown(immediate)
            down = true
            if immediate then model = {} end
         end
         if q:qsize() ~= #model then
            assert.equal(#model, q:qsize())
         end
      end
      while #model > 0 do
         assert.equal(kind.take(model), q:get_nowait())
      end
   end

   it("put their items in the order they are awaited, whatever happens meanwhile", helper.async(function()
      for _, kind in ipairs(kinds) do
         for seed = 1, 4 do
            for _, maxsize in ipairs({ 0, 3, 100 }) do
               check(kind, seed, maxsize)
            end
         end
      end
   end))
end)

describe("LifoQueue", function()
   it("hands out the last item first", helper.async(function()
      local q = asyncio.LifoQueue()
      for _, v in ipairs({ 1, 3, 2 }) do
         await(q:put(v))
      end
      assert.same({ 2, 3, 1 }, { await(q:get()), await(q:get()), await(q:get()) })
   end))
end)

describe("PriorityQueue", function()
   it("hands out the smallest item first", function()
      local q = asyncio.PriorityQueue()
      for _, v in ipairs({ 5, 1, 4, 2, 3, 1, 9, 0 }) do
         q:put_nowait(v)
      end
      assert.same({ 0, 1, 1, 2, 3, 4, 5, 9 }, drain(q))
      for _, v in ipairs({ "pear", "apple", "fig" }) do
         q:put_nowait(v)
      end
      assert.same({ "apple", "fig", "pear" }, drain(q))
   end)

   it("orders tables like tuples: first element, then the next", function()
      local q = asyncio.PriorityQueue()
      local items = { { 2, "b" }, { 1, "z" }, { 2, "a" }, { 1, "y", 0 }, { 1, "y" }, { 0, { 5, 1 } }, { 0, { 4 } } }
      for _, v in ipairs(items) do
         q:put_nowait(v)
      end
      local out = {}
      for _, v in ipairs(drain(q)) do
         out[#out + 1] = table.concat({ v[1], type(v[2]) == "table" and table.concat(v[2], ".") or v[2], v[3] }, ",")
      end
      assert.same({ "0,4", "0,5.1", "1,y", "1,y,0", "1,z", "2,a", "2,b" }, out)
   end)

   it("uses __lt when items have it", function()
      local mt = { __lt = function(a, b) return a.p > b.p end } -- largest first
      local q = asyncio.PriorityQueue()
      for _, p in ipairs({ 3, 9, 1 }) do
         q:put_nowait(setmetatable({ p = p }, mt))
      end
      assert.same({ 9, 3, 1 }, { q:get_nowait().p, q:get_nowait().p, q:get_nowait().p })
   end)

   it("hands out items that compare equal in the order Python's heapq does", function()
      -- items compare by priority only; the expected order is what
      -- Python's heapq gives for the same pushes and pops
      local mt = { __lt = function(a, b) return a.p < b.p end }
      local q = asyncio.PriorityQueue()
      local out, x = {}, 7
      for k = 0, 39 do
         x = x * 48271 % 2147483647
         if x % 3 == 0 and not q:empty() then
            out[#out + 1] = q:get_nowait().i
         else
            q:put_nowait(setmetatable({ p = x % 4, i = k }, mt))
         end
      end
      while not q:empty() do
         out[#out + 1] = q:get_nowait().i
      end
      assert.same({ 0, 3, 4, 11, 13, 17, 10, 12, 16, 23, 6, 20, 8, 22, 5, 34, 38, 35, 25, 2, 32, 26, 14, 39 }, out)
   end)

   it("leaves the heap intact when items cannot be compared", function()
      local q = asyncio.PriorityQueue()
      q:put_nowait(1)
      q:put_nowait(2)
      local ok, err = pcall(q.put_nowait, q, "three")
      assert.is_false(ok)
      assert.matches("attempt to compare", err)
      assert.same({ 1, 2 }, drain(q))
      local a, b = {}, {}
      a[1], b[1] = b, a -- compared element by element forever
      q:put_nowait(a)
      ok, err = pcall(q.put_nowait, q, b)
      assert.is_false(ok)
      assert.matches("nested more than", err)
      assert.equal(1, q:qsize())
   end)

   it("passes a free slot on when a woken putter's item cannot be compared", helper.async(function()
      local q = asyncio.PriorityQueue(2)
      q:put_nowait(5)
      q:put_nowait(6)
      local bad = asyncio.create_task(q:put("x"))
      local good = asyncio.create_task(q:put(3))
      await(asyncio.sleep(0))
      assert.equal(5, q:get_nowait()) -- wakes bad, which fails
      for _ = 1, 3 do await(asyncio.sleep(0)) end
      assert.matches("attempt to compare", tostring(bad:exception()))
      assert.is_true(good:done()) -- not left parked beside a free slot
      assert.same({ 3, 6 }, drain(q))
   end))
end)

describe("Queue:join() and task_done()", function()
   it("returns at once when nothing is unfinished", helper.async(function()
      local q = asyncio.Queue()
      await(q:join())
      await(q:join())
   end))

   it("waits until every item put is done", helper.async(function()
      local q = asyncio.Queue()
      local log = {}
      for i = 1, 3 do
         q:put_nowait(i)
      end
      local joiner = spawn(function()
         await(q:join())
         log[#log + 1] = "joined"
      end)
      for i = 1, 3 do
         await(asyncio.sleep(0))
         assert.same({}, log)
         assert.equal(i, q:get_nowait())
         q:task_done()
      end
      await(joiner)
      assert.same({ "joined" }, log)
   end))

   it("drops a cancelled join() from its waiters", helper.async(function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      local j1 = asyncio.create_task(q:join())
      local j2 = asyncio.create_task(q:join())
      await(asyncio.sleep(0))
      j1:cancel()
      cancelled(j1)
      q:get_nowait()
      q:task_done()
      await(j2)
   end))
end)

describe("Queue:shutdown()", function()
   it("wakes every blocked get() and put() with QueueShutDown", helper.async(function()
      local empty, full = asyncio.Queue(), asyncio.Queue(1)
      full:put_nowait("x")
      local getters, putters = {}, {}
      for i = 1, 3 do
         getters[i] = asyncio.create_task(empty:get())
         putters[i] = asyncio.create_task(full:put(i))
      end
      await(asyncio.sleep(0))
      empty:shutdown()
      full:shutdown()
      for i = 1, 3 do
         assert.is_true(asyncio.QueueShutDown:is(failure(getters[i])))
         assert.is_true(asyncio.QueueShutDown:is(failure(putters[i])))
      end
      assert.equal("x", await(full:get())) -- what is left can still be taken
      local ok, err = pcall(await, full:get())
      assert.is_false(ok)
      assert.is_true(asyncio.QueueShutDown:is(err))
   end))

   it("with immediate, drops the items and finishes their tasks", helper.async(function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      q:put_nowait(2)
      q:put_nowait(3)
      local joiner = asyncio.create_task(q:join())
      q:get_nowait() -- taken, not done
      q:shutdown(true)
      assert.equal(0, q:qsize())
      await(asyncio.sleep(0))
      assert.is_false(joiner:done())
      q:task_done()
      await(joiner)
      assert.is_false(pcall(q.task_done, q))
      local ok, err = pcall(q.get_nowait, q)
      assert.is_false(ok)
      assert.is_true(asyncio.QueueShutDown:is(err))
   end))
end)

describe("queue cancellation (no lost wakeups)", function()
   it("a getter cancelled after it was woken passes the item on", helper.async(function()
      local q = asyncio.Queue()
      local r1 = asyncio.create_task(q:get())
      local r2 = asyncio.create_task(q:get())
      await(asyncio.sleep(0))
      q:put_nowait("only")
      r1:cancel() -- r1 was woken for "only" but has not run yet
      cancelled(r1)
      assert.equal("only", await(r2))
   end))

   it("a putter cancelled after it was woken passes the slot on", helper.async(function()
      local q = asyncio.Queue(1)
      q:put_nowait("first")
      local p1 = asyncio.create_task(q:put("p1"))
      local p2 = asyncio.create_task(q:put("p2"))
      await(asyncio.sleep(0))
      assert.equal("first", q:get_nowait()) -- wakes p1
      p1:cancel()
      cancelled(p1)
      await(p2)
      assert.same({ "p2" }, drain(q))
   end))

   it("a cancelled getter leaves the getters and takes nothing", helper.async(function()
      local q = asyncio.Queue()
      local t = asyncio.create_task(q:get())
      await(asyncio.sleep(0))
      assert.matches("_getters%[1%]", tostring(q))
      t:cancel()
      cancelled(t)
      assert.not_matches("_getters", tostring(q))
      q:put_nowait(1)
      assert.equal(1, q:get_nowait())
   end))

   it("a getter leaves the getters the moment it is cancelled, before it runs", helper.async(function()
      local q = asyncio.Queue()
      local t = asyncio.create_task(q:get())
      await(asyncio.sleep(0))
      t:cancel()
      -- (Python lists the cancelled waiter until the task runs, and the next
      -- put skips it): the item stays for whoever comes next
      assert.not_matches("_getters", tostring(q))
      q:put_nowait("kept")
      cancelled(t)
      assert.equal("kept", q:get_nowait())
   end))

   it("a task that cancelled itself is cancelled at its get() and leaves no getter",
      helper.async(function()
         local q = asyncio.Queue()
         local t = asyncio.create_task(asyncio.async(function()
            asyncio.current_task():cancel()
            return await(q:get())
         end)())
         cancelled(t)
         assert.equal("<Queue maxsize=0>", tostring(q))
      end))

   it("a cancelled wait stays cancelled even if uncancel() follows, as in Python",
      helper.async(function()
         local q = asyncio.Queue()
         local t = asyncio.create_task(q:get())
         await(asyncio.sleep(0))
         t:cancel()
         assert.equal(0, t:uncancel())
         cancelled(t)
         q:put_nowait(1)
         assert.equal(1, q:get_nowait())
      end))

   it("a get() timing out in wait_for leaves nothing behind", helper.async(function()
      local q = asyncio.Queue()
      local ok, err = pcall(await, asyncio.wait_for(q:get(), 0.01))
      assert.is_false(ok)
      assert.is_true(asyncio.TimeoutError:is(err))
      assert.equal("<Queue maxsize=0>", tostring(q))
   end))
end)

describe("queue waits, many at once", function()
   it("lose and duplicate nothing across waits cancelled at any point", helper.async(function()
      -- getters and putters wait, are woken, are cancelled before or after
      -- their wakeup, and wait again, many times on the same queues (whose
      -- waiter futures are recycled); every item must arrive exactly once
      local q = asyncio.Queue(2)
      local received, sent = {}, 0
      local x = 12345
      local function rand(n)
         x = x * 48271 % 2147483647
         return x % n
      end
      local consumers = {}
      local function consumer()
         return spawn(function()
            while true do
               local v = await(q:get())
               received[v] = (received[v] or 0) + 1
               if rand(3) == 0 then
                  await(asyncio.sleep(0))
               end
            end
         end)
      end
      for i = 1, 3 do
         consumers[i] = consumer()
      end
      local pending = {}
      for round = 1, 300 do
         local item = round
         local p = spawn(function() await(q:put(item)) end)
         pending[#pending + 1] = { p, item }
         if rand(4) == 0 then
            local victim = rand(3) + 1
            consumers[victim]:cancel()
            consumers[victim] = consumer()
         end
         if rand(5) == 0 and #pending > 0 then
            pending[#pending][1]:cancel() -- may be before or after its wakeup
         end
         for _ = 0, rand(3) do
            await(asyncio.sleep(0))
         end
      end
      for _ = 1, 10 do
         await(asyncio.sleep(0))
      end
      for _, pi in ipairs(pending) do
         local t, item = pi[1], pi[2]
         assert.is_true(t:done())
         if not t:cancelled() then
            sent = sent + 1
            assert.equal(1, received[item], "item " .. item)
         else
            assert.is_nil(received[item])
         end
      end
      local total = 0
      for _, n in pairs(received) do
         total = total + n
      end
      assert.equal(sent, total + q:qsize())
   end))
end)

describe("queue operations as coroutine objects", function()
   it("are coroutine objects that tasks accept", helper.async(function()
      local q = asyncio.Queue()
      assert.is_true(asyncio.iscoroutine(q:get()))
      assert.is_true(asyncio.iscoroutine(q:put(1)))
      assert.is_true(asyncio.iscoroutine(q:join()))
      local t = asyncio.create_task(q:get())
      q:put_nowait(1)
      assert.equal(1, await(t))
      assert.matches("^<coroutine object Queue%.get at 0x%x+>$", tostring(q:get()))
      q:put_nowait(2)
      assert.equal(2, q:get():await())
   end))

   it("run nothing until awaited, like Python's coroutines", helper.async(function()
      local q = asyncio.Queue()
      local put = q:put("later")
      assert.equal(0, q:qsize())
      local get = q:get()
      await(put)
      assert.equal(1, q:qsize())
      assert.equal("later", await(get))
   end))

   it("keep each put()'s item when several are made before awaiting", helper.async(function()
      local q = asyncio.Queue()
      local a, b, c = q:put("a"), q:put("b"), q:put("c")
      await(c)
      await(a)
      await(b)
      assert.same({ "c", "a", "b" }, drain(q))
   end))

   it("refuse to put the same item twice", helper.async(function()
      local q = asyncio.Queue()
      local p = q:put(1)
      await(p)
      local ok, err = pcall(await, p)
      assert.is_false(ok)
      assert.equal("cannot reuse already awaited coroutine", err)
   end))

   it("refuse to run a copy's function on something else (it read slot 2 of a number)", helper.async(function()
      local q = asyncio.Queue()
      local _, copy = q:put(1), q:put(2)
      for _, bad in ipairs({ 5, "x", false }) do
         local ok, err = pcall(copy.fn, bad)
         assert.is_false(ok)
         assert.equal("cannot reuse already awaited coroutine", err)
      end
      await(copy)
      assert.equal(2, q:get_nowait())
   end))

   it("allocate nothing when they need not wait", helper.async(function()
      local q = asyncio.Queue()
      await(q:put(0))
      await(q:get())
      collectgarbage("stop")
      local before = collectgarbage("count")
      for i = 1, 1000 do
         await(q:put(i))
         await(q:get())
      end
      local grown = collectgarbage("count") - before
      collectgarbage("restart")
      assert.is_true(grown < 1, ("grew by %.1f KiB"):format(grown))
   end))
end)

describe("a queue and the loops", function()
   it("is bound to the loop that first waits on it", function()
      local q = asyncio.Queue()
      helper.run(function()
         local t = asyncio.create_task(q:get())
         await(asyncio.sleep(0))
         q:put_nowait(1)
         await(t)
      end)
      local ok, err = pcall(helper.run, function() await(q:get()) end)
      assert.is_false(ok)
      assert.equal("<Queue> is bound to a different event loop", err) -- no line of ours
   end)

   it("binds join apart from get and put, as Python's join waits on an Event of its own", function()
      local q = asyncio.Queue()
      helper.run(function()
         q:put_nowait(1)
         asyncio.create_task(function() q:get_nowait(); q:task_done() end)
         await(q:join()) -- waits: join is bound to this loop, get and put are not
      end)
      assert.equal(2, helper.run(function()
         local t = asyncio.create_task(q:get())
         await(asyncio.sleep(0)) -- get waits on a second loop
         q:put_nowait(2)
         return await(t)
      end))
      local ok, err = pcall(helper.run, function()
         q:put_nowait(3)
         await(q:join())
      end)
      assert.is_false(ok)
      assert.equal("<Queue> is bound to a different event loop", err)
   end)

   it("is collected with its blocked tasks once unreachable", function()
      local weak = setmetatable({}, { __mode = "v" })
      helper.run(function()
         local q = asyncio.Queue()
         weak.q = q
         weak.op = q:get()
         await(q:put(1))
         await(q:get())
      end)
      helper.full_gc()
      assert.is_nil(weak.q)
      assert.is_nil(weak.op)
   end)
end)

describe("PriorityQueue and re-entrant comparisons", function()
   -- heap operations compared, then moved items by stale positions: items
   -- came out twice or were lost; Python's heapq raises RuntimeError
   it("raises when an item's __lt changes the queue, and loses nothing", function()
      local q = asyncio.PriorityQueue()
      local mt, arm = {}, false
      mt.__lt = function(a, b)
         if arm then
            arm = false
            q:put_nowait(setmetatable({ v = 0 }, mt))
         end
         return a.v < b.v
      end
      for _, v in ipairs({ 1, 2, 3, 4, 5 }) do q:put_nowait(setmetatable({ v = v }, mt)) end
      arm = true
      assert.has_error(function() q:get_nowait() end, "PriorityQueue changed while its items were compared")
      local got = {}
      while not q:empty() do got[#got + 1] = q:get_nowait().v end
      assert.same({ 0, 1, 2, 3, 4, 5 }, got) -- the nested put happened; nothing lost
      q:put_nowait(setmetatable({ v = 1 }, mt))
      arm = true
      assert.has_error(function() q:put_nowait(setmetatable({ v = 2 }, mt)) end,
         "PriorityQueue changed while its items were compared")
      got = {}
      while not q:empty() do got[#got + 1] = q:get_nowait().v end
      assert.same({ 0, 1 }, got)
   end)

   it("raises the same when an item's __lt empties slots it would compare next", function()
      local q = asyncio.PriorityQueue()
      local mt, armed = {}, false
      mt.__lt = function(a, b)
         if armed then
            armed = false
            for _ = 1, 3 do q:get_nowait() end
         end
         return a.v < b.v -- never called with a missing item
      end
      for v = 1, 10 do q:put_nowait(setmetatable({ v = v }, mt)) end
      armed = true
      assert.has_error(function() q:get_nowait() end, "PriorityQueue changed while its items were compared")
      assert.equal(7, q:qsize())
   end)
end)
