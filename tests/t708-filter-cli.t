#!/bin/sh
# av-filter's conventions: help, version, usage errors, bad manifests,
# unreadable videos.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/filter-media.sh"

test_expect_success '--help prints usage on stdout' '
    av-filter --help >out && grep -q "^usage: av-filter" out
'
test_expect_success '--version' '
    av-filter --version | grep -q "^av-filter (avkit)"
'
test_expect_code 2 'unknown option' 'av-filter --bogus </dev/null'
test_expect_code 2 'unknown score name' 'av-filter --scores static,colour </dev/null 2>err; rc=$?; grep -q colour err && exit $rc'
test_expect_code 2 'threshold out of range' 'av-filter --static-frac 2 </dev/null'
test_expect_code 2 'two manifests' 'av-filter a.tsv b.tsv'
test_expect_code 1 'a missing manifest names the file' '
    av-filter nosuch.tsv 2>err; rc=$?; grep -q "av-filter: nosuch.tsv" err && exit $rc
'
test_expect_code 1 'a manifest without end_frame names the column' '
    printf "video\tstart_frame\nx.mp4\t0\n" >nocol.tsv
    av-filter nocol.tsv 2>err; rc=$?; cat err; grep -q "end_frame" err && exit $rc
'
test_expect_code 1 'a bad frame range names the line, no output' '
    printf "video\tstart_frame\tend_frame\nx.mp4\t0\t10\nx.mp4\t9\t3\n" >range.tsv
    av-filter -o out.tsv range.tsv 2>err; rc=$?; cat err
    grep -q "range.tsv: line 3" err && test ! -e out.tsv && exit $rc
'
test_expect_success 'an unreadable video: warning, row kept with reason unreadable, others scored, exit 1' '
    pan=$(filter_media pan) &&
    printf "video\tstart_frame\tend_frame\tnote\nnosuch.mp4\t0\t10\ta\n%s\t0\t50\tb\n" "$pan" >mixed.tsv &&
    { av-filter --scores static mixed.tsv >out.tsv 2>err; test $? -eq 1; } &&
    cat out.tsv err && grep -q "nosuch.mp4" err &&
    test "$(col out.tsv keep 1)" = 0 && test "$(col out.tsv reason 1)" = unreadable &&
    test "$(col out.tsv static_frac 1)" = - && test "$(col out.tsv note 1)" = a &&
    test "$(col out.tsv reason 2)" = - && test "$(col out.tsv note 2)" = b
'
test_expect_code 1 'a clip past the end of the video is an error naming the line (issue 12)' '
    pan=$(filter_media pan) &&
    printf "video\tstart_frame\tend_frame\n%s\t40\t400\n" "$pan" >long.tsv &&
    av-filter --scores static,motion -o out.tsv long.tsv 2>err; rc=$?; cat err
    grep -q "long.tsv: line 2: .*frames 40-400 run past the end of the video (50 frames)" err &&
    test ! -e out.tsv && exit $rc
'
test_expect_success 'an empty manifest (header only) gives the header with our columns' '
    printf "video\tstart_frame\tend_frame\n" | av-filter --scores static >out.tsv &&
    test "$(cat out.tsv)" = "video	start_frame	end_frame	static_frac	keep	reason"
'
test_done
