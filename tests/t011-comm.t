#!/bin/sh
# The communicators and their collectives, and the deal / compute / ordered
# gather helper: alone (no MPI at all) and under a real mpirun -np 2 and
# -np 4, each against the same computation done serially on every rank.
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

test_expect_success 'collectives without a launcher: one rank, MPI never initialized' '
    run_tap 1 test_comm && grep -q "MPI was never initialized" out.tap
'
test_expect_success 'collectives under mpirun -np 2 equal the serial results' '
    run_tap 2 test_comm && grep -q "grid with sp 2" out.tap
'
test_expect_success 'collectives under mpirun -np 4 (DP 2 x SP 2 grid) equal the serial results' '
    run_tap 4 test_comm && grep -q "ring" out.tap
'
test_expect_success 'ordered item helper without a launcher' '
    run_tap 1 test_comm_items
'
test_expect_success 'ordered item helper under mpirun -np 2' '
    run_tap 2 test_comm_items && grep -q "(2 ranks)" out.tap
'
test_expect_success 'ordered item helper under mpirun -np 4' '
    run_tap 4 test_comm_items && grep -q "(4 ranks)" out.tap
'
test_done
