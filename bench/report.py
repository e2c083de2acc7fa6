#!/usr/bin/env python3
"""Medians of out/raw.txt as a terminal table, RESULTS.md and a PNG chart.

    python3 report.py [out/raw.txt [out/meta.json [RESULTS.md [results.png]]]]

run.py calls write_all() at the end of a run; running this file by hand
redraws the report of the last run (into out/ unless told otherwise).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))

LABELS = {"aio": "aio (us)", "asyncio": "asyncio", "uvloop": "uvloop", "node": "node",
          "cqueues": "cqueues", "luv": "luv", "c": "C"}

# The metric that stands for each workload (progress lines, chart).
MAIN_METRIC = {"spawn": "tasks_per_s", "switch": "ns_per_yield", "pingpong": "roundtrips_per_s",
               "timers": "wall_s", "queue": "items_per_s", "echo": "server_us_per_req",
               "floor": "resume_yield_ns"}

# Rows of the main table: workload, metric, label, which way is better
# ("higher", "lower", or None: no ratio makes sense), floor (see floor_value).
ROWS = [
    ("spawn", "tasks_per_s", "spawn: tasks/s", "higher", "lifecycle"),
    ("spawn", "bytes_per_task", "spawn: peak RSS bytes/task", "lower", None),
    ("switch", "ns_per_yield", "switch: ns/yield", "lower", "ev_resume"),
    ("polls", "switch_per_op", "switch: I/O polls per yield ³", None, None),
    ("pingpong", "roundtrips_per_s", "pingpong: round trips/s", "higher", None),
    ("polls", "pingpong_per_op", "pingpong: I/O polls per round trip ³", None, None),
    ("timers", "wall_s", "timers: wall s (ideal 1.0)", "lower", None),
    ("timers", "mean_late_ms", "timers: mean lateness ms", None, None),
    ("timers", "bytes_per_task", "timers: peak RSS bytes/task", "lower", None),
    ("queue", "items_per_s", "queue: items/s", "higher", None),
    ("echo", "server_us_per_req", "echo: server CPU µs/req", "lower", "c"),
    ("echo", "rps", "echo: req/s", "higher", "c"),
    ("echo", "p99_us", "echo: p99 latency µs", "lower", "c"),
]

FLOOR_METRICS = [
    ("resume_yield_ns", "lua_resume() from C + coroutine.yield(): one round trip"),
    ("lifecycle_ns", "lua_newthread + resume to completion of `return i`, GC included"),
    ("lifecycle_1y_ns", "the same with one yield first (2 resumes), one coroutine alive at a time"),
    ("alive_1y_ns", "the same with all of spawn's N coroutines alive at once, as `spawn` keeps them: the least a `spawn` task costs"),
    ("ev_iter_ns", "one libev loop iteration with an active ev_idle (epoll_wait with timeout 0)"),
    ("ev_resume_ns", "that iteration + its idle callback resuming a coroutine that yields: the least a `switch` yield costs"),
    ("lua_resume_yield_ns", "coroutine.resume/yield round trip driven from Lua"),
]

CHART_WORKLOADS = ["spawn", "switch", "pingpong", "timers", "queue", "echo"]
CHART_COLORS = {"aio": "#c0392b", "asyncio": "#3b6ea8", "uvloop": "#7aa6d6", "node": "#5b8c3a",
                "cqueues": "#b08d2e", "luv": "#7d5ba6", "c": "#555555"}


def load(path):
    """(workload, runtime) -> metric -> list of values, from RESULT lines."""
    data = defaultdict(lambda: defaultdict(list))
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "RESULT":
                for kv in parts[3:]:
                    k, v = kv.split("=", 1)
                    data[(parts[1], parts[2])][k].append(float(v))
    return data


def fmt(v):
    """A number in at most 4 significant characters plus a unit prefix."""
    if v is None:
        return "—"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f} M"
    if a >= 1e4:
        return f"{v / 1e3:.0f} k"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


class Results:
    def __init__(self, data, runtimes):
        self.data = data
        self.runtimes = list(runtimes)  # every runtime that ran, failed cells included

    def values(self, w, rt, m):
        return self.data.get((w, rt), {}).get(m, [])

    def median(self, w, rt, m):
        vals = self.values(w, rt, m)
        return statistics.median(vals) if vals else None

    def floor_value(self, kind, m):
        """The floor of a row: what a runtime cannot beat on this machine."""
        if kind == "lifecycle":
            # the floor of old runs, which did not measure alive_1y_ns
            ns = self.median("floor", "c", "alive_1y_ns") or self.median("floor", "c", "lifecycle_1y_ns")
            return 1e9 / ns if ns else None
        if kind == "ev_resume":
            return self.median("floor", "c", "ev_resume_ns")
        if kind == "c":
            return self.median("echo", "c", m)
        return None

    def row(self, w, m, better, floor_kind):
        """Medians of a row, its best peer, and aio's cost ratios to it and to the floor."""
        med = {rt: self.median(w, rt, m) for rt in self.runtimes}
        peers = [rt for rt in self.runtimes if rt != "aio" and med[rt] is not None]
        best = None
        if better and peers:
            best = (max if better == "higher" else min)(peers, key=lambda rt: med[rt])
        floor = self.floor_value(floor_kind, m) if floor_kind else None
        aio = med.get("aio")
        return {"med": med, "best": best, "floor": floor,
                "vs_best": cost_ratio(aio, med[best] if best else None, better),
                "vs_floor": cost_ratio(aio, floor, better)}


