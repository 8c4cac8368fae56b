#!/bin/sh
# The trainer's gradient buckets and ZeRO-1/2 on a small task with odd
# block sizes (tests/unit/test_zero.c): alone and under mpirun -np 2, 3
# and 4, each against one process with the same global batch, whatever
# order the task announces its blocks in.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"

# run_tap NP PROG: the program's TAP from rank 0 (NP 1: no launcher), then
# fail unless it ran its plan and nothing failed.
run_tap() {
    if [ "$1" = 1 ]; then
        "$2" >out.tap 2>err
    else
        avk_mpirun "$1" "$2" >out.tap 2>err
    fi || { cat out.tap err; return 1; }
    cat out.tap && ! grep -q "^not ok" out.tap && grep -q "^1\.\.[1-9]" out.tap
}

test_expect_success 'one process: buckets and ZeRO levels are the plain trainer' '
    run_tap 1 test_zero
'
test_expect_success '-np 2: buckets, --zero 1 and --zero 2 equal one process; ZeRO bitwise' '
    run_tap 2 test_zero && grep -q "^ok .* --zero 2 equals no sharding bitwise" out.tap
'
test_expect_success '-np 3: shards cut inside blocks, a tail on every rank' '
    run_tap 3 test_zero && grep -q "3 rank(s), --zero 2, blocks announced out of order" out.tap
'
test_expect_success '-np 4: every level and order equals one process' '
    run_tap 4 test_zero
'
test_done
