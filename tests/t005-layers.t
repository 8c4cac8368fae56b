#!/bin/sh
# The library's layers: no file includes a header of a higher layer
# (scripts/check-layers.sh), and the check does catch a violation.
. "$(dirname "$0")/lib.sh"

test_expect_success 'no layer of lib/ or include/avkit/ reaches up' '
    "$SRC_DIR/scripts/check-layers.sh" "$SRC_DIR"
'
test_expect_success 'a copy of the tree with util including nn fails the check' '
    mkdir -p copy &&
    cp -R "$SRC_DIR/lib" "$SRC_DIR/include" copy/ &&
    printf "#include \"avkit/nn/tensor.h\"\n" >>copy/lib/util/json.c &&
    ! "$SRC_DIR/scripts/check-layers.sh" copy >out &&
    grep -q "lib/util/json.c:[0-9]*: util includes a header of nn" out
'
test_expect_success 'a private header of a higher layer is caught too' '
    rm -rf copy && mkdir -p copy &&
    cp -R "$SRC_DIR/lib" "$SRC_DIR/include" copy/ &&
    printf "#include \"models/vae_internal.h\"\n" >>copy/include/avkit/io/video.h &&
    ! "$SRC_DIR/scripts/check-layers.sh" copy >out &&
    grep -q "include/avkit/io/video.h:[0-9]*: io includes a header of models" out
'
test_expect_success 'every layer folder opens with a README line saying what it holds' '
    for d in "$SRC_DIR"/lib/*/; do
        test -s "$d/README" || { echo "no README in $d"; exit 1; }
    done
'
test_done
