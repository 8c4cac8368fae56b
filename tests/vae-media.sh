# Shared setup of the VAE tool tests (t552-t557), sourced after lib.sh:
# test videos from ffmpeg's lavfi sources (cached by test_media, one x264
# thread so the bytes do not depend on the machine), a tiny VAE config with
# the full 8x downsampling (4 blocks of 8 channels), and manifests.
ENC="-c:v libx264 -preset veryfast -crf 18 -threads 1 -pix_fmt yuv420p"

# vae_media NAME: path of a cached test video.
vae_media() {
    case $1 in
    wide)  test_media vae-wide.mp4 -f lavfi -i "testsrc2=s=96x64:r=10:d=2" $ENC ;;
    tall)  test_media vae-tall.mp4 -f lavfi -i "testsrc=s=48x80:r=25:d=1" $ENC ;;
    tiny)  test_media vae-tiny.mp4 -f lavfi -i "testsrc=s=4x4:r=10:d=1" -c:v mpeg4 ;;
    esac
}

# The tiny config (diffusers config.json form).
vae_tiny_config() {
    cat <<'JSON'
{"_class_name": "AutoencoderKL", "act_fn": "silu", "block_out_channels": [8, 8, 8, 8],
 "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
 "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 1,
 "norm_num_groups": 4, "scaling_factor": 0.5}
JSON
}

# vae_tiny_model FILE: a freshly initialized tiny VAE (seed 1), as
# av-train writes it after zero steps.
vae_tiny_model() {
    vae_tiny_config >tiny.json &&
    printf 'video\tstart_frame\tend_frame\n%s\t0\t20\n' "$(vae_media wide)" >init.tsv &&
    av-train --model vae --config tiny.json --seed 1 --steps 0 --crop 16 init.tsv -o "$1"
}
