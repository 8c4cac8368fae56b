#!/bin/sh
# ZeRO checkpoints under N ranks: the weights (rank 0) and every rank's
# optimizer shard, committed together under one marker written last;
# resume on the same rank count is bitwise; resume on another count
# re-shards (-np 2 --zero 1 written, resumed at -np 1 and at -np 4); a
# write interrupted before the marker is never taken for a checkpoint; a
# missing or foreign shard is named.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

TRAIN="av-train --model dit --config single.json --seed 5 --schedule constant --ema 0"
RESUME="av-train --model dit --batch 4 --schedule constant --ema 0"

# same_losses A.csv B.csv: the losses of B's steps within 1e-5 relative of
# A's (a resumed run's log continues without a header)
same_losses() {
    awk -F, "\$1 == \"step\" { next } NR == FNR { l[\$1] = \$2; next }
        { n++; a = l[\$1]; d = a - \$2; if (d < 0) d = -d;
            if (a == \"\" || d > 1e-5 * a + 1e-6) { print \"step \" \$1 \": \" a \" vs \" \$2; bad = 1 } }
        END { exit bad || n == 0 }" "$1" "$2"
}

test_expect_success 'setup: a latent stream and an uninterrupted -np 2 --zero 1 run' '
    test_dit_train --fixture . &&
    avk_mpirun 2 $TRAIN --batch 4 --steps 6 --zero 1 --log full.csv train.avt -o full.safetensors
'
test_expect_success '--zero 1 at -np 2 writes the weights and two shards, nothing else' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 3 --zero 1 train.avt -o half.safetensors &&
    test -s half.safetensors && test -s half.optim.safetensors &&
    test -s half.optim.shard-1-of-2.safetensors &&
    ls -a | grep -v "^half\.safetensors$" | grep "half" >files &&
    printf "half.optim.safetensors\nhalf.optim.shard-1-of-2.safetensors\n" >expect &&
    test_cmp expect files
'
test_expect_success 'resume at -np 2 --zero 1 to step 6 equals the uninterrupted run bitwise' '
    mkdir same && cp half.* same/ &&
    avk_mpirun 2 $RESUME --steps 6 --zero 1 --resume same/half.safetensors train.avt \
        -o same/half.safetensors &&
    cmp full.safetensors same/half.safetensors &&
    cmp full.optim.safetensors same/half.optim.safetensors &&
    cmp full.optim.shard-1-of-2.safetensors same/half.optim.shard-1-of-2.safetensors
'
test_expect_success '--zero 2 at -np 2: two steps, resume to four, equals four bitwise' '
    avk_mpirun 2 $TRAIN --batch 4 --steps 4 --zero 2 train.avt -o z4.safetensors &&
    avk_mpirun 2 $TRAIN --batch 4 --steps 2 --zero 2 train.avt -o z2.safetensors &&
    avk_mpirun 2 $RESUME --steps 4 --zero 2 --resume z2.safetensors train.avt -o z2.safetensors &&
    cmp z4.safetensors z2.safetensors && cmp z4.optim.safetensors z2.optim.safetensors &&
    cmp z4.optim.shard-1-of-2.safetensors z2.optim.shard-1-of-2.safetensors
'
test_expect_success 're-shard: the -np 2 checkpoint resumed by one process (1e-5)' '
    mkdir one && cp half.* one/ &&
    OMP_NUM_THREADS=1 $RESUME --steps 6 --resume one/half.safetensors --log one.csv train.avt \
        -o one/half.safetensors &&
    test $(wc -l <one.csv) -eq 3 && same_losses full.csv one.csv &&
    test ! -e one/half.optim.shard-1-of-1.safetensors
'
test_expect_success 're-shard: the -np 2 checkpoint resumed by -np 4 --zero 1 (1e-5), four shards' '
    mkdir four && cp half.* four/ &&
    avk_mpirun 4 $RESUME --steps 6 --zero 1 --resume four/half.safetensors --log four.csv \
        train.avt -o four/half.safetensors &&
    test $(wc -l <four.csv) -eq 3 && same_losses full.csv four.csv &&
    test -s four/half.optim.shard-3-of-4.safetensors
'
test_expect_success 'a write interrupted before the marker is not taken: stale parts ignored' '
    mkdir stale && cp half.* stale/ &&
    echo garbage >stale/.half.optim.shard-1-of-2.safetensors.part &&
    echo garbage >stale/.half.optim.safetensors.part &&
    avk_mpirun 2 $RESUME --steps 6 --zero 1 --resume stale/half.safetensors train.avt \
        -o stale/half.safetensors &&
    cmp full.safetensors stale/half.safetensors
'
test_expect_success 'a missing shard is named, nothing is written' '
    mkdir miss && cp half.* miss/ && rm miss/half.optim.shard-1-of-2.safetensors &&
    cp miss/half.safetensors before &&
    { avk_mpirun 2 $RESUME --steps 6 --zero 1 --resume miss/half.safetensors train.avt \
        -o miss/half.safetensors 2>err; test $? -ne 0; } &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep "^av-train: miss/half.optim.shard-1-of-2.safetensors: " err &&
    cmp before miss/half.safetensors
'
test_expect_success 'a shard of another checkpoint is refused' '
    mkdir mix && cp half.* mix/ &&
    avk_mpirun 2 $TRAIN --batch 4 --steps 2 --zero 1 train.avt -o other.safetensors &&
    cp other.optim.shard-1-of-2.safetensors mix/half.optim.shard-1-of-2.safetensors &&
    { OMP_NUM_THREADS=1 $RESUME --steps 6 --resume mix/half.safetensors train.avt \
        -o mix/half.safetensors 2>err; test $? -ne 0; } &&
    grep "^av-train: mix/half.optim.shard-1-of-2.safetensors: step 2, but .* is at step 3" err
'
test_done
