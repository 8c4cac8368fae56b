#!/bin/sh
# Every operator of the CUDA backend against the plain CPU reference in one
# process (largest error per operator; fp32 1e-5, bf16 1e-2). Skips with
# one line in a build without CUDA or on a machine without a device.
. "$(dirname "$0")/lib.sh"; run_unit test_cuda_ops
