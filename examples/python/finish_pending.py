# Fire and forget, then finish the tasks still pending when main is done
# (document 002). asyncio.Task.all_tasks() is asyncio.all_tasks(loop) since
# Python 3.9.
import asyncio


async def async_foo():
    print("async_foo started")
    await asyncio.sleep(1)
    print("async_foo done")


async def main():
    asyncio.ensure_future(async_foo())  # fire and forget

    print('Do some actions 1')
    await asyncio.sleep(0.1)
    print('Do some actions 2')


if __name__ == '__main__':
    loop = asyncio.get_event_loop()
    loop.run_until_complete(main())

    # Let's also finish all running tasks:
    pending = asyncio.all_tasks(loop)
    loop.run_until_complete(asyncio.gather(*pending))
