-- Synchronization primitives (API.md §6): Lock, Event, Condition,
-- Semaphore, BoundedSemaphore (and Barrier, from asyncio.barrier), with
-- the algorithms of Python 3.13's asyncio.locks, wakeups in the same order.
--
-- A task that must wait appends a waiter future to the primitive's FIFO and
-- awaits it; whoever makes progress possible finishes the first waiter that
-- is still pending, and the woken task then takes the lock, permit or
-- notification when it runs. A waiter cancelled after it was woken hands
-- the wakeup on, so a cancellation never loses what was meant for another
-- task. acquire() and wait() return reusable coroutine objects (asyncio.ops):
-- an uncontended acquire allocates nothing and never suspends.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local ops = require("asyncio.ops")
local waitlist = require("asyncio.waitlist")

local await_future, check_task = core.await_future, core.check_task
local get_running_loop, new_future = core.get_running_loop, core.new_future
local async, await, typename = coroutines.async, coroutines.await, coroutines.typename
local CancelledError = errors.CancelledError
local pcall, error, setmetatable = pcall, error, setmetatable

local M = {}

-- ---------- shared ----------

-- A class: methods and metamethods in one table.
local function class(name)
   local cls = { __name = "asyncio." .. name }
   cls.__index = cls
   return cls
end

-- "<asyncio.Lock object at 0x... [locked, waiters:1]>", as Python's repr.
local function describe(self, extra)
   local n = self._waiters:count()
   if n > 0 then
      extra = extra .. ", waiters:" .. n
   end
   return ("<%s object at %p [%s]>"):format(getmetatable(self).__name, self, extra)
end

-- A new waiter future. As Python's _LoopBoundMixin, the primitive is bound
-- to the loop that first needs one, and refuses any other.
local function new_waiter(self)
   local loop = get_running_loop()
   local bound = self._loop
   if bound == nil then
      self._loop = loop
   elseif bound ~= loop then
      error(tostring(self) .. " is bound to a different event loop", 0)
   end
   return new_future(loop)
end

-- Appends a new waiter to self._waiters and awaits it; the waiter is
-- removed again however the wait ends. Returns the future, and pcall's
-- status and error.
local function wait_in_line(self)
   local fut = new_waiter(self)
   local waiters = self._waiters
   waiters:append(fut)
   local ok, err = pcall(await_future, fut)
   waiters:remove(fut)
   return fut, ok, err
end

local function all_cancelled(waiters)
   for _, fut in waiters:each() do
      if not fut:cancelled() then
         return false
      end
   end
   return true
end

local function checkcount(fname, argname, value, default, min)
   if value == nil then
      return default
   end
   if math.type(value) == "float" then
      -- 2.0 will do; 1.5, nan, inf and 2^63 say why they will not
      local int = math.tointeger(value)
      if int == nil then
         error(("bad argument #1 to '%s' (number has no integer representation)"):format(fname), 3)
      end
      value = int
   end
   if math.type(value) ~= "integer" then
      error(("bad argument #1 to '%s' (integer expected, got %s)"):format(fname, typename(value)), 3)
   end
   if value < min then
      error(("bad argument #1 to '%s' (%s must be >= %d)"):format(fname, argname, min), 3)
   end
   return value
end

-- Refuses arguments past the first nmax, as Python's constructors do (its
-- tests check that an old `loop` argument is refused).
local check_no_more = coroutines.check_no_more

-- ---------- Lock ----------

local Lock = class("Lock")

-- Ensures the first waiter will run: the lock's invariant when it is free.
local function wake_up_first(self)
   local fut = self._waiters:first()
   if fut ~= nil and not fut:done() then
      fut:set_result(true)
   end
end

-- Takes the lock if it is free and nobody waits (fairness); returns
-- whether it did.
local function try_lock(self)
   if not self._locked then
      local waiters = self._waiters
      if waiters.head > waiters.tail or all_cancelled(waiters) then
         self._locked = true
         return true
      end
   end
   return false
end

-- Python's Lock.acquire: takes the lock at once if it may, else waits its
-- turn.
local function lock_acquire(self)
   if try_lock(self) then
      return
   end
   local _, ok, err = wait_in_line(self)
   if not ok then
      if CancelledError:is(err) and not self._locked then
         wake_up_first(self)
      end
      error(err, 0)
   end
   self._locked = true
end

local function lock_acquire_op(op)
   check_task()
   local self = op[2]
   lock_acquire(self)
   return self
end

function M.Lock(...)
   check_no_more("Lock", 0, ...)
   local self = setmetatable({ _locked = false, _waiters = waitlist.new() }, Lock)
   self._acquire = ops.new(lock_acquire_op, "Lock.acquire", self)
   return self
end

-- lock:acquire() -> awaitable resolving to the lock once it is held.
function Lock:acquire()
   return self._acquire
end

function Lock:locked()
   return self._locked
end

-- Releases lock; if it is not held, raises at the line `level` levels up.
local function unlock(lock, level)
   if not lock._locked then
      error("Lock is not acquired.", level + 1) -- Python's words
   end
   lock._locked = false
   wake_up_first(lock)
