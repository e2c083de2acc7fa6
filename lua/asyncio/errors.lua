-- The error classes of API.md §10: each is callable, `Class(message, fields)`,
-- and `Class:is(value)` is true for its instances and its subclasses'.

local M = {}

local function class_is(cls, value)
   if type(value) ~= "table" then
      return false
   end
   -- a class raised as it is (error(asyncio.CancelledError), Python's
   -- `raise CancelledError`) stands for an instance of itself
   -- the real metatable (a __metatable field may hide it, and be anything),
   -- and a chain of tables only: a user class may have a __parent of its own
   local mt = rawget(value, "__aio_error") and value or debug.getmetatable(value)
   while type(mt) == "table" do
      if mt == cls then
         return true
      end
      mt = rawget(mt, "__parent")
   end
   return false
end

local function error_tostring(e)
   local cls = getmetatable(e)
   local name = rawget(cls, "__name") or "Error"
   local message = rawget(e, "message")
   if message == nil then
      return name
   end
   return name .. ": " .. tostring(message)
end

local function new_instance(cls, message, fields)
   local e = {}
   if fields ~= nil then
      if type(fields) ~= "table" then
         error(("bad argument #2 to '%s' (table expected, got %s)"):format(cls.__name, type(fields)), 3)
      end
      for k, v in pairs(fields) do
         e[k] = v
      end
   end
   if message == nil and cls.__message ~= nil then
      message = cls.__message(e) -- a class that words its fields (IncompleteReadError)
   end
   if message ~= nil then
      e.message = message
   end
   return setmetatable(e, cls)
end

-- Creates a class named name; instances find methods in it, then in parent.
local function class(name, parent)
   local cls = {
      __name = name,
      __parent = parent,
      __aio_error = true,
      -- a metamethod is not found through __index: a subclass copies it
      __tostring = parent and rawget(parent, "__tostring") or error_tostring,
      is = class_is,
   }
   cls.__index = cls
   setmetatable(cls, {
      __index = parent,
      __call = new_instance,
      __tostring = function() return "class " .. name end,
   })
   M[name] = cls
   return cls
end
M.class = class

local Error = class("Error")
class("CancelledError", Error)
class("InvalidStateError", Error)
class("QueueEmpty", Error)
class("QueueFull", Error)
class("QueueShutDown", Error)
class("BrokenBarrierError", Error)
local ExceptionGroup = class("ExceptionGroup", Error)
-- As Python's str() of one: the message, then how many errors it holds.
function ExceptionGroup.__tostring(e)
   local text = error_tostring(e)
   local errors = rawget(e, "errors")
   if type(errors) == "table" then
      local n = #errors
      text = ("%s (%d sub-exception%s)"):format(text, n, n == 1 and "" or "s")
   end
   return text
end

