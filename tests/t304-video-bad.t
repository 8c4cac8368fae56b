#!/bin/sh
# Bad video input: each case gives a clear error naming the file (and the
# frame where one applies), exit 1, no crash; a damaged or truncated video
# decodes correctly up to the damage.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/video-media.sh"
FF="ffmpeg -nostdin -loglevel error"
fs=$(test_media video-faststart.mp4 $LAVFI -frames:v 60 -c:v libx264 -g 12 -pix_fmt yuv420p -movflags +faststart)
audio=$(test_media video-audio-only.m4a -f lavfi -i sine=frequency=440 -t 1 -c:a aac)

# fails FILE PATTERN [OPTIONS]: avk-vidcat exits 1 (not a crash) and its
# message starts with "avk-vidcat: FILE: " and matches PATTERN.
fails() {
    f=$1 pat=$2; shift 2
    avk-vidcat "$@" "$f" >out 2>err; rc=$?
    cat err
    test $rc -eq 1 || { echo "exit $rc, expected 1"; return 1; }
    grep -q "^avk-vidcat: $f: $pat" err
}
# damage SRC DST: copy SRC with 4000 bytes in its middle overwritten by
# other (deterministic) bytes.
damage() {
    cp "$1" "$2" && size=$(stat -c %s "$2") &&
    dd if="$vid_mpeg4" of="$2" bs=1 skip=1000 seek=$((size / 2)) count=4000 conv=notrunc 2>/dev/null
}
# prefix_ok GOT SRC: GOT (RGB frames) is a non-empty prefix of SRC's frames.
prefix_ok() {
    $FF -i "$2" -f rawvideo -pix_fmt rgb24 - >want.rgb && n=$(stat -c %s "$1") &&
    test "$n" -gt 0 && head -c "$n" want.rgb | cmp - "$1" &&
    echo "$((n / 230400)) good frames before the damage"
}

test_expect_success 'missing file' 'fails no-such.mp4 "No such file"'
test_expect_success 'a directory' 'mkdir d.mp4 && fails d.mp4 "is a directory"'
test_expect_success 'an empty file' ': >empty.mp4 && fails empty.mp4 "not a video"'
test_expect_success 'a text file named .mp4' '
    echo "just some text" >text.mp4 && fails text.mp4 "not a video FFmpeg can read"
'
test_expect_success 'a file of another kind (gzip data named .mkv)' '
    gzip -c "$TESTS_DIR/lib.sh" >gz.mkv && fails gz.mkv "not a video"
'
test_expect_success 'an audio-only file' '
    cp "$audio" a.m4a && fails a.m4a "no video stream"
'
test_expect_success 'a truncated mp4 whose index is at its end' '
    head -c 30000 "$vid_h264" >cut.mp4 && fails cut.mp4 "not a video"
'
test_expect_success 'a truncated mp4 with its index first: frames up to the cut, then an error' '
    head -c 50000 "$fs" >cutfs.mp4 && fails cutfs.mp4 "frame [0-9]*: " &&
    avk-vidcat cutfs.mp4 >got.rgb; prefix_ok got.rgb "$fs"
'
test_expect_success 'a zero-frame video (y4m header only)' '
    printf "YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n" >zero.y4m && fails zero.y4m "no frames"
'
test_expect_success 'a zero-frame mp4 (index but no frame data)' '
    mdat=$(LC_ALL=C grep -obUa mdat "$fs" | head -1 | cut -d: -f1) &&
    head -c $((mdat + 4)) "$fs" >zero.mp4 && fails zero.mp4 "no frames"
'
for v in "$vid_mkv" "$vid_ts" "$vid_h264"; do
    n=$(basename "$v")
    test_expect_success "$n damaged halfway: error names file and frame, exit 1" "
        damage '$v' 'dmg-$n' && fails 'dmg-$n' 'frame [0-9]*: '
    "
    test_expect_success "$n damaged halfway: the frames before the damage are right" "
        avk-vidcat 'dmg-$n' >got.rgb 2>err; prefix_ok got.rgb '$v'
    "
    test_expect_success "$n damaged halfway: --keep-going reads on to the end, exit 1" "
        avk-vidcat -k -I 'dmg-$n' >idx 2>err; rc=\$?; cat err; test \$rc -eq 1 &&
        test \$(tail -1 idx) -eq 59 && test \$(wc -l <idx) -ge 40
    "
done
test_expect_success "FFmpeg's own log stays quiet: every stderr line is ours" "
    avk-vidcat -k 'dmg-video-h264.ts' >/dev/null 2>err; cat err; test -s err &&
    ! grep -v '^avk-vidcat: dmg-video-h264.ts: frame [0-9]*: ' err
"
test_expect_success 'seeking beyond the end' "
    fails '$vid_h264' 'frame 60: beyond the end of the video (60 frames)' -S 60
"
test_done
