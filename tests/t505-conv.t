#!/bin/sh
# conv2d fast path with several row bands per image, both parallel modes.
. "$(dirname "$0")/lib.sh"; run_unit test_conv
