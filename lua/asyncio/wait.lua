-- asyncio.wait (API.md §5), as Python's: waits until all, the first, or the
-- first failed of a set of futures are done, or the timeout passes, and
-- returns the sets done, pending. It never raises TimeoutError and never
-- cancels what is still pending.

local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local awaitable = require("asyncio.awaitable")
local taskset = require("asyncio.taskset")

local pairs, type, getmetatable, pcall, error = pairs, type, getmetatable, pcall, error
local async, await = coroutines.async, coroutines.await
local typename = coroutines.typename
local is_reusable = coroutines.is_reusable
local argerror = awaitable.argerror

local M = {
   ALL_COMPLETED = "ALL_COMPLETED",
   FIRST_COMPLETED = "FIRST_COMPLETED",
   FIRST_EXCEPTION = "FIRST_EXCEPTION",
}

local RETURN_WHEN = {
   ALL_COMPLETED = true,
   FIRST_COMPLETED = true,
   FIRST_EXCEPTION = true,
}

local OPTIONS = {
   timeout = awaitable.number_or_nil,
   return_when = function(v)
      if v ~= nil and not RETURN_WHEN[v] then
         return "must be asyncio.ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION, got "
            .. (type(v) == "string" and ("'" .. v .. "'") or typename(v))
      end
   end,
}

-- Checks that aws is a list or set of awaitables, non-empty unless
-- allow_empty, and returns it as a list, without repeats, in list order (a
-- set in pairs order). level is that of the public function.
local function check_aws(aws, fname, level, allow_empty)
   if type(aws) ~= "table" or (getmetatable(aws) ~= nil and not taskset.is(aws)) then
      argerror(1, fname, "list or set of awaitables expected, got " .. typename(aws), level + 1)
   end
   local list, seen = {}, {}
   if aws[1] ~= nil then
      for i = 1, #aws do
         local aw = aws[i]
         awaitable.check(aw, 1, fname, level + 1)
         -- a repeat counts once, as in Python's set, unless it stands for
         -- a new coroutine each time (q:get() twice is two gets)
         if not seen[aw] or is_reusable(aw) then
            seen[aw] = true
            list[#list + 1] = aw
         end
      end
   else
      for aw in pairs(aws) do
         if awaitable.kind(aw) == nil then
            argerror(1, fname, "list or set of awaitables expected, got a table with key "
               .. typename(aw), level + 1)
         end
         list[#list + 1] = aw
      end
   end
   if #list == 0 and not allow_empty then
      argerror(1, fname, "the list of awaitables is empty", level + 1)
   end
   return list
end
M.check_aws = check_aws

-- The futures of a checked list, coroutine objects wrapped in tasks on the
-- running loop in list order. Errors point at the line that awaits the
-- coroutine object calling this (level 3: await tail-calls its body).
local function to_futures(list, fname)
   local loop = events.get_running_loop()
   local fs = {}
   for i = 1, #list do
      fs[i] = awaitable.to_future(list[i], loop, 1, fname, 3)
   end
   return fs, loop
end
M.to_futures = to_futures

local function release(waiter)
   if not waiter:done() then
      waiter:set_result()
   end
end

-- Python's _wait: returns the sets done, pending once return_when holds.
local function wait_futures(fs, loop, timeout, return_when)
   local waiter = loop:create_future()
   local handle
   if timeout ~= nil then
      handle = loop:call_later(timeout, release, waiter)
   end
   local counter = #fs
   local first_completed = return_when == M.FIRST_COMPLETED
   local first_exception = return_when == M.FIRST_EXCEPTION
   local function on_completion(f)
      counter = counter - 1
      if counter <= 0 or first_completed
         or (first_exception and not f:cancelled() and f:exception() ~= nil) then
         if handle ~= nil then
            handle:cancel()
         end
         release(waiter)
      end
   end
   for i = 1, #fs do
      fs[i]:add_done_callback(on_completion)
   end
   local ok, err = pcall(await, waiter)
   if handle ~= nil then
      handle:cancel()
   end
   for i = 1, #fs do
      fs[i]:remove_done_callback(on_completion)
   end
   if not ok then
      error(err, 0)
   end
   local done, pending = taskset.new(), taskset.new()
   for i = 1, #fs do
      local f = fs[i]
      if f:done() then
         done[f] = true
      else
         pending[f] = true
      end
   end
   return done, pending
end

local wait = async(function(list, timeout, return_when)
   local fs, loop = to_futures(list, "wait")
   return wait_futures(fs, loop, timeout, return_when)
end)

-- asyncio.wait(aws [, {timeout=, return_when=}]) -> coroutine object
-- resolving to done, pending.
function M.wait(aws, opts)
   local list = check_aws(aws, "wait", 2)
   awaitable.check_options(opts, OPTIONS, 2, "wait", 2)
   opts = opts or {}
   return wait(list, opts.timeout, opts.return_when or M.ALL_COMPLETED)
end

return M
