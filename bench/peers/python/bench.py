"""The benchmark workloads on Python asyncio, with its default loop or uvloop.

    python3 bench.py spawn|switch|pingpong|timers|queue N asyncio|uvloop
    python3 bench.py echo PORT asyncio|uvloop    (echo server, streams API)

Prints one RESULT line; bench/README.md describes the workloads. Run with
Debian's python3, which has python3-uvloop.
"""
import asyncio
import sys
import time

now = time.perf_counter  # monotonic, high resolution


def mem():
    """(VmRSS, VmHWM) of this process, in bytes."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def lcg():
    """Park-Miller "minimal standard" delays in [0, 999] ms, seed 42 (as every runtime)."""
    x = 42
    while True:
        x = x * 48271 % 2147483647
        yield x * 1000 // 2147483647


def result(workload, runtime, **fields):
    print("RESULT", workload, runtime, " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


async def spawn(n, rt):
    async def work(i):
        await asyncio.sleep(0)
        return i

    rss0, _ = mem()
    t0 = now()
    tasks = [asyncio.create_task(work(i)) for i in range(1, n + 1)]
    results = await asyncio.gather(*tasks)
    dt = now() - t0
    assert sum(results) == n * (n + 1) // 2, "sum of task results"
    _, hwm = mem()
    result("spawn", rt, tasks_per_s=f"{n / dt:.0f}", peak_rss_mb=f"{hwm / 2**20:.1f}",
           bytes_per_task=f"{(hwm - rss0) / n:.0f}")


async def switch(n, rt):
    t0 = now()
    for _ in range(n):
        await asyncio.sleep(0)
    dt = now() - t0
    result("switch", rt, ns_per_yield=f"{dt / n * 1e9:.0f}")


async def pingpong(n, rt):
    async def ping(a2b, b2a):
        v = 0
        for _ in range(n):
            await a2b.put(v)
            v = await b2a.get()
        return v

    async def pong(a2b, b2a):
        for _ in range(n):
            await b2a.put(await a2b.get() + 1)

    a2b, b2a = asyncio.Queue(maxsize=1), asyncio.Queue(maxsize=1)
    t0 = now()
    v, _ = await asyncio.gather(asyncio.create_task(ping(a2b, b2a)),
                                asyncio.create_task(pong(a2b, b2a)))
    dt = now() - t0
    assert v == n, "final ping value"
    result("pingpong", rt, roundtrips_per_s=f"{n / dt:.0f}", ns_per_roundtrip=f"{dt / n * 1e9:.0f}")


async def timers(n, rt):
    max_late, min_late, sum_late = float("-inf"), float("inf"), 0.0

    async def sleeper(ms):
        nonlocal max_late, min_late, sum_late
        start = now()
        await asyncio.sleep(ms / 1000)
        late = now() - start - ms / 1000
        sum_late += late
        max_late = max(max_late, late)
        min_late = min(min_late, late)

    delays = lcg()
    rss0, _ = mem()
    t0 = now()
    tasks = [asyncio.create_task(sleeper(next(delays))) for _ in range(n)]
    await asyncio.gather(*tasks)
    wall = now() - t0
    _, hwm = mem()
    result("timers", rt, wall_s=f"{wall:.3f}", max_late_ms=f"{max_late * 1e3:.2f}",
           mean_late_ms=f"{sum_late / n * 1e3:.2f}", min_late_ms=f"{min_late * 1e3:.2f}",
           bytes_per_task=f"{(hwm - rss0) / n:.0f}", peak_rss_mb=f"{hwm / 2**20:.1f}")


async def queue(n, rt):
    consumers = 4

    async def producer(q):
        for i in range(1, n + 1):
            await q.put(i)
        for _ in range(consumers):
            await q.put(-1)  # one end marker per consumer

    async def consumer(q):
        total = 0
        while True:
            v = await q.get()
            if v < 0:
                return total
            total += v

    q = asyncio.Queue(maxsize=100)
    t0 = now()
    tasks = [asyncio.create_task(producer(q))]
    tasks += [asyncio.create_task(consumer(q)) for _ in range(consumers)]
    results = await asyncio.gather(*tasks)
    dt = now() - t0
    assert sum(results[1:]) == n * (n + 1) // 2, "sum of consumed items"
    result("queue", rt, items_per_s=f"{n / dt:.0f}")


async def echo(port, rt):
    async def serve(reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()  # returns at once below the high-water mark
        except ConnectionError:
            pass
        writer.close()

    # asyncio and uvloop both set TCP_NODELAY on the sockets they accept
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


WORKLOADS = {f.__name__: f for f in (spawn, switch, pingpong, timers, queue, echo)}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in WORKLOADS or sys.argv[3] not in ("asyncio", "uvloop"):
        sys.exit(f"usage: {sys.argv[0]} spawn|switch|pingpong|timers|queue N | echo PORT  asyncio|uvloop")
    workload, n, rt = WORKLOADS[sys.argv[1]], int(sys.argv[2]), sys.argv[3]
    if rt == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(workload(n, rt))


if __name__ == "__main__":
    main()
