#!/bin/sh
# The aesthetic score of a clip against its blurred, darkened, noisy and
# washed-out versions; and the --aesthetic-cmd hook for a learned predictor.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"

test_expect_success 'make the clips' '
    filter_manifest pan blur dark noisy washed >in.tsv
'
test_expect_success 'av-filter --scores aesthetic' '
    av-filter --scores aesthetic in.tsv >out.tsv && cut -f2,14- out.tsv
'
n=2
for what in blurred darkened noisy washed-out; do
    test_expect_success "the $what version scores at least 1 point below the original" "
        awk -v a=\"\$(col out.tsv aesthetic 1)\" -v b=\"\$(col out.tsv aesthetic $n)\" 'BEGIN { exit !(b < a - 1) }'
    "
    n=$((n + 1))
done
test_expect_success 'the original is kept, the noisy version dropped as low-aesthetic' '
    test "$(col out.tsv reason 1)" = - && test "$(col out.tsv reason 4)" = low-aesthetic
'
test_expect_success '--aesthetic-min 7: one threshold keeps the original and drops all four' '
    av-filter --scores aesthetic --aesthetic-min 7 in.tsv >strict.tsv &&
    test "$(for r in 1 2 3 4 5; do col strict.tsv keep $r; done | tr "\n" " ")" = "1 0 0 0 0 "
'
cat >predictor.sh <<'EOF2'
#!/bin/sh
# a stand-in learned predictor: checks its frames are TIFF, prints a score
for f in "$@"; do head -c 4 "$f" | od -An -c | grep -q "I   I   \*" || exit 3; done
echo "$#" >nframes
echo 7.25
EOF2
chmod +x predictor.sh
test_expect_success '--aesthetic-cmd: the predictor gets the sampled frames as TIFF, its score is used' '
    filter_manifest pan >one.tsv &&
    av-filter --scores aesthetic --aesthetic-cmd ./predictor.sh one.tsv >cmd.tsv &&
    test "$(col cmd.tsv aesthetic 1)" = 7.25 && test "$(cat nframes)" = 5
'
test_expect_code 1 'a failing predictor fails the run, no output file' '
    av-filter --scores aesthetic --aesthetic-cmd false -o fail.tsv one.tsv 2>err; rc=$?
    cat err; grep -q "aesthetic-cmd" err && test ! -e fail.tsv && exit $rc
'
test_done
