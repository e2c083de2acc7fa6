-- Shared by every spec: refuses to run under anything but Lua 5.4, and
-- runs test bodies as tasks on a fresh loop with a deadline.

if _VERSION ~= "Lua 5.4" then
   io.stderr:write("the specs need Lua 5.4 but run under ", _VERSION,
      ": start busted as `lua5.4 /usr/bin/busted` (make test does)\n")
   os.exit(1)
end

local asyncio = require("asyncio")
-- busted gives the spec files luassert as `assert`; a module needs it named
local assert = require("luassert")

local M = {}

-- Cancels what is left on loop and closes it.
local function dispose(loop)
   local left = {}
   for task in pairs(asyncio.all_tasks(loop)) do
      task:cancel()
      left[#left + 1] = task
   end
   if #left > 0 then
      local guard = loop:call_later(1, function() loop:stop() end)
      for _, task in ipairs(left) do
         if not task:done() then
            pcall(loop.run_until_complete, loop, task)
         end
      end
      guard:cancel()
   end
   loop:close()
   asyncio.set_event_loop(nil)
end

-- Runs body (a function or coroutine object) as a task on a new loop and
-- returns its results; fails if it raises or is not done within timeout
-- seconds (default 5).
function M.run(body, timeout)
   timeout = timeout or 5
   local loop = asyncio.new_event_loop()
   asyncio.set_event_loop(loop)
   local task = loop:create_task(body, { name = "test" })
   local timed_out = false
   local deadline = loop:call_later(timeout, function()
      timed_out = true
      loop:stop()
   end)
   local results = table.pack(pcall(loop.run_until_complete, loop, task))
   deadline:cancel()
   dispose(loop)
   if timed_out then
      error(("test did not finish within %g s; it was suspended at:\n%s"):format(timeout, task:traceback()), 0)
   end
   if not results[1] then
      error(results[2], 0)
   end
   return table.unpack(results, 2, results.n)
end

-- Runs body(loop) outside any task, on a new current loop (the form of
-- CPython's tests that step a loop by hand), then cancels what is left on
-- it and closes it, even if body failed; raises what body raised.
function M.with_loop(body)
   local loop = asyncio.new_event_loop()
   asyncio.set_event_loop(loop)
   local ok, err = pcall(body, loop)
   if not loop:is_closed() then
      for task in pairs(asyncio.all_tasks(loop)) do
         task:cancel()
      end
      pcall(loop.run_until_complete, loop, asyncio.sleep(0))
      loop:close()
   end
   asyncio.set_event_loop(nil)
   if not ok then
      error(err, 0)
   end
end

-- it("...", helper.async(function() ... end)): the body runs as a task.
function M.async(body, timeout)
   return function()
      return M.run(body, timeout)
   end
end

-- Collects reports of the loop's exception handler into a list.
function M.capture_reports(loop)
   local reports = {}
   loop:set_exception_handler(function(_, ctx)
      reports[#reports + 1] = ctx
   end)
   return reports
end

-- Whether err is a TimeoutError, a CancelledError (what Python's
-- assertRaises checks).
function M.is_timeout(err)
   return asyncio.TimeoutError:is(err)
end

function M.is_cancelled(err)
   return asyncio.CancelledError:is(err)
end

-- A to-be-closed value that runs f on leaving the scope, however it is
-- left (Python's finally:).
function M.finally(f)
   return setmetatable({}, { __close = function() f() end })
end

-- Whether something (a socket file too, which io.open cannot open) is at
-- path.
function M.exists(path)
   local f, _, code = io.open(path, "r")
   if f then
      f:close()
      return true
   end
   return code ~= 2 -- ENOENT
end

-- The path of python3 on PATH, or nil: specs whose peer is a Python
-- script are pending without one (CI installs it).
function M.find_python()
   for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
      local f = io.open(dir .. "/python3")
      if f then
         f:close()
         return dir .. "/python3"
      end
   end
end

-- f(...)'s error, or nil if it succeeds.
function M.error_of(f, ...)
   local ok, err = pcall(f, ...)
   if ok then
      return nil
   end
   return err
end

-- f(...)'s error; the test fails if it succeeds.
function M.failure(f, ...)
   local ok, err = pcall(f, ...)
   assert.is_false(ok, "expected an error")
   return err
end

-- f(...)'s error, which must be an instance of the error class cls.
function M.raises(cls, f, ...)
   local err = M.failure(f, ...)
   assert.is_true(cls:is(err), "expected " .. tostring(cls) .. ", got " .. tostring(err))
   return err
end

-- Lets the running loop go round n times (default 1): n sleep(0)s.
function M.spin(n)
   for _ = 1, n or 1 do
      asyncio.await(asyncio.sleep(0))
   end
end

-- Awaits t, which must end with CancelledError, and returns that error.
function M.cancelled(t)
   local err = M.failure(asyncio.await, t)
   assert.is_true(asyncio.CancelledError:is(err), tostring(err))
   return err
end

-- Runs f(fds) with the descriptor limit lowered to max(floor, open + spare)
-- and every free descriptor taken by pipes (fds lists them; f may close
-- some, taking them out of the list), then closes the rest and restores
-- the limit. Returns what pcall(f, fds) returns.
function M.with_fds_exhausted(floor, spare, f)
   local core = require("asyncio.core")
   local soft = core.nofile()
   local fds = {}
   -- descriptors of earlier specs' objects that only the collector closes
   -- are closed now, not while f counts on the number of free ones
   M.full_gc()
   collectgarbage("stop")
   local results = table.pack(pcall(function()
      core.nofile(math.max(floor, core.open_fds() + spare))
      while true do
         local r, w = core.pipe()
         if r == nil then
            break
         end
         fds[#fds + 1] = r
         fds[#fds + 1] = w
      end
      return f(fds)
   end))
   collectgarbage("restart")
   for _, fd in ipairs(fds) do
      core.fdclose(fd)
   end
   core.nofile(soft)
   return table.unpack(results, 1, results.n)
end

-- Runs exactly one iteration of loop, which polls for I/O (the first
-- iteration of a run_forever always does): for specs that count
-- iterations as Python's do.
function M.step(loop)
   loop:call_soon(function() loop:stop() end)
   loop:run_forever()
end

-- Starts a task of the running loop that counts loop iterations: returns a
-- function giving the count so far, and the task (to cancel).
function M.ticker()
   local n = 0
   local task = asyncio.create_task(asyncio.async(function()
      while true do
         n = n + 1
         asyncio.await(asyncio.sleep(0))
      end
   end)())
   return function() return n end, task
end

-- The number of keys of a set, such as those wait and all_tasks return.
function M.size(set)
   local n = 0
   for _ in pairs(set) do
      n = n + 1
   end
   return n
end

-- The interpreter the specs start processes with ($LUA, or lua5.4).
M.LUA = os.getenv("LUA") or "lua5.4"

-- The shell assignments that make a process started from the repository
-- root find our modules, and the core at cpath (a package.cpath template,
-- default the regular build), whichever of the variables it reads.
function M.paths(cpath)
   cpath = cpath or "build/?.so"
   return ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s;;'"
      .. " LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;' LUA_CPATH_5_4='%s;;'"):format(cpath, cpath)
end

-- The whole content of the file at path.
function M.read_file(path)
   local f = assert(io.open(path, "rb"))
   local text = f:read("a")
   f:close()
   return text
end

-- Runs a chunk of Lua in a fresh lua5.4 on the regular build, from the
-- repository root, with env (shell assignments, optional) before it, and
-- returns what it printed (stdout and stderr) and its exit status: for what
-- depends on a fresh process (its collector, its signals), or may crash.
function M.run_fresh(code, env)
   local path = os.tmpname()
   local f = assert(io.open(path, "w"))
   f:write(code)
   f:close()
   local p = assert(io.popen(("%s %s timeout 60 %s %s 2>&1"):format(env or "", M.paths(), M.LUA, path)))
   local out = p:read("a")
   local _, _, status = p:close()
   os.remove(path)
   return out, status
end

-- Full collections until nothing more is freed.
function M.full_gc()
   for _ = 1, 4 do
      collectgarbage("collect")
   end
end

package.loaded["spec.helper"] = M
-- A peer in another process (bash's /dev/tcp) that connects to host:port
-- and sends what; accept() returns the server's side of that connection
-- ({reader=, writer=}). The peer is killed with bytes we wrote it unread,
-- so its kernel answers with a reset, whatever the timing: returns the
-- server's side once the reset is there.
function M.reset_peer(host, port, what, accept)
   local peer = asyncio.await(asyncio.create_subprocess_exec("bash", { "-c",
      'exec 3<>"/dev/tcp/$1/$2"; printf %s "$3" >&3; echo sent; exec sleep 30', "bash", host, port, what or "" },
      { stdout = asyncio.PIPE }))
   assert.equal("sent\n", asyncio.await(peer.stdout:readline()))
   local conn = accept()
   conn.writer:write("unread")
   asyncio.await(conn.writer:drain())
   peer:kill()
   asyncio.await(peer:wait())
   asyncio.await(asyncio.sleep(0.02))
   return conn
end

-- A port of 127.0.0.1 nobody listens on (a server's, closed): a connect
-- to it is refused. Inside a task. -> host, port
function M.refused_port()
   local server = asyncio.await(asyncio.start_server(function() end, "127.0.0.1", 0))
   local host, port = server:getsockname()
   server:close()
   asyncio.await(server:wait_closed())
   return host, port
end

return M
