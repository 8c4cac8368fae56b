#!/bin/sh
# Every dtype through pipes and files, with and without zlib, bit-exact:
# a stream re-written by av-tensor --cat is byte-identical to the original.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a stream of every dtype with random bit patterns' '
    avt_write_example -b -n 3 -e 40 -o orig.avt && test -s orig.avt
'
test_expect_success 'through a pipe (a | b | c): byte-identical' '
    cat orig.avt | av-tensor --cat | av-tensor --cat - >piped.avt &&
    cmp orig.avt piped.avt
'
test_expect_success 'through a file with zlib and back: byte-identical' '
    avt_write_example -n 3 -e 4000 -o smooth.avt &&
    av-tensor --cat -z -l 9 -o z.avt smooth.avt &&
    test $(wc -c <z.avt) -lt $(wc -c <smooth.avt) &&
    av-tensor --cat -o back.avt z.avt && cmp smooth.avt back.avt
'
test_expect_success 'zlib through a pipe: byte-identical' '
    av-tensor --cat -z orig.avt | av-tensor --cat >back2.avt && cmp orig.avt back2.avt
'
test_expect_success 'zlib stream exports the same .npy bytes for every tensor' '
    av-tensor --cat -z smooth.avt >z2.avt && mkdir a b &&
    av-tensor -r 2 --npy a smooth.avt && av-tensor -r 2 --npy b z2.avt &&
    test $(ls a | wc -l) -eq 11 &&
    for f in a/*.npy; do cmp "$f" "b/${f#a/}" || exit 1; done
'
test_expect_success 'a stream written to a pipe and a file are the same bytes' '
    avt_write_example -z -n 2 >p.avt && avt_write_example -z -n 2 -o f.avt && cmp p.avt f.avt
'
test_expect_success '--cat joins streams and renumbers the index' '
    av-tensor --cat orig.avt smooth.avt -o both.avt &&
    test "$(av-tensor -c both.avt)" = 6 &&
    av-tensor -r 4 both.avt >r4 && av-tensor -r 1 smooth.avt >s1 &&
    sed 1d r4 >r4b && sed 1d s1 >s1b && test_cmp s1b r4b
'
test_done
