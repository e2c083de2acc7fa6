"""Random asyncio programs, written twice: in Python and in Lua.

    python3 gen.py SEED PREFIX [--timed]   writes PREFIX.py and PREFIX.lua
    python3 gen.py SEED - --lua [--timed]  prints the Lua program

A program runs a few tasks; each task runs a random list of steps drawn from
the whole synchronisation and composition API (events, locks, semaphores,
conditions, barriers, queues, futures, shield, gather, wait, as_completed,
wait_for, timeout, TaskGroup, cancellation, callbacks, eager tasks). Every
step prints a line first, so the two outputs show where the two runtimes
part. Without --timed every step takes no time, so the output does not
depend on the machine's speed; --timed adds sleeps and timers 20 ms apart.

Python's outputs are the reference: run_pydiff.py compares them with ours,
and spec/pydiff_spec.lua checks a fixed set of seeds against outputs
recorded from CPython (expected/). The same seed always gives the same
program: the recorded outputs depend on it, so change the generator only
together with them.

Steps are left out where CPython itself is not deterministic: as_completed
over futures that are done before the call (it adds its callbacks in set
order), and eager tasks in it.
"""
import random
import sys

import common

NFUTURES = 3


class Program:
    """Two programs written side by side; indentation is in levels."""

    def __init__(self):
        self.py, self.lua = [], []

    def both(self, level, py, lua):
        self.py.append("    " * level + py)
        self.lua.append("   " * level + lua)

    def python(self, level, text):
        self.py.append("    " * level + text)

    def luaonly(self, level, text):
        self.lua.append("   " * level + text)

    def guarded(self, level, body, err_class, handler):
        """try: body / except err_class: print(handler). body is a list of
        (relative level, py, lua); handler the text printed when it raises.
        err_class "any" catches every error and prints its name too."""
        self.both(level, "try:", "do local ok, e = pcall(function()")
        for rel, py, lua in body:
            self.both(level + 1 + rel, py, lua)
        if err_class == "any":
            self.both(level, "except Exception as e:", "end)")
            self.both(level + 1, f'print("{handler}", ename(e))',
                      "if not ok then if asyncio.CancelledError:is(e) then error(e, 0) end "
                      f'print("{handler}", ename(e)) end end')
            return
        py_class = "TimeoutError" if err_class == "TimeoutError" else "asyncio." + err_class
        self.both(level, f"except {py_class}:", "end)")
        self.both(level + 1, f'print("{handler}")',
                  f'if not ok then if asyncio.{err_class}:is(e) then print("{handler}") '
                  "else error(e, 0) end end end")