def cost_ratio(ours, theirs, better):
    """How many times more it costs us (time or memory): > 1 worse, < 1 better."""
    if ours is None or theirs is None or not better or ours <= 0 or theirs <= 0:
        return None
    return ours / theirs if better == "lower" else theirs / ours


def ratio_text(x):
    return "—" if x is None else f"{x:.2f}×"


def table(res):
    """Header and rows of the main table, as lists of cell strings."""
    with_aio = "aio" in res.runtimes
    head = ["workload: metric"] + [LABELS[rt] for rt in res.runtimes] + \
        (["best peer", "aio ÷ best ¹", "floor ²", "aio ÷ floor ¹"] if with_aio else ["best peer", "floor ²"])
    rows = []
    for w, m, label, better, floor_kind in ROWS:
        r = res.row(w, m, better, floor_kind)
        if all(v is None for v in r["med"].values()) and r["floor"] is None:
            continue
        cells = [label] + [fmt(r["med"][rt]) for rt in res.runtimes]
        if with_aio:
            cells += [r["best"] or "—", ratio_text(r["vs_best"]), fmt(r["floor"]), ratio_text(r["vs_floor"])]
        else:
            cells += [r["best"] or "—", fmt(r["floor"])]
        rows.append(cells)
    return head, rows


def terminal_table(head, rows):
    widths = [max(len(c[i]) for c in [head] + rows) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(cells))
    return "\n".join([line(head), "  ".join("-" * n for n in widths)] + [line(r) for r in rows])


def markdown_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def spread(vals):
    if not vals:
        return "—"
    s = fmt(statistics.median(vals))
    if len(vals) > 1:
        s += f" [{fmt(min(vals))}–{fmt(max(vals))}]"
    return s


def details(res, w):
    """Markdown table of every metric of workload w: median [min–max] per runtime."""
    rts = res.runtimes + (["c"] if w == "echo" and ("echo", "c") in res.data else [])
    rts = [rt for rt in rts if (w, rt) in res.data]
    if not rts:
        return None
    metrics = []
    for rt in rts:
        metrics += [m for m in res.data[(w, rt)] if m not in metrics]
    out = ["| metric | " + " | ".join(LABELS[rt] for rt in rts) + " |", "|---|" + "---:|" * len(rts)]
    for m in metrics:
        out.append(f"| {m} | " + " | ".join(spread(res.values(w, rt, m)) for rt in rts) + " |")
    return "\n".join(out)


