-- async, await and coroutine objects (API.md §1).
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("coroutine objects", function()
   it("run nothing until awaited", function()
      local ran = false
      local f = async(function() ran = true end)
      local co = f()
      assert.is_false(ran)
      assert.is_true(asyncio.iscoroutine(co))
      assert.is_true(asyncio.iscoroutinefunction(f))
      assert.is_false(asyncio.iscoroutinefunction(function() end))
      assert.is_false(asyncio.iscoroutine({}))
      helper.run(function() await(co) end)
      assert.is_true(ran)
   end)

   it("read as Python's repr: named by where their function was written, at their own address", function()
      local body = function() end
      local f = async(body)
      local a, b = f(), f()
      local name = ("spec/coroutines_spec.lua:%d"):format(debug.getinfo(body, "S").linedefined)
      assert.equal(("<coroutine object %s at %p>"):format(name, a), tostring(a))
      assert.are_not.equal(tostring(a), tostring(b))
      assert.matches("^<coroutine object sleep at 0x%x+>$", tostring(asyncio.sleep(1)))
      assert.matches("^<coroutine object sleep at 0x%x+>$", tostring(asyncio.sleep(0)))
      helper.run(function() await(a) await(b) end)
   end)

   it("include the library's own async functions, as Python's async def ones", function()
      for _, name in ipairs({ "sleep", "wait", "wait_for", "open_connection", "start_server",
                              "create_subprocess_exec", "getaddrinfo" }) do
         assert.is_true(asyncio.iscoroutinefunction(asyncio[name]), name)
      end
      assert.is_false(asyncio.iscoroutinefunction(asyncio.gather)) -- a plain function there too
      assert.equal("slept", asyncio.run(asyncio.sleep, 0, "slept")) -- was the un-run coroutine
   end)

   it("include the methods Python writes async def, and only those", helper.async(function()
      local is = asyncio.iscoroutinefunction
      local q, lock, event, cond = asyncio.Queue(), asyncio.Lock(), asyncio.Event(), asyncio.Condition()
      local sem, barrier = asyncio.BoundedSemaphore(), asyncio.Barrier(1)
      for what, method in pairs({ ["q.put"] = q.put, ["q.get"] = q.get, ["q.join"] = q.join,
                                  ["lock.acquire"] = lock.acquire, ["event.wait"] = event.wait,
                                  ["cond.acquire"] = cond.acquire, ["cond.wait"] = cond.wait,
                                  ["cond.wait_for"] = cond.wait_for, ["sem.acquire"] = sem.acquire,
                                  ["barrier.wait"] = barrier.wait, ["barrier.reset"] = barrier.reset,
                                  ["barrier.abort"] = barrier.abort, to_thread = asyncio.to_thread }) do
         assert.is_true(is(method), what)
      end
      for what, method in pairs({ ["q.put_nowait"] = q.put_nowait, ["q.task_done"] = q.task_done,
                                  ["lock.release"] = lock.release, ["event.set"] = event.set,
                                  ["cond.notify"] = cond.notify, ["sem.release"] = sem.release }) do
         assert.is_false(is(method), what)
      end
      local server = await(asyncio.start_server(function() end, "127.0.0.1", 0))
      local reader, writer = await(asyncio.open_connection(server:getsockname()))
      assert.is_true(is(reader.readline) and is(writer.drain) and is(writer.wait_closed))
      assert.is_true(is(server.start_serving) and is(server.serve_forever) and is(server.wait_closed))
      assert.is_false(is(reader.at_eof) or is(writer.write))
      writer:close()
      server:close()
      local loop = asyncio.get_running_loop()
      assert.is_true(is(loop.shutdown_default_executor))
      assert.is_false(is(loop.run_in_executor)) -- returns a future, as Python's
   end))

   it("are awaited inline, without a loop iteration", helper.async(function()
      local loop = asyncio.get_running_loop()
      local order = {}
      loop:call_soon(function() order[#order + 1] = "callback" end)
      local inner = async(function(x) order[#order + 1] = "inner"; return x * 2 end)
      local outer = async(function(x) return await(inner(x)) + 1 end)
      assert.equal(7, await(outer(3)))
      order[#order + 1] = "after"
      await(asyncio.sleep(0))
      assert.same({ "inner", "after", "callback" }, order)
   end))

   it("pass every result, nils included", helper.async(function()
      local f = async(function(...) return ... end)
      local r = table.pack(await(f(nil, 2, nil)))
      assert.equal(3, r.n)
      assert.same({ n = 3, nil, 2, nil }, r)
      assert.equal(0, select("#", await(f())))
   end))

   it("can be awaited with the await method", helper.async(function()
      local f = async(function() return "m" end)
      assert.equal("m", f():await())
   end))

   it("work at any call depth, inside pcall and loops", helper.async(function()
      local function helper_fn(n)
         local total = 0
         for i = 1, n do
            total = total + await(asyncio.sleep(0, i))
         end
         return total
      end
      local ok, v = pcall(helper_fn, 4)
      assert.is_true(ok)
      assert.equal(10, v)
      local ok2, err = pcall(function()
         await(asyncio.sleep(0))
         error("boom")
      end)
      assert.is_false(ok2)
      assert.matches("boom", err)
   end))

   it("support deep chains of awaits (no C recursion)", helper.async(function()
      local depth
      depth = async(function(n)
         if n == 0 then return 0 end
         return 1 + await(depth(n - 1))
      end)
      assert.equal(5000, await(depth(5000)))
   end))

   it("refuse to be awaited twice", helper.async(function()
      local co = async(function() return 1 end)()
      await(co)
      local ok, err = pcall(await, co)
      assert.is_false(ok)
      assert.equal("cannot reuse already awaited coroutine", err)
   end))

   it("run once whatever wraps them: a task of a used one fails at its start, as in Python", helper.async(function()
      local runs = 0
      local body = async(function()
         runs = runs + 1
         await(asyncio.sleep(0))
         return runs
      end)
      local used = body()
      assert.equal(1, await(used))
      for _, wrap in ipairs({ asyncio.create_task, asyncio.ensure_future, asyncio.shield, asyncio.gather }) do
         assert.equal("cannot reuse already awaited coroutine", helper.error_of(await, wrap(used)))
      end
      local shared = body() -- two tasks of one object: the second fails
      local first, second = asyncio.create_task(shared), asyncio.create_task(shared)
      assert.equal(2, await(first))
      assert.equal("cannot reuse already awaited coroutine", helper.error_of(await, second))
      assert.equal(2, runs)
      -- cancelled before it starts, it fails all the same: as in Python,
      -- where the CancelledError thrown into the used coroutine meets it
      local t = asyncio.create_task(used)
      t:cancel()
      assert.equal("cannot reuse already awaited coroutine", helper.error_of(await, t))
      assert.equal("cannot reuse already awaited coroutine",
                   helper.error_of(await, asyncio.wait_for(used, 0)))
   end))

   it("await __await values", helper.async(function()
      local fut = asyncio.get_running_loop():create_future()
      local box = setmetatable({}, { __await = function() return fut end })
      asyncio.get_running_loop():call_soon(function() fut:set_result(5) end)
      assert.equal(5, await(box))
   end))
end)

describe("await errors", function()
   it("name a bad __await, not the value it returned", helper.async(function()
      local function err_of(x)
         local ok, err = pcall(function() return await(x) end)
         assert.is_false(ok)
         return (err:gsub("^spec/coroutines_spec%.lua:%d+: ", "HERE: "))
      end
      -- it blamed argument #1 with the type of what __await returned
      assert.equal("HERE: bad argument #1 to 'await' (the __await of table returned number, not an awaitable)",
         err_of(setmetatable({}, { __await = function() return 5 end })))
      -- it failed on a line of the library, calling a number
      assert.equal("HERE: bad argument #1 to 'await' (the __await of table is not callable)",
         err_of(setmetatable({}, { __await = 5 })))
   end))

   it("outside a task", function()
      local ok, err = pcall(await, asyncio.sleep(0))
      assert.is_false(ok)
      assert.matches("await called outside of a running task", err)
      local ok2, err2 = pcall(await, async(function() end)())
      assert.is_false(ok2)
      assert.matches("await called outside of a running task", err2)
   end)

   it("from a plain coroutine nested inside a task", helper.async(function()
      local co = coroutine.wrap(function() return pcall(await, asyncio.sleep(0)) end)
      local ok, err = co()
      assert.is_false(ok)
      assert.matches("outside of a running task", err)
   end))

   it("across a C boundary", helper.async(function()
      local ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b)
         await(asyncio.sleep(0))
         return a < b
      end)
      assert.is_false(ok)
      assert.matches("^await cannot suspend the task here: a C function", err) -- no line of the library
   end))

   it("on a plain function suggests calling it", helper.async(function()
      local ok, err = pcall(await, function() end)
      assert.is_false(ok)
      assert.matches("call it", err)
   end))

   it("on a non-awaitable names the argument", helper.async(function()
      local ok, err = pcall(await, 42)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'await' %(awaitable expected, got number%)", err)
   end))

   it("async needs a function", function()
      local ok, err = pcall(async, 1)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'async' %(function expected, got number%)", err)
   end)
end)

describe("sleep", function()
   it("rejects bad delays", function()
      assert.has_error(function() asyncio.sleep("x") end,
         "bad argument #1 to 'sleep' (number expected, got string)")
      assert.has_error(function() asyncio.sleep(0 / 0) end, "bad argument #1 to 'sleep' (number is NaN)")
   end)

   it("returns its extra values", helper.async(function()
      local a, b, c = await(asyncio.sleep(0.001, "x", nil, 3))
      assert.equal("x", a)
      assert.is_nil(b)
      assert.equal(3, c)
      assert.equal(7, await(asyncio.sleep(0, 7)))
   end))

   it("sleep(0) yields exactly one iteration and arms no timer", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local timers = loop:_timer_count() -- the spec helper's deadline
      loop:call_soon(function()
         log[#log + 1] = "a"
         loop:call_soon(function() log[#log + 1] = "b" end)
      end)
      await(asyncio.sleep(0))
      log[#log + 1] = "task"
      assert.equal(timers, loop:_timer_count())
      await(asyncio.sleep(0))
      assert.same({ "a", "task", "b" }, log)
   end))

   it("never wakes early", helper.async(function()
      local loop = asyncio.get_running_loop()
      for _, d in ipairs({ 0.001, 0.005, 0.02 }) do
         local t0 = loop:time()
         await(asyncio.sleep(d))
         assert.is_true(loop:time() - t0 >= d)
      end
   end))

   it("can be wrapped in a task", helper.async(function()
      local t = asyncio.create_task(asyncio.sleep(0.001, "r"))
      assert.equal("r", await(t))
      local t0 = asyncio.create_task(asyncio.sleep(0))
      await(t0)
      assert.is_true(t0:done())
      await(asyncio.sleep(0)) -- the shared sleep(0) object still works
   end))
end)
