#!/bin/sh
# The DiT in pieces (avkit/models/dit_stage.h): the whole is avk_dit_infer
# bit for bit, a split block range hands its state over exactly, and the
# key/value context (the long videos' feature cache) is the forward over
# context + clip on a one-block model.
. "$(dirname "$0")/lib.sh"; run_unit test_dit_stage
