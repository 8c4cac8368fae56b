#!/bin/sh
# The MLP with padded hidden rows (Linear, GELU, Linear) against the
# separate operators and the reference, forward and backward.
. "$(dirname "$0")/lib.sh"; run_unit test_mlp
