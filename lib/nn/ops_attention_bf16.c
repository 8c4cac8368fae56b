/* Scaled dot-product attention with bf16 tile products, forward and
 * backward (see include/avkit/nn/ops_bf16.h).
 *
 * The same FlashAttention-2 schedule as ops_attention.c (query blocks of
 * BQ rows, key blocks of BK, online softmax; the backward recomputes the
 * score blocks from the saved lse), with the precision split that makes
 * bf16 training work:
 *   - q, k, v (and dout) are converted to bf16 once per call;
 *   - S = scale q k^T and dP = dO v^T come out of the bf16 products in f32;
 *   - the row max, the running sum l, lse, Di = rowsum(dO * O) and the
 *     output accumulator (with its rescaling) are f32;
 *   - the probability block P and the score gradient dS are rounded to
 *     bf16 only as operands of the next products (P v, P^T dO, dS k,
 *     dS^T q), whose results accumulate in f32 into o, dq, dk, dv.
 * Every product is a cached oneDNN matmul primitive run single-threaded
 * by the thread that owns the block (avk_lowp_gemm). Threads split the
 * work as the fp32 kernel does: deterministic, each output block written
 * by one thread. Under the fp32 fallback the fp32 kernel runs. */
#include "avkit/nn/ops_bf16.h"
#include "avkit/util/common.h"
#include "bf16_matmul.h"
#include "ops_util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BQ 128
#define BK 512

/* avk_expf of ops_util.h (same clamps to [-87.3, 88.7], NaN kept, same
 * polynomial, so the same value) with the clamps done on the bits: GCC if-converts float
 * compares and selects only with AVX-512 masks, so avk_expf's loops stay
 * scalar in the AVX2 clone; masks on integers vectorize at every level
 * (measured on AVX2: the exp loops were 60% of the attention time). */
static inline float attn_exp(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t lo = 0u - (uint32_t)((u > 0xc2ae999au) & (u <= 0xff800000u));   /* [-inf, -87.3) */
    uint32_t hi = 0u - (uint32_t)((u > 0x42b16666u) & (u <= 0x7f800000u));   /* (88.7, inf] */
    u = (u & ~(lo | hi)) | (0xc2ae999au & lo) | (0x42b16666u & hi);
    memcpy(&x, &u, sizeof u);
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.42860682030941723e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float sc;
    memcpy(&sc, &bits, sizeof sc);
    return p * sc;
}

/* Keys that the batch entry of pair bh attends to. */
static int keys_of(const avk_attn *a, int64_t bh)
{
    if (!a->kv_len)
        return a->Nk;
    int L = a->kv_len[bh / a->H];
    return L < a->Nk ? L : a->Nk;
}

/* A lowp copy of n floats (threads inside). */
static void *lowp_copy(const float *x, int64_t n, avk_bf16_kernel k)
{
    void *p = avk_xmalloc((size_t)(n > 0 ? n : 1) * avk_lowp_size(k));
    avk_lowp_convert(p, x, n, k);
    return p;
}

/* Online softmax step for one row of scores s[0..n): new running max m,
 * P = exp(s - m) in place, returns the row sum of P (f32); *corr is
 * exp(mold - mnew), the factor for the old accumulator. */
AVK_CLONES static float online_row_bf16(float *s, int n, float *m, float *corr)
{
    float mx = *m;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        float e = attn_exp(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    *corr = *m == -INFINITY ? 0.0f : attn_exp(*m - mx);
    *m = mx;
    return sum;
}

AVK_CLONES static void scale_row_bf16(float *x, int n, float c)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        x[j] *= c;
}

/* dP row -> dS = P (dP - Di) in place, and P = exp(S - lse) before it. */
AVK_CLONES static void prob_dscore_row(float *s, float *dp, int n, float lse, float di)
{
#pragma omp simd
    for (int j = 0; j < n; j++) {
        float p = attn_exp(s[j] - lse);
        s[j] = p;
        dp[j] = p * (dp[j] - di);
    }
}

