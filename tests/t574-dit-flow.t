#!/bin/sh
# Rectified flow for training: interpolation, target, logit-normal shifted
# t and per-sample draws.
. "$(dirname "$0")/lib.sh"; run_unit test_dit_flow
