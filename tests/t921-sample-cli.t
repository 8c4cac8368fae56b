#!/bin/sh
# av-sample's outputs: the latent stream that av-vaeenc -d decodes, mp4 and
# TIFF files, a directory for several prompts, a contact sheet; the same
# seed gives the same bytes; EMA weights by default; guidance scale 1 runs
# the conditional pass only.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: a tiny DiT, a vocabulary, a tiny VAE' '
    sample_setup
'

test_expect_success 'the latent stream: one record per prompt, with its prompt and seed' '
    av-sample $SARGS --seed 5 -p "red circle" -p "blue square" -o s.avt &&
    av-tensor s.avt >list &&
    test "$(av-tensor -c s.avt)" = 2 &&
    test_grep "000" list && test_grep "001" list &&
    test_grep "prompt.*blue square" list && test_grep "seed.*5" list &&
    test_grep "latent.*f32.*\[4,4,4,4\]" list
'

test_expect_success 'av-sample -o - | av-vaeenc -d composes into a 4-frame mp4' '
    av-sample $SARGS -p "red circle" -o - | av-vaeenc -d -m vae.safetensors -o piped.mp4 &&
    ffprobe -v error -count_frames -show_entries stream=nb_read_frames,width,height \
        -of csv=p=0 piped.mp4 >probe &&
    echo "32,32,4" >expect && test_cmp expect probe
'

test_expect_success 'one prompt to FILE.mp4 is the stream decoded by av-vaeenc' '
    av-sample $SARGS --vae vae.safetensors -p "red circle" -o one.mp4 &&
    av-sample $SARGS -p "red circle" -o one.avt &&
    av-vaeenc -d -m vae.safetensors -o two.mp4 one.avt &&
    ffmpeg -nostdin -loglevel error -i one.mp4 -f rawvideo -pix_fmt rgb24 a.raw &&
    ffmpeg -nostdin -loglevel error -i two.mp4 -f rawvideo -pix_fmt rgb24 b.raw &&
    cmp a.raw b.raw
'

test_expect_success 'several prompts to a directory: sample-NNN.mp4 by prompt index' '
    av-sample $SARGS --vae vae.safetensors -p "red circle" -p "blue square" -p "green" -o dir &&
    ls dir >got && printf "sample-000.mp4\nsample-001.mp4\nsample-002.mp4\n" >expect &&
    test_cmp expect got
'

test_expect_success 'TIFF frames: NAME-FFFF.tif for one prompt, DIR/sample-NNN-FFFF.tif for several' '
    av-sample $SARGS --vae vae.safetensors -p "red circle" -o fr.tif &&
    ls fr-*.tif >got && printf "fr-0000.tif\nfr-0001.tif\nfr-0002.tif\nfr-0003.tif\n" >expect &&
    test_cmp expect got &&
    av-sample $SARGS --vae vae.safetensors -p a -p b -f tiff -o tdir &&
    test "$(ls tdir | wc -l)" = 8 && test -f tdir/sample-001-0003.tif
'

test_expect_success 'the contact sheet is a PNG with a row per prompt' '
    av-sample $SARGS --vae vae.safetensors -p "red circle" -p "blue square" --sheet sheet.png -o s.avt &&
    file sheet.png >type && test_grep "PNG image data, 196 x 104, 8-bit/color RGB" type &&
    ffmpeg -nostdin -loglevel error -i sheet.png -f rawvideo -pix_fmt rgb24 sheet.raw &&
    test "$(wc -c <sheet.raw)" = $((196 * 104 * 3))
'

test_expect_success 'the same seed gives the same bytes; another seed other latents' '
    av-sample $SARGS --seed 3 -p "red circle" -p "blue" -o a.avt &&
    av-sample $SARGS --seed 3 -p "red circle" -p "blue" -o b.avt &&
    cmp a.avt b.avt &&
    av-sample $SARGS --seed 4 -p "red circle" -p "blue" -o c.avt &&
    test "$(test_sample_util cmp a.avt c.avt)" != 0
'

test_expect_success 'a prompt keeps its video whatever its neighbours (noise from seed and index)' '
    av-sample $SARGS --seed 3 -p "red circle" -p "green" -o d.avt &&
    test "$(test_sample_util cmp a.avt d.avt)" = 0 &&
    test "$(test_sample_util cmp -r 1 a.avt d.avt -r 1)" != 0
'

test_expect_success 'EMA weights by default; --no-ema is the plain weights' '
    av-sample $SARGS -p "red circle" -o ema.avt &&
    av-sample $SARGS -p "red circle" --no-ema -o noema.avt &&
    av-sample $SARGS -m plain.safetensors -p "red circle" -o plain.avt &&
    test "$(test_sample_util cmp ema.avt noema.avt)" != 0 &&
    test "$(test_sample_util cmp plain.avt noema.avt)" = 0
'

test_expect_success 'cfg 1 runs the conditional pass only (a negative prompt changes nothing)' '
    av-sample $SARGS -v --cfg 1 -p "red circle" -o g1.avt 2>err1 &&
    av-sample $SARGS -v --cfg 1 --neg "blue square" -p "red circle" -o g2.avt 2>err2 &&
    test "$(test_sample_util cmp g1.avt g2.avt)" = 0 &&
    test_grep "prompt 0: 6 transformer evaluations" err1 &&
    av-sample $SARGS -v --cfg 4 -p "red circle" -o g3.avt 2>err3 &&
    test_grep "prompt 0: 12 transformer evaluations" err3 &&
    av-sample $SARGS --cfg 4 --neg "blue square" -p "red circle" -o g4.avt &&
    test "$(test_sample_util cmp g3.avt g4.avt)" != 0
'

test_expect_success 'prompts from a file, one a line, blank lines skipped, after those of -p' '
    printf "blue\n\n  \ngreen\n" >prompts.txt &&
    av-sample $SARGS --seed 3 -p "red circle" -P prompts.txt -o f.avt &&
    test "$(av-tensor -c f.avt)" = 3 &&
    test "$(test_sample_util cmp a.avt f.avt -r 1)" = 0
'

test_expect_success 'frames and size default to the model metadata' '
    test_sample_util mkdit meta.safetensors video_frames=4 video_size=32x32 bucket_base=32 &&
    av-sample -m meta.safetensors --vocab vocab.txt --vae vae.safetensors --steps 6 \
        --seed 3 -p "red circle" -o m.avt &&
    av-tensor m.avt >list && test_grep "\[4,4,4,4\]" list
'

test_expect_success 'Heun and Euler solvers run; heun costs 2 steps - 1 evaluations a pass' '
    av-sample $SARGS -v --solver heun --cfg 1 -p "red" -o h.avt 2>err &&
    test_grep "11 transformer evaluations" err &&
    av-sample $SARGS -v --solver euler --cfg 1 -p "red" -o e.avt 2>err &&
    test_grep "6 transformer evaluations" err
'
test_done
