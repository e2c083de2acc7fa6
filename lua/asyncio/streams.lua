-- Network I/O (API.md §9 but subprocesses): TCP and Unix streams,
-- servers, UDP endpoints and name resolution. Sockets, buffers and the
-- awaitables that wait on them are C (src/socket.c, src/stream.c,
-- src/datagram.c, src/resolver.c); this module resolves names, tries
-- addresses in turn and keeps the Server object.

local core = require("asyncio.core")
local coroutines = require("asyncio.coroutines")
local errors = require("asyncio.errors")
local events = require("asyncio.events")
local stream_halves = require("asyncio.stream_halves")

local M = {}
local async, await = coroutines.async, coroutines.await
local iscoroutinefunction, iscoroutine = coroutines.iscoroutinefunction, coroutines.iscoroutine
local CancelledError, OSError = errors.CancelledError, errors.OSError
local StreamReader = core.StreamReader

local DEFAULT_LIMIT = stream_halves.DEFAULT_LIMIT

-- ---------- options ----------

-- The checks below are called by the public functions: their errors name
-- the line that called those (level 4 from here).
local function badarg(n, fname, msg)
   error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), 4)
end

-- The options table of fname, argument n: {} for nil. known[name] is true
-- for an option taken, or a function that says what is wrong with its
-- value; a name it does not know is refused, as Python refuses an unknown
-- keyword (a silently ignored ssl=true would talk in the clear).
local function checkopts(fname, n, opts, known)
   if opts == nil then
      return {}
   end
   if type(opts) ~= "table" then
      badarg(n, fname, "table or nil expected, got " .. coroutines.typename(opts))
   end
   for k, v in pairs(opts) do
      local rule = known[k]
      if rule == nil then
         badarg(n, fname, ("unknown option '%s'"):format(tostring(k)))
      elseif rule ~= true then
         local why = rule(v)
         if why ~= nil then
            badarg(n, fname, ("option '%s': %s"):format(k, why))
         end
      end
   end
   return opts
end

-- An option taken only as Python's false or None (its default).
local function only_false(why)
   return function(v)
      if v then
         return why
      end
   end
end

local NO_TLS = only_false("TLS is not supported")
-- An option taken as a boolean or nil.
local function boolean_or_nil(v)
   if v ~= nil and type(v) ~= "boolean" then
      return "boolean expected, got " .. coroutines.typename(v)
   end
end
local GETADDRINFO_OPTS = { family = true, type = true, passive = true }
local CONNECTION_OPTS = { limit = true, nodelay = true, family = true, ssl = NO_TLS, sock = true }
local UNIX_CONNECTION_OPTS = { limit = true, ssl = NO_TLS, sock = true }
-- reuse_address: listening sockets always have SO_REUSEADDR, Python's
-- default on Unix
local SERVER_OPTS = { limit = true, backlog = true, reuse_port = true, nodelay = true, family = true,
                      reuse_address = true, ssl = NO_TLS, start_serving = boolean_or_nil, sock = true }
local UNIX_SERVER_OPTS = { limit = true, backlog = true, ssl = NO_TLS, start_serving = boolean_or_nil,
                           cleanup_socket = boolean_or_nil, sock = true }
local DATAGRAM_OPTS = { local_host = true, local_port = true, remote_host = true, remote_port = true,
                        family = true, reuse_port = true, bufsize = true,
                        -- refused when true, as by Python 3.13
                        reuse_address = only_false("not supported: SO_REUSEADDR is unsafe for UDP") }

-- A server's backlog as an integer, checked before anything is bound.
local function checkbacklog(fname, n, backlog)
   if backlog == nil then
      return 100
   end
   local b = math.tointeger(backlog)
   if b == nil or b < 0 then
      badarg(n, fname, "backlog must be a non-negative integer, got " .. tostring(backlog))
   elseif b > 0x7fffffff then
      badarg(n, fname, "backlog out of range (at most 2147483647)")
   end
   return b
end

-- The limit as an integer (1048576.0 will do, as 2^20 is a float).
local function checklimit(fname, n, limit)
   if limit == nil then
      return DEFAULT_LIMIT
   end
   limit = math.tointeger(limit)
   if limit == nil or limit <= 0 then
      badarg(n, fname, "limit must be a positive integer")
   end
   return limit
end

