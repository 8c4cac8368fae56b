#!/bin/sh
# bench/cache.sh on a tiny model: the table has the uncached row and one
# row per threshold (threshold 0 is the uncached run: same evaluations,
# no difference), and its last lines name the default by its rule.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/sample-media.sh"

test_expect_success 'setup: a tiny DiT, a vocabulary, a tiny VAE, prompts' '
    sample_setup &&
    mkdir -p m/raw &&
    cp dit.safetensors vae.safetensors vocab.txt m/ &&
    printf "red circle moves left\nblue square up\n" >m/raw/heldout.txt
'

test_expect_success 'the table: uncached, threshold 0 the same, a huge one fewer' '
    FRAMES=4 SIZE=32 STEPS=10 CFG=2 THRESHOLDS="0 1000" \
        "$SRC_DIR/bench/cache.sh" m out >log &&
    test "$(grep -c . out/cache.tsv)" = 4 &&
    awk -F"\t" "\$1 == \"none\" { n = \$2 } \$1 == \"0\" { z = \$2; zp = \$6; zl = \$7 }
                \$1 == \"1000\" { h = \$2 }
                END { exit !(n == 40 && z == 40 && zp == \"inf\" && zl == 0 && h == 8) }" \
        out/cache.tsv &&
    test -s out/cache.png
'

test_expect_success 'its last lines name the default by the rule' '
    grep "^# default: " log >d &&
    awk -F"\t" "NR > 2 && \$6 + 0 >= 32 { print \$1 }" out/cache.tsv >keep &&
    if test -s keep; then
        test_grep "^# default: $(sort -g keep | tail -1) " d
    else
        test_grep "no threshold keeps 32 dB" d
    fi
'
test_done
