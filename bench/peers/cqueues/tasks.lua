-- What cqueues lacks for the workloads, built on its condition variables:
-- tasks whose results can be awaited (spawn/wait/gather) and a bounded queue
-- with the algorithm of Python's asyncio.Queue.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"

local M = {}

local cq = cqueues.new()

M.now = cqueues.monotime
M.sleep = cqueues.sleep -- sleep(0): a zero-delay yield through the controller

-- Run `main` in the controller until every coroutine has finished.
function M.run(main)
   cq:wrap(main)
   assert(cq:loop())
end

-- spawn(fn, ...) -> task; task.result holds fn's first result once done.
function M.spawn(fn, ...)
   local task = { done = false }
   cq:wrap(function(...)
      task.result = fn(...)
      task.done = true
      if task.finished then task.finished:signal() end
   end, ...)
   return task
end

-- wait(task) -> its result; the condition variable is made only if needed.
function M.wait(task)
   while not task.done do
      task.finished = task.finished or condition.new()
      task.finished:wait()
   end
   return task.result
end

function M.gather(tasks)
   local results = {}
   for i, task in ipairs(tasks) do results[i] = M.wait(task) end
   return results
end

-- Bounded queue: put waits while full, get while empty; each side signals
-- one waiter of the other side (asyncio.Queue's algorithm).
local Queue = {}
Queue.__index = Queue

function M.Queue(maxsize)
   return setmetatable({ maxsize = maxsize, items = {}, head = 1, size = 0,
                         not_empty = condition.new(), not_full = condition.new() }, Queue)
end

function Queue:put(item)
   while self.size >= self.maxsize do self.not_full:wait() end
   self.items[(self.head + self.size - 1) % self.maxsize + 1] = item
   self.size = self.size + 1
   self.not_empty:signal(1)
end

function Queue:get()
   while self.size == 0 do self.not_empty:wait() end
   local h = self.head
   local item = self.items[h]
   self.items[h] = nil
   self.head = h % self.maxsize + 1
   self.size = self.size - 1
   self.not_full:signal(1)
   return item
end

return M
