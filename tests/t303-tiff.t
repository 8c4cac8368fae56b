#!/bin/sh
# TIFF frames: round trips, foreign layouts, interop, errors (tests/unit/test_tiff.c).
. "$(dirname "$0")/lib.sh"
run_unit test_tiff
