-- Threads and the executor (API.md §8): to_thread, run_in_executor,
-- ThreadPoolExecutor, start_loop_thread, call_soon_threadsafe. The threads,
-- their Lua states, the copying of values and the inboxes through which
-- other threads reach a loop are C (src/thread.c, src/threadsafe.c,
-- src/copy.c); this module creates the futures, handles the messages that
-- reach a loop, and runs the loop of a loop thread.

local core = require("asyncio.core")
local awaitable = require("asyncio.awaitable")
local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local runners = require("asyncio.runners") -- loads tasks.lua, which sets the core's hooks
local tasks = require("asyncio.tasks")
local timeouts = require("asyncio.timeouts")
local errors = require("asyncio.errors")

local M = {}
local Loop = core.Loop
local Executor = core.ThreadPoolExecutor.__index
local ConcurrentFuture = core.ConcurrentFuture
local pack, unpack = table.pack, table.unpack
local argerror = coroutines.argerror
local await = coroutines.await

local function loop_now()
   return core.get_running_loop() or events.get_event_loop()
end

-- ---------- executors ----------

-- asyncio.ThreadPoolExecutor([max_workers]): workers start as jobs need
-- them, up to max_workers (default: the number of cores, at least 2).
function M.ThreadPoolExecutor(max_workers, ...)
   -- Python's thread_name_prefix, initializer and initargs are not taken:
   -- refused, not ignored
   coroutines.check_no_more("ThreadPoolExecutor", 1, max_workers, ...)
   if math.type(max_workers) == "float" and max_workers % 1 == 0 then
      max_workers = math.tointeger(max_workers) or max_workers -- 2.0, as Semaphore(2.0)
      if math.type(max_workers) == "float" then -- too big for an integer
         error("bad argument #1 to 'ThreadPoolExecutor' (max_workers must be between 1 and 1024)", 2)
      end
   end
   if max_workers ~= nil and math.type(max_workers) ~= "integer" then
      argerror(1, "ThreadPoolExecutor", "integer or nil", max_workers)
   elseif max_workers ~= nil and (max_workers < 1 or max_workers > 1024) then
      error("bad argument #1 to 'ThreadPoolExecutor' (max_workers must be between 1 and 1024)", 2)
   end
   return core.executor_new(max_workers)
end

-- A future of loop for fn(...) run by executor. Cancelling it cancels the
-- job if it has not started yet. Errors about the arguments name fname's
-- argument fnarg (fn) and those after it, at the line `level` levels above
-- submit: 2 is the caller of a function whose last act is `return submit(...)`.
local function submit(executor, loop, fname, fnarg, level, fn, ...)
   local target
   local fut = core.new_future(loop, function(f, msg)
      return core.executor_cancel(executor, f, target, msg)
   end)
   target = core.executor_submit(executor, fut, fname, fnarg, level, fn, ...)
   return fut
end

-- executor:submit(fn, ...) -> Future of the running (or current) loop.
function Executor:submit(fn, ...)
   return submit(self, loop_now(), "submit", 1, 2, fn, ...)
end

-- Each loop has its default executor, made on first use.
local function default_executor(loop)
   local state = loop:_lua()
   if state.executor_shutdown_called then -- as Python's _check_default_executor
      error("Executor shutdown has been called", 3)
   end
   local executor = state.default_executor
   if executor == nil then
      executor = core.executor_new()
      state.default_executor = executor
   end
   return executor
end

-- loop:run_in_executor(executor_or_nil, fn, ...) -> Future
function Loop:run_in_executor(executor, fn, ...)
   if self:is_closed() then -- first, as Python's _check_closed
      error("Event loop is closed", 2)
   end
   if executor == nil then
      executor = default_executor(self)
   elseif getmetatable(executor) ~= core.ThreadPoolExecutor then
      argerror(1, "run_in_executor", "ThreadPoolExecutor or nil", executor)
   end
   return submit(executor, self, "run_in_executor", 2, 2, fn, ...)
end

