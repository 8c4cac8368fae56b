#!/bin/sh
# Inputs and failures: lists, stdin, unreadable and damaged videos, usage
# errors.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"

test_expect_success 'test videos' '
    sc_media cuts && sc_media dark && sc_media flash
'
test_expect_success 'a list file and a list on stdin give the same manifest as arguments' '
    av-shotcut cuts.mp4 dark.mp4 flash.mp4 >args.tsv &&
    printf "cuts.mp4\n\ndark.mp4\nflash.mp4\n" >list &&
    av-shotcut -l list >list.tsv &&
    av-shotcut -l - <list >stdin.tsv &&
    test_cmp args.tsv list.tsv && test_cmp args.tsv stdin.tsv
'
test_expect_success 'videos come out in input order' '
    av-shotcut flash.mp4 cuts.mp4 | cut -f 2 | uniq | tail -n +2 | tr "\n" " " >order &&
    test "$(cat order)" = "flash.mp4 cuts.mp4 "
'
test_expect_code 1 'an unreadable video among good ones: exit 1' '
    echo "not a video" >bad.mp4 &&
    av-shotcut cuts.mp4 bad.mp4 missing.mp4 dark.mp4 >mixed.tsv 2>mixed.err
'
test_expect_success '... each bad video is reported, the good ones are done' '
    grep -q "^av-shotcut: bad.mp4: " mixed.err &&
    grep -q "^av-shotcut: missing.mp4: " mixed.err &&
    av-shotcut cuts.mp4 dark.mp4 >good.tsv && test_cmp good.tsv mixed.tsv
'
test_expect_success 'a video damaged half way: shots of what decodes, a warning, exit 0' '
    ffmpeg -nostdin -loglevel error -i cuts.mp4 -c copy -movflags +faststart fs.mp4 &&
    size=$(wc -c <fs.mp4) && head -c $((size * 6 / 10)) fs.mp4 >half.mp4 &&
    av-shotcut half.mp4 >half.tsv 2>half.err &&
    grep -q "^av-shotcut: half.mp4: " half.err &&
    end=$(tail -n 1 half.tsv | cut -f 5) &&
    test "$end" -gt 40 && test "$end" -lt 155 &&
    test "$(sc_starts half.tsv | cut -d " " -f 1)" = 40
'
test_expect_code 2 'no input: usage error' 'av-shotcut </dev/null'
test_expect_code 2 'unknown detector: usage error' 'av-shotcut -d magic cuts.mp4'
test_expect_code 2 'a bad number: usage error' 'av-shotcut --min-content abc cuts.mp4'
test_expect_code 2 'a bad --weights: usage error' 'av-shotcut --weights 1,2 cuts.mp4'
test_expect_code 2 'a bad --split-mode: usage error' 'av-shotcut --split x --split-mode fast cuts.mp4'
test_expect_success 'usage errors say what and point to --help' '
    av-shotcut --min-shot x cuts.mp4 2>err; test $? -eq 2 &&
    grep -q "^av-shotcut: .*--min-shot" err && grep -q -- --help err
'
test_expect_code 1 'a missing list file fails the work' 'av-shotcut -l nolist'
test_expect_success 'a failed output leaves no file behind' '
    ! av-shotcut -o nodir/out.tsv cuts.mp4 2>err && test ! -e nodir/out.tsv &&
    grep -q "^av-shotcut: " err
'
test_done
