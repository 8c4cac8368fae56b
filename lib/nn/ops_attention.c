/* Scaled dot-product attention, forward and backward.
 *
 * Fast path (FlashAttention-2 style, on the CPU): the queries of one
 * (batch, head) are cut into blocks of BQ rows and the keys into blocks of
 * BK; a thread takes a query block, walks the key blocks with an online
 * softmax (running row max m and sum l, rescaling its output accumulator
 * when m grows), and writes o = acc / l and lse = m + log l. Only one
 * BQ x BK score block per thread exists at a time, so memory is linear in
 * the sequence length. The block products are dnnl_sgemm calls (single-
 * threaded inside the parallel region). The backward recomputes each score
 * block from q, k and the saved lse, P = exp(S - lse), and with
 * Di = rowsum(dO * O):
 *   dV += P^T dO,  dP = dO V^T,  dS = P (dP - Di),
 *   dQ += scale dS K,  dK += scale dS^T Q.
 * When there are enough (batch, head) pairs for the threads, each thread
 * owns whole pairs and does all five products in one pass; otherwise a
 * pass over key blocks (dK, dV) and a pass over query blocks (dQ) keep
 * every write owned by one thread (no atomics, deterministic). Short
 * sequences (at most SHORT queries and keys, the DiT's temporal
 * attention) skip the tiles: per (batch, head) pair, direct dot products
 * over the head dimension, forward and backward. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define BQ 128
#define BK 512

avk_attn avk_attn_make(int B, int H, int Nq, int Nk, int D)
{
    avk_attn a = {B, H, Nq, Nk, D, 1.0f / sqrtf((float)D), NULL, 0, NULL};
    return a;
}

/* Keys that batch entry b attends to. */
static int keys_of(const avk_attn *a, int64_t bh)
{
    if (!a->kv_len)
        return a->Nk;
    int L = a->kv_len[bh / a->H];
    return L < a->Nk ? L : a->Nk;
}

size_t avk_attention_workspace(const avk_attn *a, int backward)
{
    size_t per = backward ? (size_t)2 * BQ * BK : (size_t)BQ * BK + (size_t)BQ * a->D + 2 * BQ;
    size_t extra = backward ? (size_t)a->B * a->H * a->Nq : 0;   /* Di */
    return (per * (size_t)omp_get_max_threads() + extra) * sizeof(float);
}

/* ---- block kernels --------------------------------------------------- */

/* Online softmax step for one block row of scores s[0..n): new max,
 * P = exp(s - mnew) in place, returns the row sum of P; *corr is the
 * factor exp(mold - mnew) for the old accumulator. */
AVK_CLONES static float online_row(float *s, int n, float *m, float *corr)
{
    float mx = *m;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++)
        mx = s[j] > mx ? s[j] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) {
        float e = avk_expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    *corr = *m == -INFINITY ? 0.0f : avk_expf(*m - mx);
    *m = mx;
    return sum;
}

AVK_CLONES static void scale_row(float *x, int n, float c)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        x[j] *= c;
}

/* dst = c src for a row (the kept probabilities: the exponentials of a
 * one-tile row over their sum). */
AVK_CLONES static void scale_row_to(float *dst, const float *src, int n, float c)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        dst[j] = src[j] * c;
}

/* P = exp(S - lse) for a row. */
AVK_CLONES static void prob_row(float *s, int n, float lse)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        s[j] = avk_expf(s[j] - lse);
}

/* dS = P (dP - Di) for a row, written over dP. */
AVK_CLONES static void dscore_row(float *dp, const float *p, int n, float di)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        dp[j] = p[j] * (dp[j] - di);
}

AVK_CLONES static float dot_row(const float *a, const float *b, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

/* o[0..n) += c * x[0..n), and a dot product: inlined into the cloned
 * short-sequence kernels below (a call per 64-element row costs as much
 * as the row). */
static inline void axpy_in(float *restrict o, const float *restrict x, int n, float c)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        o[j] += c * x[j];
}

static inline float dot_in(const float *a, const float *b, int n)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

/* ---- short sequences ------------------------------------------------- */

