#!/bin/sh
# Run every benchmark script in bench/ (each compares against a baseline
# measured in the same run and prints ratios). BENCH=name runs only one.
set -e
cd "$(dirname "$0")/.."
for b in bench/*.sh; do
    [ -e "$b" ] || continue
    case "${BENCH:-}" in ""|"$(basename "$b" .sh)") ;; *) continue ;; esac
    echo "== $b"
    interp=$(sed -n "1s/^#! *//p" "$b"); ${interp:-sh} "$b"
done
