-- asyncio.gather (API.md §5): results in argument order, errors, return
-- exceptions, cancellation both ways, nesting, argument errors. Ports of
-- CPython's test_tasks.py gather tests; the orders asserted were checked
-- against CPython 3.12 and 3.13 (3.11 finishes a gather of children that
-- are already done one iteration later).
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

-- Lets the loop run n iterations (default 5: enough for callbacks of
-- callbacks to settle).
local function run_briefly(n)
   for _ = 1, n or 5 do
      await(asyncio.sleep(0))
   end
end

-- A coroutine object returning what fut resolves to (CPython's
-- CoroutineGatherTests.wrap_futures).
local wrap = async(function(fut)
   return await(fut)
end)

local function futures(loop, n)
   local list = {}
   for i = 1, n do
      list[i] = loop:create_future()
   end
   return table.unpack(list)
end

local function counter()
   local c = { calls = 0 }
   function c.cb(fut)
      c.calls = c.calls + 1
      c.arg = fut
   end
   return c
end

local MyError = { __tostring = function(e) return "MyError " .. tostring(e.n) end }
local function my_error(n)
   return setmetatable({ n = n }, MyError)
end

describe("gather", function()
   for _, kind in ipairs({ "futures", "coroutines" }) do
      -- The arguments of gather for these futures, the options last.
      local function args(list, opts)
         list = { table.unpack(list) }
         if kind == "coroutines" then
            for i = 1, #list do
               list[i] = wrap(list[i])
            end
         end
         list[#list + 1] = opts or nil
         return table.unpack(list)
      end

      describe("of " .. kind, function()
         for _, opts in ipairs({ false, { return_exceptions = false }, { return_exceptions = true } }) do
            local label = opts and tostring(opts.return_exceptions) or "none"
            it(("gives the results in argument order (options %s)"):format(label), helper.async(function()
               local loop = asyncio.get_running_loop()
               local a, b, c = futures(loop, 3)
               local fut = asyncio.gather(args({ a, b, c }, opts))
               local cb = counter()
               fut:add_done_callback(cb.cb)
               b:set_result(1)
               a:set_result(2)
               run_briefly()
               assert.equal(0, cb.calls)
               assert.is_false(fut:done())
               c:set_result(3)
               run_briefly()
               assert.equal(1, cb.calls)
               assert.equal(fut, cb.arg)
               assert.same({ 2, 1, 3, n = 3 }, fut:result())
            end))
         end

         it("fails with the first error while the others go on", helper.async(function()
            local loop = asyncio.get_running_loop()
            local a, b, c, d, e = futures(loop, 5)
            local fut = asyncio.gather(args({ a, b, c, d, e }))
            local cb = counter()
            fut:add_done_callback(cb.cb)
            local err = my_error(1)
            a:set_result(1)
            b:set_exception(err)
            run_briefly()
            assert.is_true(fut:done())
            assert.equal(1, cb.calls)
            assert.equal(err, fut:exception())
            -- does nothing
            c:set_result(3)
            d:cancel()
            e:set_exception(my_error(2))
            e:exception()
            run_briefly()
            assert.equal(1, cb.calls)
         end))

         it("puts errors in the list with return_exceptions", helper.async(function()
            local loop = asyncio.get_running_loop()
            local a, b, c, d = futures(loop, 4)
            local fut = asyncio.gather(args({ a, b, c, d }, { return_exceptions = true }))
            local cb = counter()
            fut:add_done_callback(cb.cb)
            local err1, err2 = my_error(1), my_error(2)
            b:set_result(1)
            c:set_exception(err1)
            a:set_result(3)
            run_briefly()
            assert.is_false(fut:done())
            d:set_exception(err2)
            run_briefly()
            assert.is_true(fut:done())
            assert.equal(1, cb.calls)
            assert.same({ 3, 1, err1, err2, n = 4 }, fut:result())
         end))
      end)
   end

   it("fails with CancelledError, without being cancelled, when a child is cancelled", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b, c, d, e = futures(loop, 5)
      local fut = asyncio.gather(a, b, c, d, e)
      local cb = counter()
      fut:add_done_callback(cb.cb)
      a:set_result(1)
      b:cancel("why")
      run_briefly()
      assert.is_true(fut:done())
      assert.equal(1, cb.calls)
      assert.is_false(fut:cancelled())
      assert.is_true(asyncio.CancelledError:is(fut:exception()))
      assert.equal("why", fut:exception().message)
      -- does nothing
      c:set_result(3)
      d:cancel()
      e:set_exception(my_error(1))
      e:exception()
   end))

   it("puts CancelledError in the list for cancelled children with return_exceptions", helper.async(function()
      local loop = asyncio.get_running_loop()
      local a, b, c, d, e, f = futures(loop, 6)
      local fut = asyncio.gather(a, b, c, d, e, f, { return_exceptions = true })
      local cb = counter()
      fut:add_done_callback(cb.cb)
      a:set_result(1)
      local err1 = my_error(1)
      b:set_exception(err1)
      c:cancel()
      run_briefly()
      assert.is_false(fut:done())
      d:set_result(3)
      e:cancel("msg")
      local err2 = my_error(2)
      f:set_exception(err2)
      local res = await(fut)
      assert.equal(6, res.n)
      assert.is_true(asyncio.CancelledError:is(res[3]))
      assert.is_true(asyncio.CancelledError:is(res[5]))
      assert.equal("msg", res[5].message)
      res[3], res[5] = nil, nil
      assert.same({ 1, err1, nil, 3, nil, err2, n = 6 }, res)
      assert.equal(1, cb.calls)
   end))

   it("wraps coroutine objects in tasks in argument order, mixed with tasks and futures", helper.async(function()
      local loop = asyncio.get_running_loop()
      local log = {}
      local child = async(function(name, fut)
         log[#log + 1] = name .. " start"
         if fut then
            await(fut)
         else
            await(asyncio.sleep(0))
         end
         log[#log + 1] = name .. " end"
         return name, "second value"
      end)
      local done = loop:create_future()
      done:set_result("d", "ignored")
      local f = loop:create_future()
      local t = asyncio.create_task(child("t"))
      local g = asyncio.gather(child("a"), done, t, child("b", f))
      g:add_done_callback(function() log[#log + 1] = "gather cb" end)
      log[#log + 1] = "gather made, done=" .. tostring(g:done())
      loop:call_soon(function() log[#log + 1] = "soon" end)
      loop:call_soon(function() f:set_result(1) end)
      local r = await(g)
      log[#log + 1] = "awaited"
      assert.same({ "a", "d", "t", "b", n = 4 }, r)
      assert.same({ "gather made, done=false", "t start", "a start", "b start", "soon",
                    "t end", "a end", "b end", "gather cb", "awaited" }, log)
   end))

   it("keeps nil results in their places", helper.async(function()
      local r = await(asyncio.gather(async(function() return nil end)(), async(function() return 2 end)(),
         async(function() end)()))
      assert.same({ nil, 2, nil, n = 3 }, r)
   end))

   it("is done at once when every child already is (Python 3.12+)", helper.async(function()
      local loop = asyncio.get_running_loop()
      local done = loop:create_future()
      done:set_result("d")
      local g = asyncio.gather(done, done)
      assert.is_true(g:done())
      assert.same({ "d", "d", n = 2 }, g:result())
      local failed = loop:create_future()
      failed:set_exception("bad")
      g = asyncio.gather(done, failed)
      assert.is_true(g:done())
      assert.equal("bad", g:exception())
   end))

   it("of nothing is a future done with an empty list", helper.async(function()
      local loop = asyncio.get_running_loop()
      local g = asyncio.gather()
      assert.equal(loop, g:get_loop())
      assert.is_true(g:done())
      assert.same({ n = 0 }, g:result())
      g = asyncio.gather({ return_exceptions = true })
      assert.same({ n = 0 }, await(g))
   end))

   it("of nothing outside a loop uses the current loop", function()
      local loop = asyncio.new_event_loop()
      asyncio.set_event_loop(loop)
      local g = asyncio.gather()
      assert.equal(loop, g:get_loop())
      assert.same({ n = 0 }, loop:run_until_complete(g))
      asyncio.set_event_loop(nil)
      loop:close()
   end)

   it("of coroutine objects outside a loop uses the current loop", function()
      local loop = asyncio.new_event_loop()
      asyncio.set_event_loop(loop)
      local coro = async(function() return "abc" end)
      local g = asyncio.gather(coro(), coro())
      assert.equal(loop, g:get_loop())
      assert.same({ "abc", "abc", n = 2 }, loop:run_until_complete(g))
      asyncio.set_event_loop(nil)
      loop:close()
   end)

   it("uses the loop of its futures", function()
      local other = asyncio.new_event_loop()
      local children = { other:create_future(), other:create_future() }
      local g = asyncio.gather(children[1], children[2])
      assert.equal(other, g:get_loop())
      assert.is_false(g:done())
      children[1]:set_result(1)
      children[2]:set_result(2)
      assert.same({ 1, 2, n = 2 }, other:run_until_complete(g))
      other:close()
   end)

   it("refuses futures of different loops", function()
      local one, other = asyncio.new_event_loop(), asyncio.new_event_loop()
      assert.has_error(function()
         asyncio.gather(one:create_future(), other:create_future())
      end, "bad argument #2 to 'gather' (the future belongs to a different loop)")
      one:close()
      other:close()
   end)

   it("runs a coroutine object given twice once, and gives its result twice", helper.async(function()
      local runs = 0
      local coro = async(function(s)
         runs = runs + 1
         return s
      end)
      local c = coro("abc")
      local r = await(asyncio.gather(c, c, coro("def"), c))
      assert.same({ "abc", "abc", "def", "abc", n = 4 }, r)
      assert.equal(2, runs)
   end))

   it("awaits a value with __await given twice once, as Python's arg_to_fut", helper.async(function()
      local calls = 0
      local A = setmetatable({}, { __await = function()
         calls = calls + 1
         return asyncio.sleep(0, calls)
      end })
      local c = async(function() return "c" end)()
      assert.same({ 1, "c", 1, n = 3 }, await(asyncio.gather(A, c, A)))
      assert.equal(1, calls) -- was 2, with { 1, "c", 2 }
   end))

   it("counts a future given twice twice", helper.async(function()
      local loop = asyncio.get_running_loop()
      local f = loop:create_future()
      local g = asyncio.gather(f, f)
      f:set_result(7)
      assert.same({ 7, 7, n = 2 }, await(g))
   end))

   it("runs sleep(0) given twice twice", helper.async(function()
      local s = asyncio.sleep(0)
      assert.same({ nil, nil, n = 2 }, await(asyncio.gather(s, s)))
   end))

   it("fails with a coroutine object awaited elsewhere, as Python's, when awaited", helper.async(function()
      local coro = async(function() return 1 end)
      local c = coro()
      await(c)
      local g = asyncio.gather(coro(), c)
      assert.equal("cannot reuse already awaited coroutine", helper.error_of(await, g))
   end))

   it("accepts values with __await", helper.async(function()
      local loop = asyncio.get_running_loop()
      local f = loop:create_future()
      local aw = setmetatable({}, { __await = function() return f end })
      local g = asyncio.gather(aw, async(function() return 2 end)())
      f:set_result(1)
      assert.same({ 1, 2, n = 2 }, await(g))
   end))

   describe("cancelled", function()
      it("ends in the CancelledError of the last child in argument order, as Python", helper.async(function()
         -- Python's _done_callback raises fut._make_cancelled_error() with
         -- fut left bound to the last child by its loop over the children
         local function cancel_gather_of(last)
            local first = asyncio.create_task(async(function()
               if not pcall(await, asyncio.sleep(1)) then
                  await(asyncio.sleep(0.005)) -- finishes last, with its own error
                  error(asyncio.CancelledError("a-own"), 0)
               end
            end)())
            local g = asyncio.gather(first, asyncio.create_task(last), { return_exceptions = true })
            await(asyncio.sleep(0))
            g:cancel("gm")
            return helper.error_of(await, g)
         end
         local err = cancel_gather_of(asyncio.sleep(1))
         assert.equal("gm", err.message) -- the last child's, not the first's "a-own"
         -- the last child caught the cancellation and returned: a new, bare one
         err = cancel_gather_of(async(function() pcall(await, asyncio.sleep(1)) return "b" end)())
         assert.is_true(asyncio.CancelledError:is(err))
         assert.is_nil(err.message)
      end))

      it("ends in the cancel message a last child that was running kept, as Python's _cancel_message",
         helper.async(function()
         -- checked against CPython 3.13: cancel() of a running task has
         -- nothing to cancel in its place and keeps the message, which
         -- _make_cancelled_error() gives even if the task caught the
         -- CancelledError and returned; a sleeping one's sleep takes it
         local outer
         local running = async(function()
            outer:cancel("stop")
            pcall(await, asyncio.sleep(0))
            return 1
         end)
         local sleeping = async(function()
            pcall(await, asyncio.sleep(10))
            return 1
         end)
         local gathers = async(function(child) return await(asyncio.gather(child())) end)
         outer = asyncio.create_task(gathers(running))
         local err = helper.error_of(await, outer)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.equal("stop", err.message)
         outer = asyncio.create_task(gathers(sleeping))
         run_briefly(2)
         outer:cancel("stop")
         err = helper.error_of(await, outer)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.is_nil(err.message)
      end))

      it("ends in the message of a later cancel() of a child whose sleep or park was cancelled already",
         helper.async(function()
         -- checked against CPython 3.13: the body gets the first message
         -- (its waiter future's, cancelled already), but each later
         -- cancel(msg) replaces _cancel_message, which a gather ends in
         -- when that child caught the error and returned
         local lock = asyncio.Lock()
         await(lock:acquire())
         local queue = asyncio.Queue()
         local got = {}
         local child = async(function(kind)
            local ok, err = pcall(function()
               if kind == "self-sleep" then
                  asyncio.current_task():cancel("s1")
                  await(asyncio.sleep(1))
               elseif kind == "self-park" then
                  asyncio.current_task():cancel("s1")
                  await(queue:get())
               elseif kind == "sleep" then
                  await(asyncio.sleep(1))
               elseif kind == "lock" then
                  await(lock:acquire())
               else
                  await(queue:get())
               end
            end)
            assert(not ok)
            got[kind] = err.message
            return "ret"
         end)
         for _, kind in ipairs({ "self-sleep", "self-park", "sleep", "lock", "queue" }) do
            local t = asyncio.create_task(child(kind))
            await(asyncio.sleep(0))
            local g = asyncio.gather(t)
            assert.is_true(g:cancel("m1"))
            assert.is_true(t:cancel("m2"))
            assert.is_true(t:cancel("m3"))
            local err = helper.error_of(await, g)
            assert.is_true(asyncio.CancelledError:is(err), kind)
            assert.equal("m3", err.message, kind)
            assert.equal("ret", t:result())
         end
         assert.same({ ["self-sleep"] = "s1", ["self-park"] = "s1", sleep = "m1", lock = "m1", queue = "m1" },
                     got)
      end))

      it("lists a new CancelledError per cancelled child, with its _cancel_message or '', as Python",
         helper.async(function()
         -- checked against CPython 3.13: [('',), ('late',), ('',), ('fm',)]
         local loop = asyncio.get_running_loop()
         local sleeper = asyncio.create_task(asyncio.sleep(10))
         local late = asyncio.create_task(async(function()
            asyncio.current_task():cancel("late") -- returns with the cancel pending
            return 1
         end)())
         local f, f2 = loop:create_future(), loop:create_future()
         await(asyncio.sleep(0))
         sleeper:cancel("m")
         f:cancel()
         f2:cancel("fm")
         -- cancelled before it started: the CancelledError thrown into it
         -- ends it, as a raised one does
         local early = asyncio.create_task(async(function() return 1 end)())
         early:cancel("early")
         local res = await(asyncio.gather(sleeper, late, f, f2, early, { return_exceptions = true }))
         for i = 1, 5 do
            assert.is_true(asyncio.CancelledError:is(res[i]), "entry " .. i)
         end
         assert.same({ "", "late", "", "fm", "" },
                     { res[1].message, res[2].message, res[3].message, res[4].message, res[5].message })
         -- the tasks themselves still raise the CancelledError that ended them
         assert.equal("m", helper.error_of(await, sleeper).message)
         assert.equal("early", helper.error_of(await, early).message)
      end))

      it("ends in the CancelledError of the last child when all were cancelled", helper.async(function()
         local g = asyncio.gather(asyncio.sleep(1), asyncio.sleep(1), { return_exceptions = true })
         await(asyncio.sleep(0))
         assert.is_true(g:cancel("first"))
         g:cancel("second") -- the children keep the first message
         local err = helper.error_of(await, g)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.equal("first", err.message)
         -- a child that catches the cancellation and returns: no message
         local stubborn = async(function()
            if not pcall(await, asyncio.sleep(1)) then return "kept" end
         end)
         g = asyncio.gather(stubborn())
         await(asyncio.sleep(0))
         g:cancel("lost")
         err = helper.error_of(await, g)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.is_nil(err.message)
      end))

      it("cancels every child, and the task awaiting it gets CancelledError (CPython test_cancellation_broadcast)",
         helper.async(function()
         local loop = asyncio.get_running_loop()
         local proof = 0
         local waiter = loop:create_future()
         local inner = async(function()
            await(waiter)
            proof = proof + 1
         end)
         local child1 = asyncio.ensure_future(inner())
         local child2 = asyncio.ensure_future(inner())
         local gatherer
         local outer = async(function()
            gatherer = asyncio.gather(child1, child2)
            await(gatherer)
            proof = proof + 100
         end)
         local f = asyncio.ensure_future(outer())
         run_briefly(1)
         assert.is_true(f:cancel())
         local ok, err = pcall(await, f)
         assert.is_false(ok)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.is_true(f:cancelled())
         assert.is_false(gatherer:cancel())
         assert.is_true(waiter:cancelled())
         assert.is_true(child1:cancelled())
         assert.is_true(child2:cancelled())
         assert.is_true(asyncio.CancelledError:is(gatherer:exception()))
         run_briefly(1)
         assert.equal(0, proof)
      end))

      it("directly ends in CancelledError even with return_exceptions", helper.async(function()
         local loop = asyncio.get_running_loop()
         local a, b = loop:create_future(), loop:create_future()
         local child = asyncio.create_task(async(function() return await(b) end)())
         local g = asyncio.gather(a, child, { return_exceptions = true })
         run_briefly(1)
         assert.is_true(g:cancel("stop"))
         assert.is_false(g:done()) -- it waits for the children
         local ok, err = pcall(await, g)
         assert.is_false(ok)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.equal("stop", err.message)
         assert.is_false(g:cancelled())
         assert.is_true(a:cancelled())
         assert.is_true(child:cancelled())
         assert.is_false(g:cancel())
      end))

      it("returns false once every child is done (CPython test_cancel_gather_1)", function()
         local loop = asyncio.new_event_loop()
         local fut = loop:create_future()
         local gather_future = loop:run_until_complete(async(function()
            return asyncio.ensure_future(asyncio.gather(async(function() return await(fut) end)()))
         end)())
         local cancel_result
         fut:add_done_callback(function()
            cancel_result = gather_future:cancel()
         end)
         fut:set_result(42)
         loop:run_until_complete(gather_future)
         assert.is_false(cancel_result)
         assert.is_false(gather_future:cancelled())
         assert.same({ 42, n = 1 }, gather_future:result())
         loop:close()
      end)

      for _, msg in ipairs({ false, "my message", 5 }) do
         it(("passes the message %s to the awaiting task (CPython test_cancel_gather_2)"):format(tostring(msg)),
            helper.async(function()
               local test = async(function()
                  local time = 0
                  while true do
                     time = time + 0.01
                     await(asyncio.gather(asyncio.sleep(0.01), { return_exceptions = true }))
                     if time > 1 then
                        return
                     end
                  end
               end)
               local qwe = asyncio.create_task(test())
               await(asyncio.sleep(0.05))
               if msg then
                  qwe:cancel(msg)
               else
                  qwe:cancel()
               end
               local ok, err = pcall(await, qwe)
               assert.is_false(ok)
               assert.is_true(asyncio.CancelledError:is(err))
               assert.equal(msg or nil, err.message)
               assert.is_true(qwe:cancelled())
            end))
      end

      it("cancels a nested group and only it", helper.async(function()
         local loop = asyncio.get_running_loop()
         local log = {}
         local coro = async(function(tag, fut)
            local ok, err = pcall(await, fut)
            if not ok then
               log[#log + 1] = tag .. " cancelled"
               error(err, 0)
            end
            return tag
         end)
         -- a future each: cancelling a task cancels the future it awaits
         local release = { futures(loop, 4) }
         local group1 = asyncio.gather(coro("1.1", release[1]), coro("1.2", release[2]))
         local group2 = asyncio.gather(coro("2.1", release[3]), coro("2.2", release[4]))
         local all = asyncio.gather(group1, group2, { return_exceptions = true })
         run_briefly(1)
         assert.is_true(group2:cancel())
         run_briefly(3)
         assert.same({ "2.1 cancelled", "2.2 cancelled" }, log)
         assert.is_true(group2:done())
         assert.is_false(group1:done())
         release[1]:set_result()
         release[2]:set_result()
         local r = await(all)
         assert.same({ "1.1", "1.2", n = 2 }, r[1])
         assert.is_true(asyncio.CancelledError:is(r[2]))
      end))

      it("cancels the whole of a chain of 300 tasks each awaiting a gather of the next", helper.async(function()
         -- each level's cancel was a C call inside the last: at about 195
         -- 'C stack overflow' came out of cancel() and the chain ran on
         local N, reached = 300, 0
         local level
         level = async(function(d)
            reached = reached + 1
            if d == 0 then
               await(asyncio.sleep(10))
               return "leaf"
            end
            return await(asyncio.gather(level(d - 1)))[1]
         end)
         local top = asyncio.create_task(level(N))
         while reached <= N do
            await(asyncio.sleep(0))
         end
         local levels = {}
         for t in pairs(asyncio.all_tasks()) do
            if t ~= asyncio.current_task() then
               levels[#levels + 1] = t
            end
         end
         assert.equal(N + 1, #levels)
         -- no message: the deferred cancels once lost their place in the list
         assert.is_true(top:cancel())
         for _, t in ipairs(levels) do
            assert.equal(1, t:cancelling())
         end
         local err = helper.error_of(await, top)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.equal(1, #asyncio.all_tasks()) -- every level ended
      end))

      it("cancels the bottom of 300 gathers each gathering the next, cancelled from the top", helper.async(function()
         -- no task between them: each gather's cancel called its child's
         -- from Lua, and at 191 'C stack overflow' left the bottom pending
         local bottom = asyncio.Future()
         local top = asyncio.gather(bottom)
         local levels = { top }
         for i = 2, 300 do
            top = asyncio.gather(top)
            levels[i] = top
         end
         await(asyncio.sleep(0))
         assert.is_true(top:cancel("enough"))
         assert.is_true(bottom:cancelled())
         local err = helper.error_of(await, top)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.equal("enough", err.message)
         for _, g in ipairs(levels) do -- failed with CancelledError, as Python's set_exception does
            assert.is_true(asyncio.CancelledError:is(g:exception()))
         end
      end))

      it("cancels every group of a gather of groups", helper.async(function()
         local loop = asyncio.get_running_loop()
         local never = loop:create_future()
         local children = {}
         local function group(n)
            local list = {}
            for i = 1, n do
               list[i] = asyncio.create_task(async(function() await(never) end)())
               children[#children + 1] = list[i]
            end
            return asyncio.gather(table.unpack(list))
         end
         local all = asyncio.gather(group(2), group(3))
         run_briefly(1)
         assert.is_true(all:cancel())
         local ok, err = pcall(await, all)
         assert.is_false(ok)
         assert.is_true(asyncio.CancelledError:is(err))
         for _, child in ipairs(children) do
            assert.is_true(child:cancelled())
         end
         assert.is_true(never:cancelled()) -- cancelling a task cancels what it awaits
      end))

      it("by a child cancelled from outside fails with CancelledError", helper.async(function()
         local loop = asyncio.get_running_loop()
         local never = loop:create_future()
         local a = asyncio.create_task(async(function() await(never) end)())
         local b = asyncio.create_task(async(function() await(asyncio.sleep(0.01)); return "b" end)())
         local g = asyncio.gather(a, b)
         run_briefly(1)
         a:cancel()
         local ok, err = pcall(await, g)
         assert.is_false(ok)
         assert.is_true(asyncio.CancelledError:is(err))
         assert.is_false(g:cancelled())
         assert.is_false(b:done()) -- the others keep running
         assert.equal("b", await(b))
      end))
   end)

   it("marks the errors of later children retrieved (CPython test_exception_marking)", helper.async(function()
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local inner = async(function(f)
         await(f)
         error("should not be ignored", 0)
      end)
      local a, b = loop:create_future(), loop:create_future()
      local f = asyncio.ensure_future(async(function()
         await(asyncio.gather(inner(a), inner(b)))
      end)())
      run_briefly(1)
      a:set_result()
      run_briefly(1)
      b:set_result()
      run_briefly(3)
      assert.equal("should not be ignored", f:exception())
      helper.full_gc()
      run_briefly(1)
      assert.same({}, reports)
   end))

   it("counts its error retrieved when the awaiting task is cancelled as it fails, as Python's wakeup",
      helper.async(function()
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local kid = async(function() error("boom", 0) end)
      local t = asyncio.create_task(async(function()
         await(asyncio.gather(kid()))
      end)())
      await(asyncio.sleep(0))
      await(asyncio.sleep(0)) -- the child failed; the gather's wakeup is queued
      assert.is_true(t:cancel())
      helper.cancelled(t)
      helper.full_gc()
      await(asyncio.sleep(0))
      assert.same({}, reports) -- Python's __wakeup took the result first
   end))

   it("leaves no callback error when an argument is bad (CPython test_issue46672)", helper.async(function()
      local loop = asyncio.get_running_loop()
      local reports = helper.capture_reports(loop)
      local coro = async(function(s) return s end)
      assert.has_error(function() asyncio.gather(coro("abc"), 5) end,
         "bad argument #2 to 'gather' (awaitable expected, got number)")
      run_briefly()
      assert.same({}, reports)
   end))

   it("names the function and argument in its errors", function()
      local coro = async(function() end)
      assert.has_error(function() asyncio.gather(print) end,
         "bad argument #1 to 'gather' (awaitable expected, got function; call it to get one)")
      assert.has_error(function() asyncio.gather(coro, coro()) end,
         "bad argument #1 to 'gather' (awaitable expected, got function; call it to get one)")
      assert.has_error(function() asyncio.gather("x") end,
         "bad argument #1 to 'gather' (awaitable expected, got string)")
      assert.has_error(function() asyncio.gather(asyncio.sleep(0), { return_exception = true }) end,
         "bad argument #2 to 'gather' (unknown option 'return_exception')")
      assert.has_error(function() asyncio.gather(asyncio.sleep(0), { return_exceptions = 1 }) end,
         "bad argument #2 to 'gather' (option 'return_exceptions' must be a boolean, got number)")
      asyncio.set_event_loop(nil)
   end)

   it("fails with a stand-in when a child fails with a nil error", helper.async(function()
      local g = asyncio.gather(async(function() error(nil) end)())
      local ok, err = pcall(await, g)
      assert.is_false(ok)
      assert.equal("(error object is a nil value)", err)
      local r = await(asyncio.gather(async(function() error(nil) end)(), { return_exceptions = true }))
      assert.same({ "(error object is a nil value)", n = 1 }, r)
   end))

   it("gathers many children", helper.async(function()
      local coros = {}
      local id = async(function(i) return i end)
      for i = 1, 10000 do
         coros[i] = id(i)
      end
      local r = await(asyncio.gather(table.unpack(coros)))
      assert.equal(10000, r.n)
      for i = 1, 10000 do
         assert(r[i] == i)
      end
   end))
end)