/* At most this many queries and keys: the short path below. The DiT's
 * temporal attention (one sequence per spatial position across 8-16
 * frames) is thousands of (sequence, head) pairs of a few tokens; the
 * tiled path spends its time in the set-up of dnnl_sgemm calls on 8 x 8
 * blocks there (9-11 GFLOP/s measured), while direct dot products over
 * the head dimension run the same arithmetic without them. */
#define SHORT 32

/* Eight floats as one vector (GCC's and clang's vector extension: a ymm
 * register in the AVX2 and AVX-512 clones, two xmm in the baseline). */
typedef float v8f __attribute__((vector_size(32)));
/* The same, read from and written to any float address (unaligned). */
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define V8_LOAD(p) (*(const v8u *)(p))
#define V8_STORE(p, v) (*(v8u *)(p) = (v))
/* The lanes' sum, in a fixed order. */
#define V8_SUM(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))

/* s[j] = scale (x . Y_j) for the n <= 8 rows Y_j of Y (row stride D, D a
 * multiple of 8). Eight accumulators, one per row, so the products run at
 * the FMA units' throughput: one dot product at a time is a chain of
 * dependent adds, and the temporal attention's 8-key rows ran at 8-10
 * GFLOP/s so. */
static inline void dots8(float *s, const float *x, const float *Y, int n, int D, float scale)
{
    const float *row[8];
    for (int j = 0; j < 8; j++)      /* rows past n repeat the last: no branch in the loop */
        row[j] = Y + (int64_t)(j < n ? j : n - 1) * D;
    v8f acc[8] = {0};
    for (int d = 0; d < D; d += 8) {
        v8f xv = V8_LOAD(x + d);
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            acc[j] += xv * V8_LOAD(row[j] + d);
    }
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        if (j < n)
            s[j] = scale * V8_SUM(acc[j]);
}

/* o[0..D) (+)= sum_j w[j] Y_j over the n rows of Y (row stride D, D a
 * multiple of 8): added to o when `add`, else written. Up to 64 columns
 * at a time in registers, one pass over the rows each. */
static inline void combine_rows(float *o, const float *w, const float *Y, int n, int D, int add)
{
    int d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) {
        v8f acc[8] = {0};
        for (int j = 0; j < n; j++) {
            v8f wj = (v8f){0} + w[j];
            const float *y = Y + (int64_t)j * D + d0;
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++)
                acc[c] += wj * V8_LOAD(y + 8 * c);
        }
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            if (add)
                acc[c] += V8_LOAD(o + d0 + 8 * c);
            V8_STORE(o + d0 + 8 * c, acc[c]);
        }
    }
    for (; d0 < D; d0 += 8) {      /* the columns past the last multiple of 64 */
        v8f acc = {0};
        for (int j = 0; j < n; j++)
            acc += ((v8f){0} + w[j]) * V8_LOAD(Y + (int64_t)j * D + d0);
        if (add)
            acc += V8_LOAD(o + d0);
        V8_STORE(o + d0, acc);
    }
}

/* Forward of one pair bh: each query row's scores against the L keys,
 * softmax with its max and sum, output = sum_j (p_j / sum) v_j. */
AVK_CLONES static void short_fwd_pair(float *o, float *lse, const float *q, const float *k,
                           const float *v, const avk_attn *a, int64_t bh)
{
    int D = a->D, L = keys_of(a, bh);
    const float *kb = k + bh * a->Nk * D, *vb = v + bh * a->Nk * D;
    float s[SHORT];
    for (int i = 0; i < a->Nq; i++) {
        const float *qi = q + (bh * a->Nq + i) * D;
        float *oi = o + (bh * a->Nq + i) * D;
        for (int j0 = 0; j0 < L; j0 += 8)
            dots8(s + j0, qi, kb + (int64_t)j0 * D, L - j0 < 8 ? L - j0 : 8, D, a->scale);
        float mx = -INFINITY, sum = 0;
        for (int j = 0; j < L; j++)
            mx = s[j] > mx ? s[j] : mx;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < L; j++) {
            s[j] = avk_expf(s[j] - mx);
            sum += s[j];
        }
        float inv = L > 0 ? 1.0f / sum : 0.0f;
#pragma omp simd
        for (int j = 0; j < L; j++)
            s[j] *= inv;
        combine_rows(oi, s, vb, L, D, 0);     /* no keys: zeros */
        lse[bh * a->Nq + i] = mx + logf(sum);    /* no keys: -inf */
    }
}

