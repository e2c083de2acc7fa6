# At most three fetches at a time under a Semaphore (document 004).
# The HTTP request is replaced by a short sleep that returns what httpbin
# would echo back (the query argument, as a string); `with (await sema)` is
# `async with sema` since Python 3.7; Python 3.11 wants tasks, not coroutine
# objects, in asyncio.wait (the Lua version passes the coroutine objects).
import asyncio

NUMBERS = range(12)
URL = 'http://httpbin.org/get?a={}'
sema = asyncio.Semaphore(3)


async def fetch_async(a):
    await asyncio.sleep(0.1)  # stands in for GET URL.format(a)
    data = {'args': {'a': str(a)}}
    return data['args']['a']


async def print_result(a):
    async with sema:
        r = await fetch_async(a)
        print('fetch({}) = {}'.format(a, r))


loop = asyncio.get_event_loop()
f = asyncio.wait([loop.create_task(print_result(num)) for num in NUMBERS])
loop.run_until_complete(f)
