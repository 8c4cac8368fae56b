#!/bin/sh
# av-train --model dit --recompute R: that share of the blocks keeps only
# its input and runs its forward again in the backward. The same
# operations on the same inputs give the same bits: the checkpoint and
# the optimizer state equal those of no recomputation byte for byte,
# alone and under --sp 2.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

TRAIN="av-train --model dit --config single.json --seed 5 --ema 0.9 --batch 4 --steps 6"

test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . &&
    sed "s/\"depth\":2/\"depth\":4/" single.json >deep.json
'
test_expect_success '--recompute 1 equals --recompute 0 bitwise (weights, EMA, optimizer)' '
    $TRAIN --config deep.json --recompute 0 train.avt -o r0.safetensors &&
    $TRAIN --config deep.json --recompute 1 train.avt -o r1.safetensors &&
    cmp r0.safetensors r1.safetensors && cmp r0.optim.safetensors r1.optim.safetensors &&
    cmp r0.ema.safetensors r1.ema.safetensors
'
test_expect_success '--recompute 0.5 (every second block) equals --recompute 0 bitwise' '
    $TRAIN --config deep.json --recompute 0.5 train.avt -o rh.safetensors &&
    cmp r0.safetensors rh.safetensors && cmp r0.optim.safetensors rh.optim.safetensors
'
test_expect_success '--sp 2 --recompute 1 equals --sp 2 bitwise' '
    avk_mpirun 2 $TRAIN --sp 2 train.avt -o s0.safetensors &&
    avk_mpirun 2 $TRAIN --sp 2 --recompute 1 train.avt -o s1.safetensors &&
    cmp s0.safetensors s1.safetensors && cmp s0.optim.safetensors s1.optim.safetensors
'
test_expect_code 2 '--recompute outside [0, 1]: usage error' '
    $TRAIN --recompute 1.5 train.avt -o bad.safetensors
'
test_expect_code 2 '--recompute is for the DiT' '
    av-train --model vae --recompute 1 --steps 1 train.avt -o bad.safetensors
'
test_done
