#!/usr/bin/env python3
# asyncq.py (document 003)
# The random module and os.urandom are replaced by a tiny generator
# (Park-Miller) that the Lua version repeats exactly, so both draw the same
# numbers and items; the sleeps are tenths of the document's (0 to 1 second
# instead of 0 to 10).

import asyncio
import itertools as it
import time


class random:
    x = 389

    @classmethod
    def seed(cls, a):
        cls.x = a

    @classmethod
    def randint(cls, a, b):
        cls.x = cls.x * 48271 % 2147483647
        return a + cls.x % (b - a + 1)


async def makeitem(size: int = 5) -> str:
    return "".join(f"{random.randint(0, 255):02x}" for _ in range(size))

async def randsleep(caller=None) -> None:
    i = random.randint(0, 10) / 10
    if caller:
        print(f"{caller} sleeping for {i} seconds.")
    await asyncio.sleep(i)

async def produce(name: int, q: asyncio.Queue) -> None:
    n = random.randint(0, 10)
    for _ in it.repeat(None, n):  # Synchronous loop for each single producer
        await randsleep(caller=f"Producer {name}")
        i = await makeitem()
        t = time.perf_counter()
        await q.put((i, t))
        print(f"Producer {name} added <{i}> to queue.")

async def consume(name: int, q: asyncio.Queue) -> None:
    while True:
        await randsleep(caller=f"Consumer {name}")
        i, t = await q.get()
        now = time.perf_counter()
        print(f"Consumer {name} got element <{i}>"
              f" in {now-t:0.5f} seconds.")
        q.task_done()

async def main(nprod: int, ncon: int):
    q = asyncio.Queue()
    producers = [asyncio.create_task(produce(n, q)) for n in range(nprod)]
    consumers = [asyncio.create_task(consume(n, q)) for n in range(ncon)]
    await asyncio.gather(*producers)
    await q.join()  # Implicitly awaits consumers, too
    for c in consumers:
        c.cancel()

if __name__ == "__main__":
    import argparse
    random.seed(389)
    parser = argparse.ArgumentParser()
    parser.add_argument("-p", "--nprod", type=int, default=5)
    parser.add_argument("-c", "--ncon", type=int, default=10)
    ns = parser.parse_args()
    start = time.perf_counter()
    asyncio.run(main(**ns.__dict__))
    elapsed = time.perf_counter() - start
    print(f"Program completed in {elapsed:0.5f} seconds.")
