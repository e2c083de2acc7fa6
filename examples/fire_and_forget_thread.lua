-- Fire and forget through the default executor, the decorated version
-- (document 002, answer 1): foo() runs in a worker thread, and the Lua state
-- finishes the jobs still running when it closes, as Python's interpreter
-- waits for its executor's threads at exit.

local asyncio = require("asyncio")

-- Python's decorator: a function that hands f and its arguments to the
-- executor of the current loop and returns the future at once.
local function fire_and_forget(f)
   return function(...)
      return asyncio.get_event_loop():run_in_executor(nil, f, ...)
   end
end

-- Runs in the worker thread: its own Lua state, so no upvalues.
local foo = fire_and_forget(function()
   os.execute("sleep 1") -- time.sleep(1): blocks the worker, not the loop
   print("foo() completed")
end)

print("Hello")
foo()
print("I didn't wait for foo()")
