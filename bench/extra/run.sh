#!/bin/sh
# Runs the composing benchmarks (README.md) on our library, uvloop, Python's
# own loop and Node.js, REPS times each, from the repository root:
#
#    sh bench/extra/run.sh [REPS] [quick]
#
# "quick" runs a tenth of each workload's N (a smoke run). A runtime that is
# missing is skipped with a note.
reps=${1:-3}
quick=${2:-}
here=$(dirname "$0")
export LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;'
py=/usr/bin/python3
[ -x "$py" ] || py=python3
for workload in gather wait_for cancel; do
  n=""
  if [ -n "$quick" ]; then
    if [ "$workload" = gather ]; then n=20000; else n=10000; fi
  fi
  i=0
  while [ "$i" -lt "$reps" ]; do
    lua5.4 "$here/compose.lua" "$workload" "$n" || echo "FAIL $workload aio"
    lua5.4 "$here/compose.lua" "$workload" "$n" eager || echo "FAIL $workload aio-eager"
    if "$py" -c "import uvloop" 2>/dev/null; then
      "$py" "$here/compose.py" "$workload" "$n" uvloop
    else
      echo "SKIP $workload uvloop (python3-uvloop is not installed: make -C bench deps)"
    fi
    "$py" "$here/compose.py" "$workload" "$n" asyncio
    if [ "$workload" = cancel ]; then
      echo "SKIP cancel node (promises cannot be cancelled)"
    elif command -v node >/dev/null 2>&1; then
      node "$here/compose.js" "$workload" $n
    else
      echo "SKIP $workload node (nodejs is not installed: make -C bench deps)"
    fi
    i=$((i + 1))
  done
done
