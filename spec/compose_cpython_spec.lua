-- Composing awaitables (gather, wait, wait_for, as_completed, shield,
-- timeouts, TaskGroup) checked against CPython 3.13 by differential
-- testing: each spec is a scenario run both in Python and here, with the
-- order of events, values, states and error kinds Python printed. Named
-- after the CPython test it ports (test_tasks.py, test_waitfor.py,
-- test_timeouts.py, test_taskgroups.py) or, for a scenario of our own,
-- after the Python function whose behaviour it pins down.
local asyncio = require("asyncio")
local helper = require("spec.helper")

describe("gather (CPython _GatheringFuture)", function()
   it("with return_exceptions leaves a child's error unretrieved until every child is done", function()
      -- Python's _done_callback reads errors in its results loop, once
      -- the last child is done: a gather that never ends leaves them
      -- to the "never retrieved" report
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      do
         local a, b = loop:create_future(), loop:create_future()
         local g = asyncio.gather(a, b, { return_exceptions = true })
         a:set_exception("lost")
         loop:run_until_complete(asyncio.sleep(0))
         loop:run_until_complete(asyncio.sleep(0))
         assert.is_false(g:done())
      end
      helper.full_gc()
      loop:close()
      assert.equal(1, #reports)
      assert.equal("Future exception was never retrieved", reports[1].message)
      assert.equal("lost", reports[1].error)
   end)

   it("with return_exceptions retrieves the children's errors once it is done", function()
      local loop = asyncio.new_event_loop()
      local reports = helper.capture_reports(loop)
      local g
      do
         local a, b, c = loop:create_future(), loop:create_future(), loop:create_future()
         g = asyncio.gather(a, b, c, { return_exceptions = true })
         a:set_exception("first") -- stored in order
         c:set_exception("third") -- out of order
         loop:run_until_complete(asyncio.sleep(0))
         b:set_result(2)
         loop:run_until_complete(asyncio.sleep(0))
         loop:run_until_complete(asyncio.sleep(0))
         assert.same({ "first", 2, "third", n = 3 }, g:result())
      end
      helper.full_gc()
      loop:close()
      assert.same({}, reports)
   end)
end)
