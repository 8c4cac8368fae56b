#!/bin/sh
# av-train --sp N refuses what it cannot split, with one clear message and
# no checkpoint: heads that do not divide by N, N that does not divide the
# job's ranks; a rank that fails or dies inside a sequence-parallel group
# ends the whole job within seconds instead of leaving its group hanging
# in an all-to-all.
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}; export LD_LIBRARY_PATH   # avk_mpirun passes it on

TRAIN="av-train --model dit --config single.json --seed 5 --schedule constant --ema 0"

test_expect_success 'setup: a latent stream of two buckets with captions' '
    test_dit_train --fixture . && test -s train.avt
'
test_expect_success 'heads that do not divide by --sp: exit 1, one message naming both' '
    { avk_mpirun 4 $TRAIN --sp 4 --batch 4 --steps 2 train.avt -o h.safetensors 2>err;
      test $? -eq 1; } && cat err &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep -q "^av-train: --sp 4: the model.s 2 attention heads do not divide by 4" err &&
    test ! -e h.safetensors
'
test_expect_success '--sp that does not divide the ranks: exit 1, one message' '
    { avk_mpirun 2 $TRAIN --sp 3 --batch 4 --steps 2 train.avt -o d.safetensors 2>err;
      test $? -eq 1; } && cat err &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep -q "^av-train: --sp 3 does not divide the job.s 2 ranks" err &&
    test ! -e d.safetensors
'
test_expect_success '--sp 2 in one process: exit 1, the message says why' '
    { OMP_NUM_THREADS=1 $TRAIN --sp 2 --steps 2 train.avt -o o.safetensors 2>err;
      test $? -eq 1; } &&
    grep -q "^av-train: --sp 2 does not divide the job.s 1 rank$" err && test ! -e o.safetensors
'
test_expect_code 2 '--sp 0: usage error' '
    $TRAIN --sp 0 train.avt -o bad.safetensors
'
test_expect_success 'bad input on one rank of a group ends every rank, one message' '
    { timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none -x PATH \
        -x OMP_NUM_THREADS=1 \
        -np 1 $TRAIN --sp 2 --batch 4 --steps 2 train.avt -o r.safetensors : \
        -np 1 $TRAIN --sp 2 --batch 4 --steps 2 c3.avt -o r.safetensors 2>err; rc=$?; } &&
    cat err && test $rc -ne 0 && test $rc -ne 124 &&
    test $(grep -c "^av-train: " err) -eq 1 &&
    grep -q "^av-train: c3.avt: record 0 (clip000): tensor \"latent\" has 3 channels" err &&
    test ! -e r.safetensors
'
test_expect_success 'a rank killed mid-run (DP 2 x SP 2) ends the job within seconds' '
    cat >die.sh <<-\EOS &&
	#!/bin/sh
	# this rank trains, then is killed
	"$@" & p=$!
	sleep 4; kill -KILL $p; wait $p
	EOS
    chmod +x die.sh &&
    start=$(date +%s) &&
    { timeout 60 mpirun --allow-run-as-root --oversubscribe --bind-to none \
        --mca btl self,vader --mca btl_vader_single_copy_mechanism none -x PATH \
        -x OMP_NUM_THREADS=1 \
        -np 3 $TRAIN --sp 2 --batch 4 --steps 100000 train.avt -o k.safetensors : \
        -np 1 ./die.sh $TRAIN --sp 2 --batch 4 --steps 100000 train.avt -o k.safetensors \
        >/dev/null 2>err; rc=$?; } &&
    end=$(date +%s) && echo "rc $rc in $((end - start)) s" &&
    test $rc -ne 0 && test $rc -ne 124 && test $((end - start)) -lt 40 &&
    test ! -e k.safetensors
'
test_done
