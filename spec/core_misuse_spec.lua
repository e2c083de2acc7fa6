-- The C core is reachable from any script (require("asyncio.core"),
-- getmetatable), so its metamethods and setup calls must turn misuse into
-- Lua errors. A crash here takes busted down with it; `make check` runs
-- these under AddressSanitizer, which also catches use after free.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local async, await = asyncio.async, asyncio.await

-- Every function of every metatable the core exports (core.<Name>_mt).
local function metamethods()
   local list = {}
   for name, mt in pairs(core) do
      if type(name) == "string" and name:match("_mt$") and type(mt) == "table" then
         for field, f in pairs(mt) do
            if type(f) == "function" then
               list[#list + 1] = { name .. "." .. field, f }
            end
         end
      end
   end
   table.sort(list, function(a, b) return a[1] < b[1] end)
   return list
end

describe("the core, misused from Lua", function()
   it("raises, not crashes, when a metamethod gets the wrong object", function()
      local list = metamethods()
      assert.is_true(#list > 20)
      local wrong = { {}, 1, "x", io.stdout, print, coroutine.create(print) }
      for _, entry in ipairs(list) do
         local name, f = entry[1], entry[2]
         if name:match("__gc$") or name:match("__close$") then
            local ok, err = pcall(f)
            assert(not ok, name .. " accepted no argument")
            assert.matches("bad argument #1", tostring(err))
            for _, v in ipairs(wrong) do
               ok = pcall(f, v)
               assert(not ok, name .. " accepted a " .. type(v))
            end
         else
            pcall(f) -- anything but a crash will do
            for _, v in ipairs(wrong) do pcall(f, v, v) end
         end
      end
   end)

   it("refuses a pipe stream on a descriptor that is not open (libev aborts on it)", function()
      local loop = asyncio.new_event_loop()
      for _, fd in ipairs({ 99999, -1, 2 ^ 40 }) do
         local ok, err = pcall(core.pipe_stream, loop, fd)
         assert.is_false(ok)
         assert.matches("not an open file descriptor", err)
      end
      loop:close()
   end)

   it("refuses a second call of the setup functions the Lua layer made", function()
      assert.matches("set_coro_state was called already",
                     helper.error_of(core.set_coro_state, { metatables = { [{}] = true } }))
      assert.matches("set_errors was called already", helper.error_of(core.set_errors, {}))
      assert.matches("set_hooks was called already", helper.error_of(core.set_hooks, {}))
      assert.matches("set_sleep0 was called already", helper.error_of(core.set_sleep0, asyncio.sleep(0)))
      assert.matches("coroutine object expected", helper.error_of(core.set_sleep0, io.stdout))
      assert.matches("thread_setup was called already", helper.error_of(core.thread_setup, print))
      -- and the runtime still works
      assert.equal(3, asyncio.run(async(function() return await(asyncio.sleep(0, 3)) end)))
   end)

   it("ignores the finalizer of a live task called by hand", function()
      helper.run(function()
         local loop = asyncio.get_running_loop()
         local reports = helper.capture_reports(loop)
         local parked = asyncio.create_task(asyncio.sleep(10))
         await(asyncio.sleep(0))
         assert(pcall(core.Task_mt.__gc, parked))
         -- its slot among the unfinished tasks is not given to another
         local other = asyncio.create_task(asyncio.sleep(10))
         local all = asyncio.all_tasks()
         assert.is_true(all[parked])
         assert.is_true(all[other])
         await(asyncio.sleep(0))
         assert.equal(0, #reports)
         parked:cancel()
         other:cancel()
      end)
   end)

   it("survives a finalizer called by hand on objects still in use", function()
      helper.run(function()
         local served = asyncio.Event()
         local server = await(asyncio.start_server(function(_, w)
            served:set()
            w:close()
         end, "127.0.0.1", 0))
         local _, port = server:getsockname()
         local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
         local endpoint = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 }))
         await(served:wait())
         -- the objects and the C objects they hold in their user values
         local objs = { reader, writer, endpoint }
         for _, obj in ipairs({ reader, writer, endpoint }) do
            for i = 1, 8 do
               local v = debug.getuservalue(obj, i)
               if type(v) == "userdata" then objs[#objs + 1] = v end
            end
         end
         for _, v in pairs(server) do
            if type(v) == "userdata" then objs[#objs + 1] = v end
         end
         local finalized = 0
         for _, obj in ipairs(objs) do
            local mt = debug.getmetatable(obj)
            local gc = mt and rawget(mt, "__gc")
            if gc and obj == asyncio.get_running_loop() then
               assert.matches("Cannot close a running event loop", helper.error_of(gc, obj))
            elseif gc then
               assert(pcall(gc, obj))
               assert(pcall(gc, obj))
               finalized = finalized + 1
            end
         end
         assert.is_true(finalized >= 3)
         pcall(function() return await(reader:read()) end)
         pcall(function() writer:write("x"); await(writer:drain()) end)
         pcall(function() endpoint:send("x", "127.0.0.1", port) end)
         pcall(function() return await(asyncio.wait_for(endpoint:recv(), 0.01)) end)
         writer:close()
         endpoint:close()
         server:close()
         await(server:wait_closed())
      end)
   end)
end)
