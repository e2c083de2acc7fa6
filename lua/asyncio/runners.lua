-- asyncio.run (API.md §2): a fresh loop, the main task, and a clean
-- shutdown of whatever is still pending.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local tasks = require("asyncio.tasks")

local M = {}
local pack, unpack = table.pack, table.unpack

-- Hooks run after the main task and the cancelled leftovers finished,
-- before the loop closes (the executor's shutdown adds one).
M.shutdown_hooks = {}

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
            task = task,
            traceback = task:traceback(),
         })
      end
   end
end

-- asyncio.run(main, ...) -> main's results.
function M.run(main, ...)
   if core.get_running_loop() ~= nil then
      error("asyncio.run() cannot be called from a running event loop", 2)
   end
   local body
   if coroutines.iscoroutine(main) then
      body = main
   elseif coroutines.iscoroutinefunction(main) then
      body = main(...)
   elseif type(main) == "function" then
      local args = pack(...)
      body = function()
         return main(unpack(args, 1, args.n))
      end
   else
      coroutines.argerror(1, "run", "coroutine object or function", main)
   end
   local loop = events.new_event_loop()
   events.set_event_loop(loop)
   local main_task = loop:create_task(body)
   local results = pack(pcall(loop.run_until_complete, loop, main_task))
   local ok, err = pcall(function()
      cancel_all_tasks(loop)
      for _, hook in ipairs(M.shutdown_hooks) do
         hook(loop)
      end
   end)
   events.set_event_loop(nil)
   loop:close()
   if not results[1] then
      error(results[2], 0)
   end
   if not ok then
      error(err, 0)
   end
   return unpack(results, 2, results.n)
end

return M
