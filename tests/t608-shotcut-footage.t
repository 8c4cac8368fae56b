#!/bin/sh
# av-shotcut on the demo footage (examples/gen-footage) against its ground
# truth: every shot boundary within one frame, fades and dissolves as one
# cut with a span, the flash not cut.
. "$(dirname "$0")/lib.sh"
command -v gen-footage >/dev/null || skip_all "gen-footage not built"

test_expect_success 'demo footage with its truth' '
    gen-footage -o . && test -s truth.tsv
'
test_expect_success 'every boundary of the truth within one frame (--min-shot 8)' '
    av-shotcut --min-shot 8 video1.mp4 video2.mp4 video3.mp4 >shots.tsv &&
    awk -F"\t" "NR > 1 && \$3 > 0 { print \$1, \$3 }" truth.tsv >want &&
    awk -F"\t" "NR > 1 && \$4 > 0 { print \$2, \$4 }" shots.tsv >got &&
    test $(wc -l <want) -eq $(wc -l <got) &&
    paste -d " " want got | awk "{ d = \$2 - \$4; if (\$1 != \$3 || d > 1 || d < -1) { print; bad = 1 } } END { exit bad }"
'
test_expect_success 'fades and dissolves have a span, cuts none' '
    awk -F"\t" "NR > 1 && \$3 > 0 { print \$5 }" truth.tsv >kinds &&
    awk -F"\t" "NR > 1 && \$4 > 0 { print (\$13 > \$12 ? \"gradual\" : \"cut\") }" shots.tsv >spans &&
    sed "s/fade/gradual/; s/dissolve/gradual/" kinds | diff - spans
'
test_expect_success '--min-shot 15 folds the 8-frame shot into its neighbour' '
    av-shotcut --min-shot 15 video1.mp4 >merged.tsv &&
    test $(($(wc -l <merged.tsv) - 1)) -eq $(($(grep -c "^video1.mp4" truth.tsv) - 1))
'
test_expect_success 'by default the 8-frame shot is a shot of its own' '
    av-shotcut video1.mp4 >default.tsv &&
    test $(($(wc -l <default.tsv) - 1)) -eq $(grep -c "^video1.mp4" truth.tsv) &&
    awk -F"\t" "NR > 1 && \$5 - \$4 == 8" default.tsv | grep -q .
'
test_done
