#!/bin/sh
# av-train --model dit on a synthetic latent stream (written by
# test_dit_train --fixture): trains quietly, logs a CSV, resumes (also after
# SIGTERM), prints the validation loss, and refuses bad input with a
# message and exit 1.
. "$(dirname "$0")/lib.sh"

TRAIN="av-train --model dit --config single.json --batch 3 --seed 5 --schedule constant"
test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . && test -s train.avt && test -s val.avt
'
test_expect_success 'four steps write weights and optimizer state, quietly' '
    $TRAIN --steps 4 --log steps.csv train.avt -o m.safetensors >out 2>err &&
    test -s m.safetensors && test -s m.optim.safetensors &&
    test ! -s out && test ! -s err &&
    test $(wc -l <steps.csv) -eq 5 &&
    head -1 steps.csv | grep -q "^step,loss,grad_norm,lr,samples_per_s,tokens_per_s,step_s,gflops$"
'
test_expect_success '-v prints the loss of each logged step' '
    $TRAIN --steps 2 -v --log-every 1 train.avt -o v.safetensors 2>log &&
    test $(grep -c "^av-train: step [0-9]* loss" log) -eq 2
'
test_expect_success 'two steps, then --resume to four: identical files' '
    $TRAIN --steps 2 train.avt -o half.safetensors &&
    av-train --model dit --batch 3 --seed 5 --schedule constant --steps 4 \
        --resume half.safetensors train.avt -o half.safetensors &&
    cmp m.safetensors half.safetensors && cmp m.optim.safetensors half.optim.safetensors
'
test_expect_success 'SIGTERM mid-run writes a checkpoint; resuming ends identical' '
    $TRAIN --steps 100000 --log sig.csv train.avt -o sig.safetensors 2>err &
    pid=$! i=0
    while [ "$(cat sig.csv 2>/dev/null | wc -l)" -lt 3 ] && [ $i -lt 1200 ]; do
        sleep 0.1; i=$((i + 1))
    done
    kill -TERM $pid; wait $pid; rc=$?
    cat err && test $rc -eq 143 && grep -q "^av-train: Terminated: checkpoint written to sig.safetensors$" err &&
    n=$(($(wc -l <sig.csv) - 1)) &&
    av-train --model dit --batch 3 --seed 5 --schedule constant --steps $((n + 2)) \
        --resume sig.safetensors train.avt -o sig.safetensors &&
    $TRAIN --steps $((n + 2)) train.avt -o ref.safetensors &&
    cmp sig.safetensors ref.safetensors && cmp sig.optim.safetensors ref.optim.safetensors
'
test_expect_success '--val prints the validation loss' '
    $TRAIN --steps 2 --val val.avt train.avt -o val.safetensors >out &&
    grep -q "^val_loss	[0-9.]*	samples	27$" out
'
# The model's space is (z - latent_shift_factor) * latent_scaling_factor,
# the space av-sample decodes from. The new model predicts zero, so its
# first loss is the mean of (eps - x0)^2, about 1 + x0^2 for a constant
# latent: z = 3 gives 10 as it is, 1 with shift 3, 3.25 with scale 0.5.
test_expect_success 'training sees the latents shifted and scaled as their metadata says' '
    av-tensor -r 0 -x latent -o lat.npy train.avt &&
    av-tensor -r 0 -x tokens -o tok.npy train.avt &&
    av-tensor -r 0 -x mask -o mask.npy train.avt &&
    python3 -c "
