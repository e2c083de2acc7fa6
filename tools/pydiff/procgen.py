"""Random subprocess programs, written twice: in Python and in Lua.

    python3 procgen.py SEED PREFIX          writes PREFIX.py and PREFIX.lua
    python3 procgen.py SEED - --lua         prints the Lua program

Each program runs a few children of /bin/sh one after the other, each with
a random script (lines to stdout and stderr, a copy of its stdin, a line
from a background subshell that outlives it by 50 ms or more, an exit status, or
death by a signal), its streams piped, sent to /dev/null,
inherited or merged (stderr to stdout), and talks to it in a random way:
communicate() with or without input, stdin written and closed then
stdout read line by line, wait() alone, kill() or terminate() of a child
that waits on its stdin. Only the parent prints what it gets: the
returncode, the lines, the outputs. Not recorded for the spec (children
are processes of the machine); run_pydiff.py --procs runs it by hand.

CPython 3.13.0's wait() used to hang now and then for a child killed or
terminated (about 1 seed in 100, its output a prefix of ours), and
run_pydiff.py runs a seed whose CPython run timed out once more. The
likely cause: that child was `sh -c 'cat >/dev/null'`, and a shell that
had forked cat before the signal left cat holding stderr and stdin, which
wait() then waits for, in CPython as, since it waits for such pipes, in
ours. The child now execs cat: seeds 1-600 ran with no timeout.
"""
import random
import sys

import common


class ProcProgram:
    def __init__(self, seed):
        self.rand = random.Random(seed)
        self.py, self.lua = list(PY_PRELUDE), list(LUA_PRELUDE)

    def both(self, py, lua):
        self.py.append("    " + py)
        self.lua.append("   " + lua)

    def script(self):
        R = self.rand
        parts = []
        for k in range(R.randint(1, 4)):
            kind = R.choice(["out", "err", "cat", "head", "late"])
            if kind == "late":
                # a background subshell outlives the shell, keeping its
                # stdout and stderr open: a waiting wait() waits for it;
                # several write 30 ms apart, in the order they were started
                parts.append(f"(sleep {0.05 + 0.03 * k:.2f}; echo l{k}) &")
            elif kind == "out":
                parts.append(f"echo o{k}")
            elif kind == "err":
                parts.append(f"echo e{k} >&2")
            elif kind == "cat":
                parts.append("cat")
            else:
                parts.append("head -n 1")
        end = R.choice(["exit 0", "exit 3", "kill -TERM $$", ""])
        if end:
            parts.append(end)
        script = ""
        for part in parts:  # "&" already ends a background part
            script += part if script == "" else (" " if script.endswith("&") else "; ") + part
        return script

    def child(self, i):
        R = self.rand
        script = self.script()
        stdout = R.choice(["PIPE", "PIPE", "DEVNULL"])
        stderr = R.choice(["PIPE", "DEVNULL", "STDOUT"])
        how = R.choice(["communicate", "communicate_input", "lines", "wait", "kill"])
        stdin = "PIPE" if how in ("communicate_input", "lines", "kill") else "DEVNULL"
        if how == "kill":
            # exec: a shell that forked cat would leave it holding stderr
            # and stdin, and wait() would wait for it, in both runtimes
            script = "exec cat >/dev/null"
        self.both(f'print("child {i}:", {script!r})', f'print("child {i}:", {common.lua_string(script)})')
        self.both(f"p = await asyncio.create_subprocess_exec('/bin/sh', '-c', {script!r}, "
                  f"stdin=asyncio.subprocess.{stdin}, stdout=asyncio.subprocess.{stdout}, stderr=asyncio.subprocess.{stderr})",
                  f"local p{i} = await(asyncio.create_subprocess_exec('/bin/sh', {{'-c', {common.lua_string(script)}}}, "
                  f"{{stdin = asyncio.{stdin}, stdout = asyncio.{stdout}, stderr = asyncio.{stderr}}}))")
        p = f"p{i}"
        if how == "communicate":
            self.both("out, err = await p.communicate()", f"local out, err = await({p}:communicate())")
            self.both('print("out", show(out), "err", show(err))', 'print("out", show(out), "err", show(err))')
        elif how == "communicate_input":
            data = "".join(f"in{k}\n" for k in range(R.randint(0, 3)))
            self.both(f"out, err = await p.communicate({data.encode()!r})",
                      f"local out, err = await({p}:communicate({common.lua_string(data)}))")
            self.both('print("out", show(out), "err", show(err))', 'print("out", show(out), "err", show(err))')
        elif how == "lines":
            data = "".join(f"w{k}\n" for k in range(R.randint(0, 3)))
            self.both(f"p.stdin.write({data.encode()!r})", f"{p}.stdin:write({common.lua_string(data)})")
            # a child that does not read may be gone already: either runtime
            # may then find the pipe lost, a race, so the drain swallows that
            # as communicate() does
            self.py.append("    try: await p.stdin.drain()\n"
                           "    except (BrokenPipeError, ConnectionResetError): pass")
            self.lua.append(f"   do local ok, e = pcall(await, {p}.stdin:drain()) if not ok and not "
                            "(asyncio.BrokenPipeError:is(e) or asyncio.ConnectionResetError:is(e)) "
                            "then error(e, 0) end end")
            self.both("p.stdin.close()", f"{p}.stdin:close()")
            if stdout == "PIPE":
                self.py.append("    async for line in p.stdout: print('line', show(line[:-1] if line.endswith(b'\\n') else line))")
                self.lua.append(f"   for line in {p}.stdout:lines() do print('line', show(line)) end")
            if stderr == "PIPE":
                self.both("print('err', show(await p.stderr.read()))", f"print('err', show(await({p}.stderr:read())))")
        elif how == "kill":
            sig = R.choice(["kill", "terminate"])
            self.both(f"p.{sig}()", f"{p}:{sig}()")
        self.both("print('returncode', await p.wait(), p.returncode)",
                  f"print('returncode', await({p}:wait()), {p}.returncode)")

    def program(self):
        for i in range(self.rand.randint(1, 4)):
            self.child(i)
        self.py.extend(PY_EPILOGUE)
        self.lua.extend(LUA_EPILOGUE)
        return "\n".join(self.py) + "\n", "\n".join(self.lua) + "\n"


PY_PRELUDE = ["import asyncio"] + common.PY_SHOW_BYTES + """\
async def main():""".split("\n")

LUA_PRELUDE = common.LUA_HEAD + common.LUA_SHOW_STRING + """\
asyncio.run(async(function()""".split("\n")

PY_EPILOGUE = ["asyncio.run(main())"]
LUA_EPILOGUE = ["end))"]




if __name__ == "__main__":
    common.main(sys.argv, lambda seed, argv: ProcProgram(seed).program())