class Generator:
    def __init__(self, seed, timed):
        self.rand = random.Random(seed)
        self.timed = timed
        self.eager = False
        self.ntasks = 0
        self.out = Program()

    # ---- steps: each writes what follows its own print line ----

    def step(self, tag, level, depth):
        R, out = self.rand, self.out
        ops = list(STEPS) + (list(TIMED_STEPS) if self.timed else [])
        op = R.choice(ops)
        out.both(level, f'print("{tag} {op}")', f'print("{tag} {op}")')
        j = R.randrange(NFUTURES)
        fut_py, fut_lua = f"F[{j}]", f"F[{j + 1}]"
        if op in COMPOSED:
            if depth >= 2 or (op == "as_completed" and self.eager):
                return True
            return self.compose(op, tag, level, depth)
        if op == "raise":
            if depth == 0:  # a task's own body keeps going
                return True
            out.both(level, "raise ValueError()", "error(VE)")
            return False  # nothing may follow in the block
        write = STEPS[op] if op in STEPS else TIMED_STEPS[op]
        if write is not None:
            write(self, tag, level, fut_py, fut_lua)
        return True

    def compose(self, op, tag, level, depth):
        R, out = self.rand, self.out
        names = []
        for s in range(R.randint(1, 3)):
            name = "s_" + tag.replace(".", "_").replace("/", "_") + f"_{s}"
            out.both(level, f"async def {name}():", f"local {name} = async(function()")
            self.body(f"{tag}/{s}", R.randint(1, 3), level + 1, depth + 1)
            out.both(level + 1, f"return {s}", f"return {s}")
            out.luaonly(level, "end)")
            names.append(name)
        calls = ", ".join(n + "()" for n in names)
        futures = ", ".join(f"asyncio.ensure_future({n}())" for n in names)
        if op == "gather":
            out.both(level, f'print("{tag} g", show(await asyncio.gather({calls}, return_exceptions=True)))',
                     f'print("{tag} g", show(await(asyncio.gather({calls}, {{return_exceptions = true}}))))')
        elif op == "wait":
            out.both(level, f"d, p = await asyncio.wait([{futures}], return_when=asyncio.FIRST_COMPLETED)",
                     f"local d, p = await(asyncio.wait({{{futures}}}, {{return_when = asyncio.FIRST_COMPLETED}}))")
            out.both(level, f'print("{tag} w", len(d), len(p))', f'print("{tag} w", count(d), count(p))')
        elif op == "spawn":
            for n in names:
                out.both(level, f"KEEP.append(asyncio.create_task({n}()))",
                         f"KEEP[#KEEP + 1] = asyncio.create_task({n}())")
        elif op == "taskgroup":
            out.both(level, "try:", "do local ok, e = pcall(function()")
            out.both(level + 1, "async with asyncio.TaskGroup() as tg:", "local tg <close> = asyncio.TaskGroup()")
            for n in names:
                out.both(level + 2, f"tg.create_task({n}())", f"tg:create_task({n}())")
            out.both(level + 2, f'print("{tag} tg body")', f'print("{tag} tg body")')
            out.both(level, "except* Exception as eg:", "end)")
            out.both(level + 1, f'print("{tag} tg errors", len(eg.exceptions))',
                     f'if not ok then if asyncio.ExceptionGroup:is(e) then print("{tag} tg errors", #e.errors) '
                     "else error(e, 0) end end end")
        elif op == "gatherfail":
            out.guarded(level, [(0, f'print("{tag} gf", show(await asyncio.gather({calls})))',
                                 f'print("{tag} gf", show(await(asyncio.gather({calls}))))')],
                        "any", f"{tag} gf err")
        elif op == "gathercancel":
            out.both(level, f"g = asyncio.gather({calls})", f"local g = asyncio.gather({calls})")
            out.both(level, f'print("{tag} gc", yn(g.cancel()))', f'print("{tag} gc", yn(g:cancel()))')
            out.guarded(level, [(0, f'print("{tag} gc", show(await g))', f'print("{tag} gc", show(await(g)))')],
                        "CancelledError", f"{tag} gc cancelled")
        elif op == "waitfirstexc":
            out.both(level, f"d, p = await asyncio.wait([{futures}], return_when=asyncio.FIRST_EXCEPTION)",
                     f"local d, p = await(asyncio.wait({{{futures}}}, {{return_when = asyncio.FIRST_EXCEPTION}}))")
            out.both(level, f'print("{tag} wfe", len(d), len(p))', f'print("{tag} wfe", count(d), count(p))')
        else:  # as_completed
            out.both(level, f"for aw in asyncio.as_completed([{futures}]):",
                     f"for aw in asyncio.as_completed({{{futures}}}) do")
            out.both(level + 1, f'print("{tag} ac", await aw)', f'print("{tag} ac", await(aw))')
            out.luaonly(level, "end")
        return True

    def body(self, tag, nsteps, level, depth):
        for k in range(nsteps):
            if not self.step(f"{tag}.{k}", level, depth):
                return

    # ---- the program ----

    def program(self):
        R, out = self.rand, self.out
        self.ntasks = R.randint(2, 5)
        self.eager = R.random() < 0.4
        out.py.extend(PY_PRELUDE)
        out.lua.extend(LUA_PRELUDE)
        if self.eager:
            out.both(1, "loop.set_task_factory(asyncio.eager_task_factory)",
                     "loop:set_task_factory(asyncio.eager_task_factory)")
        for i in range(self.ntasks):
            out.python(1, f"async def t{i}():")
            out.python(2, "try:")
            out.luaonly(1, f"local t{i} = async(function()")
            out.luaonly(2, "local ok, err = pcall(function()")
            self.body(f"T{i}", R.randint(2, 7), 3, 0)
            out.both(3, f"return {i}", f"return {i}")
            out.python(2, "except asyncio.CancelledError as e:")
            out.python(3, f'print("T{i} cancelled", e.args[0] if e.args and e.args[0] else "-")')
            out.python(3, "raise")
            out.luaonly(2, "end)")
            out.luaonly(2, f'if not ok then if asyncio.CancelledError:is(err) then print("T{i} cancelled", '
                           "err.message ~= nil and err.message ~= '' and err.message or '-') end error(err, 0) end")
            out.luaonly(2, f"return {i}")
            out.luaonly(1, "end)")
        for i in range(self.ntasks):
            out.both(1, f"T.append(asyncio.create_task(t{i}()))", f"T[{i + 1}] = asyncio.create_task(t{i}())")
        out.py.extend(PY_EPILOGUE)
        out.lua.extend(LUA_EPILOGUE)
        return "\n".join(out.py) + "\n", "\n".join(out.lua) + "\n"


