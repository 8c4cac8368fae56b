/* Attention at video-scale sequence lengths: the tiled fast kernel at
 * 4096 tokens against the reference on sampled query rows (forward and
 * the query gradient, which depends on its own row only), full backward
 * at 1024 tokens against the reference, cross-attention with a key mask,
 * and the workspace is independent of the key length (memory linear in
 * the sequence, never Nq x Nk), and the probabilities the forward can
 * keep for the backward (avk_attn.p_keep). Tolerance 1e-5 relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tap.h"
#include "randn.h"
#include "avkit/nn/ops.h"

/* 4096 tokens, 2 heads of 64: sampled rows of o and dq. */
static void long_sequence(void)
{
    const int H = 2, N = 4096, D = 64;
    int64_t n = (int64_t)H * N * D;
    float *q = randn(n, 1.0f), *k = randn(n, 1.0f), *v = randn(n, 1.0f), *dout = randn(n, 1.0f);
    float *o = avk_falloc(n), *lse = avk_falloc((int64_t)H * N);
    float *dq = avk_fzeros(n), *dk = avk_fzeros(n), *dv = avk_fzeros(n);
    avk_attn a = avk_attn_make(1, H, N, N, D);
    avk_attention_fwd(o, lse, q, k, v, &a);
    avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, &a);
    const int rows[] = {0, 1, 127, 128, 1234, 2047, 4095};
    double eo = 0, el = 0, eq = 0;
    for (int h = 0; h < H; h++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            int64_t off = ((int64_t)h * N + rows[r]) * D;
            avk_attn one = avk_attn_make(1, 1, 1, N, D);
            float ro[64], rl, rdq[64] = {0};
            const float *kh = k + (int64_t)h * N * D, *vh = v + (int64_t)h * N * D;
            avk_attention_fwd_ref(ro, &rl, q + off, kh, vh, &one);
            avk_attention_bwd_ref(rdq, NULL, NULL, dout + off, q + off, kh, vh, ro, &rl, &one);
            double e = rel_err(o + off, ro, D);
            eo = e > eo ? e : eo;
            e = fabs(lse[h * N + rows[r]] - rl) / fabs(rl);
            el = e > el ? e : el;
            e = rel_err(dq + off, rdq, D);
            eq = e > eq ? e : eq;
        }
    ok(eo < 1e-5, "4096 tokens: output rows equal the reference: rel err %.2e", eo);
    ok(el < 1e-5, "4096 tokens: saved log-sum-exp equals the reference: rel err %.2e", el);
    ok(eq < 1e-5, "4096 tokens: query gradient rows equal the reference: rel err %.2e", eq);
    ok(avk_find_nonfinite(dk, n) < 0 && avk_find_nonfinite(dv, n) < 0,
       "4096 tokens: key and value gradients are finite");
    avk_ffree(q); avk_ffree(k); avk_ffree(v); avk_ffree(dout); avk_ffree(o); avk_ffree(lse);
    avk_ffree(dq); avk_ffree(dk); avk_ffree(dv);
}

/* Full forward and backward against the reference: B heads/batches with
 * and without a key mask, cross-attention shapes. */
