-- luacheck: globals oom_arm
-- Runs an OOM scenario (tools/oom.lua, tools/oom_streams.lua) under
-- asyncio.run with the failing allocator of tools/oomhost.c armed, then
-- collects and says how it ended. Run from the repository root.
local asyncio = require("asyncio")

return function(scenario)
   oom_arm(true)
   local ok, err = pcall(asyncio.run, scenario)
   oom_arm(false)
   collectgarbage()
   collectgarbage()
   io.stdout:write(ok and "ok\n" or ("error: " .. tostring(err) .. "\n"))
end
