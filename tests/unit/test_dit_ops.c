/* The DiT's operators at the shapes the model runs (head dimension 64,
 * hundreds of tokens, rotary positions in the hundreds), large enough to
 * take the threaded paths, fast against reference (the references are
 * tied to PyTorch by t500): masked joint attention over video + text
 * tokens forward and backward, 3D rotary tables against angles computed
 * directly in long double (and the sine-cosine position embedding),
 * rotary forward/backward, RMS norm of heads,
 * adaLN modulation and gated residuals. Then the whole model at a
 * medium configuration: two forward + backward passes at the same thread
 * count give bitwise identical predictions and gradients (every reduction
 * in a fixed order). Tolerance 1e-5 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "randn.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"
#include "avkit/models/dit.h"

#define TOL 1e-5

/* 520 video + 77 text tokens jointly, 4 heads of 64, the second sample's
 * caption padded (keys past 530 masked). */
static void joint_attention(void)
{
    const int B = 2, H = 4, N = 597, D = 64;
    int kv_len[2] = {597, 530};
    int64_t n = (int64_t)B * H * N * D;
    float *q = randn(n, 1.0f), *k = randn(n, 1.0f), *v = randn(n, 1.0f), *dout = randn(n, 1.0f);
    float *o = avk_falloc(n), *ro = avk_falloc(n);
    float *lse = avk_falloc((int64_t)B * H * N), *rl = avk_falloc((int64_t)B * H * N);
    float *dq = avk_fzeros(n), *dk = avk_fzeros(n), *dv = avk_fzeros(n);
    float *rdq = avk_fzeros(n), *rdk = avk_fzeros(n), *rdv = avk_fzeros(n);
    avk_attn a = avk_attn_make(B, H, N, N, D);
    a.kv_len = kv_len;
    avk_attention_fwd(o, lse, q, k, v, &a);
    avk_attention_fwd_ref(ro, rl, q, k, v, &a);
    avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a);
    avk_attention_bwd_ref(rdq, rdk, rdv, dout, q, k, v, ro, rl, &a);
    ok(rel_err(o, ro, n) < TOL, "joint attention 597 tokens, Dh 64, masked: output %.1e",
       rel_err(o, ro, n));
    double e = fmax(rel_err(dq, rdq, n), fmax(rel_err(dk, rdk, n), rel_err(dv, rdv, n)));
    ok(e < TOL, "joint attention: dq, dk, dv %.1e", e);
    /* masked keys get no gradient at all */
    double leak = 0;
    for (int h = 0; h < H; h++)
        for (int i = 530; i < N; i++)
            for (int d = 0; d < D; d++) {
                int64_t at = (((int64_t)1 * H + h) * N + i) * D + d;
                leak = fmax(leak, fabs(dk[at]) + fabs(dv[at]));
            }
    ok(leak == 0, "joint attention: padded text keys and values get zero gradient");
    float *bufs[] = {q, k, v, dout, o, ro, lse, rl, dq, dk, dv, rdq, rdk, rdv};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* Rotary tables for positions up to ~500 against long-double angles, and
 * the rotation (4 x 2 heads of 64 over 600 tokens) fast against reference
 * and against a direct computation. */
static void rope_hundreds(void)
{
    const int N = 600, D = 64, BH = 8, dims[3] = {16, 24, 24};
    int *pos = malloc((size_t)N * 3 * sizeof *pos);
    for (int n = 0; n < N; n++) {
        pos[n * 3 + 0] = (n * 37) % 211;
        pos[n * 3 + 1] = (n * 3) % 411;
        pos[n * 3 + 2] = n % 523;
    }
    float *tab = avk_falloc((int64_t)N * D);
    ok(avk_rope3d_table(tab, pos, N, dims, 10000.0f) == 0, "rope table for positions up to 522");
    double te = 0;
    for (int n = 0; n < N; n++) {
        int pair = 0;
        for (int a = 0; a < 3; a++)
            for (int j = 0; j < dims[a] / 2; j++, pair++) {
                long double ang = (long double)pos[n * 3 + a] * powl(10000.0L, -2.0L * j / dims[a]);
                te = fmax(te, fabs((double)(tab[n * D + 2 * pair] - (float)cosl(ang))));
                te = fmax(te, fabs((double)(tab[n * D + 2 * pair + 1] - (float)sinl(ang))));
            }
    }
    ok(te < 1e-6, "rope table: cos and sin within %.1e of long-double angles", te);
    int64_t n = (int64_t)BH * N * D;
    float *x = randn(n, 1.0f), *y = avk_falloc(n), *ry = avk_falloc(n), *dx = avk_fzeros(n),
          *rdx = avk_fzeros(n);
    avk_rope_fwd(y, x, tab, BH, N, D);
    avk_rope_fwd_ref(ry, x, tab, BH, N, D);
    ok(rel_err(y, ry, n) < TOL, "rope forward, 8 x 600 x 64: %.1e", rel_err(y, ry, n));
    double de = 0;
    for (int64_t r = 0; r < (int64_t)BH * N; r += 97)
        for (int p = 0; p < D / 2; p++) {
            const float *cs = tab + (r % N) * D + 2 * p;
            double x0 = x[r * D + 2 * p], x1 = x[r * D + 2 * p + 1];
            de = fmax(de, fabs(y[r * D + 2 * p] - (x0 * cs[0] - x1 * cs[1])));
            de = fmax(de, fabs(y[r * D + 2 * p + 1] - (x0 * cs[1] + x1 * cs[0])));
        }
    ok(de < 1e-5, "rope forward rotates interleaved pairs: %.1e", de);
    avk_rope_bwd(dx, y, tab, BH, N, D);
    avk_rope_bwd_ref(rdx, y, tab, BH, N, D);
    ok(rel_err(dx, rdx, n) < TOL && rel_err(dx, x, n) < TOL,
       "rope backward = reference, and undoes the forward: %.1e", rel_err(dx, x, n));
    free(pos);
    avk_ffree(tab);
    avk_ffree(x);
    avk_ffree(y);
    avk_ffree(ry);
    avk_ffree(dx);
    avk_ffree(rdx);
}