def markdown(res, meta, head, rows, png_name):
    cfg, n = meta["config"], meta["n"]
    p = []
    kind = "quick (smoke) run" if meta["quick"] else "full run"
    p.append("# Benchmarks: asyncio for Lua beside its peers\n")
    p.append(f"Generated by `make bench{' QUICK=1' if meta['quick'] else ''}` ({kind}) on "
             f"{meta['machine']['date']}: every cell ran {meta['reps_done']} time(s) "
             f"({meta['seconds']} s in all); tables show **medians**. `aio` is this repository's library; "
             "the peers are the programs under `bench/peers/`, each doing the same work by the same "
             "algorithm (see *Method*).\n")
    p.append(f"![relative speed of each runtime per workload, and memory per task]({png_name})\n")
    p.append("## Results (median)\n")
    p.append(markdown_table(head, rows) + "\n")
    p.append("¹ Cost ratio of `aio` (time or memory it needs, relative): **below 1.00 `aio` is better**, "
             "2.00× means it needs twice the time per operation (or half the rate) of the best installed "
             "peer, or of the floor. No ratio for lateness (not a cost).\n")
    p.append("² *floor*: spawn = 10⁹ / `alive_1y_ns` (create N Lua coroutines and resume each to one yield, "
             "then resume each to its end, from C, no event loop, all N alive at once as spawn's tasks "
             "are); switch = `ev_resume_ns` (one libev iteration "
             "whose idle callback resumes a coroutine that yields back); echo = a plain C epoll echo "
             "server driven by the same client (`floor/echo_server.c`), i.e. about what the client can "
             "drive on this machine. See the floor table below.\n")
    if any(w == "polls" for w, _ in res.data):
        p.append("³ epoll_wait (and kin) calls per operation, counted once per run with `strace -f -c` on "
                 "switch (N=20 000) and pingpong (N=10 000). Every peer polls for I/O on each loop "
                 "iteration, so once per zero-delay yield; fewer polls per yield means the loop skips the "
                 "poll on some iterations, i.e. does less work per yield than the peers (the floor's "
                 "`ev_resume_ns` polls every time).\n")
    if "node" in res.runtimes:
        p.append("Node's pingpong and queue hand-offs resolve promises, which are V8 microtasks that never "
                 "enter the event loop (0 polls per round trip above); every other runtime takes a loop "
                 "iteration per hand-off. Where Node is the best peer of those rows, that is why.\n")
    p.append("*Peak memory per task* (`bytes/task`) = (peak RSS at the end − RSS before the tasks were "
             "made) / N, with all N tasks alive at once.\n")
    notes = []
    for name, why in meta["skipped"].items():
        notes.append(f"* **{name}** skipped: {why}.")
    for cell, why in meta["failed"].items():
        notes.append(f"* cell **{cell}** failed: {why} (its stderr is in `bench/out/run.log`).")
    for warning in meta.get("warnings", []):
        notes.append(f"* **warning**: {warning}.")
    if meta["reps_done"] < cfg["reps"]:
        notes.append(f"* stopped after {meta['reps_done']} of {cfg['reps']} repetitions "
                     f"(time budget {cfg['budget']} s).")
    if notes:
        p.append("### Skipped, failed, warnings\n")
        p.append("\n".join(notes) + "\n")

    fl = [(m, what) for m, what in FLOOR_METRICS if res.values("floor", "c", m)]
    if fl:
        p.append("## Floor: bare Lua 5.4 coroutines and libev, driven from C (`floor/floor.c`)\n")
        p.append("| metric | median [min–max] | what it measures |")
        p.append("|---|---:|---|")
        for m, what in fl:
            p.append(f"| {m} | {spread(res.values('floor', 'c', m))} | {what} |")
        p.append("")

    p.append("## Every metric (median [min–max])\n")
    p.append("`proc_wall_s` / `proc_cpu_s` / `proc_peak_rss_mb`: the whole process (interpreter start-up "
             "included, all threads), from wait4(). Echo: `server_cpu_pct` is the server's CPU use during "
             "the measured window (100 = one core), `server_us_per_req` its CPU time per request.\n")
    for w in ["spawn", "switch", "pingpong", "timers", "queue", "echo"]:
        d = details(res, w)
        if d:
            p.append(f"### {w}\n")
            p.append(d + "\n")

    p.append("## Machine and versions\n")
    p.append("```")
    for k, v in meta["machine"].items():
        p.append(f"{k}: {v}")
    p.append(f"params: reps={meta['reps_done']} N: " + " ".join(f"{w}={v}" for w, v in n.items()) +
             f" floor={meta['floor_n']}; echo: {meta['echo_conns']} connections, "
             f"{cfg['echo_secs']:g} s measured after {cfg['echo_warmup']:g} s warm-up"
             + (", server on CPU 0, client on CPU 1 (taskset)" if meta["pinned"] else ", unpinned"))
    if meta.get("background"):
        p.append("other work on the machine before each repetition (% of all CPUs, 1-s sample): "
                 + ", ".join("?" if x is None else f"{x}%" for x in meta["background"]))
    p.append("```\n")
    p.append(open(os.path.join(HERE, "METHOD.md")).read().strip() + "\n")
    return "\n".join(p)


