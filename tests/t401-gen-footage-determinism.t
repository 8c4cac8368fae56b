#!/bin/sh
# gen-footage is deterministic: a seed gives the same frames, the same
# metadata and (with the same FFmpeg and libx264) the same mp4 bytes.
. "$(dirname "$0")/lib.sh"

test_expect_success 'the same seed gives identical frame checksums and metadata' '
    gen-footage --no-video --seed 7 --checksums a.sums -o a &&
    gen-footage --no-video --seed 7 --checksums b.sums -o b &&
    test "$(sed 1d a.sums | wc -l)" -gt 900 &&
    test_cmp a.sums b.sums &&
    test_cmp a/truth.tsv b/truth.tsv &&
    test_cmp a/captions.tsv b/captions.tsv &&
    test_cmp a/captions.jsonl b/captions.jsonl
'

test_expect_success 'another seed gives other frames and other content' '
    gen-footage --no-video --seed 8 --checksums c.sums -o c &&
    sed 1d a.sums | cut -f3 | sort >a.crc &&
    sed 1d c.sums | cut -f3 | sort >c.crc &&
    test "$(comm -12 a.crc c.crc | wc -l)" -lt 10 &&
    ! cmp -s a/truth.tsv c/truth.tsv
'

test_expect_success 'the default seed is fixed' '
    gen-footage --no-video --checksums d1.sums -o d1 &&
    gen-footage --no-video --seed 1 --checksums d2.sums -o d2 &&
    test_cmp d1.sums d2.sums
'

test_expect_success 'raw frames are the checksummed frames, video by video' '
    gen-footage --raw -s 96x54 --checksums r.sums -o r &&
    for v in 1 2 3; do
        n=$(grep -c "^video$v.mp4" r.sums) &&
        test "$(wc -c <r/video$v.rgb)" -eq $((n * 96 * 54 * 3)) || return 1
    done &&
    f=$(awk -F"\t" "\$1==\"video2.mp4\" && \$2==40 {print \$3}" r.sums) &&
    dd if=r/video2.rgb bs=15552 skip=40 count=1 2>/dev/null >frame40 &&
    test "$(gzip -c frame40 | tail -c8 | od -An -tx4 -N4 | tr -d " ")" = "$f"
'

test_expect_success 'the same seed gives byte-identical mp4 files' '
    gen-footage -s 160x90 --seed 3 -o m1 &&
    gen-footage -s 160x90 --seed 3 -o m2 &&
    for v in 1 2 3; do cmp m1/video$v.mp4 m2/video$v.mp4 || return 1; done
'

test_done
