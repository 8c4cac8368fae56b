#!/bin/sh
# Tiled attention at long sequences and with key masks against the reference.
. "$(dirname "$0")/lib.sh"; run_unit test_attention
