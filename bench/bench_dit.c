/* One fp32 training step (forward, MSE, backward) of the video DiT, for
 * bench/dit.sh, which runs the same model in PyTorch on the same weights
 * and batch with the same threads.
 * Usage: bench_dit DIR [frames] [size] [width] [depth] [heads] [rounds]
 * The reference configuration (defaults): latents 8 frames x 4 channels x
 * 16 x 16, patch 1x2x2 (512 video tokens), 32 text tokens, width 256, 6
 * blocks, 4 heads, MLP ratio 4, batch 2, single-stream with the cross
 * branch. Writes DIR/dit.safetensors (seeded weights, adaLN and output
 * made non-zero so every path carries signal) and DIR/io.safetensors (x_t,
 * t, tokens, text_len, target, and avkit's pred and loss), prints
 *   avkit step_ms MS gflop G gflops R
 * with the best of `rounds` steps after one warm-up and G counted from
 * the shapes (matrix products and attention, backward = 2 x forward). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/io/safetensors.h"
#include "avkit/nn/ops.h"
#include "avkit/models/dit.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_dit DIR [frames] [size] [width] [depth] [heads] [rounds]\n");
        return 2;
    }
    const char *dir = argv[1];
    int T = argc > 2 ? atoi(argv[2]) : 8, S = argc > 3 ? atoi(argv[3]) : 16;
    avk_dit_config c = avk_dit_config_default();
    c.hidden = argc > 4 ? atoi(argv[4]) : 256;
    c.depth = argc > 5 ? atoi(argv[5]) : 6;
    c.heads = argc > 6 ? atoi(argv[6]) : 4;
    int rounds = argc > 7 ? atoi(argv[7]) : 3;
    c.vocab_size = 512;
    c.max_text_len = 32;
    avk_dit *m = avk_dit_new(&c);
    if (!m)
        avk_die_lib();
    avk_dit_init(m, 1);
    avk_rng r;
    avk_rng_seed(&r, 7);
    for (int i = 0; i < m->nparam; i++)
        if (strstr(m->params[i].name, "linear") || strstr(m->params[i].name, "proj_out"))
            avk_fill_randn(m->w + m->params[i].offset, m->params[i].numel, &r, 0.0f, 0.02f);
    int B = 2, L = 32, C = c.in_channels;
    int64_t n = (int64_t)B * C * T * S * S;
    float *x = avk_falloc(n), *target = avk_falloc(n), *pred = avk_falloc(n), *dpred = avk_falloc(n);
    float t[2] = {0.3f, 0.7f}, tokf[64], lenf[2] = {32, 20}, loss = 0;
    int32_t tok[64];
    int len[2] = {32, 20};
    avk_fill_randn(x, n, &r, 0.0f, 1.0f);
    avk_fill_randn(target, n, &r, 0.0f, 1.0f);
    for (int i = 0; i < B * L; i++) {
        tok[i] = (i * 37 + 11) % 512;
        tokf[i] = (float)tok[i];
    }
    avk_dit_batch b = {.B = B, .T = T, .H = S, .W = S, .x = x, .t = t, .L = L, .tokens = tok,
                       .text_len = len};
    double best = 1e30;
    for (int i = 0; i <= rounds; i++) {
        double t0 = avk_now();
        memset(m->g, 0, (size_t)m->nfloats * sizeof(float));
        memset(dpred, 0, (size_t)n * sizeof(float));
        avk_dit_acts *a = avk_dit_forward(m, &b, pred);
        if (!a)
            avk_die_lib();
        loss = (float)avk_mse_loss(dpred, pred, target, n, 1.0f);
        avk_dit_backward(m, a, dpred);
        avk_dit_acts_free(a);
        double dt = avk_now() - t0;
        if (i > 0 && dt < best)
            best = dt;
    }
    double gflop = avk_dit_step_flop(&c, B, T, S, S, L) / 1e9;
    char *p = avk_xasprintf("%s/dit.safetensors", dir);
    if (avk_dit_save(m, p, 0, NULL) < 0)
        avk_die_lib();
    free(p);
    avk_st_writer *w = avk_st_writer_new();
    int64_t sx[5] = {B, C, T, S, S}, s2[1] = {2}, st[2] = {B, L}, s1[1] = {1};
    avk_st_writer_add(w, "x_t", AVT_F32, 5, sx, x);
    avk_st_writer_add(w, "target", AVT_F32, 5, sx, target);
    avk_st_writer_add(w, "pred", AVT_F32, 5, sx, pred);
    avk_st_writer_add(w, "t", AVT_F32, 1, s2, t);
    avk_st_writer_add(w, "tokens", AVT_F32, 2, st, tokf);
    avk_st_writer_add(w, "text_len", AVT_F32, 1, s2, lenf);
    avk_st_writer_add(w, "loss", AVT_F32, 1, s1, &loss);
    p = avk_xasprintf("%s/io.safetensors", dir);
    if (avk_st_writer_write(w, p) < 0)
        avk_die_lib();
    free(p);
    printf("avkit step_ms %.1f gflop %.1f gflops %.1f\n", best * 1e3, gflop, gflop / best);
    avk_ffree(x);
    avk_ffree(target);
    avk_ffree(pred);
    avk_ffree(dpred);
    avk_dit_free(m);
    return 0;
}
