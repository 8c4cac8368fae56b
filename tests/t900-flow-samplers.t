#!/bin/sh
# Rectified-flow samplers against the exact flow of Gaussian data.
. "$(dirname "$0")/lib.sh"; run_unit test_flow
