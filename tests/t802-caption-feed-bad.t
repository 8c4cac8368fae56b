#!/bin/sh
# av-caption-feed on bad input: every case a clear error (file and line,
# or the clip) or a counted report, and never a half-written output.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

cf_manifest >clips.tsv
cf_captions_jsonl >caps.jsonl

test_expect_code 1 'a malformed JSON line names the file and the line' '
    sed "3s/\"caption\":/\"caption\"/" caps.jsonl >bad.jsonl &&
    av-caption-feed -c bad.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "^av-caption-feed: bad.jsonl: line 3: " err && test ! -e out.avt &&
    test -z "$(ls -A | grep tmp)" && exit $rc
'
test_expect_code 1 'a JSON line without the caption field names line and field' '
    sed "2s/\"caption\"/\"text\"/" caps.jsonl >nofield.jsonl &&
    av-caption-feed -c nofield.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "nofield.jsonl: line 2: field \"caption\" is missing" err &&
    test ! -e out.avt && exit $rc
'
test_expect_success 'an empty or whitespace-only caption counts as missing' '
    sed "1s/A dog runs across the park./   /; 4s/\"Night[^\"]*\"/\"\"/" caps.jsonl >empty.jsonl &&
    av-caption-feed -v -c empty.jsonl -o out.avt clips.tsv 2>err &&
    cat err && grep -q "2 of 3 kept clips have no caption (skipped)" err &&
    grep -q "park.mp4#0-48: caption is empty or whitespace (empty.jsonl line 1)" err &&
    grep -q "city.mp4#0-75: caption is empty or whitespace (empty.jsonl line 4)" err &&
    test "$(av-tensor -c out.avt)" = 1
'
test_expect_code 1 'with --require-caption an empty caption is an error naming the clip' '
    av-caption-feed --require-caption -c empty.jsonl -o out2.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clip park.mp4#0-48 has no caption: caption is empty" err &&
    test ! -e out2.avt && exit $rc
'
test_expect_success '--keep-uncaptioned writes them with an empty caption' '
    av-caption-feed --keep-uncaptioned -c empty.jsonl -o out3.avt clips.tsv 2>err &&
    test "$(av-tensor -c out3.avt)" = 3 &&
    test "$(cf_values out3.avt 0 tokens)" = "1 2"
'
test_expect_code 1 'a manifest with a missing column' '
    cut -f1-3,5- clips.tsv >nocol.tsv &&
    av-caption-feed -c caps.jsonl -o out.avt nocol.tsv 2>err; rc=$?
    cat err; grep -q "nocol.tsv: missing column .end_frame." err && exit $rc
'
test_expect_code 1 'a manifest row with a bad frame number names the line' '
    sed "4s/\t75\t/\tx75\t/" clips.tsv >badnum.tsv &&
    av-caption-feed -c caps.jsonl -o out.avt badnum.tsv 2>err; rc=$?
    cat err; grep -q "badnum.tsv: line 4: column .end_frame.: .x75. is not a frame number" err &&
    exit $rc
'
test_expect_success 'CRLF line endings in manifest and captions give the same records' '
    av-caption-feed -c caps.jsonl -o lf.avt clips.tsv &&
    sed "s/\$/\r/" clips.tsv >crlf.tsv && sed "s/\$/\r/" caps.jsonl >crlf.jsonl &&
    av-caption-feed -c crlf.jsonl -o crlf.avt crlf.tsv &&
    cmp lf.avt crlf.avt
'
test_expect_success 'CRLF in a TSV timeline' '
    cf_captions_timeline >tl.tsv && sed "s/\$/\r/" tl.tsv >tlcrlf.tsv &&
    av-caption-feed -t -c tl.tsv -o a.avt clips.tsv 2>/dev/null &&
    av-caption-feed -t -c tlcrlf.tsv -o b.avt clips.tsv 2>/dev/null && cmp a.avt b.avt
'
test_expect_success 'a huge caption (4 MB on one line) is tokenized whole' '
    { yes "a dog runs across the park" | head -n 150000 | tr "\n" " "; printf end; } >huge.txt &&
    { printf "{\"clip\": \"park.mp4#0-48\", \"caption\": \""; cat huge.txt; printf "\"}\n"; } >huge.jsonl &&
    av-caption-feed --no-bos-eos -c huge.jsonl -o huge.avt clips.tsv 2>/dev/null &&
    av-tensor huge.avt | grep "tensor tokens" >t && cat t &&
    grep -q "tokens i32 \[4050003\]" t
