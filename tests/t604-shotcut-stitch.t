#!/bin/sh
# Event stitching: a shot split by a flash or a brief occlusion becomes one
# event; distinct scenes stay apart.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"

test_expect_success 'test videos' '
    sc_media flash && sc_media occl && sc_media cuts && sc_media dark
'
test_expect_success 'a shot split by a flash is one event' '
    av-shotcut --no-flash-filter flash.mp4 >flash.tsv &&
    test $(wc -l <flash.tsv) -eq 4 &&
    test "$(cut -f 11 flash.tsv | tail -n +2 | sort -u | wc -l)" -eq 1
'
test_expect_success 'a brief occlusion split into three shots is one event' '
    av-shotcut --no-flash-filter --min-shot 0 occl.mp4 >occl.tsv &&
    test "$(sc_starts occl.tsv)" = "50 56" &&
    test "$(cut -f 11 occl.tsv | tail -n +2 | sort -u)" = "0" &&
    test_golden shotcut/occl-split.tsv occl.tsv
'
test_expect_success 'the occlusion is no cut at all with the flash filter' '
    av-shotcut occl.mp4 >occl-f.tsv && test $(wc -l <occl-f.tsv) -eq 2
'
test_expect_success 'distinct scenes keep distinct events' '
    av-shotcut cuts.mp4 >cuts.tsv &&
    test "$(cut -f 11 cuts.tsv | tail -n +2 | tr "\n" " ")" = "0 1 2 3 " &&
    av-shotcut dark.mp4 >dark.tsv &&
    test "$(cut -f 11 dark.tsv | tail -n +2 | tr "\n" " ")" = "0 1 "
'
test_expect_success '--stitch -1 merges every shot, --stitch 2 none' '
    av-shotcut --stitch -1 cuts.mp4 | cut -f 11 | tail -n +2 | sort -u >all &&
    test "$(cat all)" = "0" &&
    av-shotcut --stitch 2 --no-flash-filter flash.mp4 | cut -f 11 | tail -n +2 | tr "\n" " " >none &&
    test "$(cat none)" = "0 1 2 "
'
test_done