/* Backward of one pair bh (all its dq, dk, dv rows: one thread owns
 * them): P recomputed from the saved lse, dS = P (dO V^T - Di), then
 * each gradient row as one weighted sum of rows (combine_rows): dQ_i over
 * the keys with row i of dS, dV_j and dK_j over the queries with column j
 * of P and dS. */
AVK_CLONES static void short_bwd_pair(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, const float *lse, const float *Di,
                           const avk_attn *a, int64_t bh)
{
    int D = a->D, L = keys_of(a, bh), Nq = a->Nq;
    const float *kb = k + bh * a->Nk * D, *vb = v + bh * a->Nk * D;
    const float *qb = q + bh * Nq * D, *ob = dout + bh * Nq * D;
    float P[SHORT * SHORT], dS[SHORT * SHORT], col[SHORT];
    for (int i = 0; i < Nq; i++) {
        float *p = P + i * SHORT, *ds = dS + i * SHORT;
        float l = lse[bh * Nq + i], di = Di[bh * Nq + i];
        for (int j0 = 0; j0 < L; j0 += 8) {
            int n = L - j0 < 8 ? L - j0 : 8;
            dots8(p + j0, qb + (int64_t)i * D, kb + (int64_t)j0 * D, n, D, a->scale);
            dots8(ds + j0, ob + (int64_t)i * D, vb + (int64_t)j0 * D, n, D, 1.0f);
        }
#pragma omp simd
        for (int j = 0; j < L; j++) {
            p[j] = avk_expf(p[j] - l);
            ds[j] = a->scale * (p[j] * (ds[j] - di));
        }
    }
    int add = !a->write_grads;
    if (dq)
        for (int i = 0; i < Nq; i++)
            combine_rows(dq + (bh * Nq + i) * D, dS + i * SHORT, kb, L, D, add);
    for (int j = 0; j < L; j++) {
        int64_t kr = (bh * a->Nk + j) * D;
        if (dv) {
            for (int i = 0; i < Nq; i++)
                col[i] = P[i * SHORT + j];
            combine_rows(dv + kr, col, ob, Nq, D, add);
        }
        if (dk) {
            for (int i = 0; i < Nq; i++)
                col[i] = dS[i * SHORT + j];
            combine_rows(dk + kr, col, qb, Nq, D, add);
        }
    }
}

/* Whether a takes the short path. */
static int is_short(const avk_attn *a)
{
    return a->Nq <= SHORT && a->Nk <= SHORT && a->D % 8 == 0;
}

int64_t avk_attention_keep_size(const avk_attn *a)
{
    if (is_short(a) || a->Nk > BK)
        return 0;
    return (int64_t)a->B * a->H * a->Nq * a->Nk;
}

/* ---- forward --------------------------------------------------------- */

void avk_attention_fwd(float *o, float *lse, const float *q, const float *k,
                       const float *v, const avk_attn *a)
{
    int D = a->D;
    int64_t BH = (int64_t)a->B * a->H, nqb = (a->Nq + BQ - 1) / BQ;
    if (is_short(a)) {
#pragma omp parallel for schedule(static) if (BH * a->Nq * D >= AVK_PAR_MIN)
        for (int64_t bh = 0; bh < BH; bh++)
            short_fwd_pair(o, lse, q, k, v, a, bh);
        return;
    }
    float *keep = avk_attention_keep_size(a) ? a->p_keep : NULL;
#pragma omp parallel
    {
        float *S = avk_falloc(BQ * BK), *acc = avk_falloc((int64_t)BQ * D);
        float m[BQ], l[BQ];
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < BH * nqb; item++) {
            int64_t bh = item / nqb;
            int i0 = (int)(item % nqb) * BQ, bq = a->Nq - i0 < BQ ? a->Nq - i0 : BQ;
            int L = keys_of(a, bh);
            const float *qi = q + (bh * a->Nq + i0) * D;
            const float *kb = k + bh * a->Nk * D, *vb = v + bh * a->Nk * D;
            for (int r = 0; r < bq; r++) {
                m[r] = -INFINITY;
                l[r] = 0;
            }
            memset(acc, 0, sizeof(float) * bq * D);
            for (int j0 = 0; j0 < L; j0 += BK) {
                int bk = L - j0 < BK ? L - j0 : BK;
                avk_gemm('N', 'T', bq, bk, D, a->scale, qi, D, kb + (int64_t)j0 * D, D, 0.0f, S, bk);
                for (int r = 0; r < bq; r++) {
                    float corr;
                    float sum = online_row(S + r * bk, bk, &m[r], &corr);
                    l[r] = l[r] * corr + sum;
                    if (corr != 1.0f)
                        scale_row(acc + r * D, D, corr);
                }
                avk_gemm('N', 'N', bq, D, bk, 1.0f, S, bk, vb + (int64_t)j0 * D, D, 1.0f, acc, D);
            }
            float *oi = o + (bh * a->Nq + i0) * D;
            for (int r = 0; r < bq; r++) {
                float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;   /* no keys: zeros */
                for (int d = 0; d < D; d++)
                    oi[r * D + d] = acc[r * D + d] * inv;
                lse[bh * a->Nq + i0 + r] = m[r] + logf(l[r]);
                if (keep)        /* one tile: S holds exp(s - m) of every key */
                    scale_row_to(keep + (bh * a->Nq + i0 + r) * a->Nk, S + r * L, L, inv);
            }
        }
        avk_ffree(S);
        avk_ffree(acc);
    }
}

