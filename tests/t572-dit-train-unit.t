#!/bin/sh
# The DiT trainer: checkpoints, identical reruns, bitwise resume, a falling
# validation loss, and every kind of bad input refused before writing.
. "$(dirname "$0")/lib.sh"; run_unit test_dit_train