def simple(py, lua):
    """A step written as one line in each language, with {t} the step's
    tag and {f} the future it uses."""
    def write(gen, tag, level, fut_py, fut_lua):
        gen.out.both(level, py.format(t=tag, f=fut_py), lua.format(t=tag, f=fut_lua))
    return write


def critical(py_with, lua_acquire, inside):
    """`async with x:` around the lines inside (pairs, {t} the tag)."""
    def write(gen, tag, level, fut_py, fut_lua):
        gen.out.both(level, py_with, f"do local _ <close> = await({lua_acquire})")
        for py, lua in inside:
            gen.out.both(level + 1, py.format(t=tag), lua.format(t=tag))
        gen.out.luaonly(level, "end")
    return write


def value_step(py, lua):
    """A step with a random value {v} in it."""
    def write(gen, tag, level, fut_py, fut_lua):
        v = gen.rand.randint(1, 99)
        gen.out.both(level, py.format(t=tag, f=fut_py, v=v), lua.format(t=tag, f=fut_lua, v=v))
    return write


def cancel_task(gen, tag, level, fut_py, fut_lua):
    x = gen.rand.randrange(gen.ntasks)
    gen.out.both(level, f'print("{tag} c", yn(T[{x}].cancel()) if len(T) > {x} else "-")',
                 f'print("{tag} c", T[{x + 1}] and yn(T[{x + 1}]:cancel()) or "-")')


def task_state(gen, tag, level, fut_py, fut_lua):
    x = gen.rand.randrange(gen.ntasks)
    gen.out.both(level, f'print("{tag} st", state(T[{x}]) if len(T) > {x} else "-")',
                 f'print("{tag} st", T[{x + 1}] and state(T[{x + 1}]) or "-")')


def wait_for_now(gen, tag, level, fut_py, fut_lua):
    gen.out.guarded(level, [(0, f'print("{tag} wf", await asyncio.wait_for({fut_py}, 0))',
                             f'print("{tag} wf", await(asyncio.wait_for({fut_lua}, 0)))')],
                    "TimeoutError", f"{tag} wf timeout")


def timeout_now(gen, tag, level, fut_py, fut_lua):
    gen.out.guarded(level, [(0, "async with asyncio.timeout(0):", "local _ <close> = asyncio.timeout(0)"),
                            (1, "await asyncio.sleep(0)", "await(asyncio.sleep(0))"),
                            (1, f'print("{tag} to body")', f'print("{tag} to body")')],
                    "TimeoutError", f"{tag} to timeout")


