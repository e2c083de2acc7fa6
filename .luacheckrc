-- luacheck configuration: Lua 5.4, busted globals in specs.
std = "lua54"
max_line_length = 120
files["spec/"] = { std = "+busted" }
files["bench/"] = { max_line_length = 160 }
-- examples are line-by-line translations of Python programs: they keep the
-- originals' unused names, shadowing and `while True` loops
files["examples/"] = { ignore = { "211", "212", "311", "421", "431", "511" } }
exclude_files = { "lua_modules/", ".luarocks/" }
