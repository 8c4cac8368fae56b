#!/bin/sh
# av-vaeenc under mpirun: the frames of each clip dealt across two ranks,
# gathered in order; the stream equals one process's, byte for byte.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

test_expect_success 'setup: tiny model, three clips of different lengths' '
    vae_tiny_model vae.safetensors &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n%s\t0\t25\t25\n%s\t4\t7\t10\n" \
        "$(vae_media wide)" "$(vae_media tall)" "$(vae_media wide)" >clips.tsv
'
test_expect_success 'two ranks encode what one process encodes (same threads)' '
    OMP_NUM_THREADS=1 av-vaeenc -m vae.safetensors --base 32 clips.tsv -o one.avt &&
    avk_mpirun 2 av-vaeenc -m vae.safetensors --base 32 clips.tsv -o two.avt &&
    cmp one.avt two.avt
'
test_expect_success 'and what one process with two threads and another batch encodes' '
    OMP_NUM_THREADS=2 av-vaeenc -m vae.safetensors --base 32 --batch 2 clips.tsv -o one2.avt &&
    cmp one.avt one2.avt
'
test_expect_success 'sampled latents too (noise depends on clip and frame only)' '
    OMP_NUM_THREADS=1 av-vaeenc -m vae.safetensors --base 32 --sample --seed 9 clips.tsv -o s1.avt &&
    avk_mpirun 2 av-vaeenc -m vae.safetensors --base 32 --sample --seed 9 clips.tsv -o s2.avt &&
    cmp s1.avt s2.avt
'
test_expect_success 'two ranks decode to the same TIFF frames as one process' '
    OMP_NUM_THREADS=1 av-vaeenc -d --format tiff -m vae.safetensors one.avt -o d1 &&
    avk_mpirun 2 av-vaeenc -d --format tiff -m vae.safetensors one.avt -o d2 &&
    test $(ls d1 | wc -l) -eq 48 && diff -r d1 d2
'
test_expect_code 1 'a bad clip fails every rank cleanly, nothing written' '
    printf "video\tstart_frame\tend_frame\n%s\t0\t20\nnope.mp4\t0\t5\n" "$(vae_media wide)" >bad.tsv &&
    avk_mpirun 2 av-vaeenc -m vae.safetensors --base 32 bad.tsv -o bad.avt 2>err; rc=$?
    test_grep "nope.mp4" err && test ! -e bad.avt || exit 99; test $rc -ne 0 && exit 1
'
test_done
