#!/bin/sh
# The DiT's validation loss over training, fp32 and mixed bf16, on a
# latent stream and a held-out stream (av-vaeenc's output split, e.g.
# every 8th record held out): av-train --model dit trains in segments
# that each resume the previous checkpoint (bitwise the same as one run;
# constant learning rate after the warmup, so the segments do not change
# the schedule) and prints the held-out loss at t = 0.1 ... 0.9 after each.
# bf16 runs with AVK_BF16=emulate unless AVK_BF16 is set: operands really
# rounded to bf16 also where the CPU has no bf16 matmul.
# Writes OUTDIR/val.csv (step,val_fp32,val_bf16) and OUTDIR/val.png (made
# by bench_plot), and the training logs OUTDIR/{fp32,bf16}.csv.
# Usage: bench/dit_val.sh TRAIN.avt VAL.avt OUTDIR [CONFIG.json]
#   STEPS="0 20 40 ..." (the evaluation points), BATCH (8), LR (5e-4), SEED (1)
set -e
[ $# -ge 3 ] || { echo "usage: bench/dit_val.sh TRAIN.avt VAL.avt OUTDIR [CONFIG.json]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${AVKIT_BUILD:-$ROOT/build/rel}
TRAIN=$1 VAL=$2 OUT=$3
CONFIG=${4:-$ROOT/examples/dit-demo.json}   # no spaces in this path
STEPS=${STEPS:-0 20 40 80 120 160 200}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"
run() {     # precision: prints "step val_loss" per evaluation point
    prev=
    for s in $STEPS; do
        ck="$OUT/$1-$s.safetensors"
        if [ -z "$prev" ]; then from="--config $CONFIG"; else from="--resume $prev"; fi
        "$BUILD/bin/av-train" --model dit $from --seed "${SEED:-1}" \
            --batch "${BATCH:-8}" --lr "${LR:-5e-4}" --schedule constant --precision "$1" \
            --steps "$s" --val "$VAL" --log "$OUT/$1.csv" "$TRAIN" -o "$ck" >"$OUT/report"
        val=$(awk '$1 == "val_loss" { print $2 }' "$OUT/report")
        [ -n "$val" ] || { echo "dit_val.sh: no val_loss from av-train at step $s" >&2; exit 1; }
        echo "$s $val"
        [ -z "$prev" ] || rm -f "$prev" "${prev%.safetensors}.optim.safetensors"
        prev=$ck
    done
}
run fp32 >"$OUT/fp32.val"
AVK_BF16=${AVK_BF16:-emulate} run bf16 >"$OUT/bf16.val"
{ echo "step,val_fp32,val_bf16"; paste -d ' ' "$OUT/fp32.val" "$OUT/bf16.val" | awk '{ print $1 "," $2 "," $4 }'; } >"$OUT/val.csv"
"$BUILD/bench/bench_plot" -o "$OUT/val.png" "$OUT/val.csv"
cat "$OUT/val.csv"
