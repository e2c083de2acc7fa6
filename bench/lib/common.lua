-- Helpers shared by every Lua benchmark program (aio, cqueues, luv): the
-- command line, memory readings and the pseudo-random delays of `timers`.
-- Nothing here depends on an event loop.
local M = {}

-- workload, number: `prog.lua WORKLOAD N` (for `echo`, N is the port).
function M.args(usage)
   local workload, n = arg[1], tonumber(arg[2])
   if not workload or not n then
      io.stderr:write("usage: ", arg[0], " ", usage, "\n")
      os.exit(64)
   end
   return workload, math.tointeger(n) or n
end

-- VmRSS and VmHWM (peak RSS) of this process, in bytes.
function M.mem()
   local f = assert(io.open("/proc/self/status"))
   local s = f:read("a")
   f:close()
   return tonumber(s:match("VmRSS:%s*(%d+)")) * 1024,
          tonumber(s:match("VmHWM:%s*(%d+)")) * 1024
end

-- Park-Miller "minimal standard" generator, seed 42: the same sequence of
-- integer delays in [0, 999] ms in every language of the suite.
function M.lcg()
   local x = 42
   return function()
      x = x * 48271 % 2147483647
      return x * 1000 // 2147483647
   end
end

-- The one line the runner reads: RESULT <workload> <runtime> key=value ...
-- fields is a list of {key, value, format}.
function M.result(workload, runtime, fields)
   local out = { "RESULT", workload, runtime }
   for _, f in ipairs(fields) do
      out[#out + 1] = string.format("%s=" .. (f[3] or "%.0f"), f[1], f[2])
   end
   print(table.concat(out, " "))
end

-- Checks shared by the in-process workloads, so that no runtime can skip work.
function M.check(cond, what)
   if not cond then error("result check failed: " .. what, 2) end
end

return M
