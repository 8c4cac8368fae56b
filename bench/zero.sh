#!/bin/sh
# Data parallelism and ZeRO for av-train --model dit, measured in one run:
#
#   bench/zero.sh [STEPS [WIDTH [REPEATS]]]      (default 10, 128, 3)
#
# 1. Data-parallel efficiency from 1 to 2 ranks of 1 thread each, the same
#    per-rank batch (2 samples; the global batch doubles), in CPU time: a
#    rank's CPU seconds per step as the trainer's -v line reports them
#    (the process's CPU time over the steps after the second, so start-up
#    and the first touches are left out). Efficiency = CPU per step at 1 rank / mean CPU per step of a rank
#    at 2 ranks: 100% when the second rank adds no work to the first
#    (Open MPI polls while it waits, so waiting counts as CPU). On a shared
#    machine wall time measures the other tenants, CPU time much less so;
#    each figure is REPEATS runs: median, and the spread (min..max).
# 2. At 2 and 4 ranks (global batch 4), no sharding, --zero 1 and --zero
#    2: the training state a rank holds (weights, gradients, AdamW moments
#    as the trainer reports them with -v), the peak resident memory of the
#    largest rank (ru_maxrss: the state plus activations, libraries, MPI),
#    and the share of the step a rank spends waiting on gradient
#    communication (the trainer's -v line: wall time blocked in the bucket
#    waits, the norm's allgather and ZeRO's weight allgather, over wall
#    time of the steps, mean of the ranks).
#
# The model: the test fixture's config widened to WIDTH, depth 4, patch
# 1x2x2; the data: 8 clips of latents [4, 4, 16, 16] (256 tokens a sample)
# with captions, written here (python3 for the .npy files, av-tensor
# --pack). The fixture's own clips (32 tokens) would make every step
# mostly gradient traffic, unlike any real training.
set -eu
steps=${1:-10}
width=${2:-128}
reps=${3:-3}
: "${AVKIT_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build/rel}"
PATH=$AVKIT_BUILD/bin:$AVKIT_BUILD/tests:$PATH
command -v mpirun >/dev/null || { echo "zero.sh: mpirun not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "zero.sh: python3 not found" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "zero.sh: needs /usr/bin/time (GNU time)" >&2; exit 1; }
[ -x "$AVKIT_BUILD/tests/test_dit_train" ] || { echo "zero.sh: build first (make)" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_zero.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp"
test_dit_train --fixture . >/dev/null
sed -e "s/\"hidden_size\":32/\"hidden_size\":$width/" -e 's/"depth":2/"depth":4/' \
    -e 's/"num_heads":2/"num_heads":4/' single.json >bench.json
cat >npy.py <<'EOF'
import math, struct, sys
def npy(path, descr, shape, data):
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % s for s in shape))
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + data)
i = int(sys.argv[1])
n = 4 * 4 * 16 * 16
lat = [0.8 * math.sin(0.3 * j * (i % 5 + 1) + i) for j in range(n)]
npy("lat.npy", "<f4", (4, 4, 16, 16), struct.pack("<%df" % n, *lat))
npy("tok.npy", "<i4", (8,), struct.pack("<8i", 1, 3 + i % 5, 10 + i % 7, 20 + i % 4, 2, 0, 0, 0))
npy("mask.npy", "|u1", (8,), bytes([1, 1, 1, 1, 1, 0, 0, 0]))
EOF
for i in 0 1 2 3 4 5 6 7; do
    python3 npy.py "$i"
    av-tensor --pack -k "clip$i" -m bucket=128x128 -o "c$i.avt" latent=lat.npy tokens=tok.npy \
        mask=mask.npy
done
av-tensor --cat -o train.avt c0.avt c1.avt c2.avt c3.avt c4.avt c5.avt c6.avt c7.avt
TRAIN="av-train --model dit --config bench.json --seed 1 --schedule constant --ema 0"

