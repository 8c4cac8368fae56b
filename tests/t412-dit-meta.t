#!/bin/sh
# av-train --model dit describes its training latents in the checkpoint's
# metadata (video frames and size, bucket base and unit, the VAE's cell,
# latent scaling, frame rate, timestep shift), and av-sample takes its
# defaults from there: the same video as with every option spelled out,
# while an option given still wins.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: latents of 4 frames of 32x32 at 10 fps and a DiT trained on them' '
    sample_setup &&
    ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=s=32x32:r=10" -frames:v 4 \
        -c:v png clip.mkv &&
    printf "video\tstart_frame\tend_frame\tfps\nclip.mkv\t0\t4\t10\nclip.mkv\t0\t4\t10\n" >c.tsv &&
    printf "#!/bin/sh\necho \"red circle \$2\"\n" >cap && chmod +x cap &&
    av-caption-feed -x ./cap --vocab vocab.txt -L 16 -o clips.avt c.tsv &&
    av-vaeenc -m vae.safetensors --base 32 clips.avt -o lat.avt &&
    echo "{\"_class_name\": \"AvkitVideoDiT\", \"in_channels\": 4, \"patch_size\": [1, 2, 2],
      \"hidden_size\": 32, \"num_heads\": 2, \"depth\": 2, \"mlp_ratio\": 2, \"vocab_size\": 512,
      \"max_text_len\": 16, \"text_layers\": 1, \"freq_dim\": 32}" >dit.json &&
    av-train --model dit --config dit.json --batch 1 --steps 2 --seed 1 --shift 2 \
        lat.avt -o t.safetensors
'

meta() { test_sample_util meta "$1" "$2"; }

test_expect_success 'the checkpoint describes the latents it was trained on' '
    test "$(meta t.safetensors video_frames)" = 4 &&
    test "$(meta t.safetensors video_size)" = 32x32 &&
    test "$(meta t.safetensors bucket_base)" = 32 &&
    test "$(meta t.safetensors bucket_unit)" = 16 &&
    test "$(meta t.safetensors vae_factor)" = 8 &&
    test "$(meta t.safetensors fps)" = 10 &&
    test "$(meta t.safetensors shift)" = 2 &&
    av-tensor -r 0 lat.avt | sed -n "s/^  meta latent_scaling_factor=//p" >expect &&
    meta t.safetensors latent_scaling_factor >actual && test_cmp expect actual &&
    av-tensor -r 0 lat.avt | sed -n "s/^  meta latent_shift_factor=//p" >expect &&
    meta t.safetensors latent_shift_factor >actual && test_cmp expect actual
'

test_expect_success 'av-sample: defaults from the metadata give the video of explicit options' '
    av-sample -m t.safetensors --vae vae.safetensors --vocab vocab.txt --steps 4 \
        -p "red circle" -o d.avt &&
    av-sample -m t.safetensors --vae vae.safetensors --vocab vocab.txt --steps 4 \
        --frames 4 --size 32x32 --base 32 --unit 16 --shift 2 -p "red circle" -o e.avt &&
    test "$(test_sample_util cmp d.avt e.avt)" = 0 &&
    av-tensor d.avt | grep "tensor latent" | grep -q "\[4,4,4,4\]" &&
    av-tensor d.avt | grep -q "meta shift=2$"
'

test_expect_success 'av-sample: explicit options win over the metadata' '
    av-sample -m t.safetensors --vocab vocab.txt --steps 4 --frames 2 --shift 1 \
        -p "red circle" -o f.avt &&
    av-tensor f.avt | grep "tensor latent" | grep -q "\[4,2,4,4\]" &&
    av-tensor f.avt | grep -q "meta shift=1$"
'

test_expect_success 'latents without a source description: no such keys, and av-sample asks' '
    av-tensor -x latent -o l.npy lat.avt && av-tensor -x tokens -o tk.npy lat.avt &&
    av-tensor -x mask -o m.npy lat.avt &&
    av-tensor --pack -k bare -o bare.avt latent=l.npy tokens=tk.npy mask=m.npy &&
    av-train --model dit --config dit.json --batch 1 --steps 1 --seed 1 bare.avt -o b.safetensors &&
    test "$(meta b.safetensors video_size)" = "(none)" &&
    test "$(meta b.safetensors vae_factor)" = "(none)" &&
    test "$(meta b.safetensors video_frames)" = 4 &&
    { av-sample -m b.safetensors --vae vae.safetensors --vocab vocab.txt \
        --steps 2 -p red -o g.avt 2>err; test $? -eq 1; } &&
    test_grep "no --size and no video_size in the metadata of b.safetensors" err &&
    test ! -e g.avt
'
test_done
