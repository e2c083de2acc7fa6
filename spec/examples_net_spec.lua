-- The network examples (examples/echo_server.lua, echo_client.lua,
-- fetch_many.lua), each run as a process of its own from the repository
-- root, with what they print checked.

local helper = require("spec.helper")
local LUA = helper.LUA
-- the core busted loaded (make check's is the sanitizer build)
local PATHS = helper.paths(package.cpath:match("^[^;]+"))

local function run(cmd)
   local p = assert(io.popen(("%s timeout 20 %s %s 2>/dev/null"):format(PATHS, LUA, cmd), "r"))
   local out = p:read("a")
   local ok, _, status = p:close()
   return out, ok, status
end

describe("network examples", function()
   it("echo_server.lua serves echo_client.lua", function()
      local server = assert(io.popen(("%s timeout 20 %s examples/echo_server.lua 127.0.0.1 0 1 2>&1"):format(
         PATHS, LUA), "r"))
      local first = server:read("l")
      local port = first and first:match("^Serving on 127%.0%.0%.1:(%d+)$")
      assert.is_not_nil(port, "the server printed " .. tostring(first))
      local out, ok = run(("examples/echo_client.lua 127.0.0.1 %s hello 'second line'"):format(port))
      assert.is_true(ok)
      assert.equal(table.concat({
         'Send: "hello"',
         'Received: "hello"',
         'Send: "second line"',
         'Received: "second line"',
         "Close the connection",
         "",
      }, "\n"), out)
      local rest = server:read("a")
      assert.is_true(server:close())
      local peer = rest:match('^Received "hello" from (127%.0%.0%.1:%d+)\n')
      assert.is_not_nil(peer, rest)
      assert.equal(table.concat({
         'Received "hello" from ' .. peer,
         'Received "second line" from ' .. peer,
         "Close the connection with " .. peer,
         "Server closed",
         "",
      }, "\n"), rest)
   end)

   it("echo_client.lua reports a refused connection", function()
      local _, ok = run("examples/echo_client.lua 127.0.0.1 1")
      assert.is_falsy(ok)
   end)

   it("fetch_many.lua fetches every document, never above the limit", function()
      local out, ok = run("examples/fetch_many.lua 300 25")
      assert.is_true(ok)
      local total = 0
      for n = 1, 300 do
         total = total + 1000 + (n * 7919) % 60000
      end
      assert.equal(("fetched 300 documents, %d bytes\nat most 25 connections at a time (limit 25)\n"):format(total),
         out)
   end)
end)
