#!/bin/sh
# av-caption-feed records for a small manifest and captions, pinned by
# golden files of av-tensor's text output plus every token and mask value.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

cf_manifest >clips.tsv
cf_captions_jsonl >caps.jsonl
cf_captions_timeline >timeline.tsv

test_expect_success 'a vocabulary learned from the captions' '
    av-caption-feed --learn-vocab 300 -c caps.jsonl -o vocab.txt clips.tsv &&
    test_golden captionfeed/vocab.txt vocab.txt
'
test_expect_success 'records by clip id: metadata, caption, tokens, mask' '
    av-caption-feed --vocab vocab.txt -c caps.jsonl -o by-id.avt clips.tsv &&
    cf_dump by-id.avt >by-id.txt &&
    test_golden captionfeed/by-id.txt by-id.txt
'
test_expect_success 'only kept clips, in input order, caption trimmed' '
    av-tensor by-id.avt >print.txt &&
    test "$(grep -c "^record" print.txt)" = 3 &&
    grep "key=" print.txt | sed "s/.*key=//" >keys &&
    printf "park.mp4#0-48\npark.mp4#120-200\ncity.mp4#0-75\n" >want &&
    test_cmp want keys &&
    grep -q "meta caption=A dog catches a red ball—twice.$" print.txt
'
test_expect_success 'the tokens decode back to the caption (byte vocabulary)' '
    av-caption-feed --no-bos-eos -c caps.jsonl -o bytes.avt clips.tsv &&
    cf_values bytes.avt 0 tokens >ids &&
    for i in $(cat ids); do printf "\\$(printf %03o $((i - 3)))"; done >text &&
    printf "A dog runs across the park." >want &&
    test_cmp want text
'
test_expect_success 'padding to --max-tokens with a mask, and truncation' '
    av-caption-feed --vocab vocab.txt -L 24 -c caps.jsonl -o pad.avt clips.tsv 2>err &&
    cf_dump pad.avt >pad.txt &&
    test_golden captionfeed/pad.txt pad.txt &&
    grep -q "2 captions were cut to 24 tokens" err
'
test_expect_success 'records by time overlap keep the overlap fraction' '
    av-caption-feed --vocab vocab.txt -t --min-overlap 0.5 -c timeline.tsv \
        -o by-time.avt clips.tsv &&
    cf_dump by-time.avt >by-time.txt &&
    test_golden captionfeed/by-time.txt by-time.txt
'
test_expect_success 'by time, a video path matches captions that name the file alone' '
    awk -F "\t" -v OFS="\t" "NR > 1 { \$2 = \"footage/\" \$2; \$1 = \$2 \"#\" \$3 \"-\" \$4 } 1" clips.tsv >clips-dir.tsv &&
    grep -q "^footage/park.mp4#0-48	footage/park.mp4	" clips-dir.tsv &&
    av-caption-feed --vocab vocab.txt -t --min-overlap 0.5 -c timeline.tsv \
        -o by-time-dir.avt clips-dir.tsv &&
    av-tensor by-time.avt | grep "meta caption=" >want &&
    av-tensor by-time-dir.avt | grep "meta caption=" >got &&
    test -s want && test_cmp want got
'
test_done
