-- bin/lua-asyncio (API.md §11): a script as a task, and the REPL.

local function run(cmd)
   local p = assert(io.popen(cmd .. " 2>&1"))
   local out = p:read("a")
   local ok, _, code = p:close()
   return out, ok and 0 or code
end

local function script(text)
   local path = os.tmpname()
   local f = assert(io.open(path, "w"))
   f:write(text)
   f:close()
   return path
end

-- Runs the script text with the launcher (args after it): output, status.
local function launch(text, args)
   local path = script(text)
   local out, code = run("bin/lua-asyncio " .. path .. (args and " " .. args or ""))
   os.remove(path)
   return out, code
end

describe("lua-asyncio", function()
   it("runs a script as a task: await works at the top level", function()
      local out, code = launch([[
local asyncio = require("asyncio")
local v = asyncio.await(asyncio.sleep(0.01, "slept"))
print(v, asyncio.current_task() ~= nil, ...)
print(arg[0] ~= nil, arg[1])
]], "one two")
      assert.equal(0, code)
      assert.equal("slept\ttrue\tone\ttwo\ntrue\tone\n", out)
   end)

   it("reports a failing script with where it failed, and exits 1", function()
      local out, code = launch("local function deep() error('broken') end\ndeep()\n")
      assert.equal(1, code)
      assert.matches("broken", out)
      assert.matches("in %a* ?%a* ?'?deep'?", out)
   end)

   it("closes the state at the end as lua5.4 does: finalizers run", function()
      local out, code = launch('setmetatable({}, { __gc = function() io.stdout:write("finalized\\n") end })\n')
      assert.equal(0, code)
      assert.equal("finalized\n", out)
   end)

   it("shows an error object as lua5.4 does: by __tostring, else by its type", function()
      local out, code = launch("error({ code = 1 })\n")
      assert.equal(1, code)
      assert.matches("^lua%-asyncio: %(error object is a table value%)\n", out)
      out = launch("error(setmetatable({}, { __tostring = function() return 'custom' end }))\n")
      assert.matches("^lua%-asyncio: custom\n", out)
      -- as luaL_callmeta: the raw metatable, a string result only, and
      -- the error of a failing __tostring
      for source, shown in pairs({
         ["error(setmetatable({}, { __tostring = function() return 42 end }))"] = "%(error object is a table value%)",
         ["error(setmetatable({}, { __metatable = false, __tostring = function() return 'raw' end }))"] = "raw",
         ["error(setmetatable({}, { __tostring = function() error('inner', 0) end }))"] = "inner",
         -- a __tostring raising its own object again ends, as it does there
         ["error(setmetatable({}, { __tostring = function(e) error(e) end }))"] = "%(error object is a table value%)",
      }) do
         out = launch(source .. "\n")
         assert.matches("^lua%-asyncio: " .. shown .. "\n", out)
      end
   end)

   it("reads the script '-' from standard input, as lua5.4 does", function()
      local out, code = run("echo 'print(arg[0], ...)' | bin/lua-asyncio - a b")
      assert.equal(0, code)
      assert.equal("-\ta\tb\n", out)
   end)

   it("reports a missing script", function()
      local out, code = run("bin/lua-asyncio /nonexistent/x.lua")
      assert.equal(1, code)
      assert.matches("cannot open", out)
   end)

   it("has a REPL where await works", function()
      local input = "x = 40 + 2\\nx\\nawait(asyncio.sleep(0.01, \"hi\"))\\nfor i = 1, 2 do\\nprint(i)\\nend\\n"
      local out, code = run("printf '" .. input .. "' | bin/lua-asyncio")
      assert.equal(0, code)
      assert.matches("42", out)
      assert.matches("hi", out)
      assert.matches("1\n2", out)
   end)

   it("reports a value that cannot be shown at the prompt, and goes on", function()
      local input = "setmetatable({}, {__tostring = function() error(\"unshowable\") end})\n"
         .. "asyncio.current_task()\n\"alive\"\n"
      local out, code = run("printf '" .. input .. "' | bin/lua-asyncio")
      assert.equal(0, code)
      assert.matches("unshowable", out)
      assert.matches("<Task finished name=Task%-%d+ result=...>", out) -- a task showing itself
      assert.matches("alive", out)
   end)

   it("cancels an input that Ctrl-C interrupts, as Python's REPL (it ran on during the next ones)", function()
      local input = table.concat({
         "io.popen((\"(sleep 0.2; kill -INT %d) &\"):format(require(\"asyncio.core\").getpid())):close()",
         "for i = 1, 20 do await(asyncio.sleep(0.05)) print(\"tick\", i) end",
         "await(asyncio.sleep(1.2)) print(\"next\")", "" }, "\n")
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write(input)
      f:close()
      local out, code = run("bin/lua-asyncio < " .. path)
      os.remove(path)
      assert.equal(0, code)
      assert.matches("tick\t1\n", out)
      assert.matches("interrupted!", out)
      assert.matches("next", out)
      assert.is_nil(out:find("tick\t20", 1, true))
   end)

   -- Types `before` at the REPL, sends it a Ctrl-C while it waits for more,
   -- then types `after`; returns what it printed and its status.
   local function ctrl_c_at_prompt(before, after)
      local fifo = os.tmpname()
      os.remove(fifo)
      return run(table.concat({
         "mkfifo " .. fifo,
         "bin/lua-asyncio < " .. fifo .. " 2>&1 & pid=$!",
         "exec 3>" .. fifo,
         "printf '" .. before .. "' >&3",
         "sleep 0.5", -- waiting at the prompt
         "kill -INT $pid",
         "sleep 0.2",
         "printf '" .. after .. "' >&3",
         "exec 3>&-",
         "wait $pid; code=$?",
         "rm -f " .. fifo,
         "exit $code" }, "\n"))
   end

   it("gives a new prompt after a Ctrl-C at the prompt, as Python's REPL", function()
      -- it died with a traceback into the launcher (lua5.4 raises interrupted!
      -- as the read returns)
      local out, code = ctrl_c_at_prompt("x = 1\\n", "print(\"alive\", x)\\n")
      assert.equal(0, code)
      assert.matches("lua%-asyncio: interrupted!\n", out)
      assert.matches("alive\t1\n", out)
   end)

   it("drops an incomplete input at a Ctrl-C, as Python's REPL", function()
      -- the next line completed it: x was 3
      local out, code = ctrl_c_at_prompt("x = (1 +\\n", "2)\\nprint(\"x is\", x)\\n")
      assert.equal(0, code)
      assert.matches(">> lua%-asyncio: interrupted!\n", out)
      assert.matches("unexpected symbol near '2'", out)
      assert.matches("x is\tnil\n", out)
   end)

   it("reports an error whose __tostring fails at the prompt, and goes on", function()
      -- the REPL died of it, and with it every task made at the prompt
      local input = "error(setmetatable({}, {__tostring = function() error(\"unshowable\") end}))\n"
         .. "error(setmetatable({}, {__tostring = function() return {} end}))\n\"alive\"\n"
      local out, code = run("printf '" .. input .. "' | bin/lua-asyncio")
      assert.equal(0, code)
      assert.matches("unshowable", out)
      assert.matches("error object is a table value", out)
      assert.matches("alive", out)
   end)

   it("keeps the interpreter and its options below arg[0], as lua5.4 does", function()
      local path = script("print(arg[-1], arg[-2], arg[-3], #arg)\n")
      local out, code = run("lua5.4 -W bin/lua-asyncio " .. path)
      os.remove(path)
      assert.equal(0, code)
      assert.equal("bin/lua-asyncio\t-W\tlua5.4\t0\n", out)
   end)
end)
