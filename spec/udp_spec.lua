-- UDP endpoints (API.md §9, open_datagram): send and recv both ways,
-- datagrams larger than the buffer, ICMP errors, cancellation, closing.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local helper = require("spec.helper")
local await = asyncio.await

local function bound(host, opts)
   opts = opts or {}
   opts.local_host = host or "127.0.0.1"
   opts.local_port = 0
   return await(asyncio.open_datagram(opts))
end

describe("datagram endpoints", function()
   it("send and receive both ways, with the sender's address", helper.async(function()
      local server = bound()
      local shost, sport = server:getsockname()
      assert.equal("127.0.0.1", shost)
      local client = await(asyncio.open_datagram({ remote_host = "127.0.0.1", remote_port = sport }))
      assert.equal(sport, select(2, client:getpeername()))
      client:send("ping")
      local data, host, port = await(server:recv())
      assert.equal("ping", data)
      assert.equal("127.0.0.1", host)
      assert.equal(select(2, client:getsockname()), port)
      server:send("pong", host, port)
      assert.equal("pong", await(client:recv()))
      -- an empty datagram is a datagram
      client:send("")
      assert.equal("", await(server:recv()))
      client:close()
      server:close()
   end))

   it("send from a connected endpoint only to its peer, as Python's sendto", helper.async(function()
      local a, b = bound(), bound()
      local _, aport = a:getsockname()
      local _, bport = b:getsockname()
      local client = await(asyncio.open_datagram({ remote_host = "127.0.0.1", remote_port = bport }))
      local ok, err = pcall(client.send, client, "x", "127.0.0.1", aport)
      assert.is_false(ok)
      assert.equal("Invalid address: must be nil or 127.0.0.1:" .. bport, err)
      client:send("to b", "127.0.0.1", bport) -- its peer, named: fine
      assert.equal("to b", (await(b:recv())))
      -- argument errors name the host and port arguments
      assert.has_error(function() a:send("x", "nope", 9) end,
         "bad argument #2 to 'send' (not a numeric address of that family)")
      assert.has_error(function() a:send("x", "127.0.0.1", 70000) end,
         "bad argument #3 to 'send' (port out of range)")
      a:close()
      b:close()
      client:close()
   end))

   it("keep datagrams whole and in order", helper.async(function()
      local a, b = bound(), bound()
      local _, bport = b:getsockname()
      for i = 1, 50 do
         a:send(("msg %d %s"):format(i, string.rep("d", i * 10)), "127.0.0.1", bport)
      end
      for i = 1, 50 do
         assert.equal(("msg %d %s"):format(i, string.rep("d", i * 10)), await(b:recv()))
      end
      a:close()
      b:close()
   end))

   it("report a datagram larger than the buffer instead of truncating it", helper.async(function()
      local small = bound(nil, { bufsize = 16 })
      local _, port = small:getsockname()
      local sender = bound()
      sender:send(string.rep("L", 100), "127.0.0.1", port)
      sender:send("fits", "127.0.0.1", port)
      local ok, err = pcall(await, small:recv())
      assert.is_false(ok)
      assert.is_true(asyncio.OSError:is(err))
      assert.equal("EMSGSIZE", err.code)
      assert.equal(100, err.size)
      assert.equal("fits", await(small:recv()))
      sender:close()
      small:close()
   end))

   it("work over IPv6 ::1", helper.async(function()
      local server = bound("::1")
      local _, port = server:getsockname()
      local client = await(asyncio.open_datagram({ remote_host = "::1", remote_port = port }))
      client:send("six")
      local data, host = await(server:recv())
      assert.equal("six", data)
      assert.equal("::1", host)
      client:close()
      server:close()
   end))

   it("on :: take IPv4 datagrams too, as Python's (not IPv6-only)", helper.async(function()
      local f = io.open("/proc/sys/net/ipv6/bindv6only")
      local v6only = f and f:read("n")
      if f then f:close() end
      if v6only ~= 0 then return end -- the system is not dual-stack by default
      local server = bound("::")
      local _, port = server:getsockname()
      local client = await(asyncio.open_datagram({ remote_host = "127.0.0.1", remote_port = port }))
      client:send("four")
      local data, host = await(asyncio.wait_for(server:recv(), 5))
      assert.equal("four", data)
      assert.equal("::ffff:127.0.0.1", host)
      -- and the IPv4 port is taken, as Python's bind finds it
      local err = helper.error_of(await, asyncio.open_datagram({ local_host = "0.0.0.0", local_port = port }))
      assert.equal("EADDRINUSE", err.code)
      client:close()
      server:close()
   end))

   it("raise ConnectionRefusedError after sending to a closed port", helper.async(function()
      local gone = bound()
      local _, port = gone:getsockname()
      gone:close()
      local client = await(asyncio.open_datagram({ remote_host = "127.0.0.1", remote_port = port }))
      client:send("anyone?")
      local ok, err = pcall(await, client:recv())
      assert.is_false(ok)
      assert.is_true(asyncio.ConnectionRefusedError:is(err), tostring(err))
      client:close()
   end))

   it("let a pending recv be cancelled, and return nil when closed", helper.async(function()
      local ep = bound()
      local _, port = ep:getsockname()
      local t = asyncio.create_task(ep:recv())
      await(asyncio.sleep(0.005))
      t:cancel()
      assert.is_false(pcall(await, t))
      assert.is_true(t:cancelled())
      local other = bound()
      other:send("after", "127.0.0.1", port)
      assert.equal("after", await(ep:recv()))
      local waiting = asyncio.create_task(ep:recv())
      await(asyncio.sleep(0.005))
      ep:close()
      assert.is_nil(await(waiting))
      assert.is_nil(await(ep:recv())) -- a recv begun after close too, as the reference says
      assert.is_true(ep:is_closing())
      assert.has_error(function() ep:send("x") end, "attempt to use a closed DatagramEndpoint ('send')")
      other:close()
   end))

   it("send what is queued before closing, as Python's transport flushes its buffer", helper.async(function()
      -- A UDP socket on loopback never fills up: a Unix datagram socket
      -- put under the endpoint does once its peer holds a few datagrams
      -- unread, so sends really queue and wait for the write watcher.
      local ep = bound()
      local mine, peer = core.socketpair("dgram")
      assert(core.fddup2(mine, ep:fileno()))
      core.fdclose(mine)
      local n = 2000
      for i = 1, n do ep:send("d" .. i) end
      ep:close()
      assert.is_true(ep:is_closing())
      assert.is_nil(await(ep:recv()))
      assert.has_error(function() ep:send("late") end,
         "attempt to use a closed DatagramEndpoint ('send')")
      local got = {}
      local function read_all()
         local d = core.fdread(peer)
         while d and d ~= "" do -- "": the endpoint's end closed
            got[#got + 1] = d
            d = core.fdread(peer)
         end
      end
      for _ = 1, 1000 do
         read_all()
         if ep:fileno() < 0 then break end
         await(asyncio.sleep(0))
      end
      read_all()
      assert.equal(-1, ep:fileno()) -- closed once the queue was out
      core.fdclose(peer)
      assert.equal(n, #got)
      assert.equal("d1", got[1])
      assert.equal("d" .. n, got[n])
   end))

   it("close every descriptor", helper.async(function()
      helper.full_gc()
      local before = core.open_fds()
      local function once() -- in a function of its own: no stale stack slots
         local a = bound()
         local b = await(asyncio.open_datagram({ remote_host = "127.0.0.1", remote_port = select(2, a:getsockname()) }))
         b:send("x")
         assert.equal("x", await(a:recv()))
         local t = asyncio.create_task(b:recv())
         await(asyncio.sleep(0))
         t:cancel()
         pcall(await, t)
         a:close()
         -- b is dropped: the collector closes it
      end
      for _ = 1, 10 do
         once()
      end
      -- the loop's own frame may hold the last task for an iteration or two
      await(asyncio.sleep(0))
      await(asyncio.sleep(0))
      helper.full_gc()
      assert.equal(before, core.open_fds())
   end))

   it("reject misuse naming the function and argument", helper.async(function()
      assert.has_error(function() asyncio.open_datagram(42) end,
         "bad argument #1 to 'open_datagram' (table or nil expected, got number)")
      assert.has_error(function() asyncio.open_datagram({ bufsize = 0 }) end,
         "bad argument #1 to 'open_datagram' (bufsize must be an integer from 1 to 16777216)")
      assert.has_error(function() asyncio.open_datagram({ bufsize = 1 << 25 }) end,
         "bad argument #1 to 'open_datagram' (bufsize must be an integer from 1 to 16777216)")
      local ep = bound()
      assert.has_error(function() ep:send({}) end)
      assert.has_error(function() ep:send("x", "not an address", 1) end)
      ep:close()
   end))
end)
