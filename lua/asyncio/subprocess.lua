-- Child processes (API.md §9): create_subprocess_exec, create_subprocess_shell
-- and the Process they give, after Python's asyncio.subprocess.
--
-- Spawning, reaping and signals are C (src/process.c); the pipes are
-- ordinary Streams with their reader and writer halves. The exit of a
-- child is learnt by watching its pidfd with loop:add_reader (on a kernel
-- without pidfd_open, by polling waitpid with a timer); the watcher keeps
-- the Process alive until the child is reaped, so none is left a zombie
-- while its loop runs.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local events = require("asyncio.events")
local gather = require("asyncio.gather").gather
local awaitable = require("asyncio.awaitable")
local stream_halves = require("asyncio.stream_halves")

local setmetatable, getmetatable, type, pcall, error = setmetatable, getmetatable, type, pcall, error
local tostring, pairs = tostring, pairs
local async, await = coroutines.async, coroutines.await
local argerror = awaitable.argerror
local typename = coroutines.typename
local BrokenPipeError, ConnectionResetError = errors.BrokenPipeError, errors.ConnectionResetError

local M = {}

-- Python's values for the special arguments of stdin, stdout and stderr.
M.PIPE, M.STDOUT, M.DEVNULL = -1, -2, -3

-- The IO_* modes of src/process.c.
local INHERIT, PIPE_MODE, DEVNULL_MODE, STDOUT_MODE, FD_MODE = 0, 1, 2, 3, 4
local MODES = { [M.PIPE] = PIPE_MODE, [M.DEVNULL] = DEVNULL_MODE, [M.STDOUT] = STDOUT_MODE }

-- How often a child's exit is polled where there is no pidfd.
local POLL_INTERVAL = 0.02

-- Set to true, children started afterwards are watched by polling, as on a
-- kernel without pidfd_open (for the specs; not exported by asyncio).
M._poll_exit = false

-- A Process keeps what it acts on in fields of its own: pid is a plain
-- field as in Python, which a script may change, but signals and reaping
-- go to _pid; returncode is read-only, as Python's property.
local Process = { __name = "Process" }
function Process.__index(self, key)
   if key == "returncode" then
      return rawget(self, "_returncode")
   end
   return Process[key]
end
function Process.__newindex(self, key, value)
   if key == "returncode" then
      error("attempt to set the read-only field 'returncode' of a Process", 2)
   end
   rawset(self, key, value)
end

-- ---------- options ----------

-- A descriptor (a non-negative integer) or a Lua file, as Python takes
-- them for stdin, stdout and stderr.
local function is_fd(v)
   return (math.type(v) == "integer" and v >= 0) or io.type(v) == "file"
end

-- The checker of stdin and stdout, or of stderr (which may be STDOUT).
local function stdio_checker(what)
   return function(v)
      if v ~= nil and MODES[v] == nil and not is_fd(v) then
         return ("must be %s, asyncio.DEVNULL, a descriptor, an open file or nil, got %s"):format(
            what, tostring(v))
      end
   end
end

local OPTIONS = {
   stdin = stdio_checker("asyncio.PIPE"),
   stdout = stdio_checker("asyncio.PIPE"),
   stderr = stdio_checker("asyncio.PIPE, asyncio.STDOUT"),
   cwd = function(v)
      if v ~= nil and type(v) ~= "string" then
         return "must be a string, got " .. typename(v)
      elseif v ~= nil and v:find("\0", 1, true) then
         return "has an embedded zero"
      end
   end,
   env = function(v)
      if v == nil then
         return nil
      elseif type(v) ~= "table" then
         return "must be a table of strings, got " .. typename(v)
      end
      for k, value in pairs(v) do
         if type(k) ~= "string" or (type(value) ~= "string" and type(value) ~= "number") then
            return "must map names to strings"
         elseif k:find("\0", 1, true) or (type(value) == "string" and value:find("\0", 1, true)) then
            return ("entry %q has an embedded zero"):format(k) -- C strings would cut it short
         elseif k == "" or k:find("=", 1, true) then
            return ("has a bad name %q"):format(k)
         end
      end
   end,
   limit = function(v)
      if v ~= nil and (math.type(v) ~= "integer" or v <= 0) then
         return "must be a positive integer, got " .. tostring(v)
      end
   end,
   start_new_session = function(v)
      if v ~= nil and type(v) ~= "boolean" then
         return "must be a boolean, got " .. typename(v)
      end
   end,
}

