# A Task shows how its coroutine is doing, before and after it ran (document 001).
import asyncio
async def coroutine_example():
    await asyncio.sleep(1)
    print('zhihu ID: Zarten')
coro = coroutine_example()
loop = asyncio.get_event_loop()
task = loop.create_task(coro)
print('运行情况:', task)
loop.run_until_complete(task)
print('再看下运行情况:', task)
loop.close()