end

function Lock:release()
   unlock(self, 2)
end

-- local _ <close> = await(lock:acquire()): released on every exit path (an
-- error names the line that closed the block).
function Lock:__close()
   unlock(self, 2)
end

function Lock:__tostring()
   return describe(self, self._locked and "locked" or "unlocked")
end

-- ---------- Event ----------

local Event = class("Event")

local function event_wait_op(op)
   check_task()
   local self = op[2]
   if self._value then
      return true
   end
   local _, ok, err = wait_in_line(self)
   if not ok then
      error(err, 0)
   end
   return true
end

function M.Event(...)
   check_no_more("Event", 0, ...)
   local self = setmetatable({ _value = false, _waiters = waitlist.new() }, Event)
   self._wait = ops.new(event_wait_op, "Event.wait", self)
   return self
end

function Event:is_set()
   return self._value
end

-- Wakes every waiter; tasks that wait afterwards do not block.
function Event:set()
   if not self._value then
      self._value = true
      for _, fut in self._waiters:each() do
         if not fut:done() then
            fut:set_result(true)
         end
      end
   end
end

function Event:clear()
   self._value = false
end

-- event:wait() -> awaitable resolving to true once the event is set.
function Event:wait()
   return self._wait
end

function Event:__tostring()
   return describe(self, self._value and "set" or "unset")
end

-- ---------- Condition ----------

local Condition = class("Condition")

-- Wakes up to n waiters that are still pending.
local function notify(self, n)
   local woken = 0
   for _, fut in self._waiters:each() do
      if woken >= n then
         break
      end
      if not fut:done() then
         woken = woken + 1
         fut:set_result(false)
      end
   end
end

-- Python's wait takes the lock back in a `finally`, which runs also when
-- the coroutine is closed (a task collected while it waits): a free lock
-- is taken there without suspending, so the caller's own release (its
-- `async with`, a <close> here) finds it held instead of failing. A guard
-- to be closed does that when the task's coroutine is closed in the wait.
local TakeBackOnClose = {
   __close = function(guard)
      if guard.waiting then
         try_lock(guard.lock)
      end
   end,
}

-- Python 3.13's Condition.wait: releases the lock, waits to be notified,
-- then takes the lock again even if cancelled meanwhile (the cancellation
-- is raised once the lock is held). If it fails after it may have been
-- notified, it notifies another waiter instead, so no notification is lost.
local function condition_wait_op(op)
   check_task()
   local self = op[2]
   local lock = self._lock
   if not lock._locked then
      -- raised inside the await: the line of the code that awaited, if
      -- that is the user's (not wait_for's, inside the library)
      local caller = debug.getinfo(2, "S")
      local users = caller ~= nil and caller.what == "Lua" and not caller.source:find("asyncio/", 1, true)
      error("cannot wait on un-acquired lock", users and 2 or 0)
   end
   local fut = new_waiter(self)
   lock:release()
   local waiters = self._waiters
   waiters:append(fut)
   local guard <close> = setmetatable({ lock = lock, waiting = true }, TakeBackOnClose)
   local ok, err = pcall(await_future, fut)
   waiters:remove(fut)
   local cancelled
   while true do
      local acquired, aerr = pcall(lock_acquire, lock)
      if acquired then
         break
      elseif CancelledError:is(aerr) then
         cancelled = aerr
      else
         ok, err, cancelled = false, aerr, nil
         break
      end
   end
   guard.waiting = false
   if cancelled ~= nil then
      ok, err = false, cancelled
   end
   if not ok then
      notify(self, 1)
      error(err, 0)
   end
   return true
end

local function condition_acquire_op(op)
   check_task()
   local self = op[2]
   lock_acquire(self._lock)
   return self
end

-- Condition([lock]): lock is a Lock, a new one by default.
function M.Condition(lock, ...)
   check_no_more("Condition", 1, lock, ...)
   if lock == nil then
      lock = M.Lock()
   elseif getmetatable(lock) ~= Lock then
      error(("bad argument #1 to 'Condition' (Lock expected, got %s)"):format(typename(lock)), 2)
   end
   local self = setmetatable({ _lock = lock, _waiters = waitlist.new() }, Condition)
   self._acquire = ops.new(condition_acquire_op, "Lock.acquire", self) -- Python's is the lock's
   self._wait = ops.new(condition_wait_op, "Condition.wait", self)
   return self
end

-- cond:acquire() -> awaitable resolving to the condition once its lock is held.
function Condition:acquire()
   return self._acquire
end

function Condition:release()
   unlock(self._lock, 2)
end

function Condition:locked()
   return self._lock._locked
end

-- cond:wait() -> awaitable resolving to true once notified and holding the lock.
function Condition:wait()
   return self._wait
end

-- cond:wait_for(predicate) -> awaitable: waits until predicate() is true
-- and resolves to its value.
local wait_for = async(function(self, predicate)
   local result = predicate()
   while not result do
      await(self._wait)
      result = predicate()
   end
   return result
end)

