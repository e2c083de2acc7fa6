#!/bin/sh
# Runs a scenario (default tools/oom.lua) once per allocation it makes,
# failing that allocation (tools/oomhost.c, built with the sanitizers
# against build/asan).
#    sh tools/oom.sh HOST [SCRIPT]
# A crash or sanitizer report fails the run. So does a run still going
# after 10 s, unless the memory error struck inside a Lua callback and was
# reported ("Exception in callback ..."): a callback that cannot run is
# lost, as in Python, and what waited on it (a gather) waits for ever.
host=$1
script=${2:-tools/oom.lua}
export LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/asan/?.so;;'
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1
total=$("$host" "$script" | sed -n 's/^allocations: //p')
[ -n "$total" ] || { echo "oom: the dry run failed"; exit 1; }
lost=0 hangs=0
k=1
while [ "$k" -le "$total" ]; do
  OOM_AT=$k timeout 10 "$host" "$script" >/dev/null 2>build/oom.log
  rc=$?
  if [ "$rc" -eq 124 ]; then
    if grep -q "^Exception in callback" build/oom.log && grep -q "not enough memory" build/oom.log; then
      lost=$((lost + 1))
    else
      hangs=$((hangs + 1))
      site=$(OOM_AT=$k OOM_BT=1 timeout 10 "$host" "$script" 2>&1 >/dev/null \
             | grep -o '([a-z_][a-z_]*+' | tr -d '(+' | head -3 | tr '\n' '<')
      echo "oom: allocation $k: still running after 10 s (failed in $site)"
    fi
  elif [ "$rc" -ne 0 ]; then
    echo "oom: allocation $k: exit status $rc"; tail -20 build/oom.log; exit 1
  fi
  k=$((k + 1))
done
mode=""
[ "$OOM_DEBUG" = 1 ] && mode=" (debug mode)"
echo "oom: $script$mode: $total allocations failed one at a time: no crash, $lost reported callback(s) lost, $hangs task(s) lost"
[ "$hangs" -eq 0 ]
