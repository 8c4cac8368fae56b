#!/bin/sh
# bf16 benchmarks (see bench/bench_bf16.c): the bf16 GEMM against
# dnnl_sgemm on the DiT issue's shapes and the bf16 attention against the
# fp32 tiled kernel, each line naming the implementation that ran; when a
# Python with torch is found (/work/venv first), PyTorch's matmul and
# scaled_dot_product_attention in fp32 and bf16 are measured in the same
# run, same threads, and each line gets our ratio to them.
# Clock: process CPU time / threads (see bench_bf16.c; --wall for the
# wall clock on a quiet machine).
# Usage: bench/bf16.sh [threads] [--quick] [--wall]   (default 2 threads)
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
THREADS=2
QUICK=
WALL=
for a in "$@"; do
    case $a in
    --quick) QUICK=--quick ;;
    --wall) WALL=--wall ;;
    *) THREADS=$a ;;
    esac
done
BIN=$BUILD/bench/bench_bf16
[ -x "$BIN" ] || { echo "bf16.sh: $BIN missing (run make)" >&2; exit 1; }
export OMP_NUM_THREADS=$THREADS
# idle OpenMP threads sleep, so the CPU-time clock counts work, not waiting
export OMP_WAIT_POLICY=passive
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
PY=
for p in /work/venv/bin/python python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
TORCH=
if [ -n "$PY" ]; then
    TORCH=$(mktemp)
    trap 'rm -f "$TORCH"' EXIT
    CASES="gemm 2048 2048 2048 gemm 1088 1024 256 gemm 1088 256 1024 attn 1024 attn 2048"
    [ -n "$QUICK" ] || CASES="$CASES attn 4096"
    # shellcheck disable=SC2086
    "$PY" bench/bf16_torch.py $WALL "$THREADS" $CASES >"$TORCH"
    grep '^#' "$TORCH"
    "$BIN" $QUICK $WALL --torch "$TORCH"
else
    echo "# no Python with torch: PyTorch baseline skipped"
    "$BIN" $QUICK $WALL
fi
