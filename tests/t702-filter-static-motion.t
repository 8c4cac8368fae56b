#!/bin/sh
# Static frames and motion on generated clips: a still clip is dropped as
# static, a panning clip is kept, a slow pan is dropped for low motion.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"

test_expect_success 'make the clips' '
    filter_manifest still pan slow >in.tsv
'
test_expect_success 'av-filter --scores static,motion' '
    av-filter --scores static,motion in.tsv >out.tsv && cat out.tsv
'
test_expect_success 'the still clip is static: static_frac 1, dropped as static' '
    test "$(col out.tsv static_frac 1)" = 1.0000 &&
    test "$(col out.tsv keep 1)" = 0 && test "$(col out.tsv reason 1)" = static
'
test_expect_success 'the panning clip is kept: no static frame, dynamic' '
    test "$(col out.tsv static_frac 2)" = 0.0000 &&
    test "$(col out.tsv dynamic 2)" = 1 &&
    test "$(col out.tsv keep 2)" = 1 && test "$(col out.tsv reason 2)" = -
'
test_expect_success 'the pan moves 31.2 px per 3 frames at 640x360, 11.1 px at the flow size: motion 10-13.5' '
    awk -v m="$(col out.tsv motion 2)" "BEGIN { exit !(m > 10 && m < 13.5) }"
'
test_expect_success 'the slow pan (1.2 px a frame, 1.3 px per step at the flow size) is not dynamic' '
    av-filter --scores motion in.tsv >motion.tsv &&
    awk -v m="$(col motion.tsv motion 3)" "BEGIN { exit !(m > 0.8 && m < 3) }" &&
    test "$(col motion.tsv dynamic 3)" = 0 && test "$(col motion.tsv reason 3)" = low-motion
'
test_expect_success '--static-mode means: the literal difference of means calls the pan static too' '
    av-filter --scores static --static-mode means in.tsv >means.tsv &&
    test "$(col means.tsv reason 2)" = static
'
test_expect_success 'input columns are kept in place, ours appended' '
    head -1 out.tsv | grep -q "^clip	video	shot	start_frame	end_frame	start_time	end_time	fps	width	height	event	trans_start	trans_end	static_frac	motion	dynamic	keep	reason\$"
'
test_done
