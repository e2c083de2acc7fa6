"""What the generators of tools/pydiff share: the first lines of every Lua
program, how the byte-reading programs print bytes on both sides, how a
string becomes a Lua literal, and the command line.

The recorded outputs (expected/) stand for the programs these write: a
change here must leave every generated program as it was, or go with a
new recording.
"""
import sys

# Line-buffered output, so that a program stopped at the time limit keeps
# what it printed; the library; a print that separates its values with
# spaces, as Python's does.
LUA_HEAD = """\
io.stdout:setvbuf("line")
local asyncio = require "asyncio"
local async, await = asyncio.async, asyncio.await
local function print(...)
   local t = table.pack(...)
   for i = 1, t.n do t[i] = tostring(t[i]) end
   io.write(table.concat(t, ' ', 1, t.n), '\\n')
end""".split("\n")

# show(data): what streamgen's and procgen's programs print for what they
# read: a quoted string with its escapes written out, '-' for nothing.
PY_SHOW_BYTES = """\
def show(b):
    return repr(b.decode()).replace("'", '"') if b else '-'""".split("\n")

LUA_SHOW_STRING = """\
local function show(s)
   if s == nil or s == "" then return '-' end
   return '"' .. s:gsub('\\\\', '\\\\\\\\'):gsub('\\n', '\\\\n'):gsub('"', '\\\\"') .. '"'
end""".split("\n")


def lua_string(s):
    """s as a Lua string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main(argv, make):
    """The command line of a generator: SEED PREFIX [flags] writes
    PREFIX.py and PREFIX.lua; with --lua, the Lua program goes to stdout.
    make(seed, argv) returns the two programs."""
    seed, prefix = int(argv[1]), argv[2]
    py, lua = make(seed, argv)
    if "--lua" in argv:
        sys.stdout.write(lua)
        return
    with open(prefix + ".py", "w") as f:
        f.write(py)
    with open(prefix + ".lua", "w") as f:
        f.write(lua)
