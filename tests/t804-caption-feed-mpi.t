#!/bin/sh
# av-caption-feed under mpirun: captioner calls are dealt across ranks and
# the stream is byte-identical to one process's.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

command -v mpirun >/dev/null 2>&1 || skip_all "no mpirun"

{ cf_manifest; i=0; while [ $i -lt 12 ]; do
      printf 'more.mp4#%d-%d\tmore.mp4\t%d\t%d\t0\t1\t30\t320\t240\t%d\t0.1\t1\t\n' \
          $((i * 30)) $((i * 30 + 30)) $((i * 30)) $((i * 30 + 30)) $i
      i=$((i + 1)); done; } >clips.tsv
cf_captions_jsonl >caps.jsonl
cat >cap <<'SH'
#!/bin/sh
# which rank ran the call must not matter; the caption depends on the clip
sleep 0.0$(( $3 % 7 ))
echo "A clip of $1 from frame $2 to $3 at $4 fps (${AVK_CLIP})."
SH
chmod +x cap

test_expect_success 'one process, captioner' '
    av-caption-feed -x ./cap -j 2 -o one.avt clips.tsv &&
    test "$(av-tensor -c one.avt)" = 15
'
test_expect_success 'mpirun -np 2, captioner: the same bytes' '
    avk_mpirun 2 av-caption-feed -x ./cap -j 2 -o two.avt clips.tsv &&
    cmp one.avt two.avt
'
test_expect_success 'the calls really ran on both ranks' '
    cat >rank-cap <<-\SH &&
	#!/bin/sh
	echo "$OMPI_COMM_WORLD_RANK" >>ranks.log
	echo "caption of $AVK_CLIP"
	SH
    chmod +x rank-cap && rm -f ranks.log &&
    avk_mpirun 2 av-caption-feed -x ./rank-cap -o r.avt clips.tsv &&
    test "$(sort -u ranks.log | tr -d "\n")" = 01 &&
    test "$(wc -l <ranks.log)" = 15
'
test_expect_success 'mpirun -np 2, captions by id: the same bytes' '
    av-caption-feed -c caps.jsonl -o id1.avt clips.tsv 2>/dev/null &&
    avk_mpirun 2 av-caption-feed -c caps.jsonl -o id2.avt clips.tsv 2>/dev/null &&
    cmp id1.avt id2.avt
'
test_expect_code 1 'mpirun -np 2: a failing call on rank 1 is reported with its clip' '
    printf "#!/bin/sh\ntest \$AVK_CLIP = more.mp4#30-60 && exit 4\necho fine\n" >fail-cap &&
    chmod +x fail-cap &&
    avk_mpirun 2 av-caption-feed -x ./fail-cap -o bad.avt clips.tsv 2>err; rc=$?
    cat err; grep -q "clip more.mp4#30-60: captioner exited with status 4" err &&
    test ! -e bad.avt && exit $rc
'
test_expect_code 1 'mpirun -np 2: a manifest error ends every rank' '
    cut -f1-2 clips.tsv >broken.tsv &&
    avk_mpirun 2 av-caption-feed -x ./cap -o bad.avt broken.tsv 2>err; rc=$?
    cat err; grep -q "broken.tsv: missing column .start_frame." err && exit $rc
'
test_done
