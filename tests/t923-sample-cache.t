#!/bin/sh
# The diffusion cache in av-sample (--cache THRESH): threshold 0 is the
# uncached run bit for bit; a large threshold runs fewer transformer
# evaluations (each guidance pass its own cache, the unconditional one
# following the conditional one's decisions; first and last step run,
# and the warm-up, here step 0 of 10).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: a tiny DiT, a vocabulary, a tiny VAE' '
    sample_setup
'

test_expect_success 'threshold 0 writes the bytes of no cache' '
    av-sample $SARGS --steps 10 -p "red circle" -p blue -o none.avt &&
    av-sample $SARGS --steps 10 --cache 0 -p "red circle" -p blue -o zero.avt &&
    cmp none.avt zero.avt
'

test_expect_success 'a large threshold skips evaluations, still a finite sample near the uncached' '
    av-sample $SARGS --steps 10 -v -p "red circle" -p blue -o none.avt 2>err0 &&
    test_grep "prompt 0: 20 transformer evaluations, 0 skipped" err0 &&
    av-sample $SARGS --steps 10 -v --cache 10 -p "red circle" -p blue -o big.avt 2>err &&
    test_grep "prompt 0: 4 transformer evaluations, 16 skipped" err &&
    test_grep "prompt 1: 4 transformer evaluations, 16 skipped" err &&
    av-tensor --check big.avt &&
    d=$(test_sample_util cmp none.avt big.avt) &&
    awk -v d="$d" "BEGIN { exit !(d > 0 && d < 100) }"
'

test_expect_success 'with cfg 1 the one pass caches alone: first and last step run' '
    av-sample $SARGS --steps 10 --cfg 1 -v --cache 10 -p "red circle" -o one.avt 2>err &&
    test_grep "prompt 0: 2 transformer evaluations, 8 skipped" err
'
test_done
