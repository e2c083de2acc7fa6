-- asyncio.timeout and asyncio.timeout_at (API.md §5), Python 3.13's
-- Timeout as a to-be-closed guard: making it is entering it, closing it
-- is leaving it.
--
--    local _ <close> = asyncio.timeout(1)
--
-- When the deadline passes while the scope runs, the guard cancels its
-- task; when the scope then ends with a CancelledError that no other
-- cancel request explains (task:uncancel() comes back to the count seen
-- on entry), the guard raises TimeoutError in its place. Nested guards
-- therefore convert only the cancellation they caused themselves.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")

local setmetatable, type, error, tostring = setmetatable, type, error, tostring
local typename = coroutines.typename
local CancelledError, TimeoutError = errors.CancelledError, errors.TimeoutError
-- loop:time() is this clock
local current_task, running_loop, monotonic = core.current_task, core.get_running_loop, core.monotonic
local call_soon, call_at = core.Loop.call_soon, core.Loop.call_at
local cancelling = core.Task.cancelling

local M = {}

-- States, named as Python names them in repr.
local ACTIVE, EXPIRING, EXPIRED, FINISHED = "active", "expiring", "expired", "finished"
-- the state names of messages, as Python's
local STATE_NAME = { [EXPIRING] = "expiring", [EXPIRED] = "expired", [FINISHED] = "finished" }

local Timeout = { __name = "Timeout" }
Timeout.__index = Timeout

-- The timer callback: the deadline passed while the scope runs.
local function on_timeout(self)
   self._handle = false
   self._task:cancel()
   self._state = EXPIRING
end

-- Arms the timer for when (nil: none), dropping the previous one. The loop
-- methods are called directly: guards are made once per timeout().
local function arm(self, when, loop)
   self._when = when
   local handle = self._handle
   if handle then
      handle:cancel()
      self._handle = false
   end
   if when ~= nil then
      if when <= monotonic() then
         self._handle = call_soon(loop, on_timeout, self)
      else
         self._handle = call_at(loop, when, on_timeout, self)
      end
   end
end

local function check_when(when, argn, fname)
   if when ~= nil and (type(when) ~= "number" or when ~= when) then
      error(("bad argument #%d to '%s' (number or nil expected, got %s)"):format(
         argn, fname, when ~= when and "nan" or typename(when)), 3)
   end
end

-- A guard of task (the running one) for when, entered at once.
local function new(task, when)
   local self = setmetatable({
      _state = ACTIVE,
      _task = task,
      _cancelling = cancelling(task),
      _when = when,
      _handle = false, -- the timer's, while armed
   }, Timeout)
   arm(self, when, running_loop())
   return self
end

local function enter(task, when, fname)
   if task == nil then
      error(("'%s' must be called inside a task (its guard cancels the task that made it)"):format(fname), 3)
   end
   return new(task, when)
end

-- asyncio.timeout(delay) -> guard; delay nil means no deadline.
function M.timeout(delay, ...)
   coroutines.check_no_more("timeout", 1, delay, ...)
   check_when(delay, 1, "timeout")
   local guard = enter(current_task(), delay and monotonic() + delay, "timeout")
   return guard
end

-- asyncio.timeout_at(when) -> guard; when is on the loop's clock.
function M.timeout_at(when, ...)
   coroutines.check_no_more("timeout_at", 1, when, ...)
   check_when(when, 1, "timeout_at")
   local guard = enter(current_task(), when, "timeout_at")
   return guard
end

-- guard:when() -> the deadline, or nil.
function Timeout:when()
   return self._when
end

-- guard:reschedule(when): a new deadline (nil: none) while the scope runs.
function Timeout:reschedule(when)
   check_when(when, 1, "reschedule")
   if self._state ~= ACTIVE then
      error(("Cannot change state of %s Timeout"):format(STATE_NAME[self._state]), 2)
   end
   local loop = running_loop()
   if loop == nil then
      error("no running event loop", 2)
   end
   arm(self, when, loop)
end

-- guard:expired() -> whether the deadline passed while the scope ran.
function Timeout:expired()
   return self._state == EXPIRING or self._state == EXPIRED
end

-- Python's round(when, 3) as repr prints it: the exact value rounded to
-- three decimals, trailing zeros dropped down to one ("5.0", "-0.0").
local function round3(when)
   if math.type(when) == "integer" or when ~= when or when == math.huge or when == -math.huge then
      return tostring(when)
   end
   return (("%.3f"):format(when):gsub("(%.%d-)0+$", "%1"):gsub("%.$", ".0"))
end

function Timeout:__tostring()
   if self._state == ACTIVE then
      local when = self._when
      return ("<Timeout [active] when=%s>"):format(when == nil and "nil" or round3(when))
   end
   return ("<Timeout [%s]>"):format(self._state)
end

-- Leaving the scope with err (nil if it ended normally). Making the guard
-- enters it, so a second close means it was put in a second scope, which
-- Python refuses at the second entry (a nested one was disarmed by the
-- inner close, the only place we can tell).
function Timeout:__close(err)
   if self._state == FINISHED or self._state == EXPIRED then
      error("Timeout has already been entered: a guard serves one scope", 2)
   end
   local handle = self._handle
   if handle then
      handle:cancel()
      self._handle = false
   end
   local state = self._state
   if state == EXPIRING then
      self._state = EXPIRED
      if self._task:uncancel() <= self._cancelling and CancelledError:is(err) then
         error(TimeoutError(nil, { cause = err }), 0)
      end
   elseif state == ACTIVE then
      self._state = FINISHED
   end
end

coroutines.check_self(Timeout, { [Timeout] = true })
M.Timeout = Timeout

return M
