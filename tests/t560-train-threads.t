#!/bin/sh
# av-train is bit-reproducible at two threads: every reduction of the
# training step (losses, gradient norm, the conv weight gradients' per-thread
# partials) adds its partial sums in a fixed order, never in the order the
# threads finish.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

test_expect_success 'setup: media, tiny config, manifest' '
    vae_tiny_config >"$TRASH/tiny.json" &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n%s\t0\t25\t25\n" \
        "$(vae_media wide)" "$(vae_media tall)" >"$TRASH/clips.tsv"
'
test_expect_success 'four runs at OMP_NUM_THREADS=2 write identical weights' '
    for i in 1 2 3 4; do
        OMP_NUM_THREADS=2 av-train --model vae --config tiny.json --batch 2 --crop 32 \
            --steps 10 clips.tsv -o r$i.safetensors || exit 1
    done &&
    cmp r1.safetensors r2.safetensors && cmp r1.safetensors r3.safetensors &&
    cmp r1.safetensors r4.safetensors &&
    cmp r1.optim.safetensors r4.optim.safetensors
'
test_done
