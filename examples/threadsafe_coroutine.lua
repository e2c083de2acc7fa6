-- A loop running forever in another thread, fed with
-- run_coroutine_threadsafe (document 001). The function runs as the body of
-- a task in the loop thread's own Lua state: it is copied there, so it may
-- use globals (require included) but no upvalues.

local asyncio = require("asyncio")

local function thread_example(name)
   local asyncio = require("asyncio")
   print('正在执行name: ' .. name)
   asyncio.await(asyncio.sleep(1))
   return '返回结果:' .. name
end

-- A new loop running forever in a new thread (Python: new_event_loop, then
-- a Thread whose target calls run_forever).
local new_loop = asyncio.start_loop_thread()

local future = new_loop:run_coroutine_threadsafe(thread_example, 'Zarten1')
print(future:result())

local future2 = new_loop:run_coroutine_threadsafe(thread_example, 'Zarten2')

print('主线程不会阻塞')

local future3 = new_loop:run_coroutine_threadsafe(thread_example, 'Zarten3')

print('继续运行中...')

-- The document's program never ends; here it waits for the last two, stops
-- the loop and joins its thread.
future2:result()
future3:result()
new_loop:stop()
new_loop:join()
