#!/bin/sh
# Cuts found by av-shotcut, against the known cuts, on three sets:
#   shot-tests  the videos of the shot tests: tests/shotcut-media.sh (hard
#               cuts, a fade, a dissolve, a wipe, a flash, fast motion, a
#               dark pair, 6-frame shots, an occlusion), t713's hard cuts
#               and t712's real shots with short ones (tests/real-media.sh)
#   demo        the demo footage (gen-footage, seed 1) and its truth.tsv
#   real        the 70 clips of the real-footage set, one shot each (any
#               cut found is a false one)
#   bench/shotcut-eval.sh [BUILD_DIR] [AV-SHOTCUT OPTIONS...]
# (AV_SHOTCUT=PATH runs another av-shotcut.) A cut found counts as true
# when it is within 2 frames of a known cut not matched yet. Prints one
# line per set: known cuts, cuts found, true and false cuts, missed cuts,
# precision, recall and F1; with SHOTCUT_EVAL_CUTS=FILE it also writes
# each video's cuts there ("video<TAB>cut cut ..."), to compare two modes.
set -e
cd "$(dirname "$0")/.."
BUILD=${1:-${AVKIT_BUILD:-build/rel}}
[ $# -gt 0 ] && shift
AVKIT_BUILD=$(cd "$BUILD" && pwd)
TESTS_DIR=$(pwd)/tests
MEDIA="$AVKIT_BUILD/test-media"
SHOTCUT=${AV_SHOTCUT:-$AVKIT_BUILD/bin/av-shotcut}
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
. "$TESTS_DIR/shotcut-media.sh"
. "$TESTS_DIR/real-media.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shotcut-eval.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# truth: "set<TAB>video<TAB>cut cut ..." (no cut: an empty list)
{
    for v in "cuts:40 75 125" "fade:50" "dissolve:62" "wipe:60" "flash:" "motion:" \
             "dark:50" "short:30 36 42 48 54" "occl:"; do
        printf 'shot-tests\t%s\t%s\n' "$(sc_make "${v%%:*}")" "${v#*:}"
    done
    for v in jump-grey dark-grey dark-colour jump-colour whip; do
        printf 'shot-tests\t%s\t40\n' "$(hard_media $v)"
    done
    printf 'shot-tests\t%s\t%s\n' "$(real_short_shots)" "$REAL_SHORT_CUTS"
    demo="$MEDIA/demo-footage"
    [ -s "$demo/truth.tsv" ] || "$AVKIT_BUILD/examples/gen-footage" -o "$demo" >/dev/null
    awk -F'\t' -v d="$demo" 'NR > 1 { v = d "/" $1; if (!(v in c)) { o[++n] = v; c[v] = "" }
            if ($3 > 0) c[v] = c[v] (c[v] == "" ? "" : " ") $3 }
        END { for (i = 1; i <= n; i++) printf "demo\t%s\t%s\n", o[i], c[o[i]] }' "$demo/truth.tsv"
    real_manifest | awk -F'\t' 'NR > 1 { printf "real\t%s\t\n", $2 }'
} >"$tmp/truth"

cut -f2 "$tmp/truth" >"$tmp/videos"
"$SHOTCUT" "$@" -l "$tmp/videos" >"$tmp/shots.tsv"
# the cuts found: the start of every shot but a video's first
awk -F'\t' 'NR > 1 && $4 > 0 { c[$2] = c[$2] (c[$2] == "" ? "" : " ") $4 }
    END { for (v in c) print v "\t" c[v] }' "$tmp/shots.tsv" >"$tmp/found"
awk -F'\t' -v cuts="${SHOTCUT_EVAL_CUTS:-}" '
    FILENAME == ARGV[1] { found[$1] = $2; next }
    {
        set = $1; if (!(set in seen)) { seen[set] = 1; order[++ns] = set }
        nk = split($3, k, " "); nf = split(found[$2], f, " ")
        for (i = 1; i <= nk; i++) used[i] = 0
        for (j = 1; j <= nf; j++) {
            hit = 0
            for (i = 1; i <= nk && !hit; i++)
                if (!used[i] && f[j] - k[i] <= 2 && k[i] - f[j] <= 2) { used[i] = 1; hit = 1 }
            tp[set] += hit; fp[set] += !hit
        }
        known[set] += nk; nfound[set] += nf; fn[set] += nk
        for (i = 1; i <= nk; i++) fn[set] -= used[i]
        if (cuts != "") printf "%s\t%s\n", $2, found[$2] > cuts
    }
    END {
        printf "%-11s %5s %5s %4s %4s %4s %9s %7s %6s\n", "set", "known", "found", "tp", "fp", "fn",
            "precision", "recall", "F1"
        for (s = 1; s <= ns; s++) {
            t = order[s]
            p = tp[t] + fp[t] ? tp[t] / (tp[t] + fp[t]) : 1
            r = known[t] ? tp[t] / known[t] : 1
            printf "%-11s %5d %5d %4d %4d %4d %9.3f %7.3f %6.3f\n", t, known[t], nfound[t], tp[t],
                fp[t], fn[t], p, r, p + r ? 2 * p * r / (p + r) : 0
        }
    }' "$tmp/found" "$tmp/truth"
