#!/bin/sh
# Attention's short-sequence path (the DiT's temporal attention) against
# the reference: forward, lse and backward, masked and empty key sets.
. "$(dirname "$0")/lib.sh"; run_unit test_attention_short
