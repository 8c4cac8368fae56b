#!/bin/sh
# Size buckets and time resampling of av-vaeenc.
. "$(dirname "$0")/lib.sh"; run_unit test_buckets
