#!/bin/sh
# The collectives' times on this machine at 2 and 4 ranks (bench_comm.c),
# on the gradient buffer of bench/zero.sh's model, for doc/parallel.md's
# check of the communication formulas.
#
#   bench/comm.sh [FLOATS [REPEATS]]     (default 1687312, 20)
set -eu
: "${AVKIT_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build/rel}"
command -v mpirun >/dev/null || { echo "comm.sh: mpirun not found" >&2; exit 1; }
[ -x "$AVKIT_BUILD/bench/bench_comm" ] || { echo "comm.sh: build first (make)" >&2; exit 1; }
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for np in 2 4; do
    mpirun --allow-run-as-root --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 \
        -np "$np" "$AVKIT_BUILD/bench/bench_comm" "${1:-1687312}" "${2:-20}"
done
