#!/usr/bin/env python3
"""Run every benchmark cell (workload x runtime) several times and report.

    python3 run.py            full run: 5 repetitions, 10 to 13 minutes
    python3 run.py --quick    smoke run: N/10, 2 repetitions, about 1 minute
    python3 run.py --runtimes aio,luv --workloads switch,spawn --reps 3

`make bench` (QUICK=1) at the repository root calls this through bench/Makefile,
which first builds the C programs into out/bin/. A runtime that is not
installed, or a cell that fails, is reported on one line and skipped; the run
goes on. Raw RESULT lines go to out/raw.txt, the programs' stderr to
out/run.log. The report (report.py) goes to the terminal and to RESULTS.md and
results.png: in bench/ for a full run of everything, in out/ otherwise.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import report

HERE = os.path.dirname(os.path.abspath(__file__))
# The checkout whose library the aio column measures: this one, unless AIO_ROOT names another.
ROOT = os.path.abspath(os.environ.get("AIO_ROOT") or os.path.dirname(HERE))
# Where the aio cells load the library from: ROOT itself, or with --snapshot a
# copy of its lua/ and build/asyncio/ taken when the run starts.
LIB = ROOT
OUT = os.path.join(HERE, "out")
SNAPSHOT = os.path.join(OUT, "aio-snapshot")
BIN = os.path.join(OUT, "bin")

WORKLOADS = ["spawn", "switch", "pingpong", "timers", "queue"]  # in-process; then echo
N = {"spawn": 200_000, "switch": 1_000_000, "pingpong": 500_000, "timers": 100_000, "queue": 1_000_000}
FLOOR_N = 1_000_000
RUNTIMES = ["aio", "asyncio", "uvloop", "node", "cqueues", "luv"]  # aio: this repository

FULL = dict(reps=5, scale=1, echo_secs=5.0, echo_warmup=1.0, cell_timeout=120, budget=750)
QUICK = dict(reps=2, scale=10, echo_secs=1.0, echo_warmup=0.5, cell_timeout=20, budget=105)
ECHO_CONNS = 100
BUSY = 15  # % of all CPUs used by other work above which a repetition is flagged as disturbed

PY = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else shutil.which("python3")
LUA = shutil.which("lua5.4")
NODE = shutil.which("node") or shutil.which("nodejs")


def say(*parts):
    print(*parts, flush=True)


# ---------------------------------------------------------------- runtimes

def aio_env():
    """Environment of the aio cells: the library from this checkout, nothing else."""
    env = {k: v for k, v in os.environ.items() if k not in ("LUA_PATH_5_4", "LUA_CPATH_5_4")}
    env["LUA_PATH"] = f"{LIB}/lua/?.lua;{LIB}/lua/?/init.lua;;"
    env["LUA_CPATH"] = f"{LIB}/build/?.so;;"
    return env


def command(rt, workload, arg):
    """(argv, env) running `workload` with argument `arg` (N, or the port of echo) on `rt`."""
    env = os.environ.copy()
    if rt == "aio":
        return [LUA, f"{HERE}/aio/bench.lua", workload, str(arg)], aio_env()
    if rt in ("asyncio", "uvloop"):
        return [PY, f"{HERE}/peers/python/bench.py", workload, str(arg), rt], env
    if rt == "node":
        return [NODE, f"{HERE}/peers/node/bench.js", workload, str(arg)], env
    if rt in ("cqueues", "luv"):
        return [LUA, f"{HERE}/peers/{rt}/bench.lua", workload, str(arg)], env
    if rt == "c":  # echo reference server only
        return [f"{BIN}/echo_server", str(arg)], env
    raise ValueError(rt)


def probe(argv, env=None):
    """Error text of a short check command, or None when it succeeds."""
    try:
        p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if p.returncode == 0:
        return None
    return error_text(p.stderr or p.stdout) or f"exit status {p.returncode}"


def error_text(output):
    """The message part of a program's error output, on one line (Lua tracebacks cut off)."""
    message = []
    for line in output.strip().splitlines():
        if line.strip() == "stack traceback:":
            break
        message.append(line.strip())
    return " ".join(message)[:240]