# run NP STEPS ARGS...: av-train under mpirun, each rank under GNU time
# (cpu.R: user, system seconds, peak KB); -v messages in err
run() {
    np=$1 n=$2
    shift 2
    rm -f cpu.*
    mpirun --allow-run-as-root --oversubscribe --bind-to none -x PATH -x OMP_NUM_THREADS=1 \
        -np "$np" sh -c '/usr/bin/time -f "%U %S %M" -o "cpu.$OMPI_COMM_WORLD_RANK" "$@"' sh \
        $TRAIN --steps "$n" -v "$@" train.avt -o out.safetensors 2>err
}

# median (min..max) of the numbers on stdin
spread() {
    sort -g | awk '{ v[NR] = $1 } END {
        printf "%.4f (%.4f..%.4f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# CPU seconds per step of a rank (mean over the ranks): NP ranks, per-rank
# batch 2, from the trainer's -v lines (process CPU time of the steps after
# the second: start-up and the first touches left out)
cpu_per_step() {
    run "$1" "$steps" --batch $((2 * $1))
    sed -n 's/.*[( ]\([0-9.]*\) s CPU over \([0-9]*\) steps after the second.*/\1 \2/p' err |
        awk '{ s += $1 / $2; n++ } END { printf "%.5f\n", s / n }'
}

params=$(OMP_NUM_THREADS=1 av-train --model dit --config bench.json --steps 1 --batch 1 -v \
    train.avt -o p.safetensors 2>&1 | sed -n 's/.*model of \([0-9]*\) parameters.*/\1/p')
echo "dit width $width depth 4, $params parameters, 256 tokens a sample; $steps steps; $reps repeats;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo
echo "== data-parallel efficiency, 1 -> 2 ranks of 1 thread, 2 samples a rank (CPU time)"
: >eff.txt
for r in $(seq "$reps"); do
    c1=$(cpu_per_step 1)
    c2=$(cpu_per_step 2)
    echo "$c1 $c2" | tee -a eff.txt | awk '{ printf "  run: 1 rank %.4f s/step, 2 ranks %.4f s/step a rank: %.1f%%\n", $1, $2, 100 * $1 / $2 }'
done
printf "1 rank:  CPU s/step "; cut -d' ' -f1 eff.txt | spread; echo
printf "2 ranks: CPU s/step a rank "; cut -d' ' -f2 eff.txt | spread; echo
printf "efficiency %%: "; awk '{ print 100 * $1 / $2 }' eff.txt | spread; echo
echo
echo "== memory and communication share, global batch 4, $steps steps"
printf "%-5s %-7s %8s %8s %8s %9s %8s %8s %7s\n" ranks mode "weights" "grads" "AdamW" "peak RSS" \
    "step s" "comm s" "comm %"
for np in 2 4; do
    for mode in 0 1 2; do
        run "$np" "$steps" --batch 4 --zero "$mode"
        name=none
        [ "$mode" -gt 0 ] && name="zero-$mode"
        line=$(grep "rank 1 of $np: weights" err)
        w=$(echo "$line" | sed -n 's/.*weights \([0-9.]*\) MiB.*/\1/p')
        g=$(echo "$line" | sed -n 's/.*gradients \([0-9.]*\) MiB.*/\1/p')
        o=$(echo "$line" | sed -n 's/.*optimizer state \([0-9.]*\) MiB.*/\1/p')
        rss=$(cat cpu.* | awk '$3 > m { m = $3 } END { printf "%.1f", m / 1024 }')
        # mean over the ranks: step wall seconds, waiting seconds (per step), share
        comm=$(grep "waiting on gradient communication" err |
            sed -n 's/.*communication \([0-9.]*\) s of \([0-9.]*\) s of steps.*/\1 \2/p' |
            awk -v n="$steps" '{ c += $1; t += $2; k++ }
                END { printf "%8.4f %8.4f %7.1f", t / k / n, c / k / n, 100 * c / t }')
        printf "%-5s %-7s %8s %8s %8s %9s %s\n" "$np" "$name" "$w" "$g" "$o" "$rss" "$comm"
    done
done
echo "(MiB a rank. ZeRO-1's gradients: the whole buffer plus the reduced shard;"
echo " ZeRO-2's: the shard kept between steps, and during the backward the buckets"
echo " not yet reduced, each released once reduced. step s and comm s: wall seconds"
echo " a step, mean of the ranks; comm % = comm s / step s)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
