#!/bin/sh
# Golden output of av-filter with every score over a manifest of generated
# clips (written by make golden), and --drop.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"

test_expect_success 'make the clips' '
    filter_manifest still pan slow sub corner logo blur >in.tsv &&
    sed "s|$MEDIA/||g" in.tsv >/dev/null
'
test_expect_success 'av-filter (all scores) matches tests/golden/filter/all.tsv' '
    av-filter in.tsv >out.tsv &&
    sed "s|$MEDIA/||g" out.tsv >rel.tsv && cat rel.tsv &&
    test_golden filter/all.tsv rel.tsv
'
test_expect_success '--drop writes the header and the kept clips only' '
    av-filter --drop in.tsv >kept.tsv &&
    awk -F"\t" "NR == 1 || \$NF == \"-\"" out.tsv >want.tsv &&
    test_cmp want.tsv kept.tsv
'
test_expect_success 'reading the manifest from stdin and writing with -o gives the same bytes' '
    av-filter -o file.tsv <in.tsv && test_cmp out.tsv file.tsv &&
    ! ls .file.tsv* 2>/dev/null | grep -q .
'
test_expect_success 'scoring its own output again gives the same bytes' '
    av-filter out.tsv >again.tsv && test_cmp out.tsv again.tsv
'
test_done
