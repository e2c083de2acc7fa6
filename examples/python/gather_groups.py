# Groups of gathers, gathered (document 002).
# The random module is replaced by a tiny generator (Park-Miller) that the Lua
# version repeats exactly.
import asyncio
from pprint import pprint


class random:
    x = 444

    @classmethod
    def uniform(cls, a, b):
        cls.x = cls.x * 48271 % 2147483647
        return a + (b - a) * cls.x / 2147483647


async def coro(tag):
    print(">", tag)
    await asyncio.sleep(random.uniform(1, 3))
    print("<", tag)
    return tag


loop = asyncio.get_event_loop()

group1 = asyncio.gather(*[coro("group 1.{}".format(i)) for i in range(1, 6)])
group2 = asyncio.gather(*[coro("group 2.{}".format(i)) for i in range(1, 4)])
group3 = asyncio.gather(*[coro("group 3.{}".format(i)) for i in range(1, 10)])

all_groups = asyncio.gather(group1, group2, group3)

results = loop.run_until_complete(all_groups)

loop.close()

pprint(results)
