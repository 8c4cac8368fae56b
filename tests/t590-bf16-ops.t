#!/bin/sh
# bf16 GEMM, linear and attention (forward and backward, masked, threaded)
# against their references, in every kernel this CPU runs.
. "$(dirname "$0")/lib.sh"; run_unit test_bf16
