#!/bin/sh
# av-train --model dit --precision: bf16 records itself in the checkpoint's
# metadata; on the fp32 fallback it says so once and trains exactly as
# fp32; a precision other than fp32 or bf16 is a usage error.
. "$(dirname "$0")/lib.sh"

TRAIN="av-train --model dit --config single.json --batch 3 --seed 5 --schedule constant --steps 2"
test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . && test -s train.avt
'
test_expect_success 'fp32 (the default) records precision fp32 in the metadata' '
    $TRAIN train.avt -o f.safetensors 2>err && test ! -s err &&
    head -c 4096 f.safetensors | grep -a -q "\"precision\":\"fp32\""
'
test_expect_success 'bf16 where the CPU has none: one message (none where it has), bf16 recorded' '
    env -u AVK_BF16 $TRAIN --precision bf16 train.avt -o a.safetensors 2>err &&
    head -c 4096 a.safetensors | grep -a -q "\"precision\":\"bf16\"" &&
    { test ! -s err ||
      { test $(wc -l <err) -eq 1 && grep -q "^av-train: bf16: this CPU has no bf16 matmul.*run in fp32$" err; }; }
'
test_expect_success 'bf16 on the fp32 fallback: precision bf16 recorded, quiet when asked for' '
    AVK_BF16=fp32 $TRAIN --precision bf16 train.avt -o b.safetensors 2>err &&
    head -c 4096 b.safetensors | grep -a -q "\"precision\":\"bf16\"" && test ! -s err
'
test_expect_success 'bf16 on the fp32 fallback trains the same weights as fp32' '
    tail -c +$(( $(od -An -tu8 -N8 f.safetensors) + 9 )) f.safetensors >f.bin &&
    tail -c +$(( $(od -An -tu8 -N8 b.safetensors) + 9 )) b.safetensors >b.bin &&
    test -s f.bin && cmp f.bin b.bin &&
    cmp f.optim.safetensors b.optim.safetensors
'
test_expect_success 'emulated bf16 trains other weights, and records bf16' '
    AVK_BF16=emulate $TRAIN --precision bf16 train.avt -o e.safetensors 2>err &&
    head -c 4096 e.safetensors | grep -a -q "\"precision\":\"bf16\"" &&
    tail -c +$(( $(od -An -tu8 -N8 e.safetensors) + 9 )) e.safetensors >e.bin &&
    ! cmp -s f.bin e.bin
'
test_expect_code 2 '--precision fp16 is a usage error' '
    $TRAIN --precision fp16 train.avt -o x.safetensors 2>err; rc=$?;
    grep -q "fp16" err && test ! -e x.safetensors && exit $rc
'
test_expect_code 2 '--precision bf16 with --model vae is a usage error' '
    av-train --model vae --precision bf16 -o x.safetensors in.tsv 2>err; rc=$?;
    grep -q "precision" err && exit $rc
'
test_done
