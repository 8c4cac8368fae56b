#!/bin/sh
# avkit-vocab(5) read independently: a Python program written from the man
# page (tests/captionfeed_bpe_ref.py) learns the same merges and encodes the
# same tokens as av-caption-feed.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

PY=${PYTHON:-}
[ -n "$PY" ] || { command -v python3 >/dev/null 2>&1 && PY=python3; }
[ -n "$PY" ] || skip_all "no python3"
REF="$TESTS_DIR/captionfeed_bpe_ref.py"

cf_manifest >clips.tsv
cf_captions_jsonl >caps.jsonl
awk 'BEGIN { split("red blue grün old été small", a, " ");
             split("dog cat car bird 子供 horse", n, " ");
             split("runs jumps  sits waits, drives flies!", v, " ");
             s = 11; for (i = 0; i < 600; i++) {
               s = (s * 1103515245 + 12345) % 2147483648; x = int(s / 65536);
               printf "A %s %s %s near %d %s %s.\n", a[x % 6 + 1], n[int(x / 6) % 6 + 1],
                      v[int(x / 36) % 6 + 1], x % 97, a[int(x / 216) % 6 + 1],
                      n[int(x / 1296) % 6 + 1] } }' >corpus.txt

test_expect_success 'the same merges as the man page learner' '
    av-caption-feed --learn-vocab 360 --corpus corpus.txt -o vocab.txt &&
    $PY "$REF" learn 360 2 <corpus.txt >ref.txt &&
    grep -v "^#" vocab.txt | sed 1d >ours.txt &&
    test_cmp ref.txt ours.txt && test "$(wc -l <ours.txt)" -gt 50
'
test_expect_success 'the same merges with a minimum count of 1' '
    av-caption-feed --learn-vocab 300 --min-count 1 --corpus caps.jsonl -o v1.txt &&
    $PY "$REF" learn 300 1 <caps.jsonl >ref1.txt &&
    grep -v "^#" v1.txt | sed 1d >ours1.txt && test_cmp ref1.txt ours1.txt
'
test_expect_success 'the same tokens as the man page encoder' '
    av-caption-feed --vocab vocab.txt -c caps.jsonl -o recs.avt clips.tsv &&
    for r in 0 1 2; do cf_values recs.avt $r tokens; done >ours.ids &&
    av-tensor recs.avt | sed -n "s/^  meta caption=//p" >texts &&
    $PY "$REF" encode vocab.txt <texts >ref.ids &&
    test_cmp ref.ids ours.ids
'
test_done
