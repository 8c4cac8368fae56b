#!/bin/sh
# av-vaeenc: clips to latent records (shapes, buckets, resampling, metadata
# and tensors passed through, dtypes, sampling) and latents back to videos.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

# meta FILE RECORD KEY: a metadata value from av-tensor's listing.
meta() { av-tensor -r "$2" "$1" | sed -n "s/^  meta $3=//p"; }
# shape FILE RECORD TENSOR: "[a,b,...]" of a tensor.
shape() { av-tensor -r "$2" "$1" | awk -v t="$3" '$1 == "tensor" && $2 == t { print $4 }'; }

test_expect_success 'setup: tiny model, manifest of two clips' '
    vae_tiny_model vae.safetensors &&
    printf "video\tstart_frame\tend_frame\tfps\tcaption\n%s\t0\t20\t10\ta test card\n%s\t5\t25\t25\ta tall one\n" \
        "$(vae_media wide)" "$(vae_media tall)" >clips.tsv
'
test_expect_success 'a manifest encodes to one record per clip' '
    av-vaeenc -m vae.safetensors --base 32 clips.tsv -o lat.avt &&
    test "$(av-tensor -c lat.avt)" = 2
'
test_expect_success 'latent [C, T, h, w] in the bucket nearest the aspect ratio' '
    test "$(meta lat.avt 0 bucket)" = 48x32 && test "$(shape lat.avt 0 latent)" = "[4,20,4,6]" &&
    test "$(meta lat.avt 1 bucket)" = 32x48 && test "$(shape lat.avt 1 latent)" = "[4,20,6,4]"
'
test_expect_success 'manifest columns become metadata; key is the clip id' '
    test "$(meta lat.avt 0 caption)" = "a test card" &&
    test "$(meta lat.avt 1 start_frame)" = 5 &&
    av-tensor -r 1 lat.avt | grep -q "^record 1 key=.*vae-tall.mp4#5-25$"
'
test_expect_success 'scale and frame metadata are recorded' '
    test "$(meta lat.avt 0 latent_scaling_factor)" != "" &&
    test "$(meta lat.avt 0 vae_factor)" = 8 && test "$(meta lat.avt 0 vae_frames)" = 20 &&
    test "$(meta lat.avt 0 latent_kind)" = mean
'
test_expect_success '--fps and --max-frames resample each clip to its own length' '
    av-vaeenc -m vae.safetensors --base 32 --fps 5 --max-frames 6 clips.tsv -o r.avt &&
    test "$(shape r.avt 0 latent)" = "[4,6,4,6]" && test "$(shape r.avt 1 latent)" = "[4,4,6,4]" &&
    av-tensor -r 1 -x frame_index -o fi.npy r.avt &&
    test "$(meta r.avt 1 vae_fps)" = 5
'
test_expect_success 'frame indices follow the resampling formula' '
    test -n "$PYTHON" || { echo "no python with numpy"; exit 1; }
    "$PYTHON" -c "import numpy as n; a = n.load(\"fi.npy\"); assert list(a) == [5, 10, 15, 20], a"
'
test_expect_success 'a clip stream passes every metadata field and tensor through' '
    "$PYTHON" -c "import numpy as n; n.save(\"tok.npy\", n.arange(7, dtype=n.int32)); n.save(\"mask.npy\", n.ones(7, n.uint8))" &&
    av-tensor --pack -k clip0 -m video="$(vae_media wide)" -m start_frame=2 -m end_frame=12 \
        -m fps=10 -m caption=hello -o clip.avt tokens=tok.npy mask=mask.npy &&
    av-vaeenc -m vae.safetensors --base 32 clip.avt -o s.avt &&
    test "$(meta s.avt 0 caption)" = hello && test "$(shape s.avt 0 tokens)" = "[7]" &&
    test "$(shape s.avt 0 mask)" = "[7]" && test "$(shape s.avt 0 latent)" = "[4,10,4,6]" &&
    av-tensor s.avt | grep -q "^record 0 key=clip0$"
'
test_expect_success 'a stream on stdin encodes the same' '
    av-vaeenc -m vae.safetensors --base 32 <clip.avt >s2.avt && cmp s.avt s2.avt
'
test_expect_success 'the latents do not depend on --batch' '
    av-vaeenc -m vae.safetensors --base 32 --batch 3 clip.avt -o b3.avt && cmp s.avt b3.avt
'
test_expect_success '--dtype f16 and bf16 store half-size latents close to f32' '
    av-vaeenc -m vae.safetensors --base 32 --dtype f16 clip.avt -o h.avt &&
    av-vaeenc -m vae.safetensors --base 32 --dtype bf16 clip.avt -o bf.avt &&
    av-tensor h.avt | grep -q "tensor latent f16 \[4,10,4,6\]" &&
    av-tensor bf.avt | grep -q "tensor latent bf16 \[4,10,4,6\]" &&
    av-tensor -x latent -o f.npy s.avt && av-tensor -x latent -o h.npy h.avt &&
    av-tensor -x latent -o b.npy bf.avt &&
    "$PYTHON" -c "
import numpy as n
f, h, b = n.load(\"f.npy\"), n.load(\"h.npy\").astype(n.float32), n.load(\"b.npy\").astype(n.float32)
s = abs(f).max()
assert abs(f - h).max() <= s * 2**-11 and abs(f - b).max() <= s * 2**-8, (abs(f-h).max(), abs(f-b).max())"
'
test_expect_success '--sample draws a seeded sample, not the mean' '
    av-vaeenc -m vae.safetensors --base 32 --sample --seed 4 clip.avt -o s4.avt &&
    av-vaeenc -m vae.safetensors --base 32 --sample --seed 4 clip.avt -o s4b.avt &&
    av-vaeenc -m vae.safetensors --base 32 --sample --seed 5 clip.avt -o s5.avt &&
    cmp s4.avt s4b.avt && ! cmp -s s4.avt s5.avt && ! cmp -s s4.avt s.avt &&
    test "$(meta s4.avt 0 latent_kind)" = sample
'
test_expect_success '-d decodes each record to an mp4 of its frames' '
    av-vaeenc -d -m vae.safetensors lat.avt -o vids &&
    test -s vids/000000.mp4 && test -s vids/000001.mp4 &&
    test "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 vids/000000.mp4)" = "48,32,20" &&
    test "$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height -of csv=p=0 vids/000001.mp4)" = "32,48,20"
'
test_expect_success '-d -o FILE.mp4 writes a one-record stream to that file' '
    av-vaeenc -d -m vae.safetensors r.avt -o one.mp4 2>err; test $? -eq 1 &&
    test_grep "more than one record" err &&
    av-vaeenc -d -m vae.safetensors s.avt -o one.mp4 && test -s one.mp4
'
test_expect_success '-d --format tiff writes one TIFF a frame' '
    av-vaeenc -d -m vae.safetensors --format tiff s.avt -o tifs &&
    test $(ls tifs | grep -c "^000000-00[0-9][0-9]\.tif$") -eq 10
'
test_expect_success 'decoding f16 latents works too' '
    av-vaeenc -d -m vae.safetensors h.avt -o hv && test -s hv/000000.mp4
'
test_done
