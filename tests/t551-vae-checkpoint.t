#!/bin/sh
# VAE checkpoints: round trip, initialization, and every bad checkpoint named.
. "$(dirname "$0")/lib.sh"; run_unit test_vae_load
