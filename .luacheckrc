-- luacheck configuration: Lua 5.4, busted globals in specs.
std = "lua54"
max_line_length = 120
files["spec/"] = { std = "+busted" }
files["bench/"] = { max_line_length = 160 }
exclude_files = { "lua_modules/", ".luarocks/" }
