#!/bin/sh
# No false cuts: a flash inside a shot, fast camera motion.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"

test_expect_success 'test videos' '
    sc_media flash && sc_media motion
'
test_expect_success 'a 2-frame flash does not cut' '
    av-shotcut flash.mp4 >flash.tsv &&
    test $(wc -l <flash.tsv) -eq 2 &&
    test_golden shotcut/flash.tsv flash.tsv
'
test_expect_success 'with --no-flash-filter the flash is a 2-frame shot, cut at 50 and 52' '
    av-shotcut --no-flash-filter flash.mp4 >noflash.tsv &&
    test "$(sc_starts noflash.tsv)" = "50 52"
'
test_expect_success '... and with --min-shot 15 too, cut at 50 only (as the peers do)' '
    av-shotcut --no-flash-filter --min-shot 15 flash.mp4 >noflash15.tsv &&
    test "$(sc_starts noflash15.tsv)" = "50"
'
test_expect_success 'fast panning (up to 73 px a frame) gives no cut' '
    av-shotcut motion.mp4 >motion.tsv &&
    test $(wc -l <motion.tsv) -eq 2 &&
    test_golden shotcut/motion.tsv motion.tsv
'
test_expect_success '... where a fixed threshold (content detector) does cut' '
    av-shotcut -d content motion.mp4 >motion-c.tsv &&
    test $(wc -l <motion-c.tsv) -gt 2
'
test_done
