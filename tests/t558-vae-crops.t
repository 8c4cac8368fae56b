#!/bin/sh
# Training crops of av-train --model vae, with and without augmentation.
. "$(dirname "$0")/lib.sh"; run_unit test_vae_crops
