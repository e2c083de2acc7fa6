-- Calls every function a script can reach (asyncio.*, asyncio.core.*, the
-- methods and metamethods of live objects) with odd arguments, each call in
-- a plain coroutine or in a task of its own, and checks the process
-- survives: misuse must end in a Lua error, never a crash or a hang.
--
--   make fuzz                     (ASan build, seeds 1-8)
--   lua5.4 tools/fuzz.lua SEED [ROUNDS]
--
-- FUZZ_VERBOSE=1 names each call on stderr before making it, so the last
-- line before a crash names the culprit.
local asyncio = require("asyncio")
local core = require("asyncio.core")
local async, await = asyncio.async, asyncio.await

-- a seed that is no integer would run seed 1 while claiming another
local seed = math.tointeger(tonumber(arg[1] or 1))
  or error(("seed must be an integer, got '%s'"):format(arg[1]), 0)
local rounds = tonumber(arg[2]) or 5
local verbose = os.getenv("FUZZ_VERBOSE")
math.randomseed(seed)

-- Calls that would end the run, hang it on purpose or harm the machine.
local SKIP = {
   ["asyncio.run"] = true, ["asyncio.set_event_loop"] = true,
   ["core.spawn"] = true, ["core.kill"] = true, ["core.pipe_stream"] = true,
   ["core.fdclose"] = true, ["core.fdwrite"] = true, ["core.fdread"] = true,
   -- take whatever descriptor they are given, the fuzzer's own sockets too
   ["core.adopt_stream"] = true, ["core.listen_fd"] = true,
   -- stops the loop whose inbox id it is given: the driver's own, for 1
   ["core.thread_post_stop"] = true,
   ["loop:close"] = true, ["loop:run_forever"] = true, ["loop:stop"] = true,
   ["loop:run_until_complete"] = true,
}

-- Live objects of every kind, made inside the running loop.
local function live_objects()
   local loop = asyncio.get_running_loop()
   local server = await(asyncio.start_server(function(_, w)
      await(asyncio.sleep(0.05))
      w:close()
   end, "127.0.0.1", 0))
   local _, port = server:getsockname()
   local reader, writer = await(asyncio.open_connection("127.0.0.1", port))
   local process = await(asyncio.create_subprocess_exec("cat", {}, { stdin = asyncio.PIPE, stdout = asyncio.PIPE }))
   local objects = {
      loop = loop, server = server, reader = reader, writer = writer, process = process,
      endpoint = await(asyncio.open_datagram({ local_host = "127.0.0.1", local_port = 0 })),
      future = loop:create_future(), task = asyncio.create_task(asyncio.sleep(0.01)),
      handle = loop:call_soon(print), timer = loop:call_later(10, print),
      queue = asyncio.Queue(2), pqueue = asyncio.PriorityQueue(), lock = asyncio.Lock(),
      event = asyncio.Event(), condition = asyncio.Condition(), semaphore = asyncio.Semaphore(1),
      barrier = asyncio.Barrier(2), coro = asyncio.sleep(0.001), taskgroup = asyncio.TaskGroup(),
   }
   -- and the C objects they hold
   for _, name in ipairs({ "reader", "writer", "endpoint" }) do
      for i = 1, 6 do
         local v = debug.getuservalue(objects[name], i)
         if type(v) == "userdata" then objects[name .. "_uv" .. i] = v end
      end
   end
   return objects
end

local function targets_of(objects)
   local list, seen = {}, {}
   local function add(name, f, self)
      if type(f) == "function" and not seen[name] and not SKIP[name] then
         seen[name] = true
         list[#list + 1] = { name, f, self }
      end
   end
   for k, v in pairs(core) do
      add("core." .. tostring(k), v)
   end
   -- the loop's methods: its __index is a function, so they are found in
   -- the class table, called on the live loop
   for k, v in pairs(core.Loop) do
      add("loop:" .. tostring(k), v, objects.loop)
   end
   for k, v in pairs(asyncio) do
      add("asyncio." .. k, v)
      if type(v) == "table" then
         for k2, v2 in pairs(v) do add("asyncio." .. k .. "." .. tostring(k2), v2) end
      end
   end
   for oname, o in pairs(objects) do
      local mt = debug.getmetatable(o)
      if type(mt) == "table" then
         for k, v in pairs(mt) do add(oname .. "." .. tostring(k), v, o) end
         if type(rawget(mt, "__index")) == "table" then
            for k, v in pairs(mt.__index) do
               if k ~= "await" then add(oname .. ":" .. tostring(k), v, o) end
            end
         end
      end
      if type(o) == "table" then
         for k, v in pairs(o) do add(oname .. ":" .. tostring(k), v, o) end
      end
   end
   table.sort(list, function(a, b) return a[1] < b[1] end)
   return list
end

-- Sleeps, shrugging off cancellations: a fuzzed call may have armed a
-- timeout guard against the driving task itself.
local function pause(delay)
   local ok, err = pcall(await, asyncio.sleep(delay))
   if not ok then
      if not asyncio.CancelledError:is(err) then error(err, 0) end
      asyncio.current_task():uncancel()
   end
end

asyncio.run(async(function()
   local objects = live_objects()
   local values = { true, false, 0, -1, 1, 3, 2^31, 2^53, -2^63, 0/0, 1/0, 1.5, "", "x", "SIGTERM",
                    ("y"):rep(70000), {}, { 1, 2 }, print, coroutine.create(print), io.stdout,
                    async(print), async(print)(), setmetatable({}, { __index = function() error("index") end }) }
   for _, o in pairs(objects) do values[#values + 1] = o end
   local function anyvalue()
      if math.random(8) == 1 then return nil end
      return values[math.random(#values)]
   end
   local targets = targets_of(objects)
   for _ = 1, rounds do
      local tasks = {}
      for _, target in ipairs(targets) do
         local name, f, self = target[1], target[2], target[3]
         local n = math.random(0, 4)
         local args = { (self ~= nil and math.random(3) > 1) and self or anyvalue() }
         for i = 2, n + 1 do args[i] = anyvalue() end
         if verbose then io.stderr:write(name, " ", n + 1, "\n") end
         local function call() return f(table.unpack(args, 1, n + 1)) end
         if math.random(2) == 1 then
            coroutine.resume(coroutine.create(call))
         else
            -- a fuzzed call may have set a junk task factory: not for ours
            local factory = objects.loop:get_task_factory()
            objects.loop:set_task_factory(nil)
            local t = asyncio.create_task(call)
            objects.loop:set_task_factory(factory)
            t:add_done_callback(function(x) if not x:cancelled() then x:exception() end end)
            tasks[#tasks + 1] = t
         end
      end
      collectgarbage()
      pause(0)
      for _, t in ipairs(tasks) do t:cancel() end
      objects.loop:set_task_factory(nil)
      pause(0.01)
   end
   pcall(objects.process.kill, objects.process)
end))
print("fuzz: survived seed " .. seed)
