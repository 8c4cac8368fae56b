#!/bin/sh
# Check that no layer of the library reaches up: scripts/check-layers.sh [ROOT]
#
# The layers of lib/ and include/avkit/, and the lower layers each may
# include (doc/architecture.md explains the order). Every #include of
# "avkit/LAYER/..." or of a private "LAYER/..." header in lib/LAYER/ and
# include/avkit/LAYER/ must name the file's own layer or one it may use.
# A layer's subfolders (lib/nn/cuda/: .c, .h, .cu and .cuh files) belong
# to that layer. Prints one line per violation, FILE:LINE: LAYER includes HEADER, and
# exits 1 if there is any; exits 0 silently otherwise.
set -u
root=${1:-$(dirname "$0")/..}
allowed() {
    case $1 in
    util)      echo "util" ;;
    dist)      echo "util dist" ;;
    io)        echo "util io" ;;
    data)      echo "util io data" ;;
    curate)    echo "util io data curate" ;;
    nn)        echo "util dist io nn" ;;
    models)    echo "util dist io data nn models" ;;
    diffusion) echo "util dist io data nn models diffusion" ;;
    *)         echo "" ;;
    esac
}
status=0
for dir in "$root"/lib/* "$root"/include/avkit/*; do
    [ -d "$dir" ] || continue
    layer=$(basename "$dir")
    ok=$(allowed "$layer")
    if [ -z "$ok" ]; then
        echo "$dir: not a known layer" && status=1
        continue
    fi
    for f in "$dir"/*.[ch] "$dir"/*/*.[ch] "$dir"/*/*.cu "$dir"/*/*.cuh; do
        [ -e "$f" ] || continue
        # "avkit/LAYER/x.h" (public) or "LAYER/x.h" (private, via -Ilib)
        out=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
            sed -n 's/^\([0-9]*\):.*"\(avkit\/\)\{0,1\}\([a-z]*\)\/[^"]*".*/\1 \3/p' |
            while read -r line used; do
                case " $ok " in *" $used "*) ;; *)
                    echo "${f#$root/}:$line: $layer includes a header of $used" ;;
                esac
            done)
        if [ -n "$out" ]; then echo "$out"; status=1; fi
    done
done
exit $status
