#!/bin/sh
# AdamW and gradient clipping against PyTorch.
. "$(dirname "$0")/lib.sh"; run_unit test_adamw
