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
-- is an error that the primitives never make). It is looked for from both
-- ends at once and the shorter side moves into the gap, so waiters
-- cancelled in the order they came, or in the reverse order, cost a step
-- each, not the length of the list.
function M:remove(fut)
   local head, tail = self.head, self.tail
   local front, back, at = head, tail, nil
   while front <= back do
      if self[front] == fut then
         at = front
         break
      elseif self[back] == fut then
         at = back
         break
      end
      front, back = front + 1, back - 1
   end
   if at == nil then
      return
   end
   if at - head <= tail - at then
      for j = at, head + 1, -1 do
         self[j] = self[j - 1]
      end
      self[head] = nil
      head = head + 1
   else
      for j = at, tail - 1 do
         self[j] = self[j + 1]
      end
      self[tail] = nil
      tail = tail - 1
   end
   if head > tail then
      head, tail = 1, 0
   end
   self.head, self.tail = head, tail
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