def swallow(gen, tag, level, fut_py, fut_lua):
    out = gen.out
    out.both(level, "try:", "do local ok, e = pcall(function()")
    out.both(level + 1, "await asyncio.sleep(0)", "await(asyncio.sleep(0))")
    out.both(level + 1, "await asyncio.sleep(0)", "await(asyncio.sleep(0))")
    out.both(level, "except asyncio.CancelledError:", "end)")
    out.both(level + 1, f'print("{tag} swallowed", asyncio.current_task().cancelling())',
             f'if not ok then if asyncio.CancelledError:is(e) then print("{tag} swallowed", '
             "asyncio.current_task():cancelling()) else error(e, 0) end end end")


def task_done(gen, tag, level, fut_py, fut_lua):
    gen.out.both(level, "try: q.task_done()", "if not pcall(q.task_done, q) then print('td err') end")
    gen.out.python(level, "except ValueError: print('td err')")


def put_full(gen, tag, level, fut_py, fut_lua):
    v = gen.rand.randint(1, 99)
    gen.out.both(level, "try:", f"do local ok, e = pcall(q2.put_nowait, q2, {v})")
    gen.out.both(level + 1, f"q2.put_nowait({v})",
                 f'if not ok then if asyncio.QueueFull:is(e) then print("{tag} full") else error(e, 0) end end end')
    gen.out.python(level, f'except asyncio.QueueFull: print("{tag} full")')


def get_nowait(gen, tag, level, fut_py, fut_lua):
    gen.out.both(level, "try:", "do local ok, e = pcall(q.get_nowait, q)")
    gen.out.both(level + 1, f'print("{tag} gnw", q.get_nowait())',
                 f'if ok then print("{tag} gnw", e) elseif asyncio.QueueEmpty:is(e) then print("{tag} empty") '
                 "else error(e, 0) end end")
    gen.out.python(level, f'except asyncio.QueueEmpty: print("{tag} empty")')


def cancel_with_message(gen, tag, level, fut_py, fut_lua):
    x = gen.rand.randrange(gen.ntasks)
    gen.out.both(level, f'print("{tag} cm", yn(T[{x}].cancel("m{tag}")) if len(T) > {x} else "-")',
                 f'print("{tag} cm", T[{x + 1}] and yn(T[{x + 1}]:cancel("m{tag}")) or "-")')


def release_bounded(gen, tag, level, fut_py, fut_lua):
    gen.out.both(level, "try: bs.release()", f'if not pcall(bs.release, bs) then print("{tag} bs err") end')
    gen.out.python(level, f'except ValueError: print("{tag} bs err")')


def reschedule_now(gen, tag, level, fut_py, fut_lua):
    gen.out.guarded(level, [(0, "async with asyncio.timeout(None) as cm:", "local cm <close> = asyncio.timeout(nil)"),
                            (1, "cm.reschedule(loop.time())", "cm:reschedule(loop:time())"),
                            (1, "await asyncio.sleep(0)", "await(asyncio.sleep(0))"),
                            (1, f'print("{tag} rs body", yn(cm.expired()))', f'print("{tag} rs body", yn(cm:expired()))')],
                    "TimeoutError", f"{tag} rs timeout")


def priority_put(gen, tag, level, fut_py, fut_lua):
    v = gen.rand.randint(1, 9)
    gen.out.both(level, f'pq.put_nowait(({v}, "{tag}"))', f'pq:put_nowait({{{v}, "{tag}"}})')


def lifo_get(gen, tag, level, fut_py, fut_lua):
    gen.out.guarded(level, [(0, f'print("{tag} lq", lq.get_nowait())', f'print("{tag} lq", lq:get_nowait())')],
                    "QueueEmpty", f"{tag} lq empty")


def wait_for_now_on(py_aw, lua_aw, py_after="", lua_after=""):
    """wait_for(aw, 0) of a primitive's wait: an immediate timeout takes a
    waiter out of its queue (the lost-wakeup cases); what it got is
    printed, then py_after / lua_after give it back."""
    def write(gen, tag, level, fut_py, fut_lua):
        body = [(0, f'r = await asyncio.wait_for({py_aw}, 0)', f'local r = await(asyncio.wait_for({lua_aw}, 0))'),
                (0, f'print("{tag} wf0", show1(r))', f'print("{tag} wf0", show1(r))')]
        if py_after:
            body.append((0, py_after, lua_after))
        gen.out.guarded(level, body, "TimeoutError", f"{tag} wf0 timeout")
    return write