/* RMS norm of heads (rows of 64), modulation and gated residual at
 * [2, 1024, 256]. */
static void norms_and_modulation(void)
{
    const int64_t M = 2 * 1024 * 4;
    const int D = 64;
    float *x = randn(M * D, 2.0f), *w = randn(D, 0.2f), *dy = randn(M * D, 1.0f);
    for (int i = 0; i < D; i++)
        w[i] += 1.0f;
    float *y = avk_falloc(M * D), *ry = avk_falloc(M * D), *rs = avk_falloc(M), *rrs = avk_falloc(M);
    float *dx = avk_fzeros(M * D), *rdx = avk_fzeros(M * D), *dw = avk_fzeros(D), *rdw = avk_fzeros(D);
    avk_rmsnorm_fwd(y, rs, x, w, M, D, 1e-6f);
    avk_rmsnorm_fwd_ref(ry, rrs, x, w, M, D, 1e-6f);
    avk_rmsnorm_bwd(dx, dw, dy, x, rs, w, M, D);
    avk_rmsnorm_bwd_ref(rdx, rdw, dy, x, rrs, w, M, D);
    double e = fmax(rel_err(y, ry, M * D), fmax(rel_err(dx, rdx, M * D), rel_err(dw, rdw, D)));
    ok(e < TOL, "RMS norm of 8192 heads of 64, forward and backward: %.1e", e);

    const int B = 2, Dm = 256;
    const int64_t N = 1024, nx = B * N * Dm;
    float *mx = randn(nx, 1.0f), *sh = randn(B * Dm, 0.5f), *sc = randn(B * Dm, 0.5f);
    float *mdy = randn(nx, 1.0f), *my = avk_falloc(nx), *mry = avk_falloc(nx);
    float *d1 = avk_fzeros(nx), *d2 = avk_fzeros(nx), *s1 = avk_fzeros(B * Dm), *s2 = avk_fzeros(B * Dm);
    float *c1 = avk_fzeros(B * Dm), *c2 = avk_fzeros(B * Dm);
    avk_modulate_fwd(my, mx, sh, sc, B, N, 1, Dm);
    avk_modulate_fwd_ref(mry, mx, sh, sc, B, N, 1, Dm);
    avk_modulate_bwd(d1, s1, c1, mdy, mx, sc, B, N, 1, Dm);
    avk_modulate_bwd_ref(d2, s2, c2, mdy, mx, sc, B, N, 1, Dm);
    e = fmax(rel_err(my, mry, nx), fmax(rel_err(d1, d2, nx), fmax(rel_err(s1, s2, B * Dm),
                                                                    rel_err(c1, c2, B * Dm))));
    ok(e < TOL, "modulate [2, 1024, 256], forward and backward: %.1e", e);
    memset(d1, 0, (size_t)nx * 4);
    memset(d2, 0, (size_t)nx * 4);
    float *g1 = avk_fzeros(nx), *g2 = avk_fzeros(nx);
    memset(c1, 0, (size_t)B * Dm * 4);
    memset(c2, 0, (size_t)B * Dm * 4);
    avk_gated_residual_fwd(my, mx, mdy, sc, B, N, 1, Dm);
    avk_gated_residual_fwd_ref(mry, mx, mdy, sc, B, N, 1, Dm);
    avk_gated_residual_bwd(d1, g1, c1, mx, mdy, sc, B, N, 1, Dm);
    avk_gated_residual_bwd_ref(d2, g2, c2, mx, mdy, sc, B, N, 1, Dm);
    e = fmax(rel_err(my, mry, nx), fmax(rel_err(g1, g2, nx), rel_err(c1, c2, B * Dm)));
    ok(e < TOL && rel_err(d1, d2, nx) < TOL, "gated residual [2, 1024, 256]: %.1e", e);
    float *bufs[] = {x, w, dy, y, ry, rs, rrs, dx, rdx, dw, rdw, mx, sh, sc, mdy, my, mry,
                     d1, d2, s1, s2, c1, c2, g1, g2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

/* One forward + backward of a model with heads of 64 over 4 frames of
 * 16 x 16 latents (256 video tokens) and 20 text tokens. */
static void model_pass(avk_dit *m, const avk_dit_batch *b, float *pred, float *grad)
{
    int64_t n = (int64_t)b->B * m->cfg.in_channels * b->T * b->H * b->W;
    float *dpred = avk_falloc(n);
    for (int64_t i = 0; i < n; i++)
        dpred[i] = 1e-3f * (float)((i % 13) - 6);
    memset(m->g, 0, (size_t)m->nfloats * 4);
    avk_dit_acts *a = avk_dit_forward(m, b, pred);
    if (!a) {
        diag("forward: %s", avk_errmsg());
        exit(1);
    }
    avk_dit_backward(m, a, dpred);
    avk_dit_acts_free(a);
    memcpy(grad, m->g, (size_t)m->nfloats * 4);
    avk_ffree(dpred);
}

static void model_repeatable(int mmdit, int joint)
{
    avk_dit_config c = avk_dit_config_default();
    c.hidden = 128;
    c.heads = 2;
    c.depth = 2;
    c.vocab_size = 300;
    c.max_text_len = 32;
    c.mmdit = mmdit;
    c.joint = joint;
    avk_dit *m = avk_dit_new(&c);
    avk_dit_init(m, 5);
    /* non-zero adaLN and output weights so every path carries signal */
    for (int i = 0; i < m->nparam; i++)
        if (strstr(m->params[i].name, "linear") || strstr(m->params[i].name, "proj_out"))
            avk_fill_randn(m->w + m->params[i].offset, m->params[i].numel, &rng, 0.0f, 0.02f);
    int B = 2, T = 4, H = 16, W = 16, L = 20;
    int64_t n = (int64_t)B * 4 * T * H * W;
    float *x = randn(n, 1.0f), t[2] = {0.3f, 0.8f};
    int32_t tok[40];
    int len[2] = {20, 9};
    for (int i = 0; i < B * L; i++)
        tok[i] = (i * 7) % 300;
    avk_dit_batch b = {.B = B, .T = T, .H = H, .W = W, .x = x, .t = t, .L = L, .tokens = tok,
                       .text_len = len};
    float *p1 = avk_falloc(n), *p2 = avk_falloc(n);
    float *g1 = avk_falloc(m->nfloats), *g2 = avk_falloc(m->nfloats);
    model_pass(m, &b, p1, g1);
    model_pass(m, &b, p2, g2);
    int finite = 1;
    for (int64_t i = 0; i < n; i++)
        finite &= isfinite(p1[i]);
    ok(finite && !memcmp(p1, p2, (size_t)n * 4) && !memcmp(g1, g2, (size_t)m->nfloats * 4),
       "%s, %s: 256 video tokens, heads of 64: two passes give identical bits",
       mmdit ? "MM-DiT" : "single-stream", joint ? "joint" : "cross");
    avk_ffree(x);
    avk_ffree(p1);
    avk_ffree(p2);
    avk_ffree(g1);
    avk_ffree(g2);
    avk_dit_free(m);
}

/* The fixed sine-cosine position embedding against long-double angles
 * (each section's sines, then its cosines), and odd sections refused. */
static void sincos_positions(void)
{
    const int N = 50, dims[3] = {8, 12, 12}, D = 32;
    int pos[50 * 3];
    for (int n = 0; n < N; n++)
        pos[n * 3 + 0] = n % 16, pos[n * 3 + 1] = (n * 7) % 5, pos[n * 3 + 2] = (n * 3) % 4;
    float out[50 * 32];
    ok(avk_sincos3d_embed(out, pos, N, dims, 10000.0f) == 0, "sine-cosine positions build");
    double e = 0;
    for (int n = 0; n < N; n++) {
        int off = 0;
        for (int a = 0; a < 3; a++) {
            for (int j = 0; j < dims[a] / 2; j++) {
                long double ang = (long double)pos[n * 3 + a] * powl(10000.0L, -2.0L * j / dims[a]);
                e = fmax(e, fabs((double)(out[n * D + off + j] - (float)sinl(ang))));
                e = fmax(e, fabs((double)(out[n * D + off + dims[a] / 2 + j] - (float)cosl(ang))));
            }
            off += dims[a];
        }
    }
    ok(e < 1e-6, "sine-cosine positions within %.1e of long-double angles", e);
    const int odd[3] = {8, 11, 13};
    ok(avk_sincos3d_embed(out, pos, N, odd, 10000.0f) < 0 && strstr(avk_errmsg(), "even"),
       "odd sections refused: %s", avk_errmsg());
}

int main(void)
{
    avk_rng_seed(&rng, 570);
    joint_attention();
    rope_hundreds();
    sincos_positions();
    norms_and_modulation();
    model_repeatable(0, 0);
    model_repeatable(1, 1);
    return done_testing();
}
