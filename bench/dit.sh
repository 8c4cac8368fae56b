#!/bin/sh
# One training step of the video DiT, avkit against its PyTorch twin
# (tests/golden-dit.py's model, the same weights, batch and threads), in
# one run:
#   avkit fp32, avkit bf16 (the bf16 kernel this CPU allows, printed), the
#   GEMM peaks (dnnl_sgemm and the bf16 GEMM, same run), PyTorch fp32
#   eager, bf16 autocast, fp32 torch.compile, bf16 autocast + compile
#   (compile given COMPILE_TIMEOUT seconds, default 300, skipped with a
#   message when it fails or takes longer);
#   ratios of step times (< 1: avkit faster), avkit's GFLOP/s over the step
#   (avk_dit_step_flop) and its share of the peak of its precision, and
#   where avkit's time goes (linear-layer GEMMs, attention, the rest).
# Then the larger configuration (width 1024, 12 blocks, 16 heads, 8 x
# 32 x 32 latents = 2048 video tokens): one step, avkit fp32 vs PyTorch
# fp32 eager (LARGE=0 skips it).
# Clock: process CPU time / threads (the machine is shared; idle OpenMP
# threads sleep, OMP_WAIT_POLICY=passive), best of ROUNDS steps (default
# 3) after warm-up; WALL=1 uses the wall clock.
# Usage: bench/dit.sh [threads] [frames] [size] [width] [depth] [heads]
#   defaults 2 8 16 256 6 4: the reference configuration (512 video
#   tokens, 32 text tokens, batch 2, MLP ratio 4, patch 1x2x2).
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
THREADS=${1:-2}
ROUNDS=${ROUNDS:-3}
BIN=$BUILD/bench/bench_dit
[ -x "$BIN" ] || { echo "dit.sh: $BIN missing (run make)" >&2; exit 1; }
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$THREADS
[ "${WALL:-0}" = 1 ] && export AVK_BENCH_WALL=1
PY=
for p in ${PYTHON:-} /work/venv/bin/python python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' 2>/dev/null; then PY=$p; break; fi
done
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
CLOCK="process CPU time / $THREADS threads"
[ "${WALL:-0}" = 1 ] && CLOCK="wall clock"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# clock: $CLOCK, best of $ROUNDS steps after warm-up"
echo "# frames ${2:-8}, latents ${3:-16}x${3:-16}x4, width ${4:-256}, ${5:-6} blocks, ${6:-4} heads, batch 2, 32 text tokens"
CFG="${2:-8} ${3:-16} ${4:-256} ${5:-6} ${6:-4}"
PEAK=$("$BIN" "$DIR" $CFG "$ROUNDS" peak)
echo "$PEAK"
B16=$("$BIN" "$DIR" $CFG "$ROUNDS" bf16 2>&1)
A32=$("$BIN" "$DIR" $CFG "$ROUNDS" fp32)   # last: its weights and pred feed PyTorch
echo "$A32"
echo "$B16"
field() { echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }
share() {   # label line peak
    echo "$2" | awk -v p="$3" -v l="$1" '/^avkit (fp32|bf16) step_ms/ { for (i = 1; i < NF; i++) v[$i] = $(i + 1);
        s = v["step_ms"]; printf "%s: %.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s peak; gemm %.0f%%, attention %.0f%%, other %.0f%% of the step\n",
        l, v["gflops"], 100 * v["gflops"] / p, p, 100 * v["gemm_ms"] / s, 100 * v["attn_ms"] / s, 100 * v["other_ms"] / s }'
}
share "avkit fp32" "$A32" "$(field "$PEAK" sgemm_gflops)"
share "avkit bf16" "$B16" "$(field "$PEAK" bf16_gflops)"
if [ -z "$PY" ]; then
    echo "# no Python with torch: PyTorch baselines skipped (PYTHON=... picks one)"
    exit 0
fi
echo "# PyTorch $("$PY" -c 'import torch; print(torch.__version__)')"
[ "${WALL:-0}" = 1 ] && export WALL=1
T=$("$PY" bench/dit_torch.py "$DIR" "$THREADS" "$ROUNDS" eager,autocast 2>"$DIR/torch.err") || { cat "$DIR/torch.err" >&2; exit 1; }
# torch.compile builds C++ kernels first: minutes on a loaded machine;
# given COMPILE_TIMEOUT seconds (default 300, 0 skips it)
CT=${COMPILE_TIMEOUT:-300}
if [ "$CT" -gt 0 ]; then
    TC=$(timeout "$CT" "$PY" bench/dit_torch.py "$DIR" "$THREADS" "$ROUNDS" compile,autocast+compile 2>"$DIR/torch.err") ||
        TC="${TC:+$TC
}torch compile skipped: not done in ${CT} s (COMPILE_TIMEOUT) or failed: $(tail -1 "$DIR/torch.err")"
else
    TC="torch compile skipped: COMPILE_TIMEOUT=0"
fi
T="$T
$TC"
echo "$T"
ours32=$(field "$A32" step_ms) ours16=$(field "$B16" step_ms)
echo "$T" | awk -v a="$ours32" -v b="$ours16" '
    $3 == "step_ms" { t[$2] = $4; if (best == "" || $4 < best) { best = $4; bw = $2 } }
    END {
        if (t["eager"]) printf "ratio avkit fp32 / torch fp32 eager: %.2f (target <= 0.6)\n", a / t["eager"];
        if (t["compile"]) printf "ratio avkit fp32 / torch fp32 compile: %.2f\n", a / t["compile"];
        if (t["autocast"]) printf "ratio avkit bf16 / torch bf16 autocast: %.2f\n", b / t["autocast"];
        if (t["autocast+compile"]) printf "ratio avkit bf16 / torch bf16 autocast+compile: %.2f\n", b / t["autocast+compile"];
        if (best != "") printf "ratio avkit bf16 / torch best (%s, %.1f ms): %.2f (target <= 0.5)\n", bw, best, b / best;
    }'
[ "${LARGE:-1}" = 0 ] && exit 0
echo "# larger: frames 8, latents 32x32x4 (2048 video tokens), width 1024, 12 blocks, 16 heads, batch 2: one step each"
L32=$("$BIN" "$DIR" 8 32 1024 12 16 0 fp32)
echo "$L32"
LT=$("$PY" bench/dit_torch.py "$DIR" "$THREADS" 1 eager 2>"$DIR/torch.err") || { cat "$DIR/torch.err" >&2; exit 1; }
echo "$LT"
echo "$LT" | awk -v a="$(field "$L32" step_ms)" '{ printf "ratio avkit fp32 / torch fp32 eager (larger): %.2f\n", a / $4 }'
