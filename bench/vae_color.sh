#!/bin/sh
# How much of the demo footage's color, shape and motion survives the demo
# VAE: the evaluator (examples/avk-eval) on the VAE's reconstructions of
# the first N training clips (av-vaeenc, then av-vaeenc -d), against their
# own captions, beside the evaluator on the rendered shots themselves. The
# DiT cannot follow a prompt's color better than the VAE can reproduce it,
# so this is the ceiling of the demo's accuracy.
#
# Usage: bench/vae_color.sh DIR [N]
#   DIR: what `make -C examples` leaves in examples/out (clips.avt,
#   vae.safetensors and the raw shots they name); run from DIR's parent
#   (examples/), as the clip records name the shots relative to it.
#   N: clips to reconstruct (default 48).
# Prints avk-eval's table for the rendered shots, then for the
# reconstructions.
set -eu
BUILD=$(cd "${AVKIT_BUILD:-$(dirname "$0")/../build/rel}" && pwd)
PATH=$BUILD/bin:$BUILD/examples:$PATH
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
[ $# -ge 1 ] || { echo "usage: bench/vae_color.sh DIR [N]" >&2; exit 2; }
D=$1
n=${2:-48}
for f in clips.avt vae.safetensors; do
    [ -s "$D/$f" ] || { echo "bench/vae_color.sh: $D/$f: missing" >&2; exit 1; }
done
total=$(av-tensor -c "$D/clips.avt")
[ "$n" -le "$total" ] || n=$total
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vae_color.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# the first n clip records, their captions and their shots
i=0
while [ "$i" -lt "$n" ]; do
    av-tensor --cat -r "$i" -o "$tmp/r$(printf %04d "$i").avt" "$D/clips.avt"
    av-tensor -r "$i" "$D/clips.avt" | sed -n 's/^  meta caption=//p' >>"$tmp/prompts.txt"
    av-tensor -r "$i" "$D/clips.avt" | sed -n 's/^  meta video=//p' >>"$tmp/videos.txt"
    i=$((i + 1))
done
av-tensor --cat -o "$tmp/sub.avt" "$tmp"/r*.avt
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'); $D/vae.safetensors; the first $n clips"

echo "# the rendered shots"
# shellcheck disable=SC2046
avk-eval -P "$tmp/prompts.txt" $(cat "$tmp/videos.txt")

echo "# their VAE reconstructions"
av-vaeenc --base 64 -m "$D/vae.safetensors" "$tmp/sub.avt" -o "$tmp/lat.avt"
av-vaeenc -d -m "$D/vae.safetensors" "$tmp/lat.avt" -o "$tmp/dec"
avk-eval -P "$tmp/prompts.txt" "$tmp"/dec/*.mp4
