# ensure_future vs create_task vs plain coroutines (document 002, the
# question). The post switches variants by commenting lines out; here the
# first argument picks one: coro (the post's live line, the default),
# ensure_future or create_task.
import asyncio
import sys

async def doit(i):
    print("Start %d" % i)
    await asyncio.sleep(3)
    print("End %d" % i)
    return i

if __name__ == '__main__':
    variant = sys.argv[1] if len(sys.argv) > 1 else "coro"
    loop = asyncio.get_event_loop()
    if variant == "ensure_future":
        futures = [asyncio.ensure_future(doit(i), loop=loop) for i in range(10)]
    elif variant == "create_task":
        futures = [loop.create_task(doit(i)) for i in range(10)]
    else:
        futures = [doit(i) for i in range(10)]
    result = loop.run_until_complete(asyncio.gather(*futures))
    print(result)
