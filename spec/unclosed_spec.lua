-- A socket collected while still open is closed by its finalizer, and Lua's
-- warning system says so, as Python's ResourceWarning "unclosed <...>" does:
-- only when warnings are on (lua5.4 -W, warn("@on")). Each case runs in a
-- fresh lua5.4, whose warnings go to its stderr.
local helper = require("spec.helper")

-- What a fresh lua5.4 prints running body as asyncio.run's main, with
-- warnings turned on first if warnings_on.
local function run(body, warnings_on)
   local out, status = helper.run_fresh(([[
      %s
      local asyncio = require("asyncio")
      local await = asyncio.await
      asyncio.run(function()
         %s
         collectgarbage() collectgarbage()
         print("end of main")
      end)
   ]]):format(warnings_on and 'warn("@on")' or "", body))
   assert.equal(0, status, out)
   return out
end

local CONNECT = [[
   local server = await(asyncio.start_server(function(_, w) w:close() end, "127.0.0.1", 0))
   local _, port = server:getsockname()
   local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
]]

describe("unclosed sockets", function()
   it("are reported when a stream writer left open is collected", function()
      local out = run(CONNECT .. "reader, writer = nil, nil", true)
      assert.matches("Lua warning: unclosed <StreamWriter fd=%d+>\nend of main\n", out)
   end)

   it("are not reported for a writer closed before it was collected", function()
      local out = run(CONNECT .. [[
         writer:close()
         await(writer:wait_closed())
         reader, writer = nil, nil
      ]], true)
      assert.equal("end of main\n", out)
   end)

   it("are not reported while warnings are off, Lua's default", function()
      local out = run(CONNECT .. "reader, writer = nil, nil", false)
      assert.equal("end of main\n", out)
   end)

   it("are reported for a datagram endpoint left open, and not for a closed one", function()
      local out = run([[
         local ep = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
         local closed = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
         closed:close()
         ep, closed = nil, nil
      ]], true)
      assert.matches("^Lua warning: unclosed <DatagramEndpoint fd=%d+>\nend of main\n$", out)
   end)

   it("are reported for a server that never served and was not closed", function()
      local out = run([[
         local server = await(asyncio.start_server(print, "127.0.0.1", 0, { start_serving = false }))
         server = nil
      ]], true)
      assert.matches("^Lua warning: unclosed <Server socket fd=%d+>\nend of main\n$", out)
   end)

   it("are not reported for a child's pipes, which end with the child", function()
      local out = run([[
         local p = await(asyncio.create_subprocess_exec("cat", {}, { stdin = asyncio.PIPE, stdout = asyncio.PIPE }))
         p:kill()
         await(p:wait())
         p = nil
      ]], true)
      assert.equal("end of main\n", out)
   end)
end)
