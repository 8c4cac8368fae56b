#!/bin/sh
# av-sample's second-order solvers against Euler at 50 steps, on a trained
# model (the demo's): for each solver and step count, the transformer
# evaluations, the mean relative L2 distance of the latents to Euler's at
# 50 steps and the mean PSNR of the decoded videos to Euler's (same
# prompts, seed and guidance, so only the solver differs). CPU seconds of
# each run beside, as the machine may be loaded.
#
# Usage: bench/solvers.sh OUT_DIR [N_PROMPTS [CFG]]
# OUT_DIR: a demo output (examples/out: dit.safetensors, vae.safetensors,
# vocab.txt, raw/heldout.txt); the first N_PROMPTS (default 8) held-out
# prompts, guidance CFG (default 4, as the demo).
set -e
cd "$(dirname "$0")/.."
BUILD=$(cd "${AVKIT_BUILD:-build/rel}" && pwd)
export PATH="$BUILD/bin:$BUILD/bench:$PATH"
# spinning OpenMP threads slow small matrix products badly on a busy machine
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
test $# -ge 1 || { echo "usage: bench/solvers.sh OUT_DIR [N_PROMPTS [CFG]]" >&2; exit 2; }
M=$1 N=${2:-8} CFG=${3:-4}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
head -n "$N" "$M/raw/heldout.txt" >"$DIR/prompts.txt"
A="-m $M/dit.safetensors --vocab $M/vocab.txt -P $DIR/prompts.txt --cfg $CFG --seed 1"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $M/dit.safetensors, $N held-out prompts, cfg $CFG; reference: euler 50 steps"

# run NAME ARGS...: sample into DIR/NAME.avt; prints "evaluations cpu_seconds"
run() {
    name=$1; shift
    /usr/bin/time -f "%U %S" -o "$DIR/$name.time" \
        av-sample $A "$@" -v -o "$DIR/$name.avt" 2>"$DIR/$name.err" ||
        { cat "$DIR/$name.err" >&2; exit 1; }
    ev=$(awk '/transformer evaluations/ { s += $4; n++ } END { print s / n }' "$DIR/$name.err")
    echo "$ev $(awk '{ print $1 + $2 }' "$DIR/$name.time")"
}

ref=$(run ref --solver euler --steps 50)
printf "%-6s %5s %10s %10s %9s %7s\n" solver steps evals/video rel_l2 psnr_dB cpu_s
printf "%-6s %5s %10s %10s %9s %7s\n" euler 50 "${ref% *}" 0 inf "${ref#* }"
for s in "euler 10" "euler 20" "heun 5" "heun 10" "ab2 10" "ab2 20"; do
    set -- $s
    r=$(run "$1$2" --solver "$1" --steps "$2")
    c=$(sample_compare --vae "$M/vae.safetensors" "$DIR/ref.avt" "$DIR/$1$2.avt")
    printf "%-6s %5s %10s %10s %9s %7s\n" "$1" "$2" "${r% *}" \
        "$(echo "$c" | sed 's/.*rel_l2=\([^ ]*\).*/\1/')" "$(echo "$c" | sed 's/.*psnr=//')" "${r#* }"
done
