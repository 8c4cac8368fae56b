#!/bin/sh
# A 1,025-frame video from a trained demo model: seams and the evaluator.
# av-sample --long 1025 on the first held-out prompt (blocks of BLOCK
# frames, CONTEXT frames of feature cache, STEPS Euler steps, cfg 4);
# tests/unit/test_long_seams.c's mean frame-to-frame latent change at the
# block joins against inside the blocks (the target: at most 1.5x), the
# same without context for comparison; and avk-eval's reading (color,
# shape, direction) of the first and of the last full block, decoded.
#
# Usage: bench/long_eval.sh DIR   (DIR as for bench/cache.sh; settings
#   FRAMES=1025 BLOCK=16 CONTEXT=4 STEPS=20 SIZE=64 from the environment;
#   SAMPLE_ARGS: more av-sample options, e.g. --no-ema)
set -e
cd "$(dirname "$0")/.."
BUILD=$(cd "${AVKIT_BUILD:-build/rel}" && pwd)
export PATH="$BUILD/bin:$BUILD/tests:$BUILD/examples:$PATH"
[ $# -eq 1 ] || { echo "usage: bench/long_eval.sh DIR" >&2; exit 2; }
M=$(cd "$1" && pwd)
FRAMES=${FRAMES:-1025} BLOCK=${BLOCK:-16} CONTEXT=${CONTEXT:-4} STEPS=${STEPS:-20}
SIZE=${SIZE:-64}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
PROMPT=$(head -n 1 "$M/raw/heldout.txt")
A="-m $M/dit.safetensors --vae $M/vae.safetensors --vocab $M/vocab.txt --size ${SIZE}x$SIZE
   --base $SIZE --steps $STEPS --cfg 4 --seed 1 --long $FRAMES --block $BLOCK ${SAMPLE_ARGS:-}"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $M: \"$PROMPT\", $FRAMES latent frames, blocks of $BLOCK, $STEPS steps, cfg 4"
/usr/bin/time -f "%e s wall, %U s user CPU, %M KiB peak RSS" \
    av-sample $A --context "$CONTEXT" -v -p "$PROMPT" -o "$DIR/long.avt" 2>"$DIR/err"
grep -v "^av-sample: --long: rank" "$DIR/err" | sed 's/^/# /'
echo "context $CONTEXT: $(test_long_seams "$DIR/long.avt")"
av-sample $A --context 0 -p "$PROMPT" -o "$DIR/bare.avt"
echo "context 0: $(test_long_seams "$DIR/bare.avt")"
last=$(( FRAMES / BLOCK - 1 ))
printf '%s\n%s\n' "$PROMPT" "$PROMPT" >"$DIR/p.txt"
for r in 0 "$last"; do
    av-tensor --cat -r "$r" -o "$DIR/b$r.avt" "$DIR/long.avt"
    av-vaeenc -d -m "$M/vae.safetensors" -o "$DIR/b$r.mp4" "$DIR/b$r.avt"
done
echo "avk-eval on the first block (frames 0-$((BLOCK - 1))) and block $last:"
avk-eval -P "$DIR/p.txt" -o "$DIR/eval.tsv" "$DIR/b0.mp4" "$DIR/b$last.mp4" >/dev/null
cat "$DIR/eval.tsv"
