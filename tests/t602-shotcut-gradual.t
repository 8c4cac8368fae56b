#!/bin/sh
# Gradual transitions give exactly one cut, in the middle, with the span
# reported; the fade detector places its cut in the middle of the fade.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"

test_expect_success 'test videos' '
    sc_media fade && sc_media dissolve && sc_media wipe
'

# one_cut NAME MIDDLE TS TE: exactly one cut within one frame of MIDDLE,
# span within one frame of [TS, TE).
one_cut() {
    av-shotcut "$1.mp4" >"$1.tsv" &&
    test $(wc -l <"$1.tsv") -eq 3 &&
    set -- "$1" "$2" "$3" "$4" $(awk -F"\t" "NR == 3 { print \$4, \$12, \$13 }" "$1.tsv") &&
    sc_near "$5" "$2" && sc_near "$6" "$3" && sc_near "$7" "$4"
}

test_expect_success 'fade out and in over 24 frames: one cut at 50, span 38-62' '
    one_cut fade 50 38 62
'
test_expect_success 'dissolve over 25 frames: one cut at 62, span 50-75' '
    one_cut dissolve 62 50 75
'
test_expect_success 'wipe over 20 frames: one cut at 60, span 50-70' '
    one_cut wipe 60 50 70
'
test_expect_success 'gradual manifests match the golden files' '
    test_golden shotcut/fade.tsv fade.tsv &&
    test_golden shotcut/dissolve.tsv dissolve.tsv &&
    test_golden shotcut/wipe.tsv wipe.tsv
'
test_expect_success 'without the gradual rule the dissolve is not cut at its middle' '
    av-shotcut --no-gradual dissolve.mp4 >nog.tsv &&
    ! awk -F"\t" "NR == 3 && \$4 >= 61 && \$4 <= 63 { found = 1 } END { exit !found }" nog.tsv
'
test_expect_success 'fade detector: cut in the middle of the dark run' '
    av-shotcut -d fade fade.mp4 >fd.tsv &&
    test $(wc -l <fd.tsv) -eq 3 &&
    cut=$(awk -F"\t" "NR == 3 { print \$4 }" fd.tsv) &&
    ds=$(awk -F"\t" "NR == 3 { print \$12 }" fd.tsv) &&
    de=$(awk -F"\t" "NR == 3 { print \$13 }" fd.tsv) &&
    test "$cut" -eq $(( (ds + de) / 2 )) && sc_near "$cut" 50
'
test_done