def condition_wait_now(gen, tag, level, fut_py, fut_lua):
    """wait_for(cond.wait(), 0) inside `async with cond`: a cancelled
    wait takes the lock again before it raises."""
    out = gen.out
    out.both(level, "async with cond:", "do local _ <close> = await(cond:acquire())")
    out.guarded(level + 1, [(0, "await asyncio.wait_for(cond.wait(), 0)", "await(asyncio.wait_for(cond:wait(), 0))"),
                            (0, f'print("{tag} cw0 woke")', f'print("{tag} cw0 woke")')],
                "TimeoutError", f"{tag} cw0 timeout")
    out.both(level + 1, f'print("{tag} cw0 locked", yn(cond.locked()))', f'print("{tag} cw0 locked", yn(cond:locked()))')
    out.luaonly(level, "end")


def nested_timeouts(gen, tag, level, fut_py, fut_lua):
    """An inner timeout(0) inside an outer one with no deadline: only the
    inner converts the cancellation; reschedule(None) on the outer."""
    gen.out.guarded(level, [(0, "async with asyncio.timeout(None) as outer:", "local outer <close> = asyncio.timeout(nil)"),
                            (1, "try:", "local ok2, e2 = pcall(function()"),
                            (2, "async with asyncio.timeout(0):", "local _ <close> = asyncio.timeout(0)"),
                            (3, "await asyncio.sleep(0)", "await(asyncio.sleep(0))"),
                            (1, "except TimeoutError:", "end)"),
                            (2, f'print("{tag} inner timeout")',
                             f'if not ok2 then if asyncio.TimeoutError:is(e2) then print("{tag} inner timeout") '
                             "else error(e2, 0) end end"),
                            (1, "outer.reschedule(None)", "outer:reschedule(nil)"),
                            (1, "await asyncio.sleep(0)", "await(asyncio.sleep(0))"),
                            (1, f'print("{tag} outer", yn(outer.expired()))', f'print("{tag} outer", yn(outer:expired()))')],
                    "TimeoutError", f"{tag} outer timeout")


def release_unlocked(gen, tag, level, fut_py, fut_lua):
    gen.out.both(level, "try: lk.release()", f'if not pcall(lk.release, lk) then print("{tag} release err") end')
    gen.out.python(level, f'except RuntimeError: print("{tag} release err")')


def wait_now(gen, tag, level, fut_py, fut_lua):
    """wait(futures, timeout=0): what is done right now, nothing cancelled."""
    gen.out.both(level, "d, p = await asyncio.wait(F, timeout=0)", "local d, p = await(asyncio.wait(F, { timeout = 0 }))")
    gen.out.both(level, f'print("{tag} wt0", len(d), len(p))', f'print("{tag} wt0", count(d), count(p))')


def waiter_cancelled(gen, tag, level, fut_py, fut_lua):
    """A task waiting on the event, cancelled before it is set."""
    out = gen.out
    out.both(level, "w = asyncio.create_task(ev.wait())", "local w = asyncio.create_task(ev:wait())")
    out.both(level, "await asyncio.sleep(0)", "await(asyncio.sleep(0))")
    out.both(level, f'print("{tag} wc", yn(w.cancel()), yn(w.done()))', f'print("{tag} wc", yn(w:cancel()), yn(w:done()))')
    out.both(level, "KEEP.append(w)", "KEEP[#KEEP + 1] = w")


def sleep_for(gen, tag, level, fut_py, fut_lua):
    k = gen.rand.randint(1, 3)
    gen.out.both(level, f"await asyncio.sleep({k} * 0.02)", f"await(asyncio.sleep({k} * 0.02))")


def call_later(gen, tag, level, fut_py, fut_lua):
    k = gen.rand.randint(1, 3)
    gen.out.both(level, f'loop.call_later({k} * 0.02, cb, "{tag}")', f'loop:call_later({k} * 0.02, cb, "{tag}")')


