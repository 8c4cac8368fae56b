#!/bin/sh
# --split writes each shot as a file: stream copy on key frames, re-encode
# otherwise, predictable names, the shot's frame count.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"

test_expect_success 'test videos' '
    sc_media cuts
'
# frames FILE: number of video frames, counted by decoding.
frames() {
    ffprobe -v error -count_frames -select_streams v:0 \
        -show_entries stream=nb_read_frames -of csv=p=0 "$1"
}
test_expect_success '--split (auto) writes one file per shot, named predictably' '
    av-shotcut --split out cuts.mp4 >shots.tsv &&
    ls out >names && printf "cuts-shot000.mp4\ncuts-shot001.mp4\ncuts-shot002.mp4\ncuts-shot003.mp4\n" >want &&
    test_cmp want names
'
test_expect_success '... each file holds exactly its shot'"'"'s frames' '
    tail -n +2 shots.tsv | while IFS="	" read clip v s a b rest; do
        n=$(frames out/cuts-shot$(printf %03d $s).mp4) &&
        test "$n" -eq $((b - a)) || { echo "shot $s: $n frames, want $((b - a))"; exit 1; }
    done
'
test_expect_success '--split-mode encode: same frame counts, first frame looks like the shot' '
    av-shotcut --split enc --split-mode encode cuts.mp4 >/dev/null &&
    test "$(frames enc/cuts-shot001.mp4)" -eq 35 &&
    av-shotcut enc/cuts-shot001.mp4 >re.tsv && test $(wc -l <re.tsv) -eq 2
'
test_expect_success '--split-mode copy: stream copy of a shot starting on a key frame' '
    av-shotcut --split cp --split-mode copy cuts.mp4 >/dev/null &&
    test "$(frames cp/cuts-shot000.mp4)" -eq 40 &&
    ffprobe -v error -show_entries stream=codec_name -of csv=p=0 cp/cuts-shot000.mp4 | grep -qx h264
'
test_expect_success 'auto: cuts on key frames are stream-copied' '
    ffmpeg -nostdin -loglevel error -i cuts.mp4 -c:v libx264 -preset veryfast \
        -force_key_frames 0,1.6,3.0,5.0 -x264-params scenecut=0 keyed.mp4 &&
    av-shotcut -v --split k keyed.mp4 >/dev/null 2>log &&
    test $(grep -c "(copy)" log) -eq 4 &&
    test "$(frames k/keyed-shot002.mp4)" -eq 50
'
test_expect_success 'auto: cuts between key frames are re-encoded' '
    ffmpeg -nostdin -loglevel error -i cuts.mp4 -c:v libx264 -preset veryfast \
        -x264-params scenecut=0:keyint=300 unkeyed.mp4 &&
    av-shotcut -v --split u unkeyed.mp4 >/dev/null 2>log &&
    test $(grep -c "(encode)" log) -eq 4 &&
    test "$(frames u/unkeyed-shot002.mp4)" -eq 50
'
test_done
