# Chaining three steps; gather collects the chains' results (document 000).
# The random module is replaced by a tiny generator (Park-Miller) that the Lua
# version repeats exactly, so both draw the same sleep times.
import asyncio
import time

now = lambda: time.time()


class random:
    x = 4444

    @classmethod
    def randint(cls, a, b):
        cls.x = cls.x * 48271 % 2147483647
        return a + cls.x % (b - a + 1)


# 任務一
async def step_one(num, n):
    time_sleep = random.randint(0, 1)
    print('Task {},step one, sleep {}'.format(n, time_sleep))
    await asyncio.sleep(time_sleep)
    print('Task {},step one, wakeup'.format(n))
    num += 1
    return num

# 任務二
async def step_two(num, n):
    time_sleep = random.randint(0, n)
    print('Task {},step two, sleep {}'.format(n, time_sleep))
    await asyncio.sleep(time_sleep)
    print('Task {},step two, wakeup'.format(n))
    num += 2
    return num

# 任務三
async def step_three(num, n):
    time_sleep = random.randint(0, n)
    print('Task {},step three, sleep {}'.format(n, time_sleep))
    await asyncio.sleep(time_sleep)
    print('Task {},step three, wakeup'.format(n))
    num += 3
    return [n, num]

# 任務調度
async def asyncio_chain(n):
    s1 = await step_one(n, n)
    s2 = await step_two(s1, n)
    s3 = await step_three(s2, n)
    return s3

# 收集任務結果
async def main():
    tasks = [asyncio_chain(n) for n in range(3)]
    result = await asyncio.gather(*tasks)
    print(result)

if __name__ == "__main__":
    start = now()
    asyncio.run(main())
    print('TIME: ', now() - start)
