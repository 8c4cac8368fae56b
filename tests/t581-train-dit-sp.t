#!/bin/sh
# av-train --model dit --sp N under mpirun: Ulysses sequence parallelism
# over groups of N consecutive ranks, data parallel across the groups.
# --sp 2 trains what --sp 1 trains (losses within 1e-5 relative over 10
# steps: the ranks' partial gradients sum in another order, so not
# bitwise), -np 4 --sp 2 (DP 2 x SP 2) what one process trains.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

TRAIN="av-train --model dit --config single.json --seed 5 --schedule constant --ema 0"

# same_losses A.csv B.csv: 10 steps each, losses within 1e-5 relative.
same_losses() {
    test $(wc -l <"$2") -eq 11 &&
    paste -d, "$1" "$2" | awk -F, "NR > 1 {
        n++; a = \$2; b = \$10; d = a - b; if (d < 0) d = -d;
        if (d > 1e-5 * a + 1e-6) { print \"step \" \$1 \": \" a \" vs \" b; bad = 1 } }
        END { exit bad || n != 10 }"
}

test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . && test -s train.avt
'
test_expect_success '--sp 2 equals --sp 1 (10 steps, 1e-5), quiet' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 10 --log sp1.csv train.avt -o sp1.safetensors &&
    avk_mpirun 2 $TRAIN --sp 2 --batch 4 --steps 10 --log sp2.csv train.avt \
        -o sp2.safetensors >out 2>err && test ! -s out && test ! -s err &&
    same_losses sp1.csv sp2.csv
'
test_expect_success '-np 4 --sp 2 (DP 2 x SP 2) equals one process (10 steps, 1e-5)' '
    OMP_NUM_THREADS=1 $TRAIN --batch 4 --steps 10 --log one.csv train.avt -o one.safetensors &&
    avk_mpirun 4 $TRAIN --sp 2 --batch 4 --steps 10 --log four.csv -v train.avt \
        -o four.safetensors 2>err &&
    grep -q "rank 3 of 4: sequence parallel, place 1 of a group of 2 (heads 1 of 2 each)" err &&
    grep -q "rank 3 of 4: samples \[2, 4) of each batch of 4" err &&
    same_losses one.csv four.csv
'
test_expect_success 'MM-DiT with joint attention: --sp 2 equals one process' '
    OMP_NUM_THREADS=1 av-train --model dit --config mmdit.json --seed 5 --ema 0 --batch 2 \
        --steps 10 --log mm1.csv train.avt -o mm1.safetensors &&
    avk_mpirun 2 av-train --model dit --config mmdit.json --seed 5 --ema 0 --batch 2 \
        --steps 10 --sp 2 --log mm2.csv train.avt -o mm2.safetensors &&
    same_losses mm1.csv mm2.csv
'
test_expect_success '--sp 2: two steps, then --resume to four, equals four steps bitwise' '
    avk_mpirun 2 $TRAIN --sp 2 --batch 4 --steps 4 train.avt -o ref.safetensors &&
    avk_mpirun 2 $TRAIN --sp 2 --batch 4 --steps 2 train.avt -o half.safetensors &&
    avk_mpirun 2 av-train --model dit --batch 4 --schedule constant --ema 0 --steps 4 \
        --sp 2 --resume half.safetensors train.avt -o half.safetensors &&
    cmp ref.safetensors half.safetensors && cmp ref.optim.safetensors half.optim.safetensors
'
test_expect_success '-np 4 --sp 2 --zero 1 equals -np 4 --sp 2 bitwise' '
    avk_mpirun 4 $TRAIN --sp 2 --batch 4 --steps 3 train.avt -o g.safetensors &&
    avk_mpirun 4 $TRAIN --sp 2 --batch 4 --steps 3 --zero 1 train.avt -o gz.safetensors &&
    cmp g.safetensors gz.safetensors && test -s gz.optim.safetensors &&
    test -s gz.optim.shard-3-of-4.safetensors
'
test_done
