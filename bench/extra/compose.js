// Promise.all over N trivial async calls, and N awaits of Promise.race
// between an async call and a timer, the timer cleared after (README.md).
// Prints RESULT lines.
//
//    node bench/extra/compose.js gather|wait_for [N]

const workload = process.argv[2] || "gather";
const N = Number(process.argv[3]) || (workload === "gather" ? 200000 : 100000);

async function trivial(i) {
  return i;
}

function report(dt) {
  console.log(`RESULT ${workload} node n=${N} total_ms=${(dt * 1e3).toFixed(1)} ns_per_op=${(dt / N * 1e9).toFixed(0)}`);
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

async function gather() {
  const t0 = now();
  const promises = new Array(N);
  for (let i = 0; i < N; i++) promises[i] = trivial(i + 1);
  const results = await Promise.all(promises);
  const dt = now() - t0;
  if (results.length !== N || results[N - 1] !== N) throw new Error("gather results");
  report(dt);
}

async function waitFor() {
  const t0 = now();
  let sum = 0;
  for (let i = 1; i <= N; i++) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), 10000);
    });
    sum += await Promise.race([trivial(i), timeout]);
    clearTimeout(timer);
  }
  const dt = now() - t0;
  if (sum !== N * (N + 1) / 2) throw new Error("wait_for results");
  report(dt);
}

(workload === "gather" ? gather : waitFor)();