/* ---- backward -------------------------------------------------------- */

/* Score block of query rows [i0, i0+bq) and key rows [j0, j0+bk) of pair
 * bh: P into P, dS into dS. */
static void bwd_block(float *P, float *dS, const float *q, const float *k, const float *v,
                      const float *dout, const float *lse, const float *Di, const avk_attn *a,
                      int64_t bh, int i0, int bq, int j0, int bk)
{
    int D = a->D;
    const float *qi = q + (bh * a->Nq + i0) * D, *doi = dout + (bh * a->Nq + i0) * D;
    const float *kj = k + (bh * a->Nk + j0) * D, *vj = v + (bh * a->Nk + j0) * D;
    const float *kept = a->p_keep && avk_attention_keep_size(a) ? a->p_keep : NULL;
    if (kept) {          /* the forward's probabilities (one tile: j0 = 0) */
        for (int r = 0; r < bq; r++)
            memcpy(P + r * bk, kept + (bh * a->Nq + i0 + r) * a->Nk, (size_t)bk * sizeof(float));
    } else {
        avk_gemm('N', 'T', bq, bk, D, a->scale, qi, D, kj, D, 0.0f, P, bk);
    }
    avk_gemm('N', 'T', bq, bk, D, 1.0f, doi, D, vj, D, 0.0f, dS, bk);
    for (int r = 0; r < bq; r++) {
        if (!kept)
            prob_row(P + r * bk, bk, lse[bh * a->Nq + i0 + r]);
        dscore_row(dS + r * bk, P + r * bk, bk, Di[bh * a->Nq + i0 + r]);
    }
}

void avk_attention_zero_grads(float *dq, float *dk, float *dv, const avk_attn *a)
{
    int64_t nq = (int64_t)a->B * a->H * a->Nq * a->D, nk = (int64_t)a->B * a->H * a->Nk * a->D;
    if (dq)
        memset(dq, 0, (size_t)nq * sizeof(float));
    if (dk)
        memset(dk, 0, (size_t)nk * sizeof(float));
    if (dv)
        memset(dv, 0, (size_t)nk * sizeof(float));
}

/* For write_grads: zero the gradient rows no product reaches (keys past
 * a pair's kv_len, the queries of a pair without keys, every key row
 * when there are no queries); the kernels write all others. */
static void zero_unreached(float *dq, float *dk, float *dv, const avk_attn *a)
{
    int D = a->D;
    for (int64_t bh = 0; bh < (int64_t)a->B * a->H; bh++) {
        int L = a->Nq > 0 ? keys_of(a, bh) : 0;
        size_t kbytes = (size_t)(a->Nk - L) * D * sizeof(float);
        if (dk && L < a->Nk)
            memset(dk + (bh * a->Nk + L) * D, 0, kbytes);
        if (dv && L < a->Nk)
            memset(dv + (bh * a->Nk + L) * D, 0, kbytes);
        if (dq && keys_of(a, bh) == 0)
            memset(dq + bh * a->Nq * D, 0, (size_t)a->Nq * D * sizeof(float));
    }
}

