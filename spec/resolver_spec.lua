-- Name resolution (API.md §9, getaddrinfo): numeric hosts at once, names
-- on the resolver threads, errors as OSError, loops closed mid-query.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

local function has(list, family, addr, port)
   for _, ai in ipairs(list) do
      if ai.family == family and ai.addr == addr and ai.port == port then
         return true
      end
   end
   return false
end

describe("getaddrinfo", function()
   it("answers numeric hosts", helper.async(function()
      local list = await(asyncio.getaddrinfo("127.0.0.1", 80, { type = "stream" }))
      assert.equal(1, #list)
      assert.same({ family = "inet", type = "stream", protocol = list[1].protocol, addr = "127.0.0.1", port = 80 },
         list[1])
      list = await(asyncio.getaddrinfo("::1", "8080"))
      assert.is_true(has(list, "inet6", "::1", 8080))
      list = await(asyncio.getaddrinfo(nil, 0, { passive = true, family = "inet", type = "dgram" }))
      assert.is_true(has(list, "inet", "0.0.0.0", 0))
   end))

   it("keeps the scope of a link-local IPv6 address, so it can be used again", helper.async(function()
      local list = await(asyncio.getaddrinfo("fe80::1%lo", 9, { type = "dgram" }))
      assert.equal("fe80::1%lo", list[1].addr)
      assert.equal("fe80::1%lo", await(asyncio.getaddrinfo("fe80::1%1", 9, { type = "dgram" }))[1].addr)
      -- the scope reaches connect: the system answers for the address on
      -- lo (none there), not EINVAL for a link-local address without scope
      local err = helper.error_of(await, asyncio.open_datagram({ remote_host = "fe80::1%lo", remote_port = 9 }))
      assert.is_true(asyncio.OSError:is(err))
      assert.not_equal("EINVAL", err.code)
   end))

   it("fails with EAI_NONAME for no host and no port, as Python's gaierror", helper.async(function()
      local err = helper.error_of(await, asyncio.getaddrinfo(nil, nil))
      assert.is_true(asyncio.OSError:is(err))
      assert.equal("EAI_NONAME", err.code)
      err = helper.error_of(await, asyncio.open_connection(nil, nil))
      assert.equal("EAI_NONAME", err.code)
   end))

   it("resolves names off the loop thread", helper.async(function()
      local loop = asyncio.get_running_loop()
      local fut = core.getaddrinfo(loop, "localhost", 22, "inet", "stream", false)
      assert.is_false(fut:done()) -- answered later, by a thread
      local list = await(fut)
      assert.is_true(has(list, "inet", "127.0.0.1", 22))
      list = await(asyncio.getaddrinfo("localhost", "http", { family = "inet", type = "stream" }))
      assert.is_true(has(list, "inet", "127.0.0.1", 80))
   end))

   it("answers many queries at once", helper.async(function()
      local tasks = {}
      for i = 1, 50 do
         tasks[i] = asyncio.create_task(asyncio.getaddrinfo("localhost", i, { family = "inet", type = "stream" }))
      end
      for i = 1, 50 do
         assert.is_true(has(await(tasks[i]), "inet", "127.0.0.1", i))
      end
   end))

   it("raises OSError with the EAI code", helper.async(function()
      local ok, err = pcall(await, asyncio.getaddrinfo("localhost", "no-such-service", { type = "stream" }))
      assert.is_false(ok)
      assert.is_true(asyncio.OSError:is(err))
      assert.equal("EAI_SERVICE", err.code)
      assert.is_number(err.errno)
      ok, err = pcall(await, asyncio.getaddrinfo("", 80))
      assert.is_false(ok)
      assert.is_true(asyncio.OSError:is(err))
      assert.matches("^EAI_", err.code)
      ok, err = pcall(await, asyncio.open_connection("", 80))
      assert.is_false(ok)
      assert.is_true(asyncio.OSError:is(err))
   end))

   it("can be cancelled while a thread works", helper.async(function()
      local t = asyncio.create_task(asyncio.getaddrinfo("localhost", 1))
      await(asyncio.sleep(0))
      t:cancel()
      assert.is_false(pcall(await, t))
      -- the answer that comes later is dropped; the next one works
      assert.is_true(#await(asyncio.getaddrinfo("localhost", 2)) > 0)
   end))

   it("lets a loop close while queries are in flight", function()
      for _ = 1, 5 do
         local loop = asyncio.new_event_loop()
         local futs = {}
         for i = 1, 20 do
            futs[i] = core.getaddrinfo(loop, "localhost", i, "any", "stream", false)
         end
         loop:close()
         for i = 1, 20 do
            assert.is_false(futs[i]:done())
         end
      end
      helper.full_gc()
      -- and a new loop still resolves
      helper.run(async(function()
         assert.is_true(#await(asyncio.getaddrinfo("localhost", 3)) > 0)
      end)()) -- called: the async function alone never ran (create_task refuses it now)
   end)

   it("reject misuse naming the function and argument", helper.async(function()
      assert.has_error(function() asyncio.getaddrinfo(1, 2) end,
         "bad argument #1 to 'getaddrinfo' (string or nil expected, got number)")
      assert.has_error(function() asyncio.getaddrinfo("h", {}) end,
         "bad argument #2 to 'getaddrinfo' (port number or service name expected, got table)")
      assert.has_error(function() asyncio.getaddrinfo("h", 1, { family = "ipx" }) end,
         "bad argument #3 to 'getaddrinfo' (family must be \"inet\" or \"inet6\")")
      assert.has_error(function() asyncio.getaddrinfo("h", 1, { type = "raw" }) end,
         "bad argument #3 to 'getaddrinfo' (type must be \"stream\" or \"dgram\")")
   end))
end)
