#!/bin/sh
# The inspector's listing of a tiny encode, against tests/golden/vae/: the
# records, metadata and tensor shapes exactly, the statistics of the
# values and the measured latent scale to 4 significant digits and within
# 2% of the golden (the tiny model is trained here, and GEMM kernels and
# swscale differ in the last bits between CPUs: an AMD CPU with AVX2 gives
# a latent scale 0.2% from an Intel one with AVX-512).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

test_expect_success 'tiny encode listing matches the golden text' '
    vae_tiny_model vae.safetensors &&
    printf "video\tstart_frame\tend_frame\tfps\tcaption\n%s\t0\t20\t10\tcard\n%s\t0\t25\t25\ttall\n" \
        vae-wide.mp4 vae-tall.mp4 >clips.tsv &&
    ln -s "$(vae_media wide)" vae-wide.mp4 && ln -s "$(vae_media tall)" vae-tall.mp4 &&
    av-vaeenc -m vae.safetensors --base 32 --fps 5 --max-frames 4 clips.tsv -o lat.avt &&
    av-tensor lat.avt | awk "{
        for (i = 1; i <= NF; i++)
            if (\$i ~ /^(min|max|mean|std|latent_scaling_factor)=/) {
                split(\$i, kv, \"=\"); \$i = kv[1] \"=\" sprintf(\"%.4g\", kv[2] + 0)
            }
        print }" >listing.txt &&
    test_golden_approx vae/encode.txt listing.txt 0.02
'
test_done