def wait_for_timed(gen, tag, level, fut_py, fut_lua):
    k = gen.rand.randint(1, 3)
    gen.out.guarded(level, [(0, f'print("{tag} wfT", await asyncio.wait_for(asyncio.sleep({k} * 0.02, {k}), 0.05))',
                             f'print("{tag} wfT", await(asyncio.wait_for(asyncio.sleep({k} * 0.02, {k}), 0.05)))')],
                    "TimeoutError", f"{tag} wfT timeout")


def composed(gen, tag, level, fut_py, fut_lua):
    raise AssertionError("written by Generator.compose")


# The steps, in a fixed order: the seeds' programs depend on it.
STEPS = {
    "print": None,  # the step's own line only
    "sleep0": simple("await asyncio.sleep(0)", "await(asyncio.sleep(0))"),
    "evset": simple("ev.set()", "ev:set()"),
    "evclear": simple("ev.clear()", "ev:clear()"),
    "evwait": simple("await ev.wait()", "await(ev:wait())"),
    "lock": critical("async with lk:", "lk:acquire()",
                     [('print("{t} in")', 'print("{t} in")'),
                      ("await asyncio.sleep(0)", "await(asyncio.sleep(0))"),
                      ('print("{t} out")', 'print("{t} out")')]),
    "put": value_step("q.put_nowait({v})", "q:put_nowait({v})"),
    "get": simple('print("{t} got", await q.get())', 'print("{t} got", await(q:get()))'),
    "put2": value_step("await q2.put({v})", "await(q2:put({v}))"),
    "get2": simple('print("{t} got2", await q2.get())', 'print("{t} got2", await(q2:get()))'),
    "fset": value_step("if not {f}.done(): {f}.set_result({v})", "if not {f}:done() then {f}:set_result({v}) end"),
    "fawait": simple('print("{t} f", await {f})', 'print("{t} f", await({f}))'),
    "shield": simple('print("{t} sh", await asyncio.shield({f}))', 'print("{t} sh", await(asyncio.shield({f})))'),
    "callsoon": simple('loop.call_soon(cb, "{t}")', 'loop:call_soon(cb, "{t}")'),
    "donecb": simple('{f}.add_done_callback(lambda f: print("{t} donecb"))',
                     '{f}:add_done_callback(function() print("{t} donecb") end)'),
    "cancel": cancel_task,
    "gather": composed,
    "wait": composed,
    "sem": critical("async with sem:", "sem:acquire()",
                    [('print("{t} sin")', 'print("{t} sin")'),
                     ("await asyncio.sleep(0)", "await(asyncio.sleep(0))")]),
    "spawn": composed,
    "condnotify": critical("async with cond:", "cond:acquire()", [("cond.notify()", "cond:notify()")]),
    "condwait": critical("async with cond:", "cond:acquire()",
                         [("await cond.wait()", "await(cond:wait())"), ('print("{t} woke")', 'print("{t} woke")')]),
    "fcancel": simple('print("{t} fc", yn({f}.cancel()))', 'print("{t} fc", yn({f}:cancel()))'),
    "gettask": task_state,
    "waitfor0": wait_for_now,
    "timeout0": timeout_now,
    "raise": composed,
    "taskgroup": composed,
    "swallow": swallow,
    "join": simple("await q.join()", "await(q:join())"),
    "taskdone": task_done,
    "as_completed": composed,
    "cancelling": simple('print("{t} cing", asyncio.current_task().cancelling())',
                         'print("{t} cing", asyncio.current_task():cancelling())'),
    "barrier": simple('print("{t} bar", await bar.wait())', 'print("{t} bar", await(bar:wait()))'),
    "shieldcancel": simple('sh = asyncio.shield({f}); print("{t} shc", yn(sh.cancel()), yn({f}.cancelled()))',
                           'do local sh = asyncio.shield({f}); print("{t} shc", yn(sh:cancel()), yn({f}:cancelled())) end'),
    "putfull": put_full,
    "getnw": get_nowait,
    "gatherfail": composed,
    "gathercancel": composed,
    "waitfirstexc": composed,
    "cancelmsg": cancel_with_message,
    "bsem": critical("async with bs:", "bs:acquire()", [('print("{t} bsin")', 'print("{t} bsin")')]),
    "bsrelease": release_bounded,
    "condwaitfor": critical("async with cond:", "cond:acquire()",
                            [('print("{t} cwf", yn(await cond.wait_for(ev.is_set)))',
                              'print("{t} cwf", yn(await(cond:wait_for(function() return ev:is_set() end))))')]),
    "notifyall": critical("async with cond:", "cond:acquire()", [("cond.notify_all()", "cond:notify_all()")]),
    "barabort": simple("await bar.abort()", "await(bar:abort())"),
    "barreset": simple("await bar.reset()", "await(bar:reset())"),
    "uncancel": simple('print("{t} unc", asyncio.current_task().uncancel())',
                       'print("{t} unc", asyncio.current_task():uncancel())'),
    "reschedule": reschedule_now,
    "prioput": priority_put,
    "prioget": simple('print("{t} pq", (await pq.get())[1])', 'print("{t} pq", await(pq:get())[2])'),
    "lifoput": value_step("lq.put_nowait({v})", "lq:put_nowait({v})"),
    "lifoget": lifo_get,
    "shutdown": simple("q.shutdown()", "q:shutdown()"),
    "shutdownnow": simple("q2.shutdown(immediate=True)", "q2:shutdown(true)"),
    "states": simple('print("{t} states", yn(lk.locked()), yn(sem.locked()), q.qsize(), yn(q.empty()), '
                     'yn(q2.full()), yn(ev.is_set()), bar.n_waiting, yn(bar.broken))',
                     'print("{t} states", yn(lk:locked()), yn(sem:locked()), q:qsize(), yn(q:empty()), '
                     'yn(q2:full()), yn(ev:is_set()), bar.n_waiting, yn(bar.broken))'),
    "badcallback": simple("loop.call_soon(bad_callback)", "loop:call_soon(bad_callback)"),
    "wf0lock": wait_for_now_on("lk.acquire()", "lk:acquire()", "lk.release()", "lk:release()"),
    "wf0sem": wait_for_now_on("sem.acquire()", "sem:acquire()", "sem.release()", "sem:release()"),
    "wf0get": wait_for_now_on("q.get()", "q:get()"),
    "wf0put2": wait_for_now_on("q2.put(5)", "q2:put(5)"),
    "wf0ev": wait_for_now_on("ev.wait()", "ev:wait()"),
    "wf0cond": condition_wait_now,
    "nestedtimeouts": nested_timeouts,
    "notify2": critical("async with cond:", "cond:acquire()", [("cond.notify(2)", "cond:notify(2)")]),
    "semrelease": simple("sem.release()", "sem:release()"),
    "releaseerr": release_unlocked,
    "waitnow": wait_now,
    "waitercancel": waiter_cancelled,
}

