-- Futures and tasks (API.md §3-4) as the module functions and loop methods
-- that make them; the objects themselves are C (src/future.c, src/task.c).

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local taskset = require("asyncio.taskset")

local M = {}
local Loop, Future, Task = core.Loop, core.Future, core.Task
local typeof, argerror = core.typeof, coroutines.argerror
local iscoroutine = coroutines.iscoroutine

Future.await = coroutines.await
Task.await = coroutines.await

-- Wraps a coroutine object or function in a new task on loop.
local function spawn(loop, coro, name)
   return core.new_task(loop, coro, name)
end
M.spawn = spawn

-- loop:create_task(coro [, opts]) and asyncio.create_task(coro [, opts])
-- are C (src/task.c): the Task starts on the next iteration, or at once
-- with opts.eager_start. loop:set_task_factory and get_task_factory are C
-- too.
M.create_task = core.create_task

-- asyncio.eager_task_factory(loop, coro [, opts]): for
-- loop:set_task_factory, tasks that start at once (Python 3.12).
M.eager_task_factory = core.eager_task_factory

function Loop:create_future(...)
   coroutines.check_no_more("create_future", 0, ...)
   return core.new_future(self)
end

-- asyncio.Future([loop])
function M.Future(loop)
   if loop ~= nil and typeof(loop) ~= "loop" then
      argerror(1, "Future", "event loop or nil", loop)
   end
   return core.new_future(loop or events.get_event_loop())
end

function M.isfuture(x)
   local t = typeof(x)
   return t == "future" or t == "task"
end

local function has_await(x)
   local mt = getmetatable(x)
   return type(mt) == "table" and mt.__await ~= nil
end

-- The coroutine a task runs to await a value with __await, as Python's
-- _wrap_awaitable: such a task's get_coro() is a coroutine object too.
M.wrap_awaitable = coroutines.async(function(x)
   return coroutines.await(x)
end)

-- asyncio.ensure_future(aw [, loop | {loop = loop}]): futures and tasks as
-- they are, coroutine objects and __await values wrapped in a task. The
-- table form is Python's keyword, ensure_future(aw, loop=loop).
function M.ensure_future(aw, loop)
   if type(loop) == "table" and getmetatable(loop) == nil then
      local opts = loop
      loop = opts.loop
      for k in pairs(opts) do
         if k ~= "loop" then
            error(("bad argument #2 to 'ensure_future' (unknown option '%s')"):format(tostring(k)), 2)
         end
      end
   end
   if loop ~= nil and typeof(loop) ~= "loop" then
      argerror(2, "ensure_future", "event loop or nil", loop)
   end
   local t = typeof(aw)
   if t == "future" or t == "task" then
      if loop ~= nil and aw:get_loop() ~= loop then
         error("bad argument #2 to 'ensure_future' (the future is attached to a different loop)", 2)
      end
      return aw
   end
   loop = loop or events.get_event_loop()
   if iscoroutine(aw) then
      return spawn(loop, aw)
   end
   if has_await(aw) then
      return spawn(loop, M.wrap_awaitable(aw))
   end
   if type(aw) == "function" then
      error("bad argument #1 to 'ensure_future' (awaitable expected, got function; call it first)", 2)
   end
   argerror(1, "ensure_future", "awaitable", aw)
end

-- asyncio.current_task([loop]) -> the task running on loop (default: the
-- running loop, and as in Python an error when none runs), or nil.
function M.current_task(loop)
   if loop == nil then
      if core.get_running_loop() == nil then error("no running event loop", 2) end
   elseif typeof(loop) ~= "loop" then
      argerror(1, "current_task", "loop", loop)
   elseif loop ~= core.get_running_loop() then
      return nil
   end
   return core.current_task()
end

-- asyncio.all_tasks([loop]) -> {[task] = true} of unfinished tasks.
function M.all_tasks(loop)
   if loop ~= nil and typeof(loop) ~= "loop" then
      argerror(1, "all_tasks", "event loop or nil", loop)
   end
   loop = loop or core.get_running_loop() or events.get_event_loop()
   local set = {}
   for _, task in pairs(loop:_tasks()) do
      if task and not task:done() then -- false: a task being made
         set[task] = true
      end
   end
   return taskset.new(set)
end

-- Raises, at the line of the caller of the caller, what the core's
-- run_forever would raise from a line of ours: loop is closed or cannot
-- run now.
function M.check_runnable(loop)
   if loop:is_closed() then
      error("Event loop is closed", 3)
   elseif loop:is_running() then
      error("This event loop is already running", 3)
   elseif core.get_running_loop() ~= nil then
      error("Cannot run the event loop while another loop is running", 3)
   end
end

-- loop:run_until_complete(aw) -> ...: runs the loop until aw is done.
function Loop:run_until_complete(aw)
   M.check_runnable(self)
   local new_task = not M.isfuture(aw)
   if not new_task and aw:get_loop() ~= self then
      error("bad argument #1 to 'run_until_complete' (the future is attached to a different loop)", 2)
   elseif new_task and not iscoroutine(aw) and not has_await(aw) then
      if type(aw) == "function" then
         error("bad argument #1 to 'run_until_complete' (awaitable expected, got function; call it first)", 2)
      end
      argerror(1, "run_until_complete", "awaitable", aw)
   end
   local fut = M.ensure_future(aw, self)
   if new_task and getmetatable(fut) == core.Task_mt then
      core.task_set_quiet(fut) -- as Python's _log_destroy_pending = False
   end
   local function stop_loop()
      self:stop()
   end
   fut:add_done_callback(stop_loop)
   local ok, err = pcall(self.run_forever, self)
   fut:remove_done_callback(stop_loop)
   if not ok then
      if new_task and fut:done() and not fut:cancelled() then
         fut:exception() -- it is re-raised below: do not report it again
      end
      error(err, 0)
   end
   if not fut:done() then
      error("Event loop stopped before Future completed.", 2)
   end
   return fut:result()
end

core.set_hooks({
   report = events.report,
   get_event_loop = events.get_event_loop,
   -- where this library's Lua files are (the source of this one, up to its
   -- last slash): errors raised in C name the first caller outside them
   libsource = debug.getinfo(1, "S").source:match("^(.*[/\\])"),
})

return M