-- loop:set_default_executor(executor): the executor run_in_executor(nil)
-- and to_thread use from now on, as Python's. The one it replaces is left
-- as it is (Python does not shut it down either).
function Loop:set_default_executor(executor)
   if getmetatable(executor) ~= core.ThreadPoolExecutor then
      argerror(1, "set_default_executor", "ThreadPoolExecutor", executor)
   end
   self:_lua().default_executor = executor
end

-- asyncio.to_thread(fn, ...) -> coroutine object, as Python's `async def
-- to_thread`: nothing happens until it runs (awaited, or as the body of a
-- task), when fn(...) goes to the running loop's default executor and the
-- awaiting task waits for its results. So create_task(to_thread(f)) works
-- as in Python, and the arguments are checked (and copied) then: their
-- errors are raised by the await.
M.to_thread = coroutines.async(function(fn, ...)
   local loop = core.get_running_loop()
   -- level 3: the line of the await (which tail-calls this body)
   return await(submit(default_executor(loop), loop, "to_thread", 1, 3, fn, ...))
end)

-- Closing a loop lets its default executor go (the jobs still finish);
-- asyncio.run waits for them before it closes the loop.
events.close_hooks[#events.close_hooks + 1] = function(loop)
   local executor = loop:_lua().default_executor
   if executor ~= nil then
      executor:shutdown(false)
   end
end

-- A future of loop done once executor, shut down, has finished its jobs.
local function executor_quiet(loop, executor)
   executor:shutdown(false)
   local fut = loop:create_future()
   core.executor_wait(executor, fut)
   return fut
end

-- Awaits the quiet of loop's default executor, shut down, for at most
-- timeout seconds (nil: no limit). Past it, as Python warns, the exception
-- handler hears of it and the jobs finish on their own. Returns whether
-- they finished in time.
local function await_quiet(loop, executor, timeout)
   local quiet = executor_quiet(loop, executor)
   if timeout == nil then
      await(quiet)
      return true
   end
   local ok, err = pcall(function()
      local _ <close> = timeouts.timeout(timeout)
      await(quiet)
   end)
   if ok then
      return true
   elseif not errors.TimeoutError:is(err) then
      error(err, 0)
   end
   loop:call_exception_handler({
      message = ("The executor did not finishing joining its threads within %s seconds."):format(tostring(timeout)),
   })
   return false
end

-- loop:shutdown_default_executor([timeout]) -> coroutine object, as
-- Python's async def: once awaited, shuts the default executor down and
-- returns once its jobs have finished (the loop keeps running meanwhile,
-- so jobs that need it can still finish), or once timeout seconds have
-- passed (await_quiet).
Loop.shutdown_default_executor = coroutines.async(function(self, timeout)
   if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout) then
      error(("bad argument #1 to 'shutdown_default_executor' (number or nil expected, got %s)"):format(
         timeout ~= timeout and "nan" or coroutines.typename(timeout)), 2)
   end
   self:_lua().executor_shutdown_called = true
   local executor = self:_lua().default_executor
   if executor ~= nil then
      await_quiet(self, executor, timeout)
   end
end)

-- How long asyncio.run and Runner:close wait for the default executor's
-- jobs: Python's THREAD_JOIN_TIMEOUT (a field, which a program or a spec may
-- lower).
M.THREAD_JOIN_TIMEOUT = 300

-- Waits for the default executor's jobs, in the runner's last task (the
-- loop keeps running meanwhile, for jobs that need it).
local function finish_default_executor(loop)
   local executor = loop:_lua().default_executor
   if executor ~= nil and await_quiet(loop, executor, M.THREAD_JOIN_TIMEOUT) then
      executor:shutdown(true)
   end
end
runners.shutdown_hooks[#runners.shutdown_hooks + 1] = finish_default_executor
local finish_in_task = coroutines.async(finish_default_executor)

-- ---------- call_soon_threadsafe ----------

-- loop:call_soon_threadsafe(fn, ...) -> Handle. A loop userdata is only
-- ever used by its own state's thread: this is call_soon plus a wakeup.
-- Other threads hold a copy of the loop (a ThreadRef), whose method of the
-- same name copies fn and its arguments into the loop's inbox.
function Loop:call_soon_threadsafe(fn, ...)
   -- checked here, so that errors name this function and the caller's line
   if self:is_closed() then
      error("Event loop is closed", 2)
   elseif not core.is_callable(fn) then
      argerror(1, "call_soon_threadsafe", "function", fn)
   end
   local handle = self:call_soon(fn, ...)
   core.loop_wakeup(self)
   return handle
end

-- ---------- concurrent futures ----------

-- Awaiting a concurrent future from a task: a future of the running loop,
-- settled through the loop's inbox when the concurrent one is done. As
-- Python's wrap_future, cancelling the awaiting side (a cancel(), a
-- wait_for timeout) cancels the concurrent future, and so its job or task.
local function cancel_source(cf)
   return function(fut)
      if fut:cancelled() then
         cf:cancel()
      end
   end
end

-- A future of loop settled as cf is, whose cancellation cancels cf.
local function chained(cf, loop)
   local fut = loop:create_future()
   core.cfuture_watch(cf, fut)
   fut:add_done_callback(cancel_source(cf))
   return fut
end

function ConcurrentFuture.__await(cf)
   return chained(cf, events.get_running_loop())
end

-- its one option, checked below for its own message
local WRAP_OPTIONS = { loop = function() end }

-- asyncio.wrap_future(f [, {loop=}]) -> Future: f itself when it is a
-- Future or Task; a concurrent future becomes a future of loop (the
-- running or current one) that is settled when it is done, and whose
-- cancellation cancels it, as Python's wrap_future.
function M.wrap_future(f, opts)
   if tasks.isfuture(f) then
      return f
   elseif getmetatable(f) ~= ConcurrentFuture then
      argerror(1, "wrap_future", "Future or ConcurrentFuture", f)
   elseif opts ~= nil and type(opts) ~= "table" then
      argerror(2, "wrap_future", "table or nil", opts)
   end
   awaitable.check_options(opts, WRAP_OPTIONS, 2, "wrap_future", 2) -- no other option
   local loop = opts and opts.loop
   if loop ~= nil and coroutines.typename(loop) ~= "asyncio.Loop" then
      argerror(2, "wrap_future", "loop option an event loop", loop)
   end
   return chained(f, loop or events.get_event_loop())
end
ConcurrentFuture.__index.await = coroutines.await

-- Settles cf as the task t finished.
local function settle(cf, t)
   if t:cancelled() then
      return core.cfuture_set(cf, "cancelled")
   end
   local ok, err = core.future_outcome(t) -- an error may be nil: not t:exception()
   if not ok then
      if type(err) == "string" then
         err = err .. "\n" .. t:traceback()
      end
      return core.cfuture_set(cf, "error", err)
   end
   return core.cfuture_set(cf, "ok", t:result())
end

-- The tasks running for concurrent futures: {[key] = {task, cf}}.
local function running_tasks(loop)
   local state = loop:_lua()
   local running = state.thread_tasks
   if running == nil then
      running = {}
      state.thread_tasks = running
   end
   return running
end

-- As Python's run_coroutine_threadsafe callback: a failure to make the
-- task (a task factory that raises) settles cf with that error, then goes
-- on to the exception handler.
local function start_task(loop, cf, fn, ...)
   -- cancelled before it could start: as in Python, the task is made and
   -- takes its first step all the same, its cancel coming after (Python's
   -- reaches it through call_soon_threadsafe)
   local cancelled = cf:cancelled()
   if cf:done() and not cancelled then
      return
   end
   local args = pack(...)
   -- started at once, in its turn among the messages: a call posted after
   -- it runs after its first step (API.md: submissions run in the order
   -- made), though calls run in the iteration they are taken in, as
   -- Python's call_soon_threadsafe callbacks do
   local made, task = pcall(loop.create_task, loop, function()
      return fn(unpack(args, 1, args.n))
   end, { eager_start = true })
   if not made then
      if not cancelled then
         core.cfuture_set(cf, "error", task)
      end
      error(task, 0)
   elseif cancelled then
      -- at once: Python's cancel comes right after the step in the ready
      -- queue, so the step's own wake-up (a sleep(0)) meets the cancel
      if not task:done() then
         task:cancel()
      end
      return
   end
   local key = core.cfuture_key(cf)
   local running = running_tasks(loop)
   running[key] = { task, cf }
   task:add_done_callback(function(t)
      running[key] = nil
      settle(cf, t)
   end)
end

-- ---------- messages from other threads ----------

-- Calls, task starts and stops are queued on the loop in the order they
-- were posted, so they run in that order (a task's body starts with its
-- first step). A call is opened only when its turn comes, so it can be
-- cancelled until it runs.
local function handle(loop, kind, ...)
   if kind == "task" then
      start_task(loop, ...)
   elseif kind == "cancel" then
      local entry = running_tasks(loop)[...]
      if entry ~= nil then
         entry[1]:cancel()
      end
   elseif kind == "stop" then
      loop:stop() -- as Python's call_soon_threadsafe(loop.stop) runs it, in its turn
   end
end

local function call(kind, fn, ...)
   if kind == "call" then -- nil if it was cancelled
      return fn(...)
   end
end

local function run_call(loop, msg)
   return call(core.thread_take(msg, loop))
end

local function run_resolve(loop, msg)
   core.thread_take(msg, loop) -- settles the future
end

-- Runs on the loop, from its ready queue, once per message, in the order
-- the messages were posted, in the iteration whose poll took them in, as
-- Python runs what call_soon_threadsafe appended: a call runs then, and the
-- result of a job or of a task of another loop settles its future then, so
-- the task awaiting it resumes in the next iteration, and a callback a
-- worker posted before it returned runs before its future is done. A task
-- takes its first step then too (start_task), in its turn.
core.thread_setup(function(msg)
   local loop = core.get_running_loop()
   local kind = core.thread_kind(msg)
   if kind == "call" then
      run_call(loop, msg)
   elseif kind == "resolve" then
      run_resolve(loop, msg)
   else
      handle(loop, core.thread_take(msg, loop))
   end
end)

-- ---------- loop threads ----------

-- asyncio.start_loop_thread() -> handle (src/thread.c)
M.start_loop_thread = core.start_loop_thread

-- Cancels the tasks left when a loop thread stops and gives them a second
-- to finish cancelling. Tasks that start meanwhile (submitted while others
-- clean up) are cancelled in their turn, each once, until none is left or
-- the second is over.
local function cancel_leftovers(loop)
   local cancelled, deadline = {}, loop:time() + 1
   while loop:time() < deadline do
      local pending = {}
      for task in pairs(tasks.all_tasks(loop)) do
         if not cancelled[task] then
            cancelled[task] = true
            task:cancel()
         end
         pending[#pending + 1] = task
      end
      if #pending == 0 then
         break
      end
      local left = #pending
      local all = loop:create_future()
      for _, task in ipairs(pending) do
         task:add_done_callback(function()
            left = left - 1
            if left == 0 then
               all:set_result()
            end
         end)
      end
      local guard = loop:call_later(deadline - loop:time(), function() loop:stop() end)
      pcall(loop.run_until_complete, loop, all)
      guard:cancel()
   end
   -- tasks done whose callbacks had no iteration left to run, or stuck
   for _, entry in pairs(running_tasks(loop)) do
      if entry[1]:done() then
         settle(entry[2], entry[1])
      else
         core.cfuture_set(entry[2], "cancelled")
      end
   end
end

-- The body of a loop thread's Lua state (called from C with the thread's
-- startup record): a loop running until handle:stop().
function M._loop_thread_main(lt)
   require("asyncio") -- the whole module: error classes, compose, ...
   local loop = events.new_event_loop()
   events.set_event_loop(loop)
   -- the creator goes on once the loop runs (and is about to wait for work)
   loop:call_soon(core.loop_thread_ready, lt, loop)
   loop:run_forever()
   cancel_leftovers(loop)
   -- in a task, as asyncio.run does: waiting for the jobs awaits
   pcall(loop.run_until_complete, loop, finish_in_task(loop))
   cancel_leftovers(loop) -- tasks submitted meanwhile
   events.set_event_loop(nil)
   loop:close()
end

coroutines.check_self(Executor, { [core.ThreadPoolExecutor] = true }, "asyncio.ThreadPoolExecutor")

return M
