#!/bin/sh
# A DiT batch in groups of samples, one per thread (lib/models/
# dit_split.c; tests/unit/test_dit_split.c): the whole batch's prediction
# and gradients within 1e-5, the same bits twice, gradients that add up,
# every block announced in order with its final gradients from inside the
# team, an odd batch run whole, four threads as four groups, and in a
# team too small for the groups one group after another with the same
# values.
. "$(dirname "$0")/lib.sh"

test_expect_success 'two threads: groups equal the whole batch, announced in order' '
    test_dit_split >out.tap 2>err || { cat out.tap err; false; }
    cat out.tap && ! grep -q "^not ok" out.tap &&
    grep -q "announce the whole batch.s 5 blocks" out.tap &&
    grep -q "3 samples over 2 threads: the whole batch in one pass" out.tap &&
    grep -q "in a team of one, the groups one after another" out.tap &&
    grep -q "4 threads: four groups of one" out.tap
'
test_done
