#!/bin/sh
# The tensor type, RNG and permutations.
. "$(dirname "$0")/lib.sh"; run_unit test_tensor
