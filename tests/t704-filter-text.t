#!/bin/sh
# Burned-in subtitles drop a clip by the 2% / one-frame rule (Tesseract);
# small corner text does not.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"
test -r /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || skip_all "fonts-dejavu-core not installed"

test_expect_success 'make the clips' '
    filter_manifest sub corner pan >in.tsv
'
test_expect_success 'av-filter --scores text' '
    av-filter --scores text in.tsv >out.tsv && cut -f2,14- out.tsv
'
test_expect_success 'subtitles: more than one significant frame, dropped for text' '
    test "$(col out.tsv text_frames 1)" -gt 1 &&
    awk -v c="$(col out.tsv text_cover 1)" "BEGIN { exit !(c > 0.02) }" &&
    test "$(col out.tsv reason 1)" = text
'
test_expect_success 'small corner text: no significant frame, kept' '
    test "$(col out.tsv text_frames 2)" = 0 && test "$(col out.tsv keep 2)" = 1
'
test_expect_success 'clean clip: kept' '
    test "$(col out.tsv text_frames 3)" -le 1 && test "$(col out.tsv keep 3)" = 1
'
test_expect_success '--text-max-frames 5 keeps the subtitled clip' '
    av-filter --scores text --text-max-frames 5 in.tsv >lax.tsv &&
    test "$(col lax.tsv keep 1)" = 1
'
test_done
