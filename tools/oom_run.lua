-- luacheck: globals oom_arm
-- Runs an OOM scenario (tools/oom.lua, tools/oom_streams.lua) under
-- asyncio.run with the failing allocator of tools/oomhost.c armed, then
-- collects and says how it ended. Run from the repository root.
local asyncio = require("asyncio")

-- OOM_DEBUG=1 runs it in debug mode, whose notes on every object made
-- (tracebacks, positions) are more allocations to fail.
local debug_mode = os.getenv("OOM_DEBUG") == "1"

return function(scenario)
   oom_arm(true)
   local ok, err
   if debug_mode then
      ok, err = pcall(asyncio.run, asyncio.async(scenario)(), { debug = true })
   else
      ok, err = pcall(asyncio.run, scenario)
   end
   oom_arm(false)
   collectgarbage()
   collectgarbage()
   io.stdout:write(ok and "ok\n" or ("error: " .. tostring(err) .. "\n"))
end
