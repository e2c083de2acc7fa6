-- asyncio.gather (API.md §5), as Python 3.13's: a future of the first
-- result of each awaitable, in argument order. The first error fails it
-- (the others keep running) unless return_exceptions puts errors in the
-- list; cancelling it cancels the children (its cancel hook is Python's
-- _GatheringFuture.cancel).

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local events = require("asyncio.events")
local awaitable = require("asyncio.awaitable")

-- the raw metatable, as await uses: getmetatable also looks up a
-- __metatable field, a string lookup per child; type tests need the real one
local getmetatable = debug.getmetatable
local select, type = select, type
local Future = core.Future
local Future_mt, Task_mt = core.Future_mt, core.Task_mt
local coro_mts = coroutines.coro_metatables
local new_future, new_task, coro_info = core.new_future, core.new_task, core.coro_info
local gather_callback, gather_wrap = core.gather_callback, core.gather_wrap
-- outcome(fut) -> true, first result | false, error: pcall(result, fut)
-- without a protected call
local outcome = core.future_outcome
-- cancel_message(fut) -> what Python's fut._cancel_message holds
local cancel_message = core.cancel_message
-- listed_cancellation(child) -> what Python's gather lists, with
-- return_exceptions, for a cancelled child: a new CancelledError with its
-- _cancel_message, or '' (src/compose.c, shared with the children's callback)
local listed_cancellation = core.gather_listed_cancellation
local done, cancelled = Future.done, Future.cancelled
local result, set_result, set_exception = Future.result, Future.set_result, Future.set_exception
local add_done_callback, get_loop = Future.add_done_callback, Future.get_loop
local CancelledError = errors.CancelledError
local to_future, argerror = awaitable.to_future, awaitable.argerror

local M = {}

local OPTIONS = { return_exceptions = awaitable.boolean_or_nil }

local NIL_ERROR = awaitable.NIL_ERROR

-- Whether x is a coroutine object that a task may own: one not yet
-- awaited, or a reusable one (the shared sleep(0), queue:get()), which
-- stands for a new coroutine each time it appears.
local function fresh_coroutine(x, mt)
   if not coro_mts[mt] then
      return false
   elseif type(x) ~= "userdata" then
      return true
   end
   local _, awaited = coro_info(x)
   return not awaited
end

-- A task gather made itself is not reported if it is collected pending:
-- Python's gather sets _log_destroy_pending = False on those (the gather,
-- or what awaits it, is what gets reported).
local function quiet(fut)
   if getmetatable(fut) == Task_mt then
      core.task_set_quiet(fut)
   end
   return fut
end

-- The future of the awaitable at args[i] when it is not a fresh coroutine
-- object. A one-shot coroutine object, or a value with __await, met again
-- is the future made for it the first time, as with Python's arg_to_fut.
local function child_future(args, i, loop, seen)
   local arg = args[i]
   local mt = getmetatable(arg)
   if mt == Task_mt or mt == Future_mt then
      if get_loop(arg) ~= loop then
         argerror(i, "gather", "the future belongs to a different loop", 3)
      end
      return arg, seen
   end
   if seen == nil then -- the first repeat: index what came before
      seen = {}
      for j = 1, i - 1 do
         local t = args[j]
         local coro = getmetatable(t) == Task_mt and t:get_coro()
         if coro then -- nil for a task that finished in its eager start
            seen[coro] = t
         end
      end
   end
   local fut = seen[arg]
   if fut == nil then
      if coro_mts[mt] then -- awaited before: as in Python, its task fails at its start
         fut = quiet(new_task(loop, arg))
      else -- a value with __await: awaited once however often it comes
         fut = quiet(to_future(arg, loop, i, "gather", 3))
      end
      seen[arg] = fut
   end
   return fut, seen
end

-- The loop of the gather: that of its first argument if it is a future,
-- else the current one.
local function first_loop(first)
   local mt = getmetatable(first)
   if mt == Task_mt or mt == Future_mt then
      return get_loop(first)
   end
   return events.get_event_loop()
end