-- A service name, nil, or the port as an integer in 0..65535 (8080.0 will
-- do, as the result of arithmetic).
local function checkport(fname, n, port)
   if type(port) == "number" then
      local p = math.tointeger(port)
      if p == nil then
         badarg(n, fname, "port must be an integer, got " .. (port ~= port and "nan" or tostring(port)))
      elseif p < 0 or p > 65535 then
         badarg(n, fname, "port out of range")
      end
      return p
   elseif port ~= nil and type(port) ~= "string" then
      badarg(n, fname, "port number or service name expected, got " .. coroutines.typename(port))
   elseif port ~= nil and port:find("\0", 1, true) then -- the resolver would cut it there
      badarg(n, fname, "embedded zero in the service name")
   end
   return port
end

local function checkpath(fname, n, path)
   if type(path) ~= "string" then
      badarg(n, fname, "string expected, got " .. coroutines.typename(path))
   elseif path == "" then
      badarg(n, fname, "empty socket path")
   elseif path:byte(1) == 0 then -- an abstract name: any bytes, sun_path filled at most
      if #path > core.unix_path_max + 1 then
         badarg(n, fname, ("abstract socket name too long (%d bytes, at most %d)"):format(#path,
            core.unix_path_max + 1))
      end
   elseif path:find("\0", 1, true) then -- the system would cut it there
      badarg(n, fname, "embedded zero in the socket path")
   elseif #path > core.unix_path_max then
      badarg(n, fname, ("socket path too long (%d bytes, at most %d)"):format(#path, core.unix_path_max))
   end
end

local function checkhost(fname, n, host)
   if host ~= nil and type(host) ~= "string" then
      badarg(n, fname, "string or nil expected, got " .. coroutines.typename(host))
   elseif host ~= nil and host:find("\0", 1, true) then
      -- the resolver would cut it there: "127.0.0.1\0.example.org" is
      -- not the host a program checked (Python: ValueError)
      badarg(n, fname, "embedded zero in the host name")
   end
end

local family_of = { inet = "inet", inet6 = "inet6", [4] = "inet", [6] = "inet6" }

local function checkfamily(fname, n, family)
   if family == nil then
      return "any"
   end
   local f = family_of[family]
   if f == nil then
      error(("bad argument #%d to '%s' (family must be \"inet\" or \"inet6\")"):format(n, fname), 3)
   end
   return f
end

-- The sock option, Python's sock=: the descriptor of a stream socket made
-- elsewhere, given instead of an address (`what` names it; its parts a and
-- b must be nil); unix_only for the Unix functions. Checked at the call,
-- as the other arguments are.
local function checksock(fname, n, sock, what, unix_only, a, b)
   local fd = math.tointeger(sock)
   if fd == nil or fd < 0 or fd > 0x7fffffff then
      badarg(n, fname, "option 'sock': file descriptor expected, got " ..
         (type(sock) == "number" and tostring(sock) or coroutines.typename(sock)))
   elseif a ~= nil or b ~= nil then
      badarg(n, fname, what .. " and option 'sock' cannot be given together")
   end
   local family, why = core.sock_family(fd)
   if family == nil then
      badarg(n, fname, "option 'sock': " .. why)
   elseif unix_only and family ~= "unix" then
      badarg(n, fname, "option 'sock': a Unix stream socket expected, got an " .. family .. " socket")
   end
   return fd
end

-- ---------- name resolution ----------

-- asyncio.getaddrinfo(host, port [, {family=, type=, passive=}]) ->
-- awaitable list of {family=, type=, protocol=, addr=, port=}. Numeric
-- hosts are answered at once; names by a pool of threads.
local function getaddrinfo(host, port, opts)
   local loop = events.get_running_loop()
   return await(core.getaddrinfo(loop, host, port, opts.family or "any", opts.type or "any", opts.passive))
end

local getaddrinfo_co = async(getaddrinfo)

function M.getaddrinfo(host, port, opts)
   checkhost("getaddrinfo", 1, host)
   port = checkport("getaddrinfo", 2, port)
   opts = checkopts("getaddrinfo", 3, opts, GETADDRINFO_OPTS)
   opts = {
      family = checkfamily("getaddrinfo", 3, opts.family),
      type = opts.type,
      passive = opts.passive,
   }
   if opts.type ~= nil and opts.type ~= "stream" and opts.type ~= "dgram" then
      error("bad argument #3 to 'getaddrinfo' (type must be \"stream\" or \"dgram\")", 2)
   end
   return getaddrinfo_co(host, port, opts)
end

-- One error for several failed addresses: the error itself when there is
-- one (or they all say the same), else an OSError listing them, as Python.
local function combine(errs, what)
   if #errs == 1 then
      return errs[1]
   end
   local first, same = tostring(errs[1]), true
   local msgs = {}
   for i, e in ipairs(errs) do
      msgs[i] = tostring(e)
      if msgs[i] ~= first then
         same = false
      end
   end
   if same then
      return errs[1]
   end
   return OSError("Multiple exceptions: " .. table.concat(msgs, ", "), { errors = errs, what = what })
end

-- ---------- connections ----------

local halves = stream_halves.halves
local sleep0 = coroutines.sleep(0)

-- Connects a stream to one address: the stream, or nil and the error.
-- Cancellation closes the socket and propagates.
local function connect_one(loop, family, addr, port, nodelay, what)
   local stream, err = core.connect(loop, family, addr, port, nodelay)
   if stream == nil then
      return nil, err
   end
   local ok, e = pcall(await, stream:connected(what))
   -- the iterations Python takes after that: a TCP connect seen done by a
   -- poll resumes its task one iteration later (_sock_connect_cb sets a
   -- future), then the transport's connection_made and waiter pass through
   -- call_soon, two more; a Unix connect done at once takes those two. So
   -- a server of this process that accepted the connection in the same
   -- poll starts its handler in the same iteration, first, as there.
   for _ = 1, family == "unix" and 2 or 3 do
      if not ok then
         break
      end
      ok, e = pcall(await, sleep0)
   end
   if ok then
      return stream
   end
   stream:close()
   if CancelledError:is(e) or not OSError:is(e) then
      error(e, 0)
   end
   return nil, e
end

local function open_connection(host, port, family, limit, nodelay)
   local loop = events.get_running_loop()
   local infos = getaddrinfo(host, port, { family = family, type = "stream" })
   local errs = {}
   for _, ai in ipairs(infos) do
      local what = ai.family == "inet6" and ("connect to [%s]:%d"):format(ai.addr, ai.port)
         or ("connect to %s:%d"):format(ai.addr, ai.port)
      local stream, err = connect_one(loop, ai.family, ai.addr, ai.port, nodelay, what)
      if stream ~= nil then
         return halves(stream, limit)
      end
      errs[#errs + 1] = err
   end
   if #errs == 0 then
      error(OSError(("getaddrinfo %s returned no address"):format(tostring(host)), { code = "EAI_NONAME" }), 0)
   end
   error(combine(errs, "connect"), 0)
end

local open_connection_co = async(open_connection)

-- A connection over a connected socket made elsewhere (option sock),
-- ready two iterations later, as Python's transport tells its protocol
-- and the waiter through call_soon.
local open_sock_co = async(function(fd, limit, nodelay)
   local loop = events.get_running_loop()
   local stream, err = core.adopt_stream(loop, fd, nodelay)
   if stream == nil then
      error(err, 0)
   end
   for _ = 1, 2 do
      local ok, e = pcall(await, sleep0)
      if not ok then
         stream:close()
         error(e, 0)
      end
   end
   return halves(stream, limit)
end)

-- asyncio.open_connection(host, port [, {limit=, nodelay=, family=}]) ->
-- awaitable reader, writer
function M.open_connection(host, port, opts)
   checkhost("open_connection", 1, host)
   port = checkport("open_connection", 2, port)
   opts = checkopts("open_connection", 3, opts, CONNECTION_OPTS)
   local limit = checklimit("open_connection", 3, opts.limit)
   local family = checkfamily("open_connection", 3, opts.family)
   if opts.sock ~= nil then
      local fd = checksock("open_connection", 3, opts.sock, "host/port", false, host, port)
      return open_sock_co(fd, limit, opts.nodelay ~= false)
   end
   return open_connection_co(host, port, family, limit, opts.nodelay ~= false)
end

local open_unix_connection_co = async(function(path, limit)
   local loop = events.get_running_loop()
   local stream, err = connect_one(loop, "unix", path, nil, false, "connect to " .. path)
   if stream == nil then
      error(err, 0)
   end
   return halves(stream, limit)
end)

-- asyncio.open_unix_connection(path [, {limit=}]) -> awaitable reader, writer
function M.open_unix_connection(path, opts)
   if type(opts) ~= "table" or opts.sock == nil then -- arguments are checked in order
      checkpath("open_unix_connection", 1, path)
   end
   opts = checkopts("open_unix_connection", 2, opts, UNIX_CONNECTION_OPTS)
   local limit = checklimit("open_unix_connection", 2, opts.limit)
   if opts.sock ~= nil then
      local fd = checksock("open_unix_connection", 2, opts.sock, "path", true, path)
      return open_sock_co(fd, limit, false)
   end
   return open_unix_connection_co(path, limit)
end

-- reader:lines() -> iterator over the lines, without their "\n"
function StreamReader.lines(...)
   local reader = ...
   if coroutines.typename(reader) ~= "asyncio.StreamReader" then -- as the C methods say it
      local got = select("#", ...) == 0 and "no value" or coroutines.typename(reader)
      error(("bad argument #1 to 'lines' (asyncio.StreamReader expected, got %s)"):format(got), 2)
   end
   return function()
      local line = await(reader:readline())
      if line ~= nil and line:byte(-1) == 10 then
         return line:sub(1, -2)
      end
      return line
   end
end

-- ---------- servers ----------

local Server = { __name = "asyncio.Server" }
Server.__index = Server

local function wake_all(list)
   for _, fut in ipairs(list) do
      if not fut:done() then
         fut:set_result()
      end
   end
end

-- A connection keeps wait_closed waiting while its handler runs and its
-- writer is open (self._active counts them). Python counts open
-- transports, so a handler that closed its own writer may then wait for
-- the server (a "shutdown" command).
local function serving(self)
   return self._active > 0
end

-- Wakes wait_closed once the server is closed and its connections done.
local function check_closed(self)
   if self._closed and not serving(self) then
      local waiters = self._closed_waiters
      self._closed_waiters = {}
      wake_all(waiters)
   end
end

-- The connection of writer is done: its handler finished or its writer
-- closed, whichever came first.
local function connection_done(self, writer)
   if self._counted[writer] then
      self._counted[writer] = nil
      self._active = self._active - 1
      check_closed(self)
   end
end

-- The function the listeners queue with each new connection: runs the
-- client callback in a task of its own, as Python's StreamReaderProtocol,
-- two iterations later, as Python's: its accept starts a task
-- (_accept_connection2), whose transport attaches itself to the server in
-- the next iteration (counted from then on, close_clients() reaches it)
-- and calls connection_made through call_soon, which makes the handler's
-- task, in the iteration after.
local function connection_handler(self, cb, limit)
   local loop = self._loop
   local is_async = iscoroutinefunction(cb)
   local function body(reader, writer)
      local r = cb(reader, writer)
      if iscoroutine(r) then
         return await(r)
      end
      return r
   end
   local function done(task)
      self._tasks[task] = nil
      local writer = self._writers[task]
      self._writers[task] = nil
      if task:cancelled() then
         writer:close()
      else
         local err = task:exception()
         if err ~= nil then
            loop:call_exception_handler({
               message = "Unhandled exception in client_connected_cb",
               error = err,
               exception = err, -- Python's key
               task = task,
               traceback = task:traceback(),
            })
            writer:close()
         end
      end
      connection_done(self, writer)
   end
   local function start(reader, writer)
      local task
      if is_async then
         task = loop:create_task(cb(reader, writer))
      else
         task = loop:create_task(function() return body(reader, writer) end)
      end
      self._tasks[task] = true
      self._writers[task] = writer
      task:add_done_callback(done)
   end
   local function attach(stream)
      local reader, writer = halves(stream, limit)
      self._clients[writer] = true
      self._counted[writer] = true
      self._active = self._active + 1
      -- counted until the writer closes or the handler ends, whichever
      -- comes first (the stream calls this when it closes)
      stream:notify_closed(function() connection_done(self, writer) end)
      loop:call_soon(start, reader, writer)
   end
   return function(stream)
      loop:call_soon(attach, stream)
   end
end

-- Binds every address (port 0: the port the first one got, for all).
local function listen_all(self, infos, opts, handler)
   local backlog = math.tointeger(opts.backlog) or 100 -- checked by the caller
   local seen, port0 = {}, nil
   local errs = {}
   for _, ai in ipairs(infos) do
      local port = ai.port
      if port == 0 and port0 ~= nil then
         port = port0
      end
      local key = ai.family .. " " .. tostring(ai.addr) .. " " .. tostring(port)
      if not seen[key] then
         seen[key] = true
         local l, err = core.listen(self._loop, ai.family, ai.addr, port, backlog, opts.reuse_port,
            opts.nodelay ~= false, handler, opts.cleanup_socket == false, opts.start_serving == false)
         if l == nil then
            errs[#errs + 1] = err
            break
         end
         self._listeners[#self._listeners + 1] = l
         if ai.port == 0 and port0 == nil then
            local _
            _, port0 = l:getsockname()
         end
      end
   end
   if #errs > 0 or #self._listeners == 0 then
      for _, l in ipairs(self._listeners) do
         l:close()
      end
      self._listeners = {}
      error(errs[1] or OSError("no address to listen on", { code = "EADDRNOTAVAIL" }), 0)
   end
end

-- The listener of a server given a bound socket (option sock): it owns the
-- socket from then on.
local function listen_sock(self, opts, handler, keep_path)
   local l, err = core.listen_fd(self._loop, opts.sock, math.tointeger(opts.backlog) or 100,
      opts.nodelay ~= false, handler, keep_path, opts.start_serving == false)
   if l == nil then
      error(err, 0)
   end
   self._listeners[1] = l
end

local function new_server(loop)
   return setmetatable({
      _loop = loop,
      _listeners = {},
      _tasks = {},
      _writers = {},
      -- every connection accepted, for close_clients (weak: a writer
      -- nobody holds is closed by the collector)
      _clients = setmetatable({}, { __mode = "k" }),
      _counted = {},
      _active = 0,
      _closed = false,
      _closed_waiters = {},
      _forever = nil,
   }, Server)
end

-- Python's _start_serving: the sockets listen and accept. A socket that
-- cannot listen closes the server.
local function start_listeners(self)
   for _, l in ipairs(self._listeners) do
      local ok, err = l:start()
      if not ok then
         self:close()
         error(err, 0)
      end
   end
end

-- Starts accepting, unless opts.start_serving is false (then the sockets
-- are bound but refuse connections until server:start_serving()), and
-- returns the server one iteration later, as Python's create_server skips
-- one after _start_serving; a task cancelled there closes it (nobody would
-- get the server to close).
local function start(self, opts)
   if opts.start_serving == false then
      return self
   end
   start_listeners(self)
   local ok, err = pcall(await, sleep0)
   if not ok then
      self:close()
      error(err, 0)
   end
   return self
end

local function checkcb(fname, cb)
   if not core.is_callable(cb) then
      badarg(1, fname, "function expected, got " .. coroutines.typename(cb))
   end
end

local start_server_co = async(function(cb, host, port, opts, limit)
   local loop = events.get_running_loop()
   if opts.sock ~= nil then -- nothing to resolve: Python's create_server takes it as it is
      local self = new_server(loop)
      listen_sock(self, opts, connection_handler(self, cb, limit), true)
      return start(self, opts)
   end
   if host == "" then -- as Python: every address
      host = nil
   end
   local hints = { family = checkfamily("start_server", 4, opts.family), type = "stream", passive = true }
   local infos
   if type(host) == "table" then -- every address of every host, once, in order
      infos = {}
      local seen = {}
      for _, h in ipairs(host) do
         for _, info in ipairs(getaddrinfo(h, port, hints)) do
            local key = info.family .. " " .. info.addr
            if not seen[key] then -- as Python's set of the addresses
               seen[key] = true
               infos[#infos + 1] = info
            end
         end
      end
   else
      infos = getaddrinfo(host, port, hints)
   end
   -- Python resolves each host in a task of a gather: the task starts,
   -- the gather's callback runs, and create_server wakes, an iteration each
   for _ = 1, 3 do
      await(sleep0)
   end
   local self = new_server(loop)
   listen_all(self, infos, opts, connection_handler(self, cb, limit))
   return start(self, opts)
end)

-- asyncio.start_server(cb, host, port [, {limit=, backlog=, reuse_port=,
-- nodelay=, family=}]) -> awaitable Server, accepting at once
function M.start_server(cb, host, port, opts)
   checkcb("start_server", cb)
   if type(host) == "table" then -- Python's sequence of hosts
      local list = {}
      for i = 1, #host do
         if type(host[i]) ~= "string" then
            badarg(2, "start_server", "list of host strings expected, got "
               .. coroutines.typename(host[i]) .. " at index " .. i)
         elseif host[i]:find("\0", 1, true) then
            badarg(2, "start_server", "embedded zero in the host name at index " .. i)
         end
         list[i] = host[i]
      end
      host = list
   else
      checkhost("start_server", 2, host)
   end
   port = checkport("start_server", 3, port)
   opts = checkopts("start_server", 4, opts, SERVER_OPTS)
   local limit = checklimit("start_server", 4, opts.limit)
   checkbacklog("start_server", 4, opts.backlog)
   if opts.sock ~= nil then
      checksock("start_server", 4, opts.sock, "host/port", false, host, port)
   end
   return start_server_co(cb, host, port, opts, limit)
end

local start_unix_server_co = async(function(cb, path, opts, limit)
   local loop = events.get_running_loop()
   local self = new_server(loop)
   if opts.sock ~= nil then -- its file is unlinked at the close, as Python 3.13's
      listen_sock(self, opts, connection_handler(self, cb, limit), opts.cleanup_socket == false)
   else
      listen_all(self, { { family = "unix", addr = path } }, opts, connection_handler(self, cb, limit))
   end
   return start(self, opts)
end)

-- asyncio.start_unix_server(cb, path [, {limit=, backlog=}]) -> awaitable Server
function M.start_unix_server(cb, path, opts)
   checkcb("start_unix_server", cb)
   if type(opts) ~= "table" or opts.sock == nil then
      checkpath("start_unix_server", 2, path)
   end
   opts = checkopts("start_unix_server", 3, opts, UNIX_SERVER_OPTS)
   if opts.sock ~= nil then
      checksock("start_unix_server", 3, opts.sock, "path", true, path)
   end
   checkbacklog("start_unix_server", 3, opts.backlog)
   return start_unix_server_co(cb, path, opts, checklimit("start_unix_server", 3, opts.limit))
end

-- server:close(): stops listening; connections already accepted go on.
function Server:close()
   if self._closed then
      return
   end
   self._closed = true
   for _, l in ipairs(self._listeners) do
      l:close()
   end
   local forever = self._forever
   self._forever = nil
   if forever ~= nil and not forever:done() then
      forever:cancel() -- as Python: serve_forever raises CancelledError
   end
   check_closed(self)
end

-- The end of a to-be-closed server's scope, Python's `async with server`:
-- close it, and inside a task of its loop, wait until it is closed.
function Server:__close()
   self:close()
   local task = core.current_task()
   if task ~= nil and task:get_loop() == self._loop and coroutine.isyieldable() then
      await(self:wait_closed())
   end
end

-- server:close_clients(), server:abort_clients() (Python 3.13): close every
-- connection the server accepted that is still open, its handler running
-- or not (one may keep its writer, for a broadcast); abort drops what is
-- not sent yet. Each handler then sees the end of its stream.
function Server:close_clients()
   for writer in pairs(self._clients) do
      writer:close()
   end
end

function Server:abort_clients()
   for writer in pairs(self._clients) do
      writer:_abort()
   end
end

function Server:is_serving()
   if self._closed then
      return false
   end
   for _, l in ipairs(self._listeners) do
      if l:is_serving() then
         return true
      end
   end
   return false
end

function Server:get_loop()
   return self._loop
end

-- server:sockets() -> list of {family=, host=, port=, fd=} (empty once closed)
function Server:sockets()
   local list = {}
   if self._closed then
      return list
   end
   for _, l in ipairs(self._listeners) do
      local host, port = l:getsockname()
      list[#list + 1] = { family = l:family(), host = host, port = port, fd = l:fileno() }
   end
   return list
end

-- server:getsockname() -> host, port of the first listening socket
function Server:getsockname()
   local l = self._listeners[1]
   if l == nil or self._closed then
      return nil
   end
   return l:getsockname()
end

-- server:start_serving() -> awaitable: a server made with start_serving =
-- false starts accepting (one already serving is left as it is), then
-- one iteration is skipped, as Python's (so that the listening sockets'
-- readers go through).
Server.start_serving = async(function(self)
   if self._closed then
      error(("server %s is closed"):format(tostring(self)), 2) -- as serve_forever
   end
   start_listeners(self)
   await(sleep0)
end)

-- server:serve_forever() -> awaitable: raises CancelledError once the
-- server is closed or the awaiting task cancelled, after closing the server
-- and waiting for its connections to finish (Python 3.13's order).
Server.serve_forever = async(function(self)
   if self._closed then
      error(("server %s is closed"):format(tostring(self)), 2) -- Python's words
   end
   if self._forever ~= nil then
      error("server is already being awaited on serve_forever()", 2)
   end
   start_listeners(self) -- as Python's: one made with start_serving = false starts
   local fut = self._loop:create_future()
   self._forever = fut
   local ok, err = pcall(await, fut)
   if not ok then
      self._forever = nil
      self:close()
      if errors.CancelledError:is(err) then
         pcall(await, self:wait_closed())
      end
      error(err, 0)
   end
end)

-- server:wait_closed() -> awaitable: returns once the server is closed and
-- every connection it accepted is done: its task finished, or its writer
-- closed.
Server.wait_closed = async(function(self)
   if self._closed and not serving(self) then
      return
   end
   local fut = self._loop:create_future()
   table.insert(self._closed_waiters, fut)
   await(fut)
end)

function Server:__tostring()
   local addrs = {}
   for _, s in ipairs(self:sockets()) do
      addrs[#addrs + 1] = s.port and ("%s:%d"):format(s.host, s.port) or s.host
   end
   local state = self._closed and "closed" or self:is_serving() and "serving" or "not serving"
   return ("<Server %s%s>"):format(state,
      #addrs > 0 and (" " .. table.concat(addrs, " ")) or "")
end
coroutines.check_self(Server, { [Server] = true })

-- ---------- UDP ----------

local function pick(infos, family)
   for _, ai in ipairs(infos) do
      if family == nil or ai.family == family then
         return ai
      end
   end
end

local open_datagram_co = async(function(opts)
   local loop = events.get_running_loop()
   local family = opts.family ~= "any" and opts.family or nil
   local lai, rai
   if opts.remote_host ~= nil then
      local infos = getaddrinfo(opts.remote_host, opts.remote_port or 0, { family = family or "any", type = "dgram" })
      rai = pick(infos, family)
      family = family or (rai and rai.family)
   end
   if opts.local_host ~= nil or opts.local_port ~= nil then
      local infos = getaddrinfo(opts.local_host, opts.local_port or 0,
         { family = family or "any", type = "dgram", passive = true })
      lai = pick(infos, family)
      if lai == nil then
         error(OSError("no local address of the remote address's family", { code = "EAFNOSUPPORT" }), 0)
      end
      family = lai.family
   end
   family = family or "inet"
   local ep, err = core.datagram(loop, family, lai and lai.addr, lai and lai.port, rai and rai.addr,
      rai and rai.port, opts.reuse_port, opts.bufsize)
   if ep == nil then
      error(err, 0)
   end
   return ep
end)

-- asyncio.open_datagram({local_host=, local_port=, remote_host=,
-- remote_port=, family=, reuse_port=, bufsize=}) -> awaitable endpoint
function M.open_datagram(opts)
   opts = checkopts("open_datagram", 1, opts, DATAGRAM_OPTS)
   checkhost("open_datagram", 1, opts.local_host)
   checkhost("open_datagram", 1, opts.remote_host)
   local local_port = checkport("open_datagram", 1, opts.local_port)
   local remote_port = checkport("open_datagram", 1, opts.remote_port)
   if opts.bufsize ~= nil and (math.type(opts.bufsize) ~= "integer" or opts.bufsize <= 0
                               or opts.bufsize > core.datagram_bufsize_max) then
      error(("bad argument #1 to 'open_datagram' (bufsize must be an integer from 1 to %d)")
         :format(core.datagram_bufsize_max), 2)
   end
   local copy = {}
   for k, v in pairs(opts) do
      copy[k] = v
   end
   copy.local_port, copy.remote_port = local_port, remote_port
   copy.family = checkfamily("open_datagram", 1, opts.family)
   return open_datagram_co(copy)
end

return M