static void full_check(int B, int H, int Nq, int Nk, int D, const int *kv_len, const char *what)
{
    int64_t nq = (int64_t)B * H * Nq * D, nk = (int64_t)B * H * Nk * D;
    float *q = randn(nq, 1.0f), *k = randn(nk, 1.0f), *v = randn(nk, 1.0f), *dout = randn(nq, 1.0f);
    float *o = avk_falloc(nq), *ro = avk_falloc(nq);
    float *lse = avk_falloc((int64_t)B * H * Nq), *rlse = avk_falloc((int64_t)B * H * Nq);
    float *g[6];
    for (int i = 0; i < 6; i++)
        g[i] = avk_fzeros(i % 3 == 0 ? nq : nk);
    avk_attn a = avk_attn_make(B, H, Nq, Nk, D);
    a.kv_len = kv_len;
    avk_attention_fwd(o, lse, q, k, v, &a);
    avk_attention_fwd_ref(ro, rlse, q, k, v, &a);
    avk_attention_bwd(g[0], g[1], g[2], dout, q, k, v, o, lse, &a);
    avk_attention_bwd_ref(g[3], g[4], g[5], dout, q, k, v, ro, rlse, &a);
    double e = rel_err(o, ro, nq), eg = rel_err_qkv(g, nq, nk);
    ok(e < 1e-5 && eg < 1e-5, "%s: forward rel err %.2e, backward rel err %.2e", what, e, eg);
    avk_ffree(q); avk_ffree(k); avk_ffree(v); avk_ffree(dout); avk_ffree(o); avk_ffree(ro);
    avk_ffree(lse); avk_ffree(rlse);
    for (int i = 0; i < 6; i++)
        avk_ffree(g[i]);
}

/* The layout recipe of ops.h: spatial and temporal attention from a fused
 * qkv [B, T, S, 3, H, Dh] through avk_permute, against explicit loops. */
static void video_layouts(void)
{
    enum { B = 2, T = 3, S = 5, H = 2, Dh = 8 };
    int64_t n = (int64_t)B * T * S * 3 * H * Dh, no = (int64_t)B * T * S * H * Dh;
    float *qkv = randn(n, 1.0f), *perm = avk_falloc(n), *o = avk_falloc(no);
    float *tok = avk_falloc(no), *lse = avk_falloc(no);
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int temporal = 0; temporal < 2; temporal++) {
        int64_t shape[6] = {B, T, S, 3, H, Dh};
        int pspat[6] = {3, 0, 1, 4, 2, 5}, ptemp[6] = {3, 0, 2, 4, 1, 5};
        const int *pm = temporal ? ptemp : pspat;
        avk_permute(perm, qkv, 6, shape, pm);
        int L = temporal ? T : S, nb = temporal ? B * S : B * T;
        avk_attn a = avk_attn_make(nb, H, L, L, Dh);
        avk_attention_fwd(o, lse, perm, perm + no, perm + 2 * no, &a);
        /* back to [B, T, S, H, Dh]: o is [B, X, H, L, Dh] with X = T or S */
        int64_t oshape[5] = {B, temporal ? S : T, H, L, Dh};
        int back_s[5] = {0, 1, 3, 2, 4};        /* [B,T,H,S,Dh] -> [B,T,S,H,Dh] */
        int back_t[5] = {0, 3, 1, 2, 4};        /* [B,S,H,T,Dh] -> [B,T,S,H,Dh] */
        avk_permute(tok, o, 5, oshape, temporal ? back_t : back_s);
        double err = 0, mx = 0;
#define QKV(b, t, s_, w, h, d) qkv[(((((int64_t)(b) * T + (t)) * S + (s_)) * 3 + (w)) * H + (h)) * Dh + (d)]
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int s_ = 0; s_ < S; s_++)
                    for (int h = 0; h < H; h++) {
                        double sc[8], m = -1e30, sum = 0;
                        for (int j = 0; j < L; j++) {
                            int tj = temporal ? j : t, sj = temporal ? s_ : j;
                            double dot = 0;
                            for (int d = 0; d < Dh; d++)
                                dot += (double)QKV(b, t, s_, 0, h, d) * QKV(b, tj, sj, 1, h, d);
                            sc[j] = dot * scale;
                            m = sc[j] > m ? sc[j] : m;
                        }
                        for (int j = 0; j < L; j++)
                            sum += (sc[j] = exp(sc[j] - m));
                        for (int d = 0; d < Dh; d++) {
                            double acc = 0;
                            for (int j = 0; j < L; j++) {
                                int tj = temporal ? j : t, sj = temporal ? s_ : j;
                                acc += sc[j] / sum * QKV(b, tj, sj, 2, h, d);
                            }
                            double got = tok[((((int64_t)b * T + t) * S + s_) * H + h) * Dh + d];
                            err = fabs(got - acc) > err ? fabs(got - acc) : err;
                            mx = fabs(acc) > mx ? fabs(acc) : mx;
                        }
                    }
