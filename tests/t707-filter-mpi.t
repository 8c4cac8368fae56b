#!/bin/sh
# Under mpirun -np 2 the ranks share the clips; the output is the same
# bytes as one process, in input order.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"

test_expect_success 'make the clips' '
    filter_manifest still pan slow logo blur >in.tsv
'
test_expect_success 'one process' '
    av-filter --scores static,motion,aesthetic,watermark in.tsv >one.tsv
'
test_expect_success 'mpirun -np 2 gives identical output' '
    avk_mpirun 2 av-filter --scores static,motion,aesthetic,watermark -o two.tsv in.tsv &&
    test_cmp one.tsv two.tsv
'
test_expect_success 'mpirun -np 2 with every score and an unreadable clip: same bytes, exit 1' '
    { head -3 in.tsv; printf "x#0-5\tmissing.mp4\t0\t0\t5\t0\t0.2\t25\t640\t360\t0\t-\t-\n"; } >bad.tsv &&
    { av-filter bad.tsv >b1.tsv 2>e1; test $? -eq 1; } &&
    { avk_mpirun 2 av-filter -o b2.tsv bad.tsv 2>e2; test $? -eq 1; } &&
    test_cmp b1.tsv b2.tsv && grep -q "missing.mp4" e2
'
test_done
