#!/bin/sh
# Golden output of av-filter with every score over a manifest of generated
# clips (written by make golden), and --drop.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"

test_expect_success 'make the clips' '
    filter_manifest still pan slow sub corner logo blur >in.tsv
'
test_expect_success 'av-filter (all scores) matches tests/golden/filter/all.tsv' '
    av-filter in.tsv >out.tsv &&
    sed "s|$MEDIA/||g" out.tsv >rel.tsv && cat rel.tsv &&
    test_golden filter/all.tsv rel.tsv
'
# the cheap scores for the runs below, to keep the test quick
test_expect_success '--drop writes the header and the kept clips only' '
    av-filter --scores static,motion,aesthetic in.tsv >cheap.tsv &&
    av-filter --scores static,motion,aesthetic --drop in.tsv >kept.tsv &&
    awk -F"\t" "NR == 1 || \$NF == \"-\"" cheap.tsv >want.tsv &&
    test_cmp want.tsv kept.tsv && test $(wc -l <kept.tsv) -lt $(wc -l <cheap.tsv)
'
test_expect_success 'reading the manifest from stdin and writing with -o gives the same bytes' '
    av-filter --scores static,motion,aesthetic -o file.tsv <in.tsv && test_cmp cheap.tsv file.tsv &&
    test -z "$(ls -A | grep "tmp")"
'
test_expect_success 'scoring its own output again replaces the columns: same bytes' '
    av-filter --scores static,motion,aesthetic cheap.tsv >again.tsv && test_cmp cheap.tsv again.tsv
'
test_done