void avk_attention_bwd(float *dq, float *dk, float *dv, const float *dout,
                       const float *q, const float *k, const float *v,
                       const float *o, const float *lse, const avk_attn *a)
{
    int D = a->D, nt = avk_ops_threads();
    int64_t BH = (int64_t)a->B * a->H, nqb = (a->Nq + BQ - 1) / BQ, nkb = (a->Nk + BK - 1) / BK;
    if (a->write_grads)
        zero_unreached(dq, dk, dv, a);
    float *Di = avk_falloc(BH * a->Nq);
#pragma omp parallel for schedule(static) if (BH * a->Nq * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BH * a->Nq; r++)
        Di[r] = dot_row(dout + r * D, o + r * D, D);
    /* with write_grads, the first product into a gradient block writes it */
    float wr = a->write_grads ? 0.0f : 1.0f;
    if (is_short(a)) {
#pragma omp parallel for schedule(static) if (BH * a->Nq * D >= AVK_PAR_MIN)
        for (int64_t bh = 0; bh < BH; bh++)
            short_bwd_pair(dq, dk, dv, dout, q, k, v, lse, Di, a, bh);
        avk_ffree(Di);
        return;
    }
    int owned = BH >= 4 * nt || BH % nt == 0;
    if (owned) {
#pragma omp parallel
        {
            float *P = avk_falloc(BQ * BK), *dS = avk_falloc(BQ * BK);
#pragma omp for schedule(dynamic, 1)
            for (int64_t bh = 0; bh < BH; bh++) {
                int L = keys_of(a, bh);
                for (int j0 = 0; j0 < L; j0 += BK) {
                    int bk = L - j0 < BK ? L - j0 : BK;
                    const float *kj = k + (bh * a->Nk + j0) * D;
                    for (int i0 = 0; i0 < a->Nq; i0 += BQ) {
                        int bq = a->Nq - i0 < BQ ? a->Nq - i0 : BQ;
                        const float *qi = q + (bh * a->Nq + i0) * D;
                        const float *doi = dout + (bh * a->Nq + i0) * D;
                        bwd_block(P, dS, q, k, v, dout, lse, Di, a, bh, i0, bq, j0, bk);
                        float bk_beta = i0 ? 1.0f : wr, bq_beta = j0 ? 1.0f : wr;
                        if (dv)
                            avk_gemm('T', 'N', bk, D, bq, 1.0f, P, bk, doi, D, bk_beta,
                                     dv + (bh * a->Nk + j0) * D, D);
                        if (dq)
                            avk_gemm('N', 'N', bq, D, bk, a->scale, dS, bk, kj, D, bq_beta,
                                     dq + (bh * a->Nq + i0) * D, D);
                        if (dk)
                            avk_gemm('T', 'N', bk, D, bq, a->scale, dS, bk, qi, D, bk_beta,
                                     dk + (bh * a->Nk + j0) * D, D);
                    }
                }
            }
            avk_ffree(P);
            avk_ffree(dS);
        }
    } else {
#pragma omp parallel
        {
            float *P = avk_falloc(BQ * BK), *dS = avk_falloc(BQ * BK);
            /* pass 1: key blocks own dK, dV */
            if (dk || dv) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t item = 0; item < BH * nkb; item++) {
                    int64_t bh = item / nkb;
                    int j0 = (int)(item % nkb) * BK, L = keys_of(a, bh);
                    if (j0 >= L)
                        continue;
                    int bk = L - j0 < BK ? L - j0 : BK;
                    for (int i0 = 0; i0 < a->Nq; i0 += BQ) {
                        int bq = a->Nq - i0 < BQ ? a->Nq - i0 : BQ;
                        bwd_block(P, dS, q, k, v, dout, lse, Di, a, bh, i0, bq, j0, bk);
                        float beta = i0 ? 1.0f : wr;
                        if (dv)
                            avk_gemm('T', 'N', bk, D, bq, 1.0f, P, bk, dout + (bh * a->Nq + i0) * D,
                                     D, beta, dv + (bh * a->Nk + j0) * D, D);
                        if (dk)
                            avk_gemm('T', 'N', bk, D, bq, a->scale, dS, bk, q + (bh * a->Nq + i0) * D,
                                     D, beta, dk + (bh * a->Nk + j0) * D, D);
                    }
                }
            }
            /* pass 2: query blocks own dQ */
            if (dq) {
#pragma omp for schedule(dynamic, 1)
                for (int64_t item = 0; item < BH * nqb; item++) {
                    int64_t bh = item / nqb;
                    int i0 = (int)(item % nqb) * BQ, bq = a->Nq - i0 < BQ ? a->Nq - i0 : BQ;
                    int L = keys_of(a, bh);
                    for (int j0 = 0; j0 < L; j0 += BK) {
                        int bk = L - j0 < BK ? L - j0 : BK;
                        bwd_block(P, dS, q, k, v, dout, lse, Di, a, bh, i0, bq, j0, bk);
                        avk_gemm('N', 'N', bq, D, bk, a->scale, dS, bk, k + (bh * a->Nk + j0) * D, D,
                                 j0 ? 1.0f : wr, dq + (bh * a->Nq + i0) * D, D);
                    }
                }
            }
            avk_ffree(P);
            avk_ffree(dS);
        }
    }
    avk_ffree(Di);
}

