#!/bin/sh
# av-sample's bad inputs: each a clear error naming what and where, exit 1
# (2 for usage), and nothing written.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: the models, and a DiT of 8 latent channels' '
    sample_setup &&
    test_sample_util mkdit dit8.safetensors --channels 8 vae_factor=8
'

# fails CODE PATTERN ARGS...: exit CODE, stderr matches PATTERN, no out.*
fails() {
    code=$1 pat=$2; shift 2
    av-sample "$@" >stdout 2>err; rc=$?
    test $rc -eq "$code" || { echo "exit $rc, expected $code"; cat err; return 1; }
    test_grep "^av-sample: .*$pat" err && test ! -s stdout &&
    test -z "$(ls -A | grep -E "^(out|\.out)" | grep -v "^\.out\.[0-9]")"
}

test_expect_success 'a VAE whose latent channels differ from the model' '
    fails 1 "vae.safetensors: the VAE has 4 latent channels, the DiT dit8.safetensors takes 8" \
        $SARGS -m dit8.safetensors --vae vae.safetensors -p red -o out.mp4
'

test_expect_success 'a size that is not a bucket, with the buckets listed' '
    fails 1 "size 40x40 is not a size bucket of base 32, unit 16 \(the buckets: 32x32 " \
        $SARGS --size 40x40 -p red -o out.avt
'

test_expect_success 'a prompt longer than the model text length' '
    fails 1 "prompt 1 \(\"a red circle moves left and a blue square moves up\"\): [0-9]+ tokens, the model takes at most 16" \
        $SARGS -p red -p "a red circle moves left and a blue square moves up" -o out.avt
'

test_expect_success 'no vocabulary' '
    fails 1 "no vocabulary: give --vocab" -m dit.safetensors --frames 4 --size 32x32 \
        --base 32 -p red -o out.avt
'

test_expect_success 'a missing vocabulary file' '
    fails 1 "nosuch.txt" $SARGS --vocab nosuch.txt -p red -o out.avt
'

test_expect_success 'a vocabulary larger than the model knows' '
    av-caption-feed --learn-vocab 700 --corpus "$SRC_DIR/README.md" -o big.txt &&
    fails 1 "big.txt: [0-9]+ token ids, but the DiT dit.safetensors knows 512" \
        $SARGS --vocab big.txt -p red -o out.avt
'

test_expect_success 'mp4 output without a VAE' '
    fails 1 "decoding to mp4 needs --vae" $SARGS -p red -o out.mp4
'

test_expect_success 'a missing or broken model file' '
    fails 1 "nosuch.safetensors" $SARGS -m nosuch.safetensors -p red -o out.avt &&
    echo junk >junk.safetensors &&
    fails 1 "junk.safetensors" $SARGS -m junk.safetensors -p red -o out.avt
'

test_expect_success 'no frames or size, and none in the metadata' '
    fails 1 "no --frames and no video_frames in the metadata of dit.safetensors" \
        -m dit.safetensors --vocab vocab.txt --size 32x32 --base 32 -p red -o out.avt &&
    fails 1 "no --size and no video_size" -m dit.safetensors --vocab vocab.txt --frames 4 \
        -p red -o out.avt
'

test_expect_success 'a size that is not WxH' '
    fails 1 "--size 3x: not WxH" $SARGS --size 3x -p red -o out.avt
'

test_expect_success 'usage errors exit 2: no prompts, a bad solver, --video without --mask' '
    fails 1 "no prompts" $SARGS -o out.avt &&
    fails 2 "solver" $SARGS --solver rk4 -p red -o out.avt &&
    fails 2 "--video and --mask go together" $SARGS --vae vae.safetensors --video x.mkv \
        -p red -o out.avt &&
    fails 2 "sheet" $SARGS --sheet out.jpg -p red -o out.avt &&
    fails 2 "DIT.safetensors is required" --vocab vocab.txt -p red -o out.avt
'

test_expect_success 'an output that cannot be written fails before any sampling' '
    av-sample $SARGS -v -p red -o nodir/out.avt 2>err; test $? -eq 1 &&
    test_grep "nodir/out.avt" err && ! grep -q "transformer evaluations" err &&
    av-sample $SARGS -v --vae vae.safetensors -p red -p blue -o nodir/videos 2>err
    test $? -eq 1 && test_grep "nodir/videos" err && ! grep -q "transformer evaluations" err &&
    av-sample $SARGS -v --vae vae.safetensors -p red --sheet nodir/s.png -o s.avt 2>err
    test $? -eq 1 && test_grep "nodir/s.png" err && test ! -e s.avt
'

test_expect_success 'a missing image or mask file names it' '
    fails 1 "nosuch.tif" $SARGS --vae vae.safetensors --image nosuch.tif -p red -o out.avt
'
test_done
