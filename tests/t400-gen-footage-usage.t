#!/bin/sh
# gen-footage keeps the tool conventions: help, version, usage errors,
# failures that leave nothing half-written.
. "$(dirname "$0")/lib.sh"

test_expect_success '--help prints usage and both file formats on stdout' '
    gen-footage --help >out 2>err &&
    grep -q "^Usage: gen-footage" out &&
    grep -q "video shot start end transition" out &&
    grep -q "video start end caption" out &&
    test ! -s err
'

test_expect_success '--version names the program and avkit' '
    gen-footage --version >out &&
    grep -Eq "^gen-footage \(avkit\) [0-9]" out
'

test_expect_code 2 'no output directory is a usage error' '
    gen-footage --no-video 2>err; rc=$?; grep -q "give -o DIR" err && exit $rc
'

test_expect_code 2 'an odd frame size is a usage error' '
    gen-footage -s 321x180 -o d 2>err; rc=$?; grep -q -- "--size" err && exit $rc
'

test_expect_code 2 'a non-numeric seed is a usage error' '
    gen-footage --seed abc -o d 2>/dev/null
'

test_expect_code 2 'an unknown option is a usage error' '
    gen-footage --bogus -o d 2>/dev/null
'

test_expect_code 1 'an output path under a regular file fails and names it' '
    : >file &&
    gen-footage --no-video -o file/sub 2>err; rc=$?;
    grep -q "^gen-footage: file" err && exit $rc
'

test_expect_success 'without ffmpeg on PATH it fails with a clear message and leaves no files' '
    mkdir empty-path &&
    ln -s "$(command -v gen-footage)" empty-path/gen-footage &&
    ( PATH=$PWD/empty-path; export PATH; gen-footage -o noff 2>err; test $? -eq 1 ) &&
    grep -q "cannot run ffmpeg" err &&
    test -z "$(ls -A noff)"
'

test_expect_success 'the metadata lists every video and every shot once' '
    gen-footage --no-video -o meta &&
    test "$(cut -f1 meta/truth.tsv | sed 1d | sort -u | tr "\n" " ")" = "video1.mp4 video2.mp4 video3.mp4 " &&
    test "$(sed 1d meta/truth.tsv | wc -l)" = "$(sed 1d meta/captions.tsv | wc -l)" &&
    test "$(sed 1d meta/truth.tsv | wc -l)" = "$(wc -l <meta/captions.jsonl)" &&
    test ! -e meta/video1.mp4
'

test_done
