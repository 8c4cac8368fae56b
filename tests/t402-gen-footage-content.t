#!/bin/sh
# The example footage really has what its ground truth says: the frame
# counts, sizes and rate; shots that tile each video; a fade through black;
# a flash; static shots; abrupt cuts and a gradual dissolve; subtitles in
# the bottom band and a logo in the corner exactly on the shots marked so.
. "$(dirname "$0")/lib.sh"
command -v ffprobe >/dev/null 2>&1 || skip_all "ffprobe is not installed"

# stats VIDEO OUT: "frame yavg ydif" per frame (signalstats: mean luma and
# mean absolute luma difference to the previous frame).
stats() {
    ffmpeg -nostdin -loglevel error -i "$1" \
        -vf "signalstats,metadata=print:file=$2.raw" -f null - &&
    awk '/^frame:/ { split($1, a, ":"); f = a[2] }
         /YAVG=/ { split($0, b, "="); y[f] = b[2] }
         /YDIF=/ { split($0, b, "="); d[f] = b[2] }
         END { for (i = 0; i in y; i++) print i, y[i], d[i] }' "$2.raw" >"$2"
}

# region_mse A B CROP OUT: "frame mse" per frame between two videos inside
# the crop rectangle (w:h:x:y).
region_mse() {
    ffmpeg -nostdin -loglevel error -i "$1" -i "$2" -lavfi \
        "[0:v]crop=$3[a];[1:v]crop=$3[b];[a][b]psnr=stats_file=$4.raw" -f null - &&
    awk '{ split($1, n, ":"); split($2, m, ":"); print n[2] - 1, m[2] }' "$4.raw" >"$4"
}

# per_frame_flag VIDEO COLUMN: "frame flag" from truth.tsv's COLUMN.
per_frame_flag() {
    awk -F'\t' -v v="$1" -v c="$2" '$1 == v { for (f = $3; f < $4; f++) print f, $c }' f/truth.tsv
}

test_expect_success 'setup: the default footage, and the same without overlays' '
    gen-footage --checksums sums.tsv -o f &&
    gen-footage --no-text --no-watermark -o p &&
    for v in 1 2 3; do
        stats f/video$v.mp4 f$v.st && stats p/video$v.mp4 p$v.st || return 1
    done
'

test_expect_success 'videos decode with the frame count, size and rate of the truth' '
    for v in 1 2 3; do
        n=$(awk -F"\t" -v v=video$v.mp4 "\$1 == v { e = \$4 } END { print e }" f/truth.tsv) &&
        ffprobe -v error -count_frames -select_streams v:0 \
            -show_entries stream=codec_name,width,height,r_frame_rate,nb_read_frames \
            -of default=nw=1 f/video$v.mp4 >probe &&
        printf "codec_name=h264\nwidth=480\nheight=270\nr_frame_rate=25/1\nnb_read_frames=%s\n" "$n" >expect &&
        test_cmp expect probe || return 1
    done
'