AVK_CLONES static float dot_row_bf16(const float *a, const float *b, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

/* ---- forward --------------------------------------------------------- */

void avk_attention_bf16_fwd(float *o, float *lse, const float *q, const float *k,
                            const float *v, const avk_attn *a)
{
    avk_bf16_kernel kind = avk_bf16_get_kernel();
    if (kind == AVK_BF16_FP32) {
        avk_attention_fwd(o, lse, q, k, v, a);
        return;
    }
    int D = a->D;
    int64_t BH = (int64_t)a->B * a->H, nqb = (a->Nq + BQ - 1) / BQ;
    void *ql = lowp_copy(q, BH * a->Nq * D, kind), *kl = lowp_copy(k, BH * a->Nk * D, kind);
    void *vl = lowp_copy(v, BH * a->Nk * D, kind);
#pragma omp parallel
    {
        float *S = avk_falloc(BQ * BK), *acc = avk_falloc((int64_t)BQ * D);
        void *P = avk_lowp_scratch(0, (size_t)BQ * BK * avk_lowp_size(kind));
        float m[BQ], l[BQ];
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < BH * nqb; item++) {
            int64_t bh = item / nqb;
            int i0 = (int)(item % nqb) * BQ, bq = a->Nq - i0 < BQ ? a->Nq - i0 : BQ;
            int L = keys_of(a, bh);
            const void *qi = avk_lowp_at(ql, (bh * a->Nq + i0) * D, kind);
            for (int r = 0; r < bq; r++) {
                m[r] = -INFINITY;
                l[r] = 0;
            }
            memset(acc, 0, sizeof(float) * bq * D);
            for (int j0 = 0; j0 < L; j0 += BK) {
                int bk = L - j0 < BK ? L - j0 : BK;
                const void *kj = avk_lowp_at(kl, (bh * a->Nk + j0) * D, kind);
                const void *vj = avk_lowp_at(vl, (bh * a->Nk + j0) * D, kind);
                avk_lowp_gemm(kind, 'N', 'T', bq, bk, D, a->scale, qi, D, kj, D, 0.0f, S, bk);
                for (int r = 0; r < bq; r++) {
                    float corr;
                    float sum = online_row_bf16(S + r * bk, bk, &m[r], &corr);
                    l[r] = l[r] * corr + sum;
                    if (corr != 1.0f)
                        scale_row_bf16(acc + r * D, D, corr);
                    avk_lowp_convert_row((char *)P + (size_t)r * bk * avk_lowp_size(kind),
                                         S + r * bk, bk, kind);
                }
                avk_lowp_gemm(kind, 'N', 'N', bq, D, bk, 1.0f, P, bk, vj, D, 1.0f, acc, D);
            }
            float *oi = o + (bh * a->Nq + i0) * D;
            for (int r = 0; r < bq; r++) {
                float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;   /* no keys: zeros */
                for (int d = 0; d < D; d++)
                    oi[r * D + d] = acc[r * D + d] * inv;
                lse[bh * a->Nq + i0 + r] = m[r] + logf(l[r]);
            }
        }
        avk_ffree(S);
        avk_ffree(acc);
    }
    free(ql);
    free(kl);
    free(vl);
}

/* ---- backward -------------------------------------------------------- */

/* What every backward block needs: the lowp copies and the f32 Di. */
typedef struct bwd_ctx {
    const avk_attn *a;
    avk_bf16_kernel kind;
    const void *q, *k, *v, *dout;   /* lowp */
    const float *lse, *Di;
    float *dq, *dk, *dv;
} bwd_ctx;

/* Per-thread tiles. */
typedef struct bwd_tiles {
    float *S, *dP;                  /* f32 [BQ, BK] */
    void *P, *dS;                   /* lowp [BQ, BK] */
} bwd_tiles;

/* The block of query rows [i0, i0+bq) and key rows [j0, j0+bk) of pair
 * bh: recompute P and dS (f32, then lowp), then the products into the
 * gradients that are asked for (want_kv: dK and dV; want_q: dQ). */
static void bwd_block(const bwd_ctx *c, bwd_tiles *t, int64_t bh, int i0, int bq, int j0, int bk,
                      int want_kv, int want_q)
{
    const avk_attn *a = c->a;
    avk_bf16_kernel kind = c->kind;
    int D = a->D;
    size_t es = avk_lowp_size(kind);
    int64_t qo = (bh * a->Nq + i0) * D, ko = (bh * a->Nk + j0) * D;
    const void *qi = avk_lowp_at(c->q, qo, kind), *doi = avk_lowp_at(c->dout, qo, kind);
    const void *kj = avk_lowp_at(c->k, ko, kind), *vj = avk_lowp_at(c->v, ko, kind);
    avk_lowp_gemm(kind, 'N', 'T', bq, bk, D, a->scale, qi, D, kj, D, 0.0f, t->S, bk);
    avk_lowp_gemm(kind, 'N', 'T', bq, bk, D, 1.0f, doi, D, vj, D, 0.0f, t->dP, bk);
    for (int r = 0; r < bq; r++) {
        int64_t row = bh * a->Nq + i0 + r;
        prob_dscore_row(t->S + r * bk, t->dP + r * bk, bk, c->lse[row], c->Di[row]);
        if (want_kv && c->dv)
            avk_lowp_convert_row((char *)t->P + (size_t)r * bk * es, t->S + r * bk, bk, kind);
        avk_lowp_convert_row((char *)t->dS + (size_t)r * bk * es, t->dP + r * bk, bk, kind);
    }
    if (want_kv && c->dv)
        avk_lowp_gemm(kind, 'T', 'N', bk, D, bq, 1.0f, t->P, bk, doi, D, 1.0f, c->dv + ko, D);
    if (want_kv && c->dk)
        avk_lowp_gemm(kind, 'T', 'N', bk, D, bq, a->scale, t->dS, bk, qi, D, 1.0f, c->dk + ko, D);
    if (want_q && c->dq)
        avk_lowp_gemm(kind, 'N', 'N', bq, D, bk, a->scale, t->dS, bk, kj, D, 1.0f, c->dq + qo, D);
}

