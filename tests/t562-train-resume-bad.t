#!/bin/sh
# av-train --resume refuses what would not continue the run it names:
# another run's optimizer file, another seed, fewer steps than done, a step
# field that is not a number; weights without a config are not trained
# with a guessed one; an INT64_MAX end frame is an error, not an overflow.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/vae-media.sh"

TRAIN="av-train --model vae --config tiny.json --crop 16 --batch 2"
RESUME="av-train --model vae --crop 16 --batch 2"
test_expect_success 'setup: two runs of two steps with other seeds' '
    vae_tiny_config >"$TRASH/tiny.json" &&
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t20\t10\n" \
        "$(vae_media wide)" >"$TRASH/clips.tsv" &&
    (cd "$TRASH" && $TRAIN --seed 3 --steps 2 clips.tsv -o a.safetensors &&
     $TRAIN --seed 4 --steps 2 clips.tsv -o b.safetensors)
'
test_expect_code 1 'another run'\''s optimizer file of the same step is refused' '
    cp a.safetensors c.safetensors && cp b.optim.safetensors c.optim.safetensors &&
    $RESUME --steps 3 --resume c.safetensors clips.tsv -o x.safetensors 2>err; rc=$?
    test_grep "c.optim.safetensors: the optimizer state belongs to other weights" err &&
    test ! -e x.safetensors || exit 99; exit $rc
'
test_expect_code 1 'another --seed than the checkpoint'\''s is refused, nothing rewritten' '
    cp a.safetensors keep.safetensors && cp a.optim.safetensors keep.optim.safetensors &&
    $RESUME --seed 5 --steps 3 --resume a.safetensors clips.tsv -o a.safetensors 2>err; rc=$?
    test_grep "a.safetensors: trained with --seed 3, not 5" err &&
    cmp a.safetensors keep.safetensors && cmp a.optim.safetensors keep.optim.safetensors ||
    exit 99; exit $rc
'
test_expect_success 'without --seed a resumed run keeps the recorded seed' '
    $TRAIN --seed 3 --steps 3 clips.tsv -o full.safetensors &&
    $RESUME --steps 3 --resume a.safetensors clips.tsv -o r.safetensors &&
    cmp full.safetensors r.safetensors && cmp full.optim.safetensors r.optim.safetensors
'
test_expect_code 1 '--steps below the checkpoint'\''s step is refused' '
    $RESUME --steps 1 --resume a.safetensors clips.tsv -o x.safetensors 2>err; rc=$?
    test_grep "a.safetensors: --steps 1 is below the checkpoint.s step 2" err &&
    test ! -e x.safetensors || exit 99; exit $rc
'
# rewrite SRC DST PYEXPR: copy a safetensors file with its header JSON h
# changed by a Python statement.
rewrite() {
    "$PYTHON" - "$1" "$2" "$3" <<-\PY
	import json, struct, sys
	raw = open(sys.argv[1], "rb").read()
	n = struct.unpack("<Q", raw[:8])[0]
	h = json.loads(raw[8:8 + n])
	exec(sys.argv[3])
	hb = json.dumps(h).encode()
	hb += b" " * (-len(hb) % 8)
	open(sys.argv[2], "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
	PY
}
test_expect_code 1 'a step field that is not a number is refused' '
    test -n "$PYTHON" || { echo "no python with numpy"; exit 1; }
    rewrite a.safetensors s.safetensors "h[\"__metadata__\"][\"step\"] = \"2x\"" &&
    cp a.optim.safetensors s.optim.safetensors &&
    $RESUME --steps 3 --resume s.safetensors clips.tsv -o x.safetensors 2>err; rc=$?
    test_grep "s.safetensors: metadata \"step\" is \"2x\", not a non-negative integer" err &&
    test ! -e x.safetensors || exit 99; exit $rc
'
test_expect_code 1 'weights without metadata need --config' '
    test -n "$PYTHON" || { echo "no python with numpy"; exit 1; }
    rewrite a.safetensors bare.safetensors "del h[\"__metadata__\"]" &&
    av-train --model vae --crop 16 --steps 3 --init bare.safetensors clips.tsv \
        -o x.safetensors 2>err; rc=$?
    test_grep "bare.safetensors: no \"config\" metadata: give the model.s configuration" err &&
    test ! -e x.safetensors || exit 99; exit $rc
'
test_expect_success '... and train with it given' '
    $TRAIN --steps 1 --init bare.safetensors clips.tsv -o y.safetensors
'
test_expect_code 1 'an end frame of INT64_MAX is named, no overflow' '
    printf "video\tstart_frame\tend_frame\tfps\n%s\t0\t9223372036854775807\t10\n" \
        "$(vae_media wide)" >big.tsv &&
    $TRAIN --steps 1 big.tsv -o big.safetensors 2>err; rc=$?
    test_grep "frame [0-9]*: beyond the end of the video" err && test ! -e big.safetensors ||
    exit 99; exit $rc
'
test_done
