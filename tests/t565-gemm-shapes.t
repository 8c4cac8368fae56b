#!/bin/sh
# avk_gemm's padded copies (A^T B with rows 4 KiB apart) equal dnnl_sgemm
# bitwise and the reference within 1e-5; the linear layer's backward at
# the DiT's MLP shapes against its reference.
. "$(dirname "$0")/lib.sh"; run_unit test_gemm_shapes
