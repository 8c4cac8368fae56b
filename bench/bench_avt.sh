#!/bin/bash
# Tensor stream throughput against cat of the same bytes, in the same run.
#
#   bench/bench_avt.sh [TOTAL_MiB [RECORD_MiB]]    (default 1024 and 64)
#
# Streams of f32 records (one tensor each) are written and read through a
# pipe and through a file; each rate is MB/s of stream bytes (10^6 bytes a
# second) and is compared with cat moving the same bytes the same way:
#   write | cat >/dev/null      vs  cat s.avt | cat >/dev/null
#   write -o file               vs  cat s.avt >copy
#   read file                   vs  cat s.avt >/dev/null
#   cat s.avt | read -          vs  cat s.avt | cat >/dev/null
# zlib rates (level 1) are in MB/s of raw tensor bytes. Every read checks
# all CRC-32s. Each timing is the best of two runs. Two rates are given:
# by wall-clock time, and by CPU time (user + system of every process in
# the pipeline), which stays meaningful on a machine shared with other
# work; the ratios are ours / cat's.
set -eu
total=${1:-1024}
rec=${2:-64}
: "${AVKIT_BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build/rel}"
B=$AVKIT_BUILD/bench/bench_avt
[ -x "$B" ] || { echo "bench_avt: build first (make)" >&2; exit 1; }
n=$((total / rec))
e=$((rec * 1048576 / 4))
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench_avt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# best CMD [SETUP]: "wall cpu" seconds, each the smaller of two runs of CMD
# (SETUP runs untimed before each: outputs go to fresh names, since
# replacing a big file by rename makes the file system flush it first)
best() {
    local bw= bc= out w u y c
    for i in 1 2; do
        [ -z "${2:-}" ] || bash -c "$2"
        out=$( { TIMEFORMAT="%R %U %S"; time bash -c "$1" >/dev/null 2>&1; } 2>&1 )
        read -r w u y <<<"$out"
        c=$(echo "$u + $y" | bc -l)
        if [ -z "$bw" ] || [ "$(echo "$w < $bw" | bc -l)" = 1 ]; then bw=$w; fi
        if [ -z "$bc" ] || [ "$(echo "$c < $bc" | bc -l)" = 1 ]; then bc=$c; fi
    done
    echo "$bw $bc"
}
rate() { echo "scale=1; $1 / 1000000 / $2" | bc -l; }
ratio() { echo "scale=2; $2 / $1" | bc -l; }   # our rate / cat's = cat time / our time

"$B" write -n "$n" -e "$e" -o "$tmp/s.avt" 2>/dev/null
bytes=$(wc -c <"$tmp/s.avt")
raw=$((n * e * 4))
echo "tensor stream: $n records of $rec MiB f32, $bytes bytes ($(rate "$bytes" 1) MB)"

row() {   # row LABEL "OURS_WALL OURS_CPU" "CAT_WALL CAT_CPU" BYTES
    local ow oc cw cc
    read -r ow oc <<<"$2"
    read -r cw cc <<<"$3"
    printf "%-24s wall %7s MB/s (cat %7s) ratio %-5s  cpu %7s MB/s (cat %7s) ratio %s\n" \
        "$1" "$(rate "$4" "$ow")" "$(rate "$4" "$cw")" "$(ratio "$ow" "$cw")" \
        "$(rate "$4" "$oc")" "$(rate "$4" "$cc")" "$(ratio "$oc" "$cc")"
}
c_pipe=$(best "cat '$tmp/s.avt' | cat >/dev/null")
c_file=$(best "cat '$tmp/s.avt' >'$tmp/copy'" "rm -f '$tmp/copy'")
c_read=$(best "cat '$tmp/s.avt' >/dev/null")
row "write, through a pipe" "$(best "'$B' write -n $n -e $e | cat >/dev/null")" "$c_pipe" "$bytes"
row "write, to a file" "$(best "'$B' write -n $n -e $e -o '$tmp/w.avt'" "rm -f '$tmp/w.avt'")" "$c_file" "$bytes"
row "read, from a file" "$(best "'$B' read '$tmp/s.avt'")" "$c_read" "$bytes"
row "read, through a pipe" "$(best "cat '$tmp/s.avt' | '$B' read -")" "$c_pipe" "$bytes"

read -r tw tc <<<"$(best "'$B' write -n $n -e $e -z -o '$tmp/z.avt'" "rm -f '$tmp/z.avt'")"
zbytes=$(wc -c <"$tmp/z.avt")
printf "%-24s wall %7s MB/s  cpu %7s MB/s of raw data (stored %s%% of raw)\n" "zlib-1 write, to a file" \
    "$(rate "$raw" "$tw")" "$(rate "$raw" "$tc")" "$(echo "scale=1; 100 * $zbytes / $raw" | bc -l)"
read -r tw tc <<<"$(best "'$B' read '$tmp/z.avt'")"
printf "%-24s wall %7s MB/s  cpu %7s MB/s of raw data\n" "zlib read, from a file" \
    "$(rate "$raw" "$tw")" "$(rate "$raw" "$tc")"
