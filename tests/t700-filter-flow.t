#!/bin/sh
# Dense optical flow on real photographs (shipped by Debian's cimg-examples
# package) warped by known sub-pixel shifts and small rotations: mean
# endpoint error under 0.5 pixel; plus VBench's dynamic-degree arithmetic.
. "$(dirname "$0")/lib.sh"
photos=
for f in /usr/share/doc/cimg-dev/examples/img/parrot.ppm /usr/share/doc/cimg-dev/examples/img/milla.bmp; do
    [ -r "$f" ] || continue
    b=$(basename "$f")
    ffmpeg -nostdin -loglevel error -y -i "$f" -pix_fmt gray "${b%.*}.pgm" && photos="$photos ${b%.*}.pgm"
done
[ -n "$photos" ] || echo "# no photographs (apt-get install cimg-examples): flow accuracy not measured"
"$AVKIT_BUILD/tests/test_filter_flow" $photos
rc=$?
[ $rc -eq 0 ] && cd "$SRC_DIR" && rm -rf "$TRASH"
exit $rc
