-- A loop running forever in another thread, fed with call_soon_threadsafe
-- (document 001). The callback runs in the loop thread's own Lua state: it
-- is copied there, so it may use globals but no upvalues.

local asyncio = require("asyncio")

local function thread_example(name)
   print('正在执行name: ' .. name)
   return '返回结果:' .. name
end

-- A new loop running forever in a new thread (Python: new_event_loop, then
-- a Thread whose target calls run_forever).
local new_loop = asyncio.start_loop_thread()

local handle = new_loop:call_soon_threadsafe(thread_example, 'Zarten1')
handle:cancel()

new_loop:call_soon_threadsafe(thread_example, 'Zarten2')

print('主线程不会阻塞')

new_loop:call_soon_threadsafe(thread_example, 'Zarten3')

print('继续运行中...')

-- The document's program never ends; here the loop stops and its thread is
-- joined.
new_loop:stop()
new_loop:join()
