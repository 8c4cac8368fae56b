#!/bin/sh
# Benchmark of av-shotcut: frames/s of shot detection (default and --fast)
# against, in the same run, decoding alone (ffmpeg -threads T -i X -f null -)
# and ffmpeg's own scene detector (-vf scdet), at 360p and 1080p, on H.264
# videos of 2,000 frames with cuts, generated with ffmpeg into build/.
#
#   bench/shotcut.sh              all, threads = cores, best of 2 runs
#   BENCH_RUNS=3 BENCH_THREADS=4 BENCH_SIZES=360 bench/shotcut.sh
#
# Ratios are to decoding alone: 1.00 means as fast as decoding.
set -e
cd "$(dirname "$0")/.."
: "${AVKIT_BUILD:=$PWD/build/rel}"
BIN="$AVKIT_BUILD/bin"
MEDIA="$PWD/build/bench-media"
RUNS=${BENCH_RUNS:-2}
T=${BENCH_THREADS:-$(nproc)}
SIZES=${BENCH_SIZES:-"360 1080"}
FRAMES=2000
mkdir -p "$MEDIA"
[ -x "$BIN/av-shotcut" ] || { echo "bench: build first (make)" >&2; exit 1; }

# make_video HEIGHT: 2,000 frames at 25 fps in 5 shots of 400 frames:
# testsrc2, testsrc2 with hue turned, smptebars, testsrc2 negated,
# rgbtestsrc with noise. Cached.
make_video() {
    h=$1
    w=$((h * 16 / 9))
    out="$MEDIA/shotcut-${h}p.mp4"
    if [ ! -s "$out" ]; then
        echo "bench: generating $out ($FRAMES frames, ${w}x$h)" >&2
        s="s=${w}x$h:r=25"
        ffmpeg -nostdin -loglevel error -y \
            -t 16 -f lavfi -i "testsrc2=$s" -t 16 -f lavfi -i "testsrc2=$s" \
            -t 16 -f lavfi -i "smptebars=$s" -t 16 -f lavfi -i "testsrc2=$s" \
            -t 16 -f lavfi -i "rgbtestsrc=$s" \
            -filter_complex "[1:v]hue=h=120[b];[3:v]negate[d];[4:v]noise=alls=20:allf=t[e];[0:v][b][2:v][d][e]concat=n=5:v=1,format=yuv420p" \
            -c:v libx264 -preset veryfast -crf 23 "$out.tmp.mp4"
        mv "$out.tmp.mp4" "$out"
    fi
    echo "$out"
}

# best_time CMD...: the shortest wall time of RUNS runs, in seconds.
best_time() {
    best=
    i=0
    while [ $i -lt "$RUNS" ]; do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || { echo "bench: failed: $*" >&2; exit 1; }
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
        i=$((i + 1))
    done
    echo "$best"
}

printf "av-shotcut benchmark: %d threads, best of %d runs, load %s\n" "$T" "$RUNS" \
    "$(cut -d ' ' -f 1-3 /proc/loadavg)"
printf "%-6s %-28s %9s %10s %8s\n" size what seconds frames/s ratio
for h in $SIZES; do
    v=$(make_video "$h")
    n=$(ffprobe -v error -select_streams v:0 -show_entries stream=nb_frames -of csv=p=0 "$v")
    dec=$(best_time ffmpeg -nostdin -v error -threads "$T" -i "$v" -f null -)
    scd=$(best_time ffmpeg -nostdin -v error -threads "$T" -i "$v" -vf scdet -f null -)
    def=$(best_time "$BIN/av-shotcut" -j "$T" "$v")
    fst=$(best_time "$BIN/av-shotcut" -j "$T" --fast "$v")
    for row in "decode:ffmpeg -f null (baseline):$dec" "scdet:ffmpeg -vf scdet:$scd" \
               "default:av-shotcut:$def" "fast:av-shotcut --fast:$fst"; do
        what=$(echo "$row" | cut -d: -f2)
        t=$(echo "$row" | cut -d: -f3)
        printf "%-6s %-28s %9.3f %10.1f %8.3f\n" "${h}p" "$what" "$t" \
            "$(echo "$n / $t" | bc -l)" "$(echo "$dec / $t" | bc -l)"
    done
done