def chart(res, meta, png_path):
    """Draw the PNG with gnuplot; returns an error text, or None."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot not installed (`make bench-deps` installs gnuplot-nox)"
    rts = res.runtimes
    if not rts:
        return "no results"
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    speed_dat, mem_dat = os.path.join(out_dir, "chart_speed.dat"), os.path.join(out_dir, "chart_mem.dat")
    header = "workload " + " ".join(f'"{LABELS[rt]}"' for rt in rts) + "\n"  # gnuplot column titles
    speed_rows = mem_rows = 0
    aio_drawn = any(res.median(w, "aio", MAIN_METRIC[w]) is not None for w in CHART_WORKLOADS)
    with open(speed_dat, "w") as f:  # relative speed: 1 = fastest runtime of this run
        f.write(header)
        for w in CHART_WORKLOADS:
            m = MAIN_METRIC[w]
            better = next(b for ww, mm, _, b, _ in ROWS if ww == w and mm == m)
            med = {rt: res.median(w, rt, m) for rt in rts}
            present = [v for v in med.values() if v]
            if not present:
                continue
            best = max(present) if better == "higher" else min(present)
            cells = ["-" if not v else f"{(v / best if better == 'higher' else best / v):.4f}" for v in med.values()]
            f.write(f"{w} " + " ".join(cells) + "\n")
            speed_rows += 1
    with open(mem_dat, "w") as f:
        f.write(header)
        for w in ["spawn", "timers"]:
            cells = [res.median(w, rt, "bytes_per_task") for rt in rts]
            if any(v is not None for v in cells):
                f.write(f"{w} " + " ".join("-" if v is None else f"{v:.0f}" for v in cells) + "\n")
                mem_rows += 1
    if not speed_rows:
        return "no results to draw"
    title = (f"{meta['machine']['date']}, {meta['reps_done']} repetition(s), medians"
             + (" (quick run: N/10)" if meta["quick"] else "")
             + ("" if aio_drawn else " — aio: no result"))
    colors = " ".join(CHART_COLORS[rt] for rt in rts)
    cmd = [gnuplot, "-e", f"speed='{speed_dat}'; mem='{mem_dat}'; out='{png_path}'; "
           f"n={len(rts)}; colors='{colors}'; subtitle='{title}'; with_mem={1 if mem_rows else 0}",
           os.path.join(HERE, "chart.gp")]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return "gnuplot failed: " + (p.stderr.strip().splitlines() or ["?"])[-1]
    return None


def write_all(raw_path, meta, md_path, png_path):
    res = Results(load(raw_path), meta["runtimes"])
    head, rows = table(res)
    print()
    print(terminal_table(head, rows))
    if "aio" in res.runtimes:
        print("¹ aio's cost ratio (time or memory): < 1 = aio better.  ² floor, ³ polls: see RESULTS.md")
    else:
        print("² floor, ³ polls: see RESULTS.md")
    fl = {m: res.median("floor", "c", m) for m, _ in FLOOR_METRICS}
    if fl["resume_yield_ns"] is not None:
        print("floor (ns): " + "  ".join(f"{m[:-3]}={fmt(v)}" for m, v in fl.items() if v is not None))
    for name, why in meta["skipped"].items():
        print(f"skipped {name}: {why}")
    for cell, why in meta["failed"].items():
        print(f"failed {cell}: {why}")
    for warning in meta.get("warnings", []):
        print(f"warning: {warning}")
    err = chart(res, meta, png_path)
    if err:
        print(f"SKIP chart: {err}")
    png_name = os.path.relpath(png_path, os.path.dirname(md_path))
    with open(md_path, "w") as f:
        f.write(markdown(res, meta, head, rows, png_name))
    print(f"wrote {os.path.relpath(md_path)}" + ("" if err else f" and {os.path.relpath(png_path)}"))


if __name__ == "__main__":
    out = os.path.join(HERE, "out")
    a = sys.argv[1:] + [None] * 4
    with open(a[1] or os.path.join(out, "meta.json")) as f:
        meta = json.load(f)
    write_all(a[0] or os.path.join(out, "raw.txt"), meta,
              a[2] or os.path.join(out, "RESULTS.md"), a[3] or os.path.join(out, "results.png"))
