#!/bin/sh
# av-caption-feed --caption-cmd: a captioner per clip, its arguments and
# environment, -j parallel calls, and captioners that fail, hang, or print
# junk.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

cf_manifest >clips.tsv
cat >echo-cap <<'SH'
#!/bin/sh
# the arguments and the environment, as the caption
echo "args $1|$2|$3|$4 env $AVK_VIDEO|$AVK_START|$AVK_END|$AVK_FPS|$AVK_CLIP"
SH
cat >slow-cap <<'SH'
#!/bin/sh
# finishes in reverse order of the start frame, so -j reorders completion
sleep "0.$(( (300 - $2) / 3 ))"
echo "clip $AVK_CLIP"
SH
chmod +x echo-cap slow-cap

test_expect_success 'the captioner gets video, frames and fps as arguments and environment' '
    av-caption-feed -x ./echo-cap -o out.avt clips.tsv &&
    av-tensor out.avt | grep "caption=" >caps &&
    cat caps &&
    grep -q "caption=args park.mp4|120|200|24 env park.mp4|120|200|24|park.mp4#120-200\$" caps &&
    grep -q "caption=args city.mp4|0|75|25 env city.mp4|0|75|25|city.mp4#0-75\$" caps &&
    test "$(wc -l <caps)" = 3
'
test_expect_success '-j 3 gives the same bytes as -j 1' '
    av-caption-feed -x ./slow-cap -j 1 -o j1.avt clips.tsv &&
    av-caption-feed -x ./slow-cap -j 3 -o j3.avt clips.tsv &&
    cmp j1.avt j3.avt
'
test_expect_success '-j 3 runs the three calls at the same time' '
    cat >meet-cap <<-\SH &&
	#!/bin/sh
	# wait (up to 10 s) until all three calls have started
	touch "started.$2.$4"; i=0
	while [ $i -lt 100 ]; do
	    [ $(ls started.* | wc -l) -ge 3 ] && { echo together; exit 0; }
	    sleep 0.1; i=$((i + 1))
	done
	echo alone
	SH
    chmod +x meet-cap &&
    av-caption-feed -x ./meet-cap -j 3 -o par.avt clips.tsv &&
    test "$(av-tensor par.avt | grep -c "caption=together")" = 3
'
test_expect_code 1 'a captioner that exits non-zero: the error names the clip' '
    printf "#!/bin/sh\ntest \$2 = 120 && exit 3\necho fine\n" >fail-cap && chmod +x fail-cap &&
    av-caption-feed -x ./fail-cap -o out2.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "^av-caption-feed: clip park.mp4#120-200: captioner exited with status 3\$" err &&
    test ! -e out2.avt && exit $rc
'
test_expect_success '--keep-going makes it a missing caption and a warning' '
    av-caption-feed --keep-going -x ./fail-cap -o out3.avt clips.tsv 2>err &&
    grep -q "clip park.mp4#120-200: captioner exited with status 3" err &&
    grep -q "1 of 3 kept clips have no caption" err &&
    test "$(av-tensor -c out3.avt)" = 2
'
test_expect_code 1 'a captioner that hangs is killed after --caption-timeout' '
    printf "#!/bin/sh\ntest \$2 = 0 && exec sleep 60\necho fine\n" >hang-cap && chmod +x hang-cap &&
    start=$(date +%s) &&
    av-caption-feed --caption-timeout 1 -x ./hang-cap -o out4.avt clips.tsv 2>err; rc=$?
    end=$(date +%s); cat err
    test $((end - start)) -lt 10 &&
    grep -q "clip park.mp4#0-48: captioner timed out after 1 s and was killed" err &&
    test ! -e out4.avt && exit $rc
'
test_expect_success 'a timed-out captioner dies with its children (process group)' '
    printf "#!/bin/sh\nsleep 47 &\nsleep 47\n" >tree-cap && chmod +x tree-cap &&
    av-caption-feed --keep-going --caption-timeout 0.5 -j 3 -x ./tree-cap -o out5.avt clips.tsv 2>err;
    sleep 0.2; ! ps -eo args | grep -q "^sleep 47"
'
test_expect_success 'a captioner that exits leaving a child on its output is done' '
    printf "#!/bin/sh\necho \"left a child\"\nsleep 53 &\nexit 0\n" >bg-cap && chmod +x bg-cap &&
    timeout 30 av-caption-feed -x ./bg-cap -j 2 -o bg.avt clips.tsv &&
    test "$(av-tensor bg.avt | grep -c "caption=left a child")" = 3 &&
    sleep 0.2 && ! ps -eo args | grep -q "^sleep 53"
'
test_expect_code 1 'a captioner that prints binary junk is an error naming the clip' '
    printf "#!/bin/sh\nprintf \"ok \\\\377\\\\376\\\\000junk\"\n" >junk-cap && chmod +x junk-cap &&
    av-caption-feed -x ./junk-cap -o out6.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clip park.mp4#0-48: captioner output is not text: invalid UTF-8 or NUL at byte 3" err &&
    test ! -e out6.avt && exit $rc
'
test_expect_success '--replace-invalid turns the junk into U+FFFD' '
    av-caption-feed --replace-invalid -x ./junk-cap -o out7.avt clips.tsv &&
    av-tensor out7.avt | grep -q "caption=ok ���junk"
'
test_expect_success 'a captioner that prints only whitespace gives a missing caption' '
    printf "#!/bin/sh\ntest \$AVK_CLIP = park.mp4#0-48 && { echo; echo \"  \"; exit 0; }\necho fine\n" >ws-cap &&
    chmod +x ws-cap &&
    av-caption-feed -v -x ./ws-cap -o out8.avt clips.tsv 2>err &&
    grep -q "park.mp4#0-48: captioner printed nothing but whitespace" err &&
    test "$(av-tensor -c out8.avt)" = 2
'
test_expect_success 'a captioner that prints several MB on one line' '
    printf "#!/bin/sh\nhead -c 5000000 /dev/zero | tr \"\\\\0\" x\n" >big-cap && chmod +x big-cap &&
    av-caption-feed --no-bos-eos -x ./big-cap -j 2 -o out9.avt clips.tsv &&
    av-tensor out9.avt | grep -c "tokens i32 \[5000000\]" >n && test "$(cat n)" = 3
'
test_expect_code 1 'a captioner command that does not exist' '
    av-caption-feed -x ./no-such-captioner -o out10.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clip park.mp4#0-48: captioner exited with status 127" err && exit $rc
'
test_done
