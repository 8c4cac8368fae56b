#!/bin/sh
# The demo's training corpus and its evaluator: gen-shapes renders shots of
# one moving object with known color, shape and direction, holds 24
# combinations out of training, and avk-eval reads every attribute back off
# clean renders, off low-quality H.264 and off blurred copies.
. "$(dirname "$0")/lib.sh"
for t in gen-shapes avk-eval; do
    command -v $t >/dev/null || skip_all "$t not built"
done
command -v ffmpeg >/dev/null || skip_all "ffmpeg not installed"

# all_correct FILE: every attribute of every video read right (the table
# avk-eval prints).
all_correct() {
    cat "$1" &&
    awk -F'\t' 'NR > 1 { n++; if ($2 != $3) bad = 1 } END { exit bad || n != 4 }' "$1"
}

test_expect_success 'gen-shapes writes the corpus and its truth' '
    mkdir train held &&
    gen-shapes -n 48 -o train && gen-shapes --held-out -o held &&
    test "$(ls train/shot-*.mp4 | wc -l)" -eq 48 &&
    test "$(sed 1d train/truth.tsv | wc -l)" -eq 48 &&
    test "$(sed 1d train/captions.tsv | wc -l)" -eq 48 &&
    test "$(wc -l <train/heldout.txt)" -eq 24 &&
    test "$(avk-vidcat -i train/shot-000.mp4 | cut -d" " -f1-4)" = "64 64 25 24"
'

test_expect_success 'the same seed renders the same shots and captions' '
    mkdir again && gen-shapes -n 48 -o again &&
    cmp train/truth.tsv again/truth.tsv && cmp train/shot-007.mp4 again/shot-007.mp4 &&
    mkdir other && gen-shapes -s 2 -n 48 -o other && ! cmp -s train/truth.tsv other/truth.tsv
'

test_expect_success '192 shots show every training combination, none held out, each attribute trained' '
    gen-shapes -n 192 -o big &&
    sed 1d big/truth.tsv | cut -f4-6 | sort -u >trained &&
    test "$(wc -l <trained)" -eq 192 &&
    cut -f4-6 held/truth.tsv | sed 1d | sort -u >heldc &&
    test "$(wc -l <heldc)" -eq 24 &&
    test -z "$(comm -12 trained heldc)" &&
    for k in 1 2 3; do
        test "$(cut -f$k trained | sort -u | wc -l)" -eq "$(cut -f$k heldc trained | sort -u | wc -l)" || exit 1
    done &&
    cmp held/heldout.txt held/prompts.txt && cmp held/heldout.txt train/heldout.txt &&
    ! grep -x -F -f held/heldout.txt big/prompts.txt
'

test_expect_success 'avk-eval reads every attribute off clean renders' '
    avk-eval -P held/prompts.txt -o held.tsv held/shot-*.mp4 >held.acc &&
    all_correct held.acc && test "$(sed 1d held.tsv | wc -l)" -eq 24 &&
    avk-eval -P train/prompts.txt train/shot-*.mp4 >train.acc && all_correct train.acc
'

test_expect_success 'avk-eval reads them off low-quality H.264 (crf 40) and blurred copies' '
    mkdir crf blur &&
    for f in held/shot-*.mp4; do
        b=${f##*/} &&
        ffmpeg -v error -i $f -c:v libx264 -crf 40 crf/$b &&
        ffmpeg -v error -i $f -vf gblur=sigma=1.5 -c:v libx264 blur/$b || exit 1
    done &&
    avk-eval -P held/prompts.txt crf/shot-*.mp4 >crf.acc && all_correct crf.acc &&
    avk-eval -P held/prompts.txt blur/shot-*.mp4 >blur.acc && all_correct blur.acc
'

test_expect_success 'avk-eval scores a wrong prompt as wrong, against chance' '
    sed "s/circle/square/; s/red/blue/" held/prompts.txt >wrong.txt &&
    avk-eval -P wrong.txt held/shot-*.mp4 >wrong.acc && cat wrong.acc &&
    test "$(awk -F"\t" "\$1 == \"joint\" { print \$2 }" wrong.acc)" -lt 24 &&
    grep -q "^color	[0-9]*	24	[0-9.]*	0.125$" wrong.acc
'

echo "a picture" >bad.txt
test_expect_code 1 'avk-eval: a prompt without color, shape or direction' \
    'avk-eval -P bad.txt held/shot-000.mp4 2>err; rc=$?; cat err;
     grep -q "bad.txt: line 1: no color, shape or direction" err && exit $rc'
test_expect_code 1 'avk-eval: a missing video is named' \
    'avk-eval -P held/prompts.txt nosuch.mp4 2>err; rc=$?; cat err;
     grep -q "nosuch.mp4" err && exit $rc'
test_expect_code 2 'avk-eval: no prompts file is a usage error' 'avk-eval held/shot-000.mp4'

test_done
