# asyncio.wait with FIRST_COMPLETED, then with a timeout (document 002).
# The random module is replaced by a tiny generator (Park-Miller) that the Lua
# version repeats exactly; the done sets are printed in sorted order (a set's
# order is undefined); Python 3.11 wants tasks, not coroutine objects, in
# asyncio.wait (the Lua version passes the coroutine objects).
import asyncio


class random:
    x = 444

    @classmethod
    def uniform(cls, a, b):
        cls.x = cls.x * 48271 % 2147483647
        return a + (b - a) * cls.x / 2147483647


async def coro(tag):
    print(">", tag)
    await asyncio.sleep(random.uniform(0.5, 5))
    print("<", tag)
    return tag


loop = asyncio.get_event_loop()

tasks = [loop.create_task(coro(i)) for i in range(1, 11)]

print("Get first result:")
finished, unfinished = loop.run_until_complete(
    asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED))

for result in sorted(task.result() for task in finished):
    print(result)
print("unfinished:", len(unfinished))

print("Get more results in 2 seconds:")
finished2, unfinished2 = loop.run_until_complete(
    asyncio.wait(unfinished, timeout=2))

for result in sorted(task.result() for task in finished2):
    print(result)
print("unfinished2:", len(unfinished2))

print("Get all other results:")
finished3, unfinished3 = loop.run_until_complete(asyncio.wait(unfinished2))

for result in sorted(task.result() for task in finished3):
    print(result)

loop.close()
