#!/bin/sh
# AdamW over a ZeRO shard's range equals the whole table's, bitwise.
. "$(dirname "$0")/lib.sh"; run_unit test_hybrid_shard
