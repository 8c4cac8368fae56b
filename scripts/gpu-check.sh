#!/bin/sh
# The CUDA backend's check in one go, on a machine with a GPU, nvcc, a C
# compiler and Python with PyTorch, and none of avkit's other dependencies
# (no FFmpeg, oneDNN, MPI or Tesseract; no network):
#   1. builds only what it needs into $OUT (default build/gpu-check): the
#      kernels of lib/nn/cuda/ with nvcc (sm_80 and sm_90, or CUDA_ARCHS),
#      the plain-C CPU references they are compared with (lib/nn's
#      operators and lib/util/common.c, oneDNN replaced by plain loops:
#      scripts/gpu-check/dnnl_sgemm_plain.c), the operator test
#      (tests/unit/test_cuda_ops.c) and the block benchmark
#      (bench/bench_cuda_block.c);
#   2. runs every operator against its CPU reference (largest error per
#      operator; targets fp32 1e-5 relative, bf16 1e-2);
#   3. trains a stack of DiT blocks on the GPU through the backend table
#      and the same blocks in PyTorch on the same GPU (fp32 eager, bf16
#      autocast eager, bf16 autocast + torch.compile): step times, TFLOP/s,
#      MFU against the GPU's bf16 peak; then single operators both ways.
# The DiT of lib/models does not run on the GPU yet (it calls the CPU
# operators, not the backend table): step 3 is its blocks, not the whole
# model (the script says so in its output).
#
# Usage: scripts/gpu-check.sh [--cpu-only] [--no-torch] [--out DIR]
#   --cpu-only  build everything (nvcc still compiles the kernels) and run
#               what runs without a GPU: the test (which then skips), the
#               benchmark (which says there is no device), the PyTorch
#               twin on a tiny CPU shape. Proves the build needs none of
#               avkit's other dependencies.
#   --no-torch  leave out the PyTorch side.
# Environment: CUDA_HOME (default /usr/local/cuda), CC (default cc),
#   PYTHON (default: the first python3 with torch), CUDA_ARCHS ("80 90"),
#   SHAPE (benchmark "batch tokens width heads depth steps", default
#   "4 1024 1152 16 4 10"), AVK_PEAK_TFLOPS (bf16 peak if the GPU's name is
#   not in the table), COMPILE_TIMEOUT (seconds for the torch.compile way,
#   default 240), JOBS (parallel compilations, default: the CPU count).
#   Exit status: 0 when every operator met its target (or,
#   with --cpu-only, everything built and ran), 1 otherwise.
set -eu
cd "$(dirname "$0")/.."
CPU_ONLY=0
TORCH=1
OUT=build/gpu-check
while [ $# -gt 0 ]; do
    case $1 in
    --cpu-only) CPU_ONLY=1 ;;
    --no-torch) TORCH=0 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
START=$(date +%s)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$CUDA_HOME/bin/nvcc}
CC=${CC:-cc}
CUDA_ARCHS=${CUDA_ARCHS:-80 90}
SHAPE=${SHAPE:-4 1024 1152 16 4 10}
[ -x "$NVCC" ] || NVCC=$(command -v nvcc || true)
[ -n "$NVCC" ] || { echo "gpu-check.sh: nvcc not found (set CUDA_HOME or NVCC)" >&2; exit 1; }
command -v "$CC" >/dev/null || { echo "gpu-check.sh: no C compiler ($CC)" >&2; exit 1; }
PY=
[ $TORCH = 1 ] && for p in ${PYTHON:-} python3 /work/venv/bin/python; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' 2>/dev/null; then PY=$p; break; fi
done

say() { printf '%s\n' "$*"; }
step() { say ""; say "== $* ($(( $(date +%s) - START )) s)"; }

# ---- 1. build ------------------------------------------------------------
step "build into $OUT (nvcc: $NVCC, archs: $CUDA_ARCHS; cc: $CC)"
mkdir -p "$OUT/obj"
GENCODE=
for a in $CUDA_ARCHS; do GENCODE="$GENCODE -gencode arch=compute_$a,code=sm_$a"; done
CFLAGS="-O2 -std=gnu11 -D_GNU_SOURCE -fopenmp -Wall -Wno-unused-parameter -DAVK_HAVE_CUDA \
 -Iinclude -Ilib -Iscripts/gpu-check/shim -Itests/unit -I$CUDA_HOME/include"
# the plain-C operators: every CPU reference the test compares with, and
# the CPU table (backend.c finds "cuda" through backend_cuda.c)
NN="tensor ops_act ops_attention ops_clamp ops_conv ops_embed ops_linear ops_loss
    ops_modulate ops_norm ops_patch ops_posemb ops_resample ops_softmax ops_split
    optim_adamw backend backend_cpu"
