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

   -- Python's ExceptionGroup.split and subgroup (test_exception_group.py's
   -- cases, in short): the Lua form of `except*`
   it("split an ExceptionGroup by class, list of classes or predicate, nested groups alike", function()
      local EG, QE, TE = asyncio.ExceptionGroup, asyncio.QueueEmpty, asyncio.TimeoutError
      local a, b, c = QE("a"), TE("b"), "plain"
      local i1, i2 = QE("i1"), TE("i2")
      local inner = EG("inner", { errors = { i1, i2 } })
      local eg = EG("outer", { errors = { a, b, c, inner }, traceback = "where it was raised" })
      local match, rest = eg:split(QE)
      assert.equal("ExceptionGroup: outer (2 sub-exceptions)", tostring(match))
      assert.equal("where it was raised", match.traceback) -- the group's own fields go with it
      assert.equal(a, match.errors[1])
      assert.equal("ExceptionGroup: inner (1 sub-exception)", tostring(match.errors[2]))
      assert.equal(i1, match.errors[2].errors[1])
      assert.same({ b, c }, { rest.errors[1], rest.errors[2] })
      assert.equal(i2, rest.errors[3].errors[1])
      assert.equal(eg.errors[4], inner) -- the group split is left as it was
      -- all or nothing
      local all, none = eg:split(function() return true end)
      assert.equal(eg, all)
      assert.is_nil(none)
      none, all = eg:split(asyncio.QueueFull)
      assert.is_nil(none)
      assert.same({ a, b, c, inner }, all.errors)
      -- subgroup: the group itself when nothing is left out, nil when nothing is kept
      assert.equal(eg, eg:subgroup(EG))
      assert.is_nil(eg:subgroup(function(e) return e == "nothing" end))
      local kept = eg:subgroup({ QE, TE })
      assert.same({ a, b, inner }, kept.errors) -- inner kept whole: every error of it matched
      -- a predicate is asked about the groups too: one true for eg keeps eg
      assert.equal(eg, eg:subgroup(function(e) return e ~= c end))
      kept = eg:subgroup(function(e) return e ~= c and not EG:is(e) end)
      assert.same({ a, b, inner }, kept.errors)
      assert.equal(inner, kept.errors[3]) -- not a copy: nothing of it was left out
      -- a subclass decides what its derived groups are
      local MyGroup = require("asyncio.errors").class("MyGroup", EG)
      function MyGroup.derive(g, errors) return MyGroup(g.message .. "'", { errors = errors }) end
      local mine = MyGroup("m", { errors = { a, b } }):subgroup(QE)
      assert.is_true(MyGroup:is(mine))
      assert.equal("MyGroup: m' (1 sub-exception)", tostring(mine))
      -- bad conditions are argument errors
      assert.has_error(function() eg:split(5) end,
         "bad argument #1 to 'split' (error class, list of classes or function expected, got number)")
      assert.has_error(function() eg:subgroup({ QE, "x" }) end,
         "bad argument #1 to 'subgroup' (element 2 of the list is not an error class)")
      assert.has_error(function() EG.split(5, QE) end,
         "calling 'split' on bad self (ExceptionGroup with a list of errors expected, got number)")
      assert.has_error(function() EG.subgroup(QE("x"), QE) end,
         "calling 'subgroup' on bad self (ExceptionGroup with a list of errors expected, got QueueEmpty)")
      assert.has_error(function() eg:derive("x") end, "bad argument #1 to 'derive' (table expected, got string)")
   end)

   it("translate except* around a TaskGroup (Python's 'Terminating a Task Group' example)", function()
      local errors = require("asyncio.errors")
      local Terminate = errors.class("TerminateTaskGroup", errors.Error)
      local log = {}
      helper.run(function()
         local ok, err = pcall(function()
            local tg <close> = asyncio.TaskGroup()
            tg:create_task(asyncio.async(function()
               asyncio.await(asyncio.sleep(0.01))
               log[#log + 1] = "task 1 done"
            end)())
            tg:create_task(asyncio.async(function()
               asyncio.await(asyncio.sleep(10))
               log[#log + 1] = "task 2 done"
            end)())
            tg:create_task(asyncio.async(function()
               asyncio.await(asyncio.sleep(0.02))
               error(Terminate())
            end)())
         end)
         assert.is_false(ok)
         local _, rest = err:split(Terminate) -- except* TerminateTaskGroup: pass
         assert.is_nil(rest)
      end)
      assert.same({ "task 1 done" }, log)
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
