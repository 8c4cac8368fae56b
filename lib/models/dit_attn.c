/* Attention modules of the DiT over index lists. Every attention pattern
 * of the model (spatial with the text, temporal, cross, full joint, the
 * text encoder's) is a set of equal-length sequences over rows of the
 * projected token matrices: gather the rows into [seq, head, pos, Dh],
 * run avk_attention, add the outputs back into their rows. One module
 * function then serves every branch, forward and backward. */
#include <math.h>
#include <string.h>
#include "avkit/nn/ops.h"
#include "util/simd.h"
#include "dit_internal.h"
#include "dit_ops.h"

#define DIT_NORM_EPS 1e-6f

/* o[0..n) = a * src[0..n): one head's row (cloned at -O3 so that it
 * vectorizes; at -O2 the run-time length kept it scalar). */
static AVK_CLONES_O3 void scale_row(float *restrict o, const float *restrict src, float a, int n)
{
    for (int d = 0; d < n; d++)
        o[d] = a * src[d];
}

/* o[0..n) += a * src[0..n), rounded as a product then a sum (no fused
 * multiply-add: the same results as the plain loop at every ISA). */
static AVK_CLONES __attribute__((optimize("O3", "fp-contract=off"))) void axpy_row(float *restrict o, const float *restrict src, float a, int n)
{
    for (int d = 0; d < n; d++)
        o[d] += a * src[d];
}

/* dst[s, h, i, :] = w[s, i] * rows[idx[s, i], h*Dh ..] (w NULL: 1). */
static void gather_heads(float *dst, const float *rows, const int32_t *idx, const float *w,
                         int nseq, int n, int H, int Dh, int D)
{
#pragma omp parallel for schedule(static) if ((int64_t)nseq * n * D >= 32768)
    for (int s = 0; s < nseq; s++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                const float *src = rows + (int64_t)idx[(int64_t)s * n + i] * D + h * Dh;
                float *o = dst + (((int64_t)s * H + h) * n + i) * Dh;
                scale_row(o, src, w ? w[(int64_t)s * n + i] : 1.0f, Dh);
            }
}

/* rows[idx[s, i], h*Dh ..] += w[s, i] * src[s, h, i, :]. Threads split the
 * heads (disjoint columns), so rows shared by several sequences add up
 * race-free and in sequence order. */
static void scatter_heads(float *rows, const float *src, const int32_t *idx, const float *w,
                          int nseq, int n, int H, int Dh, int D)
{
#pragma omp parallel for schedule(static) if ((int64_t)nseq * n * D >= 32768)
    for (int h = 0; h < H; h++)
        for (int s = 0; s < nseq; s++)
            for (int i = 0; i < n; i++) {
                float *o = rows + (int64_t)idx[(int64_t)s * n + i] * D + h * Dh;
                const float *g = src + (((int64_t)s * H + h) * n + i) * Dh;
                axpy_row(o, g, w ? w[(int64_t)s * n + i] : 1.0f, Dh);
            }
}

/* The projection of stream s for q (0), k (1) or v (2), and its norm. */
static const dit_lin *proj_of(const dit_attn_p *p, int s, int which, int *norm)
{
    int text = s == 1 && p->dual;
    *norm = -1;
    if (which == 0) {
        *norm = text ? p->naq : p->nq;
        return text ? &p->aq : &p->q;
    }
    if (which == 1) {
        *norm = text ? p->nak : p->nk;
        return text ? &p->ak : &p->k;
    }
    return text ? &p->av : &p->v;
}

