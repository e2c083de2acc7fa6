-- Differential programs (tools/pydiff/): random tasks driving events, locks,
-- queues, futures, gather, wait, TaskGroup, timeouts and cancellation, each
-- step printing a line. For every seed in tools/pydiff/expected/, the Lua
-- program gen.py writes for it must print exactly what its Python twin
-- printed under CPython 3.13 (recorded by run_pydiff.py --record). The
-- programs take no time, so the outputs do not depend on the machine.
-- Run from the repository root; python3 only writes the programs.

local LUA = os.getenv("LUA") or "lua5.4"
-- the sanitized core under make check, whose runtimes the programs inherit
local CPATH = os.getenv("ASYNCIO_CPATH") or "build/?.so"
local PATHS = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s;;'"
   .. " LUA_PATH_5_4='lua/?.lua;lua/?/init.lua;;' LUA_CPATH_5_4='%s;;'"):format(CPATH, CPATH)
local TIMEOUT = 60 -- a seed takes well under a second, even under ASan

local function read_file(path)
   local f = assert(io.open(path, "rb"))
   local text = f:read("a")
   f:close()
   return text
end

local function command(cmd)
   local p = assert(io.popen(cmd, "r"))
   local out = p:read("a")
   local _, _, status = p:close()
   return out, status
end

local function seeds()
   local list = {}
   local out = command("ls tools/pydiff/expected")
   for seed in out:gmatch("(%d+)%.txt") do
      list[#list + 1] = tonumber(seed)
   end
   table.sort(list)
   return list
end

describe("pydiff programs print what CPython printed", function()
   local list = seeds()

   it("has recorded seeds to check", function()
      assert.is_true(#list >= 40, "tools/pydiff/expected/ holds " .. #list .. " seeds")
   end)

   for _, seed in ipairs(list) do
      it("seed " .. seed, function()
         local program = os.tmpname()
         -- without make check's sanitizer runtimes, which are for lua5.4
         local _, gen_status = command(("env -u LD_PRELOAD python3 tools/pydiff/gen.py %d - --lua > %s")
            :format(seed, program))
         assert.are.equal(0, gen_status, "gen.py failed")
         local errfile = os.tmpname()
         local out, status = command(("%s timeout %d %s %s 2>%s"):format(
            PATHS, TIMEOUT, LUA, program, errfile))
         local err = read_file(errfile)
         os.remove(errfile)
         os.remove(program)
         assert.are.equal(0, status, "exit status; stderr:\n" .. err)
         assert.are.equal(read_file(("tools/pydiff/expected/%d.txt"):format(seed)), out)
      end)
   end
end)