COMPOSED = ("gather", "wait", "spawn", "taskgroup", "as_completed", "gatherfail", "gathercancel", "waitfirstexc")

TIMED_STEPS = {
    "sleepT": sleep_for,
    "laterT": call_later,
    "waitforT": wait_for_timed,
}

PY_PRELUDE = """\
import asyncio
def yn(b): return 'yes' if b else 'no'
def cb(t): print(t, 'cb')
NAMES = ('CancelledError', 'TimeoutError', 'QueueShutDown', 'QueueEmpty', 'QueueFull', 'BrokenBarrierError',
         'ExceptionGroup', 'ValueError', 'InvalidStateError')
def ename(e):
    if isinstance(e, asyncio.CancelledError): return 'CancelledError[%s]' % (e.args[0] if e.args else '-')
    return type(e).__name__ if type(e).__name__ in NAMES else 'other'
def show(l): return ' '.join(ename(x) if isinstance(x, BaseException) else str(x) for x in l)
def bad_callback(): raise ValueError()
def show1(r): return 'ok' if r is True or r is None else str(r)
def handler(loop, ctx):
    if ctx['message'].startswith('Exception in callback'): print('handler', ename(ctx.get('exception')))
def state(t):
    if not t.done(): return 'pending'
    if t.cancelled(): return 'cancelled'
    if t.exception(): return 'error'
    return 'result %s' % t.result()
T, KEEP = [], []
async def main():
    global ev, lk, q, q2, F, loop, sem, cond, bar, bs, pq, lq
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(handler)
    bs, pq, lq = asyncio.BoundedSemaphore(1), asyncio.PriorityQueue(), asyncio.LifoQueue()
    ev, lk, q, q2 = asyncio.Event(), asyncio.Lock(), asyncio.Queue(), asyncio.Queue(1)
    sem, cond, bar = asyncio.Semaphore(2), asyncio.Condition(), asyncio.Barrier(2)
    F = [loop.create_future() for _ in range(%d)]""".replace("%d", str(NFUTURES)).split("\n")

