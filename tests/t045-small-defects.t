#!/bin/sh
# The smaller defects of issue 12 (item 8): short scalar names in a packed
# record, a directory given as a manifest, unknown options, --help and
# --version onto a full device, and one name for the standard output in
# every tool's messages.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

TOOLS="av-shotcut av-filter av-caption-feed av-train av-vaeenc av-tensor"

# scalar_npy FILE: a .npy holding the f32 scalar 3.5.
scalar_npy() {
    h="{'descr': '<f4', 'fortran_order': False, 'shape': (), }"
    n=$((128 - 10 - ${#h} - 1))
    { printf '\223NUMPY\001\000\166\000%s%*s\n' "$h" $n ""; printf '\000\000\140\100'; } >"$1"
}

for name in a ab abc; do
    test_expect_success "--pack: a record whose only tensor is a scalar named '$name' reads back" "
        scalar_npy s.npy && av-tensor --pack -o p.avt $name=s.npy &&
        av-tensor --check p.avt && test \"\$(av-tensor -c <p.avt)\" = 1 &&
        av-tensor p.avt | grep -q '^  tensor $name f32 \[\] min=3.5 max=3.5'
    "
done
test_expect_success 'the same with an empty key and the tensor read by -x' '
    av-tensor --pack -o p.avt x=s.npy && av-tensor -x x -o back.npy p.avt && cmp s.npy back.npy
'

for t in $TOOLS; do
    test_expect_code 1 "$t --help > /dev/full fails and says why" "
        $t --help >/dev/full 2>err; rc=\$?; cat err
        grep -q '^$t: standard output: write error: No space left on device\$' err || exit 3
        exit \$rc
    "
    test_expect_code 1 "$t --version > /dev/full fails too" "
        $t --version >/dev/full 2>/dev/null
    "
    test_expect_code 2 "$t: an unknown option says what and points to --help" "
        $t --bogus </dev/null 2>err; rc=\$?; cat err
        test \$(wc -l <err) -eq 2 && grep -q \"^$t: unrecognized option '--bogus'\$\" err &&
        tail -n 1 err | grep -q \"^Try '$t --help' for more information.\$\" || exit 3
        exit \$rc
    "
    test_expect_code 2 "$t: an unknown short option too" "
        $t -Z </dev/null 2>err; rc=\$?; cat err
        test \$(wc -l <err) -eq 2 &&
        tail -n 1 err | grep -q \"^Try '$t --help' for more information.\$\" || exit 3
        exit \$rc
    "
done

test_expect_success 'setup: a stream, clips, a tiny model' '
    avt_write_example -n 3 -e 8 -o s.avt && mkdir adir &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n" "$(vae_media wide)" >clips.tsv &&
    vae_tiny_model vae.safetensors && cf_manifest >cf.tsv && cf_captions_jsonl >caps.jsonl
'
test_expect_code 1 'av-filter: a directory as the manifest says so' '
    av-filter adir 2>err; rc=$?; cat err
    grep -q "^av-filter: adir: is a directory\$" err || exit 3; exit $rc
'
test_expect_code 1 'av-caption-feed: a directory as the manifest says so' '
    av-caption-feed -c caps.jsonl -o o.avt adir 2>err; rc=$?; cat err
    grep -q "^av-caption-feed: adir: is a directory\$" err || exit 3; exit $rc
'
test_expect_code 1 'av-caption-feed: a directory as the captions says so' '
    av-caption-feed -c adir -o o.avt cf.tsv 2>err; rc=$?; cat err
    grep -q "adir: is a directory" err || exit 3; exit $rc
'
test_expect_code 1 'av-vaeenc: a directory as the input says so' '
    av-vaeenc -m vae.safetensors -o o.avt adir 2>err; rc=$?; cat err
    grep -q "adir: is a directory" err || exit 3; exit $rc
'

# Every tool writing to a full standard output names it "standard output".
cat >cmds <<'EOF2'
av-tensor s.avt
av-tensor --cat s.avt
av-tensor -x f32 s.avt
av-filter --scores static clips.tsv
av-shotcut @WIDE@
av-caption-feed -c caps.jsonl cf.tsv
av-vaeenc -m vae.safetensors --base 32 clips.tsv
EOF2
n=$(wc -l <cmds)
i=1
while [ $i -le $n ]; do
    cmd=$(sed -n "${i}p" cmds)
    tool=${cmd%% *}
    test_expect_code 1 "$cmd > /dev/full: 'standard output' in the message" "
        $(echo "$cmd" | sed "s|@WIDE@|$(vae_media wide)|") </dev/null >/dev/full 2>err; rc=\$?; cat err
        grep -q '^$tool: standard output: write error: No space left on device\$' err || exit 3
        ! grep -q 'stdout\|^$tool: -:' err || exit 3
        exit \$rc
    "
    i=$((i + 1))
done
test_done
