'use strict';
// The benchmark workloads on Node.js (async functions and promises).
//   node bench.js spawn|switch|pingpong|timers|queue N
//   node bench.js echo PORT        (echo server, one async function per connection)
// Prints one RESULT line; bench/README.md describes the workloads.
//
// Note: a promise resolution is a V8 microtask that never enters the libuv
// loop, so queue hand-offs (pingpong, queue) cost no loop iteration here,
// unlike in every other runtime. Zero-delay yields use setImmediate, which
// does go through the loop.
const fs = require('fs');
const net = require('net');
const { once } = require('events');

const now = () => performance.now() / 1000; // monotonic seconds

// [VmRSS, VmHWM] of this process, in bytes.
function mem() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key) => Number(status.match(new RegExp(key + ':\\s*(\\d+)'))[1]) * 1024;
  return [kb('VmRSS'), kb('VmHWM')];
}

// Park-Miller "minimal standard" delays in [0, 999] ms, seed 42 (as every runtime).
function lcg() {
  let x = 42;
  return () => {
    x = (x * 48271) % 2147483647; // < 2^47: exact in a double
    return Math.floor((x * 1000) / 2147483647);
  };
}

function result(workload, fields) {
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${v}`);
  console.log(['RESULT', workload, 'node', ...kv].join(' '));
}

function check(cond, what) {
  if (!cond) throw new Error('result check failed: ' + what);
}

const yield0 = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000)); // setTimeout(0) means 1 ms

// Bounded queue with the algorithm of Python's asyncio.Queue: put waits while
// full, get while empty; each side wakes the first waiter of the other side.
class Queue {
  constructor(maxsize) {
    this.maxsize = maxsize;
    this.items = [];
    this.getters = [];
    this.putters = [];
  }

  async put(item) {
    while (this.items.length >= this.maxsize) await new Promise((r) => this.putters.push(r));
    this.items.push(item);
    const getter = this.getters.shift();
    if (getter) getter();
  }

  async get() {
    while (this.items.length === 0) await new Promise((r) => this.getters.push(r));
    const item = this.items.shift();
    const putter = this.putters.shift();
    if (putter) putter();
    return item;
  }
}

const workloads = {
  async spawn(n) {
    const work = async (i) => {
      await yield0();
      return i;
    };
    const [rss0] = mem();
    const t0 = now();
    const tasks = [];
    for (let i = 1; i <= n; i++) tasks.push(work(i));
    const results = await Promise.all(tasks);
    const dt = now() - t0;
    check(results.reduce((a, b) => a + b, 0) === (n * (n + 1)) / 2, 'sum of task results');
    const [, hwm] = mem();
    result('spawn', { tasks_per_s: (n / dt).toFixed(0), peak_rss_mb: (hwm / 2 ** 20).toFixed(1),
      bytes_per_task: ((hwm - rss0) / n).toFixed(0) });
  },

  async switch(n) {
    const t0 = now();
    for (let i = 0; i < n; i++) await yield0();
    const dt = now() - t0;
    result('switch', { ns_per_yield: ((dt / n) * 1e9).toFixed(0) });
  },

  async pingpong(n) {
    const ping = async (a2b, b2a) => {
      let v = 0;
      for (let i = 0; i < n; i++) {
        await a2b.put(v);
        v = await b2a.get();
      }
      return v;
    };
    const pong = async (a2b, b2a) => {
      for (let i = 0; i < n; i++) await b2a.put((await a2b.get()) + 1);
    };
    const a2b = new Queue(1), b2a = new Queue(1);
    const t0 = now();
    const [v] = await Promise.all([ping(a2b, b2a), pong(a2b, b2a)]);
    const dt = now() - t0;
    check(v === n, 'final ping value');
    result('pingpong', { roundtrips_per_s: (n / dt).toFixed(0), ns_per_roundtrip: ((dt / n) * 1e9).toFixed(0) });
  },

  async timers(n) {
    let maxLate = -Infinity, minLate = Infinity, sumLate = 0;
    const sleeper = async (ms) => {
      const start = now();
      await sleep(ms / 1000);
      const late = now() - start - ms / 1000;
      sumLate += late;
      if (late > maxLate) maxLate = late;
      if (late < minLate) minLate = late;
    };
    const delay = lcg();
    const [rss0] = mem();
    const t0 = now();
    const tasks = [];
    for (let i = 0; i < n; i++) tasks.push(sleeper(delay()));
    await Promise.all(tasks);
    const wall = now() - t0;
    const [, hwm] = mem();
    result('timers', { wall_s: wall.toFixed(3), max_late_ms: (maxLate * 1e3).toFixed(2),
      mean_late_ms: ((sumLate / n) * 1e3).toFixed(2), min_late_ms: (minLate * 1e3).toFixed(2),
      bytes_per_task: ((hwm - rss0) / n).toFixed(0), peak_rss_mb: (hwm / 2 ** 20).toFixed(1) });
  },

  async queue(n) {
    const consumers = 4;
    const producer = async (q) => {
      for (let i = 1; i <= n; i++) await q.put(i);
      for (let i = 0; i < consumers; i++) await q.put(-1); // one end marker per consumer
    };
    const consumer = async (q) => {
      let sum = 0;
      for (;;) {
        const v = await q.get();
        if (v < 0) return sum;
        sum += v;
      }
    };
    const q = new Queue(100);
    const t0 = now();
    const tasks = [producer(q)];
    for (let i = 0; i < consumers; i++) tasks.push(consumer(q));
    const results = await Promise.all(tasks);
    const dt = now() - t0;
    check(results.slice(1).reduce((a, b) => a + b, 0) === (n * (n + 1)) / 2, 'sum of consumed items');
    result('queue', { items_per_s: (n / dt).toFixed(0) });
  },

  async echo(port) {
    const serve = async (sock) => {
      sock.setNoDelay(true);
      sock.on('error', () => {}); // resets when the client stops are expected
      try {
        for await (const chunk of sock) {
          if (!sock.write(chunk)) await once(sock, 'drain');
        }
      } catch (e) {
        // connection reset
      }
      sock.destroy();
    };
    net.createServer(serve).listen({ host: '127.0.0.1', port, backlog: 1024 });
  },
};

const [workload, arg] = process.argv.slice(2);
if (!workloads[workload] || !(Number(arg) > 0)) {
  console.error('usage: node bench.js spawn|switch|pingpong|timers|queue N | echo PORT');
  process.exit(64);
}
workloads[workload](Number(arg)).catch((e) => {
  console.error(e);
  process.exit(1);
});
