#!/bin/sh
# av-train --model dit under mpirun, the gradient buckets and --zero 2:
# every global sample's noise, t and caption drop come from (seed, step,
# global sample index), so -np 4 (one sample a rank) trains what one
# process trains (losses within 1e-5 relative: the sums of four partial
# gradients round differently from one sum, so not bitwise); every
# block's bucket starts inside the backward; --zero 2 equals no sharding
# bitwise at 2 ranks (a sum of two numbers rounds the same in any
# collective) and within 1e-5 at 4.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

TRAIN="av-train --model dit --config single.json --seed 5 --schedule constant --ema 0"

# same_losses A.csv B.csv: the loss columns within 1e-5 relative, row for row
same_losses() {
    test $(wc -l <"$1") -eq $(wc -l <"$2") &&
    paste -d, "$1" "$2" | awk -F, "NR > 1 {
        n++; a = \$2; b = \$10; d = a - b; if (d < 0) d = -d;
        if (d > 1e-5 * a + 1e-6) { print \"step \" \$1 \": \" a \" vs \" b; bad = 1 } }
        END { exit bad || n == 0 }"
}

test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . && test -s train.avt
'
test_expect_success '-np 4 (one sample a rank) equals one process over 10 steps' '
    OMP_NUM_THREADS=1 $TRAIN --batch 4 --steps 10 --log one.csv train.avt -o one.safetensors &&
    avk_mpirun 4 $TRAIN --batch 4 --steps 10 --log four.csv train.avt -o four.safetensors &&
    same_losses one.csv four.csv
'
test_expect_success 'every block'"'"'s bucket starts during the backward' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 4 -v train.avt -o b.safetensors 2>err &&
    grep "rank 0 of 2: waiting on gradient communication .* 16 of 16 buckets started during the backward" err &&
    grep "rank 1 of 2: .* 16 of 16 buckets" err
'
test_expect_success '--zero 2 under -np 2 equals no sharding bitwise; gradients sharded' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 4 --zero 2 -v train.avt -o z2.safetensors 2>err &&
    cmp b.safetensors z2.safetensors &&
    grep "rank 1 of 2: weights .* MiB, gradients .* MiB (ZeRO-2 shard) + buckets in the backward, optimizer state .* (ZeRO-2 shard)" err
'
test_expect_success '--zero 1 and --zero 2 under -np 4 equal no sharding (1e-5)' '
    avk_mpirun 4 $TRAIN --batch 4 --steps 10 --zero 1 --log z1.csv train.avt -o z14.safetensors &&
    avk_mpirun 4 $TRAIN --batch 4 --steps 10 --zero 2 --log z2.csv train.avt -o z24.safetensors &&
    same_losses four.csv z1.csv && same_losses four.csv z2.csv
'
test_expect_code 2 '--zero 3 is refused' '
    av-train --model dit --zero 3 train.avt -o x.safetensors 2>err
'
test_done
