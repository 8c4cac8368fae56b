#!/bin/sh
# av-caption-feed --text-emb: precomputed caption embeddings matched by
# clip id, from a directory of .npy files or from a tensor stream, passed
# through unchanged.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

cf_manifest >clips.tsv
cf_captions_jsonl >caps.jsonl

# mk_npy FILE BYTE...: a float32 [2,3] .npy (format 1.0) whose 24 data
# bytes repeat the given octal bytes.
mk_npy() {
    f=$1; shift
    dict="{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    pad=$((118 - ${#dict} - 1))
    { printf '\223NUMPY\001\000\166\000%s%*s\n' "$dict" $pad ''
      i=0; while [ $i -lt 6 ]; do printf "$*"; i=$((i + 1)); done; } >"$f"
}

mkdir emb
mk_npy 'emb/park.mp4%230-48.npy' '\000\000\200\077'        # 1.0
mk_npy 'emb/park.mp4%23120-200.npy' '\000\000\000\100'     # 2.0
mk_npy 'emb/city.mp4%230-75.npy' '\000\000\000\077'        # 0.5

test_expect_success 'embeddings from DIR/<percent-encoded clip id>.npy' '
    av-caption-feed --text-emb emb -c caps.jsonl -o dir.avt clips.tsv &&
    av-tensor dir.avt >print.txt && cat print.txt &&
    test "$(grep -c "tensor text_emb f32 \[2,3\]" print.txt)" = 3 &&
    grep -q "text_emb f32 \[2,3\] min=2 max=2" print.txt &&
    av-tensor -r 2 -x text_emb -o e.npy dir.avt &&
    tail -c 24 e.npy >a && tail -c 24 emb/city.mp4%230-75.npy >b && cmp a b
'
test_expect_success 'embeddings from a stream keyed by clip id give the same records' '
    for k in park.mp4#0-48 park.mp4#120-200 city.mp4#0-75; do
        f=$(printf %s "$k" | sed "s/#/%23/") &&
        av-tensor --pack -k "$k" -o "p-$f.avt" "text_emb=emb/$f.npy" || exit 1
    done &&
    av-tensor --cat -o emb.avt p-city.mp4%230-75.avt p-park.mp4%230-48.avt \
        p-park.mp4%23120-200.avt &&
    av-caption-feed --text-emb emb.avt -c caps.jsonl -o avt.avt clips.tsv &&
    cmp dir.avt avt.avt
'
test_expect_code 1 'a clip without an embedding is an error naming clip and file' '
    rm "emb/park.mp4%23120-200.npy" &&
    av-caption-feed --text-emb emb -c caps.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clip park.mp4#120-200: no text embedding emb/park.mp4%23120-200.npy" err &&
    test ! -e out.avt && exit $rc
'
test_expect_code 1 'a stream without the clip is an error naming clip and file' '
    av-tensor --cat -o two.avt p-city.mp4%230-75.avt p-park.mp4%230-48.avt &&
    av-caption-feed --text-emb two.avt -c caps.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clip park.mp4#120-200: two.avt has no record with this key" err && exit $rc
'
test_expect_code 1 'a damaged .npy names the file' '
    head -c 100 emb/city.mp4%230-75.npy >trunc.npy && mv trunc.npy emb/city.mp4%230-75.npy &&
    mk_npy "emb/park.mp4%23120-200.npy" "\000\000\000\100" &&
    av-caption-feed --text-emb emb -c caps.jsonl -o out.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "emb/city.mp4%230-75.npy" err && exit $rc
'
test_done
