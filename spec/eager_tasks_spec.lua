-- Task factories and eager tasks (Python 3.12+): loop:set_task_factory,
-- asyncio.eager_task_factory, create_task's eager_start option.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("eager tasks", function()
   it("run their first step inside create_task", helper.async(function()
      local loop = asyncio.get_running_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      assert.equal(asyncio.eager_task_factory, loop:get_task_factory())
      local log = {}
      local quick = async(function(i)
         log[#log + 1] = "runs " .. i .. " as " .. asyncio.current_task():get_name()
         return i * 10
      end)
      local t = asyncio.create_task(quick(1), { name = "q1" })
      log[#log + 1] = "created"
      assert.same({ "runs 1 as q1", "created" }, log)
      assert.is_true(t:done())
      assert.equal(10, t:result())
      assert.equal("q1", t:get_name())
      assert.is_nil(t:get_coro()) -- as Python 3.13: it let its coroutine go
      -- gather of a task like it, and of its coroutine object twice
      local c = quick(2)
      assert.same({ 10, 20, 20, n = 3 }, await(asyncio.gather(t, c, c)))
   end))

   it("keep their coroutine object while they are not done", helper.async(function()
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
      local c = async(function() await(asyncio.sleep(0)) end)()
      local t = asyncio.create_task(c)
      assert.equal(c, t:get_coro())
      await(t)
      assert.equal(c, t:get_coro())
   end))

   it("suspend like any task, and the creator goes on as the current task", helper.async(function()
      local loop = asyncio.get_running_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      local me = asyncio.current_task()
      local log = {}
      local slow = async(function()
         log[#log + 1] = "starts"
         await(asyncio.sleep(0))
         log[#log + 1] = "resumes"
         return "slow"
      end)
      local t = asyncio.create_task(slow())
      log[#log + 1] = "created"
      assert.equal(me, asyncio.current_task())
      assert.is_false(t:done())
      assert.is_true(asyncio.all_tasks()[t])
      assert.equal("slow", await(t))
      assert.same({ "starts", "created", "resumes" }, log)
   end))

   it("start before callbacks already scheduled, and their done callbacks are scheduled", helper.async(function()
      local loop = asyncio.get_running_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      local log = {}
      loop:call_soon(function() log[#log + 1] = "soon" end)
      local t = asyncio.create_task(async(function() log[#log + 1] = "eager" end)())
      t:add_done_callback(function() log[#log + 1] = "done callback" end)
      assert.same({ "eager" }, log)
      await(asyncio.sleep(0))
      assert.same({ "eager", "soon", "done callback" }, log)
   end))

   it("keep an error raised in their first step", helper.async(function()
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
      local t = asyncio.create_task(async(function() error({ code = 3 }) end)())
      assert.is_true(t:done())
      assert.equal(3, t:exception().code)
      local cancelled_self = asyncio.create_task(async(function()
         asyncio.current_task():cancel()
         await(asyncio.sleep(0))
         error("not reached")
      end)())
      assert.is_false(cancelled_self:done())
      helper.cancelled(cancelled_self)
   end))

   it("make gather, wait_for and TaskGroup finish children at once", helper.async(function()
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
      local quick = async(function(i) return i end)
      local g = asyncio.gather(quick(1), quick(2))
      assert.is_true(g:done())
      assert.same({ n = 2, 1, 2 }, g:result())
      assert.equal(3, await(asyncio.wait_for(quick(3), 1)))
      local a, b
      do
         local tg <close> = asyncio.TaskGroup()
         a = tg:create_task(quick(4))
         b = tg:create_task(async(function() await(asyncio.sleep(0)); return 5 end)())
         assert.is_true(a:done())
         assert.is_false(b:done())
      end
      assert.equal(4, a:result())
      assert.equal(5, b:result())
      local done, pending = await(asyncio.wait({ quick(6), quick(7) }))
      assert.equal(2, helper.size(done))
      assert.equal(0, helper.size(pending))
   end))

   it("nest, and fall back to the next iteration when nested too deep", helper.async(function()
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
      local chain
      chain = async(function(n)
         if n == 0 then
            return 0
         end
         return await(asyncio.create_task(chain(n - 1))) + 1
      end)
      -- far deeper than Lua's limit of nested C calls allows resumes
      assert.equal(1000, await(asyncio.create_task(chain(1000))))
      local inner
      local outer = asyncio.create_task(async(function()
         inner = asyncio.create_task(async(function() return asyncio.current_task() end)(), { name = "inner" })
         return asyncio.current_task()
      end)(), { name = "outer" })
      assert.equal(outer, outer:result())
      assert.equal(inner, inner:result())
   end))

   it("start lazily when the loop is not running", function()
      local loop = asyncio.new_event_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      local ran = false
      local t = loop:create_task(async(function() ran = true end)())
      assert.is_false(ran)
      loop:run_until_complete(t)
      assert.is_true(ran)
      loop:close()
   end)
end)

describe("create_task's eager_start option", function()
   it("starts one task at once without a factory", helper.async(function()
      local log = {}
      local t = asyncio.create_task(async(function() log[#log + 1] = "eager" end)(), { eager_start = true })
      log[#log + 1] = "after"
      assert.same({ "eager", "after" }, log)
      assert.is_true(t:done())
      local lazy = asyncio.get_running_loop():create_task(async(function() log[#log + 1] = "lazy" end)(),
                                                          { eager_start = false })
      assert.is_false(lazy:done())
      await(lazy)
   end))

   it("turns the eager factory off for one task", helper.async(function()
      local loop = asyncio.get_running_loop()
      loop:set_task_factory(asyncio.eager_task_factory)
      local t = loop:create_task(async(function() return 1 end)(), { eager_start = false })
      assert.is_false(t:done())
      assert.equal(1, await(t))
   end))

   it("must be a boolean", function()
      assert.has_error(function()
         asyncio.create_task(asyncio.sleep(0), { eager_start = 1 })
      end, "bad argument #2 to 'create_task' (eager_start must be a boolean, got number)")
   end)
end)

describe("loop:set_task_factory", function()
   it("is called as factory(loop, coro, opts) by create_task and the functions that wrap", helper.async(function()
      local loop = asyncio.get_running_loop()
      local calls = {}
      loop:set_task_factory(function(l, coro, opts)
         assert.equal(loop, l)
         calls[#calls + 1] = opts and opts.name or "-"
         return asyncio.eager_task_factory(l, coro, { name = opts and opts.name, eager_start = false })
      end)
      local t = asyncio.create_task(asyncio.sleep(0, "x"), { name = "named" })
      assert.equal("named", t:get_name())
      assert.equal("x", await(t))
      await(asyncio.gather(asyncio.sleep(0), asyncio.sleep(0)))
      assert.same({ "named", "-", "-" }, calls)
      loop:set_task_factory(nil)
      assert.is_nil(loop:get_task_factory())
      await(asyncio.create_task(asyncio.sleep(0)))
      assert.equal(3, #calls)
   end))

   it("checks the factory and what it returns", helper.async(function()
      local loop = asyncio.get_running_loop()
      assert.has_error(function() loop:set_task_factory(42) end,
                       "bad argument #1 to 'set_task_factory' (function or nil expected, got number)")
      loop:set_task_factory(setmetatable({}, { __call = function() return "junk" end }))
      assert.has_error(function() asyncio.create_task(asyncio.sleep(0)) end,
                       "the task factory returned string, not a Task or Future")
      loop:set_task_factory(nil)
   end))

   it("rejects a closed loop and bad arguments in eager_task_factory", function()
      local loop = asyncio.new_event_loop()
      assert.has_error(function() asyncio.eager_task_factory(loop, 42) end,
                       "bad argument #2 to 'eager_task_factory' (coroutine object or function expected, got number)")
      loop:close()
      assert.has_error(function() asyncio.eager_task_factory(loop, asyncio.sleep(0)) end, "Event loop is closed")
   end)

   it("nest as deep through gather as through a plain await (no extra C level in its C loop)", helper.async(function()
      -- gather's C loop called new_task with lua_call: one more C level per
      -- nested eager start, and this chain overflowed the C stack
      local function wrap(p, f)
         if p == 0 then
            return f()
         end
         local ok, v = pcall(wrap, p - 1, f)
         if not ok then
            error(v, 0)
         end
         return v
      end
      local rec
      rec = async(function(d)
         if d == 0 then
            return 0
         end
         return wrap(5, function()
            return await(asyncio.gather(rec(d - 1)))[1] + 1
         end)
      end)
      asyncio.get_running_loop():set_task_factory(asyncio.eager_task_factory)
      assert.equal(24, await(rec(24)))
   end))
end)
