-- Runs every example of examples/ as a process of its own and compares what it
-- prints with what its Python original printed (examples/expected/<name>.txt,
-- made by examples/python/regenerate.sh). Run from the repository root.
--
-- Output is compared line by line, byte for byte, after a few normalisations
-- that each case names: numbers that measure time are taken out of the text
-- and compared with a tolerance instead; object reprs that cannot match
-- between the languages are reduced to what they mean; lines printed by a
-- second thread, whose interleaving with the main thread's is a race, are
-- moved to the end in their own order.

local helper = require("spec.helper")
local LUA, PATHS, read_file = helper.LUA, helper.paths(), helper.read_file
local TIMEOUT = 30

-- Runs `lua5.4 examples/<name>.lua <args>` and returns its stdout, its exit
-- status (a number, 124 if it timed out) and its stderr.
local function run_example(name, args)
   local errfile = os.tmpname()
   local cmd = ("%s timeout %d %s examples/%s.lua %s 2>%s"):format(
      PATHS, TIMEOUT, LUA, name, args or "", errfile)
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local _, _, status = p:close()
   local err = read_file(errfile)
   os.remove(errfile)
   return out, status, err
end

-- Which of the names in `names` the library does not have yet: "Queue" is
-- asyncio.Queue, "loop:run_forever" a method of a new event loop. Asked in a
-- process of its own so that a crash there cannot take busted down.
local function missing_features(names)
   local code = [[
      local asyncio = require("asyncio")
      local loop = asyncio.new_event_loop()
      for name in io.read("a"):gmatch("%S+") do
         local method = name:match("^loop:(.+)$")
         local found
         if method then found = loop[method] else found = asyncio[name] end
         if found == nil then print(name) end
      end
      loop:close()
   ]]
   local input = os.tmpname()
   local f = assert(io.open(input, "w"))
   f:write(table.concat(names, "\n"))
   f:close()
   local p = assert(io.popen(("%s %s -e %q < %s 2>/dev/null"):format(
      PATHS, LUA, code, input), "r"))
   local out = p:read("a")
   local ok = p:close()
   os.remove(input)
   if not ok then
      return nil  -- the library does not load: let the examples fail
   end
   local missing = {}
   for name in out:gmatch("%S+") do
      missing[name] = true
   end
   return missing
end

-- Normalisations -------------------------------------------------------------