function Condition:wait_for(predicate)
   if not core.is_callable(predicate) then -- Python fails at its first call
      error(("bad argument #1 to 'wait_for' (function expected, got %s)"):format(typename(predicate)), 2)
   end
   return wait_for(self, predicate)
end

function Condition:notify(n)
   if not self._lock._locked then -- first, as Python's
      error("cannot notify on un-acquired lock", 2)
   end
   if n == nil then
      n = 1
   elseif type(n) ~= "number" then
      error(("bad argument #1 to 'notify' (number expected, got %s)"):format(typename(n)), 2)
   end
   notify(self, n)
end

function Condition:notify_all()
   if not self._lock._locked then
      error("cannot notify on un-acquired lock", 2)
   end
   notify(self, self._waiters:count())
end

function Condition:__close()
   unlock(self._lock, 2)
end

function Condition:__tostring()
   return describe(self, self._lock._locked and "locked" or "unlocked")
end

-- ---------- Semaphore and BoundedSemaphore ----------

local Semaphore = class("Semaphore")
local BoundedSemaphore = class("BoundedSemaphore")
setmetatable(BoundedSemaphore, { __index = Semaphore })

-- Locked: no permit, or tasks are waiting for one (they go first).
local function sem_locked(self)
   if self._value == 0 then
      return true
   end
   for _, fut in self._waiters:each() do
      if not fut:cancelled() then
         return true
      end
   end
   return false
end

-- Gives a permit to the first pending waiter; whether there was one.
local function wake_up_next(self)
   for _, fut in self._waiters:each() do
      if not fut:done() then
         self._value = self._value - 1
         fut:set_result(true)
         return true
      end
   end
   return false
end

local function sem_acquire_op(op)
   check_task()
   local self = op[2]
   if not sem_locked(self) then
      self._value = self._value - 1
      return self
   end
   local fut, ok, err = wait_in_line(self)
   if not ok and CancelledError:is(err) and fut:done() and not fut:cancelled() then
      -- woken with a permit it will not use: give it back
      self._value = self._value + 1
   end
   -- waiters that came while we had the permit may go now
   while self._value > 0 and wake_up_next(self) do end
   if not ok then
      error(err, 0)
   end
   return self
end

local function new_semaphore(cls, value, bound)
   local self = setmetatable({ _value = value, _bound = bound, _waiters = waitlist.new() }, cls)
   self._acquire = ops.new(sem_acquire_op, "Semaphore.acquire", self) -- Python's name for both
   return self
end

-- Semaphore([value = 1]): value permits, an integer >= 0.
function M.Semaphore(value, ...)
   check_no_more("Semaphore", 1, value, ...)
   return new_semaphore(Semaphore, checkcount("Semaphore", "value", value, 1, 0))
end

-- BoundedSemaphore([value = 1]): releasing above value raises.
function M.BoundedSemaphore(value, ...)
   check_no_more("BoundedSemaphore", 1, value, ...)
   value = checkcount("BoundedSemaphore", "value", value, 1, 0)
   return new_semaphore(BoundedSemaphore, value, value)
end

-- sem:acquire() -> awaitable resolving to the semaphore once a permit is taken.
function Semaphore:acquire()
   return self._acquire
end

function Semaphore:locked()
   return sem_locked(self)
end

function Semaphore:release()
   self._value = self._value + 1
   wake_up_next(self)
end

-- Releases a bounded semaphore; released too often, raises at the line
-- `level` levels up.
local function bounded_release(self, level)
   if self._value >= self._bound then
      error("BoundedSemaphore released too many times", level + 1)
   end
   Semaphore.release(self)
end

function BoundedSemaphore:release()
   bounded_release(self, 2)
end

function Semaphore:__close()
   self:release()
end

function BoundedSemaphore:__close()
   bounded_release(self, 2)
end

function Semaphore:__tostring()
   return describe(self, sem_locked(self) and "locked" or "unlocked, value:" .. self._value)
end
BoundedSemaphore.__tostring = Semaphore.__tostring

M.Barrier = require("asyncio.barrier").constructor(M.Condition, checkcount, check_no_more)

-- Each method checks its self first, and refuses arguments past its own,
-- as Python's: a threading-style timeout, ev:wait(0.1) or
-- lock:acquire(false), would wait forever, and sem:release(2) release one.
local check_self = coroutines.check_self
local ARITY = { acquire = 0, release = 0, locked = 0, is_set = 0, set = 0, clear = 0, wait = 0,
                wait_for = 1, notify = 1, notify_all = 0 }
check_self(Lock, { [Lock] = true }, nil, ARITY)
check_self(Event, { [Event] = true }, nil, ARITY)
check_self(Condition, { [Condition] = true }, nil, ARITY)
check_self(Semaphore, { [Semaphore] = true, [BoundedSemaphore] = true }, nil, ARITY)
check_self(BoundedSemaphore, { [BoundedSemaphore] = true }, nil, ARITY)

-- The methods Python writes `async def`, for iscoroutinefunction.
for _, method in ipairs({ Lock.acquire, Event.wait, Condition.acquire, Condition.wait,
                          Condition.wait_for, Semaphore.acquire }) do
   coroutines.mark_async(method)
end

return M
