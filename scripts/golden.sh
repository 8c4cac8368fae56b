#!/bin/sh
# Regenerate everything under tests/golden/: first the tensors that PyTorch
# produces (tests/golden-*.py, run with a Python that has torch), then the
# golden outputs of the tool tests (the suite run with AVKIT_UPDATE_GOLDEN=1).
# PYTHON=/path/to/python picks the interpreter (for a venv with torch).
# Review `git diff tests/golden` and explain every change in its commit.
set -e
cd "$(dirname "$0")/.."
PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch, numpy' 2>/dev/null; then
        PY=$p; break
    fi
done
for gen in tests/golden-*.py; do
    [ -e "$gen" ] || continue
    if [ -z "$PY" ]; then
        echo "golden: no Python with torch and numpy (apt-get install python3-torch)" >&2
        exit 1
    fi
    echo "golden: $gen" >&2
    "$PY" "$gen"
done
AVKIT_UPDATE_GOLDEN=1 prove -j2 tests/
