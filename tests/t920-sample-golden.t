#!/bin/sh
# Sampling from the DiT against PyTorch (three runs: Euler, AB2 with a
# negative prompt, Heun with kept latents) and against itself: cfg 1 is the
# conditional pass, the cache at threshold 0 is no cache, kept latents stay.
. "$(dirname "$0")/lib.sh"; run_unit test_sample
