#!/bin/sh
# CRC-32 of the tensor stream: libdeflate (what avt_crc32 calls) and zlib
# against the folding code avkit carried before, interleaved on the same
# buffers in one run (bench/bench_crc.c). Prints GB/s and ratios (> 1:
# faster than the former code). Usage: bench/crc.sh [MiB ...] (default 4 64 256).
set -e
cd "$(dirname "$0")/.."
BUILD=${AVKIT_BUILD:-build/rel}
BIN=$BUILD/bench/bench_crc
[ -x "$BIN" ] || { echo "crc.sh: $BIN missing (run make)" >&2; exit 1; }
[ $# -gt 0 ] || set -- 4 64 256
for mib in "$@"; do
    "$BIN" -s "$mib" -r 15
done
