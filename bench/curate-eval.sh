#!/bin/sh
# Precision and recall of each av-filter rule on the real-footage set
# (tests/real-media.sh, labels in tests/real/labels.tsv): every clip is
# scored with all rules at their defaults, and a rule "fires" on a clip
# when its own score crosses its own threshold, whatever the other rules
# say (so each rule is judged alone, not by the first reason given).
#   bench/curate-eval.sh [BUILD_DIR] [AV-FILTER OPTIONS...]
# (AV_FILTER=PATH runs another av-filter, such as an older build.)
# Prints one line per rule: positives, true and false positives, false
# negatives, precision and recall; with CURATE_EVAL_CLIPS=FILE it also
# writes each clip's labels and scores there.
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-${AVKIT_BUILD:-build/rel}}
[ $# -gt 0 ] && shift
AVKIT_BUILD=$(cd "$BUILD" && pwd)
TESTS_DIR=$(pwd)/tests
MEDIA="$AVKIT_BUILD/test-media"
mkdir -p "$MEDIA"
# test_media from the test library: make a clip once, print its path
test_media() {
    name=$1; shift
    path="$MEDIA/$name"
    if [ ! -s "$path" ]; then
        tmp="$MEDIA/.tmp.$$.$name"
        ffmpeg -nostdin -loglevel error -y "$@" "$tmp" && mv "$tmp" "$path" || { rm -f "$tmp"; return 1; }
    fi
    echo "$path"
}
. "$TESTS_DIR/real-media.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/curate-eval.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
real_manifest >"$tmp/in.tsv"
"${AV_FILTER:-$AVKIT_BUILD/bin/av-filter}" "$@" "$tmp/in.tsv" >"$tmp/out.tsv"
# labels and scores side by side: the thresholds are av-filter's defaults
# (av-filter(1)): static_frac >= 0.3, dynamic 0, aesthetic < 4.5,
# text_frames > 1, watermark > 0.5
awk -F'\t' -v clips="${CURATE_EVAL_CLIPS:-}" '
    FNR == 1 { for (i = 1; i <= NF; i++) c[FILENAME, $i] = i; next }
    FILENAME == ARGV[1] { n++; for (i = 1; i <= NF; i++) lab[n, i] = $i; next }
    {
        m++
        sc["static"] = $c[FILENAME, "static_frac"] >= 0.3
        sc["low_motion"] = $c[FILENAME, "dynamic"] == 0
        sc["low_aesthetic"] = $c[FILENAME, "aesthetic"] < 4.5
        sc["text"] = $c[FILENAME, "text_frames"] > 1
        sc["watermark"] = $c[FILENAME, "watermark"] > 0.5
        line = lab[m, 1] "\t" lab[m, 2] "\t" lab[m, 3]
        for (k = 1; k <= 5; k++) {
            r = rules[k]; want = lab[m, c[ARGV[1], r]]
            tp[r] += want && sc[r]; fp[r] += !want && sc[r]; fn[r] += want && !sc[r]
            line = line "\t" r "=" want sc[r]
        }
        line = line "\twatermark=" $c[FILENAME, "watermark"] "\treason=" $c[FILENAME, "reason"]
        if (clips != "") print line > clips
    }
    BEGIN { split("static low_motion low_aesthetic text watermark", rules, " ") }
    END {
        printf "%-14s %4s %4s %4s %4s %9s %7s\n", "rule", "pos", "tp", "fp", "fn", "precision", "recall"
        for (k = 1; k <= 5; k++) {
            r = rules[k]
            p = tp[r] + fp[r] ? tp[r] / (tp[r] + fp[r]) : 1
            q = tp[r] + fn[r] ? tp[r] / (tp[r] + fn[r]) : 1
            printf "%-14s %4d %4d %4d %4d %9.3f %7.3f\n", r, tp[r] + fn[r], tp[r], fp[r], fn[r], p, q
        }
    }' tests/real/labels.tsv "$tmp/out.tsv"
