-- Event loops (API.md §2): which loop is current, creating loops, closing
-- them, debug mode and the exception handler. The loop itself (ready queue,
-- timers, run_forever) is C: src/loop.c.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")

local M = {}
local Loop = core.Loop -- the methods table of loops

local current_loop -- what set_event_loop set, or the loop get_event_loop made

-- Debug mode is on for new loops when LUA_ASYNCIO_DEBUG=1, and coroutine
-- objects are watched for "never awaited" from the start, even in a
-- script that never makes a loop.
local debug_from_env = os.getenv("LUA_ASYNCIO_DEBUG") == "1"
if debug_from_env then
   coroutines.set_debug(true)
end

function M.get_running_loop()
   local loop = core.get_running_loop()
   if loop == nil then
      error("no running event loop", 2)
   end
   return loop
end

function M.new_event_loop(...)
   coroutines.check_no_more("new_event_loop", 0, ...)
   local loop = core.new_loop()
   if debug_from_env then
      loop:set_debug(true)
   end
   return loop
end

function M.set_event_loop(loop)
   if loop ~= nil and core.typeof(loop) ~= "loop" then
      coroutines.argerror(1, "set_event_loop", "event loop or nil", loop)
   end
   current_loop = loop
end

-- The running loop, else the current one, made on first use.
function M.get_event_loop()
   local loop = core.get_running_loop()
   if loop ~= nil then
      return loop
   end
   if current_loop == nil then
      current_loop = M.new_event_loop()
   end
   return current_loop
end

-- ---------- debug mode ----------

-- Tracking never-awaited coroutine objects is process-wide: on while some
-- loop has debug mode on, closed or not (or LUA_ASYNCIO_DEBUG=1). The set
-- is weak: a loop collected counts no more at the next set_debug.
local debug_loops = setmetatable({}, { __mode = "k" })

function Loop:set_debug(on)
   on = on and true or false
   self:_set_debug(on)
   debug_loops[self] = on or nil
   coroutines.set_debug(next(debug_loops) ~= nil or debug_from_env)
end

-- ---------- the exception handler ----------

