#!/bin/sh
# The fused CPU kernels of the DiT's training step against their plain
# references and, where promised, bitwise against the separate operators.
. "$(dirname "$0")/lib.sh"; run_unit test_fused_kernels