def why_missing(rt):
    """Why runtime `rt` cannot run here, or None."""
    hint = " (`make bench-deps` installs it)"
    if rt in ("aio", "cqueues", "luv") and not LUA:
        return "lua5.4 not found" + hint
    if rt == "aio":
        core = os.path.join(LIB, "build", "asyncio", "core.so")
        if not os.path.exists(core):
            return f"{os.path.relpath(core, LIB)} not found (run `make` at the repository root)"
        err = probe([LUA, "-e", 'require "asyncio"'], aio_env())
        return err and f"require 'asyncio' failed: {err}"
    if rt in ("asyncio", "uvloop"):
        if not PY:
            return "python3 not found" + hint
        if probe([PY, "-c", "import asyncio; asyncio.Runner"]):
            return f"{PY} is older than Python 3.11 (asyncio.Runner)"
        if rt == "uvloop" and probe([PY, "-c", "import uvloop"]):
            return f"uvloop not importable by {PY}" + hint
        return None
    if rt == "node":
        return None if NODE else "node not found" + hint
    if rt in ("cqueues", "luv"):
        return probe([LUA, "-e", f'require "{rt}"']) and f"Lua module '{rt}' not found" + hint
    raise ValueError(rt)


# ---------------------------------------------------------------- processes

class Cell:
    """Outcome of one program run: its RESULT fields, or why there are none."""

    def __init__(self, fields=None, error=None):
        self.fields, self.error = fields, error


def kill_group(pid, sig=signal.SIGKILL):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_program(argv, env, timeout, log, expect):
    """Run argv to completion (killing its process group after `timeout` s).

    `expect` is "WORKLOAD RUNTIME": the RESULT line must name them. Adds the
    whole process's wall time, CPU time (user + system, all threads) and peak
    RSS, from wait4().
    """
    log.write(f"=== {expect}: {' '.join(argv)}\n")
    log.flush()
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, start_new_session=True)
        except OSError as e:
            return Cell(error=str(e))
        timed_out = threading.Event()

        def expire():
            timed_out.set()
            kill_group(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): the cell must not outlive the run
            kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        kill_group(proc.pid)  # anything the program left behind
        wall = time.monotonic() - t0
        out.seek(0)
        stdout = out.read()
        err.seek(0)
        stderr = err.read()
    log.write(stderr)
    log.flush()
    line = next((l for l in stdout.splitlines() if l.startswith("RESULT ")), None)
    if timed_out.is_set():
        return Cell(error=f"timed out after {timeout} s")
    if proc.returncode != 0 or line is None:
        first = error_text(stderr)
        return Cell(error=f"exit status {proc.returncode}, {'no RESULT line' if line is None else 'after its RESULT line'}"
                    + (f": {first}" if first else ""))
    parts = line.split()
    if " ".join(parts[1:3]) != expect:
        return Cell(error=f"unexpected line: {line}")
    fields = dict(kv.split("=", 1) for kv in parts[3:])
    fields.update(proc_wall_s=f"{wall:.3f}", proc_cpu_s=f"{usage.ru_utime + usage.ru_stime:.3f}",
                  proc_peak_rss_mb=f"{usage.ru_maxrss / 1024:.1f}")
    return Cell(fields={k: float(v) for k, v in fields.items()})


POLL_SYSCALLS = "epoll_wait,epoll_pwait,epoll_pwait2,poll,ppoll,select,pselect6"
POLL_PROBE = {"switch": 20_000, "pingpong": 10_000}  # N of each probed workload


def count_polls(argv, env, timeout, log):
    """(number of I/O polling system calls argv makes, counted by strace, or None; error text)."""
    with tempfile.NamedTemporaryFile(mode="r") as counts, tempfile.TemporaryFile(mode="w+") as err:
        cmd = ["strace", "-f", "-c", "-e", f"trace={POLL_SYSCALLS}", "-o", counts.name] + argv
        log.write(f"=== polls: {' '.join(cmd)}\n")
        try:
            p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout} s"
        err.seek(0)
        text = err.read()
        log.write(text)
        log.flush()
        if p.returncode != 0:
            first = error_text(text)
            return None, f"exit status {p.returncode}" + (f": {first}" if first else "")
        total = [line.split() for line in counts.read().splitlines() if line.rstrip().endswith(" total")]
    # summary line: "100.00  seconds  usecs/call  calls  [errors]  total"
    return (int(total[0][3]) if total else 0), None


