#!/bin/sh
# Tokenization throughput of av-caption-feed's byte-level BPE on a generated
# 100k-caption corpus, on one core, against the textbook encoder and the
# pre-tokenization floor measured in the same run (see bench/bench_bpe.c).
#   bench/tokenize.sh [CAPTIONS] [VOCAB]
set -e
cd "$(dirname "$0")/.."
: "${AVKIT_BUILD:=$PWD/build/rel}"
BIN="$AVKIT_BUILD/bench/bench_bpe"
[ -x "$BIN" ] || { echo "tokenize.sh: $BIN missing (run make)" >&2; exit 1; }
PIN=
command -v taskset >/dev/null 2>&1 && PIN="taskset -c 0"
exec $PIN "$BIN" -n "${1:-100000}" -V "${2:-8192}"
