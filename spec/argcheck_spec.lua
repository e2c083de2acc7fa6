-- Argument errors of the C methods and functions (src/argcheck.c): they
-- name the method, and count its arguments after self, however it is
-- called, as Python's TypeError names it; lauxlib alone would say "bad
-- argument #2 to '?'" through pcall or an alias.
local asyncio = require("asyncio")
local helper = require("spec.helper")

local function message_of(f, ...)
   return tostring(helper.failure(f, ...))
end

describe("argument errors of C methods", function()
   local loop

   before_each(function()
      loop = asyncio.new_event_loop()
   end)

   after_each(function()
      loop:close()
   end)

   it("count arguments after self whether called with a colon, a dot, an alias or pcall", function()
      local expected = "bad argument #1 to 'call_later' (number expected, got string)"
      local call_later = loop.call_later
      assert.equal(expected, message_of(loop.call_later, loop, "x", print))
      assert.matches(expected, message_of(function() return loop:call_later("x", print) end), 1, true)
      assert.matches(expected, message_of(function() return loop.call_later(loop, "x", print) end), 1, true)
      assert.matches(expected, message_of(function() return call_later(loop, "x", print) end), 1, true)
   end)

   it("say 'bad self' when self is wrong, however called", function()
      assert.equal("calling 'call_soon' on bad self (event loop expected, got number)",
         message_of(loop.call_soon, 1, print))
      assert.equal("calling 'set_name' on bad self (asyncio.Task expected, got no value)",
         message_of(loop:create_task(asyncio.sleep(0)).set_name))
      loop:run_until_complete(asyncio.sleep(0))
   end)

   it("name a Task's methods inherited from Future and its own cancel methods", function()
      local task = loop:create_task(asyncio.sleep(0))
      assert.equal("bad argument #1 to 'add_done_callback' (function expected, got number)",
         message_of(task.add_done_callback, task, 1))
      assert.equal("calling 'uncancel' on bad self (asyncio.Task expected, got table)",
         message_of(task.uncancel, {}))
      loop:run_until_complete(task)
   end)

   it("name the functions exported as they are, counting every argument", function()
      assert.equal("bad argument #1 to 'create_task' (coroutine object or function expected, got number)",
         message_of(asyncio.create_task, 1))
      assert.equal("bad argument #2 to 'eager_task_factory' (coroutine object or function expected, got number)",
         message_of(asyncio.eager_task_factory, loop, 1))
   end)

   it("leave the core's internal functions to lauxlib, which names them by the call", function()
      local core = require("asyncio.core")
      local fddup2 = core.fddup2
      assert.matches("bad argument #1 to 'fddup2' (number expected, got string)",
         message_of(function() return core.fddup2("x") end), 1, true)
      assert.matches("bad argument #1 to 'fddup2' (number expected, got string)",
         message_of(function() return fddup2("x") end), 1, true)
   end)
end)
