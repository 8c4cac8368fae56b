#!/bin/sh
# The DiT training step with the batch in groups of samples, one per
# thread (lib/models/dit_split.c), against the same build running every
# batch whole (AVK_DIT_WHOLE=1: every operator over all threads), in one
# run: ROUNDS repetitions (default 7), each the two in turn, so that a
# load change on the shared machine hits both alike. Prints each round's
# step times (bench_dit: best of 3 after warm-up), then the best and the
# median of each and the ratio groups / whole.
#   bench/dit_groups.sh [rounds] [threads] [frames size width depth heads]
# Defaults: 7 rounds, 2 threads, the reference configuration of
# bench/dit.sh (8 16 256 6 4: batch 2, 512 video tokens). Clock: process
# CPU time / threads (OMP_WAIT_POLICY=passive), as bench/dit.sh; WALL=1:
# the wall clock (a thread asleep at a barrier counts too).
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
BIN=$BUILD/bench/bench_dit
[ -x "$BIN" ] || { echo "dit_groups.sh: $BIN missing (run make)" >&2; exit 1; }
ROUNDS=${1:-7}
THREADS=${2:-2}
CFG="${3:-8} ${4:-16} ${5:-256} ${6:-6} ${7:-4}"
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$THREADS
CLOCK="process CPU time / $THREADS threads"
if [ "${WALL:-0}" = 1 ]; then
    export AVK_BENCH_WALL=1
    CLOCK="wall clock"
fi
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# clock: $CLOCK; configuration (frames size width depth heads): $CFG, batch 2"
for w in 1 0; do AVK_DIT_WHOLE=$w "$BIN" "$DIR" $CFG 1 fp32 | grep "^kernel:"; done
i=0
while [ $i -lt "$ROUNDS" ]; do
    i=$((i + 1))
    w=$(AVK_DIT_WHOLE=1 "$BIN" "$DIR" $CFG 3 fp32 | awk '/step_ms/ { print $4 }')
    g=$(AVK_DIT_WHOLE=0 "$BIN" "$DIR" $CFG 3 fp32 | awk '/step_ms/ { print $4 }')
    echo "round $i whole_ms $w groups_ms $g"
done | tee "$DIR/rounds"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
awk '{ w[NR] = $4; g[NR] = $6 }
    function best(a, k,   b) { b = a[1]; for (k = 2; k <= NR; k++) if (a[k] < b) b = a[k]; return b }
    function med(a,   k, j, x, s) { for (k = 1; k <= NR; k++) s[k] = a[k];
        for (k = 2; k <= NR; k++) { x = s[k]; for (j = k - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
        return NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2 }
    END {
        printf "best ms:   whole %.1f  groups %.1f  groups / whole %.3f\n", best(w), best(g), best(g) / best(w);
        printf "median ms: whole %.1f  groups %.1f  groups / whole %.3f\n", med(w), med(g), med(g) / med(w);
    }' "$DIR/rounds"
