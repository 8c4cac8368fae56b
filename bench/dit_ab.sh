#!/bin/sh
# The fp32 DiT training step of two avkit builds against PyTorch's fp32
# eager step, in one run: for a change that speeds up the step, the
# before and after ratios to the same PyTorch measurement.
#   BASE=path/to/other/build bench/dit_ab.sh [rounds] [threads]
# Each of ROUNDS repetitions (default 5) runs, in turn, the base build's
# bench_dit, this build's, and bench/dit_torch.py eager (on the weights and
# batch this build wrote), each a best of 3 steps after warm-up; the
# repetitions interleave so that a load change on a shared machine hits
# all three alike. Prints each repetition's three step times, then per
# program the best and the median over the repetitions and the ratios
# avkit / PyTorch eager of both builds (best over best, median over
# median). The reference configuration of bench/dit.sh (8 frames, 16x16
# latents, width 256, 6 blocks, 4 heads, batch 2). Clock: process CPU time
# / threads (OMP_WAIT_POLICY=passive), as bench/dit.sh; WALL=1: the wall
# clock (a thread asleep at a barrier counts too).
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
: "${BASE:?BASE=the other build directory (with bench/bench_dit) is required}"
ROUNDS=${1:-5}
THREADS=${2:-2}
NEW=$BUILD/bench/bench_dit OLD=$BASE/bench/bench_dit
for b in "$NEW" "$OLD"; do
    [ -x "$b" ] || { echo "dit_ab.sh: $b missing (run make)" >&2; exit 1; }
done
PY=
for p in ${PYTHON:-} /work/venv/bin/python python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "dit_ab.sh: no Python with torch (PYTHON=...)" >&2; exit 1; }
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$THREADS
CLOCK="process CPU time / $THREADS threads"
if [ "${WALL:-0}" = 1 ]; then
    export WALL AVK_BENCH_WALL=1
    CLOCK="wall clock"
fi
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
mkdir "$DIR/old" "$DIR/new"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# clock: $CLOCK; base $OLD, new $NEW"
i=0
while [ $i -lt "$ROUNDS" ]; do
    i=$((i + 1))
    o=$("$OLD" "$DIR/old" 8 16 256 6 4 3 fp32 | awk '/step_ms/ { print $4 }')
    n=$("$NEW" "$DIR/new" 8 16 256 6 4 3 fp32 | awk '/step_ms/ { print $4 }')
    t=$("$PY" bench/dit_torch.py "$DIR/new" "$THREADS" 3 eager 2>"$DIR/torch.err" | awk '/step_ms/ { print $4 }') ||
        { cat "$DIR/torch.err" >&2; exit 1; }
    echo "round $i base_ms $o new_ms $n torch_eager_ms $t"
done | tee "$DIR/rounds"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{ o[NR] = $4; n[NR] = $6; t[NR] = $8 }
    function best(a, k,   b) { b = a[1]; for (k = 2; k <= NR; k++) if (a[k] < b) b = a[k]; return b }
    function med(a,   k, j, x, s) { for (k = 1; k <= NR; k++) s[k] = a[k];
        for (k = 2; k <= NR; k++) { x = s[k]; for (j = k - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
        return NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2 }
    END {
        printf "best ms:   base %.1f  new %.1f  torch eager %.1f\n", best(o), best(n), best(t);
        printf "median ms: base %.1f  new %.1f  torch eager %.1f\n", med(o), med(n), med(t);
        printf "ratio to torch fp32 eager (best): base %.2f  new %.2f\n", best(o) / best(t), best(n) / best(t);
        printf "ratio to torch fp32 eager (median): base %.2f  new %.2f\n", med(o) / med(t), med(n) / med(t);
        printf "new / base (median): %.2f\n", med(n) / med(o);
    }' "$DIR/rounds"
