#!/bin/sh
# Block-wise long-video denoising (avk_long_run, avk_long_sample): repeatable
# output, memory flat at 64/256/1,025 latent frames, the context mechanism.
. "$(dirname "$0")/lib.sh"; run_unit test_long