void dit_attn_fwd(dit_ctx *c, dit_attn_st *st, float *y[2])
{
    avk_dit *m = c->m;
    const dit_attn_p *p = st->p;
    const dit_seqs *sq = st->s;
    int D = c->D, H = c->H, Dh = c->Dh;
    int64_t R = st->R[0] + st->R[1];
    st->Q = dit_zeros(c->ar, R * D);
    st->K = dit_zeros(c->ar, R * D);
    st->V = dit_zeros(c->ar, R * D);
    st->Qr = st->Kr = st->rq = st->rk = NULL;
    for (int s = 0; s < 2; s++) {
        int64_t off = s ? st->R[0] : 0;
        for (int which = 0; which < 3; which++) {
            if (!(which == 0 ? st->qs[s] : st->kvs[s]))
                continue;
            int norm;
            const dit_lin *l = proj_of(p, s, which, &norm);
            float *dst = (which == 0 ? st->Q : which == 1 ? st->K : st->V) + off * D;
            if (norm >= 0) {
                float **raw = which == 0 ? &st->Qr : &st->Kr;
                float **rs = which == 0 ? &st->rq : &st->rk;
                if (!*raw) {
                    *raw = dit_zeros(c->ar, R * D);
                    *rs = dit_zeros(c->ar, R * H);
                }
                dit_linear_fwd(m, *raw + off * D, st->x[s], dit_w(m, l->w), dit_w(m, l->b),
                               st->R[s], D, D);
                avk_rmsnorm_fwd(dst, *rs + off * H, *raw + off * D, dit_w(m, norm),
                                st->R[s] * H, Dh, DIT_NORM_EPS);
            } else {
                dit_linear_fwd(m, dst, st->x[s], dit_w(m, l->w), dit_w(m, l->b), st->R[s], D, D);
            }
        }
    }
    if (st->rope) {      /* stream 0 is the video: [B, N, H, Dh] rows */
        if (st->qs[0])
            avk_rope_fwd(st->Q, st->Q, c->rope, c->B, c->N * H, Dh);
        if (st->kvs[0])
            avk_rope_fwd(st->K, st->K, c->rope, c->B, c->N * H, Dh);
    }
    int64_t nqe = (int64_t)sq->nseq * H * sq->nq * Dh, nke = (int64_t)sq->nseq * H * sq->nk * Dh;
    st->qg = dit_alloc(c->ar, nqe);
    st->kg = dit_alloc(c->ar, nke);
    st->vg = dit_alloc(c->ar, nke);
    st->og = dit_alloc(c->ar, nqe);
    st->lse = dit_alloc(c->ar, (int64_t)sq->nseq * H * sq->nq);
    gather_heads(st->qg, st->Q, sq->qidx, NULL, sq->nseq, sq->nq, H, Dh, D);
    gather_heads(st->kg, st->K, sq->kidx, NULL, sq->nseq, sq->nk, H, Dh, D);
    gather_heads(st->vg, st->V, sq->kidx, NULL, sq->nseq, sq->nk, H, Dh, D);
    avk_attn a = avk_attn_make(sq->nseq, H, sq->nq, sq->nk, Dh);
    a.kv_len = sq->kv_len;
    dit_attention_fwd(m, st->og, st->lse, st->qg, st->kg, st->vg, &a);
    st->O = dit_zeros(c->ar, R * D);
    scatter_heads(st->O, st->og, sq->qidx, sq->qw, sq->nseq, sq->nq, H, Dh, D);
    for (int s = 0; s < 2; s++) {
        if (!st->qs[s])
            continue;
        const dit_lin *o = s == 1 && p->dual ? &p->ao : &p->o;
        dit_linear_fwd(m, y[s], st->O + (s ? st->R[0] : 0) * D, dit_w(m, o->w), dit_w(m, o->b),
                       st->R[s], D, D);
    }
}

