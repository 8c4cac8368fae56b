#!/bin/sh
# Under mpirun the prompts are dealt across ranks and rank 0 writes them in
# order: the same seed gives the same bytes with 1 and 2 ranks (latent
# stream, TIFF frames and the contact sheet).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"

test_expect_success 'setup: a tiny DiT, a vocabulary, a tiny VAE, five prompts' '
    sample_setup &&
    printf "red circle\nblue square\ngreen triangle\nred square\nblue\n" >prompts.txt
'

test_expect_success 'one rank and two ranks write the same latent stream and sheet' '
    OMP_NUM_THREADS=2 av-sample $SARGS --vae vae.safetensors --seed 9 -P prompts.txt \
        --sheet one.png -o one.avt &&
    avk_mpirun 2 av-sample $SARGS --vae vae.safetensors --seed 9 -P prompts.txt \
        --sheet two.png -o two.avt &&
    cmp one.avt two.avt && cmp one.png two.png
'

test_expect_success 'one rank and two ranks write the same TIFF frames' '
    av-sample $SARGS --vae vae.safetensors --seed 9 -P prompts.txt -f tiff -o t1 &&
    avk_mpirun 2 av-sample $SARGS --vae vae.safetensors --seed 9 -P prompts.txt -f tiff -o t2 &&
    test "$(ls t1 | wc -l)" = 20 &&
    for f in t1/*.tif; do cmp "$f" "t2/${f#t1/}" || exit 1; done
'

test_expect_code 1 'a bad input under mpirun: one message, exit 1, nothing written' '
    avk_mpirun 2 av-sample $SARGS --size 40x40 -P prompts.txt -o bad.avt 2>err; rc=$?
    test "$(grep -c "not a size bucket" err)" = 1 && test ! -e bad.avt && exit $rc
'
test_done
