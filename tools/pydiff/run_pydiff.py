"""Runs gen.py's programs in CPython and in our Lua asyncio and compares
what they print: a differential test of ordering and semantics.

    python3 tools/pydiff/run_pydiff.py [--python PY] [--seeds A-B] [--timed]
                                      [--loop | --streams | --procs]
                                      [--keep DIR] [--record]

Run from the repository root after `make`. PY is a CPython of 3.13 or
later (eager tasks, 3.12's wait_for and 3.13's Queue.shutdown are in the programs); the
default is `python3`. A seed whose outputs differ is reported, and its two
programs and outputs are kept in DIR (default /tmp/pydiff). --loop runs
loopgen.py's programs (callbacks and timers driving the loop from outside)
instead of gen.py's (tasks inside asyncio.run); --streams streamgen.py's
(a client reading what a server writes over TCP), --procs procgen.py's
(children of /bin/sh talked to through pipes); those two are not recorded. Programs that
deadlock (a task waits for what no one will do) are fine as long as both
runtimes print the same lines before the time limit.

--record writes CPython's output of each seed to tools/pydiff/expected/
(SEED.txt, or loop-SEED.txt),
skipping seeds that deadlock: spec/pydiff_spec.lua checks those seeds on
every `make test`, without needing a recent CPython.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIMIT = 10  # seconds a program may run
LUA_ENV = {
    "LUA_PATH": "lua/?.lua;lua/?/init.lua;;",
    "LUA_CPATH": "build/?.so;;",
    "LUA_PATH_5_4": "lua/?.lua;lua/?/init.lua;;",
    "LUA_CPATH_5_4": "build/?.so;;",
}


def run(cmd, env=None):
    """stdout of cmd, and whether it finished within LIMIT."""
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT)
        return p.stdout, True
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        return out.decode() if isinstance(out, bytes) else out, False


def check_python(python):
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] >= (3, 13))"],
                             capture_output=True, text=True)
    if version.stdout.strip() != "True":
        sys.exit(f"run_pydiff: {python} is not CPython 3.13 or later (use --python)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default="python3")
    ap.add_argument("--seeds", default="1-200")
    ap.add_argument("--timed", action="store_true")
    ap.add_argument("--keep", default="/tmp/pydiff")
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--loop", action="store_true")
    ap.add_argument("--streams", action="store_true")
    ap.add_argument("--procs", action="store_true")
    args = ap.parse_args()
    if args.record and args.timed:
        sys.exit("run_pydiff: the recorded seeds are untimed (the spec runs them without --timed)")
    check_python(args.python)
    first, last = (int(x) for x in args.seeds.split("-"))
    os.makedirs(args.keep, exist_ok=True)
    lua_env = dict(os.environ, **LUA_ENV)
    if args.record and (args.streams or args.procs):
        sys.exit("run_pydiff: stream and process programs are not recorded")
    generator, kind = (("loopgen.py", "loop-") if args.loop else ("streamgen.py", "stream-") if args.streams
                       else ("procgen.py", "proc-") if args.procs else ("gen.py", ""))
    gen = os.path.join(HERE, generator)
    differ = 0
    for seed in range(first, last + 1):
        prefix = os.path.join(args.keep, f"{kind}seed{seed}")
        subprocess.run([sys.executable, gen, str(seed), prefix] + (["--timed"] if args.timed else []), check=True)
        py_out, py_done = run([args.python, "-u", prefix + ".py"])
        lua_out, lua_done = run([os.environ.get("LUA", "lua5.4"), prefix + ".lua"], lua_env)
        if args.procs and not py_done and lua_done and lua_out.startswith(py_out):
            # CPython's wait() used to hang now and then for a killed child
            # (procgen.py says why): such a seed gets one more CPython run
            py_out, py_done = run([args.python, "-u", prefix + ".py"])
        if py_out != lua_out or py_done != lua_done:
            differ += 1
            print(f"seed {seed}: outputs differ (python {'finished' if py_done else 'timed out'}, "
                  f"lua {'finished' if lua_done else 'timed out'}); see {prefix}.*")
            with open(prefix + ".pyout", "w") as f:
                f.write(py_out)
            with open(prefix + ".luaout", "w") as f:
                f.write(lua_out)
            continue
        if args.record and py_done:
            with open(os.path.join(HERE, "expected", f"{kind}{seed}.txt"), "w") as f:
                f.write(py_out)
        for ext in (".py", ".lua"):
            os.remove(prefix + ext)
    print(f"{last - first + 1 - differ} of {last - first + 1} seeds agree")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