/* ---- reference: one full score row at a time, in double -------------- */

void avk_attention_fwd_ref(float *o, float *lse, const float *q, const float *k,
                           const float *v, const avk_attn *a)
{
    int D = a->D;
    double *s = avk_xmalloc(sizeof(double) * (size_t)(a->Nk > 0 ? a->Nk : 1));
    for (int64_t bh = 0; bh < (int64_t)a->B * a->H; bh++) {
        int L = keys_of(a, bh);
        for (int i = 0; i < a->Nq; i++) {
            const float *qi = q + (bh * a->Nq + i) * D;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < L; j++) {
                double t = 0;
                for (int d = 0; d < D; d++)
                    t += (double)qi[d] * k[(bh * a->Nk + j) * D + d];
                s[j] = t * a->scale;
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < L; j++) {
                s[j] = exp(s[j] - mx);
                sum += s[j];
            }
            for (int d = 0; d < D; d++) {
                double t = 0;
                for (int j = 0; j < L; j++)
                    t += s[j] * v[(bh * a->Nk + j) * D + d];
                o[(bh * a->Nq + i) * D + d] = L > 0 ? (float)(t / sum) : 0.0f;
            }
            lse[bh * a->Nq + i] = (float)(mx + log(sum));
        }
    }
    free(s);
}

void avk_attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout,
                           const float *q, const float *k, const float *v,
                           const float *o, const float *lse, const avk_attn *a)
{
    if (a->write_grads)     /* written: the sums below into zeros */
        avk_attention_zero_grads(dq, dk, dv, a);
    int D = a->D;
    double *p = avk_xmalloc(sizeof(double) * (size_t)(a->Nk > 0 ? a->Nk : 1));
    for (int64_t bh = 0; bh < (int64_t)a->B * a->H; bh++) {
        int L = keys_of(a, bh);
        for (int i = 0; i < a->Nq; i++) {
            int64_t qr = (bh * a->Nq + i) * D;
            double di = 0;
            for (int d = 0; d < D; d++)
                di += (double)dout[qr + d] * o[qr + d];
            for (int j = 0; j < L; j++) {
                double t = 0;
                for (int d = 0; d < D; d++)
                    t += (double)q[qr + d] * k[(bh * a->Nk + j) * D + d];
                p[j] = exp(t * a->scale - lse[bh * a->Nq + i]);
            }
            for (int j = 0; j < L; j++) {
                int64_t kr = (bh * a->Nk + j) * D;
                double dp = 0;
                for (int d = 0; d < D; d++)
                    dp += (double)dout[qr + d] * v[kr + d];
                double ds = p[j] * (dp - di);
                for (int d = 0; d < D; d++) {
                    if (dv)
                        dv[kr + d] += (float)(p[j] * dout[qr + d]);
                    if (dq)
                        dq[qr + d] += (float)(a->scale * ds * k[kr + d]);
                    if (dk)
                        dk[kr + d] += (float)(a->scale * ds * q[qr + d]);
                }
            }
        }
    }
    free(p);
}
