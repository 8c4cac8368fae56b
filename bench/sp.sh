#!/bin/sh
# Selective recomputation and Ulysses sequence parallelism of the video
# DiT on a long sequence (bench_dit_sp.c), ratios within one run:
#   1. --recompute 1 against 0 in one process of one thread: peak memory
#      (the process's maximum resident set, and the activation memory the
#      model held) and step time (the best step's process CPU time over
#      two interleaved runs of each, and the mean wall clock);
#   2. the same step with the sequence split over 1, 2 and 4 ranks of one
#      thread each (one sequence-parallel group of all the job's ranks):
#      step time and the share of it spent in communication (the
#      all-to-alls around spatial and cross attention, the gather of the
#      prediction, the allreduce of the gradients), both in process CPU
#      time, the same volume's all-to-alls and allreduce timed alone, back
#      to back, and the bytes each rank sends a step.
#
#   bench/sp.sh [FRAMES [SIZE [WIDTH [DEPTH [HEADS [ROUNDS]]]]]]
#       defaults 16 32 128 6 4 2: 16 frames of 32 x 32 latents (4096 video
#       tokens), width 128, 6 blocks, 4 heads, batch 1, 32 text tokens.
#   PART=recompute or PART=sp runs only that half.
#
# On a machine whose cores are shared with other work (say so when
# quoting), CPU time is the steadier clock; a rank waiting in MPI spins,
# so its communication time also holds the time it waited for a peer that
# was descheduled or still computing, all the more with more ranks than
# free cores.
set -eu
frames=${1:-16}
size=${2:-32}
width=${3:-128}
depth=${4:-6}
heads=${5:-4}
rounds=${6:-2}
: "${AVKIT_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build/rel}"
BIN=$AVKIT_BUILD/bench/bench_dit_sp
[ -x "$BIN" ] || { echo "sp.sh: $BIN missing (run make)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "sp.sh: mpirun not found" >&2; exit 1; }
cores=$(nproc --all)
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $cores cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $frames frames of ${size}x${size} latents, width $width, $depth blocks, $heads heads, batch 1, $rounds steps after a warm-up"
field() { echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }

part=${PART:-all}    # all, recompute or sp
if [ "$part" != sp ]; then
# interleaved, twice each; the run with the lesser CPU step of each kind
best() {   # best LINE_A LINE_B: the line with the smaller cpu_s
    if [ -z "$1" ] || awk -v a="$(field "$1" cpu_s)" -v b="$(field "$2" cpu_s)" 'BEGIN { exit !(b < a) }'
    then echo "$2"; else echo "$1"; fi
}
r0= r1=
for i in 1 2; do
    r0=$(best "$r0" "$("$BIN" "$frames" "$size" "$width" "$depth" "$heads" "$rounds" 0)")
    r1=$(best "$r1" "$("$BIN" "$frames" "$size" "$width" "$depth" "$heads" "$rounds" 1)")
done
echo "$r0"
echo "$r1"
awk -v a="$r0" -v b="$r1" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ");
    for (i = 1; i < n; i += 2) { u[x[i]] = x[i + 1]; v[y[i]] = y[i + 1] }
    printf "recompute 1 vs 0: peak RSS %.0f%% down (%.0f -> %.0f MiB), activations %.0f%% down (%.0f -> %.0f MiB), step CPU time %+.0f%%, wall %+.0f%%\n",
        100 * (1 - v["maxrss_mb"] / u["maxrss_mb"]), u["maxrss_mb"], v["maxrss_mb"],
        100 * (1 - v["act_mb"] / u["act_mb"]), u["act_mb"], v["act_mb"],
        100 * (v["cpu_s"] / u["cpu_s"] - 1), 100 * (v["step_s"] / u["step_s"] - 1) }'
fi

mpi() {
    np=$1; shift
    mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader \
        --mca btl_vader_single_copy_mechanism none -x OMP_NUM_THREADS=1 \
        -x OMP_WAIT_POLICY=passive -np "$np" "$@"
}
base=
[ "$part" = recompute ] && exit 0
for np in 1 2 4; do
    out=$(mpi $np "$BIN" "$frames" "$size" "$width" "$depth" "$heads" "$rounds" 0 2>/dev/null)
    s=$(field "$out" cpu_s)
    [ -n "$base" ] || base=$s
    echo "$out" | awk -v b="$base" '{ for (i = 1; i < NF; i += 2) v[$i] = $(i + 1);
        printf "sp %d: step %.3f s CPU (%.2fx the speed of 1 rank; wall %.3f s), communication %.3f s = %.0f%% of the step (the same volume alone: %.3f s = %.1f%%), %.1f MiB sent per rank, activations %.0f MiB per rank\n",
            v["ranks"], v["cpu_s"], b / v["cpu_s"], v["step_s"], v["comm_s"], 100 * v["comm_s"] / v["cpu_s"], v["alone_s"], 100 * v["alone_s"] / v["cpu_s"], v["comm_mb"], v["act_mb"] }'
done