-- What split and subgroup test each error with: a class of ours (its :is),
-- a list of them (Python's tuple of types), or a predicate.
local function condition_of(condition, fname)
   if type(condition) == "table" and rawget(condition, "__aio_error") then
      return function(e) return condition:is(e) end
   elseif type(condition) == "function"
      or (type(condition) == "table" and type((getmetatable(condition) or {}).__call) == "function") then
      return condition
   elseif type(condition) == "table" then
      for i, cls in ipairs(condition) do
         if type(cls) ~= "table" or not rawget(cls, "__aio_error") then
            error(("bad argument #1 to '%s' (element %d of the list is not an error class)"):format(fname, i), 3)
         end
      end
      return function(e)
         for _, cls in ipairs(condition) do
            if cls:is(e) then
               return true
            end
         end
         return false
      end
   end
   error(("bad argument #1 to '%s' (error class, list of classes or function expected, got %s)")
      :format(fname, type(condition)), 3)
end

-- A group like e holding errors: its message and every other field of it
-- (traceback...) but errors, as Python's split copies a group's metadata.
-- A subclass may give derive its own meaning, as in Python.
function ExceptionGroup.derive(e, errors)
   if type(e) ~= "table" then
      error(("calling 'derive' on bad self (ExceptionGroup expected, got %s)"):format(type(e)), 2)
   elseif type(errors) ~= "table" then
      error(("bad argument #1 to 'derive' (table expected, got %s)"):format(type(errors)), 2)
   end
   local fields = {}
   for k, v in pairs(e) do
      if k ~= "errors" and k ~= "message" then
         fields[k] = v
      end
   end
   fields.errors = errors
   return ExceptionGroup(rawget(e, "message"), fields)
end

local function is_group(e)
   return ExceptionGroup:is(e) and type(rawget(e, "errors")) == "table"
end

local function split(e, test)
   if test(e) then
      return e, nil
   end
   local matched, rest = {}, {}
   for _, sub in ipairs(e.errors) do
      if is_group(sub) then
         local m, r = split(sub, test)
         matched[#matched + 1] = m
         rest[#rest + 1] = r
      elseif test(sub) then
         matched[#matched + 1] = sub
      else
         rest[#rest + 1] = sub
      end
   end
   return #matched > 0 and e:derive(matched) or nil, #rest > 0 and e:derive(rest) or nil
end

-- eg:split(condition) -> match, rest: the errors that meet condition and
-- those that do not, each as a group like eg (nil for none), nested groups
-- split alike: Python's split, the Lua form of `except*`.
local function check_group(e, fname)
   if not is_group(e) then
      local got = type(e) == "table" and tostring(rawget(getmetatable(e) or {}, "__name") or "table") or type(e)
      error(("calling '%s' on bad self (ExceptionGroup with a list of errors expected, got %s)")
         :format(fname, got), 3)
   end
end

function ExceptionGroup.split(e, condition)
   check_group(e, "split")
   return split(e, condition_of(condition, "split"))
end

local function subgroup(e, test)
   if test(e) then
      return e
   end
   local kept, modified = {}, false
   for _, sub in ipairs(e.errors) do
      if is_group(sub) then
         local s = subgroup(sub, test)
         modified = modified or s ~= sub
         kept[#kept + 1] = s
      elseif test(sub) then
         kept[#kept + 1] = sub
      else
         modified = true
      end
   end
   if not modified then
      return e
   end
   return #kept > 0 and e:derive(kept) or nil
end

-- eg:subgroup(condition) -> the group of the errors that meet condition,
-- eg itself if all do, nil if none does: Python's subgroup.
function ExceptionGroup.subgroup(e, condition)
   check_group(e, "subgroup")
   return subgroup(e, condition_of(condition, "subgroup"))
end

class("SendfileNotAvailableError", Error)

-- A stream ended before the expected number of bytes: fields partial, expected.
-- Made without a message, its message words them, as Python's str() does.
local IncompleteReadError = class("IncompleteReadError", Error)
function IncompleteReadError.__message(e)
   if type(e.partial) ~= "string" then
      return nil
   end
   return ("%d bytes read on a total of %s expected bytes"):format(#e.partial,
      e.expected == nil and "undefined" or tostring(e.expected))
end
function IncompleteReadError.new(partial, expected)
   return IncompleteReadError(nil, { partial = partial, expected = expected })
end

-- A separator was not found within the limit: field consumed.
local LimitOverrunError = class("LimitOverrunError", Error)
function LimitOverrunError.new(message, consumed)
   return LimitOverrunError(message, { consumed = consumed })
end

-- OS failures: fields errno, code ("ECONNREFUSED") and message.
local OSError = class("OSError", Error)
class("TimeoutError", OSError)
local ConnectionError = class("ConnectionError", OSError)
class("ConnectionRefusedError", ConnectionError)
class("ConnectionResetError", ConnectionError)
class("ConnectionAbortedError", ConnectionError)
class("BrokenPipeError", ConnectionError)
class("FileNotFoundError", OSError)
class("FileExistsError", OSError)
class("NotADirectoryError", OSError)
class("IsADirectoryError", OSError)
class("PermissionError", OSError)
class("BlockingIOError", OSError)
class("InterruptedError", OSError)
class("ChildProcessError", OSError)
class("ProcessLookupError", OSError)

-- The subclass of OSError that Python raises for a given errno code.
local by_code = {
   ECONNREFUSED = M.ConnectionRefusedError,
   ECONNRESET = M.ConnectionResetError,
   ECONNABORTED = M.ConnectionAbortedError,
   EPIPE = M.BrokenPipeError,
   ESHUTDOWN = M.BrokenPipeError,
   ETIMEDOUT = M.TimeoutError,
   ENOENT = M.FileNotFoundError,
   EEXIST = M.FileExistsError,
   ENOTDIR = M.NotADirectoryError,
   EISDIR = M.IsADirectoryError,
   EACCES = M.PermissionError,
   EPERM = M.PermissionError,
   EAGAIN = M.BlockingIOError, -- EWOULDBLOCK too: the same number on Linux
   EALREADY = M.BlockingIOError,
   EINPROGRESS = M.BlockingIOError,
   EINTR = M.InterruptedError,
   ECHILD = M.ChildProcessError,
   ESRCH = M.ProcessLookupError,
}

-- Makes the OSError (or subclass) for an errno number, code and message.
function OSError.from_errno(errno, code, message)
   local cls = by_code[code] or OSError
   return cls(message, { errno = errno, code = code })
end

return M