void avk_attention_bf16_bwd(float *dq, float *dk, float *dv, const float *dout,
                            const float *q, const float *k, const float *v,
                            const float *o, const float *lse, const avk_attn *a)
{
    avk_bf16_kernel kind = avk_bf16_get_kernel();
    if (kind == AVK_BF16_FP32) {
        avk_attention_bwd(dq, dk, dv, dout, q, k, v, o, lse, a);
        return;
    }
    if (!dq && !dk && !dv)
        return;
    if (a->write_grads)     /* the kernels below add: into zeros */
        avk_attention_zero_grads(dq, dk, dv, a);
    int D = a->D, nt = avk_ops_threads();
    int64_t BH = (int64_t)a->B * a->H, nqb = (a->Nq + BQ - 1) / BQ, nkb = (a->Nk + BK - 1) / BK;
    float *Di = avk_falloc(BH * a->Nq);
#pragma omp parallel for schedule(static) if (BH * a->Nq * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BH * a->Nq; r++)
        Di[r] = dot_row_bf16(dout + r * D, o + r * D, D);
    bwd_ctx c = {a, kind, lowp_copy(q, BH * a->Nq * D, kind), lowp_copy(k, BH * a->Nk * D, kind),
                 lowp_copy(v, BH * a->Nk * D, kind), lowp_copy(dout, BH * a->Nq * D, kind),
                 lse, Di, dq, dk, dv};
    size_t tile = (size_t)BQ * BK * avk_lowp_size(kind);
    int owned = BH >= 4 * nt || BH % nt == 0;
#pragma omp parallel
    {
        bwd_tiles t = {avk_falloc(BQ * BK), avk_falloc(BQ * BK), avk_lowp_scratch(0, tile),
                       avk_lowp_scratch(1, tile)};
        if (owned) {
            /* each thread owns whole (batch, head) pairs: all products in one pass */
#pragma omp for schedule(dynamic, 1)
            for (int64_t bh = 0; bh < BH; bh++) {
                int L = keys_of(a, bh);
                for (int j0 = 0; j0 < L; j0 += BK)
                    for (int i0 = 0; i0 < a->Nq; i0 += BQ)
                        bwd_block(&c, &t, bh, i0, a->Nq - i0 < BQ ? a->Nq - i0 : BQ, j0,
                                  L - j0 < BK ? L - j0 : BK, 1, 1);
            }
        } else {
            /* pass 1: key blocks own dK, dV; pass 2: query blocks own dQ */
            if (dk || dv) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t item = 0; item < BH * nkb; item++) {
                    int64_t bh = item / nkb;
                    int j0 = (int)(item % nkb) * BK, L = keys_of(a, bh);
                    if (j0 >= L)
                        continue;
                    for (int i0 = 0; i0 < a->Nq; i0 += BQ)
                        bwd_block(&c, &t, bh, i0, a->Nq - i0 < BQ ? a->Nq - i0 : BQ, j0,
                                  L - j0 < BK ? L - j0 : BK, 1, 0);
                }
            }
            if (dq) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t item = 0; item < BH * nqb; item++) {
                    int64_t bh = item / nqb;
                    int i0 = (int)(item % nqb) * BQ, L = keys_of(a, bh);
                    for (int j0 = 0; j0 < L; j0 += BK)
                        bwd_block(&c, &t, bh, i0, a->Nq - i0 < BQ ? a->Nq - i0 : BQ, j0,
                                  L - j0 < BK ? L - j0 : BK, 0, 1);
                }
            }
        }
        avk_ffree(t.S);
        avk_ffree(t.dP);
    }
    free((void *)c.q);
    free((void *)c.k);
    free((void *)c.v);
    free((void *)c.dout);
    avk_ffree(Di);
}

/* ---- reference: the fp32 reference on bf16-rounded inputs ------------ */

static float *rounded(const float *x, int64_t n)
{
    float *r = avk_falloc(n);
    avk_round_bf16(r, x, n);
    return r;
}

void avk_attention_bf16_fwd_ref(float *o, float *lse, const float *q, const float *k,
                                const float *v, const avk_attn *a)
{
    int64_t nq = (int64_t)a->B * a->H * a->Nq * a->D, nk = (int64_t)a->B * a->H * a->Nk * a->D;
    float *qr = rounded(q, nq), *kr = rounded(k, nk), *vr = rounded(v, nk);
    avk_attention_fwd_ref(o, lse, qr, kr, vr, a);
    avk_ffree(qr);
    avk_ffree(kr);
    avk_ffree(vr);
}

void avk_attention_bf16_bwd_ref(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v,
                                const float *o, const float *lse, const avk_attn *a)
{
    int64_t nq = (int64_t)a->B * a->H * a->Nq * a->D, nk = (int64_t)a->B * a->H * a->Nk * a->D;
    float *qr = rounded(q, nq), *kr = rounded(k, nk), *vr = rounded(v, nk);
    float *dr = rounded(dout, nq);
    avk_attention_bwd_ref(dq, dk, dv, dr, qr, kr, vr, o, lse, a);
    avk_ffree(qr);
    avk_ffree(kr);
    avk_ffree(vr);
    avk_ffree(dr);
}
