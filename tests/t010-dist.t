#!/bin/sh
# The distributed layer alone and under a real mpirun -np 2.
. "$(dirname "$0")/lib.sh"

test_expect_success 'a plain process does not need MPI' '
    test_dist >out.tap && ! grep -q "^not ok" out.tap && grep -q "one process owns everything" out.tap
'
test_expect_success 'mpirun -np 2: dealing, ordered gather, reductions' '
    avk_mpirun 2 test_dist >out.tap 2>err && cat out.tap &&
    ! grep -q "^not ok" out.tap && grep -q "balances load" out.tap
'
test_done
