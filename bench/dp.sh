#!/bin/sh
# Data-parallel efficiency of av-train --model dit: one rank against two
# ranks under mpirun, one thread each, the same per-rank batch (the global
# batch doubles), measured in the same run on the same latents.
#
#   bench/dp.sh [STEPS [PER_RANK_BATCH [WIDTH [ROUNDS]]]]  (default 12, 2, 128, 1)
#   ZERO=N in the environment: the two-rank runs use --zero N (default 0)
#
# The latents are test_dit_train's fixture: two shapes of 8 and 4 clips
# (batches never mix shapes), so a per-rank batch of 1 or 2 gives every
# step exactly that many samples a rank at 1 and at 2 ranks, with the two
# shapes in the same proportion; other sizes leave short batches.
#
# Each run's step time is the median of its --log step_s column after the
# first two steps (start-up, first touches). Efficiency = t(1 rank) /
# t(2 ranks): 100% when the second rank's work is free and the gradient
# allreduce costs nothing. On a machine whose cores are shared with other
# work the ratio is only as good as the cores left idle.
set -eu
steps=${1:-12}
per=${2:-2}
width=${3:-128}
rounds=${4:-1}
: "${AVKIT_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build/rel}"
PATH=$AVKIT_BUILD/bin:$AVKIT_BUILD/tests:$PATH
command -v mpirun >/dev/null || { echo "dp.sh: mpirun not found" >&2; exit 1; }
[ -x "$AVKIT_BUILD/tests/test_dit_train" ] || { echo "dp.sh: build first (make)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_dp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp"
test_dit_train --fixture . >/dev/null
# the fixture's stream with a wider, deeper model
sed -e "s/\"hidden_size\":32/\"hidden_size\":$width/" -e 's/"depth":2/"depth":4/' \
    -e 's/"num_heads":2/"num_heads":4/' single.json >bench.json
TRAIN="av-train --model dit --config bench.json --seed 1 --schedule constant --ema 0 --steps $steps"

# median STEP_S of a --log file, steps 3 and later
median() {
    awk -F, 'NR > 3 { print $7 }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# ROUNDS interleaved pairs of runs (1 rank, then 2), so that a slow
# moment of the machine hits both; the efficiency printed is the median
# over the rounds of t1 / t2, beside each round's.
ZERO=${ZERO:-0}
r=1
while [ "$r" -le "$rounds" ]; do
    OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe --bind-to none -x PATH \
        -x OMP_NUM_THREADS=1 -np 1 $TRAIN --batch "$per" --log one.csv train.avt -o one.safetensors
    OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe --bind-to none -x PATH \
        -x OMP_NUM_THREADS=1 -np 2 $TRAIN --zero "$ZERO" --batch $((2 * per)) --log two.csv \
        train.avt -o two.safetensors
    echo "$(median one.csv) $(median two.csv)" >>rounds.txt
    r=$((r + 1))
done
params=$(grep -o '"hidden_size":[0-9]*' bench.json)
awk -v per="$per" -v p="$params" -v zero="$ZERO" '
    BEGIN { printf "dit %s depth 4, %d samples per rank, 1 thread per rank, --zero %d\n", p, per, zero }
    { printf "round %d: 1 rank %.4f s/step, 2 ranks %.4f s/step, efficiency %.1f%%\n",
          NR, $1, $2, 100 * $1 / $2 }' rounds.txt
awk '{ print $1 / $2 }' rounds.txt | sort -g | awk '{ e[NR] = $1 }
    END { m = NR % 2 ? e[(NR + 1) / 2] : (e[NR / 2] + e[NR / 2 + 1]) / 2
          printf "data-parallel efficiency (t1 / t2), median of %d rounds: %.1f%%\n", NR, 100 * m }'
