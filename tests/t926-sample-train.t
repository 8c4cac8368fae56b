#!/bin/sh
# av-sample on what the flow trains: captions tokenized by av-caption-feed,
# latents by av-vaeenc, a DiT by av-train --model dit (three steps); the
# EMA weights come from the EMA file av-train writes beside the checkpoint,
# and a stale one is refused.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: captions, latents and three steps of av-train --model dit' '
    sample_setup &&
    ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=s=32x32:r=10" -frames:v 4 \
        -c:v png clip.mkv &&
    printf "video\tstart_frame\tend_frame\tfps\nclip.mkv\t0\t4\t10\nclip.mkv\t0\t3\t10\n" >c.tsv &&
    printf "#!/bin/sh\necho \"red circle \$2\"\n" >cap && chmod +x cap &&
    av-caption-feed -x ./cap --vocab vocab.txt -L 16 -o clips.avt c.tsv &&
    av-vaeenc -m vae.safetensors --base 32 clips.avt -o lat.avt &&
    echo "{\"_class_name\": \"AvkitVideoDiT\", \"in_channels\": 4, \"patch_size\": [1, 2, 2],
      \"hidden_size\": 32, \"num_heads\": 2, \"depth\": 2, \"mlp_ratio\": 2, \"vocab_size\": 512,
      \"max_text_len\": 16, \"text_layers\": 1, \"freq_dim\": 32}" >dit.json &&
    av-train --model dit --config dit.json --batch 1 --steps 3 --seed 1 lat.avt -o t.safetensors &&
    test -s t.ema.safetensors
'

A="-m t.safetensors --vae vae.safetensors --vocab vocab.txt --frames 4 --size 32x32 --base 32 --steps 4"

test_expect_success 'the EMA weights of the EMA file by default; --no-ema the plain ones' '
    av-sample $A -v -p "red circle" -o e.avt 2>err &&
    test_grep "EMA weights from t.ema.safetensors" err &&
    av-sample $A --no-ema -p "red circle" -o p.avt &&
    test "$(test_sample_util cmp e.avt p.avt)" != 0
'

test_expect_success 'decoded to mp4 with the trained VAE, a frame per latent frame' '
    av-sample $A -p "red circle" -o v.mp4 &&
    ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 v.mp4 >n &&
    echo 4 >expect && test_cmp expect n
'

test_expect_code 1 'an EMA file of another step is refused' '
    av-train --model dit --config dit.json --batch 1 --steps 1 --seed 1 lat.avt -o o.safetensors &&
    cp o.ema.safetensors t.ema.safetensors &&
    av-sample $A -p red -o s.avt 2>err; rc=$?
    test_grep "t.ema.safetensors: EMA of step 1, but t.safetensors is of step 3" err &&
    test ! -e s.avt && exit $rc
'
test_done
