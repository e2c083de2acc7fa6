# prioqueue.py: a PriorityQueue consumer whose fetches are limited by a
# Semaphore (document 004).
# The HTTP request is replaced by a short sleep that returns what httpbin
# would echo back (the query argument, as a string); random.sample is
# replaced by a tiny generator (Park-Miller) that the Lua version repeats
# exactly; `with (await sema)` is `async with sema` since Python 3.7.
import asyncio


class random:
    x = 444

    @classmethod
    def sample(cls, population, k):
        population = list(population)
        result = []
        for _ in range(k):
            cls.x = cls.x * 48271 % 2147483647
            result.append(population.pop(cls.x % len(population)))
        return result


NUMBERS = random.sample(range(100), 7)
URL = 'http://httpbin.org/get?a={}'
sema = asyncio.Semaphore(3)


async def fetch_async(a):
    await asyncio.sleep(0.1)  # stands in for GET URL.format(a)
    data = {'args': {'a': str(a)}}
    return data['args']['a']


async def collect_result(a):
    async with sema:
        return await fetch_async(a)


async def produce(queue):
    for num in NUMBERS:
        print('producing {}'.format(num))
        item = (num, num)
        await queue.put(item)


async def consume(queue):
    while 1:
        item = await queue.get()
        num = item[0]
        rs = await collect_result(num)
        print('consuming {}...'.format(rs))
        queue.task_done()


async def run():
    queue = asyncio.PriorityQueue()
    consumer = asyncio.ensure_future(consume(queue))
    await produce(queue)
    await queue.join()
    consumer.cancel()


loop = asyncio.get_event_loop()
loop.run_until_complete(run())
loop.close()
