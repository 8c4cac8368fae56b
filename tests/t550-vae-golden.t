#!/bin/sh
# The whole VAE (forward, backward, inference) against PyTorch golden tensors.
. "$(dirname "$0")/lib.sh"; run_unit test_vae
