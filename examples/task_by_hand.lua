-- A Task written by hand on top of a Future (document 004, task.py): _step
-- resumes the coroutine; the future it hands back calls _wakeup when done.
--
-- Lua cannot subclass the C Future, so the Task holds one (task.future),
-- and its coroutine is a plain Lua coroutine: where Python's coroutine
-- yields the future that `await asyncio.sleep(2)` waits on, this one
-- yields a future of the sleep with coroutine.yield (await() works only in
-- the library's own tasks).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local Task = {}
Task.__index = Task

function Task.new(gen, loop)
   local self = setmetatable({ future = loop:create_future(), _gen = coroutine.create(gen) }, Task)
   loop:call_soon(function() self:_step() end)
   return self
end

function Task:_step(val, exc)
   local ok, f
   if exc ~= nil then
      ok, f = coroutine.resume(self._gen, nil, exc) -- gen.throw(exc)
   else
      ok, f = coroutine.resume(self._gen, val) -- gen.send(val)
   end
   if not ok then
      self.future:set_exception(f)
   elseif coroutine.status(self._gen) == "dead" then -- StopIteration
      self.future:set_result(f)
   else
      f:add_done_callback(
         function(fut) self:_wakeup(fut) end)
   end
end

function Task:_wakeup(fut)
   local ok, res = pcall(fut.result, fut)
   if not ok then
      self:_step(nil, res)
   else
      self:_step(res, nil)
   end
end

local function foo()
   coroutine.yield(asyncio.ensure_future(asyncio.sleep(2)))
   print('Hello Foo')
end

local bar = async(function()
   await(asyncio.sleep(1))
   print('Hello Bar')
end)

local loop = asyncio.get_event_loop()
local tasks = { Task.new(foo, loop).future, loop:create_task(bar()) }
loop:run_until_complete(
   asyncio.wait(tasks))
loop:close()
