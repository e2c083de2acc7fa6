"""Random event-loop programs, written twice: in Python and in Lua.

    python3 loopgen.py SEED PREFIX          writes PREFIX.py and PREFIX.lua
    python3 loopgen.py SEED - --lua         prints the Lua program

Where gen.py drives tasks inside asyncio.run, these drive the loop from
outside, as old-style scripts do: callbacks scheduling callbacks (call_soon,
call_later(0), timers 20 ms apart, cancelled handles), done callbacks of
futures added and removed, tasks created from callbacks, loop.stop() from a
callback ending a run_forever that the script starts again, and
run_until_complete of futures and tasks. Every callback prints its name
first. Callback i only schedules callbacks after it, so a program ends.

Timers never share a deadline: Python's timer heap does not keep the order
of equal deadlines, which API.md fixes as the order scheduled
(docs/reference.md). The same seed always gives the same program.
"""
import random
import sys

import common

NCALLBACKS = 9
NFUTURES = 3


class LoopProgram:
    def __init__(self, seed):
        self.rand = random.Random(seed)
        self.py, self.lua = [], []
        self.nhandles = 0

    def both(self, level, py, lua):
        self.py.append("    " * level + py)
        self.lua.append("   " * level + lua)

    def action(self, i, level):
        """One random thing callback i does; only callbacks after i."""
        R = self.rand
        later = list(range(i + 1, NCALLBACKS))
        kind = R.choice(["soon", "soon", "later0", "timer", "handle", "cancel", "future", "setfut",
                         "removecb", "task", "stop", "soonargs", "timerhandle", "canceltimer", "raise",
                         "soonstop"])
        j = R.choice(later) if later else None
        f = R.randrange(NFUTURES)
        if kind in ("soon", "later0", "timer", "handle", "future", "task", "soonargs", "timerhandle") and j is None:
            kind = "stop"
        if kind == "soon":
            self.both(level, f"loop.call_soon(c{j})", f"loop:call_soon(c{j})")
        elif kind == "soonargs":
            self.both(level, f'loop.call_soon(c{j}, "from c{i}")', f'loop:call_soon(c{j}, "from c{i}")')
        elif kind == "later0":
            self.both(level, f"loop.call_later(0, c{j})", f"loop:call_later(0, c{j})")
        elif kind == "timer":
            k = R.randint(1, 4)
            self.both(level, f"loop.call_at(at({k}), c{j})", f"loop:call_at(at({k}), c{j})")
        elif kind == "handle":
            h = R.randrange(3)
            self.both(level, f"H[{h}] = loop.call_soon(c{j})", f"H[{h + 1}] = loop:call_soon(c{j})")
        elif kind == "cancel":
            h = R.randrange(3)
            self.both(level, f"if H[{h}] is not None: H[{h}].cancel()", f"if H[{h + 1}] then H[{h + 1}]:cancel() end")
        elif kind == "future":
            self.both(level, f"F[{f}].add_done_callback(c{j})", f"F[{f + 1}]:add_done_callback(c{j})")
        elif kind == "setfut":
            v = R.randint(1, 9)
            self.both(level, f"if not F[{f}].done(): F[{f}].set_result({v})",
                      f"if not F[{f + 1}]:done() then F[{f + 1}]:set_result({v}) end")
        elif kind == "removecb":
            c = R.randrange(NCALLBACKS)
            self.both(level, f'print("c{i} removed", F[{f}].remove_done_callback(c{c}))',
                      f'print("c{i} removed", F[{f + 1}]:remove_done_callback(c{c}))')
        elif kind == "task":
            self.both(level, f"KEEP.append(loop.create_task(body(c{j}, {f})))",
                      f"KEEP[#KEEP + 1] = loop:create_task(body(c{j}, {f + 1}))")
        elif kind == "timerhandle":
            h, k = R.randrange(3), R.randint(1, 4)
            self.both(level, f"TH[{h}] = loop.call_at(at({k}), c{j})", f"TH[{h + 1}] = loop:call_at(at({k}), c{j})")
        elif kind == "canceltimer":
            h = R.randrange(3)
            self.both(level, f"if TH[{h}] is not None: TH[{h}].cancel()", f"if TH[{h + 1}] then TH[{h + 1}]:cancel() end")
        elif kind == "raise":
            self.both(level, "loop.call_soon(bad_callback)", "loop:call_soon(bad_callback)")
        elif kind == "soonstop":
            self.both(level, "loop.call_soon(loop.stop)", "loop:call_soon(function() loop:stop() end)")
        else:  # stop
            self.both(level, "loop.stop()", "loop:stop()")

    def ruc(self, py_aw, lua_aw):
        """print(loop.run_until_complete(aw)), or what stopped it: a
        callback's loop.stop()"""
        self.both(0, "try:", f"do local ok, r = pcall(loop.run_until_complete, loop, {lua_aw})")
        self.both(1, f'print("ruc", loop.run_until_complete({py_aw}))',
                  'if ok then print("ruc", r) elseif tostring(r):find("stopped before") then '
                  'print("ruc stopped") else error(r, 0) end end')
        self.py.append('except RuntimeError as e: print("ruc stopped" if "stopped before" in str(e) else e)')

    def program(self):
        R = self.rand
        py, lua = self.py, self.lua
        py.extend(PY_PRELUDE)
        lua.extend(LUA_PRELUDE)
        # the callbacks, last first, so that each can name those after it
        for i in reversed(range(NCALLBACKS)):
            self.py.append(f"def c{i}(*args):")
            self.lua.append(f"function c{i}(...)")
            self.both(1, f'print("c{i}", *[show(a) for a in args])', f'print("c{i}", show(...))')
            for _ in range(R.randint(0, 3)):
                self.action(i, 1)
            self.lua.append("end")
        self.lua.extend(f"NAMES[c{i}] = 'c{i}'" for i in range(NCALLBACKS))
        # the script: starts a few callbacks, then runs the loop in rounds
        for _ in range(R.randint(1, 3)):
            self.action(-1, 0)
        for r in range(R.randint(1, 3)):
            kind = R.choice(["forever", "future", "task"])
            if kind == "forever":
                # withdrawn after the run: a stop left from a round a callback
                # ended would end a later one at a time that races its timers
                self.both(0, "end_round = loop.call_later(0.15, loop.stop)",
                          "local end_round = loop:call_later(0.15, function() loop:stop() end)")
                self.both(0, "loop.run_forever()", "loop:run_forever()")
                self.both(0, "end_round.cancel()", "end_round:cancel()")
            else:
                # the settling timer is withdrawn after the run too: a run a
                # callback stopped early leaves it armed, and the next
                # round's own would fall due a millisecond after it, in an
                # order the two runtimes' clocks decide
                c = R.randrange(NCALLBACKS) if kind == "task" else None
                f = R.randrange(NFUTURES)
                self.both(0, f"settle_round = loop.call_later(0.12, settle, F[{f}])",
                          f"local settle_round = loop:call_later(0.12, settle, F[{f + 1}])")
                if kind == "future":
                    self.ruc(f"F[{f}]", f"F[{f + 1}]")
                else:
                    self.ruc(f"body(c{c}, {f})", f"body(c{c}, {f + 1})")
                self.both(0, "settle_round.cancel()", "settle_round:cancel()")
            self.both(0, f'print("round {r}")', f'print("round {r}")')
            for _ in range(R.randint(0, 2)):
                self.action(-1, 0)
        py.extend(PY_EPILOGUE)
        lua.extend(LUA_EPILOGUE)
        return "\n".join(py) + "\n", "\n".join(lua) + "\n"


