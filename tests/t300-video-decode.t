#!/bin/sh
# Decoding through the video module (via examples/avk-vidcat) agrees with
# ffprobe and the ffmpeg program: size, rate and frame count; every frame
# byte for byte as RGB, gray and YUV, at the source size and scaled.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/video-media.sh"
FF="ffmpeg -nostdin -loglevel error"

# ffprobe's view: "width height fps frames" (frames counted by decoding;
# the first stream line only: MPEG-TS repeats it for its program).
ffprobe_info() {
    ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=width,height,avg_frame_rate,nb_read_frames -of csv=p=0 "$1" |
        awk -F, '$1 > 0 { split($3, r, "/"); printf "%d %d %.3f %d\n", $1, $2, r[1] / r[2], $4; exit }'
}

for v in "$vid_h264" "$vid_mpeg4" "$vid_mkv" "$vid_ts" "$vid_webm"; do
    n=$(basename "$v")
    test_expect_success "$n: size, rate and frame count agree with ffprobe" "
        ffprobe_info '$v' >want &&
        avk-vidcat -i '$v' | awk '{ printf \"%d %d %.3f %d\n\", \$1, \$2, \$3, \$4 }' >got &&
        test_cmp want got
    "
    test_expect_success "$n: probing without decoding reports the same" "
        avk-vidcat -i '$v' >a && avk-vidcat -p '$v' >b && test_cmp a b
    "
    test_expect_success "$n: every frame as RGB equals ffmpeg's rgb24" "
        avk-vidcat '$v' >got.rgb && $FF -i '$v' -f rawvideo -pix_fmt rgb24 - >want.rgb &&
        test -s got.rgb && cmp want.rgb got.rgb
    "
    test_expect_success "$n: frame indices count 0, 1, ... up to ffprobe's count" "
        count=\$(ffprobe_info '$v' | cut -d' ' -f4) &&
        avk-vidcat -I '$v' >got && seq 0 \$((count - 1)) >want && test_cmp want got
    "
done

test_expect_success 'gray frames equal ffmpeg gray' "
    avk-vidcat -g '$vid_h264' >got && $FF -i '$vid_h264' -f rawvideo -pix_fmt gray - >want &&
    test \$(wc -c <got) -eq \$((320 * 240 * 60)) && cmp want got
"
test_expect_success 'YUV 4:2:0 frames equal the decoder output' "
    avk-vidcat -y '$vid_mkv' >got && $FF -i '$vid_mkv' -f rawvideo -pix_fmt yuv420p - >want &&
    cmp want got
"
test_expect_success 'downscaling (width given, height kept in aspect) equals ffmpeg area scaling' "
    avk-vidcat -s 160x0 '$vid_h264' >got &&
    $FF -i '$vid_h264' -vf scale=160:120:flags=area -f rawvideo -pix_fmt rgb24 - >want &&
    test \$(wc -c <got) -eq \$((160 * 120 * 3 * 60)) && cmp want got
"
test_expect_success 'gray at 96x72 equals ffmpeg area scaling' "
    avk-vidcat -g -s 0x72 '$vid_mpeg4' >got &&
    $FF -i '$vid_mpeg4' -vf scale=96:72:flags=area -f rawvideo -pix_fmt gray - >want &&
    cmp want got
"
test_expect_success 'upscaling equals ffmpeg bilinear scaling' "
    avk-vidcat -s 480x360 -n 5 '$vid_webm' >got &&
    $FF -i '$vid_webm' -frames:v 5 -vf scale=480:360:flags=bilinear -f rawvideo -pix_fmt rgb24 - >want &&
    cmp want got
"
test_expect_success 'a stream starting at 1.4 s (MPEG-TS) counts frames from 0' "
    start=\$(ffprobe -v error -select_streams v:0 -show_entries stream=start_time -of csv=p=0 '$vid_ts') &&
    awk -v s=\"\$start\" 'BEGIN { exit !(s > 0.5) }' &&
    avk-vidcat -I -n 3 '$vid_ts' >got && printf '0\n1\n2\n' >want && test_cmp want got
"
test_expect_success 'seeking then reading gives the same bytes as ffmpeg from that frame' "
    avk-vidcat -S 29 -n 6 '$vid_h264' >got &&
    $FF -i '$vid_h264' -vf 'select=between(n\,29\,34)' -vsync 0 -f rawvideo -pix_fmt rgb24 - >want &&
    cmp want got
"
test_expect_success 'a single decoder thread and fast mode still give every frame' "
    avk-vidcat -t 1 -f -g -s 64x0 -I '$vid_h264' | wc -l >got && echo 60 >want && test_cmp want got
"
test_expect_success 'a video on stdin ("-") decodes the same as the file' "
    avk-vidcat - <'$vid_mkv' >got && avk-vidcat '$vid_mkv' >want && cmp want got
"
test_expect_success 'on stdin a count the container does not state stays unknown (-1)' "
    avk-vidcat -i - <'$vid_mkv' | cut -d' ' -f4 >got && echo -1 >want && test_cmp want got
"
test_done
