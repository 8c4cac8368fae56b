#!/bin/sh
# Benchmark of av-shotcut: frames/s of shot detection (the default, which
# skips decoder work the analysis cannot see, and --full-decode) against, in the same run, decoding alone (ffmpeg -threads T -i X -f null -)
# and ffmpeg's own scene detector (-vf scdet), at 360p and 1080p, on H.264
# videos of 2,000 frames with cuts, generated with ffmpeg into build/.
#
#   bench/shotcut.sh              all, threads = cores, best of 3 rounds
#   BENCH_RUNS=3 BENCH_THREADS=4 BENCH_SIZES=360 bench/shotcut.sh
#   BENCH_CONTENT=detail bench/shotcut.sh
#
# Two kinds of content (BENCH_CONTENT, default both): "patterns", test
# patterns and colour bars, three of whose five shots cost the decoder
# little; and "detail", fine detail and film grain in every shot
# (a Mandelbrot zoom, grainy test patterns, a cellular automaton, a
# grainy gradient), which on the 2-core development machine decodes at
# about 1,100 frames/s at 360p and 136 at 1080p, nearer the 830 and 140
# of the footage quoted there than "patterns" (1,400 and 190). The
# analysis costs the same per frame in both, so its share is larger
# where decoding is cheap.
#
# Ratios are to decoding alone: 1.00 means as fast as decoding. Wall time
# and CPU time (user + system) are both reported: on a busy machine the CPU
# time is the steadier measure.
set -e
cd "$(dirname "$0")/.."
: "${AVKIT_BUILD:=$PWD/build/rel}"
BIN="$AVKIT_BUILD/bin"
MEDIA="$PWD/build/bench-media"
RUNS=${BENCH_RUNS:-3}
T=${BENCH_THREADS:-$(nproc)}
SIZES=${BENCH_SIZES:-"360 1080"}
CONTENTS=${BENCH_CONTENT:-"patterns detail"}
FRAMES=2000
mkdir -p "$MEDIA"
[ -x "$BIN/av-shotcut" ] || { echo "bench: build first (make)" >&2; exit 1; }

# make_video CONTENT HEIGHT: 2,000 frames at 25 fps in 5 shots of 400
# frames. patterns: testsrc2, testsrc2 with hue turned, smptebars,
# testsrc2 negated, rgbtestsrc with noise. detail: a Mandelbrot zoom,
# testsrc2 with grain, a cellular automaton, testsrc2 negated, hue turned
# and with grain, moving gradients with grain. Cached.
make_video() {
    content=$1
    h=$2
    w=$((h * 16 / 9))
    if [ "$content" = patterns ]; then
        out="$MEDIA/shotcut-${h}p.mp4"
    else
        out="$MEDIA/shotcut-$content-${h}p.mp4"
    fi
    if [ ! -s "$out" ]; then
        echo "bench: generating $out ($FRAMES frames, ${w}x$h)" >&2
        s="s=${w}x$h:r=25"
        if [ "$content" = patterns ]; then
            set -- -t 16 -f lavfi -i "testsrc2=$s" -t 16 -f lavfi -i "testsrc2=$s" \
                -t 16 -f lavfi -i "smptebars=$s" -t 16 -f lavfi -i "testsrc2=$s" \
                -t 16 -f lavfi -i "rgbtestsrc=$s" \
                -filter_complex "[1:v]hue=h=120[b];[3:v]negate[d];[4:v]noise=alls=20:allf=t[e];[0:v][b][2:v][d][e]concat=n=5:v=1,format=yuv420p"
        else
            set -- -t 16 -f lavfi -i "mandelbrot=$s" -t 16 -f lavfi -i "testsrc2=$s" \
                -t 16 -f lavfi -i "cellauto=$s:rule=30" -t 16 -f lavfi -i "testsrc2=$s" \
                -t 16 -f lavfi -i "gradients=$s:speed=0.05:n=6" \
                -filter_complex "[1:v]noise=alls=12:allf=t[b];[3:v]negate,hue=h=90,noise=alls=12:allf=t[d];[4:v]noise=alls=8:allf=t[e];[0:v][b][2:v][d][e]concat=n=5:v=1,format=yuv420p"
        fi
        ffmpeg -nostdin -loglevel error -y "$@" -c:v libx264 -preset veryfast -crf 23 \
            "$out.tmp.mp4"
        mv "$out.tmp.mp4" "$out"
    fi
    echo "$out"
}

# time_once NAME CMD...: run CMD once and keep, in $MEDIA/.best-NAME, the
# shortest wall time and the shortest CPU time (user + system, less
# sensitive to other load on the machine) seen so far: "WALL CPU".
time_once() {
    name=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$MEDIA/.time" "$@" >/dev/null 2>&1 ||
        { echo "bench: failed: $*" >&2; exit 1; }
    awk -v f="$MEDIA/.best-$name" 'BEGIN { if ((getline line < f) > 0) split(line, b, " ") }
        { w = $1; c = $2 + $3
          if (b[1] != "" && b[1] < w) w = b[1]; if (b[2] != "" && b[2] < c) c = b[2]
          print w, c > f }' "$MEDIA/.time"
}

printf "av-shotcut benchmark: %d threads, best of %d rounds, load %s\n" "$T" "$RUNS" \
    "$(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "fps: frames per wall second; cpu-fps: frames per CPU second (user + system);"
echo "ratios against decoding alone (ffmpeg -threads T -i X -f null -) in the same run"
printf "%-9s %-6s %-26s %8s %8s %8s %8s\n" content size what fps cpu-fps ratio cpu-ratio
for content in $CONTENTS; do
for h in $SIZES; do
    v=$(make_video "$content" "$h")
    n=$(ffprobe -v error -select_streams v:0 -show_entries stream=nb_frames -of csv=p=0 "$v")
    # Round by round, every command once a round, so that a change in the
    # machine's load touches them all alike; the best of the rounds counts.
    rm -f "$MEDIA"/.best-*
    i=0
    while [ $i -lt "$RUNS" ]; do
        time_once dec ffmpeg -nostdin -v error -threads "$T" -i "$v" -f null -
        time_once scd ffmpeg -nostdin -v error -threads "$T" -i "$v" -vf scdet -f null -
        time_once def "$BIN/av-shotcut" -j "$T" "$v"
        time_once ful "$BIN/av-shotcut" -j "$T" --full-decode "$v"
        i=$((i + 1))
    done
    dec=$(cat "$MEDIA/.best-dec") scd=$(cat "$MEDIA/.best-scd")
    def=$(cat "$MEDIA/.best-def") ful=$(cat "$MEDIA/.best-ful")
    for row in "ffmpeg -f null (baseline):$dec" "ffmpeg -vf scdet:$scd" \
               "av-shotcut:$def" "av-shotcut --full-decode:$ful"; do
        what=${row%%:*}
        t=${row#*:}
        echo "$t $dec" | awk -v n="$n" -v h="${h}p" -v c="$content" -v what="$what" '{
            printf "%-9s %-6s %-26s %8.1f %8.1f %8.3f %8.3f\n", c, h, what, n / $1, n / $2, $3 / $1, $4 / $2 }'
    done
done
done
