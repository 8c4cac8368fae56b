#!/bin/sh
# One fp32 training step of the video DiT, avkit against its PyTorch twin
# (tests/golden-dit.py) on the CPU with the same weights, batch and number
# of threads; the outputs are compared too. Prints milliseconds a step,
# avkit's GFLOP/s (counted from the shapes) and the ratio avkit / PyTorch
# of the step times (< 1: avkit faster).
# Usage: bench/dit.sh [threads] [frames] [size] [width] [depth] [heads]
#   defaults 2 8 16 256 6 4: the reference configuration (512 video
#   tokens, 32 text tokens, batch 2); 8 32 1024 12 16 is the larger one
#   (about 2,000 video tokens).
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
THREADS=${1:-2}
BIN=$BUILD/bench/bench_dit
[ -x "$BIN" ] || { echo "dit.sh: $BIN missing (run make)" >&2; exit 1; }
PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' 2>/dev/null; then PY=$p; break; fi
done
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# frames ${2:-8}, latents ${3:-16}x${3:-16}x4, width ${4:-256}, ${5:-6} blocks, ${6:-4} heads, batch 2"
A=$(OMP_NUM_THREADS=$THREADS "$BIN" "$DIR" "${2:-8}" "${3:-16}" "${4:-256}" "${5:-6}" "${6:-4}")
echo "$A"
if [ -z "$PY" ]; then
    echo "# no Python with torch: PyTorch baseline skipped (PYTHON=... picks one)"
    exit 0
fi
T=$(OMP_NUM_THREADS=$THREADS "$PY" bench/dit_torch.py "$DIR" "$THREADS")
echo "$T  (PyTorch $("$PY" -c 'import torch; print(torch.__version__)'), eager fp32)"
echo "$A $T" | awk '{ printf "ratio avkit/torch step time: %.2f\n", $3 / $10 }'