-- asyncio.gather(aw1, aw2, ... [, {return_exceptions=}]) -> Future
function M.gather(...)
   local n = select("#", ...)
   local return_exceptions = false
   if n > 0 then
      local last = select(n, ...)
      if type(last) == "table" and getmetatable(last) == nil then
         awaitable.check_options(last, OPTIONS, n, "gather", 2)
         return_exceptions = last.return_exceptions == true
         n = n - 1
      end
   end
   if n == 0 then
      local outer = new_future(events.get_event_loop())
      set_result(outer, { n = 0 })
      return outer
   end

   -- children[i] is the future of argument i, results[i] its first result
   -- (or error, with return_exceptions)
   local children = { ... }
   children[n + 1] = nil
   local on_child_done, results
   local outer, cancel_requested

   -- All children are done: the list of results, or the CancelledError.
   -- Children usually finish in argument order: the callback then stores
   -- each result as it comes, while the child is still in the CPU cache;
   -- from cursor on (the first child out of order), finish() reads them.
   local function finish(cursor, unmarked)
      if return_exceptions then
         if unmarked then -- errors stored as they came: retrieved now, the
            -- others below
            for i = 1, cursor - 1 do
               outcome(children[i])
            end
         end
         for i = cursor, n do
            local child = children[i]
            if cancelled(child) then
               results[i] = listed_cancellation(child)
            else
               local _, value = outcome(child)
               results[i] = value
            end
         end
      else
         for i = cursor, n do
            results[i] = (result(children[i])) -- all succeeded
         end
      end
      if cancel_requested then
         -- Python's choice: its loop over the children leaves `fut` bound
         -- to the last one in argument order, whose CancelledError (if it
         -- was cancelled) it raises, else a new one with its
         -- _cancel_message (a task that caught its cancellation and
         -- returned keeps the message if it was running when cancelled)
         local last, err = children[n], nil
         if cancelled(last) then
            local _
            _, err = outcome(last)
         end
         set_exception(outer, err or CancelledError(cancel_message(last)))
      else
         results.n = n
         set_result(outer, results)
      end
   end

   -- The end of Python's _done_callback, called by on_child_done when the
   -- last child is done or a child failed (value: its error, a cancelled
   -- child's CancelledError too; unmarked: with return_exceptions, errors
   -- came that are not retrieved yet). outer is nil if gather() raised on
   -- a later argument.
   local function settle(failed, value, cursor, unmarked)
      if outer ~= nil and not done(outer) then
         if failed then
            set_exception(outer, value == nil and NIL_ERROR or value)
         else
            finish(cursor, unmarked)
         end
      elseif unmarked then -- outer was settled by hand: as Python, retrieve
         for i = 1, n do
            outcome(children[i])
         end
      end
   end

   -- Python's _done_callback (src/compose.c): counts the child, takes its
   -- outcome (marking an error retrieved), stores it in results while the
   -- children finish in order, and calls settle for the rest
   on_child_done, results = gather_callback(children, n, return_exceptions, settle)

   -- Python's _GatheringFuture.cancel: cancel the children, and if any
   -- was, remember to end in CancelledError whatever return_exceptions says.
   local function cancel_children(_, msg)
      if done(outer) then
         return false
      end
      local any = false
      for i = 1, n do
         if children[i]:cancel(msg) then
            any = true
         end
      end
      if any then
         cancel_requested = true
      end
      return any
   end

   local loop = first_loop(children[1])
   -- only a task factory (eager tasks) makes a task that is done at once
   local factory = loop:get_task_factory()
   -- seen: {coroutine object = its future}, made at the first repeat (or
   -- first fresh coroutine object with a factory); done_now: the children
   -- done already, counted once outer exists
   local seen, done_now = nil, {}
   -- the common cases, in C: futures of the loop, and fresh coroutine
   -- objects of async functions, made quiet tasks; up to the first other
   -- argument. With a factory, seen as the loop below makes it.
   local first
   if factory == nil then
      first = gather_wrap(loop, children, 1, n, on_child_done, done_now)
   else
      seen = {}
      first = gather_wrap(loop, children, 1, n, on_child_done, done_now, seen)
      if next(seen) == nil then -- the loop below makes it at its first fresh coroutine
         seen = nil
      end
   end
   for i = first, n do
      local arg = children[i]
      if fresh_coroutine(arg, getmetatable(arg)) then
         local task = quiet(new_task(loop, arg))
         if factory ~= nil and seen == nil then
            -- an eager task done at once lets its coroutine object go
            -- (get_coro() is nil), so child_future could not find it:
            -- index the coroutine objects as they come
            seen = {}
         end
         if seen ~= nil then
            seen[arg] = task
         end
         children[i] = task
         if factory ~= nil and done(task) then -- an eager task that ended
            done_now[#done_now + 1] = task
         else
            add_done_callback(task, on_child_done)
         end
      else
         local fut
         fut, seen = child_future(children, i, loop, seen)
         children[i] = fut
         if done(fut) then
            done_now[#done_now + 1] = fut
         else
            add_done_callback(fut, on_child_done)
         end
      end
   end
   outer = new_future(loop, cancel_children)
   on_child_done() -- outer exists: errors wait for the end to be retrieved
   -- as Python 3.12+: children already done are counted at once
   for i = 1, #done_now do
      on_child_done(done_now[i])
   end
   return outer
end

return M