import struct
b = open(\"lat.npy\", \"rb\").read()
h = b[:10 + struct.unpack(\"<H\", b[8:10])[0]]
n = (len(b) - len(h)) // 4
open(\"c3.npy\", \"wb\").write(h + struct.pack(\"<%df\" % n, *([3.0] * n)))" &&
    for v in plain "shift:-m latent_shift_factor=3 -m latent_scaling_factor=1" \
             "scale:-m latent_scaling_factor=0.5"; do
        name=${v%%:*} m= && { test $name = plain || m=${v#*:}; } &&
        av-tensor --pack -k clip000 -m bucket=64x64 $m -o $name.avt \
            latent=c3.npy tokens=tok.npy mask=mask.npy &&
        av-train --model dit --config single.json --batch 1 --seed 5 --steps 1 \
            --log $name.csv $name.avt -o $name.safetensors || return 1
    done &&
    plain=$(sed -n 2p plain.csv | cut -d, -f2) && shifted=$(sed -n 2p shift.csv | cut -d, -f2) &&
    scale=$(sed -n 2p scale.csv | cut -d, -f2) && echo "plain $plain shifted $shifted scaled $scale" &&
    awk -v p=$plain -v s=$shifted -v c=$scale "BEGIN { exit !(p > 8 && p < 12 && s > 0.5 && s < 1.5 && c > 2.5 && c < 4) }"
'
test_expect_success 'latents of the wrong channel count: exit 1, a message, no file' '
    { $TRAIN --steps 2 c3.avt -o bad.safetensors 2>err; test $? -eq 1; } &&
    grep "^av-train: c3.avt: record 0 (clip000): tensor \"latent\" has 3 channels, the model takes 4$" err &&
    test ! -e bad.safetensors
'
test_expect_success 'a token outside the vocabulary names the record and position' '
    { $TRAIN --steps 2 badtok.avt -o bad.safetensors 2>err; test $? -eq 1; } &&
    grep -q "badtok.avt: record 1 (clip001): tensor \"tokens\": id 900 at position 2" err &&
    test ! -e bad.safetensors
'
test_expect_code 1 'a VAE checkpoint as --init is refused as not a DiT' '
    av-train --model dit --init "$GOLDEN_DIR/vae/weights.safetensors" --steps 1 train.avt \
        -o bad.safetensors 2>err; rc=$?; cat err; grep -q "not a DiT config" err && exit $rc
'
# key_kept NAME JSON PATTERN: single.json plus the key JSON trains two
# steps into NAME.safetensors, whose stored config matches PATTERN, while
# m.safetensors (trained without the key) holds no PATTERN up to its
# first '.' (the key's name).
key_kept() {
    sed "s/}\$/,$2}/" single.json >"$1.json" && grep -q "$2}\$" "$1.json" &&
    av-train --model dit --config "$1.json" --batch 3 --seed 5 --steps 2 train.avt \
        -o "$1.safetensors" &&
    head -c 8192 "$1.safetensors" | grep -aq "$3" &&
    ! head -c 8192 m.safetensors | grep -aq "${3%%.*}"
}
# key_refused JSON MESSAGE: single.json plus the key JSON: exit 1, MESSAGE
# on stderr, no file.
key_refused() {
    sed "s/}\$/,$1}/" single.json >bad.json &&
    { av-train --model dit --config bad.json --steps 1 train.avt -o bad.safetensors 2>err;
      test $? -eq 1; } && cat err && grep -q "$2" err && test ! -e bad.safetensors
}
test_expect_success 'pos_embed_type "sincos" trains and is kept in the checkpoint config' '
    key_kept pos "\"pos_embed_type\":\"sincos\"" "pos_embed_type.*sincos"
'
test_expect_success 'an unknown pos_embed_type: exit 1, the key named, no file' '
    key_refused "\"pos_embed_type\":\"learned\"" "\"pos_embed_type\" must be \"none\" or \"sincos\""
'
test_expect_success '"frame_cond": true trains and is kept in the checkpoint config' '
    key_kept frame "\"frame_cond\":true" "frame_cond.*true"
'
test_expect_success '"frame_cond" that is not true or false: exit 1, the key named, no file' '
    key_refused "\"frame_cond\":1" "\"frame_cond\" is not true or false"
'
# same_tensors A B PREFIX: every tensor of A whose name starts with PREFIX
# has B's bytes, and at least one does; "differ" as a fourth argument: at
# least one such tensor differs instead.
same_tensors() {
    python3 - "$@" <<-\EOF
	import json, struct, sys
	def load(p):
	    raw = open(p, "rb").read()
	    n, = struct.unpack("<Q", raw[:8])
	    h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None)
	    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
	a, b = load(sys.argv[1]), load(sys.argv[2])
	names = [k for k in a if k.startswith(sys.argv[3])]
	same = [a[k] == b[k] for k in names]
	want_differ = len(sys.argv) > 4
	sys.exit(0 if names and (any(not s for s in same) if want_differ else all(same)) else 1)
	EOF
}
test_expect_success '--freeze-text: the text encoder stays as it started, the rest trains' '
    $TRAIN --freeze-text --steps 2 train.avt -o fz2.safetensors &&
    $TRAIN --freeze-text --steps 5 train.avt -o fz5.safetensors &&
    same_tensors fz2.safetensors fz5.safetensors text_encoder. &&
    same_tensors fz2.safetensors fz5.safetensors transformer_blocks. differ &&
    same_tensors m.safetensors fz5.safetensors text_encoder. differ
'
test_expect_code 2 '--freeze-text is for --model dit' '
    av-train --model vae --freeze-text train.avt -o x.safetensors
'
test_expect_code 2 'an unknown model is a usage error' '
    av-train --model unet train.avt -o x.safetensors
'
test_done
