"""Random stream programs, written twice: in Python and in Lua.

    python3 streamgen.py SEED PREFIX        writes PREFIX.py and PREFIX.lua
    python3 streamgen.py SEED - --lua       prints the Lua program

A server on 127.0.0.1 writes a random script of pieces (lines, long lines,
pieces with a two-byte separator split across writes), 10 ms apart, then
ends with write_eof() or close(). A client, opened with a small random
limit, runs a random script of readline, readexactly, readuntil, read(),
at_eof and lines(), and prints what each returns or raises. Only the client
prints, so the output does not depend on how the two tasks interleave;
what each read returns depends on which pieces have arrived, which the
10 ms pauses fix (not a spec: run_pydiff.py --streams runs it by hand).

Python's readline raises ValueError past the limit where ours raises
LimitOverrunError (API.md §9): both print as "overrun".
"""
import random
import sys

import common


class StreamProgram:
    def __init__(self, seed):
        self.rand = random.Random(seed)

    def pieces(self):
        R = self.rand
        out = []
        for k in range(R.randint(2, 7)):
            kind = R.choice(["line", "line", "long", "sep", "partial", "lines"])
            if kind == "line":
                out.append(f"l{k}-" + "x" * R.randint(0, 6) + "\n")
            elif kind == "long":
                out.append(f"long{k}-" + "y" * R.randint(10, 30) + "\n")
            elif kind == "sep":  # the separator ## split across two writes
                out.append(f"s{k}#")
                out.append("#")
            elif kind == "partial":
                out.append(f"p{k}" + "z" * R.randint(0, 4))
            else:
                out.append("".join(f"m{k}{i}\n" for i in range(R.randint(2, 3))))
        return out

    def reads(self):
        R = self.rand
        ops = []
        for _ in range(R.randint(3, 9)):
            kind = R.choice(["readline", "readline", "readexactly", "readuntil", "readuntil2", "at_eof"])
            if kind == "readexactly":
                ops.append((kind, R.randint(0, 8)))
            else:
                ops.append((kind, None))
        ops.append((R.choice(["read", "lines"]), None))
        return ops

    def program(self):
        R = self.rand
        limit = R.choice([8, 16, 64])
        pieces = self.pieces()
        ending = R.choice(["eof", "close"])
        py = list(PY_PRELUDE)
        lua = list(LUA_PRELUDE)
        py.append("PIECES = [" + ", ".join(repr(p) for p in pieces) + "]")
        lua.append("local PIECES = {" + ", ".join(common.lua_string(p) for p in pieces) + "}")
        py.append(f"ENDING, LIMIT = {ending!r}, {limit}")
        lua.append(f'local ENDING, LIMIT = "{ending}", {limit}')
        py.extend(PY_SERVER)
        lua.extend(LUA_SERVER)
        for kind, n in self.reads():
            if kind == "readline":
                py.append('    await step("readline", reader.readline())')
                lua.append('   step("readline", reader:readline())')
            elif kind == "readexactly":
                py.append(f'    await step("readexactly {n}", reader.readexactly({n}))')
                lua.append(f'   step("readexactly {n}", reader:readexactly({n}))')
            elif kind == "readuntil":
                py.append("    await step(\"readuntil\", reader.readuntil(b'\\n'))")
                lua.append('   step("readuntil", reader:readuntil("\\n"))')
            elif kind == "readuntil2":
                py.append("    await step(\"readuntil ##\", reader.readuntil(b'##'))")
                lua.append('   step("readuntil ##", reader:readuntil("##"))')
            elif kind == "at_eof":
                py.append('    print("at_eof", reader.at_eof())')
                lua.append('   print("at_eof", reader:at_eof() and "True" or "False")')
            elif kind == "read":
                py.append('    await step("read", reader.read())')
                lua.append('   step("read", reader:read())')
            else:
                # lines() drops the "\n", as io.lines does: compared without it
                py.append("    async for line in reader: print('line', show(line[:-1] if line.endswith(b'\\n') else line))")
                lua.append("   for line in reader:lines() do print('line', show(line)) end")
        py.extend(PY_EPILOGUE)
        lua.extend(LUA_EPILOGUE)
        return "\n".join(py) + "\n", "\n".join(lua) + "\n"


PY_PRELUDE = ["import asyncio"] + common.PY_SHOW_BYTES + """\
async def step(name, aw):
    try:
        print(name, show(await aw))
    except asyncio.IncompleteReadError as e:
        print(name, 'incomplete', show(e.partial), e.expected)
    except (asyncio.LimitOverrunError, ValueError):
        print(name, 'overrun')""".split("\n")

LUA_PRELUDE = common.LUA_HEAD + common.LUA_SHOW_STRING + """\
local function step(name, aw)
   local ok, r = pcall(await, aw)
   if ok then print(name, show(r))
   elseif asyncio.IncompleteReadError:is(r) then
      print(name, 'incomplete', show(r.partial), r.expected == nil and 'None' or r.expected)
   elseif asyncio.LimitOverrunError:is(r) then print(name, 'overrun')
   else error(r, 0) end
end""".split("\n")

PY_SERVER = """\
async def serve(reader, writer):
    for piece in PIECES:
        writer.write(piece.encode())
        await writer.drain()
        await asyncio.sleep(0.01)
    if ENDING == 'eof': writer.write_eof()
    else: writer.close()
async def main():
    server = await asyncio.start_server(serve, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection('127.0.0.1', port, limit=LIMIT)""".split("\n")

LUA_SERVER = """\
local serve = async(function(reader, writer)
   for _, piece in ipairs(PIECES) do
      writer:write(piece)
      await(writer:drain())
      await(asyncio.sleep(0.01))
   end
   if ENDING == 'eof' then writer:write_eof() else writer:close() end
end)
asyncio.run(async(function()
   local server = await(asyncio.start_server(serve, '127.0.0.1', 0))
   local _, port = server:getsockname()
   local reader, writer = await(asyncio.open_connection('127.0.0.1', port, { limit = LIMIT }))""".split("\n")

PY_EPILOGUE = """\
    print("at_eof", reader.at_eof())
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
asyncio.run(main())""".split("\n")

LUA_EPILOGUE = """\
   print("at_eof", reader:at_eof() and "True" or "False")
   writer:close()
   await(writer:wait_closed())
   server:close()
   await(server:wait_closed())
end))""".split("\n")




if __name__ == "__main__":
    common.main(sys.argv, lambda seed, argv: StreamProgram(seed).program())
