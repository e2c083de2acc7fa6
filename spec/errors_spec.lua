-- Error classes (API.md §10).
local asyncio = require("asyncio")
local helper = require("spec.helper")

describe("error classes", function()
   local names = { "CancelledError", "TimeoutError", "InvalidStateError", "QueueEmpty", "QueueFull",
      "QueueShutDown", "IncompleteReadError", "LimitOverrunError", "BrokenBarrierError",
      "ExceptionGroup", "OSError", "ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError" }

   it("exist, make instances and recognise them", function()
      for _, name in ipairs(names) do
         local cls = asyncio[name]
         assert.is_table(cls, name)
         local e = cls("msg", { extra = 1 })
         assert.is_true(cls:is(e), name)
         assert.equal("msg", e.message)
         assert.equal(1, e.extra)
         assert.equal(name .. ": msg", tostring(e))
         assert.is_false(cls:is("msg"))
         assert.is_false(cls:is({}))
         assert.is_false(cls:is(nil))
      end
      assert.equal("CancelledError", tostring(asyncio.CancelledError()))
   end)

   it("print an ExceptionGroup with its count of errors, as Python's str()", function()
      local eg = asyncio.ExceptionGroup("unhandled errors in a TaskGroup", { errors = { "a", "b" } })
      assert.equal("ExceptionGroup: unhandled errors in a TaskGroup (2 sub-exceptions)", tostring(eg))
      assert.equal("ExceptionGroup: one (1 sub-exception)",
         tostring(asyncio.ExceptionGroup("one", { errors = { "a" } })))
   end)

   it("word IncompleteReadError as Python, an unknown total included", function()
      local new = require("asyncio.errors").IncompleteReadError.new
      assert.equal("IncompleteReadError: 2 bytes read on a total of 5 expected bytes", tostring(new("ab", 5)))
      assert.equal("IncompleteReadError: 2 bytes read on a total of undefined expected bytes",
         tostring(new("ab", nil)))
   end)

   it("stand for an instance when a class is raised as it is, as Python's raise Class",
      helper.async(function()
         local ok, e = pcall(error, asyncio.TimeoutError)
         assert.is_false(ok)
         assert.is_true(asyncio.TimeoutError:is(e)) -- caught in the task: the class itself
         assert.is_false(asyncio.CancelledError:is(e))
         -- leaving a task, or given to set_exception, it becomes an instance
         local t = asyncio.create_task(asyncio.async(function()
            asyncio.await(asyncio.sleep(0))
            error(asyncio.CancelledError)
         end)())
         pcall(asyncio.await, t)
         assert.is_true(t:cancelled())
         local f = asyncio.get_running_loop():create_future()
         f:set_exception(asyncio.TimeoutError)
         assert.equal("TimeoutError", tostring(f:exception()))
         assert.is_true(asyncio.TimeoutError:is(f:exception()))
         local u = asyncio.create_task(function() error(asyncio.TimeoutError) end)
         local _, err = pcall(asyncio.await, u)
         assert.equal("TimeoutError", tostring(err))
         assert.matches("stack traceback", err.traceback)
      end))

   it("follow Python's hierarchy", function()
      local OSError = asyncio.OSError
      assert.is_true(OSError:is(asyncio.TimeoutError()))
      assert.is_true(OSError:is(asyncio.ConnectionResetError()))
      assert.is_true(OSError:is(asyncio.BrokenPipeError()))
      assert.is_false(asyncio.TimeoutError:is(OSError()))
      assert.is_false(asyncio.CancelledError:is(asyncio.TimeoutError()))
   end)

   it("make OSErrors from errno codes", function()
      local e = asyncio.OSError.from_errno(111, "ECONNREFUSED", "connection refused")
      assert.is_true(asyncio.ConnectionRefusedError:is(e))
      assert.equal(111, e.errno)
      assert.equal("ECONNREFUSED", e.code)
      assert.is_true(asyncio.OSError:is(asyncio.OSError.from_errno(1, "EPERM", "x")))
   end)

   it("choose the OSError subclass Python chooses for the errno", function()
      for code, name in pairs({ EPERM = "PermissionError", EACCES = "PermissionError",
                                EEXIST = "FileExistsError", ENOTDIR = "NotADirectoryError",
                                EISDIR = "IsADirectoryError", EAGAIN = "BlockingIOError",
                                EINPROGRESS = "BlockingIOError", EALREADY = "BlockingIOError",
                                EINTR = "InterruptedError", ECHILD = "ChildProcessError",
                                ESRCH = "ProcessLookupError", ENOENT = "FileNotFoundError",
                                ETIMEDOUT = "TimeoutError", ESHUTDOWN = "BrokenPipeError" }) do
         local e = asyncio.OSError.from_errno(1, code, "x")
         assert.is_true(asyncio[name]:is(e), code)
         assert.is_true(asyncio.OSError:is(e), code)
      end
      assert.equal(asyncio.OSError, getmetatable(asyncio.OSError.from_errno(1, "EINVAL", "x")))
   end)

   it("give a failing OS call's error its subclass", helper.async(function()
      local path = os.tmpname()
      local err = helper.error_of(asyncio.await, asyncio.open_unix_connection(path .. "/sock"))
      os.remove(path)
      assert.is_true(asyncio.NotADirectoryError:is(err), tostring(err))
      assert.equal("ENOTDIR", err.code)
   end))

   it("pass through pcall as the same value", function()
      local e = asyncio.QueueEmpty("empty")
      local ok, err = pcall(error, e)
      assert.is_false(ok)
      assert.equal(e, err)
   end)
end)
