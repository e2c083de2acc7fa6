-- asyncio.run (API.md §2): a fresh loop, the main task, and a clean
-- shutdown of whatever is still pending.

local core = require("asyncio.core")
local awaitable = require("asyncio.awaitable")
local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local tasks = require("asyncio.tasks")
local CancelledError = require("asyncio.errors").CancelledError

local M = {}
local pack, unpack = table.pack, table.unpack

-- Hooks run after the main task and the cancelled leftovers finished,
-- before the loop closes (the executor's shutdown adds one). They run
-- inside a task, so they may await.
M.shutdown_hooks = {}

-- What Python's runner runs as two tasks once the leftovers are cancelled:
-- shutdown_asyncgens() (Lua has no async generators: nothing to do) and
-- shutdown_default_executor(). Being tasks, they take the names Task-N and
-- Task-N+1, so task names in a script that calls run twice match Python's.
local shutdown_asyncgens = coroutines.async(function() end)
local shutdown_default_executor = coroutines.async(function(loop)
   for _, hook in ipairs(M.shutdown_hooks) do
      hook(loop)
   end
end)

-- A future done when every task of the list is done.
local function all_done(loop, list)
   local fut = loop:create_future()
   local left = #list
   local function one_done()
      left = left - 1
      if left == 0 and not fut:done() then
         fut:set_result()
      end
   end
   for _, task in ipairs(list) do
      task:add_done_callback(one_done)
   end
   return fut
end

-- Cancels the tasks still pending, lets them finish cancelling and reports
-- those that failed instead.
local function cancel_all_tasks(loop)
   local pending = {}
   for task in pairs(tasks.all_tasks(loop)) do
      pending[#pending + 1] = task
   end
   if #pending == 0 then
      return
   end
   for _, task in ipairs(pending) do
      task:cancel()
   end
   loop:run_until_complete(all_done(loop, pending))
   for _, task in ipairs(pending) do
      if not task:cancelled() and task:exception() ~= nil then
         loop:call_exception_handler({
            message = "unhandled exception during asyncio.run() shutdown",
            error = task:exception(),
            exception = task:exception(), -- Python's key
            task = task,
            traceback = task:traceback(),
         })
      end
   end
end

-- The body of the main task for main and its arguments, as asyncio.run
-- takes them (fname names the caller in errors).
local function body_of(fname, main, ...)
   if coroutines.iscoroutine(main) then
      return main
   elseif coroutines.iscoroutinefunction(main) then
      return main(...)
   elseif type(main) == "function" then
      local args = pack(...)
      return function()
         return main(unpack(args, 1, args.n))
      end
   end
   awaitable.argerror(1, fname, "coroutine object or function expected, got "
      .. coroutines.typename(main), 3)
end

-- ---------- Runner ----------

-- asyncio.Runner([{debug=, loop_factory=}]) (Python 3.11): one loop for
-- several run() calls, closed as asyncio.run closes its own. A
-- to-be-closed value: local runner <close> = asyncio.Runner().
local Runner = { __name = "asyncio.Runner" }
Runner.__index = Runner

local RUNNER_OPTIONS = {
   debug = awaitable.boolean_or_nil,
   loop_factory = awaitable.function_or_nil,
}

function M.Runner(opts, ...)
   coroutines.check_no_more("Runner", 1, opts, ...)
   awaitable.check_options(opts, RUNNER_OPTIONS, 1, "Runner", 2)
   return setmetatable({
      _state = "created",
      _debug = opts and opts.debug,
      _loop_factory = opts and opts.loop_factory,
      _set_event_loop = false,
   }, Runner)
end

local function lazy_init(self)
   if self._state == "initialized" then
      return
   end
   if self._loop_factory == nil then
      self._loop = events.new_event_loop()
      events.set_event_loop(self._loop)
      self._set_event_loop = true
   else
      local loop = self._loop_factory()
      if core.typeof(loop) ~= "loop" then
         error(("bad result from 'loop_factory' (event loop expected, got %s)"):format(coroutines.typename(loop)), 0)
      end
      self._loop = loop
   end
   if self._debug ~= nil then
      self._loop:set_debug(self._debug)
   end
   self._state = "initialized"
end

-- Raises (at the caller's caller) unless self is an open Runner.
local function check_runner(self, fname)
   if getmetatable(self) ~= Runner then
      awaitable.argerror(1, fname, "asyncio.Runner expected, got " .. coroutines.typename(self), 3)
   elseif self._state == "closed" and fname ~= "close" then
      error("Runner is closed", 3)
   end
end

-- runner:get_loop() -> the loop, made on first use.
function Runner:get_loop()
   check_runner(self, "get_loop")
   lazy_init(self)
   return self._loop
end

-- Ctrl-C while main runs, as Python's Runner handles it: the first SIGINT
-- cancels the main task, so its to-be-closed variables and handlers run;
-- if main then ends with that cancellation, run raises "interrupted!"
-- (lua5.4's own error for Ctrl-C, standing for KeyboardInterrupt). A
-- second SIGINT stops the loop and raises at once. Only where the host
-- catches SIGINT itself (lua5.4 does while it runs a script), on the main
-- thread, and when no loop handles SIGINT already.
local INTERRUPTED = "interrupted!"

-- The SIGINT handler a run holds, by loop: what SIGINT goes back to when
-- a handler the application added during the run is removed, as Python's
-- remove_signal_handler gives SIGINT back to KeyboardInterrupt; lua5.4's
-- own handler would raise inside a callback, where the error is lost.
local run_sigint = setmetatable({}, { __mode = "k" })

local function catch_sigint(self, loop, task)
   if not core.sigint_catchable() then
      return nil
   end
   local function on_sigint()
      self._interrupts = self._interrupts + 1
      if self._interrupts == 1 and not task:done() then
         task:cancel()
      else
         self._interrupted = true
         loop:stop()
      end
   end
   loop:_add_signal_handler_now("SIGINT", on_sigint)
   run_sigint[loop] = on_sigint
   return on_sigint
end

local Loop = core.Loop
local remove_signal_handler = Loop.remove_signal_handler

local function release_sigint(loop, handler)
   if handler and run_sigint[loop] == handler then
      run_sigint[loop] = nil
   end
   if handler and not loop:is_closed() and loop:_signal_callback("SIGINT") == handler then
      remove_signal_handler(loop, "SIGINT")
   end
end

-- loop:remove_signal_handler(sig) -> bool. A run's own SIGINT handler is
-- not the application's to remove (false, as Python's, where the Runner's
-- handler is no loop handler), and comes back when the application's
-- SIGINT handler goes.
function Loop:remove_signal_handler(sig)
   -- checked here, so that the error names the caller's line and counts
   -- sig as argument #1, as add_signal_handler's
   local num, why = core.signal_to_send(sig)
   if num == 0 then
      num, why = nil, "invalid signal number"
   end
   if num == nil then
      error(("bad argument #1 to 'remove_signal_handler' (%s)"):format(why), 2)
   end
   local own = run_sigint[self]
   local before = own and self:_signal_callback("SIGINT")
   local removed = remove_signal_handler(self, sig)
   if own and removed and self:_signal_callback("SIGINT") == nil then
      self:_add_signal_handler_now("SIGINT", own)
      return before ~= own
   end
   return removed
end

-- Ctrl-C under a plain loop:run_forever() (so also run_until_complete),
-- where Python's KeyboardInterrupt leaves the loop: the loop stops at the
-- end of its iteration and run_forever raises "interrupted!". Without it
-- lua5.4's own handler would raise that error inside whatever callback
-- runs next, where it is reported and lost. asyncio.run's handler, set
-- first, keeps this one out (it cancels the main task instead).
local run_forever = Loop.run_forever

function Loop:run_forever()
   tasks.check_runnable(self) -- here, so that errors point at the caller's line
   if not core.sigint_catchable() then
      return run_forever(self) -- SIGINT is someone else's
   end
   local interrupted = false
   local function on_sigint()
      interrupted = true
      self:stop()
   end
   self:_add_signal_handler_now("SIGINT", on_sigint)
   run_sigint[self] = on_sigint
   local ok, err = pcall(run_forever, self)
   release_sigint(self, on_sigint)
   if interrupted then
      error(INTERRUPTED, 0)
   elseif not ok then
      error(err, 0)
   end
end

local function run_body(self, body)
   lazy_init(self)
   local loop = self._loop
   local task = loop:create_task(body)
   self._interrupts, self._interrupted = 0, false
   local handler = catch_sigint(self, loop, task)
   local results = pack(pcall(loop.run_until_complete, loop, task))
   release_sigint(loop, handler)
   if self._interrupted then
      error(INTERRUPTED, 0)
   elseif not results[1] then
      local err = results[2]
      if self._interrupts > 0 and CancelledError:is(err) and task:uncancel() == 0 then
         error(INTERRUPTED, 0)
      end
      error(err, 0)
   end
   return unpack(results, 2, results.n)
end

-- runner:run(main, ...) -> main's results, main taken as by asyncio.run.
function Runner:run(main, ...)
   check_runner(self, "run")
   if coroutines.iscoroutine(main) and select("#", ...) > 0 then
      awaitable.argerror(2, "run", "nothing expected after a coroutine object", 2)
   end
   local body = body_of("run", main, ...)
   if core.get_running_loop() ~= nil then
      error("Runner.run() cannot be called from a running event loop", 2)
   end
   return run_body(self, body)
end

-- runner:close(): cancels what is left, shuts the executor down, closes
-- the loop. Does nothing unless the loop was made and is open.
function Runner:close()
   check_runner(self, "close")
   if self._state ~= "initialized" then
      return
   end
   local loop = self._loop
   local ok, err = pcall(function()
      cancel_all_tasks(loop)
      loop:run_until_complete(shutdown_asyncgens())
      loop:run_until_complete(shutdown_default_executor(loop))
   end)
   if self._set_event_loop then
      events.set_event_loop(nil)
   end
   local closed, cerr = pcall(loop.close, loop) -- a running loop refuses
   if not closed then
      error(cerr, 2)
   end
   self._loop = nil
   self._state = "closed"
   if not ok then
      error(err, 0)
   end
end

Runner.__close = Runner.close

function Runner:__tostring()
   return "<asyncio.Runner " .. self._state .. ">"
end

-- asyncio.run(main, ...) -> main's results: a Runner used once. An error
-- of main wins over one of the shutdown.
function M.run(main, ...)
   if core.get_running_loop() ~= nil then
      error("asyncio.run() cannot be called from a running event loop", 2)
   end
   local opts
   if coroutines.iscoroutine(main) and select("#", ...) > 0 then
      -- nothing to pass a coroutine object: what follows is Python's
      -- keyword arguments, asyncio.run(main(), {debug = true})
      opts = ...
      awaitable.check_options(opts, RUNNER_OPTIONS, 2, "run", 2)
      if select("#", ...) > 1 then
         awaitable.argerror(3, "run", "nothing expected after the options", 2)
      end
   end
   local body = body_of("run", main, ...)
   local runner = M.Runner(opts)
   local results = pack(pcall(run_body, runner, body))
   local ok, err = pcall(runner.close, runner)
   if not results[1] then
      error(results[2], 0)
   end
   if not ok then
      error(err, 0)
   end
   return unpack(results, 2, results.n)
end

return M
