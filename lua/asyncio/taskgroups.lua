-- asyncio.TaskGroup (API.md §5), Python 3.13's structured concurrency as
-- a to-be-closed scope: making the group enters it, closing it leaves it.
--
--    local tg <close> = asyncio.TaskGroup()
--    tg:create_task(work())
--
-- Closing awaits every task of the group. The first task that fails
-- cancels the others and the body (the parent task); the scope then raises
-- one ExceptionGroup whose errors list holds every failure, the body's own
-- error included and cancellations excluded. A cancellation of the parent
-- from outside cancels the group's tasks and propagates.
--
-- Lua differences: a __close cannot swallow the error leaving the scope,
-- which Python's __aexit__ never needs to here; there is no BaseException
-- family, so no error is treated as KeyboardInterrupt is.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local awaitable = require("asyncio.awaitable")

local setmetatable, getmetatable, pairs, pcall, error = setmetatable, getmetatable, pairs, pcall, error
local type, tostring, sort = type, tostring, table.sort
local await = coroutines.await
local typename, iscoroutine = coroutines.typename, coroutines.iscoroutine
local CancelledError, ExceptionGroup = errors.CancelledError, errors.ExceptionGroup

local M = {}

local TaskGroup = { __name = "TaskGroup" }
TaskGroup.__index = TaskGroup

