# lock.py (document 004)
# `with await lock` is `async with lock` since Python 3.7; Python 3.11 wants
# tasks, not coroutine objects, in asyncio.wait (the Lua version passes the
# coroutine objects).
import asyncio
import functools


def unlock(lock):
    print('callback releasing lock')
    lock.release()


async def test(locker, lock):
    print('{} waiting for the lock'.format(locker))
    async with lock:
        print('{} acquired lock'.format(locker))
    print('{} released lock'.format(locker))


async def main(loop):
    lock = asyncio.Lock()
    await lock.acquire()
    loop.call_later(0.1, functools.partial(unlock, lock))
    await asyncio.wait([loop.create_task(test('l1', lock)),
                        loop.create_task(test('l2', lock))])


loop = asyncio.get_event_loop()
loop.run_until_complete(main(loop))
loop.close()
