#!/bin/sh
# Runs every Python original and saves what it prints as the expected output
# of its Lua translation. Run from anywhere; needs python3 (3.11).
# The arguments here must match those in spec/examples_spec.lua.
set -e
cd "$(dirname "$0")/../.."
run() {
   name=$1; shift
   python3 "examples/python/$name.py" "$@" > "examples/expected/$name.txt"
   echo "examples/expected/$name.txt"
}
run countasync
run dosomething
run hello_world
run simplest
run task_status
run create_task
run mark_done
run task_result
run done_callback
run fire_and_forget
run finish_pending
run cancel_pending
run await_order1
run await_order2
run long_operation
run long_operation_await || true  # ends with a TypeError, as the Lua side
run fire_and_forget_pending
run never_awaited
run doit
run fire_and_forget_thread
run gather_exceptions
run chain_steps
run chained 9 6 3
run rand
run wait_coroutines
run wait_tasks
run wait_callbacks
run wait_first_completed
run gather_groups
run run_forever
run queue_consumers
run asyncq -p 2 -c 5
run lock
run condition
run event
run semaphore
run prioqueue
run task_by_hand
run threadsafe_call
run threadsafe_coroutine
run child_processes