void dit_attn_bwd(dit_ctx *c, dit_attn_st *st, const float *dy[2], float *dx[2])
{
    avk_dit *m = c->m;
    const dit_attn_p *p = st->p;
    const dit_seqs *sq = st->s;
    int D = c->D, H = c->H, Dh = c->Dh;
    int64_t R = st->R[0] + st->R[1];
    float *dO = dit_zeros(c->ar, R * D);
    for (int s = 0; s < 2; s++) {
        if (!st->qs[s] || !dy[s])
            continue;
        const dit_lin *o = s == 1 && p->dual ? &p->ao : &p->o;
        int64_t off = s ? st->R[0] : 0;
        dit_linear_bwd(m, dO + off * D, dit_g(m, o->w), dit_g(m, o->b), dy[s], st->O + off * D,
                       dit_w(m, o->w), st->R[s], D, D);
    }
    int64_t nqe = (int64_t)sq->nseq * H * sq->nq * Dh, nke = (int64_t)sq->nseq * H * sq->nk * Dh;
    float *dog = dit_alloc(c->ar, nqe);
    gather_heads(dog, dO, sq->qidx, sq->qw, sq->nseq, sq->nq, H, Dh, D);
    float *dqg = dit_zeros(c->ar, nqe), *dkg = dit_zeros(c->ar, nke), *dvg = dit_zeros(c->ar, nke);
    avk_attn a = avk_attn_make(sq->nseq, H, sq->nq, sq->nk, Dh);
    a.kv_len = sq->kv_len;
    dit_attention_bwd(m, dqg, dkg, dvg, dog, st->qg, st->kg, st->vg, st->og, st->lse, &a);
    float *dQ = dit_zeros(c->ar, R * D), *dK = dit_zeros(c->ar, R * D), *dV = dit_zeros(c->ar, R * D);
    scatter_heads(dQ, dqg, sq->qidx, NULL, sq->nseq, sq->nq, H, Dh, D);
    scatter_heads(dK, dkg, sq->kidx, NULL, sq->nseq, sq->nk, H, Dh, D);
    scatter_heads(dV, dvg, sq->kidx, NULL, sq->nseq, sq->nk, H, Dh, D);
    if (st->rope) {     /* rotate the video rows' gradients back */
        int64_t n0 = st->R[0] * D;
        for (int which = 0; which < 2; which++) {
            if (!(which ? st->kvs[0] : st->qs[0]))
                continue;
            float *g = which ? dK : dQ;
            float *t = dit_zeros(c->ar, n0);
            avk_rope_bwd(t, g, c->rope, c->B, c->N * H, Dh);
            memcpy(g, t, (size_t)n0 * sizeof(float));
        }
    }
    for (int s = 0; s < 2; s++) {
        int64_t off = s ? st->R[0] : 0;
        for (int which = 0; which < 3; which++) {
            if (!(which == 0 ? st->qs[s] : st->kvs[s]))
                continue;
            int norm;
            const dit_lin *l = proj_of(p, s, which, &norm);
            float *d = (which == 0 ? dQ : which == 1 ? dK : dV) + off * D;
            if (norm >= 0) {
                float *raw = (which == 0 ? st->Qr : st->Kr) + off * D;
                float *rs = (which == 0 ? st->rq : st->rk) + off * H;
                float *dn = dit_zeros(c->ar, st->R[s] * D);
                avk_rmsnorm_bwd(dn, dit_g(m, norm), d, raw, rs, dit_w(m, norm), st->R[s] * H, Dh);
                d = dn;
            }
            dit_linear_bwd(m, dx[s], dit_g(m, l->w), dit_g(m, l->b), d, st->x[s], dit_w(m, l->w),
                           st->R[s], D, D);
        }
    }
}

/* An empty sequence set with room for the index lists. */
static dit_seqs *seqs_new(dit_ctx *c, int nseq, int nq, int nk, int masked, int weighted)
{
    dit_seqs *s = dit_alloc_bytes(c->ar, sizeof *s);
    s->nseq = nseq;
    s->nq = nq;
    s->nk = nk;
    s->qidx = dit_alloc_bytes(c->ar, (size_t)nseq * nq * sizeof(int32_t));
    s->kidx = dit_alloc_bytes(c->ar, (size_t)nseq * nk * sizeof(int32_t));
    s->kv_len = masked ? dit_alloc_bytes(c->ar, (size_t)nseq * sizeof(int)) : NULL;
    s->qw = weighted ? dit_alloc(c->ar, (int64_t)nseq * nq) : NULL;
    return s;
}