test_expect_success 'the shots of each video tile its frames exactly' '
    awk -F"\t" "NR > 1 {
            if (\$1 != v) { v = \$1; e = 0; k = 0 }
            if (\$2 != k || \$3 != e || \$4 <= \$3) { print \"line \" NR \" does not tile\"; bad = 1 }
            k++; e = \$4; last[v] = e
        } END { for (v in last) print v, last[v] > \"ends\"; exit bad }" f/truth.tsv &&
    sed 1d sums.tsv | cut -f1 | uniq -c | awk "{ print \$2, \$1 }" | sort >counted &&
    sort ends >ends.sorted &&
    test_cmp ends.sorted counted
'

test_expect_success 'the script has every feature the tools are tested on' '
    awk -F"\t" "NR > 1 {
            tr[\$5]++; st += \$8; tx += \$9; wm += \$10; fl += (\$11 >= 0);
            if (\$4 - \$3 < 15) short++; tex[\$18]++
        } END {
            print tr[\"fade\"], tr[\"dissolve\"], (tr[\"cut\"] >= 8), (st >= 2), (tx >= 2), wm, fl, short, (tex[\"plain\"] > 0), (tex[\"textured\"] > 0)
        }" f/truth.tsv >features &&
    echo "1 1 1 1 1 1 1 1 1 1" >expect &&
    test_cmp expect features
'

test_expect_success 'captions match the truth: same shots, times, words; TSV and JSONL agree' '
    sed 1d f/captions.tsv >cap &&
    awk -F"\t" "NR == FNR { if (FNR > 1) t[FNR - 1] = \$0; next }
        {
            split(t[FNR], s, \"\t\");
            if (\$1 != s[1] || int(\$2 * 25 + 0.5) != s[3] || int(\$3 * 25 + 0.5) != s[4]) { print \"times: \" \$0; bad = 1 }
            if (index(\$4, s[14] \" \" s[13]) == 0 || index(\$4, s[17]) == 0) { print \"words: \" \$0; bad = 1 }
            if ((s[8] == 1) != (index(\$4, \"a still \") == 1)) { print \"still: \" \$0; bad = 1 }
        } END { exit bad }" f/truth.tsv cap &&
    sed -E "s/^\\{\"video\":\"([^\"]*)\",\"start\":([0-9.]+),\"end\":([0-9.]+),\"caption\":\"([^\"]*)\"\\}\$/\\1\t\\2\t\\3\t\\4/" \
        f/captions.jsonl >jsonl.tsv &&
    test_cmp cap jsonl.tsv
'

if command -v python3 >/dev/null 2>&1; then
test_expect_success 'captions.jsonl is valid JSON with the four fields' '
    python3 -c "
import json, sys
for n, line in enumerate(open(\"f/captions.jsonl\"), 1):
    r = json.loads(line)
    assert sorted(r) == [\"caption\", \"end\", \"start\", \"video\"], n
    assert isinstance(r[\"start\"], float) and r[\"end\"] > r[\"start\"], n
"
'
else
    test_skip 'captions.jsonl is valid JSON with the four fields' 'no python3'
fi

test_expect_success 'mean luma drops to black in the middle of the fade, not before or after' '
    awk -F"\t" "\$5 == \"fade\" { print \$1, \$3, \$6, \$7 }" f/truth.tsv >fade &&
    read v s a b <fade && n=${v#video} && n=${n%.mp4} &&
    awk -v s=$s -v a=$a -v b=$b "{ y[\$1] = \$2 } END {
            printf \"before %.1f boundary %.1f %.1f after %.1f\n\", y[a - 1], y[s - 1], y[s], y[b];
            exit !(y[s - 1] <= 18 && y[s] <= 18 && y[a - 1] >= 40 && y[b] >= 40)
        }" f$n.st
'

test_expect_success 'the flash frame is much brighter than the frames around it' '
    awk -F"\t" "NR > 1 && \$11 >= 0 { print \$1, \$11, \$12 }" f/truth.tsv >flash &&
    read v a b <flash && n=${v#video} && n=${n%.mp4} &&
    awk -v a=$a -v b=$b "{ y[\$1] = \$2 } END {
            printf \"before %.1f flash %.1f after %.1f\n\", y[a - 1], y[a], y[b];
            exit !(y[a] >= y[a - 1] + 60 && y[a] >= y[b] + 60 && y[b] - y[a - 1] < 5 && y[a - 1] - y[b] < 5)
        }" f$n.st
'

test_expect_success 'static shots repeat one frame exactly, moving shots never repeat one' '
    awk -F"\t" "NR == FNR { if (FNR > 1) for (f = \$3; f < \$4; f++) still[\$1, f] = \$8; next }
        FNR == 1 { while ((getline l < \"f/truth.tsv\") > 0) { split(l, t, \"\t\");
                       for (f = t[6]; f < t[7]; f++) delete still[t[1], f] } }
        FNR > 1 {
            if (\$1 == pv && (\$1, \$2) in still && (\$1, \$2 - 1) in still) {
                same = \$3 == pc; pair++;
                if (still[\$1, \$2] && still[\$1, \$2 - 1] && !same) { print \"static frame changes: \" \$0; bad = 1 }
                if (!still[\$1, \$2] && !still[\$1, \$2 - 1] && same) { print \"moving frame repeats: \" \$0; bad = 1 }
            }
            pv = \$1; pc = \$3
        } END { exit bad || pair < 900 }" f/truth.tsv sums.tsv
'

test_expect_success 'static shots stay still in the mp4 (mean absolute luma change under 1.5)' '
    for v in 1 2 3; do
        per_frame_flag video$v.mp4 8 >still$v &&
        awk "NR == FNR { s[\$1] = \$2; next }
            s[\$1] == 1 && s[\$1 - 1] == 1 && \$3 >= 1.5 { print \"frame \" \$1 \": \" \$3; bad = 1 }
            END { exit bad }" still$v f$v.st || return 1
    done
'

test_expect_success 'cuts are abrupt and the dissolve gradual (luma change per frame)' '
    awk -F"\t" "\$5 == \"dissolve\" { print \$1, \$6, \$7 }" f/truth.tsv >dis &&
    read v a b <dis && n=${v#video} && n=${n%.mp4} &&
    dmax=$(awk -v a=$a -v b=$b "\$1 >= a && \$1 <= b && \$3 > m { m = \$3 } END { print m }" p$n.st) &&
    for cut in $(awk -F"\t" "\$5 == \"cut\" { sub(/video/, \"\", \$1); sub(/\\.mp4/, \"\", \$1); print \$1 \":\" \$3 }" f/truth.tsv); do
        c=$(awk -v f=${cut#*:} "\$1 == f { print \$3 }" p${cut%%:*}.st) &&
        echo "cut $cut: $c, dissolve max $dmax" &&
        awk -v c=$c -v d=$dmax "BEGIN { exit !(c > 3 * d) }" || return 1
    done
'

test_expect_success 'subtitles fill the bottom band on text shots and only there' '
    for v in 1 2 3; do
        region_mse f/video$v.mp4 p/video$v.mp4 480:68:0:202 band$v &&
        per_frame_flag video$v.mp4 9 >text$v &&
        awk "NR == FNR { t[\$1] = \$2; next }
            (t[\$1] == 1 && \$2 < 100) || (t[\$1] == 0 && \$2 > 20) { print \"frame \" \$1 \" text \" t[\$1] \" mse \" \$2; bad = 1 }
            END { exit bad }" text$v band$v || return 1
    done
'

test_expect_success 'the logo covers the top-right corner on the watermark shot and only there' '
    for v in 1 2 3; do
        region_mse f/video$v.mp4 p/video$v.mp4 63:33:408:9 corner$v &&
        per_frame_flag video$v.mp4 10 >wm$v &&
        awk "NR == FNR { w[\$1] = \$2; next }
            (w[\$1] == 1 && \$2 < 100) || (w[\$1] == 0 && \$2 > 20) { print \"frame \" \$1 \" logo \" w[\$1] \" mse \" \$2; bad = 1 }
            END { exit bad }" wm$v corner$v || return 1
    done
'

test_done
