-- Composing awaitables (API.md §5, all but sleep): gathers the public names
-- of the modules that implement them, one concept each.

local gather = require("asyncio.gather")
local wait = require("asyncio.wait")
local wait_for = require("asyncio.wait_for")
local as_completed = require("asyncio.as_completed")
local shield = require("asyncio.shield")
local timeouts = require("asyncio.timeouts")
local taskgroups = require("asyncio.taskgroups")

return {
   gather = gather.gather,
   wait = wait.wait,
   ALL_COMPLETED = wait.ALL_COMPLETED,
   FIRST_COMPLETED = wait.FIRST_COMPLETED,
   FIRST_EXCEPTION = wait.FIRST_EXCEPTION,
   wait_for = wait_for.wait_for,
   as_completed = as_completed.as_completed,
   shield = shield.shield,
   timeout = timeouts.timeout,
   timeout_at = timeouts.timeout_at,
   TaskGroup = taskgroups.TaskGroup,
}
