# Shared setup of the av-sample tests (t921-t925), sourced after lib.sh and
# vae-media.sh: a tiny DiT with random weights (and an EMA copy), a caption
# vocabulary, the tiny VAE of the VAE tests, and the common arguments for
# 4 frames of 32x32 (bucket base 32; latent 4x4x4) in 6 steps.
sample_setup() {
    test_sample_util mkdit dit.safetensors --ema vae_factor=8 &&
    test_sample_util mkdit plain.safetensors vae_factor=8 &&
    printf 'a red circle moves left\na blue square moves up\na green triangle stays\n' >corpus.txt &&
    av-caption-feed --learn-vocab 300 --corpus corpus.txt -o vocab.txt &&
    vae_tiny_model vae.safetensors
}
SARGS="-m dit.safetensors --vocab vocab.txt --frames 4 --size 32x32 --base 32 --steps 6"