#undef QKV
        ok(err / mx < 1e-5, "%s attention through the ops.h permutations equals explicit loops: rel err %.2e",
           temporal ? "temporal" : "spatial", err / mx);
    }
    avk_ffree(qkv); avk_ffree(perm); avk_ffree(o); avk_ffree(tok); avk_ffree(lse);
}

/* avk_attn.p_keep: where avk_attention_keep_size is not 0, the forward
 * keeps the probabilities (against softmax in double on the valid keys)
 * with its output unchanged bit for bit, and the backward that reads them
 * writes gradients within 1e-5 of the reference, over NaN-filled buffers
 * (write_grads); elsewhere the buffer is ignored. */
static void kept_check(int B, int H, int Nq, int Nk, int D, const int *kv_len, int64_t want,
                       const char *what)
{
    int64_t nq = (int64_t)B * H * Nq * D, nk = (int64_t)B * H * Nk * D, BH = (int64_t)B * H;
    float *q = randn(nq, 1.0f), *k = randn(nk, 1.0f), *v = randn(nk, 1.0f), *dout = randn(nq, 1.0f);
    float *o = avk_falloc(nq), *ok_ = avk_falloc(nq), *ro = avk_falloc(nq);
    float *lse = avk_falloc(BH * Nq), *lk = avk_falloc(BH * Nq), *rlse = avk_falloc(BH * Nq);
    avk_attn a = avk_attn_make(B, H, Nq, Nk, D);
    a.kv_len = kv_len;
    int64_t n = avk_attention_keep_size(&a);
    ok(n == want, "%s: keep size %lld (want %lld)", what, (long long)n, (long long)want);
    int64_t np = BH * Nq * Nk;
    float *pk = nans(np);
    avk_attention_fwd(o, lse, q, k, v, &a);
    avk_attention_fwd_ref(ro, rlse, q, k, v, &a);
    a.p_keep = pk;
    avk_attention_fwd(ok_, lk, q, k, v, &a);
    ok(memcmp(o, ok_, (size_t)nq * sizeof(float)) == 0 &&
           memcmp(lse, lk, (size_t)(BH * Nq) * sizeof(float)) == 0,
       "%s: keeping changes no bit of the output", what);
    if (n) {
        double e = 0;
        double *srow = malloc(sizeof(double) * (size_t)Nk);
        for (int64_t bh = 0; bh < BH; bh++) {
            int L = kv_len ? (kv_len[bh / H] < Nk ? kv_len[bh / H] : Nk) : Nk;
            for (int i = 0; i < Nq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < L; j++) {
                    double d = 0;
                    for (int c = 0; c < D; c++)
                        d += (double)q[(bh * Nq + i) * D + c] * k[(bh * Nk + j) * D + c];
                    srow[j] = d * a.scale;
                    mx = srow[j] > mx ? srow[j] : mx;
                }
                for (int j = 0; j < L; j++)
                    sum += exp(srow[j] - mx);
                for (int j = 0; j < L; j++) {
                    double pr = exp(srow[j] - mx) / sum, t = fabs(pk[(bh * Nq + i) * Nk + j] - pr);
                    e = t > e || isnan(t) ? t : e;
                }
            }
        }
        free(srow);
        ok(e < 1e-6, "%s: kept probabilities within %.1e of softmax in double", what, e);
    } else {
        int untouched = 1;
        for (int64_t i = 0; i < np; i++)
            untouched &= isnan(pk[i]);
        ok(untouched, "%s: the buffer is left alone", what);
    }
    float *g[6];
    for (int i = 0; i < 6; i++)         /* written over NaN; the references add into zeros */
        g[i] = i < 3 ? nans(i == 0 ? nq : nk) : avk_fzeros(i == 3 ? nq : nk);
    a.write_grads = 1;
    avk_attention_bwd(g[0], g[1], g[2], dout, q, k, v, ok_, lk, &a);
    a.write_grads = 0;
    avk_attention_bwd_ref(g[3], g[4], g[5], dout, q, k, v, ro, rlse, &a);
    double eg = rel_err_qkv(g, nq, nk);
    ok(eg < 1e-5, "%s: backward given the buffer, rel err %.2e", what, eg);
    float *bufs[] = {q, k, v, dout, o, ok_, ro, lse, lk, rlse, pk, g[0], g[1], g[2], g[3], g[4], g[5]};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        avk_ffree(bufs[i]);
}

