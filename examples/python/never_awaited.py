# The question of "fire and forget" (document 002): calling an async function
# without awaiting it runs nothing, it only makes a coroutine object (Python
# warns on stderr that it was never awaited). The program prints nothing.


async def async_foo():
    print("Do some stuff asynchronously here...")

def bar():
    async_foo()  # fire and forget "async_foo()"

bar()
