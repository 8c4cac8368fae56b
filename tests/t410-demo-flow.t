#!/bin/sh
# The demo flow at a tiny size: examples/Makefile runs gen-shapes,
# av-shotcut, av-filter, av-caption-feed, av-train (VAE), av-vaeenc,
# av-train (DiT), av-sample and avk-eval, each stage as far as its tool is
# built. Then the curation tools on gen-footage's example footage:
# av-shotcut finds every shot boundary of the ground truth (within one
# frame), and av-filter's decisions follow it: the 8-frame shot is dropped
# as short, static shots as static, subtitled shots as text, the logo shot
# as watermark, the slow drift shot as low-motion, and every other moving
# shot is kept.
. "$(dirname "$0")/lib.sh"
for t in av-shotcut av-filter av-caption-feed gen-shapes gen-footage; do
    command -v $t >/dev/null || skip_all "$t not built"
done

# boundaries MANIFEST: "video frame" for every shot start after frame 0 (the
# video by file name), from truth.tsv (columns video, start) or a manifest
# (columns video, start_frame).
boundaries() {
    awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i;
                          s = ("start" in c) ? c["start"] : c["start_frame"]; next }
                $s > 0 { v = $c["video"]; sub(/.*\//, "", v); print v, $s }' "$1"
}

# near A B: every line "video frame" of A has one in B within one frame, and
# both have as many lines.
near() {
    test "$(wc -l <"$1")" -eq "$(wc -l <"$2")" &&
    awk 'NR == FNR { n[$1] = n[$1] " " $2; next }
        { ok = 0; k = split(n[$1], f, " ");
          for (i = 1; i <= k; i++) if (f[i] - $2 <= 1 && $2 - f[i] <= 1) ok = 1;
          if (!ok) { print "no boundary near " $1 " " $2; bad = 1 } }
        END { exit bad }' "$2" "$1"
}

# The tiny demo: 16 shots of 32x32 pixels and 16 frames, 2 training steps
# of each model, 2 sampling steps.
test_expect_success 'the demo Makefile runs the flow at a tiny size' '
    make --no-print-directory -f "$SRC_DIR/examples/Makefile" \
        AVKIT_BUILD="$AVKIT_BUILD" SHOTS=16 SIZE=32 FRAMES=16 VAE_STEPS=2 \
        DIT_STEPS=2 DIT_BATCH=4 SAMPLE_STEPS=2 >make.out 2>make.err ||
        { cat make.out make.err; exit 1; } &&
    cat make.out &&
    test -s out/raw/truth.tsv && test -s out/vocab.txt && test -s out/clips.avt &&
    test "$(wc -l <out/raw/heldout.txt)" -eq 24
'

test_expect_success 'the demo keeps every shot, and every clip has a record' '
    kept=$(awk -F"\t" "NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i; next }
        \$c[\"keep\"] == 1 { n++ } END { print n + 0 }" out/clips.tsv) &&
    recs=$(av-tensor out/clips.avt | grep -c "^record") &&
    echo "kept $kept records $recs" &&
    test "$kept" -eq 16 && test "$recs" -eq 16
'

if test -x "$AVKIT_BUILD/bin/av-vaeenc"; then
    test_expect_success 'the latents: one record a clip, 16 channels of 4x4' '
        test "$(av-tensor -c out/latents.avt)" = "$(av-tensor -c out/clips.avt)" &&
        av-tensor out/latents.avt | grep "tensor latent" | head -1 | grep "\[16,16,4,4\]"
    '
else
    test_skip 'the latents' 'av-vaeenc not built'
fi

if test -s out/dit.safetensors; then
    test_expect_success 'the DiT: a checkpoint and its log of 2 steps' '
        test "$(sed 1d out/dit-log.csv | wc -l)" -eq 2
    '
else
    test_skip 'the DiT' 'av-train --model dit did not run'
fi

if test -x "$AVKIT_BUILD/bin/av-sample"; then
    test_expect_success 'av-sample: a video a held-out prompt, a contact sheet, the accuracy' '
        test "$(ls out/samples/sample-*.mp4 | wc -l)" -eq 24 && test -s out/sheet.png &&
        test "$(sed 1d out/eval.tsv | wc -l)" -eq 24 &&
        cut -f1 out/accuracy.tsv | tr "\n" " " | grep -x "attribute color shape direction joint "
    '
else
    test_skip 'av-sample, the contact sheet and the accuracy' 'av-sample not built yet'
fi

test_expect_success 'a second run of the demo redoes nothing' '
    make --no-print-directory -f "$SRC_DIR/examples/Makefile" \
        AVKIT_BUILD="$AVKIT_BUILD" SHOTS=16 SIZE=32 FRAMES=16 VAE_STEPS=2 \
        DIT_STEPS=2 DIT_BATCH=4 SAMPLE_STEPS=2 >again.out 2>&1 &&
    cat again.out && ! grep "av-train\|gen-shapes\|av-shotcut" again.out
'

# The longer recipe at a tiny size: its own out-model/, the joint-attention
# DiT with shift 3 (both in the checkpoint's metadata), a checkpoint every
# MODEL_KEEP steps and the accuracy curve over them.
if test -x "$AVKIT_BUILD/bin/av-sample"; then
    test_expect_success 'make model: out-model/, joint attention, shift 3, its curve' '
        make --no-print-directory -f "$SRC_DIR/examples/Makefile" \
            AVKIT_BUILD="$AVKIT_BUILD" SIZE=32 FRAMES=16 DIT_BATCH=4 SAMPLE_STEPS=2 \
            MODEL_SHOTS=16 MODEL_VAE_STEPS=2 MODEL_STEPS=4 MODEL_KEEP=2 model \
            >model.out 2>model.err || { cat model.out model.err; exit 1; } &&
        head -c 4096 out-model/dit.safetensors | grep -a "attention[^,]*joint" >/dev/null &&
        head -c 4096 out-model/dit.safetensors | grep -a "\"shift\":\"3\"" >/dev/null &&
        cut -f1 out-model/curve.tsv | tr "\n" " " | grep -x "step 2 4 " &&
        test -s out-model/curve.png && test -s out-model/sheet.png &&
        test "$(sed 1d out-model/dit-log.csv | wc -l)" -eq 4
    '
else
    test_skip 'make model' 'av-sample not built yet'
fi

test_expect_success 'gen-footage renders the example footage' '
    mkdir raw && gen-footage -o raw && av-shotcut raw/video*.mp4 >shots.tsv
'

test_expect_success 'av-shotcut --min-shot 8: every truth boundary, within one frame' '
    av-shotcut --min-shot 8 raw/video*.mp4 >shots8.tsv &&
    boundaries raw/truth.tsv >truth.b && boundaries shots8.tsv >found.b &&
    paste -d" " truth.b found.b &&
    near truth.b found.b
'

test_expect_success 'av-shotcut by default: every truth boundary, the 8-frame shot too' '
    boundaries shots.tsv >found.default.b &&
    near truth.b found.default.b
'

test_expect_success 'av-filter on the shots: each clip is decided as its truth says' '
    av-filter shots8.tsv >clips8.tsv 2>filter.err &&
    { test ! -s filter.err || { cat filter.err; false; }; } &&
    awk -F"\t" "
        NR == FNR { if (FNR > 1) { n++; tv[n] = \$1; ts[n] = \$3; te[n] = \$4;
                        st[n] = \$8; tx[n] = \$9; wm[n] = \$10; pan[n] = \$19 } next }
        FNR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i; next }
        {
            v = \$c[\"video\"]; sub(/.*\\//, \"\", v);
            mid = int((\$c[\"start_frame\"] + \$c[\"end_frame\"]) / 2);
            for (k = 1; k <= n; k++) if (tv[k] == v && ts[k] <= mid && mid < te[k]) break;
            len = \$c[\"end_frame\"] - \$c[\"start_frame\"];
            want = len < 15 ? \"short\" : st[k] ? \"static\" : pan[k] < 2 ? \"low-motion\" : tx[k] ? \"text\" : wm[k] ? \"watermark\" : \"-\";
            got = \$c[\"reason\"];
            printf \"%s %d-%d truth line %d: want %s got %s\n\", v, \$c[\"start_frame\"], \$c[\"end_frame\"], k + 1, want, got;
            if (got != want || (\$c[\"keep\"] == 1) != (want == \"-\")) bad = 1;
            seen++
        } END { exit bad || seen != n }" raw/truth.tsv clips8.tsv
'

test_done
