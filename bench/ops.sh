#!/bin/sh
# Operator benchmarks of the compute core, each against a baseline measured
# in the same run (see bench/bench_ops.c): linear and conv2d against raw
# dnnl_sgemm; attention with kept probabilities against recomputing them;
# the GELU against tanhf loops; attention against the naive reference, the
# materialized matmul-softmax-matmul, and PyTorch's CPU matmul-softmax-matmul
# (bench/attn_torch.py, same thread count). Prints ratios (> 1: avkit
# faster). Usage: bench/ops.sh [threads]   (default 2; --quick for less).
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
THREADS=2
QUICK=
for a in "$@"; do
    case $a in
    --quick) QUICK=--quick ;;
    *) THREADS=$a ;;
    esac
done
BIN=$BUILD/bench/bench_ops
[ -x "$BIN" ] || { echo "ops.sh: $BIN missing (run make)" >&2; exit 1; }
export OMP_NUM_THREADS=$THREADS
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" gemm $QUICK
"$BIN" conv $QUICK
"$BIN" keep $QUICK
"$BIN" act $QUICK
OUT=$(mktemp)
trap 'rm -f "$OUT" "$OUT.t"' EXIT
"$BIN" attn $QUICK | tee "$OUT"
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done
if [ -z "$PY" ]; then
    echo "# no Python with torch: PyTorch baseline skipped"
    exit 0
fi
LENS=$(sed -n 's/^attention N=\([0-9]*\):.*/\1/p' "$OUT" | tr '\n' ' ')
echo "# PyTorch $("$PY" -c 'import torch; print(torch.__version__)') matmul-softmax-matmul, $THREADS threads"
# shellcheck disable=SC2086
"$PY" bench/attn_torch.py "$THREADS" $LENS > "$OUT.t"
while read -r n tf tb mem; do
    line=$(grep "^attention N=$n:" "$OUT")
    af=$(echo "$line" | sed 's/.*tiled fwd \([0-9.]*\) ms.*/\1/')
    ab=$(echo "$line" | sed 's/.*, bwd \([0-9.]*\) ms.*/\1/')
    am=$(echo "$line" | sed 's/.*+\([0-9.]*\) MiB peak), bwd.*/\1/')
    if [ "$tb" = - ]; then
        awk -v n="$n" -v af="$af" -v tf="$tf" -v am="$am" -v mem="$mem" 'BEGIN {
            printf "attention N=%d vs PyTorch: fwd %.1f ms vs %.1f ms, speedup %.2f; peak +%.1f MiB vs +%.1f MiB\n",
                n, af, tf, tf / af, am, mem }'
    else
        awk -v n="$n" -v af="$af" -v ab="$ab" -v tf="$tf" -v tb="$tb" -v am="$am" -v mem="$mem" 'BEGIN {
            printf "attention N=%d vs PyTorch: fwd %.1f ms vs %.1f ms, speedup %.2f; fwd+bwd %.1f ms vs %.1f ms, speedup %.2f; peak +%.1f MiB vs +%.1f MiB\n",
                n, af, tf, tf / af, af + ab, tb, tb / (af + ab), am, mem }'
    fi
done < "$OUT.t"
