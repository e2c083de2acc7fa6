-- Re-entrancy through finalizers. Any allocation may run the collector,
-- and the collector the __gc of a user's table, which may call the library
-- again: C code that reads its state, allocates, then writes from what it
-- read must look again after the allocation. Each case runs in a fresh
-- lua5.4 (some used to crash it) and arms a finalizer so that it runs at
-- the next allocation that steps the collector.
local helper = require("spec.helper")

-- Leaves the collector in the middle of calling finalizers, with hook set
-- to run from the next one; disarm() puts the collector back.
local ARM = [[
local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await
local hook, finalized, at = nil, 0, 1
local mt = { __gc = function()
   finalized = finalized + 1
   local h = hook
   if h and finalized >= at then
      hook = nil
      h()
   end
end }
-- hook runs from the k-th finalizer from now (default: the first)
function arm(h, k)
   collectgarbage("collect")
   collectgarbage("incremental", 100, 100, 1)
   collectgarbage("stop")
   for _ = 1, 4000 do setmetatable({}, mt) end
   finalized, at = 0, math.huge
   repeat collectgarbage("step", 0) until finalized > 0
   finalized, at = 0, k or 1
   collectgarbage("restart")
   hook = h
end
function disarm()
   hook = nil
   collectgarbage("incremental", 200, 100, 13)
end
]]

local function run(code)
   return helper.run_fresh(ARM .. code)
end

