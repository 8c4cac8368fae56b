#!/bin/sh
# The DiT's operators at real shapes (heads of 64, rotary positions in the
# hundreds, masked joint attention, threaded paths) and a repeatable model.
. "$(dirname "$0")/lib.sh"; run_unit test_dit_ops
