# asyncio.wait over a list of coroutine objects (document 001).
# Python 3.11 no longer accepts coroutine objects in asyncio.wait, so they are
# wrapped in tasks here (the Lua version passes the coroutine objects, which
# our wait wraps in list order).
import asyncio

async def coroutine_example(name):
    print('正在执行name:', name)
    await asyncio.sleep(1)
    print('执行完毕name:', name)

loop = asyncio.get_event_loop()
tasks = [coroutine_example('Zarten_' + str(i)) for i in range(3)]
wait_coro = asyncio.wait([loop.create_task(t) for t in tasks])
loop.run_until_complete(wait_coro)
loop.close()
