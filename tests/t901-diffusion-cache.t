#!/bin/sh
# The diffusion cache decides when to skip the blocks, and reuses their residual.
. "$(dirname "$0")/lib.sh"; run_unit test_dcache
