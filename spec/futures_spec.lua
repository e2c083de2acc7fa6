-- Futures (API.md §3).
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("Future", function()
   local loop
   before_each(function()
      loop = asyncio.new_event_loop()
   end)
   after_each(function()
      loop:close()
   end)

   it("starts pending and raises InvalidStateError for result and exception", function()
      local fut = loop:create_future()
      assert.is_false(fut:done())
      assert.is_false(fut:cancelled())
      assert.equal("<Future pending>", tostring(fut))
      local ok, err = pcall(fut.result, fut)
      assert.is_false(ok)
      assert.is_true(asyncio.InvalidStateError:is(err))
      assert.equal("Result is not set.", err.message) -- CPython's words
      ok, err = pcall(fut.exception, fut)
      assert.is_false(ok)
      assert.is_true(asyncio.InvalidStateError:is(err))
      assert.equal("Exception is not set.", err.message)
      assert.equal(loop, fut:get_loop())
      assert.is_true(asyncio.isfuture(fut))
   end)

   it("raises InvalidStateError 'invalid state' when set twice or after cancel, as CPython", function()
      local fut = loop:create_future()
      fut:set_result(1)
      local err = helper.error_of(fut.set_result, fut, 2)
      assert.is_true(asyncio.InvalidStateError:is(err))
      assert.equal("invalid state", err.message)
      local cancelled = loop:create_future()
      cancelled:cancel()
      err = helper.error_of(cancelled.set_exception, cancelled, "boom")
      assert.equal("InvalidStateError: invalid state", tostring(err))
   end)

   it("raises Event loop is closed when its callbacks cannot be scheduled, as Python", function()
      local closing = asyncio.new_event_loop()
      local plain, with_cb, done = closing:create_future(), closing:create_future(), closing:create_future()
      local cancelled = closing:create_future()
      with_cb:add_done_callback(print)
      cancelled:add_done_callback(print)
      done:set_result(1)
      closing:close()
      plain:set_result(1) -- nothing to schedule: fine
      assert.has_error(function() with_cb:set_result(2) end, "Event loop is closed")
      assert.is_true(with_cb:done()) -- set all the same, as in Python
      assert.has_error(function() done:add_done_callback(print) end, "Event loop is closed")
      assert.has_error(function() cancelled:cancel() end, "Event loop is closed")
      assert.is_true(cancelled:cancelled())
   end)

   it("raise Event loop is closed when a task waiting in a closed loop is cancelled, as a future does", function()
      local closing = asyncio.new_event_loop()
      local fut = closing:create_future()
      local waiting = closing:create_task(asyncio.async(function() await(fut) end)())
      local unstarted = closing:create_task(asyncio.sleep(0))
      closing:run_until_complete(asyncio.sleep(0))
      closing:close()
      -- it returned true, its waiter's callback silently dropped
      assert.has_error(function() waiting:cancel("x") end, "Event loop is closed")
      assert.is_true(fut:cancelled()) -- cancelled all the same, as in Python
      assert.equal(1, waiting:cancelling())
      -- nothing left to wake (its waiter cancelled already): true, as Python's
      assert.is_true(waiting:cancel())
      assert.equal(2, waiting:cancelling())
      assert.is_true(unstarted:done() or unstarted:cancel())
   end)

   it("raise Event loop is closed once for a task asleep, parked, or awaiting a task or gather", function()
      -- a second cancel() raised again (and a gather's answered for nothing
      -- it woke): Python's finds the waiter future cancelled and answers true
      local function case(body)
         local closing = asyncio.new_event_loop()
         local sleeper = asyncio.async(function() await(asyncio.sleep(100)) end)
         local other = closing:create_task(sleeper())
         local task = closing:create_task(asyncio.async(body)(other))
         closing:run_until_complete(asyncio.sleep(0.001))
         closing:close()
         assert.has_error(function() task:cancel() end)
         assert.is_true(task:cancel())
         assert.equal(2, task:cancelling())
      end
      local q = asyncio.Queue()
      case(function() await(asyncio.sleep(100)) end)
      case(function() await(q:get()) end)
      case(function(other) await(other) end)
      case(function(other) await(asyncio.gather(other)) end)
   end)

   it("answer true when a task of a closed loop that waits on nothing is cancelled, as Python", function()
      local closing = asyncio.new_event_loop()
      local ready = closing:create_task(asyncio.async(function()
         while true do
            await(asyncio.sleep(0))
         end
      end)())
      closing:run_until_complete(asyncio.sleep(0)) -- ready left in a sleep(0)
      closing:close()
      assert.is_true(ready:cancel()) -- it raised Event loop is closed
      assert.equal(1, ready:cancelling())
   end)

   it("show a result that leads back to them as ..., as Python's recursive_repr", function()
      local fut = asyncio.Future(loop)
      fut:set_result(fut)
      assert.equal("<Future finished result=...>", tostring(fut))
      local a, b = asyncio.Future(loop), asyncio.Future(loop)
      a:set_result(b)
      b:set_result(a)
      assert.equal("<Future finished result=<Future finished result=...>>", tostring(a))
      local t = helper.run(function()
         local task = asyncio.create_task(asyncio.async(function() return asyncio.current_task() end)())
         asyncio.await(task)
         return task
      end)
      assert.matches("^<Task finished name=Task%-%d+ result=...>$", tostring(t))
      -- a __tostring that fails leaves nothing behind
      local bad = asyncio.Future(loop)
      bad:set_result(setmetatable({}, { __tostring = function() error("no tostring") end }))
      assert.has_error(function() return tostring(bad) end)
      assert.equal("<Future finished result=...>", tostring(fut))
      -- a long chain is cut, not a C stack overflow
      local chain = asyncio.Future(loop)
      chain:set_result(1)
      for _ = 1, 100 do
         local f = asyncio.Future(loop)
         f:set_result(chain)
         chain = f
      end
      assert.matches("result=...>+$", tostring(chain))
   end)

   it("keeps every result value, nils included", function()
      local fut = asyncio.Future(loop)
      fut:set_result(nil, "b", nil)
      local r = table.pack(fut:result())
      assert.equal(3, r.n)
      assert.equal("b", r[2])
      assert.is_nil(fut:exception())
      assert.equal("<Future finished result=nil>", tostring(fut))
      local none = loop:create_future()
      none:set_result()
      assert.equal(0, select("#", none:result()))
   end)

   it("raises the stored error itself", function()
      local fut = loop:create_future()
      local e = { code = 1 }
      fut:set_exception(e)
      local ok, err = pcall(fut.result, fut)
      assert.is_false(ok)
      assert.equal(e, err)
      assert.equal(e, fut:exception())
      assert.matches("^<Future finished error=table", tostring(fut))
   end)

   it("refuses to be set twice", function()
      local fut = loop:create_future()
      fut:set_result(1)
      local ok, err = pcall(fut.set_result, fut, 2)
      assert.is_false(ok)
      assert.is_true(asyncio.InvalidStateError:is(err))
      ok, err = pcall(fut.set_exception, fut, "x")
      assert.is_false(ok)
      assert.is_true(asyncio.InvalidStateError:is(err))
      assert.equal(1, fut:result())
   end)

   it("rejects a nil error and non-callable callbacks", function()
      local fut = loop:create_future()
      assert.has_error(function() fut:set_exception(nil) end,
         "bad argument #1 to 'set_exception' (error value expected, got nil)")
      assert.has_error(function() fut:add_done_callback(3) end,
         "bad argument #1 to 'add_done_callback' (function expected, got number)")
   end)

   it("cancels with a message", function()
      local fut = loop:create_future()
      assert.is_true(fut:cancel("why"))
      assert.is_false(fut:cancel())
      assert.is_true(fut:cancelled())
      assert.is_true(fut:done())
      assert.equal("<Future cancelled>", tostring(fut))
      local ok, err = pcall(fut.result, fut)
      assert.is_false(ok)
      assert.is_true(asyncio.CancelledError:is(err))
      assert.equal("why", err.message)
      assert.is_false(pcall(fut.exception, fut))
   end)

   it("schedules done callbacks with call_soon, in registration order", function()
      local fut = loop:create_future()
      local order = {}
      fut:add_done_callback(function(f)
         assert.equal(fut, f)
         order[#order + 1] = 1
      end)
      fut:add_done_callback(function() order[#order + 1] = 2 end)
      loop:call_soon(function() order[#order + 1] = "soon" end)
      fut:set_result("x")
      assert.same({}, order) -- nothing runs inside set_result
      fut:add_done_callback(function() order[#order + 1] = 3 end)
      loop:run_until_complete(asyncio.sleep(0))
      assert.same({ "soon", 1, 2, 3 }, order)
   end)

   it("removes done callbacks and counts them", function()
      local fut = loop:create_future()
      local called = 0
      local function cb() called = called + 1 end
      local function other() called = called + 10 end
      fut:add_done_callback(cb)
      fut:add_done_callback(other)
      fut:add_done_callback(cb)
      assert.equal(2, fut:remove_done_callback(cb))
      assert.equal(0, fut:remove_done_callback(cb))
      fut:set_result()
      loop:run_until_complete(asyncio.sleep(0))
      assert.equal(10, called)
   end)

   it("keeps the wakeup of a task awaiting it out of remove_done_callback", function()
      local fut = loop:create_future()
      local t = asyncio.ensure_future(async(function() return await(fut) end)(), loop)
      loop:run_until_complete(asyncio.sleep(0))
      -- the task waits in fut's callback list, as itself: not a callback
      assert.equal(0, fut:remove_done_callback(t))
      fut:add_done_callback(function() end)
      assert.equal(0, fut:remove_done_callback(t))
      fut:set_result("v")
      -- it used to time out: the task was taken out and never woke
      assert.equal("v", loop:run_until_complete(asyncio.wait_for(t, 1)))
   end)


   it("asks the __eq of a callable table in remove_done_callback, and survives one that changes the list",
      function()
      local log = {}
      local Cb = { __call = function(self) log[#log + 1] = self.key end }
      local meddle -- what __eq does to the future besides answering
      Cb.__eq = function(a, b)
         if meddle then meddle() end
         return a.key == b.key
      end
      local function cb(key) return setmetatable({ key = key }, Cb) end
      -- Python's ==: equal tables are removed, in one pass
      local fut = loop:create_future()
      local t = asyncio.ensure_future(async(function() return await(fut) end)(), loop)
      loop:run_until_complete(asyncio.sleep(0)) -- t waits in the list, as itself
      fut:add_done_callback(cb("a"))
      fut:add_done_callback(cb("b"))
      fut:add_done_callback(cb("a"))
      assert.equal(2, fut:remove_done_callback(cb("a")))
      -- __eq adding and removing callbacks while it is asked
      local extra = cb("x")
      meddle = function()
         meddle = nil
         fut:add_done_callback(extra)
         fut:add_done_callback(cb("b"))
         fut:remove_done_callback(extra)
      end
      assert.equal(1, fut:remove_done_callback(cb("b")))
      -- __eq finishing the future: its callbacks are scheduled already
      meddle = function()
         meddle = nil
         fut:set_result("v")
      end
      fut:add_done_callback(cb("c"))
      assert.equal(0, fut:remove_done_callback(cb("c")))
      assert.equal("v", loop:run_until_complete(t))
      loop:run_until_complete(asyncio.sleep(0))
      assert.same({ "b", "c" }, log)
      -- an __eq that raises leaves the list as it was
      fut = loop:create_future()
      fut:add_done_callback(cb("d"))
      fut:add_done_callback(cb("e"))
      meddle = function() error("no", 0) end
      assert.equal("no", helper.error_of(fut.remove_done_callback, fut, cb("d")))
      meddle = nil
      fut:set_result(1)
      loop:run_until_complete(asyncio.sleep(0))
      assert.same({ "b", "c", "d", "e" }, log)
   end)
   it("is awaitable from a task", function()
      local fut = loop:create_future()
      loop:call_soon(function() fut:set_result(1, nil, 3) end)
      local r = table.pack(loop:run_until_complete(asyncio.async(function()
         return await(fut)
      end)()))
      assert.same({ n = 3, 1, nil, 3 }, r)
   end)

   it("uses the current loop when none runs", function()
      asyncio.set_event_loop(loop)
      assert.equal(loop, asyncio.Future():get_loop())
      asyncio.set_event_loop(nil)
   end)

   it("reports an error nobody retrieved when collected", function()
      local reports = helper.capture_reports(loop)
      do
         local fut = loop:create_future()
         fut:set_exception("lost")
      end
      helper.full_gc()
      assert.equal(1, #reports)
      assert.equal("Future exception was never retrieved", reports[1].message)
      assert.equal("lost", reports[1].error)
   end)

   it("does not report an error that was retrieved", function()
      local reports = helper.capture_reports(loop)
      do
         local fut = loop:create_future()
         fut:set_exception("seen")
         fut:exception()
      end
      helper.full_gc()
      assert.equal(0, #reports)
   end)

   it("cancel() on a failed future counts as retrieving its error", function()
      local other = asyncio.new_event_loop()
      local reports = helper.capture_reports(other)
      local fut = other:create_future()
      fut:set_exception("answered for")
      assert.is_false(fut:cancel())
      other:close()
      fut = nil -- luacheck: ignore
      helper.full_gc()
      assert.equal(0, #reports)
   end)

   it("reports unretrieved errors when the loop closes at the latest", function()
      local other = asyncio.new_event_loop()
      local reports = helper.capture_reports(other)
      local fut = other:create_future()
      fut:set_exception("kept")
      other:close()
      assert.equal(1, #reports)
      assert.equal("kept", reports[1].error)
      fut = nil -- luacheck: ignore
      helper.full_gc()
      assert.equal(1, #reports)
   end)
end)
