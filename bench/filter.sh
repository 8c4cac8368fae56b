#!/bin/sh
# av-filter benchmark: clips/s and frames/s of each score alone and all
# together, against decoding alone (same frames, same analysis size, same
# run), on 360p and 1080p sources of 8 clips of 50 frames each (a key
# frame at the start of every clip, so seeking costs no extra decoding).
#   bench/filter.sh [BUILD_DIR]
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-${AVKIT_BUILD:-build/rel}}
DIR=$BUILD/bench-media
mkdir -p "$DIR"
NCLIPS=${NCLIPS:-8}
LEN=${LEN:-50}
for res in 640x360 1920x1080; do
    src=$DIR/filter-$res.mp4
    if [ ! -s "$src" ]; then
        w=${res%x*}; h=${res#*x}
        ffmpeg -nostdin -loglevel error -y -f lavfi \
            -i "testsrc2=s=$((w * 2))x$((h * 2)):r=25:d=$(( (NCLIPS * LEN + 24) / 25 ))" \
            -vf "crop=$w:$h:x='t*$((w / 3))':y='t*$((h / 4))'" \
            -c:v libx264 -preset veryfast -crf 20 -g "$LEN" -pix_fmt yuv420p "$src"
    fi
    echo "== $res source, analysis size 360, $NCLIPS clips of $LEN frames"
    "$BUILD/bench/bench_filter" "$src" "$NCLIPS" "$LEN" 360
done
