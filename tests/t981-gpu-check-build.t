#!/bin/sh
# scripts/gpu-check.sh builds the CUDA kernels, the plain-C references and
# the operator test with nvcc and a C compiler alone (none of FFmpeg,
# oneDNN, MPI, Tesseract linked) and runs what runs without a GPU. Only in
# a CUDA build (make CUDA=1): it compiles every kernel again, for one
# architecture (minutes on a loaded machine).
. "$(dirname "$0")/lib.sh"

if "$AVKIT_BUILD/tests/test_cuda_ops" | grep -q "built without CUDA"; then
    skip_all "built without CUDA (make CUDA=1)"
fi
command -v "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" >/dev/null || skip_all "no nvcc"

test_expect_success 'gpu-check --cpu-only builds without our other dependencies' '
    CUDA_ARCHS=80 "$SRC_DIR/scripts/gpu-check.sh" --cpu-only --no-torch --out "$PWD/gc" >out 2>&1 ||
        { cat out; false; } &&
    grep -q "linked without FFmpeg, oneDNN, MPI, Tesseract" out &&
    test -x gc/test_cuda_ops && test -x gc/bench_cuda_block
'
test_expect_success 'its operator test says why it did not run here' '
    gc/test_cuda_ops >tap &&
    { grep -q "^1\.\.0 # SKIP" tap || grep -q "^1\.\.[1-9]" tap; }
'
test_done