def background_load(seconds=1.0):
    """Share of all CPUs (percent) busy over `seconds` while this run runs nothing.

    The run itself keeps at most one CPU busy (two during echo), so anything
    measured here is other work on the machine, which disturbs the cells.
    """
    def sample():
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return sum(ticks), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return round(100 * (1 - (idle1 - idle0) / total)) if total > 0 else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when some socket listens on TCP `port` (read from /proc/net/tcp)."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def can_pin():
    """Whether the echo server and client can each have a CPU of their own."""
    return bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2


class Echo:
    """Runs echo servers pinned to CPU 0 against the load client on CPU 1."""

    def __init__(self, cfg, log):
        self.cfg, self.log = cfg, log
        self.client = os.path.join(BIN, "echo_client")
        self.pin = can_pin()

    def run(self, rt):
        port = free_port()
        argv, env = command(rt, "echo", port)
        pin = (lambda cpu: ["taskset", "-c", str(cpu)]) if self.pin else (lambda cpu: [])
        self.log.write(f"=== echo server {rt}: {' '.join(argv)}\n")
        with tempfile.TemporaryFile(mode="w+") as output:
            try:  # taskset execs the server: the pid is the server's own
                server = subprocess.Popen(pin(0) + argv, env=env, stdout=output, stderr=output,
                                          start_new_session=True)
            except OSError as e:
                return Cell(error=str(e))
            try:
                cell = self.drive(rt, server, port, pin)
            finally:
                kill_group(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    kill_group(server.pid)
                    server.wait()
            output.seek(0)
            text = output.read()
        self.log.write(text)
        self.log.flush()
        if cell.error:
            first = error_text(text)
            cell.error += f": {first}" if first else ""
        return cell

    def drive(self, rt, server, port, pin):
        """Wait for the server to listen, then run the client against it."""
        deadline = time.monotonic() + 10
        while not listening(port):
            if server.poll() is not None:
                return Cell(error=f"server exited with status {server.returncode} before listening")
            if time.monotonic() > deadline:
                return Cell(error="server not listening after 10 s")
            time.sleep(0.02)
        c = self.cfg
        client = pin(1) + [self.client, str(port), rt, str(ECHO_CONNS), str(c["echo_secs"]),
                           str(c["echo_warmup"]), str(server.pid)]
        cell = run_program(client, os.environ.copy(), c["echo_secs"] + c["echo_warmup"] + 20,
                           self.log, f"echo {rt}")
        if server.poll() is not None:
            return Cell(error=f"server exited with status {server.returncode} during the run")
        if cell.fields:  # the client's own process figures say nothing about the server
            cell.fields = {k: v for k, v in cell.fields.items() if not k.startswith("proc_")}
        return cell


# ---------------------------------------------------------------- machine

def sh(cmd):
    """First line of a shell command's output, or "?"."""
    try:
        p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20)
        out = (p.stdout or p.stderr).strip()
        return out.splitlines()[0] if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def dpkg_version(pkg):
    return sh(f"dpkg-query -W -f='${{Version}}' {pkg} 2>/dev/null") or "?"


