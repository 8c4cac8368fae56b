#!/bin/sh
# av-caption-feed --learn-vocab: a BPE vocabulary learned from the joined
# captions or from a corpus, the same on every run, and usable with --vocab.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

cf_manifest >clips.tsv
# a corpus of 2000 captions from a fixed generator
awk 'BEGIN { split("red blue green old young small", a, " ");
             split("dog cat car bird child horse", n, " ");
             split("runs jumps sits waits drives flies", v, " ");
             s = 7; for (i = 0; i < 2000; i++) {
               s = (s * 1103515245 + 12345) % 2147483648; x = int(s / 65536);
               printf "A %s %s %s near the %s %s.\n", a[x % 6 + 1], n[int(x / 6) % 6 + 1],
                      v[int(x / 36) % 6 + 1], a[int(x / 216) % 6 + 1], n[int(x / 1296) % 6 + 1] } }' >corpus.txt

test_expect_success 'the same corpus learns the same vocabulary twice' '
    av-caption-feed --learn-vocab 400 --corpus corpus.txt -o v1.txt &&
    av-caption-feed --learn-vocab 400 --corpus corpus.txt -o v2.txt &&
    cmp v1.txt v2.txt && grep -q "^merges " v1.txt
'
test_expect_success 'the corpus lines in reverse order learn the same vocabulary' '
    tac corpus.txt >rev.txt &&
    av-caption-feed --learn-vocab 400 --corpus rev.txt -o v3.txt &&
    cmp v1.txt v3.txt
'
test_expect_success 'the vocabulary goes to standard output by default' '
    av-caption-feed --learn-vocab 400 --corpus corpus.txt >v4.txt && cmp v1.txt v4.txt
'
test_expect_success 'learning from captions of a captioner, twice, with -j' '
    printf "#!/bin/sh\necho \"A dog and a cat in clip \$AVK_CLIP, a dog again.\"\n" >cap &&
    chmod +x cap &&
    av-caption-feed --learn-vocab 300 --min-count 1 -x ./cap -j 3 -o c1.txt clips.tsv &&
    av-caption-feed --learn-vocab 300 --min-count 1 -x ./cap -o c2.txt clips.tsv &&
    cmp c1.txt c2.txt && grep -q "^merges [1-9]" c1.txt
'
test_expect_success 'a learned vocabulary makes fewer tokens than bytes' '
    cf_captions_jsonl >caps.jsonl &&
    av-caption-feed --vocab v1.txt -c caps.jsonl -o bpe.avt clips.tsv &&
    av-caption-feed -c caps.jsonl -o bytes.avt clips.tsv &&
    a=$(av-tensor bpe.avt | grep -o "tokens i32 \[[0-9]*\]" | head -1 | tr -dc 0-9) &&
    b=$(av-tensor bytes.avt | grep -o "tokens i32 \[[0-9]*\]" | head -1 | tr -dc 0-9) &&
    echo "$a < $b" && test "$a" -lt "$b"
'
test_expect_success '--min-count 1 learns up to the asked size' '
    av-caption-feed --learn-vocab 280 --min-count 1 --corpus corpus.txt -o small.txt &&
    grep -q "^merges 21\$" small.txt
'
test_expect_code 1 'invalid UTF-8 in a corpus names the line' '
    { head -3 corpus.txt; printf "bad \\300 here\n"; } >inv.txt &&
    av-caption-feed --learn-vocab 300 --corpus inv.txt -o v.txt 2>err; rc=$?
    cat err; grep -q "inv.txt: line 4: invalid UTF-8 at byte 4" err && test ! -e v.txt && exit $rc
'
test_expect_code 2 'a vocabulary size under 259 is a usage error' '
    av-caption-feed --learn-vocab 100 --corpus corpus.txt -o v.txt
'
test_done
