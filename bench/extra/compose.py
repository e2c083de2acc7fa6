"""gather of N trivial coroutines, wait_for on N tasks that are about to
finish, one after the other, and cancel of N sleeping tasks (README.md).
Prints RESULT lines.

    python3 bench/extra/compose.py gather|wait_for|cancel [N] [asyncio|uvloop]
"""
import asyncio
import sys
import time

workload = sys.argv[1] if len(sys.argv) > 1 else "gather"
N = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else (200000 if workload == "gather" else 100000)
runtime = sys.argv[3] if len(sys.argv) > 3 else "uvloop"


async def trivial(i):
    return i


def report(dt):
    print(f"RESULT {workload} {runtime} n={N} total_ms={dt * 1e3:.1f} ns_per_op={dt / N * 1e9:.0f}")


async def gather():
    t0 = time.perf_counter()
    coros = [trivial(i) for i in range(1, N + 1)]
    results = await asyncio.gather(*coros)
    dt = time.perf_counter() - t0
    assert len(results) == N and results[-1] == N
    report(dt)


async def wait_for():
    t0 = time.perf_counter()
    total = 0
    for i in range(1, N + 1):
        total += await asyncio.wait_for(asyncio.create_task(trivial(i)), 10)
    dt = time.perf_counter() - t0
    assert total == N * (N + 1) // 2
    report(dt)


async def cancel():
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(asyncio.sleep(10)) for _ in range(N)]
    await asyncio.sleep(0)
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    dt = time.perf_counter() - t0
    assert isinstance(results[-1], asyncio.CancelledError)
    report(dt)


main = {"gather": gather, "wait_for": wait_for, "cancel": cancel}[workload]
if runtime == "uvloop":
    import uvloop
    uvloop.run(main()) if hasattr(uvloop, "run") else (uvloop.install(), asyncio.run(main()))
else:
    asyncio.run(main())
