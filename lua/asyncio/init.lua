-- asyncio for Lua 5.4: the public module (API.md). Each part lives in its
-- own module under asyncio.*; this file gathers their public names.

local core = require("asyncio.core")
local errors = require("asyncio.errors")
core.set_errors(errors)

local coroutines = require("asyncio.coroutines")
local events = require("asyncio.events")
local tasks = require("asyncio.tasks")
local runners = require("asyncio.runners")

local M = {
   _VERSION = "asyncio 0.1",
}

local function export(from, names)
   for _, name in ipairs(names) do
      local value = from[name]
      assert(value ~= nil, name)
      M[name] = value
   end
end

export(coroutines, { "async", "await", "iscoroutine", "iscoroutinefunction", "sleep" })
export(events, { "get_event_loop", "get_running_loop", "new_event_loop", "set_event_loop" })
export(tasks, { "create_task", "ensure_future", "current_task", "all_tasks", "Future", "isfuture",
                "eager_task_factory" })
export(runners, { "run", "Runner" })

-- Optional parts: present once their module exists.
for _, name in ipairs({ "asyncio.compose", "asyncio.locks", "asyncio.queues", "asyncio.streams",
                        "asyncio.threads", "asyncio.subprocess" }) do
   local found = package.searchpath(name, package.path)
   if found ~= nil then
      local part = require(name)
      for k, v in pairs(part) do
         -- names starting with "_" are the module's own, for the core or specs
         if M[k] == nil and not k:match("^_") then
            M[k] = v
         end
      end
   end
end

events.check_loop_methods()

-- The functions that return coroutine objects, as Python's `async def`
-- ones (gather and shield are plain there too).
for _, name in ipairs({ "sleep", "wait", "wait_for", "open_connection", "start_server",
                        "open_unix_connection", "start_unix_server", "create_subprocess_exec",
                        "create_subprocess_shell", "getaddrinfo", "open_datagram" }) do
   if M[name] ~= nil then
      coroutines.mark_async(M[name])
   end
end

for name, cls in pairs(errors) do
   if type(cls) == "table" and rawget(cls, "__aio_error") and name ~= "Error" then
      M[name] = cls
   end
end

return M
