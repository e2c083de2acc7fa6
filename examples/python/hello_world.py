# run_until_complete, then the Python 3.7+ asyncio.run (document 000).
# The document lost the argument; 1 and 2 are used here.
import asyncio

async def hello_world(x):
    print('hello_world x' + str(x))
    await asyncio.sleep(x)

loop = asyncio.get_event_loop()
loop.run_until_complete(hello_world(1))
loop.close()

asyncio.run(hello_world(2))
