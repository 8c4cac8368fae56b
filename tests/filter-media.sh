# Test clips for the av-filter tests (t702-t708), generated once with
# ffmpeg's lavfi sources and cached by test_media. Sourced after lib.sh.
# Encoded with one x264 thread so the bytes, and so the golden scores, do
# not depend on the machine's core count.
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
ENC="-c:v libx264 -preset veryfast -crf 18 -threads 1 -pix_fmt yuv420p"
# A camera pan over a still testsrc2 picture: every pixel moves the same,
# 9.6 px right and 4 px down a frame (31 px per VBench step of 3 frames,
# 11.1 px at the flow size of 128 on the shorter side).
PAN="crop=640:360:x='t*240':y='t*100'"
SRC="testsrc2=s=1280x720:r=25:d=1,loop=loop=-1:size=1,trim=end_frame=50"

filter_media() {
    case $1 in
    still)  test_media filter-still.mp4 -f lavfi -i "smptebars=s=640x360:r=25:d=2" $ENC ;;
    pan)    test_media filter-pan.mp4 -f lavfi -i "$SRC" -vf "$PAN" $ENC ;;
    slow)   test_media filter-slow.mp4 -f lavfi -i "$SRC" -vf "crop=640:360:x='t*30':y=0" $ENC ;;
    sub)    test_media filter-sub.mp4 -f lavfi -i "$SRC" -vf "$PAN,drawtext=fontfile=$FONT:text='Hello subtitles are here':fontsize=40:fontcolor=white:borderw=3:bordercolor=black:x=(w-tw)/2:y=h-th-30" $ENC ;;
    corner) test_media filter-corner.mp4 -f lavfi -i "$SRC" -vf "$PAN,drawtext=fontfile=$FONT:text='cam 12':fontsize=12:fontcolor=white:x=8:y=8" $ENC ;;
    logo)   test_media filter-logo.mp4 -f lavfi -i "$SRC" -vf "$PAN,drawbox=x=520:y=20:w=90:h=50:color=white@0.5:t=fill,drawtext=fontfile=$FONT:text='LOGO':fontsize=28:fontcolor=black@0.5:x=530:y=32" $ENC ;;
    blur)   test_media filter-blur.mp4 -f lavfi -i "$SRC" -vf "$PAN,gblur=sigma=4" $ENC ;;
    dark)   test_media filter-dark.mp4 -f lavfi -i "$SRC" -vf "$PAN,eq=brightness=-0.4" $ENC ;;
    noisy)  test_media filter-noisy.mp4 -f lavfi -i "$SRC" -vf "$PAN,noise=alls=40:allf=t" $ENC ;;
    washed) test_media filter-washed.mp4 -f lavfi -i "$SRC" -vf "$PAN,eq=contrast=0.3" $ENC ;;
    esac
}

# filter_manifest NAME...: a manifest in av-shotcut's columns, one clip
# (frames 0-50) of each named video, on stdout.
filter_manifest() {
    printf 'clip\tvideo\tshot\tstart_frame\tend_frame\tstart_time\tend_time\tfps\twidth\theight\tevent\ttrans_start\ttrans_end\n'
    for name in "$@"; do
        path=$(filter_media "$name") || return 1
        printf '%s#0-50\t%s\t0\t0\t50\t0.000\t2.000\t25\t640\t360\t0\t-\t-\n' "$path" "$path"
    done
}

# col FILE NAME ROW: the value of column NAME in data row ROW (1-based).
col() {
    awk -F'\t' -v name="$2" -v row="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        NR == row + 1 { print $c }' "$1"
}