LUA_PRELUDE = common.LUA_HEAD + """\
local function yn(b) return b and 'yes' or 'no' end
local function cb(t) print(t, 'cb') end
local function count(s) local n = 0 for _ in pairs(s) do n = n + 1 end return n end
local VE = setmetatable({}, { __tostring = function() return 'ValueError' end })
local NAMES = { 'CancelledError', 'TimeoutError', 'QueueShutDown', 'QueueEmpty', 'QueueFull',
                'BrokenBarrierError', 'ExceptionGroup', 'InvalidStateError' }
local function ename(e)
   if e == VE then return 'ValueError' end
   if asyncio.CancelledError:is(e) then
      return 'CancelledError[' .. (e.message == nil and '-' or tostring(e.message)) .. ']'
   end
   for _, name in ipairs(NAMES) do
      if asyncio[name]:is(e) then return name end
   end
   return 'other'
end
local function show(l)
   local o = {}
   for i = 1, l.n do
      local x = l[i]
      o[i] = type(x) == 'number' and tostring(x) or ename(x)
   end
   return table.concat(o, ' ')
end
local function bad_callback() error(VE) end
local function show1(r) -- acquire() gives the object itself, Python's True
   if r == true or r == nil or type(r) == 'table' then return 'ok' end
   return tostring(r)
end
local function state(t)
   if not t:done() then return 'pending' elseif t:cancelled() then return 'cancelled'
   elseif t:exception() then return 'error' end
   return 'result ' .. tostring(t:result())
end
local T, KEEP = {}, {}
local ev, lk, q, q2, F, loop, sem, cond, bar, bs, pq, lq
asyncio.run(async(function()
   loop = asyncio.get_running_loop()
   loop:set_exception_handler(function(_, ctx)
      if ctx.message:find('^Exception in callback') then print('handler', ename(ctx.error)) end
   end)
   bs, pq, lq = asyncio.BoundedSemaphore(1), asyncio.PriorityQueue(), asyncio.LifoQueue()
   ev, lk, q, q2 = asyncio.Event(), asyncio.Lock(), asyncio.Queue(), asyncio.Queue(1)
   sem, cond, bar = asyncio.Semaphore(2), asyncio.Condition(), asyncio.Barrier(2)
   F = {} for i = 1, %d do F[i] = loop:create_future() end""".replace("%d", str(NFUTURES)).split("\n")

PY_EPILOGUE = """\
    for _ in range(40): await asyncio.sleep(0)
    for i, t in enumerate(T): print('end', i, state(t))
    for t in T: t.cancel()
    print('final', show(await asyncio.gather(*T, return_exceptions=True)))
asyncio.run(main())""".split("\n")

LUA_EPILOGUE = """\
   for _ = 1, 40 do await(asyncio.sleep(0)) end
   for i, t in ipairs(T) do print('end', i - 1, state(t)) end
   for _, t in ipairs(T) do t:cancel() end
   T[#T + 1] = { return_exceptions = true }
   print('final', show(await(asyncio.gather(table.unpack(T)))))
end))""".split("\n")




if __name__ == "__main__":
    common.main(sys.argv, lambda seed, argv: Generator(seed, "--timed" in argv).program())
