#!/bin/sh
# The parameter table and the checkpoint commit (params.h, checkpoint.h).
. "$(dirname "$0")/lib.sh"; run_unit test_params
