#!/bin/sh
# --full-decode, the full decoding that was the default, is still there:
# it gives the golden manifests, --help names it, and --fast, which is the
# default decoding now, is still accepted and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"
command -v av-shotcut >/dev/null || skip_all "av-shotcut not built"

test_expect_success 'test videos' '
    sc_media cuts && sc_media dark && sc_media fade && sc_media dissolve
'
test_expect_success '--full-decode gives the golden manifests' '
    for v in cuts dark fade dissolve; do
        av-shotcut --full-decode $v.mp4 >$v.tsv && test_golden shotcut/$v.tsv $v.tsv || exit 1
    done
'
test_expect_success '--help names --full-decode and --fast' '
    av-shotcut --help >help &&
    grep -q "^ *--full-decode " help && grep -q "^ *--fast " help
'
test_expect_success '--fast is accepted and gives the default manifest' '
    av-shotcut --fast cuts.mp4 fade.mp4 >fast.tsv && av-shotcut cuts.mp4 fade.mp4 >default.tsv &&
    diff default.tsv fast.tsv
'
test_expect_success '--full-decode with other options (--width, --split)' '
    av-shotcut --full-decode --width 128 --split shots cuts.mp4 >split.tsv &&
    test "$(sc_starts split.tsv)" = "40 75 125" && test $(ls shots | wc -l) -eq 4
'
test_done
