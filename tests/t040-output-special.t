#!/bin/sh
# -o onto something that is not a plain new file (issue 12, item 1): a
# FIFO is written in place (its reader gets the bytes), a symbolic link is
# followed (the file it names is replaced, the link stays), a character
# device stays a device (written in place), /dev/full reports ENOSPC.
# Every tool that takes -o, and av-vaeenc -d's mp4.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"
. "$TESTS_DIR/lib-captionfeed.sh"

test_expect_success 'setup: inputs for every tool' '
    avt_write_example -n 4 -e 16 -o s.avt &&
    av-tensor -r 1 -x f32 -o f32.npy s.avt &&
    vae_tiny_model vae.safetensors &&
    wide=$(vae_media wide) &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n" "$wide" >clips.tsv &&
    av-vaeenc -m vae.safetensors --base 32 clips.tsv -o lat.avt &&
    cf_manifest >cf.tsv && cf_captions_jsonl >caps.jsonl &&
    printf "a cat\nthe cat sat\na dog ran\n" >corpus.txt
'

# The commands, one a line: NAME<TAB>command with @OUT@ for the output.
cat >cmds <<'EOF'
tensor-cat	av-tensor --cat -o @OUT@ s.avt
tensor-pack	av-tensor --pack -k k -o @OUT@ x=f32.npy
tensor-npy	av-tensor -r 1 -x f32 -o @OUT@ s.avt
filter	av-filter --scores static -o @OUT@ clips.tsv
shotcut	av-shotcut -o @OUT@ @WIDE@
caption-feed	av-caption-feed -c caps.jsonl -o @OUT@ cf.tsv
caption-vocab	av-caption-feed --learn-vocab 300 --corpus corpus.txt -o @OUT@
vaeenc	av-vaeenc -m vae.safetensors --base 32 -o @OUT@ clips.tsv
EOF

# run_cmd NAME OUT: run the command NAME with its output at OUT.
run_cmd() {
    line=$(grep "^$1	" cmds | cut -f2-)
    line=$(printf '%s\n' "$line" | sed "s|@OUT@|$2|; s|@WIDE@|$(vae_media wide)|")
    eval "$line"
}

test_expect_success 'reference outputs as plain files' '
    for n in $(cut -f1 cmds); do run_cmd $n ref.$n || exit 1; done
'

for n in $(cut -f1 cmds); do
    test_expect_success "$n: -o FIFO gives its reader the bytes, the FIFO stays" "
        rm -f ff got && mkfifo ff &&
        { cat ff >got & } && reader=\$! && sleep 0.2 &&
        run_cmd $n ff; rc=\$?
        if test -p ff; then wait \$reader; else kill \$reader; fi
        test \$rc -eq 0 && test -p ff && cmp ref.$n got
    "
    test_expect_success "$n: -o LINK replaces the file it names, the link stays" "
        rm -rf sub link && mkdir sub && ln -s sub/real.out link &&
        run_cmd $n link && test -L link && test -f sub/real.out &&
        cmp ref.$n sub/real.out &&
        test -z \"\$(ls -A sub | grep -v \"^real.out\$\")\" &&
        test -z \"\$(ls -A | grep \"^\\.link\")\"
    "
done

# Character devices of our own (copies of /dev/null and /dev/full), so that
# a tool that still replaced devices would not break the machine's: the
# real ones are only tried once the copies have stayed devices.
if mknod nulldev c 1 3 2>/dev/null && mknod fulldev c 1 7 2>/dev/null; then
    for n in $(cut -f1 cmds); do
        test_expect_success "$n: -o onto a character device writes it in place" "
            run_cmd $n nulldev && test -c nulldev
        "
        test_expect_code 1 "$n: -o onto a full device fails with ENOSPC" "
            run_cmd $n fulldev 2>err; rc=\$?; cat err
            test -c fulldev && grep -q \"fulldev: .*No space left on device\" err || exit 3
            exit \$rc
        "
    done
    test_expect_code 1 'av-train: a checkpoint onto a device is refused, the device stays' '
        av-train --model vae --config tiny.json --steps 0 --crop 16 clips.tsv -o nulldev 2>err
        rc=$?; cat err
        test -c nulldev && grep -q "nulldev: not a regular file" err || exit 3
        exit $rc
    '
    test_expect_success '-o /dev/null stays the character device' '
        test -c nulldev && av-tensor --cat -o /dev/null s.avt && test -c /dev/null &&
        av-filter --scores static -o /dev/null clips.tsv && test -c /dev/null
    '
    test_expect_code 1 '-o /dev/full: exit 1, "No space left on device", still a device' '
        test -c fulldev || exit 3
        av-tensor --cat -o /dev/full s.avt 2>err; rc=$?; cat err
        test -c /dev/full && grep -q "^av-tensor: /dev/full: write error: No space left on device\$" err ||
        exit 3
        exit $rc
    '
else
    test_skip 'writes onto character devices' 'mknod not permitted'
fi

test_expect_success 'a dangling link is created through, relative to the link' '
    rm -rf sub && mkdir sub && ln -s new.avt sub/dl &&
    av-tensor --cat -o sub/dl s.avt && test -L sub/dl && cmp s.avt sub/new.avt
'
test_expect_success 'a chain of links ends at the last file' '
    rm -rf sub && mkdir sub && ln -s sub/l2 l1 && ln -s end.avt sub/l2 &&
    av-tensor --cat -o l1 s.avt && test -L l1 && test -L sub/l2 && cmp s.avt sub/end.avt
'
test_expect_code 1 '-o a directory is an error naming it' '
    mkdir -p adir && av-tensor --cat -o adir s.avt 2>err; rc=$?; cat err
    grep -q "^av-tensor: adir: is a directory\$" err || exit 3
    exit $rc
'
test_expect_success 'av-vaeenc -d: an mp4 through a link' '
    rm -rf sub && mkdir sub && ln -s sub/real.mp4 link.mp4 &&
    av-vaeenc -d -m vae.safetensors lat.avt -o link.mp4 && test -L link.mp4 &&
    test -s sub/real.mp4 && test "$(ls -A sub)" = real.mp4
'
test_expect_success 'av-train: a checkpoint through a link' '
    rm -rf sub && mkdir sub && ln -s sub/m.safetensors m.safetensors &&
    av-train --model vae --config tiny.json --seed 1 --steps 0 --crop 16 clips.tsv \
        -o m.safetensors && test -L m.safetensors && cmp vae.safetensors sub/m.safetensors
'
test_done