def machine(runtimes):
    """Facts for the report header: host, and the version of every runtime run."""
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-")
    mem = sh("awk '/MemTotal/ {printf \"%.1f GiB\", $2 / 1048576}' /proc/meminfo")
    m = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
         "host": f"{os.cpu_count()} CPUs, {cpu}, {mem}",
         "kernel": f"{platform.system()} {platform.release()}",
         "gcc": sh("gcc -dumpfullversion"),
         "libev": dpkg_version("libev4")}
    if "aio" in runtimes:
        rev = sh(f"git -C {ROOT} rev-parse --short HEAD")
        dirty = sh(f"git --no-optional-locks -C {ROOT} status --porcelain --untracked-files=no | wc -l")
        core = os.path.join(LIB, "build", "asyncio", "core.so")
        built = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(os.path.getmtime(core)))
        m["aio"] = f"{ROOT}, git {rev}" + (f" + {dirty} modified file(s)" if dirty not in ("0", "?") else "") \
            + f", core.so built {built}" + (", run from a copy taken at the start" if LIB != ROOT else "")
    if LUA and {"aio", "cqueues", "luv"} & set(runtimes):
        m["lua"] = " ".join(sh(f"{LUA} -v").split()[:2]) + f" ({LUA})"
    if "asyncio" in runtimes or "uvloop" in runtimes:
        m["python"] = f"{sh(PY + ' -V')} ({PY})"
    if "uvloop" in runtimes:
        m["uvloop"] = sh(f"{PY} -c 'import uvloop, uvloop.loop as l; v = l.libuv_get_version(); "
                         f"print(uvloop.__version__, \"(libuv %d.%d.%d)\" % (v >> 16, v >> 8 & 255, v & 255))'")
    if "node" in runtimes:
        m["node"] = sh(f"{NODE} -p 'process.version + \" (libuv \" + process.versions.uv + \", V8 \" + process.versions.v8 + \")\"'")
    if "cqueues" in runtimes:
        m["cqueues"] = f"Debian lua-cqueues {dpkg_version('lua-cqueues')}"
    if "luv" in runtimes:
        libuv = sh(f"{LUA} -e 'print(require(\"luv\").version_string())'")
        m["luv"] = f"Debian lua-luv {dpkg_version('lua-luv')} (libuv {libuv})"
    return m


# ---------------------------------------------------------------- main

def describe(workload, fields):
    """Short progress text for one cell."""
    keys = [report.MAIN_METRIC[workload]] if workload in report.MAIN_METRIC else list(fields)
    return "  ".join(f"{k}={report.fmt(fields.get(k))}" for k in keys)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: N/10, 2 repetitions, 1-s echo windows")
    ap.add_argument("--reps", type=int, help="repetitions of every cell")
    ap.add_argument("--snapshot", action="store_true",
                    help="run the aio cells on a copy of lua/ and build/asyncio/ taken at the start")
    ap.add_argument("--runtimes", help="comma-separated subset of " + ",".join(RUNTIMES))
    ap.add_argument("--workloads", help="comma-separated subset of " + ",".join(WORKLOADS + ["echo", "floor"]))
    a = ap.parse_args()
    a.runtimes = a.runtimes.split(",") if a.runtimes else RUNTIMES
    a.workloads = a.workloads.split(",") if a.workloads else WORKLOADS + ["echo", "floor"]
    for name in a.runtimes:
        if name not in RUNTIMES:
            ap.error(f"unknown runtime '{name}'")
    for name in a.workloads:
        if name not in WORKLOADS + ["echo", "floor"]:
            ap.error(f"unknown workload '{name}'")
    return a


class Plan:
    """What a run will do: the runtimes and workloads that can run here, and what is skipped."""

    def __init__(self, args):
        self.skipped = {}  # name -> reason, for the report
        self.runtimes = []
        for rt in args.runtimes:
            why = why_missing(rt)
            if why:
                self.skip(rt, why)
            else:
                self.runtimes.append(rt)
        self.workloads = [w for w in args.workloads if w in WORKLOADS]
        self.floor = "floor" in args.workloads and self.tool("floor", "floor", ", liblua5.4-dev, libev-dev")
        self.echo_runtimes = []
        if "echo" in args.workloads and self.tool("echo", "echo_client"):
            self.echo_runtimes = self.runtimes + (["c"] if self.tool("echo C reference", "echo_server") else [])
            if not can_pin():
                say("NOTE echo: taskset or a second CPU is missing: server and client run unpinned")

    def skip(self, name, why):
        say(f"SKIP {name}: {why}")
        self.skipped[name] = why

    def tool(self, name, program, needs=""):
        """Whether the C helper `program` is built; says so when it is not."""
        if os.access(os.path.join(BIN, program), os.X_OK):
            return True
        self.skip(name, f"out/bin/{program} not built (needs gcc{needs}; `make -C bench tools` shows the error)")
        return False


