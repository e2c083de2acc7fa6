-- Scenarios ported from CPython 3.13's own asyncio tests (test_streams.py,
-- test_subprocess.py, test_server.py), each named after the test it
-- ports; what each asserts is what Python printed for the same script.
-- Real sockets on 127.0.0.1 and real child processes.
local asyncio = require("asyncio")
local helper = require("spec.helper")
local await = asyncio.await
local PIPE = asyncio.PIPE

local failure = helper.failure

local function sh(cmd, opts)
   return await(asyncio.create_subprocess_shell(cmd, opts))
end

describe("test_subprocess.py", function()
   it("test_stdin_broken_pipe, stdin closed with 1 MB queued: a second drain raises 'Connection lost'",
      helper.async(function()
         -- Python 3.13: BrokenPipeError, then ConnectionResetError('Connection
         -- lost') for every later drain, and the close waiter keeps
         -- BrokenPipeError (write_eof instead of close: the same); ours
         -- raised BrokenPipeError again
         local p = sh("head -c 10 >/dev/null; sleep 0.05", { stdin = PIPE })
         p.stdin:write(string.rep("x", 1 << 20))
         p.stdin:close()
         local err = failure(function()
            await(p.stdin:drain())
         end)
         assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
         for _ = 1, 2 do
            err = failure(function()
               await(p.stdin:drain())
            end)
            assert.is_true(asyncio.ConnectionResetError:is(err), tostring(err))
            assert.equal("Connection lost", err.message)
         end
         err = failure(function()
            await(p.stdin:wait_closed())
         end)
         assert.is_true(asyncio.BrokenPipeError:is(err), tostring(err))
         assert.equal(0, await(p:wait()))
      end))
end)