-- A line normalisation: each match of `pattern`, which holds two position
-- captures around a number, has the number replaced by "<n>"; the number is
-- appended to `nums`. An anchored pattern matches once.
local function numbers(pattern)
   local once = pattern:sub(1, 1) == "^"
   return function(line, nums)
      local out, init = {}, 1
      repeat
         local s, e, p1, p2 = line:find(pattern, init)
         if s then
            nums[#nums + 1] = tonumber(line:sub(p1, p2 - 1))
            out[#out + 1] = line:sub(init, p1 - 1) .. "<n>" .. line:sub(p2, e)
            init = e + 1
         end
      until not s or once
      out[#out + 1] = line:sub(init)
      return table.concat(out)
   end
end

-- A line normalisation made of a plain gsub.
local function replace(pattern, repl)
   return function(line)
      return (line:gsub(pattern, repl))
   end
end

-- Python's and Lua's reprs of a task differ; what they say is the state and
-- the name: "<Task pending name=Task-1>".
local task_repr = replace("<Task (%a+) name='?([^%s'>]+)'?.*$", "<Task %1 name=%2>")

-- A text normalisation for the examples with a loop in a second thread: the
-- lines matching `pattern`, printed by that thread, are taken out wherever
-- they fell (even mid-line) and put at the end, in the order printed.
local function loop_thread_lines(pattern)
   return function(text)
      local moved = {}
      text = text:gsub(pattern, function(m)
         moved[#moved + 1] = m
         return ""
      end)
      text = text:gsub("\n\n+", "\n"):gsub("^\n", "")
      return text .. "-- printed by the loop thread:\n" .. table.concat(moved, "\n") .. "\n"
   end
end

-- Splits normalised output into lines and the list of timing numbers.
local function normalise(text, case)
   for _, f in ipairs(case.text or {}) do
      text = f(text)
   end
   local lines, nums = {}, {}
   if text:sub(-1) ~= "\n" and text ~= "" then
      text = text .. " <no newline at end>\n"
   end
   for line in text:gmatch("(.-)\n") do
      for _, f in ipairs(case.lines or {}) do
         line = f(line, nums)
      end
      lines[#lines + 1] = line
   end
   if case.relative and #nums > 0 then
      local t0 = nums[1]
      for i = 1, #nums do
         nums[i] = nums[i] - t0
      end
   end
   return lines, nums
end

-- A readable line diff: "  " common, "- " expected only, "+ " actual only.
local function diff(a, b)
   local n, m = #a, #b
   local lcs = {}
   for i = n + 1, 1, -1 do
      lcs[i] = {}
      for j = m + 1, 1, -1 do
         if i > n or j > m then
            lcs[i][j] = 0
         elseif a[i] == b[j] then
            lcs[i][j] = lcs[i + 1][j + 1] + 1
         else
            lcs[i][j] = math.max(lcs[i + 1][j], lcs[i][j + 1])
         end
      end
   end
   local out, i, j = {}, 1, 1
   while i <= n or j <= m do
      if i <= n and j <= m and a[i] == b[j] then
         out[#out + 1] = "  " .. a[i]
         i, j = i + 1, j + 1
      elseif i <= n and (j > m or lcs[i + 1][j] >= lcs[i][j + 1]) then
         out[#out + 1] = "- " .. a[i]
         i = i + 1
      else
         out[#out + 1] = "+ " .. b[j]
         j = j + 1
      end
   end
   return table.concat(out, "\n")
end

-- Compares the example's output with the expected one; returns nil when they
-- match, or a message that shows how they differ.
local function compare(expected, actual, case)
   local elines, enums = normalise(expected, case)
   local alines, anums = normalise(actual, case)
   local same = #elines == #alines
   for i = 1, math.min(#elines, #alines) do
      same = same and elines[i] == alines[i]
   end
   if not same then
      return "output differs from the Python original"
         .. " (- expected, + printed):\n" .. diff(elines, alines)
   end
   local bad = {}
   local tolerance = case.tolerance or 0.05
   for i = 1, #enums do
      local e, a = enums[i], anums[i]
      if not a or math.abs(e - a) > tolerance + 0.02 * math.abs(e) then
         bad[#bad + 1] = ("  timing #%d: expected %s, got %s"):format(i, e, a)
      end
   end
   if #bad > 0 then
      return "timings differ from the Python original by more than "
         .. tolerance .. " s:\n" .. table.concat(bad, "\n")
         .. "\nnormalised output:\n" .. table.concat(alines, "\n")
   end
   return nil
end

-- The examples -----------------------------------------------------------------

local TIME = numbers("^TIME:  ()[%d.]+()$")

local cases = {
   -- core
   {name = "countasync", needs = {"gather", "run"},
    lines = {replace("^%S-([%w_]+)%.%a+ executed in", "%1 executed in"),
             numbers("executed in ()[%d.]+() seconds")}},
   {name = "dosomething", needs = {"wait", "loop:run_until_complete"}, lines = {TIME}},
   {name = "hello_world", needs = {"run", "loop:run_until_complete"}},
   {name = "simplest", needs = {"loop:run_until_complete"}},
   {name = "task_status", needs = {"loop:create_task"}, lines = {task_repr}},
   {name = "create_task", needs = {"create_task", "run"}, lines = {numbers("^()[%d.]+()$")}},
   {name = "mark_done", needs = {"loop:create_future", "loop:call_soon"}},
   {name = "task_result", needs = {"InvalidStateError", "loop:create_task"},
    lines = {task_repr}},
   {name = "done_callback", needs = {"loop:create_task"}},
   {name = "fire_and_forget", needs = {"ensure_future"}},
   {name = "finish_pending", needs = {"ensure_future", "all_tasks", "gather"}},
   {name = "cancel_pending", needs = {"ensure_future", "all_tasks", "CancelledError"}},
   {name = "await_order1", needs = {"loop:create_task"},
    lines = {numbers("^()[%d.]+() %- ")}, relative = true},
   {name = "await_order2", needs = {"loop:create_task"},
    lines = {numbers("^()[%d.]+() %- ")}, relative = true},
   {name = "long_operation", needs = {"ensure_future"}},
   -- ends with an error in both languages (await of None / nil): status 1
   {name = "long_operation_await", needs = {"ensure_future"}, status = 1},
   {name = "fire_and_forget_pending", needs = {"ensure_future"}},
   {name = "never_awaited", needs = {"async"}},
   {name = "doit", needs = {"gather", "ensure_future", "loop:create_task"}},
   {name = "doit", args = "ensure_future", needs = {"gather", "ensure_future"}},
   {name = "doit", args = "create_task", needs = {"gather", "loop:create_task"}},
   {name = "fire_and_forget_thread", needs = {"loop:run_in_executor"}},
   -- composition
   {name = "gather_exceptions", needs = {"gather"}, lines = {TIME}},
   {name = "chain_steps", needs = {"gather"}, lines = {TIME}},
   {name = "chained", args = "9 6 3", needs = {"gather"},
    lines = {numbers("took ()[%d.]+() seconds"), numbers("finished in ()[%d.]+() seconds")}},
   {name = "rand", needs = {"gather"}},
   {name = "wait_coroutines", needs = {"wait"}},
   {name = "wait_tasks", needs = {"wait"}},
   {name = "wait_callbacks", needs = {"wait"}},
   {name = "wait_first_completed", needs = {"wait", "FIRST_COMPLETED"}},
   {name = "gather_groups", needs = {"gather"}},
   {name = "run_forever", needs = {"loop:run_forever", "loop:stop"}},
   -- synchronization and queues
   {name = "queue_consumers", needs = {"Queue", "gather"}},
   {name = "asyncq", args = "-p 2 -c 5", needs = {"Queue", "gather"},
    lines = {numbers(" in ()[%d.]+() seconds%.")}},
   {name = "lock", needs = {"Lock", "wait", "loop:call_later"}},
   {name = "condition", needs = {"Condition", "wait"}},
   {name = "event", needs = {"Event", "wait", "loop:call_later"}},
   {name = "semaphore", needs = {"Semaphore", "wait"}},
   {name = "prioqueue", needs = {"PriorityQueue", "Semaphore", "ensure_future"}},
   {name = "task_by_hand", needs = {"wait", "ensure_future", "loop:create_future"}},
   -- a loop in another thread
   -- handle:cancel() races with the loop thread, which may run the call first
   -- (about one run in a hundred here; Python's GIL makes it rarer): the
   -- example is run again before its output counts as wrong.
   {name = "threadsafe_call", needs = {"start_loop_thread"}, attempts = 3,
    text = {loop_thread_lines("正在执行name: Zarten%d")}},
   {name = "threadsafe_coroutine", needs = {"start_loop_thread"},
    text = {loop_thread_lines("正在执行name: Zarten%d")}},
   -- not from the posts
   {name = "child_processes", needs = {"create_subprocess_shell", "create_subprocess_exec"}},
}

describe("examples", function()
   local all_needs, seen = {}, {}
   for _, case in ipairs(cases) do
      for _, need in ipairs(case.needs or {}) do
         if not seen[need] then
            seen[need] = true
            all_needs[#all_needs + 1] = need
         end
      end
   end
   local missing = missing_features(all_needs)

   for _, case in ipairs(cases) do
      local title = ("examples/%s.lua%s prints what examples/python/%s.py printed")
         :format(case.name, case.args and " " .. case.args or "", case.name)
      it(title, function()
         for _, need in ipairs(case.needs or {}) do
            if missing and missing[need] then
               pending(("needs %s"):format(need:find(":") and need or "asyncio." .. need))
               return
            end
         end
         local expected = read_file(("examples/expected/%s.txt"):format(case.name))
         for attempt = 1, case.attempts or 1 do
            local out, status, err = run_example(case.name, case.args)
            local where = ("\n-- stdout:\n%s-- stderr:\n%s"):format(out, err)
            if status == 124 then
               error(("timed out after %d s%s"):format(TIMEOUT, where), 0)
            end
            if status ~= (case.status or 0) then
               error(("exited with status %s%s"):format(status, where), 0)
            end
            local problem = compare(expected, out, case)
            if not problem then
               break
            elseif attempt == (case.attempts or 1) then
               error(problem .. "\n-- stderr:\n" .. err, 0)
            end
         end
      end)
   end
end)
