#!/bin/sh
# Decoding throughput of the video module against the ffmpeg program, in
# the same run, at the same decoder threads, on generated H.264 videos
# (testsrc2, 600 frames, 1080p and 360p, cached in $AVKIT_BUILD/bench-media).
#
#   bench/decode.sh [THREADS]        (default: all cores)
#
# For each video and output it prints frames/s of avk_video_read
# (bench_decode), of `ffmpeg -threads T -i X -f null -` (decoding only),
# of ffmpeg producing the same output (same pixel format and size), and
# the two ratios. Target: at least 0.8 of ffmpeg's rate for the same output.
set -eu
SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
B=${AVKIT_BUILD:-$SRC_DIR/build/rel}
T=${1:-$(nproc)}
FRAMES=600
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
# fps_of CMD...: run CMD (output discarded), print FRAMES / wall seconds.
fps_of() {
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v n=$FRAMES 'BEGIN { printf "%.1f", n / (b - a) }'
}
ours() {  # ours ARGS...: bench_decode's frames/s
    "$BENCH" -t "$T" "$@" | awk '{ print $3 }'
}
row() {   # row LABEL OURS FFNULL FFSAME
    awk -v l="$1" -v o="$2" -v n="$3" -v s="$4" 'BEGIN {
        printf "%-34s %8.1f %8.1f %6.2f %8.1f %6.2f\n", l, o, n, o / n, s, o / s }'
}
FF="ffmpeg -nostdin -loglevel error -threads $T"

gen bench-1080p.mp4 1920x1080
gen bench-360p.mp4 640x360
echo "decoding throughput, frames/s, $T decoder threads, $FRAMES frames, $(nproc) cores"
printf "%-34s %8s %8s %6s %8s %6s\n" "video / output" "avkit" "ff-null" "ratio" "ff-same" "ratio"
for v in bench-1080p.mp4 bench-360p.mp4; do
    X=$DIR/$v
    null=$(fps_of $FF -i "$X" -f null -)
    same=$(fps_of $FF -i "$X" -pix_fmt rgb24 -f null -)
    row "${v%.mp4} RGB24 source size" "$(ours "$X")" "$null" "$same"
    same=$(fps_of $FF -i "$X" -vf scale=256:-2:flags=area,format=gray -f null -)
    row "${v%.mp4} gray 256 wide" "$(ours -g -s 256x0 "$X")" "$null" "$same"
    same=$(fps_of $FF -skip_loop_filter all -flags2 fast -i "$X" -vf scale=256:-2:flags=area,format=gray -f null -)
    row "${v%.mp4} gray 256 wide, fast" "$(ours -g -f -s 256x0 "$X")" "$null" "$same"
done
