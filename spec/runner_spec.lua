-- asyncio.Runner (Python 3.11): asyncio.run in parts, one loop for several
-- run calls.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("asyncio.Runner", function()
   it("runs several mains on one loop and closes it at scope exit", function()
      local loop, leftover
      do
         local runner <close> = asyncio.Runner()
         local r = table.pack(runner:run(async(function()
            await(asyncio.sleep(0))
            return 1, nil, 3
         end)()))
         assert.same({ n = 3, 1, nil, 3 }, r)
         loop = runner:get_loop()
         assert.equal(loop, asyncio.get_event_loop())
         assert.equal(42, runner:run(function(x)
            assert.equal(loop, asyncio.get_running_loop())
            leftover = asyncio.create_task(asyncio.sleep(10))
            return x * 2
         end, 21))
         assert.is_false(loop:is_closed())
         assert.equal("<asyncio.Runner initialized>", tostring(runner))
      end
      assert.is_true(loop:is_closed())
      assert.is_true(leftover:cancelled())
   end)

   it("raises the error of main and stays usable", function()
      local runner <close> = asyncio.Runner()
      local err = helper.error_of(runner.run, runner, function() error({ code = 7 }) end)
      assert.equal(7, err.code)
      assert.equal("again", runner:run(function() return "again" end))
   end)

   it("takes debug and loop_factory", function()
      local made
      local runner = asyncio.Runner({ debug = true, loop_factory = function()
         made = asyncio.new_event_loop()
         return made
      end })
      assert.equal(made, nil)
      local loop = runner:get_loop()
      assert.equal(made, loop)
      assert.is_true(loop:get_debug())
      runner:close()
      assert.is_true(loop:is_closed())
   end)

   it("refuses to run when closed, inside a running loop, or with bad arguments", function()
      local runner = asyncio.Runner()
      runner:get_loop()
      runner:close()
      runner:close() -- twice is fine
      assert.equal("Runner is closed", helper.error_of(runner.run, runner, function() end))
      assert.equal("Runner is closed", helper.error_of(runner.get_loop, runner))
      local open = asyncio.Runner()
      assert.matches("cannot be called from a running event loop", open:run(function()
         return helper.error_of(open.run, open, function() end)
      end))
      assert.matches("bad argument #1 to 'run' %(coroutine object or function expected, got number%)",
         helper.error_of(open.run, open, 5))
      assert.matches("unknown option 'bogus'", helper.error_of(asyncio.Runner, { bogus = true }))
      assert.matches("option 'debug' must be a boolean", helper.error_of(asyncio.Runner, { debug = 1 }))
      open:close()
   end)

   it("leaves nothing to close if no loop was made", function()
      local runner = asyncio.Runner()
      runner:close()
      assert.equal("<asyncio.Runner created>", tostring(runner))
   end)
end)
