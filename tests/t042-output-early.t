#!/bin/sh
# An output that cannot be created fails before the work (issue 12, item
# 5): no training, scoring or captioning that is thrown away at the end.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

test_expect_success 'setup: clips, a tiny config, a captioner that leaves a mark' '
    vae_tiny_config >tiny.json &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n" "$(vae_media wide)" >clips.tsv &&
    printf "#!/bin/sh\ntouch \"$PWD/ran\"\necho 5\n" >mark && chmod +x mark &&
    cf_manifest >cf.tsv
'
test_expect_code 1 'av-train -o missing_dir/m.safetensors fails at once, before training' '
    start=$(date +%s)
    timeout 60 av-train --model vae --config tiny.json --steps 100000 --crop 16 clips.tsv \
        -o missing_dir/m.safetensors 2>err; rc=$?; cat err
    grep -q "^av-train: missing_dir/m.safetensors: cannot create temporary file: No such file or directory\$" err &&
    test $(( $(date +%s) - start )) -lt 20 || exit 3
    exit $rc
'
test_expect_code 1 'av-filter fails on an unwritable output before scoring any clip' '
    rm -f ran
    av-filter --scores aesthetic --aesthetic-cmd "$PWD/mark" -o missing_dir/out.tsv clips.tsv 2>err
    rc=$?; cat err
    grep -q "missing_dir/out.tsv: cannot create" err && test ! -e ran || exit 3
    exit $rc
'
test_expect_code 1 'av-caption-feed --learn-vocab fails before running a captioner' '
    rm -f ran
    av-caption-feed --learn-vocab 300 -x "$PWD/mark" -o missing_dir/v.txt cf.tsv 2>err
    rc=$?; cat err
    grep -q "missing_dir/v.txt: cannot create" err && test ! -e ran || exit 3
    exit $rc
'
test_expect_code 1 'av-caption-feed --learn-vocab --corpus: the same before reading' '
    printf "a b c\n" >corpus.txt &&
    av-caption-feed --learn-vocab 300 --corpus corpus.txt -o missing_dir/v.txt 2>err
    rc=$?; cat err; grep -q "missing_dir/v.txt: cannot create" err || exit 3
    exit $rc
'
test_expect_code 1 'av-vaeenc -d -o missing_dir/x.mp4 fails before decoding' '
    vae_tiny_model vae.safetensors &&
    av-vaeenc -m vae.safetensors --base 32 clips.tsv -o lat.avt &&
    av-vaeenc -d -m vae.safetensors lat.avt -o missing_dir/x.mp4 2>err; rc=$?; cat err
    grep -q "missing_dir/x.mp4: cannot create" err || exit 3
    exit $rc
'
test_expect_code 1 'av-tensor -x -o into a missing directory' '
    avt_write_example -n 2 -e 8 -o s.avt &&
    av-tensor -x f32 -o missing_dir/x.npy s.avt 2>err; rc=$?; cat err
    grep -q "missing_dir/x.npy: cannot create" err || exit 3
    exit $rc
'
test_expect_success 'the checks leave no file behind' '
    test -z "$(ls -A | grep tmp)"
'
test_done
