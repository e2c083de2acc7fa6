-- Not from the posts: child processes, the part of asyncio they do not show
-- (examples/python/child_processes.py). Two programs run at the same time; one
-- is fed through its stdin.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

local run = async(function(cmd)
   local proc = await(asyncio.create_subprocess_shell(cmd,
      { stdout = asyncio.PIPE, stderr = asyncio.PIPE }))
   local stdout, stderr = await(proc:communicate())
   print(("['%s' exited with %d]"):format(cmd, proc.returncode))
   if stdout ~= "" then
      print("[stdout]\n" .. stdout)
   end
   if stderr ~= "" then
      print("[stderr]\n" .. stderr)
   end
end)

local upper = async(function(text)
   local proc = await(asyncio.create_subprocess_exec("tr", { "a-z", "A-Z" },
      { stdin = asyncio.PIPE, stdout = asyncio.PIPE }))
   return (await(proc:communicate(text)))
end)

local main = async(function()
   await(asyncio.gather(run("sleep 0.2; echo slow"), run("echo fast; echo oops >&2; exit 1")))
   print(await(upper("hello from a pipe")))
   local proc = await(asyncio.create_subprocess_exec("sleep", { 10 }))
   proc:kill()
   print("killed: " .. await(proc:wait()))
end)

asyncio.run(main())
