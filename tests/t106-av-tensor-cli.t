#!/bin/sh
# av-tensor's modes: count (index or reading), -r by seeking, --check,
# -x/--npy, quiet SIGPIPE, refusing a terminal, usage errors.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup' '
    avt_write_example -n 20 -e 64 -o s.avt
'
test_expect_success '-c counts from the index, and by reading a pipe' '
    test "$(av-tensor -c s.avt)" = 20 && test "$(av-tensor -c <s.avt)" = 20 &&
    test "$(cat s.avt | av-tensor --count -)" = 20
'
test_expect_success '-c with several files names each' '
    av-tensor -c s.avt s.avt >out && test "$(cat out)" = "20 s.avt
20 s.avt"
'
test_expect_success '-r N prints the same record as reading everything' '
    av-tensor s.avt >all && av-tensor -r 13 s.avt >r13 &&
    awk "/^record 13 /{p=1;print;next} /^record/{p=0} p" all >want && test_cmp want r13
'
test_expect_success '-r N on a pipe reads up to it' '
    cat s.avt | av-tensor -r 13 >r13p && test_cmp r13 r13p
'
test_expect_success '-r seeks: it reads record 19 of a file damaged in an earlier record' '
    cp s.avt d.avt && printf X | dd of=d.avt bs=1 seek=1500 conv=notrunc 2>/dev/null &&
    ! av-tensor --check d.avt 2>/dev/null && av-tensor -r 19 d.avt | grep -q "^record 19 "
'
test_expect_code 1 '-r past the end is an error naming the file' '
    av-tensor -r 20 s.avt 2>err; rc=$?; grep -q "s.avt: record 20 does not exist" err; exit $rc
'
test_expect_success '--check is quiet on a good stream' '
    av-tensor --check s.avt >out 2>err && test ! -s out && test ! -s err
'
test_expect_success '-x writes one tensor as .npy (magic, version 1.0, 64-byte header)' '
    av-tensor -r 2 -x f32 -o f.npy s.avt &&
    head -c 8 f.npy | od -An -c | grep -q "N   U   M   P   Y" &&
    test $(( ($(wc -c <f.npy) - 64 * 4) % 64 )) -eq 0 &&
    head -c 128 f.npy | tr -d "\000-\011" | grep -q "fortran_order.: False, .shape.: (2, 32)"
'
test_expect_success '-x of a missing tensor names it' '
    ! av-tensor -x nope -o n.npy s.avt 2>err && grep -q "record 0 has no tensor .nope." err && test ! -e n.npy
'
test_expect_success '--npy refuses several records without -r' '
    mkdir d && ! av-tensor --npy d s.avt 2>err && grep -q "choose it with -r" err
'
test_expect_success 'SIGPIPE: av-tensor big | head -1 exits quietly' '
    avt_write_example -n 3000 -e 8 -o big.avt &&
    { av-tensor big.avt 2>err; echo $? >rc; } | head -1 >first &&
    test "$(cat first)" = "record 0 key=rec0000" && test ! -s err &&
    test "$(cat rc)" -le 1
'
test_expect_success 'writing a stream to a terminal is refused' '
    if command -v script >/dev/null; then
        script -qec "av-tensor --cat s.avt" /dev/null >out 2>&1; rc=$?
        test $rc -eq 1 && grep -q "refusing to write binary data to a terminal" out
    else
        echo "no script(1); checking the error path by its message" &&
        grep -q "refusing to write binary" "$SRC_DIR/lib/common.c"
    fi
'
test_expect_code 2 'modes are exclusive' 'av-tensor -c --check s.avt'
test_expect_code 2 '-z without --cat or --pack is a usage error' 'av-tensor -z s.avt'
test_expect_code 2 '--pack with a bad NAME=FILE is a usage error' 'av-tensor --pack foo -o x.avt'
test_expect_code 2 '-r takes a number' 'av-tensor -r x s.avt'
test_done
