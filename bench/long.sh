#!/bin/sh
# av-sample --long: latency of the layer pipeline on 1 and 2 ranks, and a
# projection to more ranks from the stage times the runs report.
#
# The model (random weights: the time of an evaluation does not depend on
# them) has DEPTH blocks of width HIDDEN; the video is FRAMES latent frames
# of 8x8 latents in blocks of BLOCK with CONTEXT frames of feature cache,
# STEPS steps with guidance (2 passes). One process and mpirun -np 2 run
# the same evaluations (their videos are compared: the same bits), each
# rank single-threaded (OMP_NUM_THREADS=1), so 2 ranks need 2 free cores:
# on a loaded machine the measured 2-rank latency says more about the
# load than about the pipeline, hence the projection.
#
# The projection's model: an evaluation costs e (embedding, head and
# Euler step, on rank 0) plus DEPTH x b (b: one block), both in process
# CPU seconds measured on one process (av-sample -v reports them per
# rank; CPU time is what a loaded machine does not inflate). On P ranks
# with DEPTH / P blocks each the pipeline stays full whenever a block's
# next step waits behind at least P evaluations (here STEPS blocks in
# flight x 2 passes), so E evaluations take about
#   T_P = (E + P - 1) x (e + DEPTH / P x b) + E x c
# where c is one hand-over of the state (a few tens of KiB through shared
# memory: microseconds; taken as 0) and rank 0's extra e is not hidden.
# The speedup is T_1 / T_P; the measured 2-rank wall-clock ratio is
# printed beside it.
#
# Usage: bench/long.sh   (DEPTH=8 HIDDEN=128 FRAMES=64 BLOCK=4 CONTEXT=2
#                         STEPS=8 from the environment)
set -e
cd "$(dirname "$0")/.."
BUILD=$(cd "${AVKIT_BUILD:-build/rel}" && pwd)
export PATH="$BUILD/bin:$BUILD/tests:$PATH" OMP_NUM_THREADS=1
DEPTH=${DEPTH:-8} HIDDEN=${HIDDEN:-128} FRAMES=${FRAMES:-64} BLOCK=${BLOCK:-4}
CONTEXT=${CONTEXT:-2} STEPS=${STEPS:-8}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
test_sample_util mkdit "$DIR/dit.safetensors" --depth "$DEPTH" --hidden "$HIDDEN" vae_factor=8
printf 'a red circle moves left\na blue square moves up\n' >"$DIR/corpus.txt"
av-caption-feed --learn-vocab 300 --corpus "$DIR/corpus.txt" -o "$DIR/vocab.txt"
A="-m $DIR/dit.safetensors --vocab $DIR/vocab.txt --size 64x64 --base 64 --steps $STEPS
   --cfg 4 --long $FRAMES --block $BLOCK --context $CONTEXT -p red -v"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc --all) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# DiT depth $DEPTH width $HIDDEN; $FRAMES latent frames of 8x8, blocks of $BLOCK, context $CONTEXT, $STEPS steps, cfg 4"

t0=$(date +%s.%N)
av-sample $A -o "$DIR/one.avt" 2>"$DIR/one.err"
t1=$(date +%s.%N)
mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader \
    --mca btl_vader_single_copy_mechanism none -x PATH -x OMP_NUM_THREADS=1 -np 2 \
    av-sample $A -o "$DIR/two.avt" 2>"$DIR/two.err"
t2=$(date +%s.%N)
cmp "$DIR/one.avt" "$DIR/two.avt" && echo "# 1 and 2 ranks: the same video, bit for bit"
cat "$DIR/one.err" "$DIR/two.err" | sed 's/^/# /'
ev=$(sed -n 's/.*blocks, \([0-9]*\) transformer evaluations.*/\1/p' "$DIR/one.err")
# "rank R: blocks A-B: CPU embed X s, blocks Y s, head Z s; wall T s"
stage() { sed -n "s/.*rank $2: blocks [0-9]*-[0-9]*: CPU embed \([0-9.]*\) s, blocks \([0-9.]*\) s, head \([0-9.]*\) s; wall \([0-9.]*\) s.*/\1 \2 \3 \4/p" "$1"; }
set -- $(stage "$DIR/one.err" 0)
e=$(echo "($1 + $3) / $ev" | bc -l) b=$(echo "$2 / $ev / $DEPTH" | bc -l)
set -- $(stage "$DIR/two.err" 0) $(stage "$DIR/two.err" 1)
printf "# CPU per evaluation: e = %.2f ms (embed + head + step), b = %.2f ms a block\n" \
    "$(echo "$e * 1000" | bc -l)" "$(echo "$b * 1000" | bc -l)"
printf "# 2 ranks, CPU per evaluation: rank 0 %.2f ms (its blocks %.2f), rank 1 %.2f ms\n" \
    "$(echo "($1 + $2 + $3) / $ev * 1000" | bc -l)" "$(echo "$2 / $ev * 1000" | bc -l)" \
    "$(echo "$6 / $ev * 1000" | bc -l)"
printf "measured: 1 rank %.2f s wall, 2 ranks %.2f s wall: latency ratio %.2f (load above)\n" \
    "$(echo "$t1 - $t0" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" \
    "$(echo "($t1 - $t0) / ($t2 - $t1)" | bc -l)"
echo "ranks  projected_latency_ratio"
for P in 1 2 4 8; do
    [ "$P" -le "$DEPTH" ] || continue
    T1=$(echo "$ev * ($e + $DEPTH * $b)" | bc -l)
    TP=$(echo "($ev + $P - 1) * ($e + $DEPTH / $P * $b)" | bc -l)
    printf "%5d  %23.2f\n" "$P" "$(echo "$T1 / $TP" | bc -l)"
done
