-- await hands a coroutine object's arguments to its function exactly: as
-- many as were given (nils included), by each of await's paths (up to two
-- arguments, and more).
local asyncio = require("asyncio")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

describe("await of a coroutine object", function()
   it("passes its arguments, their count and trailing nils included", helper.async(function()
      local f = async(function(...) return select("#", ...), ... end)
      local function check(...)
         local n = select("#", ...)
         local got = table.pack(await(f(...)))
         assert.equal(n, got[1])
         for i = 1, n do assert.equal((select(i, ...)), got[i + 1]) end
         assert.equal(n + 1, got.n)
      end
      check()
      check(nil)
      check(1)
      check(1, nil)
      check(nil, nil)
      check(1, 2)
      check(1, 2, 3)
      check(nil, nil, nil)
      check(1, nil, 3, nil)
      check(1, 2, 3, 4, 5, 6)
   end))

   it("lets the object go while its function waits, however many arguments", helper.async(function()
      for n = 1, 4 do
         local weak = setmetatable({}, { __mode = "v" })
         local t = asyncio.create_task(async(function()
            weak[1] = asyncio.sleep(0.02, table.unpack({ 1, 2, 3 }, 1, n - 1))
            await(weak[1]) -- only await's argument holds it
         end)())
         await(asyncio.sleep(0)) -- t sleeps in core.sleep, a C function
         collectgarbage()
         collectgarbage()
         assert.is_nil(weak[1], n)
         await(t)
      end
   end))

   it("refuses one awaited already, whatever its arguments", helper.async(function()
      local f = async(function(...) return select("#", ...) end)
      for n = 0, 4 do
         local co = f(table.unpack({ 1, 2, 3, 4 }, 1, n))
         assert.equal(n, await(co))
         local ok, err = pcall(await, co)
         assert.is_false(ok)
         assert.matches("cannot reuse already awaited coroutine", err)
      end
   end))
end)
