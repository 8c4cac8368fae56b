#!/bin/sh
# av-train --model dit under mpirun: data parallel over the ranks. -np 2
# trains what one process trains on the same global batch (losses within
# 1e-5 relative: the ranks' partial sums round differently, so not
# bitwise; also at two threads a rank, where each rank runs its samples in
# groups, one per thread, and announces gradients from inside the team),
# resume under -np 2 is bitwise, --zero 1 (sharded AdamW state, written as
# one optimizer file a rank) equals no sharding bitwise, rank 0 alone
# writes without ZeRO, and a failing rank ends the whole job with one
# message instead of a hang.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

TRAIN="av-train --model dit --config single.json --seed 5 --schedule constant --ema 0"
test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . && test -s train.avt
'
test_expect_success '-np 2 equals one process with the same global batch (10 steps, 1e-5)' '
    OMP_NUM_THREADS=1 $TRAIN --batch 4 --steps 10 --log one.csv train.avt -o one.safetensors &&
    avk_mpirun 2 $TRAIN --batch 4 --steps 10 --log two.csv train.avt -o two.safetensors \
        >out 2>err && test ! -s out && test ! -s err &&
    test $(wc -l <two.csv) -eq 11 &&
    paste -d, one.csv two.csv | awk -F, "NR > 1 {
        n++; a = \$2; b = \$10; d = a - b; if (d < 0) d = -d;
        if (d > 1e-5 * a + 1e-6) { print \"step \" \$1 \": \" a \" vs \" b; bad = 1 } }
        END { exit bad || n != 10 }"
'
test_expect_success '-np 2 at two threads a rank (groups of samples, announced from the team) equals one process, --zero 1 bitwise' '
    mpirun2() {
        mpirun --allow-run-as-root --oversubscribe --bind-to none \
            --mca btl self,vader --mca btl_vader_single_copy_mechanism none \
            -x PATH -x LD_LIBRARY_PATH -x ASAN_OPTIONS -x UBSAN_OPTIONS -x OMP_NUM_THREADS=2 \
            -np 2 "$@"
    } &&
    mpirun2 $TRAIN --batch 4 --steps 10 --log t2.csv train.avt -o t2.safetensors \
        >out 2>err && test ! -s out && test ! -s err &&
    mpirun2 $TRAIN --batch 4 --steps 10 --zero 1 train.avt -o t2z.safetensors &&
    cmp t2.safetensors t2z.safetensors &&
    paste -d, one.csv t2.csv | awk -F, "NR > 1 {
        n++; a = \$2; b = \$10; d = a - b; if (d < 0) d = -d;
        if (d > 1e-5 * a + 1e-6) { print \"step \" \$1 \": \" a \" vs \" b; bad = 1 } }
        END { exit bad || n != 10 }"
'
test_expect_success '-np 2: two steps, then --resume to four, equals four steps bitwise' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 4 train.avt -o ref.safetensors &&
    avk_mpirun 2 $TRAIN --batch 4 --steps 2 train.avt -o half.safetensors &&
    avk_mpirun 2 av-train --model dit --batch 4 --schedule constant --ema 0 --steps 4 \
        --resume half.safetensors train.avt -o half.safetensors &&
    cmp ref.safetensors half.safetensors && cmp ref.optim.safetensors half.optim.safetensors
'
test_expect_success '--zero 1 under -np 2 equals no sharding bitwise, state halved per rank' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 4 --zero 1 -v train.avt -o z.safetensors 2>err &&
    cmp ref.safetensors z.safetensors && test -s z.optim.shard-1-of-2.safetensors &&
    grep "rank 1 of 2: .*optimizer state .* MiB (ZeRO-1 shard)" err
'
test_expect_success '--zero 1: two steps, then --resume to four, equals four steps bitwise' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 2 --zero 1 train.avt -o zh.safetensors &&
    avk_mpirun 2 av-train --model dit --batch 4 --schedule constant --ema 0 --steps 4 \
        --zero 1 --resume zh.safetensors train.avt -o zh.safetensors &&
    cmp ref.safetensors zh.safetensors && cmp z.optim.safetensors zh.optim.safetensors &&
    cmp z.optim.shard-1-of-2.safetensors zh.optim.shard-1-of-2.safetensors
'
test_expect_success 'a global batch that does not divide by the ranks: exit 1, one message' '
    { avk_mpirun 2 $TRAIN --batch 3 --steps 2 train.avt -o odd.safetensors 2>err; test $? -ne 0; } &&
    test $(grep -c "^av-train: --batch 3 does not divide by the 2 data-parallel ranks" err) -eq 1 &&
    test ! -e odd.safetensors
'
test_expect_success 'bad input on one rank only ends every rank at once, with its message' '
    { timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none -x PATH \
        -x OMP_NUM_THREADS=1 \
        -np 1 $TRAIN --batch 4 --steps 2 train.avt -o r.safetensors : \
        -np 1 $TRAIN --batch 4 --steps 2 c3.avt -o r.safetensors 2>err; rc=$?; } &&
    cat err && test $rc -ne 0 && test $rc -ne 124 &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep -q "^av-train: c3.avt: record 0 (clip000): tensor \"latent\" has 3 channels" err &&
    test ! -e r.safetensors
'
test_expect_success 'a rank killed mid-run ends the job within seconds, not a hang' '
    cat >die.sh <<-\EOS &&
	#!/bin/sh
	# rank 1 trains, then is killed
	"$@" & p=$!
	sleep 4; kill -KILL $p; wait $p
	EOS
    chmod +x die.sh &&
    start=$(date +%s) &&
    { timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none -x PATH \
        -x OMP_NUM_THREADS=1 \
        -np 1 $TRAIN --batch 4 --steps 100000 train.avt -o k.safetensors : \
        -np 1 ./die.sh $TRAIN --batch 4 --steps 100000 train.avt -o k.safetensors \
        >/dev/null 2>err; rc=$?; } &&
    end=$(date +%s) && echo "rc $rc in $((end - start)) s" &&
    test $rc -ne 0 && test $rc -ne 124 && test $((end - start)) -lt 40 &&
    test ! -e k.safetensors
'
test_expect_code 2 '--model vae refuses to run data parallel' '
    avk_mpirun 2 av-train --model vae --steps 1 train.avt -o v.safetensors 2>err
'
test_done