-- The group's unfinished tasks in the order they were made.
local function pending_tasks(self)
   local list = {}
   for task in pairs(self._tasks) do
      list[#list + 1] = task
   end
   local order = self._tasks
   sort(list, function(a, b) return order[a] < order[b] end)
   return list
end

-- Cancels every unfinished task of the group.
local function abort(self)
   self._aborting = true
   for _, task in ipairs(pending_tasks(self)) do
      if not task:done() then
         task:cancel()
      end
   end
end

-- Done callback of the group's tasks (Python's _on_task_done).
local function on_task_done(self, task)
   self._tasks[task] = nil
   self._ntasks = self._ntasks - 1
   local waiter = self._on_completed
   if waiter ~= nil and self._ntasks == 0 and not waiter:done() then
      waiter:set_result(true)
   end
   if task:cancelled() then
      return
   end
   local ok, err = pcall(task.result, task)
   if ok then
      return
   end
   if err == nil then
      err = awaitable.NIL_ERROR
   end
   local errs = self._errors
   errs[#errs + 1] = err
   local parent = self._parent
   if parent:done() then
      self._loop:call_exception_handler({
         message = ("Task %s has errored out but its parent task %s is already completed")
            :format(tostring(task), tostring(parent)),
         error = err,
         exception = err, -- Python's key
         task = task,
      })
      return
   end
   if not self._aborting and not self._parent_cancel_requested then
      -- stop the body too; closing the scope uncancels it again
      abort(self)
      self._parent_cancel_requested = true
      parent:cancel()
   end
end

-- asyncio.TaskGroup() -> group, entered: it belongs to the running task.
function M.TaskGroup(...)
   coroutines.check_no_more("TaskGroup", 0, ...)
   local parent = core.current_task()
   if parent == nil then
      error("'TaskGroup' must be called inside a task (it cannot determine the parent task)", 2)
   end
   local self = setmetatable({
      _parent = parent,
      _loop = parent:get_loop(),
      _tasks = {}, -- {[task] = creation number}
      _ntasks = 0,
      _created = 0,
      _errors = {},
      _exiting = false,
      _aborting = false,
      _parent_cancel_requested = false,
      _on_completed = nil,
   }, TaskGroup)
   self._on_task_done = function(task)
      on_task_done(self, task)
   end
   return self
end

-- tg:create_task(coro [, opts]) -> Task, as asyncio.create_task.
function TaskGroup:create_task(coro, opts)
   if getmetatable(self) ~= TaskGroup then
      error("bad argument #1 to 'create_task' (TaskGroup expected, got " .. typename(self) .. ")", 2)
   end
   if not iscoroutine(coro) and type(coro) ~= "function" then
      awaitable.argerror(1, "create_task", "coroutine object or function expected, got "
         .. typename(coro), 2)
   elseif coroutines.iscoroutinefunction(coro) then -- checked here to name the caller's line
      awaitable.argerror(1, "create_task", "coroutine object expected, got async function; call it first", 2)
   end
   if opts ~= nil then
      if type(opts) ~= "table" or getmetatable(opts) ~= nil then
         awaitable.argerror(2, "create_task", "options table expected, got " .. typename(opts), 2)
      end
      for k in pairs(opts) do -- as Python's keywords; name may be anything (str(name))
         if k ~= "name" and k ~= "eager_start" then
            awaitable.argerror(2, "create_task", ("unknown option '%s'"):format(tostring(k)), 2)
         end
      end
   end
   local problem
   if self._exiting and self._ntasks == 0 then
      problem = "is finished"
   elseif self._aborting then
      problem = "is shutting down"
   end
   if problem ~= nil then
      if type(coro) == "userdata" then -- as Python's coro.close(): no "never awaited" report
         pcall(core.coro_take, coro)
      end
      error(("TaskGroup %s %s"):format(tostring(self), problem), 2)
   end
   local task = self._loop:create_task(coro, opts)
   self._created = self._created + 1
   self._tasks[task] = self._created
   self._ntasks = self._ntasks + 1
   if task:done() then -- an eager task that ended in its first step
      self._on_task_done(task)
   else
      task:add_done_callback(self._on_task_done)
   end
   return task
end

function TaskGroup:__tostring()
   local info = ""
   if self._ntasks > 0 then
      info = info .. " tasks=" .. self._ntasks
   end
   if self._errors ~= nil and #self._errors > 0 then
      info = info .. " errors=" .. #self._errors
   end
   -- a Lua group is entered when made, and Python's stays "entered" after
   -- its exit
   if self._aborting then
      info = info .. " cancelling"
   else
      info = info .. " entered"
   end
   return "<TaskGroup" .. info .. ">"
end

-- Waits until every task of the group is done; a cancellation of the
-- parent meanwhile cancels them (once) and is remembered.
local function join(self, propagate)
   while self._ntasks > 0 do
      if self._on_completed == nil then
         self._on_completed = self._loop:create_future()
      end
      local ok, err = pcall(await, self._on_completed)
      if not ok then
         if not CancelledError:is(err) then
            error(err, 0)
         end
         if not self._aborting then
            propagate = err
            abort(self)
         end
      end
      self._on_completed = nil
   end
   return propagate
end

-- Leaving the scope with err (nil if the body ended normally).
function TaskGroup:__close(err)
   if getmetatable(self) ~= TaskGroup then
      error("bad argument #1 to '__close' (TaskGroup expected, got " .. typename(self) .. ")", 2)
   elseif self._errors == nil then -- a second close, called by hand
      error(("TaskGroup %s has already been closed"):format(tostring(self)), 2)
   end
   self._exiting = true
   local cancelled = CancelledError:is(err)
   local propagate = cancelled and err or nil
   if err ~= nil and not self._aborting then
      abort(self)
   end
   propagate = join(self, propagate)
   local parent, errs = self._parent, self._errors
   self._errors = nil
   if self._parent_cancel_requested and parent:uncancel() == 0 then
      propagate = nil -- the cancellation was ours
   end
   if propagate ~= nil and #errs == 0 then
      error(propagate, 0)
   end
   if err ~= nil and not cancelled then
      errs[#errs + 1] = err
   end
   if #errs > 0 then
      -- keep the parent's count of cancel requests as it was
      if parent:cancelling() > 0 then
         parent:uncancel()
         parent:cancel()
      end
      error(ExceptionGroup("unhandled errors in a TaskGroup", { errors = errs }), 0)
   end
end

M.TaskGroup_mt = TaskGroup

return M
