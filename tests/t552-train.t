#!/bin/sh
# av-train --model vae: trains, checkpoints, resumes exactly, refuses bad
# input and stops on a non-finite loss without writing.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

TRAIN="av-train --model vae --config tiny.json --crop 16 --batch 2 --seed 3"
test_expect_success 'setup: media, tiny config, manifest' '
    vae_tiny_config >"$TRASH/tiny.json" &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n%s\t0\t25\t25\n" \
        "$(vae_media wide)" "$(vae_media tall)" >"$TRASH/clips.tsv"
'
test_expect_success 'four steps write the weights and the optimizer state' '
    $TRAIN --steps 4 -v --log-every 1 clips.tsv -o full.safetensors 2>log &&
    test -s full.safetensors && test -s full.optim.safetensors &&
    test $(grep -c "^av-train: step [0-9]* loss" log) -eq 4
'
test_expect_success 'the loss goes down: the last 4 of 24 steps average below the first 4' '
    $TRAIN --steps 24 --warmup 2 --lr 3e-3 -v --log-every 1 clips.tsv -o down.safetensors 2>log &&
    awk "/step [0-9]+ loss/ { n++; if (n <= 4) a += \$5; if (n > 20) b += \$5 }
         END { exit !(n == 24 && b < a) }" log
'
test_expect_success 'the same seed trains the same weights' '
    $TRAIN --steps 4 clips.tsv -o again.safetensors &&
    cmp full.safetensors again.safetensors
'
test_expect_success 'two steps, then resume to four: the same weights and optimizer state' '
    $TRAIN --steps 2 clips.tsv -o half.safetensors &&
    av-train --model vae --crop 16 --batch 2 --seed 3 --steps 4 --resume half.safetensors \
        clips.tsv -o resumed.safetensors &&
    cmp full.safetensors resumed.safetensors &&
    cmp full.optim.safetensors resumed.optim.safetensors
'
test_expect_success 'the loss after resuming equals the uninterrupted run' '
    $TRAIN --steps 4 -v --log-every 1 clips.tsv -o a.safetensors 2>a.log &&
    av-train --model vae --crop 16 --batch 2 --seed 3 --steps 4 -v --log-every 1 \
        --resume half.safetensors clips.tsv -o b.safetensors 2>b.log &&
    grep "step [34] loss" a.log | sed "s/ [0-9.]* s\/step//" >a.txt &&
    grep "step [34] loss" b.log | sed "s/ [0-9.]* s\/step//" >b.txt &&
    test -s a.txt && test_cmp a.txt b.txt
'
test_expect_success 'a stream of clip records trains like the manifest' '
    "$PYTHON" -c "import numpy as n; n.save(\"one.npy\", n.zeros(1, n.int32))" &&
    av-tensor --pack -k c0 -m video="$(vae_media wide)" -m start_frame=0 -m end_frame=20 \
        -m fps=10 -o c0.avt dummy=one.npy &&
    av-tensor --pack -k c1 -m video="$(vae_media tall)" -m start_frame=0 -m end_frame=25 \
        -m fps=25 -o c1.avt dummy=one.npy &&
    av-tensor --cat c0.avt c1.avt -o clips.avt &&
    $TRAIN --steps 2 clips.avt -o s.safetensors &&
    $TRAIN --steps 2 clips.tsv -o t.safetensors &&
    cmp s.safetensors t.safetensors
'
test_expect_success '--val prints the PSNR of 2 held-out frames a clip; --base scales frames' '
    $TRAIN --steps 1 --base 32 --val clips.tsv clips.tsv -o v.safetensors >out &&
    awk -F"\t" "NF != 4 || \$1 != \"psnr\" || \$2 + 0 <= 0 || \$2 + 0 > 99 || \$4 != 4 { exit 1 }" out
'
test_expect_code 1 'resume refuses weights and optimizer state of different steps' '
    cp half.optim.safetensors full.optim.safetensors &&
    av-train --model vae --crop 16 --batch 2 --steps 6 --resume full.safetensors clips.tsv \
        -o x.safetensors 2>err; rc=$?
    test_grep "does not match step 2" err && test ! -e x.safetensors || exit 99; exit $rc
'
test_expect_code 1 'a non-finite loss stops with the step named, nothing written' '
    test -n "$PYTHON" || { echo "no python with numpy"; exit 1; }
    "$PYTHON" - half.safetensors big.safetensors <<-\PY &&
	import json, struct, sys
	import numpy as np
	raw = open(sys.argv[1], "rb").read()
	n = struct.unpack("<Q", raw[:8])[0]
	h = json.loads(raw[8:8 + n]); data = bytearray(raw[8 + n:])
	a, b = h["decoder.conv_out.weight"]["data_offsets"]
	data[a:b] = np.full((b - a) // 4, 3e38, "<f4").tobytes()
	open(sys.argv[2], "wb").write(raw[:8 + n] + bytes(data))
	PY
    av-train --model vae --init big.safetensors --crop 16 --batch 2 --steps 3 clips.tsv \
        -o nan.safetensors 2>err; rc=$?
    test_grep "^av-train: step 1: loss is (Inf|NaN)" err &&
    test ! -e nan.safetensors && test ! -e nan.optim.safetensors &&
    test -z "$(ls -a | grep -e "tmp" -e "^nan")" || exit 99
    exit $rc
'
test_expect_code 1 'weights with NaN are refused by tensor name' '
    "$PYTHON" - half.safetensors nanw.safetensors <<-\PY &&
	import json, struct, sys
	import numpy as np
	raw = open(sys.argv[1], "rb").read()
	n = struct.unpack("<Q", raw[:8])[0]
	h = json.loads(raw[8:8 + n]); data = bytearray(raw[8 + n:])
	a, b = h["encoder.mid_block.attentions.0.to_q.weight"]["data_offsets"]
	data[a + 8:a + 12] = np.array([np.nan], "<f4").tobytes()
	open(sys.argv[2], "wb").write(raw[:8 + n] + bytes(data))
	PY
    av-train --model vae --init nanw.safetensors --crop 16 --steps 1 clips.tsv -o y.safetensors 2>err; rc=$?
    test_grep "to_q.weight\": NaN at element 2" err && test ! -e y.safetensors || exit 99; exit $rc
'
test_expect_code 1 'frames smaller than the crop are refused' '
    $TRAIN --steps 1 --crop 96 clips.tsv -o z.safetensors 2>err; rc=$?
    test_grep "cannot give 96x96 crops" err || exit 99; exit $rc
'
test_expect_code 2 'a crop that is not a multiple of the latent cell is a usage error' '
    $TRAIN --steps 1 --crop 20 clips.tsv -o z.safetensors 2>err; rc=$?
    test_grep "not a multiple of the latent cell" err || exit 99; exit $rc
'
test_expect_code 2 'an unknown model is a usage error' '
    av-train --model unet clips.tsv -o z.safetensors 2>err; rc=$?
    test_grep "unknown model" err || exit 99; exit $rc
'
test_expect_code 2 '--model is required' '
    av-train clips.tsv -o z.safetensors 2>err
'
test_expect_code 1 'an unsupported config is refused' '
    sed "s/\"silu\"/\"gelu\"/" tiny.json >gelu.json &&
    av-train --model vae --config gelu.json --steps 1 clips.tsv -o z.safetensors 2>err; rc=$?
    test_grep "unsupported act_fn \"gelu\"" err || exit 99; exit $rc
'
test_done
