#!/bin/sh
# Decoding throughput of the video module against the ffmpeg program, in
# the same run, at the same decoder threads, on generated H.264 videos
# (testsrc2, 600 frames, 1080p and 360p, cached in $AVKIT_BUILD/bench-media).
#
#   bench/decode.sh [THREADS]        (default: all cores)
#
# For each video and output it prints frames/s of avk_video_read
# (bench_decode, whole process), of `ffmpeg -threads T -i X -f null -`
# (decoding only), of ffmpeg making the same pixels (same format and size),
# the two ratios, and the ratio of frames per CPU second against the
# latter. Target: at least 0.8 of ffmpeg's rate for the same output.
set -eu
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
B=${AVKIT_BUILD:-$SRC_DIR/build/rel}
T=${1:-$(nproc)}
FRAMES=${FRAMES:-600}
DIR=$B/bench-media
mkdir -p "$DIR"
BENCH=$B/bench/bench_decode
[ -x "$BENCH" ] || { echo "decode.sh: build first (make): $BENCH missing" >&2; exit 1; }

gen() {   # gen NAME WxH
    [ -s "$DIR/$1" ] && return 0
    ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=$2:rate=30" \
        -frames:v $FRAMES -c:v libx264 -preset fast -crf 20 -pix_fmt yuv420p \
        "$DIR/.tmp.$1" && mv "$DIR/.tmp.$1" "$DIR/$1"
}
# measure CMD...: run CMD (output discarded); print "WALL_FPS CPU_FPS":
# frames per wall-clock second and per CPU second (user + system; less
# sensitive to other load on the machine), via GNU time when installed.
measure() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%e %U %S" -o "$DIR/.time" "$@" >/dev/null 2>&1
        awk -v n=$FRAMES '{ w = $1 > 0 ? $1 : 0.001; c = $2 + $3 > 0 ? $2 + $3 : 0.001
                           printf "%.1f %.1f", n / w, n / c }' "$DIR/.time"
    else
        t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
        awk -v a="$t0" -v b="$t1" -v n=$FRAMES 'BEGIN { printf "%.1f 0", n / (b - a) }'
    fi
}
row() {   # row LABEL "OURS" "FFNULL" "FFSAME" (each "WALL_FPS CPU_FPS")
    awk -v l="$1" -v o="$2" -v n="$3" -v s="$4" 'BEGIN {
        split(o, O, " "); split(n, N, " "); split(s, S, " ")
        printf "%-30s %7.1f %7.1f %5.2f %7.1f %5.2f %5.2f\n", l, O[1], N[1], O[1] / N[1],
               S[1], O[1] / S[1], (S[2] > 0 ? O[2] / S[2] : 0) }'
}
FF="ffmpeg -nostdin -loglevel error -threads $T"

gen bench-1080p.mp4 1920x1080
gen bench-360p.mp4 640x360
echo "decoding throughput, frames/s, $T decoder threads, $FRAMES frames, $(nproc) cores"
echo "ff-null: ffmpeg decoding only; ff-same: ffmpeg making the same pixels; cpu: ratio of frames per CPU second against ff-same"
printf "%-30s %7s %7s %5s %7s %5s %5s\n" "video / output" "avkit" "ff-null" "ratio" "ff-same" "ratio" "cpu"
for v in bench-1080p.mp4 bench-360p.mp4; do
    X=$DIR/$v
    null=$(measure $FF -i "$X" -f null -)
    row "${v%.mp4} RGB24 source size" "$(measure "$BENCH" -t "$T" "$X")" "$null" \
        "$(measure $FF -i "$X" -pix_fmt rgb24 -f null -)"
    row "${v%.mp4} gray 256 wide" "$(measure "$BENCH" -t "$T" -g -s 256x0 "$X")" "$null" \
        "$(measure $FF -i "$X" -vf scale=256:-2:flags=area,format=gray -f null -)"
    row "${v%.mp4} gray 256 wide, fast" "$(measure "$BENCH" -t "$T" -g -f -s 256x0 "$X")" "$null" \
        "$(measure $FF -skip_loop_filter all -flags2 fast -i "$X" -vf scale=256:-2:flags=area,format=gray -f null -)"
done
rm -f "$DIR/.time"
