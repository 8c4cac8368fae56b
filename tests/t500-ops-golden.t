#!/bin/sh
# Operators, fast and reference, against the PyTorch golden tensors.
. "$(dirname "$0")/lib.sh"; run_unit test_ops
