#!/bin/sh
# The diffusion cache's speed and quality table on a trained demo model:
# av-sample on the held-out prompts, uncached and at each threshold, same
# seed; per threshold the transformer evaluations (both guidance passes),
# how many times fewer than uncached, the speedup in process CPU time and
# in wall-clock time (both measured here, against the uncached run of the
# same script), the mean PSNR of the decoded videos and the mean relative
# L2 of the latents to the uncached ones (bench/sample_compare.c), and the
# evaluator's joint accuracy (examples/avk-eval, color + shape + direction
# all right) on the decoded videos, beside the uncached run's. Its last
# lines name the threshold `--cache default` should be by its rule (the
# largest measured one keeping 32 dB and the accuracy within 5 points)
# and whether that reaches 2.5x fewer evaluations.
#
# Usage: bench/cache.sh DIR [OUT]
#   DIR holds what `make -C examples` leaves in out/: dit.safetensors,
#   vae.safetensors, vocab.txt and raw/heldout.txt (the held-out prompts).
#   OUT (default: a temporary directory): where cache.tsv, the plot
#   cache.png (bench/cache_plot.c) and the samples are kept.
# Settings from the environment, defaulting to the demo's sampling:
#   FRAMES=16 SIZE=64 STEPS=20 CFG=4 SEED=1 SOLVER=ab2
#   THRESHOLDS="0.05 0.1 0.2 0.3 0.4 0.5 0.8"
#   SAMPLE_ARGS="" (more av-sample options, e.g. --no-ema for a model
#   trained too briefly for its EMA weights)
# Run it niced on a loaded machine: CPU time is the fairer speed measure.
set -e
[ $# -ge 1 ] || { echo "usage: bench/cache.sh DIR [OUT]" >&2; exit 2; }
# DIR and OUT are taken from where the script is called, the build from
# the source tree
M=$(cd "$1" && pwd)
for f in dit.safetensors vae.safetensors vocab.txt raw/heldout.txt; do
    [ -s "$M/$f" ] || { echo "bench/cache.sh: $M/$f: missing" >&2; exit 1; }
done
if [ $# -ge 2 ]; then
    mkdir -p "$2"; OUT=$(cd "$2" && pwd)
else
    OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
fi
cd "$(dirname "$0")/.."
BUILD=$(cd "${AVKIT_BUILD:-build/rel}" && pwd)
export PATH="$BUILD/bin:$BUILD/bench:$BUILD/examples:$PATH"
# idle OpenMP threads that spin slow everything on a busy machine
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
FRAMES=${FRAMES:-16} SIZE=${SIZE:-64} STEPS=${STEPS:-20} CFG=${CFG:-4} SEED=${SEED:-1}
SOLVER=${SOLVER:-ab2} THRESHOLDS=${THRESHOLDS:-"0.05 0.1 0.2 0.3 0.4 0.5 0.8"}
P=$M/raw/heldout.txt
A="-m $M/dit.safetensors --vae $M/vae.safetensors --vocab $M/vocab.txt -P $P --frames $FRAMES --size ${SIZE}x$SIZE
   --base $SIZE --steps $STEPS --cfg $CFG --seed $SEED --solver $SOLVER ${SAMPLE_ARGS:-}"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $M: $(grep -c . "$P") held-out prompts, $FRAMES frames of ${SIZE}x$SIZE, $SOLVER $STEPS steps, cfg $CFG, seed $SEED ${SAMPLE_ARGS:-}"

# run NAME ARGS...: latents to OUT/NAME.avt, videos to OUT/NAME/; writes
# "evaluations cpu_seconds wall_seconds joint_accuracy" to OUT/NAME.res
run() {
    name=$1; shift
    /usr/bin/env time -f "%U %S %e" -o "$OUT/$name.time" \
        av-sample $A "$@" -v -o "$OUT/$name.avt" 2>"$OUT/$name.err" ||
        { cat "$OUT/$name.err" >&2; return 1; }
    ev=$(awk '/transformer evaluations/ { s += $4 } END { print s }' "$OUT/$name.err")
    rm -rf "$OUT/$name"
    av-vaeenc -d -m "$M/vae.safetensors" -o "$OUT/$name" "$OUT/$name.avt" || return 1
    avk-eval -P "$P" -o "$OUT/$name.eval" "$OUT/$name"/*.mp4 >"$OUT/$name.acc" || return 1
    acc=$(awk '$1 == "all" || $1 == "joint" { print $4 }' "$OUT/$name.acc")
    set -- $(cat "$OUT/$name.time")
    echo "$ev $(echo "$1 + $2" | bc) $3 ${acc:-?}" >"$OUT/$name.res"
}

run none || exit 1
set -- $(cat "$OUT/none.res")
bev=$1 bcpu=$2 bwall=$3 bacc=$4
printf "thresh\tevals\tfewer\tcpu_speedup\twall_speedup\tpsnr_dB\trel_l2\taccuracy\n" >"$OUT/cache.tsv"
printf "none\t%s\t1.00\t1.00\t1.00\tinf\t0\t%s\n" "$bev" "$bacc" >>"$OUT/cache.tsv"
for th in $THRESHOLDS; do
    run "c$th" --cache "$th" || exit 1
    set -- $(cat "$OUT/c$th.res")
    c=$(sample_compare --vae "$M/vae.safetensors" "$OUT/none.avt" "$OUT/c$th.avt")
    printf "%s\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\n" "$th" "$1" "$(echo "$bev / $1" | bc -l)" \
        "$(echo "$bcpu / $2" | bc -l)" "$(echo "$bwall / $3" | bc -l)" \
        "$(echo "$c" | sed 's/.*psnr=\([^ ]*\).*/\1/')" \
        "$(echo "$c" | sed 's/.*rel_l2=\([^ ]*\).*/\1/')" "$4" >>"$OUT/cache.tsv"
done
cat "$OUT/cache.tsv"
echo "# uncached: $bev evaluations, $bcpu s CPU, $bwall s wall; accuracy = avk-eval's joint"
# the default's rule (av-sample(1)): the largest threshold measured whose
# mean PSNR is 32 dB or more and whose accuracy is within 5 points of the
# uncached run's; then whether it reaches 2.5x fewer evaluations
awk -F'\t' 'NR == 2 { base = $8 }
    NR > 2 && $6 + 0 >= 32 && ($8 == "?" || base == "?" || ($8 - base) ^ 2 <= 0.05 ^ 2) &&
        (best == "" || $1 + 0 > best + 0) { best = $1; fewer = $3; psnr = $6 }
    END { if (best == "") print "# default: no threshold keeps 32 dB and the accuracy";
          else printf "# default: %s (%sx fewer evaluations at %s dB: %s the 2.5x target)\n",
                      best, fewer, psnr, (fewer + 0 >= 2.5 ? "meets" : "misses") }' "$OUT/cache.tsv"
cache_plot "$OUT/cache.tsv" "$OUT/cache.png" && echo "# plot: $OUT/cache.png"
