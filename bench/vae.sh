#!/bin/sh
# VAE encode and decode speed, avkit against the same model in PyTorch on
# the CPU with the same number of threads (torch.set_num_threads), on the
# same weights and input (the outputs are compared too). Prints frames a
# second and the ratio avkit / PyTorch (> 1: avkit faster).
# Usage: bench/vae.sh [threads] [size] [batch]   (defaults 2 256 4)
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
THREADS=${1:-2}
SIZE=${2:-256}
BATCH=${3:-4}
BIN=$BUILD/bench/bench_vae
[ -x "$BIN" ] || { echo "vae.sh: $BIN missing (run make)" >&2; exit 1; }
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' 2>/dev/null; then PY=$p; break; fi
done
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# default VAE config, batch $BATCH of ${SIZE}x${SIZE} frames"
A=$(OMP_NUM_THREADS=$THREADS "$BIN" "$DIR" "$SIZE" "$BATCH")
echo "$A"
if [ -z "$PY" ]; then
    echo "# no Python with torch: PyTorch baseline skipped"
    exit 0
fi
T=$(OMP_NUM_THREADS=$THREADS "$PY" bench/vae_torch.py "$DIR" "$THREADS")
echo "$T  (PyTorch $("$PY" -c 'import torch; print(torch.__version__)'))"
echo "$A $T" | awk '{ printf "ratio avkit/torch: encode %.2fx decode %.2fx\n", $3 / $8, $5 / $10 }'
