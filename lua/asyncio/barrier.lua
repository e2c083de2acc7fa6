-- Barrier (API.md §6), Python 3.11's asyncio.Barrier over a Condition:
-- parties tasks wait until all of them have arrived, then all go on; the
-- barrier fills, drains, and can be reset or aborted (both raise
-- BrokenBarrierError in the tasks waiting in it). asyncio.locks exports it.

local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")

local async, await = coroutines.async, coroutines.await
local BrokenBarrierError = errors.BrokenBarrierError

local M = {}

local FILLING, DRAINING, RESETTING, BROKEN = "filling", "draining", "resetting", "broken"

local Barrier = { __name = "asyncio.Barrier" }

-- b.parties, b.n_waiting and b.broken are read-only, as Python's
-- properties: an assignment would have changed how many tasks pass.
local READ_ONLY = { parties = true, n_waiting = true, broken = true }

function Barrier.__index(self, key)
   if key == "n_waiting" then
      return self._state == FILLING and self._count or 0
   elseif key == "broken" then
      return self._state == BROKEN
   elseif key == "parties" then
      return self._parties
   end
   return Barrier[key]
end

function Barrier.__newindex(self, key, value)
   if READ_ONLY[key] then
      error(("attempt to set the read-only field '%s' of a Barrier"):format(key), 2)
   end
   rawset(self, key, value)
end

function Barrier:__tostring()
   local extra = self._state
   if self._state ~= BROKEN then
      extra = ("%s, waiters:%d/%d"):format(extra, self.n_waiting, self.parties)
   end
   return ("<asyncio.Barrier object at %p [%s]>"):format(self, extra)
end

-- Waits while the barrier drains or resets; raises if it is broken.
local function block(self)
   await(self._cond:wait_for(function()
      return self._state ~= DRAINING and self._state ~= RESETTING
   end))
   if self._state == BROKEN then
      error(BrokenBarrierError("Barrier aborted"), 0)
   end
end

-- Waits until the barrier is released; raises if it was reset or broken.
local function wait_released(self)
   await(self._cond:wait_for(function() return self._state ~= FILLING end))
   if self._state == BROKEN or self._state == RESETTING then
      error(BrokenBarrierError("Abort or reset of barrier"), 0)
   end
end

-- The last task out lets the next round fill the barrier.
local function leave(self)
   self._count = self._count - 1
   if self._count == 0 then
      if self._state == RESETTING or self._state == DRAINING then
         self._state = FILLING
      end
      self._cond:notify_all()
   end
end

local wait = async(function(self)
   local _ <close> = await(self._cond:acquire())
   block(self)
   local index = self._count
   self._count = index + 1
   local ok, err = pcall(function()
      if index + 1 == self.parties then
         self._state = DRAINING
         self._cond:notify_all()
      else
         wait_released(self)
      end
   end)
   leave(self)
   if not ok then
      error(err, 0)
   end
   return index
end)

-- b:wait() -> awaitable resolving to the arrival index, 0 to parties - 1.
function Barrier:wait()
   return wait(self)
end

local reset = async(function(self)
   local _ <close> = await(self._cond:acquire())
   if self._count > 0 then
      self._state = RESETTING
   else
      self._state = FILLING
   end
   self._cond:notify_all()
end)

-- b:reset() -> awaitable: back to the empty state; tasks waiting in the
-- barrier get BrokenBarrierError.
function Barrier:reset()
   return reset(self)
end

local abort = async(function(self)
   local _ <close> = await(self._cond:acquire())
   self._state = BROKEN
   self._cond:notify_all()
end)

-- b:abort() -> awaitable: breaks the barrier; waiting and later wait()s
-- get BrokenBarrierError until reset.
function Barrier:abort()
   return abort(self)
end

-- The constructor Barrier(parties), parties an integer >= 1, given
-- asyncio.locks' Condition and its argument checks.
function M.constructor(Condition, checkcount, check_no_more)
   return function(parties, ...)
      check_no_more("Barrier", 1, parties, ...)
      if parties == nil then
         error("bad argument #1 to 'Barrier' (integer expected, got no value)", 2)
      end
      parties = checkcount("Barrier", "parties", parties, nil, 1)
      return setmetatable({ _parties = parties, _cond = Condition(), _state = FILLING, _count = 0 }, Barrier)
   end
end

-- The methods Python writes `async def`, for iscoroutinefunction.
for _, method in ipairs({ Barrier.wait, Barrier.reset, Barrier.abort }) do
   coroutines.mark_async(method)
end
coroutines.check_self(Barrier, { [Barrier] = true }, nil, { wait = 0, reset = 0, abort = 0 })

return M