class Runner:
    """Runs the cells of a plan, repetition after repetition, into raw.txt."""

    def __init__(self, plan, cfg, raw, log):
        self.plan, self.cfg, self.raw, self.log = plan, cfg, raw, log
        self.echo = Echo(cfg, log)
        self.failed = {}  # (workload, runtime) -> reason; not run again in later repetitions
        self.reps_done = 0
        self.background = []  # background CPU load (%) sampled before each repetition

    def record(self, workload, rt, cell):
        if cell.fields is None:
            self.failed[(workload, rt)] = cell.error
            say(f"  FAIL {workload} {rt}: {cell.error}; see out/run.log (not retried)")
            return
        self.raw.write(f"RESULT {workload} {rt} " + " ".join(f"{k}={v:g}" for k, v in cell.fields.items()) + "\n")
        self.raw.flush()
        say(f"  {workload:<9}{rt:<9}{describe(workload, cell.fields)}")

    def repetition(self, rep):
        """One run of every cell; even repetitions take the runtimes in reverse order."""
        turn = (lambda seq: seq) if rep % 2 else (lambda seq: seq[::-1])
        scale, timeout = self.cfg["scale"], self.cfg["cell_timeout"]
        for w in self.plan.workloads:
            for rt in turn(self.plan.runtimes):
                if (w, rt) not in self.failed:
                    argv, env = command(rt, w, N[w] // scale)
                    self.record(w, rt, run_program(argv, env, timeout, self.log, f"{w} {rt}"))
        if self.plan.floor and ("floor", "c") not in self.failed:
            argv = [os.path.join(BIN, "floor"), str(FLOOR_N // scale), str(N["spawn"] // scale)]
            self.record("floor", "c", run_program(argv, os.environ.copy(), timeout, self.log, "floor c"))
        for rt in turn(self.plan.echo_runtimes):
            if ("echo", rt) not in self.failed:
                self.record("echo", rt, self.echo.run(rt))

    def probe_polls(self):
        """Once per run: I/O polls per operation of switch and pingpong, for every runtime.

        Every peer polls for I/O (one epoll_wait) on each loop iteration, so
        one per zero-delay yield; a runtime that polls less often does less
        work per yield, which the table should show next to its speed.
        """
        if not shutil.which("strace"):
            self.plan.skip("poll counts", "strace not installed (`make bench-deps` installs it)")
            return
        say("--- I/O polls per operation (strace, once)")
        for rt in self.plan.runtimes:
            fields = {}
            for w, n in POLL_PROBE.items():
                if w in self.plan.workloads and (w, rt) not in self.failed:
                    argv, env = command(rt, w, n)
                    calls, error = count_polls(argv, env, self.cfg["cell_timeout"], self.log)
                    if error:
                        say(f"  FAIL polls {rt} {w}: {error}; see out/run.log")
                        self.failed[(f"polls ({w})", rt)] = error
                    else:
                        fields[f"{w}_per_op"] = calls / n
            if fields:
                self.record("polls", rt, Cell(fields=fields))

    def run(self):
        """All repetitions, or as many as fit in the time budget."""
        reps, budget = self.cfg["reps"], self.cfg["budget"]
        start = time.monotonic()
        for rep in range(1, reps + 1):
            rep_start = time.monotonic()
            load = background_load()
            self.background.append(load)
            say(f"--- repetition {rep}/{reps} ({rep_start - start:.0f} s elapsed; "
                f"other work on the machine: {'?' if load is None else load}% of all CPUs)")
            if load is not None and load > BUSY:
                say(f"WARNING the machine is busy with other work ({load}% of all CPUs): "
                    "this repetition will be disturbed")
            self.repetition(rep)
            self.reps_done = rep
            now = time.monotonic()
            if rep < reps and (now - start) + (now - rep_start) > budget:
                say(f"STOP after repetition {rep} of {reps}: one more (~{now - rep_start:.0f} s) would pass "
                    f"the time budget of {budget} s")
                break
        self.probe_polls()
        return round(time.monotonic() - start)


def take_snapshot():
    """Copy ROOT's lua/ and build/asyncio/ into out/aio-snapshot/ and load the library from there.

    In a work tree where others rebuild the library while a run goes on, this
    keeps every aio cell of the run on the same build.
    """
    global LIB
    shutil.rmtree(SNAPSHOT, ignore_errors=True)
    try:
        shutil.copytree(os.path.join(ROOT, "lua"), os.path.join(SNAPSHOT, "lua"))
        shutil.copytree(os.path.join(ROOT, "build", "asyncio"), os.path.join(SNAPSHOT, "build", "asyncio"))
    except OSError as e:
        say(f"NOTE aio: no snapshot ({e}); the library is loaded from {ROOT}")
        return
    LIB = SNAPSHOT
    say(f"aio: library copied from {ROOT} into out/aio-snapshot/ for this run")


def main():
    args = parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    if args.reps:
        cfg["reps"] = args.reps
    say(f"bench: {'quick' if args.quick else 'full'} run, {cfg['reps']} repetitions, "
        f"N/{cfg['scale']}, echo {cfg['echo_secs']:g} s + {cfg['echo_warmup']:g} s warm-up; "
        f"time budget {cfg['budget']} s")
    if args.snapshot and "aio" in args.runtimes:
        take_snapshot()
    plan = Plan(args)
    meta = {"quick": args.quick, "config": cfg, "runtimes": plan.runtimes, "skipped": plan.skipped,
            "n": {w: N[w] // cfg["scale"] for w in WORKLOADS}, "floor_n": FLOOR_N // cfg["scale"],
            "echo_conns": ECHO_CONNS, "machine": machine(plan.runtimes), "pinned": can_pin()}
    os.makedirs(OUT, exist_ok=True)
    raw_path = os.path.join(OUT, "raw.txt")
    core = os.path.join(LIB, "build", "asyncio", "core.so")
    core_mtime = os.path.getmtime(core) if "aio" in plan.runtimes else None
    with open(raw_path, "w") as raw, open(os.path.join(OUT, "run.log"), "w") as log:
        runner = Runner(plan, cfg, raw, log)
        meta["seconds"] = runner.run()
    meta["warnings"] = []
    if core_mtime is not None and (not os.path.exists(core) or os.path.getmtime(core) != core_mtime):
        meta["warnings"].append("build/asyncio/core.so was rebuilt during the run: "
                                "the aio cells did not all measure the same build")
        say(f"WARNING {meta['warnings'][-1]}")
    meta["reps_done"] = runner.reps_done
    meta["background"] = runner.background
    busy = [x for x in runner.background if x is not None and x > BUSY]
    if busy:
        meta["warnings"].append(f"other work kept the machine busy before {len(busy)} of "
                                f"{len(runner.background)} repetitions (up to {max(busy)}% of all CPUs): "
                                "those numbers are disturbed; echo suffers most (see server_cpu_pct)")
        say(f"WARNING {meta['warnings'][-1]}")
    meta["failed"] = {f"{w} {rt}": why for (w, rt), why in runner.failed.items()}
    say(f"--- done in {meta['seconds']} s")
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)

    # Only a full run of everything on this checkout replaces the committed report.
    complete = (not args.quick and not args.reps and not os.environ.get("AIO_ROOT")
                and args.runtimes == RUNTIMES and len(args.workloads) == len(WORKLOADS) + 2)
    dest = HERE if complete else OUT
    report.write_all(raw_path, meta, os.path.join(dest, "RESULTS.md"), os.path.join(dest, "results.png"))


def on_sigterm(signum, frame):
    raise KeyboardInterrupt  # unwinds through the cleanup of the running cell


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        main()
    except KeyboardInterrupt:
        say("bench: interrupted")
        sys.exit(130)
