#!/bin/sh
# A semi-transparent logo over moving content is flagged as a watermark;
# the clean clip is not.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"

test_expect_success 'make the clips' '
    filter_manifest logo pan >in.tsv
'
test_expect_success 'av-filter --scores watermark' '
    av-filter --scores watermark in.tsv >out.tsv && cut -f2,14- out.tsv
'
test_expect_success 'the logo clip scores above 0.5 and is dropped as watermark' '
    awk -v w="$(col out.tsv watermark 1)" "BEGIN { exit !(w > 0.5) }" &&
    test "$(col out.tsv reason 1)" = watermark
'
test_expect_success 'the clean clip scores under 0.5 and is kept' '
    awk -v w="$(col out.tsv watermark 2)" "BEGIN { exit !(w < 0.5) }" &&
    test "$(col out.tsv keep 2)" = 1
'
test_done
