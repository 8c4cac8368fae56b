#!/bin/sh
# Image-to-video (--image) and inpainting (--video with --mask): the kept
# latents are the VAE's encoding of their source, to 1e-5 (the same frames
# through the same encoder as av-vaeenc; in practice bit for bit), and the
# rest is generated.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

# near A B TOL: |A| <= TOL
near() { awk -v d="$1" -v t="$2" "BEGIN { exit !(d <= t) }"; }

test_expect_success 'setup: the models, a lossless clip, its first frame, a mask, its latents' '
    sample_setup &&
    ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=s=32x32:r=10" -frames:v 4 \
        -c:v png clip.mkv &&
    ffmpeg -nostdin -loglevel error -i clip.mkv -frames:v 1 -pix_fmt rgb24 first.tif &&
    ffmpeg -nostdin -loglevel error -f lavfi \
        -i "color=c=black:s=32x32,drawbox=x=0:y=0:w=16:h=32:color=white:t=fill" \
        -frames:v 1 -pix_fmt rgb24 mask.tif &&
    printf "video\tstart_frame\tend_frame\nclip.mkv\t0\t4\n" >clip.tsv &&
    av-vaeenc -m vae.safetensors --base 32 clip.tsv -o ref.avt
'

test_expect_success 'image-to-video keeps the first latent frame: the encoded image' '
    av-sample $SARGS --vae vae.safetensors --image first.tif -p "red circle" -o i2v.avt &&
    near "$(test_sample_util cmp ref.avt i2v.avt --frame 0)" 1e-5 &&
    ! near "$(test_sample_util cmp ref.avt i2v.avt --frame 1)" 0.1
'

test_expect_success 'image-to-video: the kept frame whatever the seed and prompt' '
    av-sample $SARGS --vae vae.safetensors --image first.tif --seed 7 -p blue -o i2v7.avt &&
    test "$(test_sample_util cmp i2v.avt i2v7.avt --frame 0)" = 0 &&
    test "$(test_sample_util cmp i2v.avt i2v7.avt --frame 2)" != 0
'

test_expect_success 'inpainting keeps the black half of the mask in every frame' '
    av-sample $SARGS --vae vae.safetensors --video clip.mkv --mask mask.tif -v \
        -p "red circle" -o inp.avt 2>err &&
    test_grep "8 of 16 latent cells kept" err &&
    near "$(test_sample_util cmp ref.avt inp.avt --cols 2:4)" 1e-5 &&
    ! near "$(test_sample_util cmp ref.avt inp.avt --cols 0:2)" 0.1
'

test_expect_success 'the decoded kept frame is the VAE round trip of the image' '
    av-sample $SARGS --vae vae.safetensors --image first.tif -p "red circle" -o k.tif &&
    av-vaeenc -d --format tiff -m vae.safetensors -o rt ref.avt &&
    cmp k-0000.tif rt/000000-0000.tif
'

test_expect_code 1 'a clip shorter than --frames is an error' '
    av-sample $SARGS --frames 8 --vae vae.safetensors --video clip.mkv --mask mask.tif \
        -p red -o short.avt 2>err; rc=$?
    test_grep "clip.mkv" err && test ! -e short.avt && exit $rc
'
test_done
