#!/bin/sh
# The DiT's Ulysses sequence parallelism and selective recomputation at
# the model (tests/unit/test_dit_sp.c): alone, and under a real mpirun
# -np 2 and -np 4 with the world as one group. Prediction and summed
# gradients equal one process within 1e-5 (cross, joint, MM-DiT; sizes
# that do not divide, so padding is on the path), recomputation equals
# none bitwise, heads that do not divide are refused.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

# run_tap NP: the unit's TAP from rank 0 (NP 1: no launcher), then fail
# unless it ran its plan and nothing failed.
run_tap() {
    if [ "$1" = 1 ]; then
        OMP_NUM_THREADS=1 test_dit_sp >out.tap 2>err
    else
        avk_mpirun "$1" test_dit_sp >out.tap 2>err
    fi || { cat out.tap err; return 1; }
    cat out.tap && ! grep -q "^not ok" out.tap && grep -q "^1\.\.[1-9]" out.tap
}

test_expect_success 'one process: recomputation bitwise, a group of one is the plain model' '
    run_tap 1 && grep -q "recompute 3/3 (step 2) equals no recomputation bitwise" out.tap
'
test_expect_success '-np 2: --sp 2 equals one process within 1e-5, recompute bitwise' '
    run_tap 2 && grep -q "MM-DiT, joint: --sp 2 with --recompute 1 equals" out.tap &&
    grep -q "3 heads over 2 ranks: .*heads do not divide by 2" out.tap
'
test_expect_success '-np 4: --sp 4 equals one process within 1e-5, recompute bitwise' '
    run_tap 4 && grep -q "single-stream, cross: --sp 4 (step 2)" out.tap
'
test_done
