#!/bin/sh
# Encoding RGB frames to mp4 (H.264 via libx264, or MPEG-4 part 2): ffprobe
# accepts the result, it decodes back to the same number of frames, close
# to the input, and no half file ever appears under the real name.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/video-media.sh"
FF="ffmpeg -nostdin -loglevel error"

# psnr A B: average PSNR (dB) of video A against video B.
psnr() {
    ffmpeg -nostdin -i "$1" -i "$2" -lavfi psnr -f null - 2>&1 |
        sed -n 's/.*PSNR.* average:\([0-9.inf]*\).*/\1/p'
}
# probe FILE: "codec width height avg_rate frames"
probe() {
    ffprobe -v error -select_streams v:0 -count_frames \
        -show_entries stream=codec_name,width,height,avg_frame_rate,nb_read_frames \
        -of csv=p=0 "$1" | tr , ' '
}

avk-vidcat "$vid_h264" >src.rgb || exit 1

test_expect_success 'H.264 by default: ffprobe reads 60 frames of 320x240 at 25/s' "
    avk-vidcat -e out.mp4 -s 320x240 -r 25 <src.rgb &&
    probe out.mp4 >got && echo 'h264 320 240 25/1 60' >want && test_cmp want got
"
test_expect_success 'the H.264 file decodes back to 60 frames' "
    avk-vidcat -I out.mp4 | wc -l >got && echo 60 >want && test_cmp want got
"
test_expect_success 'H.264 at the default crf 18 is above 35 dB PSNR' "
    p=\$(psnr out.mp4 '$vid_h264') && echo \"PSNR \$p\" &&
    awk -v p=\"\$p\" 'BEGIN { exit !(p > 35) }'
"
test_expect_success 'the output has the usual permissions, no temporary file is left' "
    test \"\$(stat -c %a out.mp4)\" = \"\$(umask -S >/dev/null; printf '%o' \$((0666 & ~\$(umask))))\" &&
    test -z \"\$(ls -A | grep tmp)\"
"
test_expect_success 'a higher crf gives a smaller file' "
    avk-vidcat -e small.mp4 -s 320x240 -q 35 <src.rgb &&
    test \$(stat -c %s small.mp4) -lt \$(stat -c %s out.mp4)
"
test_expect_success 'MPEG-4 part 2: ffprobe reads 60 frames, above 30 dB PSNR' "
    avk-vidcat -e m4.mp4 -s 320x240 -r 25 -c mpeg4 <src.rgb &&
    probe m4.mp4 >got && echo 'mpeg4 320 240 25/1 60' >want && test_cmp want got &&
    p=\$(psnr m4.mp4 '$vid_h264') && echo \"PSNR \$p\" &&
    awk -v p=\"\$p\" 'BEGIN { exit !(p > 30) }'
"
test_expect_success 'an NTSC rate (29.97) is kept exactly' "
    avk-vidcat -e ntsc.mp4 -s 320x240 -r 29.97003 <src.rgb &&
    probe ntsc.mp4 | cut -d' ' -f4 >got && echo 30000/1001 >want && test_cmp want got
"
test_expect_success 'an odd size is padded to even, the picture kept' "
    avk-vidcat -s 161x121 '$vid_h264' >odd.rgb &&
    avk-vidcat -e odd.mp4 -s 161x121 <odd.rgb &&
    probe odd.mp4 >got && echo 'h264 162 122 25/1 60' >want && test_cmp want got &&
    $FF -i odd.mp4 -vf format=rgb24,crop=161:121:0:0 -f rawvideo -pix_fmt rgb24 back.rgb &&
    test \$(stat -c %s back.rgb) -eq \$(stat -c %s odd.rgb)
"
test_expect_code 1 'a directory that does not exist: clear error, exit 1' "
    avk-vidcat -e no/such/dir/x.mp4 -s 320x240 <src.rgb 2>err; rc=\$?
    grep 'no/such/dir/x.mp4: ' err; exit \$rc
"
test_expect_code 1 'an unknown encoder name is refused' "
    avk-vidcat -e x.mp4 -s 320x240 -c no-such-codec <src.rgb 2>err; rc=\$?
    grep \"no video encoder named 'no-such-codec'\" err && test ! -e x.mp4; exit \$rc
"
test_expect_success 'killed while encoding: nothing under the real name, no temporary left' "
    mkdir k && mkfifo k.fifo
    avk-vidcat -e k/part.mp4 -s 320x240 <k.fifo &
    pid=\$!
    { cat src.rgb; exec sleep 30; } >k.fifo &
    feeder=\$!
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
        test -n \"\$(find k -name '.part*' -size +1k)\" && break; sleep 0.5
    done
    ls -lA k; kill \$pid; wait \$pid; kill \$feeder; wait \$feeder
    test ! -e k/part.mp4 && test -z \"\$(ls -A k)\"
"
test_done
