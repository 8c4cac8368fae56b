#!/bin/sh
# The diffusion cache's rule in av-sample beyond the threshold: the
# warm-up (the first tenth of the steps, rounded up) always runs, and
# guidance's unconditional pass skips exactly the steps the conditional
# pass skips (so the skips of a guided prompt come in pairs).
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: a tiny DiT, a vocabulary, a tiny VAE' '
    sample_setup
'

test_expect_success 'a huge threshold runs the warm-up and the last step of each pass only' '
    av-sample $SARGS --steps 20 -v --cache 1e6 -p "red circle" -p blue -o w20.avt 2>err &&
    test_grep "prompt 0: 6 transformer evaluations, 34 skipped" err &&
    test_grep "prompt 1: 6 transformer evaluations, 34 skipped" err &&
    av-sample $SARGS --steps 21 --cfg 1 -v --cache 1e6 -p "red circle" -o w21.avt 2>err &&
    test_grep "prompt 0: 4 transformer evaluations, 17 skipped" err
'

test_expect_success 'the unconditional pass skips the steps the conditional pass skips' '
    for th in 0.05 0.2 0.5 2; do
        av-sample $SARGS --steps 20 -v --cache $th -p "red circle" -p blue -o p.avt 2>err || return 1
        sed -n "s/.*: \([0-9]*\) transformer evaluations, \([0-9]*\) skipped.*/\1 \2/p" err >n &&
        test "$(wc -l <n)" = 2 &&
        while read ev sk; do
            echo "threshold $th: $ev evaluations, $sk skipped" &&
            test $((ev + sk)) = 40 && test $((sk % 2)) = 0 || return 1
        done <n || return 1
    done
'

test_expect_success 'some threshold in between skips some steps but not all' '
    av-sample $SARGS --steps 20 -v --cache 0.5 -p "red circle" -o m.avt 2>err &&
    sed -n "s/.*: \([0-9]*\) transformer evaluations, \([0-9]*\) skipped.*/\1 \2/p" err >n &&
    read ev sk <n && test "$sk" -gt 0 && test "$ev" -gt 6
'
test_done
