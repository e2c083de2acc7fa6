# Five tasks that sleep 2 seconds (document 000).
# The document lost the lines that run the loop; its output shows the order
# of asyncio.wait's set. Python 3.11 no longer accepts coroutine objects in
# asyncio.wait, so they are wrapped in tasks here (the Lua version passes the
# coroutine objects, which our wait wraps in list order).
import asyncio
import time
now = lambda: time.time()

async def dosomething(num):
    print('第 {} 任務,第一步'.format(num))
    await asyncio.sleep(2)
    print('第 {} 任務,第二步'.format(num))

if __name__ == "__main__":
    start = now()
    tasks = [dosomething(i) for i in range(5)]
    loop = asyncio.get_event_loop()
    loop.run_until_complete(asyncio.wait([asyncio.ensure_future(t) for t in tasks]))
    print('TIME: ', now() - start)
