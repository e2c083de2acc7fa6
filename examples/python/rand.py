#!/usr/bin/env python3
# rand.py (document 003)
# The random module is replaced by a tiny generator (Park-Miller) that the Lua
# version repeats exactly, so both draw the same numbers; its seed is one that
# finishes in a few seconds.

import asyncio


class random:
    x = 97

    @classmethod
    def seed(cls, a):
        cls.x = a

    @classmethod
    def randint(cls, a, b):
        cls.x = cls.x * 48271 % 2147483647
        return a + cls.x % (b - a + 1)


# ANSI colors
c = (
    "\033[0m",   # End of color
    "\033[36m",  # Cyan
    "\033[91m",  # Red
    "\033[35m",  # Magenta
)

async def makerandom(idx: int, threshold: int = 6) -> int:
    print(c[idx + 1] + f"Initiated makerandom({idx}).")
    i = random.randint(0, 10)
    while i <= threshold:
        print(c[idx + 1] + f"makerandom({idx}) == {i} too low; retrying.")
        await asyncio.sleep(idx + 1)
        i = random.randint(0, 10)
    print(c[idx + 1] + f"---> Finished: makerandom({idx}) == {i}" + c[0])
    return i

async def main():
    res = await asyncio.gather(*(makerandom(i, 10 - i - 1) for i in range(3)))
    return res

if __name__ == "__main__":
    random.seed(97)
    r1, r2, r3 = asyncio.run(main())
    print()
    print(f"r1: {r1}, r2: {r2}, r3: {r3}")
