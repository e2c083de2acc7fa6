# Fire and forget, with main done before the forgotten task (document 002):
# the task is left pending when the loop stops. The post shows the warning
# "Task was destroyed but it is pending!" it gets at exit (on stderr).
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
