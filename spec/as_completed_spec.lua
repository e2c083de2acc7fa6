-- asyncio.as_completed (API.md §5): an iterator of awaitables for the
-- results in the order they finish, with a timeout. Ports of CPython's
-- test_tasks.py as_completed tests (plain iteration).
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local sleeper = async(function(dt, value)
   await(asyncio.sleep(dt))
   return value
end)

describe("as_completed", function()
   it("gives the results in the order they finish", helper.async(function()
      local values = {}
      for aw in asyncio.as_completed({ sleeper(0.02, "b"), sleeper(0.04, "c"), sleeper(0.01, "a") }) do
         values[#values + 1] = await(aw)
      end
      assert.same({ "a", "b", "c" }, values)
   end))

   it("gives every result value and raises errors where awaited", helper.async(function()
      local loop = asyncio.get_running_loop()
      local f1, f2 = loop:create_future(), loop:create_future()
      local it = asyncio.as_completed({ f1, f2 })
      loop:call_soon(function() f2:set_result(1, nil, 3) end)
      local r = table.pack(await(it()))
      assert.same({ 1, nil, 3, n = 3 }, r)
      loop:call_soon(function() f1:set_exception("bad") end)
      local ok, err = pcall(await, it())
      assert.is_false(ok)
      assert.equal("bad", err)
      assert.is_nil(it())
   end))

   -- q:get() returns one shared object; Python's two q.get() calls are two
   -- coroutines. Deduplicated by identity, only one get ran.
   it("runs a shared coroutine object as often as it is listed, as wait does", helper.async(function()
      local q = asyncio.Queue()
      q:put_nowait(1)
      q:put_nowait(2)
      local got = {}
      for aw in asyncio.as_completed({ q:get(), q:get() }) do got[#got + 1] = await(aw) end
      table.sort(got)
      assert.same({ 1, 2 }, got)
      local n = 0
      for aw in asyncio.as_completed({ asyncio.sleep(0), asyncio.sleep(0), asyncio.sleep(0) }) do
         await(aw)
         n = n + 1
      end
      assert.equal(3, n)
      q:put_nowait(3)
      q:put_nowait(4)
      local done = await(asyncio.wait({ q:get(), q:get() }))
      assert.equal(2, helper.size(done))
      assert.equal(0, q:qsize())
      -- a task listed twice still counts once
      local t = asyncio.create_task(asyncio.sleep(0))
      done = await(asyncio.wait({ t, t }))
      assert.equal(1, helper.size(done))
   end))

   it("raises TimeoutError for what did not finish in time", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a = asyncio.create_task(asyncio.sleep(0.01, "a"))
      local b = asyncio.create_task(asyncio.sleep(0.5, "b"))
      local t0 = loop:time()
      local values = {}
      for aw in asyncio.as_completed({ a, b }, { timeout = 0.05 }) do
         local ok, v = pcall(await, aw)
         values[#values + 1] = ok and v or v
      end
      assert.equal(2, #values)
      assert.equal("a", values[1])
      assert.is_true(asyncio.TimeoutError:is(values[2]))
      assert.is_true(loop:time() - t0 < 0.4)
      assert.is_false(b:done()) -- nothing is cancelled
      b:cancel()
   end))

   it("leaves an unused timeout harmless", helper.async(function()
      for aw in asyncio.as_completed({ asyncio.sleep(0.01, "a") }, { timeout = 1 }) do
         assert.equal("a", await(aw))
      end
   end))

   it("can be resumed after a break (CPython test_as_completed_resume_iterator)", helper.async(function()
      local coro = async(function(i) return i end)
      local it = asyncio.as_completed({ coro(0), coro(1), coro(2), coro(3) })
      local collected = {}
      for aw in it do
         collected[#collected + 1] = await(aw)
         if #collected == 2 then
            break
         end
      end
      for aw in it do
         collected[#collected + 1] = await(aw)
      end
      table.sort(collected)
      assert.same({ 0, 1, 2, 3 }, collected)
   end))

   it("resolves the first awaitable awaited to the first to finish (CPython test_as_completed_reverse_wait)",
      helper.async(function()
         local futs = {}
         for aw in asyncio.as_completed({ asyncio.sleep(0.01, "a"), asyncio.sleep(0.03, "b") }) do
            futs[#futs + 1] = aw
         end
         assert.equal(2, #futs)
         assert.equal("a", await(futs[2]))
         assert.equal("b", await(futs[1]))
      end))

   it("lets its awaitables be awaited concurrently (CPython test_as_completed_concurrent)", helper.async(function()
      local futs = {}
      for aw in asyncio.as_completed({ asyncio.sleep(0.01, "a"), asyncio.sleep(0.01, "b") }) do
         futs[#futs + 1] = asyncio.ensure_future(aw)
      end
      local done, pending = await(asyncio.wait(futs))
      local results = {}
      for f in pairs(done) do
         results[#results + 1] = f:result()
      end
      table.sort(results)
      assert.same({ "a", "b" }, results)
      assert.same({}, pending)
   end))

   it("runs a coroutine object given twice once (CPython test_as_completed_duplicate_coroutines)",
      helper.async(function()
         local coro = async(function(s) return s end)
         local c = coro("ham")
         local result = {}
         for aw in asyncio.as_completed({ c, c, coro("spam") }) do
            result[#result + 1] = await(aw)
         end
         table.sort(result)
         assert.same({ "ham", "spam" }, result)
      end))

   it("hands a result on when the step waiting for it is cancelled", helper.async(function()
      local loop = asyncio.get_running_loop()
      local f1, f2 = loop:create_future(), loop:create_future()
      local it = asyncio.as_completed({ f1, f2 })
      local first = asyncio.create_task(it())
      local second = asyncio.create_task(it())
      await(asyncio.sleep(0))
      f1:set_result("one")
      await(asyncio.sleep(0)) -- "one" is queued and first woken...
      first:cancel() -- ...but cancelled before it runs: second takes "one"
      for _ = 1, 3 do
         await(asyncio.sleep(0))
      end
      assert.is_true(first:cancelled())
      assert.is_true(second:done())
      assert.equal("one", second:result())
      f2:cancel()
   end))

   it("works outside a running loop with the current loop", function()
      local loop = asyncio.new_event_loop()
      asyncio.set_event_loop(loop)
      local it = asyncio.as_completed({ async(function() return 42 end)() })
      assert.equal(42, loop:run_until_complete(it()))
      assert.is_nil(it())
      asyncio.set_event_loop(nil)
      loop:close()
   end)

   it("iterates zero times over an empty list, as Python's (it used to raise)", helper.async(function()
      local steps = 0
      for _ in asyncio.as_completed({}, { timeout = 0.01 }) do
         steps = steps + 1
      end
      assert.equal(0, steps)
   end))

   it("names the function and argument in its errors", function()
      local loop = asyncio.new_event_loop()
      local fut = loop:create_future()
      assert.has_error(function() asyncio.as_completed(fut) end,
         "bad argument #1 to 'as_completed' (list or set of awaitables expected, got asyncio.Future)")
      assert.has_error(function() asyncio.as_completed({ fut }, { timeout = {} }) end,
         "bad argument #2 to 'as_completed' (option 'timeout' must be a number or nil, got table)")
      loop:close()
   end)
end)
