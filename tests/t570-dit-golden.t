#!/bin/sh
# The video DiT (both variants, both attention options) against PyTorch:
# prediction, loss, every parameter gradient, ten AdamW step losses.
. "$(dirname "$0")/lib.sh"; run_unit test_dit
