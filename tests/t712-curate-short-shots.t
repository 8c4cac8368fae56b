#!/bin/sh
# av-shotcut then av-filter on real footage with short shots (8, 12 and 5
# frames between shots of 50): every boundary is cut, the short shots are
# dropped as short, and no kept clip contains a cut. With --min-shot 15
# (the old default) a short shot is merged into its neighbour and a kept
# clip spans a cut.
. "$(dirname "$0")/lib.sh"
. "$TESTS_DIR/real-media.sh"
for t in av-shotcut av-filter; do
    command -v $t >/dev/null || skip_all "$t not built"
done
CUTS=$REAL_SHORT_CUTS

test_expect_success 'a video of 7 real shots, three of them short' '
    v=$(real_short_shots) && ln -s "$v" shots.mp4
'
# cuts_inside CLIPS: "start-end cut" for every kept clip that spans a cut
cuts_inside() {
    awk -F"\t" -v cuts="$CUTS" "NR == 1 { for (i = 1; i <= NF; i++) c[\$i] = i; next }
        \$c[\"keep\"] == 1 { n = split(cuts, k, \" \");
            for (j = 1; j <= n; j++) if (k[j] > \$c[\"start_frame\"] && k[j] < \$c[\"end_frame\"])
                print \$c[\"start_frame\"] \"-\" \$c[\"end_frame\"], k[j] }" "$1"
}
test_expect_success 'av-shotcut cuts at every boundary' '
    av-shotcut shots.mp4 >shots.tsv &&
    test "$(awk -F"\t" "NR > 2 { printf \"%s \", \$4 }" shots.tsv)" = "$CUTS "
'
test_expect_success 'av-filter drops the short shots as short, and no kept clip contains a cut' '
    av-filter shots.tsv >clips.tsv && cut -f4,5,14- clips.tsv &&
    test "$(awk -F"\t" "NR > 1 && \$NF == \"short\"" clips.tsv | wc -l)" -eq 3 &&
    test "$(awk -F"\t" "NR > 1 && \$(NF - 1) == 1" clips.tsv | wc -l)" -ge 3 &&
    cuts_inside clips.tsv >inside && test ! -s inside
'
test_expect_success 'with --min-shot 15 a kept clip contains a cut' '
    av-shotcut --min-shot 15 shots.mp4 >merged.tsv &&
    av-filter merged.tsv >merged-clips.tsv && cut -f4,5,14- merged-clips.tsv &&
    cuts_inside merged-clips.tsv >inside15 && cat inside15 && test -s inside15
'
test_done
