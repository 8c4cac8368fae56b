#!/bin/sh
# av-sample --long: a video denoised block by block, one record a block
# (or frames streamed to mp4 / TIFF), the same bytes for the same seed,
# and its bad options refused by name. The pipeline itself is tested in
# tests/unit/test_long.c (t961).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

LARGS="-m dit.safetensors --vocab vocab.txt --size 32x32 --base 32 --steps 3 --cfg 2"

test_expect_success 'setup: the models' '
    sample_setup
'

test_expect_success '--long 16 --block 4: four block records, the last block record 3' '
    av-sample $LARGS --long 16 --block 4 --context 2 -p "a red circle" -o long.avt &&
    test_sample_util cmp long.avt long.avt -r 3 &&
    ! test_sample_util cmp long.avt long.avt -r 4 2>err &&
    test_grep "no record 4" err
'

test_expect_success 'the same seed gives the same bytes, another seed others' '
    av-sample $LARGS --long 16 --block 4 --context 2 -p "a red circle" -o again.avt &&
    cmp long.avt again.avt &&
    av-sample $LARGS --long 16 --block 4 --context 2 --seed 5 -p "a red circle" -o other.avt &&
    ! cmp -s long.avt other.avt
'

test_expect_success 'decoded: an mp4 of all 16 frames, and 16 TIFFs' '
    av-sample $LARGS --vae vae.safetensors --long 16 --block 4 --context 2 -p "a red circle" \
        -o long.mp4 &&
    test -s long.mp4 &&
    av-sample $LARGS --vae vae.safetensors --long 16 --block 4 --context 2 -p "a red circle" \
        -o fr.tif &&
    test -f fr-0015.tif && test ! -f fr-0016.tif
'

test_expect_success '--long 18 --block 4: five records, the last of the 2 frames left' '
    av-sample $LARGS --long 18 --block 4 --context 2 -p "a red circle" -o odd.avt &&
    test "$(av-tensor -c odd.avt)" = 5 &&
    av-tensor -r 4 odd.avt >info &&
    test_grep "tensor latent f32 \[4,2,4,4\]" info &&
    av-tensor -r 3 odd.avt >info &&
    test_grep "tensor latent f32 \[4,4,4,4\]" info
'

# fails CODE PATTERN ARGS...: exit CODE, stderr matches PATTERN, no out.*
fails() {
    code=$1 pat=$2; shift 2
    av-sample "$@" >stdout 2>err; rc=$?
    test $rc -eq "$code" || { echo "exit $rc, expected $code"; cat err; return 1; }
    test_grep "^av-sample: .*$pat" err && test ! -s stdout && test ! -e out.avt
}

test_expect_success 'bad --long options: clear errors, nothing written' '
    fails 2 "--context 4: must be less than --block 4" $LARGS --long 16 --block 4 --context 4 -p red -o out.avt &&
    fails 2 "--long needs --block" $LARGS --long 16 -p red -o out.avt &&
    fails 2 "--block and --context go with --long" $LARGS --frames 4 --block 4 -p red -o out.avt &&
    fails 2 "--frames and --long exclude each other" $LARGS --frames 4 --long 16 --block 4 -p red -o out.avt &&
    fails 2 "--long samples with --solver euler only" $LARGS --solver ab2 --long 16 --block 4 -p red -o out.avt &&
    fails 1 "--long samples one prompt \(2 given\)" $LARGS --long 16 --block 4 -p red -p blue -o out.avt
'

test_expect_success 'under mpirun: more ranks than the model has blocks refused, no output' '
    avk_mpirun 3 av-sample $LARGS --long 16 --block 4 -p red -o out.avt 2>err; rc=$?
    test $rc -ne 0 && test_grep "across 3 ranks: the model has only 2 blocks" err &&
    test ! -e out.avt
'

test_done
