#!/bin/sh
# No visible seams in a long video from a trained model: a tiny DiT trained
# here (on shots of moving shapes from examples/gen-shapes, through the
# tiny VAE) samples 64 latent frames in blocks of 4 with 2 frames of
# feature cache; the mean frame-to-frame change of the latents at the
# block joins is at most 1.5 times that inside the blocks (the ratios of
# the run, and of one without context, are printed).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

test_expect_success 'setup: shots, captions, latents, 1000 steps of a tiny DiT' '
    gen-shapes --seed 1 --shots 24 --size 32x32 --frames 16 -o raw >/dev/null &&
    { printf "video\tstart_frame\tend_frame\tfps\n" &&
      for f in raw/shot-*.mp4; do printf "%s\t0\t16\t25\n" "$f"; done; } >clips.tsv &&
    av-caption-feed --learn-vocab 300 -t -c raw/captions.tsv -o vocab.txt clips.tsv &&
    av-caption-feed -t -c raw/captions.tsv --vocab vocab.txt -L 24 -o clips.avt clips.tsv &&
    vae_tiny_model vae.safetensors &&
    av-vaeenc -m vae.safetensors --base 32 clips.avt -o lat.avt &&
    echo "{\"_class_name\": \"AvkitVideoDiT\", \"in_channels\": 4, \"patch_size\": [1, 2, 2], \"hidden_size\": 32,
      \"num_heads\": 2, \"depth\": 2, \"mlp_ratio\": 2, \"vocab_size\": 300,
      \"max_text_len\": 24, \"text_layers\": 1, \"freq_dim\": 32}" >dit.json &&
    av-train --model dit --config dit.json --batch 4 --steps 1000 --seed 1 lat.avt \
        -o dit.safetensors
'

A="-m dit.safetensors --vae vae.safetensors --vocab vocab.txt --size 32x32 --base 32 --steps 10 --cfg 3 --long 64 --block 4"

test_expect_success 'block joins change no more than 1.5x the frames inside blocks' '
    av-sample $A --context 2 -p "a red circle moving left on a black background" -o long.avt &&
    test_long_seams long.avt >seams && cat seams &&
    av-sample $A --context 0 -p "a red circle moving left on a black background" -o bare.avt &&
    echo "without context: $(test_long_seams bare.avt)" &&
    ratio=$(sed "s/.*ratio=//" seams) &&
    test "$(echo "$ratio <= 1.5" | bc)" = 1
'

test_done