'
test_expect_success 'a huge caption without spaces, with a learned vocabulary' '
    head -c 3000000 /dev/zero | tr "\0" "a" >long.txt &&
    { printf "{\"clip\": \"park.mp4#0-48\", \"caption\": \""; cat long.txt; printf "\"}\n"; } >long.jsonl &&
    printf "aaaa aaaa aaaa\n" >corpus.txt &&
    av-caption-feed --learn-vocab 300 --corpus corpus.txt -o v.txt &&
    grep -q "^merges 3" v.txt &&
    av-caption-feed --vocab v.txt --no-bos-eos -c long.jsonl -o long.avt clips.tsv 2>/dev/null &&
    av-tensor long.avt | grep -q "tokens i32 \[750000\]"
'
test_expect_code 1 'invalid UTF-8 in a caption file names the line' '
    printf "{\"clip\": \"park.mp4#0-48\", \"caption\": \"bad \\377 byte\"}\n" >inv.jsonl &&
    av-caption-feed -c inv.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "inv.jsonl: line 1: invalid UTF-8 at byte 41" err && exit $rc
'
test_expect_success '--replace-invalid replaces it with U+FFFD and says so' '
    av-caption-feed --replace-invalid -c inv.jsonl -o out.avt clips.tsv 2>err &&
    grep -q "1 invalid UTF-8 sequences replaced" err &&
    av-tensor out.avt | grep -q "caption=bad � byte"
'
test_expect_code 1 'a JSON escape for NUL is refused in a caption' '
    printf "{\"clip\": \"park.mp4#0-48\", \"caption\": \"a\\\\u0000b\"}\n" >nul.jsonl &&
    av-caption-feed -c nul.jsonl -o out4.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "nul.jsonl: line 1: field \"caption\": invalid UTF-8" err && exit $rc
'
test_expect_success 'duplicate ids and captions without a clip are counted, -v lists them' '
    { cat caps.jsonl; echo "{\"clip\": \"park.mp4#0-48\", \"caption\": \"again\"}";
      echo "{\"clip\": \"zoo.mp4#0-10\", \"caption\": \"no such clip\"}"; } >dup.jsonl &&
    { cat clips.tsv; sed -n 2p clips.tsv; } >dupclips.tsv &&
    av-caption-feed -c dup.jsonl -o out.avt dupclips.tsv 2>err &&
    grep -q "1 duplicate caption ids in dup.jsonl (the first is used); -v lists them" err &&
    grep -q "1 captions in dup.jsonl match no clip" err &&
    grep -q "1 duplicate clip ids among the kept clips" err &&
    av-tensor out.avt | grep -q "caption=A dog runs across" &&
    av-caption-feed -v -c dup.jsonl -o out.avt dupclips.tsv 2>err &&
    grep -q "  line 5: park.mp4#0-48" err && grep -q "  line 6: zoo.mp4#0-10" err &&
    ! grep -q "2 captions" err &&
    grep -q "  park.mp4#0-48 (line 6)" err
'
test_expect_code 1 'a clip without a caption is an error with --require-caption' '
    sed 4d caps.jsonl >three.jsonl &&
    av-caption-feed --require-caption -c three.jsonl -o out5.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clips.tsv: line 5: clip city.mp4#0-75 has no caption" err &&
    test ! -e out5.avt && exit $rc
'
test_expect_code 1 'a keep value other than 0 or 1' '
    sed "2s/\t1\t\$/\tyes\t/" clips.tsv >badkeep.tsv &&
    av-caption-feed -c caps.jsonl -o out.avt badkeep.tsv 2>err; rc=$?
    cat err; grep -q "badkeep.tsv: line 2: keep is .yes." err && exit $rc
'
test_expect_code 1 'a damaged vocabulary file names its line' '
    printf "avkit-bpe 1\nmerges 2\n100 101\n" >bad-vocab.txt &&
    av-caption-feed --vocab bad-vocab.txt -c caps.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "bad-vocab.txt: line 3: file ends after 1 of 2 merges" err && exit $rc
'
if command -v script >/dev/null 2>&1; then
    test_expect_success 'the stream is never written to a terminal' '
        script -qec "av-caption-feed -c caps.jsonl clips.tsv; echo rc=\$?" /dev/null >tty.out;
        cat tty.out; grep -q "refusing to write binary data to a terminal" tty.out &&
        grep -q "rc=1" tty.out
    '
else
    test_skip 'the stream is never written to a terminal' 'no script(1)'
fi
test_expect_code 2 'no caption source is a usage error' '
    av-caption-feed -o out.avt clips.tsv
'
test_expect_code 2 'two caption sources are a usage error' '
    av-caption-feed -c caps.jsonl -x true -o out.avt clips.tsv
'
test_expect_code 1 'a missing manifest' '
    av-caption-feed -c caps.jsonl -o out.avt nosuch.tsv 2>err; rc=$?
    grep -q "nosuch.tsv" err && exit $rc
'
test_done
