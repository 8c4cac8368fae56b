#!/bin/sh
# Under mpirun the ranks share the videos and the output is the same bytes
# as one process.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/shotcut-media.sh"
command -v mpirun >/dev/null || skip_all "mpirun not installed"

test_expect_success 'test videos' '
    sc_media cuts && sc_media dark && sc_media flash && sc_media short && sc_media fade &&
    printf "short.mp4\ncuts.mp4\ndark.mp4\nflash.mp4\nfade.mp4\n" >list
'
test_expect_success 'mpirun -np 2 on 5 videos: identical to one process' '
    av-shotcut -l list >one.tsv &&
    avk_mpirun 2 av-shotcut -l list >two.tsv &&
    test_cmp one.tsv two.tsv
'
test_expect_success 'mpirun -np 2 with the list on stdin and -o' '
    avk_mpirun 2 av-shotcut -l - -o two-o.tsv <list &&
    test_cmp one.tsv two-o.tsv
'
test_expect_success 'mpirun -np 2 with a bad video: same rows for the good ones, exit 1' '
    echo junk >bad.mp4 &&
    printf "cuts.mp4\nbad.mp4\ndark.mp4\nflash.mp4\n" >list2 &&
    av-shotcut -l list2 >one2.tsv 2>/dev/null; test $? -eq 1 &&
    avk_mpirun 2 av-shotcut -l list2 >two2.tsv 2>err; rc=$?; test $rc -eq 1 &&
    test_cmp one2.tsv two2.tsv && grep -q "bad.mp4" err
'
test_done
