#!/bin/sh
# ffmpeg's testsrc2 (320x240, 4 s) is clean moving footage: av-filter
# keeps it with its defaults (its burned-in timecode changes every frame,
# so it is no fixed mark).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"
command -v av-filter >/dev/null || skip_all "av-filter not built"

test_expect_success 'av-filter keeps testsrc2 320x240, 4 s' '
    v=$(test_media testsrc2-320x240-4s.mp4 -f lavfi -i "testsrc2=s=320x240:r=25:d=4" $ENC) &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t100\t25\n" "$v" >in.tsv &&
    av-filter in.tsv >out.tsv && cat out.tsv &&
    test "$(col out.tsv keep 1)" = 1 && test "$(col out.tsv reason 1)" = -
'
test_done