# shellcheck disable=SC2086  # CFLAGS and LIBS are word lists
build_c() {   # SRC OBJ
    $CC $CFLAGS -c -o "$2" "$1" || { echo "gpu-check.sh: $1 does not compile" >&2; return 1; }
}
CPU_OBJS=
for f in $NN; do CPU_OBJS="$CPU_OBJS $OUT/obj/$f.o"; done
CPU_OBJS="$CPU_OBJS $OUT/obj/common.o $OUT/obj/dnnl_sgemm_plain.o $OUT/obj/backend_cuda.o"
(
    for f in $NN; do build_c lib/nn/$f.c "$OUT/obj/$f.o"; done
    build_c lib/util/common.c "$OUT/obj/common.o"
    build_c scripts/gpu-check/dnnl_sgemm_plain.c "$OUT/obj/dnnl_sgemm_plain.o"
    build_c lib/nn/cuda/backend_cuda.c "$OUT/obj/backend_cuda.o"
    build_c tests/unit/test_cuda_ops.c "$OUT/obj/test_cuda_ops.o"
    build_c bench/bench_cuda_block.c "$OUT/obj/bench_cuda_block.o"
) &
cpid=$!
# the kernels, JOBS nvcc at a time
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
CU_OBJS=
cu_pids=
cu_fail=0
wait_cu() {
    for p in $cu_pids; do wait "$p" || cu_fail=1; done
    cu_pids=
}
n=0
for cu in lib/nn/cuda/*.cu; do
    o=$OUT/obj/$(basename "$cu" .cu).cu.o
    CU_OBJS="$CU_OBJS $o"
    # shellcheck disable=SC2086
    { "$NVCC" -O2 -std=c++17 -Iinclude -Ilib $GENCODE -c -o "$o" "$cu" ||
        { echo "gpu-check.sh: $cu does not compile" >&2; exit 1; }; } &
    cu_pids="$cu_pids $!"
    n=$((n + 1))
    [ $((n % JOBS)) -eq 0 ] && wait_cu
done
wait_cu
[ $cu_fail = 0 ] || { wait $cpid || true; exit 1; }
wait $cpid || exit 1
LIBS="-L$CUDA_HOME/lib64 -Wl,-rpath,$CUDA_HOME/lib64 -lcublas -lcudart -lstdc++ -lm -lpthread -fopenmp"
$CC -o "$OUT/test_cuda_ops" "$OUT/obj/test_cuda_ops.o" $CPU_OBJS $CU_OBJS $LIBS
$CC -o "$OUT/bench_cuda_block" "$OUT/obj/bench_cuda_block.o" $CPU_OBJS $CU_OBJS $LIBS
say "built $OUT/test_cuda_ops and $OUT/bench_cuda_block"
for lib in libavformat libdnnl libmpi libtesseract; do
    if ldd "$OUT/test_cuda_ops" "$OUT/bench_cuda_block" | grep -q "$lib"; then
        echo "gpu-check.sh: the check links $lib, which it must not need" >&2; exit 1
    fi
done
say "linked without FFmpeg, oneDNN, MPI, Tesseract: $(ldd "$OUT/test_cuda_ops" | awk '{print $1}' | grep -E 'cublas|cudart' | tr '\n' ' ')"

# ---- 2. operators against the CPU references ---------------------------
step "operators: CUDA against the plain CPU reference"
status=0
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
"$OUT/test_cuda_ops" >"$OUT/ops.tap" 2>&1 || status=1
cat "$OUT/ops.tap"
if grep -q '^1\.\.0 # SKIP' "$OUT/ops.tap"; then
    say "(no device: the operator tests did not run)"
    [ $CPU_ONLY = 1 ] || status=1
else
    say "operators: $(grep -c '^ok' "$OUT/ops.tap") passed, $(grep -c '^not ok' "$OUT/ops.tap") failed"
fi

# ---- 3. DiT blocks: avkit on the GPU against PyTorch ---------------------
step "DiT blocks, one training step: avkit (backend table) against PyTorch"
say "note: the DiT of lib/models does not run on the GPU yet (it calls the CPU"
say "operators, not the backend table); this is a stack of its blocks, not the"
say "whole model (no patch, timestep or caption embedding, no final layer)."
# shellcheck disable=SC2086
"$OUT/bench_cuda_block" $SHAPE | tee "$OUT/bench_avkit.txt" || status=1
if [ $TORCH = 0 ]; then
    say "(--no-torch: the PyTorch side is left out)"
elif [ -z "$PY" ]; then
    say "no Python with PyTorch found: the PyTorch side is skipped"
    [ $CPU_ONLY = 1 ] || status=1
elif [ $CPU_ONLY = 1 ]; then
    "$PY" scripts/gpu-check/torch_dit_block.py --cpu-dry | tee "$OUT/bench_torch.txt" || status=1
else
    # shellcheck disable=SC2086
    timeout "${COMPILE_TIMEOUT:-240}" "$PY" scripts/gpu-check/torch_dit_block.py $SHAPE |
        tee "$OUT/bench_torch.txt" || say "(the PyTorch run stopped early: see above)"
fi
if [ $CPU_ONLY = 0 ] && [ -s "$OUT/bench_torch.txt" ]; then
    best=$(awk '/^torch [a-z0-9-]* step_ms/ {print $4, $2}' "$OUT/bench_torch.txt" | sort -n | head -1)
    ours=$(awk '/^avkit-cuda bf16 step_ms/ {print $4}' "$OUT/bench_avkit.txt")
    if [ -n "$best" ] && [ -n "$ours" ]; then
        say "step time: avkit bf16 $ours ms; PyTorch's best (${best#* }) ${best%% *} ms;" \
            "ratio $(awk -v a="$ours" -v b="${best%% *}" 'BEGIN {printf "%.2f", a / b}') (< 1: avkit faster)"
    fi
fi
step "done"
exit $status
