-- A minimal asyncio-style task layer on luv, since luv has none: the peer
-- the libev-based library is most directly comparable to.
--
-- Tasks are Lua coroutines. Every wake-up (zero-delay yield, timer expiry,
-- socket data, queue hand-off, task completion) goes through one ready list,
-- drained by a uv_idle handle once per loop iteration. A drain runs only the
-- tasks queued before it started, as asyncio's call_soon does; tasks woken
-- meanwhile wait for the next iteration. While the list is non-empty the idle
-- handle keeps libuv polling with a zero timeout; when empty, libuv may block.
local uv = require "luv"

local M = {}

local ready, nready = {}, 0  -- tasks to resume on the next iteration
local draining = {}          -- the list being drained (swapped with `ready`)
local idle = uv.new_idle()
local idle_active = false
local current                -- the running task

local drain

local function wake(task)
   nready = nready + 1
   ready[nready] = task
   if not idle_active then
      idle:start(drain)
      idle_active = true
   end
end

-- Resume a task once; record its result when its function returns.
local function step(task)
   current = task
   local ok, res
   local args = task.args
   if args then -- first step: pass the arguments of spawn
      task.args = nil
      ok, res = coroutine.resume(task.co, table.unpack(args, 1, args.n))
   else
      ok, res = coroutine.resume(task.co)
   end
   current = nil
   if not ok then error(debug.traceback(task.co, res), 0) end
   if coroutine.status(task.co) == "dead" then
      task.done, task.result = true, res
      for _, waiter in ipairs(task.waiters) do wake(waiter) end
      task.waiters = nil
   end
end

function drain()
   local list, n = ready, nready
   ready, nready, draining = draining, 0, list
   for i = 1, n do
      local task = list[i]
      list[i] = nil
      step(task)
   end
   if nready == 0 then
      idle:stop()
      idle_active = false
   end
end

-- spawn(fn, ...) -> task; its first step runs on the next iteration.
function M.spawn(fn, ...)
   local task = { co = coroutine.create(fn), args = table.pack(...), done = false, waiters = {} }
   wake(task)
   return task
end

-- Zero-delay yield: one trip through the event loop.
function M.yield0()
   wake(current)
   coroutine.yield()
end

-- One uv_timer per sleep (libuv timers have 1 ms resolution). libuv arms a
-- timer against the time cached at the start of the iteration; refresh it
-- first, or a timer armed late in a long iteration fires early.
function M.sleep(seconds)
   local task = current
   local timer = uv.new_timer()
   uv.update_time()
   timer:start(math.floor(seconds * 1000 + 0.5), 0, function()
      timer:close()
      wake(task)
   end)
   coroutine.yield()
end

-- wait(task) -> its result, once it has finished.
function M.wait(task)
   if not task.done then
      task.waiters[#task.waiters + 1] = current
      repeat coroutine.yield() until task.done
   end
   return task.result
end

-- gather(list of tasks) -> list of results.
function M.gather(tasks)
   local results = {}
   for i, task in ipairs(tasks) do results[i] = M.wait(task) end
   return results
end

-- Run `main` as a task until the loop has nothing left to do.
function M.run(main)
   local task = M.spawn(main)
   uv.run()
   assert(task.done, "the loop stopped before the main task finished")
   return task.result
end

function M.now() return uv.hrtime() * 1e-9 end

-- First-in first-out list of waiting tasks.
local function fifo() return { head = 1, tail = 0 } end

local function push(f, v)
   f.tail = f.tail + 1
   f[f.tail] = v
end

local function shift(f)
   local h = f.head
   if h > f.tail then return nil end
   local v = f[h]
   f[h] = nil
   if h == f.tail then f.head, f.tail = 1, 0 else f.head = h + 1 end
   return v
end

-- Bounded queue with the algorithm of Python's asyncio.Queue: put waits while
-- the queue is full, get while it is empty; each successful put wakes the
-- first waiting getter and each get the first waiting putter.
local Queue = {}
Queue.__index = Queue

function M.Queue(maxsize)
   return setmetatable({ maxsize = maxsize, items = fifo(), size = 0,
                         getters = fifo(), putters = fifo() }, Queue)
end

function Queue:put(item)
   while self.size >= self.maxsize do
      push(self.putters, current)
      coroutine.yield()
   end
   push(self.items, item)
   self.size = self.size + 1
   local getter = shift(self.getters)
   if getter then wake(getter) end
end

function Queue:get()
   while self.size == 0 do
      push(self.getters, current)
      coroutine.yield()
   end
   local item = shift(self.items)
   self.size = self.size - 1
   local putter = shift(self.putters)
   if putter then wake(putter) end
   return item
end

-- A TCP handle seen from a task: read() suspends until data or end of stream.
local Stream = {}
Stream.__index = Stream

function M.stream(tcp)
   local s = setmetatable({ tcp = tcp, chunks = fifo(), eof = false }, Stream)
   tcp:read_start(function(_, data) -- an error (first argument) counts as the end
      if data then push(s.chunks, data) else s.eof = true end
      local reader = s.reader
      if reader then
         s.reader = nil
         wake(reader)
      end
   end)
   return s
end

-- read() -> next chunk, or nil at end of stream.
function Stream:read()
   while self.chunks.head > self.chunks.tail and not self.eof do
      self.reader = current
      coroutine.yield()
   end
   return shift(self.chunks)
end

-- Fire and forget: libuv writes at once when the socket can take the data.
function Stream:write(data) self.tcp:write(data) end

function Stream:close() self.tcp:close() end

return M
