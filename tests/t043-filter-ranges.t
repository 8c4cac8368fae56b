#!/bin/sh
# Clip ranges and frame rates a video cannot have (issue 12, items 6 and
# 8): clear errors naming the manifest and its line, no output, exit 1.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"
. "$TESTS_DIR/vae-media.sh"

test_expect_success 'setup' '
    pan=$(filter_media pan) && echo "$pan" >pan.path
'
# bad_row NAME START END FPS PATTERN: a manifest with a good clip, then the
# bad one on line 3; av-filter must fail naming line 3 and write nothing.
bad_row() {
    test_expect_code 1 "$1" "
        pan=\$(cat pan.path)
        printf 'video\tstart_frame\tend_frame\tfps\n%s\t0\t50\t25\n%s\t$2\t$3\t$4\n' \"\$pan\" \"\$pan\" >m.tsv
        rm -f out.tsv
        av-filter --scores static -o out.tsv m.tsv 2>err; rc=\$?; cat err
        grep -q '^av-filter: m.tsv: line 3: .*$5' err && test ! -e out.tsv || exit 3
        exit \$rc
    "
}
bad_row 'an end of 999999999 on a 50-frame video' 0 999999999 25 'frames 0-999999999 run past the end of the video (50 frames)'
bad_row 'a range wholly past the end' 60 80 25 'frames 60-80 run past the end of the video (50 frames)'
bad_row 'an end frame of INT64_MAX: no "out of memory"' 0 9223372036854775807 25 'run past the end of the video (50 frames)'
bad_row 'an end frame beyond INT64_MAX' 0 99999999999999999999 25 "bad frame range"
bad_row "fps 'abc'" 0 50 abc "bad fps .abc. (a positive number)"
bad_row "fps 0" 0 50 0 "bad fps .0. (a positive number)"
bad_row "fps nan" 0 50 nan "bad fps .nan."
bad_row "fps -25" 0 50 -25 "bad fps .-25."
test_expect_success 'a range that ends at the last frame is fine' '
    printf "video\tstart_frame\tend_frame\tfps\n%s\t10\t50\t25\n" "$(cat pan.path)" >ok.tsv &&
    av-filter --scores static ok.tsv >out.tsv && test $(wc -l <out.tsv) = 2
'
test_expect_success 'an empty fps field means the video s own rate' '
    printf "video\tstart_frame\tend_frame\tfps\n%s\t10\t50\t\n" "$(cat pan.path)" >e.tsv &&
    av-filter --scores static e.tsv >out.tsv && test $(wc -l <out.tsv) = 2
'
test_expect_code 1 'av-vaeenc: an end frame of INT64_MAX is a clear error' '
    vae_tiny_model vae.safetensors &&
    printf "video\tstart_frame\tend_frame\n%s\t0\t9223372036854775807\n" "$(vae_media wide)" >big.tsv &&
    av-vaeenc -m vae.safetensors --base 32 big.tsv -o l.avt 2>err; rc=$?; cat err
    grep -q "frames 0-9223372036854775807 run past the end of the video (20 frames)" err &&
    test ! -e l.avt || exit 3
    exit $rc
'
test_done
