#!/bin/sh
# Exact seeking, fast mode and concurrent decoding (tests/unit/test_video.c)
# over H.264 (mp4, mkv, ts, open GOPs), MPEG-4 part 2, MPEG-2 (open GOPs)
# and VP9 clips.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/video-media.sh"
AVK_TEST_VIDEOS="$vid_h264 $vid_mpeg4 $vid_mkv $vid_ts $vid_webm $vid_opengop $vid_mpeg2"
export AVK_TEST_VIDEOS
run_unit test_video
