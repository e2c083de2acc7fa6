# A loop running forever in another thread, fed with
# run_coroutine_threadsafe (document 001). The document's program never ends
# (its thread runs forever); the futures of Zarten2 and Zarten3 are kept so
# that the last lines, added, can wait for them, stop the loop and join the
# thread.
import asyncio
from threading import Thread

def start_thread_loop(loop):
    asyncio.set_event_loop(loop)
    loop.run_forever()

async def thread_example(name):
    print('正在执行name:', name)
    await asyncio.sleep(1)
    return '返回结果:' + name

new_loop = asyncio.new_event_loop()
t = Thread(target= start_thread_loop, args=(new_loop,))
t.start()

future = asyncio.run_coroutine_threadsafe(thread_example('Zarten1'), new_loop)
print(future.result())

future2 = asyncio.run_coroutine_threadsafe(thread_example('Zarten2'), new_loop)

print('主线程不会阻塞')

future3 = asyncio.run_coroutine_threadsafe(thread_example('Zarten3'), new_loop)

print('继续运行中...')

future2.result()
future3.result()
new_loop.call_soon_threadsafe(new_loop.stop)
t.join()
