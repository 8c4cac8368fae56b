#!/bin/sh
# The DiT in mixed bf16 on the golden configurations: emulated bf16 within
# 2e-2 of fp32 over ten AdamW steps; the fp32 fallback bitwise fp32.
. "$(dirname "$0")/lib.sh"; run_unit test_dit_bf16