PY_PRELUDE = """\
import asyncio
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
BASE = loop.time() + 0.01
H, TH = [None, None, None], [None, None, None]
def bad_callback(): raise ValueError()
def handler(loop, ctx):  # reports that depend on the collector are left out
    if ctx['message'].startswith('Exception in callback'): print('handler', type(ctx.get('exception')).__name__)
loop.set_exception_handler(handler)
F = [loop.create_future() for _ in range(%d)]
KEEP = []
def show(a):
    if isinstance(a, asyncio.Future): return 'future'
    return str(a)
def settle(f):
    if not f.done(): f.set_result('settled')
SEQ = 0
def at(k):  # deadlines 20 ms apart, never equal
    global SEQ
    SEQ += 1
    return BASE + k * 0.02 + SEQ * 1e-6
async def body(cb, f):
    print('task starts', cb.__name__)
    await asyncio.sleep(0)
    cb('in task')
    print('task got', await F[f])
    return cb.__name__""".replace("%d", str(NFUTURES)).split("\n")

LUA_PRELUDE = common.LUA_HEAD + """\
local loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
local BASE = loop:time() + 0.01
local H, TH = {}, {}
local VE = setmetatable({}, { __tostring = function() return 'ValueError' end })
local function bad_callback() error(VE) end
loop:set_exception_handler(function(_, ctx) -- reports that depend on the collector are left out
   if ctx.message:find('^Exception in callback') then
      print('handler', ctx.error == VE and 'ValueError' or tostring(ctx.error))
   end
end)
local F = {}
for i = 1, %d do F[i] = loop:create_future() end
local KEEP = {}
local function show(...)
   local out = {}
   for i = 1, select('#', ...) do
      local a = select(i, ...)
      out[i] = asyncio.isfuture(a) and 'future' or tostring(a)
   end
   return table.unpack(out, 1, select('#', ...))
end
local function settle(f)
   if not f:done() then f:set_result('settled') end
end
local SEQ = 0
local function at(k) -- deadlines 20 ms apart, never equal
   SEQ = SEQ + 1
   return BASE + k * 0.02 + SEQ * 1e-6
end
local NAMES = {}
local body = async(function(cb, f)
   print('task starts', NAMES[cb])
   await(asyncio.sleep(0))
   cb('in task')
   print('task got', await(F[f]))
   return NAMES[cb]
end)""".replace("%d", str(NFUTURES)).split("\n") + [
    "local " + ", ".join(f"c{i}" for i in range(NCALLBACKS))]

PY_EPILOGUE = """\
end_round = loop.call_later(0.15, loop.stop)
loop.run_forever()
end_round.cancel()
print('pending callbacks done')
for i, f in enumerate(F): print('future', i, f.done() and not f.cancelled() and f.result())
loop.close()""".split("\n")

LUA_EPILOGUE = """\
local end_round = loop:call_later(0.15, function() loop:stop() end)
loop:run_forever()
end_round:cancel()
print('pending callbacks done')
for i, f in ipairs(F) do
   local v = f:done() and not f:cancelled() and f:result()
   print('future', i - 1, v == false and 'False' or tostring(v))
end
loop:close()""".split("\n")




if __name__ == "__main__":
    common.main(sys.argv, lambda seed, argv: LoopProgram(seed).program())
