#!/bin/sh
# av-shotcut's manifest straight into av-filter: a video of a still shot
# cut to a camera pan gives two shots; the still one is dropped as static,
# the pan is kept, and every av-shotcut column comes through.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"
command -v av-shotcut >/dev/null || skip_all "av-shotcut not built"

test_expect_success 'make a video: 2 s of still bars, a cut, 2 s of pan' '
    video=$(test_media filter-two-shots.mp4 -f lavfi -i "smptebars=s=640x360:r=25:d=2" \
        -f lavfi -i "$SRC,$PAN" -filter_complex "[0:v][1:v]concat=n=2:v=1[v]" -map "[v]" $ENC) &&
    echo "$video" >video.path
'
test_expect_success 'av-shotcut | av-filter --scores static,motion' '
    av-shotcut "$(cat video.path)" >shots.tsv && cat shots.tsv &&
    av-filter --scores static,motion shots.tsv >out.tsv && cat out.tsv &&
    test $(wc -l <out.tsv) -eq 3
'
test_expect_success 'the still shot is dropped as static, the pan kept' '
    test "$(col out.tsv reason 1)" = static && test "$(col out.tsv reason 2)" = -
'
test_expect_success 'every av-shotcut column comes through unchanged, in place' '
    n=$(head -1 shots.tsv | awk -F"\t" "{ print NF }") &&
    cut -f1-$n out.tsv >through.tsv && test_cmp shots.tsv through.tsv
'
test_expect_success '--drop: only the pan' '
    av-shotcut "$(cat video.path)" | av-filter --drop --scores static,motion >kept.tsv &&
    test $(wc -l <kept.tsv) -eq 2 && test "$(col kept.tsv start_frame 1)" -ge 49
'
test_done
