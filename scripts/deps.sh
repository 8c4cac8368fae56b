#!/bin/sh
# Install the Debian packages avkit needs to build, test and run its demo,
# when any is missing. Quiet when everything is there. Run as root (or with
# sudo available); on a machine that has them all it changes nothing.
set -e
PKGS="build-essential pkg-config
libavformat-dev libavcodec-dev libavutil-dev libswscale-dev ffmpeg
libtiff-dev zlib1g-dev libdeflate-dev
libopenmpi-dev openmpi-bin
libdnnl-dev
libtesseract-dev tesseract-ocr-eng libleptonica-dev
fonts-dejavu-core
mandoc python3-numpy
cimg-examples"
missing=
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
