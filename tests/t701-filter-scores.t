#!/bin/sh
# Static, aesthetic and watermark scores and the keep rules on frames made in memory.
. "$(dirname "$0")/lib.sh"; run_unit test_filter_scores