/* Per frame: the frame's S video tokens, then the caption's L tokens
 * (queries too when text_queries; the text's outputs are averaged over
 * the T frames). */
dit_seqs *dit_seqs_spatial(dit_ctx *c, int text_queries)
{
    int S = c->S, L = c->L, nq = S + (text_queries ? L : 0);
    dit_seqs *s = seqs_new(c, c->B * c->T, nq, S + L, 1, text_queries);
    for (int b = 0; b < c->B; b++)
        for (int f = 0; f < c->T; f++) {
            int q = b * c->T + f;
            for (int i = 0; i < S; i++) {
                int32_t row = (int32_t)(b * c->N + (int64_t)f * S + i);
                s->qidx[(int64_t)q * nq + i] = row;
                s->kidx[(int64_t)q * (S + L) + i] = row;
                if (s->qw)
                    s->qw[(int64_t)q * nq + i] = 1.0f;
            }
            for (int j = 0; j < L; j++) {
                int32_t row = (int32_t)(c->Rv + (int64_t)b * L + j);
                s->kidx[(int64_t)q * (S + L) + S + j] = row;
                if (text_queries) {
                    s->qidx[(int64_t)q * nq + S + j] = row;
                    s->qw[(int64_t)q * nq + S + j] = 1.0f / (float)c->T;
                }
            }
            s->kv_len[q] = S + c->text_len[b];
        }
    return s;
}

/* Per spatial position: its T tokens across the frames. */
dit_seqs *dit_seqs_temporal(dit_ctx *c)
{
    dit_seqs *s = seqs_new(c, c->B * c->S, c->T, c->T, 0, 0);
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->S; i++)
            for (int f = 0; f < c->T; f++) {
                int64_t at = ((int64_t)b * c->S + i) * c->T + f;
                s->qidx[at] = s->kidx[at] = (int32_t)(b * c->N + (int64_t)f * c->S + i);
            }
    return s;
}

/* Per clip: all N video tokens attend to the caption's L tokens. */
dit_seqs *dit_seqs_cross(dit_ctx *c)
{
    dit_seqs *s = seqs_new(c, c->B, (int)c->N, c->L, 1, 0);
    for (int b = 0; b < c->B; b++) {
        for (int64_t n = 0; n < c->N; n++)
            s->qidx[b * c->N + n] = (int32_t)(b * c->N + n);
        for (int j = 0; j < c->L; j++)
            s->kidx[(int64_t)b * c->L + j] = (int32_t)(c->Rv + (int64_t)b * c->L + j);
        s->kv_len[b] = c->text_len[b];
    }
    return s;
}

/* Per clip: all video tokens then the caption, jointly. */
dit_seqs *dit_seqs_joint(dit_ctx *c, int text_queries)
{
    int N = (int)c->N, L = c->L, nq = N + (text_queries ? L : 0);
    dit_seqs *s = seqs_new(c, c->B, nq, N + L, 1, 0);
    for (int b = 0; b < c->B; b++) {
        for (int i = 0; i < N + L; i++) {
            int32_t row = (int32_t)(i < N ? (int64_t)b * N + i : c->Rv + (int64_t)b * L + i - N);
            s->kidx[(int64_t)b * (N + L) + i] = row;
            if (i < nq)
                s->qidx[(int64_t)b * nq + i] = row;
        }
        s->kv_len[b] = N + c->text_len[b];
    }
    return s;
}

/* The text encoder's self-attention: rows are the text matrix alone. */
dit_seqs *dit_seqs_text(dit_ctx *c)
{
    dit_seqs *s = seqs_new(c, c->B, c->L, c->L, 1, 0);
    for (int b = 0; b < c->B; b++) {
        for (int j = 0; j < c->L; j++)
            s->qidx[(int64_t)b * c->L + j] = s->kidx[(int64_t)b * c->L + j] =
                (int32_t)((int64_t)b * c->L + j);
        s->kv_len[b] = c->text_len[b];
    }
    return s;
}
