#!/bin/sh
# av-shotcut on hard cuts: frame-exact boundaries, the manifest's columns,
# the content detector, very short shots and the minimum shot length.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"

test_expect_success 'test videos' '
    sc_media cuts && sc_media short && sc_media dark
'

test_expect_success 'hard cuts at frames 40, 75, 125 exactly' '
    av-shotcut cuts.mp4 >out.tsv &&
    test "$(sc_starts out.tsv)" = "40 75 125"
'

test_expect_success 'header and one row per shot, frames cover the video' '
    head -n 1 out.tsv | grep -qx "clip	video	shot	start_frame	end_frame	start_time	end_time	fps	width	height	event	trans_start	trans_end" &&
    test $(wc -l <out.tsv) -eq 5 &&
    awk -F"\t" "NR > 1 { if (\$4 != prev) exit 1; prev = \$5 } END { if (prev != 155) exit 1 }" prev=0 out.tsv
'

test_expect_success 'clip ids, times with 3 decimals, fps and size' '
    awk -F"\t" "NR == 3" out.tsv >row &&
    cut -f 1,2,3,6,7,8,9,10 row >got &&
    printf "cuts.mp4#40-75\tcuts.mp4\t1\t1.600\t3.000\t25.000\t320\t240\n" >want &&
    test_cmp want got
'

test_expect_success 'hard cuts have an empty transition span' '
    awk -F"\t" "NR > 1 && (\$12 != \$4 || \$13 != \$4) { exit 1 }" out.tsv
'

test_expect_success 'manifest of the hard cuts matches the golden file' '
    test_golden shotcut/cuts.tsv out.tsv
'

test_expect_success 'content detector finds the same cuts' '
    av-shotcut -d content cuts.mp4 >content.tsv &&
    test "$(sc_starts content.tsv)" = "40 75 125"
'

test_expect_success 'two dark shots: the cut at 50 is found' '
    av-shotcut dark.mp4 >dark.tsv &&
    test "$(sc_starts dark.tsv)" = "50" &&
    test_golden shotcut/dark.tsv dark.tsv
'

test_expect_success 'very short shots (6 frames) are cut exactly with --min-shot 0' '
    av-shotcut --min-shot 0 short.mp4 >short0.tsv &&
    test "$(sc_starts short0.tsv)" = "30 36 42 48 54" &&
    test_golden shotcut/short-minshot0.tsv short0.tsv
'

test_expect_success 'by default every boundary is cut, the 6-frame shots too' '
    av-shotcut short.mp4 >short-default.tsv &&
    test_cmp short0.tsv short-default.tsv
'

test_expect_success '--min-shot 15: no shot before the last under 15 frames' '
    av-shotcut --min-shot 15 short.mp4 >short.tsv &&
    test "$(sc_starts short.tsv)" = "30 48" &&
    awk -F"\t" "NR > 1 && \$5 != 84 && \$5 - \$4 < 15 { exit 1 }" short.tsv
'

test_expect_success '--min-shot in seconds: 0.6s is 15 frames at 25 fps' '
    av-shotcut --min-shot 0.6s short.mp4 >short-sec.tsv &&
    test_cmp short.tsv short-sec.tsv
'

test_expect_success '--fast finds the same cuts' '
    av-shotcut --fast cuts.mp4 >fast.tsv &&
    test "$(sc_starts fast.tsv)" = "40 75 125"
'

test_expect_success '-o writes the same manifest to a file, quietly' '
    av-shotcut -o file.tsv cuts.mp4 >stdout 2>stderr &&
    test_cmp out.tsv file.tsv && test ! -s stdout && test ! -s stderr
'
test_done