describe("a finalizer run by an allocation inside the library", function()
   it("finds a future being set with several values pending, not half set", function()
      local out, status = run([[
local f = asyncio.new_event_loop():create_future()
local seen
arm(function() seen = { pcall(f.result, f) } end)
f:set_result(1, 2)
disarm()
print(seen ~= nil, seen and asyncio.InvalidStateError:is(seen[2]), f:result())
]])
      assert.equal(0, status)
      assert.equal("true\ttrue\t1\t2\n", out)
   end)

   it("may put into a queue whose ring grows", function()
      local out = run([[
local q = asyncio.Queue()
for i = 1, 8 do q:put_nowait(i) end
arm(function() q:put_nowait("F") end)
q:put_nowait(9)
disarm()
local got = {}
while not q:empty() do got[#got + 1] = tostring(q:get_nowait()) end
print(table.concat(got, " "))
]])
      assert.equal("1 2 3 4 5 6 7 8 F 9\n", out)
   end)

   -- shutdown(true) lowered the unfinished count by the items it dropped,
   -- then made the new table: a finalizer took an item from the old one,
   -- counted out twice (join() returned early, task_done() raised)
   it("may take an item while shutdown(true) drops the rest", function()
      local out = run([[
local bad = 0
for k = 1, 40 do
   asyncio.run(async(function()
      local q = asyncio.Queue()
      for i = 1, 5 do q:put_nowait(i) end
      local held = 1 -- one item taken before
      q:get_nowait()
      arm(function() if pcall(q.get_nowait, q) then held = held + 1 end end, k)
      q:shutdown(true)
      disarm()
      for _ = 1, held do
         if not pcall(q.task_done, q) then bad = bad + 1 end
      end
   end))
end
print(bad)
]])
      assert.equal("0\n", out)
   end)

   -- call_soon and create_task checked the loop, allocated, then queued on
   -- it: work left on a closed loop, never run (Python raises)
   it("may close the loop under call_soon or create_task, which then raise", function()
      local out = run([[
local l = asyncio.new_event_loop()
arm(function() l:close() end)
print(pcall(l.call_soon, l, print))
disarm()
print(l:_ready_count())
local l2 = asyncio.new_event_loop()
arm(function() l2:close() end)
print(pcall(l2.create_task, l2, function() end))
disarm()
print(l2:_ready_count())
]])
      assert.equal("false\tEvent loop is closed\n0\nfalse\tEvent loop is closed\n0\n", out)
   end)

   it("may report while reports are handed over, and is heard", function()
      local out = run([[
local loop = asyncio.new_event_loop()
loop:set_exception_handler(function(_, ctx) print("delivered", ctx.exception) end)
local function report(tag)
   local f = loop:create_future()
   f:set_exception(tag)
   getmetatable(f).__gc(f)
end
loop:call_soon(function()
   collectgarbage("stop")
   report("from a callback")
   arm(function() report("from a finalizer") end)
end)
loop:run_until_complete(asyncio.sleep(0.01))
disarm()
]])
      assert.equal("delivered\tfrom a callback\ndelivered\tfrom a finalizer\n", out)
   end)

   it("may close the loop under a write or an add_reader, which then raise", function()
      local out, status = run([[
local loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
local server = loop:run_until_complete(asyncio.start_server(function() end, "127.0.0.1", 0))
local _, port = server:getsockname()
local _, writer = loop:run_until_complete(asyncio.open_connection("127.0.0.1", port))
writer:write(string.rep("x", 1 << 24)) -- the peer reads nothing: bytes stay queued
arm(function() loop:close() end)
print(pcall(writer.write, writer, 12345)) -- a number: converting it allocates
disarm()
local other = asyncio.new_event_loop()
local rfd = require("asyncio.core").pipe()
arm(function() other:close() end)
print(pcall(other.add_reader, other, rfd, print))
disarm()
]])
      assert.equal(0, status)
      assert.equal("false\tEvent loop is closed\nfalse\tEvent loop is closed\n", out)
   end)

   it("may submit to an executor while the loop's inbox is being made", function()
      local out, status = run([[
local ex = asyncio.ThreadPoolExecutor(1)
local loop = asyncio.new_event_loop()
local inner
arm(function()
   inner = loop:run_in_executor(ex, function() return "inner" end)
end)
require("asyncio.core").loop_inbox(loop) -- makes the inbox: allocates
disarm()
local outer = loop:run_in_executor(ex, function() return "outer" end)
print(loop:run_until_complete(asyncio.wait_for(outer, 2)),
   inner and select(2, pcall(loop.run_until_complete, loop, asyncio.wait_for(inner, 2))))
loop:close()
ex:shutdown()
]])
      assert.equal(0, status)
      assert.equal("outer\tinner\n", out)
   end)

   it("may close a writer whose wait_closed is being set up", function()
      local out = run([[
asyncio.run(async(function()
   local server = await(asyncio.start_server(function() end, "127.0.0.1", 0))
   local _, port = server:getsockname()
   local _, writer = await(asyncio.open_connection("127.0.0.1", port))
   local op = writer:wait_closed()
   arm(function() writer:close() end)
   print(pcall(await, asyncio.wait_for(op, 2)))
   disarm()
   server:close()
end))
]])
      assert.equal("true\n", out)
   end)
end)

describe("a finalizer closing a UDP endpoint", function()
   -- recv started its watcher on the closed descriptor: libev aborted
   it("at any point of a recv makes it return nil", function()
      local out, status = run([[
asyncio.run(async(function()
   local results = {}
   for k = 1, 40 do
      local ep = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
      local t = asyncio.create_task(async(function()
         arm(function() ep:close() end, k)
         return await(ep:recv())
      end)())
      await(asyncio.wait({ t }, { timeout = 0.05 }))
      disarm()
      ep:close()
      if t:done() then
         results[#results + 1] = tostring(t:result())
      else
         t:cancel()
      end
   end
   print(#results > 0, table.concat(results, " "):match("^[nil ]*$") ~= nil)
end))
]])
      assert.equal(0, status, out)
      assert.equal("true\ttrue\n", out)
   end)
end)

describe("cancelling a chain of tasks awaiting one another", function()
   -- each link was a C call through Lua, which stops at 200 of them
   it("reaches the bottom of a chain of 3000", function()
      local out = run([[
local level
level = async(function(n)
   if n == 0 then
      await(asyncio.sleep(10))
      return 0
   end
   return await(asyncio.create_task(level(n - 1))) + 1
end)
asyncio.run(async(function()
   local top = asyncio.create_task(level(3000))
   for _ = 1, 3010 do await(asyncio.sleep(0)) end
   print(top:cancel())
   local ok, err = pcall(await, asyncio.wait_for(top, 5))
   print(ok, asyncio.CancelledError:is(err))
end))
]])
      assert.equal("true\nfalse\ttrue\n", out)
   end)
end)
