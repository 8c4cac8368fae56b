#!/bin/sh
# av-sample: the solvers against a fine reference, and the diffusion cache
# against the uncached run, on the same prompts and seed.
#
# Solvers (cfg 1, so only the solver differs): relative L2 of the latents to
# Euler at 400 steps, for Euler at 20 and 50 steps, Heun at 10 (19
# evaluations) and AB2 at 10 and 20.
# Cache (AB2, 20 steps, cfg 4): for thresholds from 0 up, the transformer
# evaluations, the wall-clock speedup over the uncached run measured in
# the same script, the relative L2 of the latents and the PSNR of the
# decoded videos to the uncached ones.
#
# Usage: bench/sample.sh [DIT VAE VOCAB PROMPTS FRAMES SIZE BASE]
# Without arguments: a tiny random DiT and VAE (as the tests make), 4
# prompts of 8 frames at 32x32; numbers that say the code works, not what
# a trained model gains (run it on the demo model for that). A random DiT's
# velocity swings with t at the frequencies of its timestep features (up to
# 1000 t radians), so no solver converges at these step counts there: its
# solver table means nothing; t900 compares the solvers on a flow whose
# exact velocity is known.
set -e
cd "$(dirname "$0")/.."
BUILD=$(cd "${AVKIT_BUILD:-build/rel}" && pwd)
export PATH="$BUILD/bin:$BUILD/tests:$BUILD/bench:$PATH"
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
if [ $# -ge 4 ]; then
    DIT=$1 VAE=$2 VOCAB=$3 PROMPTS=$4 FRAMES=${5:-8} SIZE=${6:-32x32} BASE=${7:-32}
else
    DIT=$DIR/dit.safetensors VAE=$DIR/vae.safetensors VOCAB=$DIR/vocab.txt
    PROMPTS=$DIR/prompts.txt FRAMES=8 SIZE=32x32 BASE=32
    test_sample_util mkdit "$DIT" vae_factor=8
    printf 'red circle left\nblue square up\ngreen triangle\nred\n' >"$PROMPTS"
    av-caption-feed --learn-vocab 300 --corpus "$PROMPTS" -o "$VOCAB"
    cat >"$DIR/vae.json" <<'JSON'
{"block_out_channels": [8, 8, 8, 8], "latent_channels": 4, "layers_per_block": 1,
 "norm_num_groups": 4,
 "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]}
JSON
    ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=s=64x64:r=10:d=1" -c:v libx264 "$DIR/v.mp4"
    printf 'video\tstart_frame\tend_frame\n%s\t0\t10\n' "$DIR/v.mp4" >"$DIR/v.tsv"
    av-train --model vae --config "$DIR/vae.json" --seed 1 --steps 0 --crop 16 "$DIR/v.tsv" -o "$VAE"
fi
A="-m $DIT --vocab $VOCAB -P $PROMPTS --frames $FRAMES --size $SIZE --base $BASE --seed 1"
echo "# $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $DIT, $(grep -c . "$PROMPTS") prompts, $FRAMES frames of $SIZE"

# run NAME ARGS...: sample into DIR/NAME.avt; prints evaluations and seconds
run() {
    name=$1; shift
    t0=$(date +%s.%N)
    av-sample $A "$@" -v -o "$DIR/$name.avt" 2>"$DIR/$name.err" || { cat "$DIR/$name.err" >&2; exit 1; }
    t1=$(date +%s.%N)
    ev=$(awk '/transformer evaluations/ { s += $4 } END { print s }' "$DIR/$name.err")
    echo "$ev $(echo "$t1 - $t0" | bc)"
}

echo "solver    steps  evals  rel_l2_to_euler400"
run ref --cfg 1 --solver euler --steps 400 >/dev/null
for s in "euler 20" "euler 50" "heun 10" "ab2 10" "ab2 20"; do
    set -- $s
    r=$(run "$1$2" --cfg 1 --solver "$1" --steps "$2")
    c=$(sample_compare "$DIR/ref.avt" "$DIR/$1$2.avt" | sed 's/.*rel_l2=\([^ ]*\).*/\1/')
    printf "%-9s %5s %6s  %s\n" "$1" "$2" "${r% *}" "$c"
done

echo "cache  evals  speedup  rel_l2  psnr_dB"
base=$(run none --cfg 4)
for th in 0 0.05 0.1 0.2 0.4 0.8 1.6; do
    r=$(run "c$th" --cfg 4 --cache "$th")
    c=$(sample_compare --vae "$VAE" "$DIR/none.avt" "$DIR/c$th.avt")
    printf "%-6s %5s  %6.2fx  %s  %s\n" "$th" "${r% *}" \
        "$(echo "${base#* } / ${r#* }" | bc -l)" \
        "$(echo "$c" | sed 's/.*rel_l2=\([^ ]*\).*/\1/')" "$(echo "$c" | sed 's/.*psnr=\([^ ]*\).*/\1/')"
done
echo "# uncached: ${base% *} evaluations in ${base#* } s"