-- A copy of a table's own entries (raw: what was checked is what is used).
local function raw_copy(t)
   local copy = {}
   for k, v in next, t do
      copy[k] = v
   end
   return copy
end

-- The checked options, copied: the process starts when the coroutine
-- object is awaited, and the caller's table (its env too) may have changed
-- by then, past the checks made here.
local function check_opts(opts, argn, fname)
   awaitable.check_options(opts, OPTIONS, argn, fname, 3)
   opts = raw_copy(opts or {})
   if type(opts.env) == "table" then
      opts.env = raw_copy(opts.env)
   end
   if opts.stdin == M.STDOUT or opts.stdout == M.STDOUT then
      argerror(argn, fname, "asyncio.STDOUT is only for stderr", 3)
   end
   return opts
end

-- ---------- exit ----------

-- Wakes every wait() with the child's returncode.
local function wake_waiters(self, returncode)
   local waiters = self._waiters
   self._waiters = {}
   for i = 1, #waiters do
      if not waiters[i]:done() then
         waiters[i]:set_result(returncode)
      end
   end
end

-- Python 3.13 wakes a waiting wait() only once the child's pipes closed
-- too (_try_finish), so their output and its end are in the readers by
-- then. Here the output pipes, read all the time, take in what the child
-- left in them before wait() wakes, and a pipe whose end a task is
-- waiting for is waited for until that reader is handed it (wait() then
-- resumes after that task, as Python's after its pipe_connection_lost).
local function end_pending(self)
   for name, stream in pairs(self._pipes) do
      if name ~= "stdin" and stream:end_pending() then
         return true
      end
   end
   return false
end

local wake_when_ended

-- An output pipe whose other end another process (a grandchild) keeps
-- open is waited for too, as Python's transport stays connected until it
-- closes: its end, once read, calls the pipe's notify_closed function,
-- which looks again. Not stdin: Python closes it itself once the child
-- exited and the output pipes ended (_maybe_close_transport). Nor a pipe
-- held by its full buffer, now or later (that calls the function too),
-- which Python's would wait for forever. Whether any is waited for.
local function other_ends_open(self, returncode)
   local open = false
   for name, stream in pairs(self._pipes) do
      if name ~= "stdin" and stream:other_end_open() then
         open = true
         if not self._ends_watched[stream] then
            self._ends_watched[stream] = true
            stream:notify_closed(function()
               return wake_when_ended(self, returncode)
            end)
         end
      end
   end
   return open
end

function wake_when_ended(self, returncode)
   if not self._loop:is_closed() then
      if end_pending(self) then
         return self._loop:call_soon(wake_when_ended, self, returncode)
      elseif other_ends_open(self, returncode) then
         return
      end
   end
   return wake_waiters(self, returncode)
end

local function wake_when_drained(self, returncode)
   if not self._loop:is_closed() then
      for name, stream in pairs(self._pipes) do
         if name ~= "stdin" then
            stream:take_ahead()
         end
      end
   end
   return wake_when_ended(self, returncode)
end

-- The child was reaped: its pid may be another's from now on (_reaped).
-- As in Python, the exit reaches the Process one iteration later (its
-- child watcher calls the transport's _process_exited through
-- call_soon_threadsafe): returncode is set then; and wait() wakes one
-- more iteration later (from connection_lost, through call_soon).
local function exited(self, returncode)
   self._reaped = returncode
   local loop = self._loop
   if loop:is_closed() then -- nothing would run the hops
      self._returncode = returncode
      return wake_waiters(self, returncode)
   end
   loop:call_soon(function()
      self._returncode = returncode
      if loop:is_closed() then
         return wake_waiters(self, returncode)
      end
      loop:call_soon(wake_when_drained, self, returncode)
   end)
end

-- Stops watching the pidfd and closes it, once.
local function close_pidfd(self)
   local pidfd = self._pidfd
   if pidfd ~= nil then
      self._pidfd = nil
      if not self._loop:is_closed() then
         self._loop:remove_reader(pidfd)
      end
      core.fdclose(pidfd)
   end
end

local function watch_exit(self, loop, pidfd)
   if pidfd ~= nil and M._poll_exit then
      core.fdclose(pidfd)
      pidfd = nil
   end
   if pidfd ~= nil then
      self._pidfd = pidfd
      loop:add_reader(pidfd, function()
         -- a second wakeup queued in the same iteration, or a __gc called
         -- by hand, finds the pidfd closed: its number may be another's now
         if self._pidfd ~= pidfd then
            return
         end
         local returncode = core.reap(self._pid)
         if returncode ~= nil then
            close_pidfd(self)
            exited(self, returncode)
         end
      end)
   else
      local function poll()
         local returncode = core.reap(self._pid)
         if returncode == nil then
            loop:call_later(POLL_INTERVAL, poll)
         else
            exited(self, returncode)
         end
      end
      loop:call_later(POLL_INTERVAL, poll)
   end
end

-- A Process collected with its child unreaped (the loop that watched it
-- was closed): as Python's transport does when it is closed, a child still
-- running is killed; then it is reaped, so nothing is left behind.
function Process:__gc()
   if self._reaped ~= nil or self.returncode ~= nil then
      return
   end
   close_pidfd(self)
   local ok, returncode = pcall(core.reap, self._pid)
   if ok and returncode == nil then
      pcall(core.kill, self._pid, "SIGKILL")
      pcall(core.reap, self._pid, true)
   end
end

-- ---------- spawning ----------

local sleep0 = coroutines.sleep(0)

-- Python's transport connects its pipes in a task of its own
-- (_connect_pipes, which takes a Task-N name as any task does), two
-- iterations per pipe; this one takes as many.
local connecting = coroutines.async(function(npipes)
   for _ = 1, 2 * npipes do
      await(sleep0)
   end
end)

-- What Python's transport takes to connect its pipes after the spawn: the
-- Process comes back two loop iterations later, and two more per pipe, so
-- other tasks run meanwhile as they would in Python. A cancellation then
-- kills the child and waits for it before it goes on, as Python's
-- transp.close(); await transp._wait() does.
local function connect_pipes(self, npipes)
   local task = self._loop:create_task(connecting(npipes))
   local ok, err = pcall(await, task)
   if not ok then
      if self._reaped == nil then
         pcall(core.kill, self._pid, "SIGKILL")
      end
      for _, stream in pairs(self._pipes) do
         stream:close()
      end
      pcall(await, self:wait())
      error(err, 0)
   end
end

local function spawn(file, argv, opts)
   local loop = events.get_running_loop()
   local env
   if opts.env ~= nil then
      env = {}
      for k, v in pairs(opts.env) do
         env[#env + 1] = k .. "=" .. v
      end
      table.sort(env)
   end
   local modes, fds = {}, {}
   for i, name in ipairs({ "stdin", "stdout", "stderr" }) do
      local v = opts[name]
      if v ~= nil and MODES[v] == nil then -- a descriptor or a file
         modes[i], fds[i] = FD_MODE, io.type(v) == "file" and core.file_fd(v) or v
      else
         modes[i], fds[i] = MODES[v] or INHERIT, -1
      end
   end
   local pid, pidfd, infd, outfd, errfd = core.spawn(file, argv, env, opts.cwd,
      modes[1], modes[2], modes[3], fds[1], fds[2], fds[3], opts.start_new_session)
   local self = setmetatable({ pid = pid, _pid = pid, _loop = loop, _waiters = {}, _pipes = {},
                              _ends_watched = {} }, Process)
   local limit = opts.limit or stream_halves.DEFAULT_LIMIT
   local function pipe(name, fd)
      if fd ~= nil then
         local stream = core.pipe_stream(loop, fd, name == "stdin")
         local reader, writer = stream_halves.halves(stream, limit)
         if name ~= "stdin" then
            stream:read_ahead() -- as Python's pipe transport reads
         end
         self._pipes[name] = stream
         self[name] = name == "stdin" and writer or reader
      end
   end
   pipe("stdin", infd)
   pipe("stdout", outfd)
   pipe("stderr", errfd)
   watch_exit(self, loop, pidfd)
   connect_pipes(self, (infd and 1 or 0) + (outfd and 1 or 0) + (errfd and 1 or 0))
   return self
end

local spawn_co = async(spawn)

-- The argument list: strings (numbers are converted).
local function check_args(args, fname)
   if args == nil then
      return {}
   elseif type(args) ~= "table" or getmetatable(args) ~= nil then
      argerror(2, fname, "list of strings or nil expected, got " .. typename(args), 3)
   end
   local list = {}
   for i = 1, #args do
      local a = args[i]
      if type(a) == "number" then
         a = tostring(a)
      elseif type(a) ~= "string" then
         argerror(2, fname, ("item %d is a %s, not a string"):format(i, typename(a)), 3)
      elseif a:find("\0", 1, true) then -- C strings would cut it short
         argerror(2, fname, ("item %d has an embedded zero"):format(i), 3)
      end
      list[i] = a
   end
   return list
end

-- asyncio.create_subprocess_exec(program, args [, opts]) -> awaitable Process
function M.create_subprocess_exec(program, args, opts)
   if type(program) ~= "string" then
      argerror(1, "create_subprocess_exec", "string expected, got " .. typename(program), 2)
   elseif program:find("\0", 1, true) then
      argerror(1, "create_subprocess_exec", "embedded zero in the program name", 2)
   end
   local argv = check_args(args, "create_subprocess_exec")
   table.insert(argv, 1, program)
   return spawn_co(program, argv, check_opts(opts, 3, "create_subprocess_exec"))
end

-- asyncio.create_subprocess_shell(cmd [, opts]) -> awaitable Process: cmd
-- run by /bin/sh -c.
function M.create_subprocess_shell(cmd, opts)
   if type(cmd) ~= "string" then
      argerror(1, "create_subprocess_shell", "string expected, got " .. typename(cmd), 2)
   elseif cmd:find("\0", 1, true) then
      argerror(1, "create_subprocess_shell", "embedded zero in the command", 2)
   end
   return spawn_co("/bin/sh", { "/bin/sh", "-c", cmd }, check_opts(opts, 2, "create_subprocess_shell"))
end

-- ---------- the Process ----------

local function check_self(self, fname)
   if getmetatable(self) ~= Process then
      argerror(1, fname, "Process expected, got " .. typename(self), 3)
   end
end

-- Each wait() has a future of its own, so that cancelling one leaves the
-- others waiting (Python's _exit_waiters).
local wait_co = async(function(self)
   if self.returncode ~= nil then
      return self.returncode
   end
   local waiter = self._loop:create_future()
   local waiters = self._waiters
   waiters[#waiters + 1] = waiter
   local ok, res = pcall(await, waiter)
   if not ok then
      for i = #waiters, 1, -1 do
         if waiters[i] == waiter then
            table.remove(waiters, i)
         end
      end
      error(res, 0)
   end
   return res
end)

-- process:wait() -> awaitable returncode
function Process:wait()
   check_self(self, "wait")
   return wait_co(self)
end

-- Writes input and closes stdin; a child that does not read it all (the
-- pipe breaks) is not an error, as in Python.
local feed_stdin = async(function(self, input)
   local stdin = self.stdin
   if stdin:is_closing() then -- closed by a first communicate, or lost to a write
      -- Python's _feed_stdin drains all the same: an iteration on a closing
      -- pipe (its sleep(0)), and an error there is ignored
      pcall(await, stdin:drain())
      stdin:close() -- error: Python's write ignores it, and close frees the pipe
      return
   end
   local ok, err = pcall(function()
      if input ~= nil then
         stdin:write(input)
      end
      await(stdin:drain())
   end)
   if not ok and not BrokenPipeError:is(err) and not ConnectionResetError:is(err) then
      error(err, 0)
   end
   stdin:close()
end)

-- Reads a pipe to its end, then closes it.
local read_all = async(function(self, name)
   local data = await(self[name]:read()) or ""
   self._pipes[name]:close()
   return data
end)

-- What communicate gathers for a stream that is not a pipe: as Python's
-- _noop, a task all the same, so communicate takes as many iterations.
local noop = async(function() end)

local communicate_co = async(function(self, input)
   local results = await(gather(
      self.stdin ~= nil and feed_stdin(self, input) or noop(),
      self.stdout ~= nil and read_all(self, "stdout") or noop(),
      self.stderr ~= nil and read_all(self, "stderr") or noop()))
   local out, err = results[2], results[3]
   await(wait_co(self))
   return out, err
end)

-- process:communicate([input]) -> awaitable stdout, stderr: sends input
-- (nil: none) and closes stdin, reads stdout and stderr to their end (each
-- nil unless it is a PIPE), and waits for the child to exit.
function Process:communicate(input)
   check_self(self, "communicate")
   if input ~= nil and type(input) ~= "string" then
      argerror(1, "communicate", "string or nil expected, got " .. typename(input), 2)
   end
   if input ~= nil and self.stdin == nil then
      error("bad argument #1 to 'communicate' (input given but stdin is not asyncio.PIPE)", 2)
   end
   return communicate_co(self, input)
end

-- Whether Python's transport would be finished: the child reaped, and
-- every pipe closed (the output read to its end, stdin closed or lost).
local function transport_finished(self)
   if self._reaped == nil then
      return false
   end
   for _, name in ipairs({ "stdout", "stderr" }) do
      local reader = self._pipes[name] and self[name]
      if reader and not reader:at_eof() then
         return false
      end
   end
   return self._pipes.stdin == nil or self.stdin:is_closing()
end

-- process:send_signal(sig): sig is a number or a name ("SIGTERM", "TERM");
-- 0 sends nothing but checks the process exists, as kill(pid, 0).
-- Once the child has been reaped (returncode is set) its pid may be
-- another process's: nothing is sent. Python's transport raises
-- ProcessLookupError only once it is finished (its pipes closed too), and
-- ignores the call before: so does this, so that a finally: p:kill()
-- after a child that exited on its own does not fail.
function Process:send_signal(sig)
   check_self(self, "send_signal")
   local signum, why = core.signal_to_send(sig)
   if signum == nil then
      error(("bad argument #1 to 'send_signal' (%s)"):format(why), 2)
   end
   if self._reaped ~= nil then
      if transport_finished(self) then
         error(errors.OSError.from_errno(core.ESRCH, "ESRCH", "No such process"), 2)
      end
      return
   end
   core.kill(self._pid, signum)
end

function Process:terminate()
   check_self(self, "terminate")
   self:send_signal("SIGTERM")
end

function Process:kill()
   check_self(self, "kill")
   self:send_signal("SIGKILL")
end

function Process:__tostring()
   return ("<Process %d>"):format(self._pid)
end

-- asyncio.subprocess.PIPE and friends, as Python programs spell them.
M.subprocess = { PIPE = M.PIPE, STDOUT = M.STDOUT, DEVNULL = M.DEVNULL, Process = Process }

-- The methods Python writes `async def`, for iscoroutinefunction.
coroutines.mark_async(Process.wait)
coroutines.mark_async(Process.communicate)

return M