int main(void)
{
    avk_rng_seed(&rng, 7);
    long_sequence();
    video_layouts();
    full_check(1, 1, 1024, 1024, 64, NULL, "1024 tokens, one head (split backward)");
    full_check(2, 4, 300, 300, 32, NULL, "batch 2 x 4 heads of 32 (owned backward)");
    full_check(2, 1, 96, 96, 512, NULL, "VAE mid-block shape: one head of 512 channels");
    static const int lens[3] = {77, 5, 120};
    full_check(3, 2, 130, 120, 16, lens, "cross-attention to masked keys of different lengths");
    static const int spatial_lens[4] = {96, 84, 90, 96}, cross_lens[2] = {20, 32},
                     with_none[2] = {0, 150};
    kept_check(4, 4, 96, 96, 64, spatial_lens, 4 * 4 * 96 * 96,
               "kept, the DiT's spatial tiles (96 of 64 wide, masked text)");
    kept_check(2, 4, 512, 32, 64, cross_lens, 2 * 4 * 512 * 32,
               "kept, the cross branch (512 queries in 4 blocks, 32 masked keys)");
    kept_check(1, 3, 300, 200, 32, NULL, 3 * 300 * 200, "kept, 3 pairs (the split backward)");
    kept_check(2, 1, 40, 150, 16, with_none, 2 * 40 * 150, "kept, a pair without keys");
    kept_check(1, 2, 64, 600, 32, NULL, 0, "600 keys, past one tile: nothing kept");
    kept_check(2, 2, 16, 16, 64, NULL, 0, "short sequences: nothing kept");
    {
        static const int none[1] = {0};
        avk_attn a0 = avk_attn_make(1, 1, 3, 4, 8);
        a0.kv_len = none;
        float q[24], k[32], v[32], o[24], lse[3];
        avk_fill_randn(q, 24, &rng, 0, 1);
        avk_fill_randn(k, 32, &rng, 0, 1);
        avk_fill_randn(v, 32, &rng, 0, 1);
        avk_attention_fwd(o, lse, q, k, v, &a0);
        int zero = 1;
        for (int i = 0; i < 24; i++)
            zero &= o[i] == 0.0f;
        ok(zero && isinf(lse[0]) && lse[0] < 0, "a batch entry with no keys attends to nothing: zeros");
    }
    avk_attn a1 = avk_attn_make(1, 8, 1024, 1024, 64), a2 = avk_attn_make(1, 8, 1024, 65536, 64);
    ok(avk_attention_workspace(&a1, 0) == avk_attention_workspace(&a2, 0),
       "forward workspace does not grow with the key length (%zu bytes)",
       avk_attention_workspace(&a1, 0));
    avk_attn a3 = avk_attn_make(1, 8, 4096, 4096, 64);
    ok(avk_attention_workspace(&a3, 1) - avk_attention_workspace(&a1, 1) ==
       (size_t)8 * (4096 - 1024) * sizeof(float),
       "backward workspace grows by one float per query row only");
    return done_testing();
}
