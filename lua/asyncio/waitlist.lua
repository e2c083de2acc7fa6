-- A FIFO of waiter futures, as the `_waiters` deques of Python's locks:
-- append at the tail, look at the head, remove any one (a waiter removes
-- itself when it resumes, usually from near the head, so that is cheap).

local M = {}
M.__index = M

function M.new()
   return setmetatable({ head = 1, tail = 0 }, M)
end

function M:append(fut)
   local tail = self.tail + 1
   self.tail = tail
   self[tail] = fut
end

-- The first waiter, or nil.
function M:first()
   return self[self.head]
end

function M:count()
   return self.tail - self.head + 1
end

-- Removes fut if it is still there (in Python, removing a missing waiter
-- is an error that the primitives never make).
function M:remove(fut)
   local head, tail = self.head, self.tail
   for i = head, tail do
      if self[i] == fut then
         for j = i, head + 1, -1 do
            self[j] = self[j - 1]
         end
         self[head] = nil
         if head == tail then
            self.head, self.tail = 1, 0
         else
            self.head = head + 1
         end
         return
      end
   end
end

-- Iterates over the waiters in order: for i, fut in list:each() do.
function M:each()
   local i = self.head - 1
   return function()
      i = i + 1
      if i <= self.tail then
         return i, self[i]
      end
   end
end

return M
