#!/bin/sh
# av-tensor's text output on a small deterministic stream is pinned by a
# golden file (regenerated only by `make golden`).
. "$(dirname "$0")/lib.sh"

test_expect_success 'printing a 2-record stream of every dtype' '
    avt_write_example -n 2 -e 12 -s 3 -o s.avt &&
    av-tensor s.avt >print.txt &&
    test_golden avt/print.txt print.txt
'
test_expect_success 'the same text from a pipe and from a zlib copy' '
    av-tensor <s.avt >pipe.txt && test_cmp print.txt pipe.txt &&
    av-tensor --cat -z s.avt | av-tensor >z.txt && test_cmp print.txt z.txt
'
test_expect_success 'summaries of special values: empty, NaN, infinities' '
    avt_write_example -b -n 1 -e 200 -s 5 -o bits.avt &&
    avt_write_example -n 1 -e 0 -o empty.avt &&
    av-tensor bits.avt empty.avt >bits.txt &&
    grep -q "nan=" bits.txt && grep -q "empty" bits.txt &&
    test_golden avt/bits.txt bits.txt
'
test_done
