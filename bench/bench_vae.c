/* VAE encode and decode speed of avkit (frames a second), for bench/vae.sh,
 * which runs the same model in PyTorch on the same input and threads.
 * Usage: bench_vae DIR [size] [batch] [rounds]
 * Writes DIR/vae.safetensors (the default config, seeded weights),
 * DIR/io.safetensors (the input x [batch, 3, size, size] and avkit's
 * outputs: mean, and dec = decode(mean)), prints
 *   avkit encode FPS decode FPS
 * FPS = frames a second, best of `rounds` timed rounds after one warm-up. */
#include <stdio.h>
#include <stdlib.h>
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/tensor.h"
#include "avkit/models/vae.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_vae DIR [size] [batch] [rounds]\n");
        return 2;
    }
    const char *dir = argv[1];
    int S = argc > 2 ? atoi(argv[2]) : 256, B = argc > 3 ? atoi(argv[3]) : 4;
    int rounds = argc > 4 ? atoi(argv[4]) : 3;
    avk_vae_config c = avk_vae_config_default();
    avk_vae *v = avk_vae_new(&c);
    avk_vae_init(v, 1);
    int f = avk_vae_factor(&c), L = c.latent_channels;
    int64_t nx = (int64_t)B * 3 * S * S, nz = (int64_t)B * L * (S / f) * (S / f);
    float *x = avk_falloc(nx), *m = avk_falloc(nz), *y = avk_falloc(nx);
    avk_rng r;
    avk_rng_seed(&r, 7);
    avk_fill_uniform(x, nx, &r, -1, 1);
    double best_e = 1e30, best_d = 1e30;
    for (int i = 0; i <= rounds; i++) {
        double t0 = avk_now();
        if (avk_vae_encode(v, x, B, S, S, m, NULL) < 0)
            avk_die_lib();
        double t1 = avk_now();
        if (avk_vae_decode(v, m, B, S / f, S / f, y) < 0)
            avk_die_lib();
        double t2 = avk_now();
        if (i > 0) {
            best_e = t1 - t0 < best_e ? t1 - t0 : best_e;
            best_d = t2 - t1 < best_d ? t2 - t1 : best_d;
        }
    }
    char *p = avk_xasprintf("%s/vae.safetensors", dir);
    if (avk_vae_save(v, p, 0, NULL) < 0)
        avk_die_lib();
    free(p);
    avk_st_writer *w = avk_st_writer_new();
    int64_t sx[4] = {B, 3, S, S}, sz[4] = {B, L, S / f, S / f};
    avk_st_writer_add(w, "x", AVT_F32, 4, sx, x);
    avk_st_writer_add(w, "mean", AVT_F32, 4, sz, m);
    avk_st_writer_add(w, "dec", AVT_F32, 4, sx, y);
    p = avk_xasprintf("%s/io.safetensors", dir);
    if (avk_st_writer_write(w, p) < 0)
        avk_die_lib();
    free(p);
    printf("avkit encode %.3f decode %.3f\n", B / best_e, B / best_d);
    avk_ffree(x);
    avk_ffree(m);
    avk_ffree(y);
    avk_vae_free(v);
    return 0;
}
