#!/bin/sh
# av-sample --long under mpirun: the model's blocks split across the ranks
# as a pipeline give the video of one process, bit for bit (latents and
# mp4), also through the diffusion cache; --cache with --long skips
# transformer evaluations and stays close to the uncached video.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

LARGS="-m dit.safetensors --vocab vocab.txt --size 32x32 --base 32 --steps 6 --cfg 2"
LONG="--long 24 --block 4 --context 2"

test_expect_success 'setup: the models' '
    sample_setup
'

test_expect_success 'mpirun -np 2: the same latents as one process' '
    av-sample $LARGS $LONG -p "a red circle" -o one.avt &&
    avk_mpirun 2 av-sample $LARGS $LONG -p "a red circle" -o two.avt &&
    cmp one.avt two.avt
'

test_expect_success 'mpirun -np 2: the same mp4 as one process' '
    av-sample $LARGS --vae vae.safetensors $LONG -p "a red circle" -o one.mp4 &&
    avk_mpirun 2 av-sample $LARGS --vae vae.safetensors $LONG -p "a red circle" -o two.mp4 &&
    cmp one.mp4 two.mp4
'

test_expect_success '--cache with --long: fewer transformer evaluations, a close video' '
    av-sample -v $LARGS $LONG -p "a red circle" -o nc.avt 2>err0 &&
    test_grep "6 blocks, 72 transformer evaluations, 0 skipped" err0 &&
    av-sample -v $LARGS $LONG --cache 1 -p "a red circle" -o c.avt 2>err &&
    sed -n "s/.*blocks, \([0-9]*\) transformer evaluations, \([0-9]*\) skipped.*/\1 \2/p" err >n &&
    read total skipped <n && test "$total" = 72 && test "$skipped" -gt 0 &&
    echo "skipped $skipped of $total" &&
    ! cmp -s nc.avt c.avt
'

test_expect_success '--cache with --long under mpirun -np 2: the one-process bits' '
    avk_mpirun 2 av-sample $LARGS $LONG --cache 1 -p "a red circle" -o c2.avt &&
    cmp c.avt c2.avt
'

test_expect_success '--cache default is the documented threshold' '
    av-sample --help >help && test_grep "or .default. .0\.2." help &&
    av-sample $LARGS $LONG --cache default -p "a red circle" -o d.avt &&
    av-sample $LARGS $LONG --cache 0.2 -p "a red circle" -o d1.avt &&
    cmp d.avt d1.avt
'

test_expect_success 'every rank reports its share of the blocks, the other weights released' '
    avk_mpirun 2 av-sample -v $LARGS $LONG -p "a red circle" -o v2.avt 2>err &&
    test_grep "rank 0: blocks 0-0" err && test_grep "rank 1: blocks 1-1" err &&
    test_grep "rank 1: .*weights released [1-9][0-9]* KiB" err
'

test_done
