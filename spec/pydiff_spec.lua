-- Differential programs (tools/pydiff/): random tasks driving events, locks,
-- queues, futures, gather, wait, TaskGroup, timeouts and cancellation
-- (gen.py), and random callbacks, timers and futures driving the loop from
-- outside (loopgen.py), each step printing a line. For every seed in
-- tools/pydiff/expected/ (N.txt for gen.py, loop-N.txt for loopgen.py), the
-- Lua program written for it must print exactly what its Python twin
-- printed under CPython 3.13 (recorded by run_pydiff.py --record). gen.py's
-- programs take no time; loopgen.py's timers are 20 ms apart, far more than
-- what runs between them. Run from the repository root; python3 only
-- writes the programs.

local helper = require("spec.helper")
local LUA, read_file = helper.LUA, helper.read_file
-- the sanitized core under make check, whose runtimes the programs inherit
local PATHS = helper.paths(os.getenv("ASYNCIO_CPATH"))
local TIMEOUT = 60 -- a seed takes well under a second, even under ASan

local function command(cmd)
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local _, _, status = p:close()
   return out, status
end

-- The recorded cases: {name = "loop-7", generator = "loopgen.py", seed = 7}.
local function cases()
   local list = {}
   local out = command("ls tools/pydiff/expected")
   for kind, seed in out:gmatch("(%a*)%-?(%d+)%.txt") do
      list[#list + 1] = { name = (kind ~= "" and kind .. "-" or "") .. seed, seed = tonumber(seed),
                          generator = kind == "loop" and "loopgen.py" or "gen.py" }
   end
   table.sort(list, function(a, b)
      if a.generator ~= b.generator then return a.generator < b.generator end
      return a.seed < b.seed
   end)
   return list
end

describe("pydiff programs print what CPython printed", function()
   local list = cases()

   it("has recorded seeds to check", function()
      local loops = 0
      for _, case in ipairs(list) do
         if case.generator == "loopgen.py" then loops = loops + 1 end
      end
      assert.is_true(#list - loops >= 40, "tools/pydiff/expected/ holds " .. #list - loops .. " gen.py seeds")
      assert.is_true(loops >= 10, "tools/pydiff/expected/ holds " .. loops .. " loopgen.py seeds")
   end)

   for _, case in ipairs(list) do
      it(case.generator .. " seed " .. case.seed, function()
         local program = os.tmpname()
         -- without make check's sanitizer runtimes, which are for lua5.4
         local _, gen_status = command(("env -u LD_PRELOAD python3 tools/pydiff/%s %d - --lua > %s")
            :format(case.generator, case.seed, program))
         assert.are.equal(0, gen_status, "gen.py failed")
         local errfile = os.tmpname()
         local out, status = command(("%s timeout %d %s %s 2>%s"):format(
            PATHS, TIMEOUT, LUA, program, errfile))
         local err = read_file(errfile)
         os.remove(errfile)
         os.remove(program)
         assert.are.equal(0, status, "exit status; stderr:\n" .. err)
         assert.are.equal(read_file(("tools/pydiff/expected/%s.txt"):format(case.name)), out)
      end)
   end
end)