local function describe(value, depth)
   if type(value) == "table" and getmetatable(value) == nil and (depth or 0) < 1 then
      -- a context within a context (a failed handler's): its fields, as
      -- Python prints the dict
      local keys, parts = {}, {}
      for k in pairs(value) do
         if k ~= "traceback" then -- printed after (default_exception_handler)
            keys[#keys + 1] = k
         end
      end
      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
      for i, k in ipairs(keys) do
         local v = value[k]
         parts[i] = ("%s = %s"):format(describe(k, 1),
            type(v) == "string" and ("%q"):format(v) or describe(v, 1))
      end
      return "{" .. table.concat(parts, ", ") .. "}"
   end
   local ok, s = pcall(tostring, value)
   return ok and s or ("<" .. type(value) .. ">")
end

-- Writes the context to stderr: message, then every other field, then the
-- traceback.
local function default_exception_handler(_, ctx)
   local lines = { tostring(ctx.message or "Unhandled exception in event loop") }
   local keys = {}
   -- the library's own contexts carry their error under both keys, Python's
   -- "exception" and "error": print it once, but print a context that
   -- (written as in Python) has only "exception"
   local same_error = rawequal(ctx.exception, ctx.error)
   for k in pairs(ctx) do
      if k ~= "message" and k ~= "traceback" and k ~= "loop" and k ~= "source_traceback"
         and not (k == "exception" and same_error) then
         keys[#keys + 1] = tostring(k)
      end
   end
   table.sort(keys)
   for _, k in ipairs(keys) do
      lines[#lines + 1] = k .. ": " .. describe(ctx[k])
   end
   local function add_traceback(c)
      local err = c.error
      if err == nil then
         err = c.exception
      end
      local tb = c.traceback or (type(err) == "table" and rawget(err, "traceback"))
      if tb then
         lines[#lines + 1] = tostring(tb)
      end
   end
   if type(ctx.context) == "table" then -- a failed handler: what it was told first
      add_traceback(ctx.context)
   end
   add_traceback(ctx)
   if type(ctx.source_traceback) == "string" then -- debug mode: where the object was made
      local what = ctx.coroutine ~= nil and "Coroutine" or "Object" -- as Python words them
      lines[#lines + 1] = (ctx.source_traceback:gsub("^stack traceback:",
         what .. " created at (most recent call first):"))
   end
   io.stderr:write(table.concat(lines, "\n"), "\n")
end

function Loop:set_exception_handler(handler)
   if handler ~= nil and not core.is_callable(handler) then -- any callable, as Python's
      coroutines.argerror(1, "set_exception_handler", "function or nil", handler)
   end
   self:_lua().exception_handler = handler
end

function Loop:get_exception_handler()
   return self:_lua().exception_handler
end

-- Calls the handler as handler(loop, ctx); if it fails, the default handler
-- reports both.
function Loop:call_exception_handler(ctx)
   if type(ctx) ~= "table" then
      coroutines.argerror(1, "call_exception_handler", "table", ctx)
   end
   local handler = self:_lua().exception_handler
   if handler == nil then
      local ok, err = pcall(default_exception_handler, self, ctx)
      if not ok then
         io.stderr:write("asyncio: the default exception handler failed: ", describe(err), "\n")
      end
      return
   end
   local ok, err = xpcall(handler, debug.traceback, self, ctx)
   if not ok then
      local dok, derr = pcall(default_exception_handler, self, {
         message = "Unhandled error in exception handler",
         error = err,
         context = ctx,
      })
      if not dok then -- a handler recursing into itself ran out of stack, say
         io.stderr:write("asyncio: the default exception handler failed: ", describe(derr), "\n")
      end
   end
end

-- Delivers a report made by the core (a finalizer or a failed callback).
local function report(ctx)
   local loop = ctx.loop or core.get_running_loop() or current_loop
   ctx.loop = nil
   if loop ~= nil then
      loop:call_exception_handler(ctx)
   else
      default_exception_handler(nil, ctx)
   end
end
M.report = report

-- Python names the coroutine's function ("coroutine 'main' was never
-- awaited"); a Lua function has no name, but where it was written says as
-- much: "coroutine <function main.lua:12> was never awaited".
local function coroutine_name(co)
   local where = coroutines.where_written(co)
   return where and ("<function %s>"):format(where) or tostring(co)
end

coroutines.set_never_awaited_reporter(function(co, source_traceback)
   report({ message = "coroutine " .. coroutine_name(co) .. " was never awaited", coroutine = co,
            source_traceback = source_traceback })
end)

-- ---------- closing ----------

-- Reports every failed future of the loop whose error nobody retrieved, in
-- the order they failed (not the weak table's order, which varies).
local function report_unretrieved(loop)
   local failed, order = {}, loop:_unretrieved()
   for fut in pairs(order) do
      failed[#failed + 1] = fut
   end
   table.sort(failed, function(a, b) return order[a] < order[b] end)
   for _, fut in ipairs(failed) do
      if not fut:cancelled() then
         local istask = core.typeof(fut) == "task"
         local err = fut:exception() -- marks it retrieved
         loop:call_exception_handler({
            message = istask and "Task exception was never retrieved" or "Future exception was never retrieved",
            error = err,
            exception = err, -- Python's key
            future = fut, -- Python's key, a task's too
            task = istask and fut or nil,
            traceback = istask and fut:traceback() or nil,
            source_traceback = loop:_source_traceback(fut),
         })
      end
   end
end

-- Hooks run by close() before the C loop goes away (the executor adds one).
M.close_hooks = {}

function Loop:close()
   if self:is_running() then
      error("Cannot close a running event loop", 2)
   end
   if self:is_closed() then
      return
   end
   for _, hook in ipairs(M.close_hooks) do
      hook(self)
   end
   report_unretrieved(self)
   self:_close() -- a closed current loop stays current, as in Python
end

Loop.default_exception_handler = function(self, ctx)
   if type(ctx) ~= "table" then
      coroutines.argerror(1, "default_exception_handler", "table", ctx)
   end
   return default_exception_handler(self, ctx)
end

-- The loop methods written in Lua (here, in tasks, runners and threads)
-- check their self as the C ones do, so that loop.close() names the method
-- instead of failing inside it. Called once every module has added its
-- methods; the check is a tail call away, so errors raised at level 2
-- inside a method still blame its caller.
function M.check_loop_methods()
   local wrapped = {}
   for name, method in pairs(Loop) do
      -- (an async function is a C closure: its body checks nothing before
      -- it is awaited)
      if type(method) == "function" and (debug.getinfo(method, "S").what == "Lua"
                                         or coroutines.iscoroutinefunction(method)) then
         wrapped[name] = function(...)
            if core.typeof((...)) ~= "loop" then
               local got = select("#", ...) == 0 and "no value" or coroutines.typename((...))
               error(("bad argument #1 to '%s' (event loop expected, got %s)"):format(name, got), 2)
            end
            return method(...)
         end
      end
   end
   for name, checked in pairs(wrapped) do
      coroutines.copy_async(Loop[name], checked)
      Loop[name] = checked
   end
end

return M
