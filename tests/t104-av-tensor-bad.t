#!/bin/sh
# Damaged streams on the command line: a clear message naming the file and
# the record, exit 1, no crash, and no output left under the real name.
. "$(dirname "$0")/lib.sh"

# fails_with PATTERN CMD...: CMD exits 1 (not a signal) and stderr matches.
fails_with() {
    pat=$1; shift
    "$@" >out 2>err; rc=$?
    test $rc -eq 1 || { echo "exit $rc, expected 1"; cat err; return 1; }
    test_grep "$pat" err
}
# flip FILE OFFSET: invert one byte in place.
flip() {
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d " ")
    printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

test_expect_success 'setup: a valid 3-record stream' '
    avt_write_example -n 3 -e 64 -o good.avt && av-tensor --check good.avt &&
    size=$(wc -c <good.avt) && echo $size >size &&
    end=$(od -An -tu8 -j $((size - 12)) -N8 good.avt | tr -d " ") && echo $end >end &&
    r1=$(av-tensor --cat -r 0 good.avt | wc -c) && echo $((r1 - 36 - 16)) >rec1len
'
size=$(cat size 2>/dev/null || echo 0); end=$(cat end 2>/dev/null || echo 0)
rec1=$((16 + $(cat rec1len 2>/dev/null || echo 0)))

for cut in 10 16 30 $((rec1 + 200)) $end $((end + 10)) $((size - 5)); do
    test_expect_success "truncated at byte $cut: an error naming the place" "
        head -c $cut good.avt >cut.avt &&
        fails_with '^av-tensor: cut.avt: .*truncated' av-tensor cut.avt &&
        cat cut.avt | fails_with '^av-tensor: stdin: .*truncated' av-tensor --check
    "
done
test_expect_success 'truncated after the last record names it' '
    head -c $end good.avt >cut.avt &&
    fails_with "cut.avt: truncated after record 2 .*end block missing" av-tensor --check cut.avt
'
test_expect_success 'truncated inside record 1 names record 1' '
    head -c $((rec1 + 200)) good.avt | fails_with "stdin: record 1: truncated" av-tensor --check
'
test_expect_success 'flipped payload byte: checksum mismatch naming record and tensor' '
    cp good.avt bad.avt && flip bad.avt $((end - 1)) &&
    fails_with "bad.avt: record 2 tensor .bool.: payload checksum mismatch" av-tensor bad.avt
'
test_expect_success 'flipped header byte: header checksum mismatch naming the record' '
    cp good.avt bad.avt && flip bad.avt $((rec1 + 12)) &&
    fails_with "bad.avt: record 1: header checksum mismatch" av-tensor --check bad.avt
'
test_expect_success 'records before the damage are still printed' '
    cp good.avt bad.avt && flip bad.avt $((end - 1)) &&
    av-tensor bad.avt >out 2>/dev/null; grep -c "^record" out >n && test "$(cat n)" = 2
'
test_expect_success 'wrong magic' '
    cp good.avt bad.avt && flip bad.avt 1 &&
    fails_with "bad.avt: not an avt stream \(bad magic" av-tensor bad.avt
'
test_expect_success 'wrong version' '
    cp good.avt bad.avt && printf "\011" | dd of=bad.avt bs=1 seek=8 conv=notrunc 2>/dev/null &&
    fails_with "bad.avt: unsupported avt version 9" av-tensor -c bad.avt
'
test_expect_success 'an empty input is not a stream' '
    : >empty.avt && fails_with "empty.avt: not an avt stream" av-tensor empty.avt
'
test_expect_success 'missing file' '
    fails_with "no-such.avt: No such file" av-tensor no-such.avt
'
test_expect_success 'a damaged index: count fails, -r reads sequentially up to it' '
    cp good.avt bad.avt && flip bad.avt $((size - 2)) &&
    fails_with "bad.avt: .*(tail|end block)" av-tensor -c bad.avt &&
    av-tensor -r 1 bad.avt >out && grep -q "^record 1 key=rec0001" out
'
test_expect_success '--cat with a damaged input leaves no output file' '
    cp good.avt bad.avt && flip bad.avt $((end - 1)) &&
    fails_with "bad.avt: record 2" av-tensor --cat good.avt bad.avt -o joined.avt &&
    test ! -e joined.avt && test -z "$(ls -a | grep tmp)"
'
test_expect_success '-x from a damaged record leaves no .npy' '
    cp good.avt bad.avt && flip bad.avt $((end - 1)) &&
    fails_with "record 2 tensor .bool." av-tensor -r 2 -x f32 -o x.npy bad.avt &&
    test ! -e x.npy && test -z "$(ls -a | grep tmp)"
'
test_expect_success '--pack with a bad .npy leaves no stream' '
    echo "not numpy" >bad.npy &&
    fails_with "bad.npy: not a .npy file" av-tensor --pack a=bad.npy -o p.avt &&
    test ! -e p.avt
'
test_expect_success 'more files: the bad one is named, the good one still printed' '
    av-tensor good.avt no-such.avt >out 2>err; test $? -eq 1 &&
    grep -q "^record 2" out && grep -q "no-such.avt" err
'
test_done
