/* Attention modules of the DiT over index lists. Every attention pattern
 * of the model (spatial with the text, temporal, cross, full joint, the
 * text encoder's) is a set of equal-length sequences over rows of the
 * projected token matrices: gather the rows into [seq, head, pos, Dh],
 * run avk_attention, add the outputs back into their rows. One module
 * function then serves every branch, forward and backward. */
#include <math.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"
#include "util/simd.h"
#include "nn/ops_rows.h"
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

/* The rotation a gather applies on the way: rows below nrot (the video
 * rows, token = row % ntok) rotated by the table [ntok, Dh] (one row per
 * token, the same for every head: dit_ctx.rope_tok), or none (tab NULL). */
typedef struct gather_rope {
    const float *tab;
    int64_t nrot, ntok;
} gather_rope;

/* dst[s, h, i, :] = w[s, i] * rows[idx[s, i], h*Dh ..] (w NULL: 1), the
 * rows of rot rotated instead (w NULL there): the bits of avk_rope_fwd in
 * place then the plain gather (the same row kernel, ops_rows.h), without
 * the separate pass over the rows. */
static void gather_heads(float *dst, const float *rows, const int32_t *idx, const float *w,
                         int nseq, int n, int H, int Dh, int D, gather_rope rot)
{
#pragma omp parallel for schedule(static) if ((int64_t)nseq * n * D >= 32768)
    for (int s = 0; s < nseq; s++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                int64_t row = idx[(int64_t)s * n + i];
                const float *src = rows + row * D + h * Dh;
                float *o = dst + (((int64_t)s * H + h) * n + i) * Dh;
                if (rot.tab && row < rot.nrot)
                    rope_row(o, src, rot.tab + (row % rot.ntok) * Dh, Dh, 1.0f, 0);
                else
                    scale_row(o, src, w ? w[(int64_t)s * n + i] : 1.0f, Dh);
            }
}

/* Rotate the rows [rows, Dh] of g back in place, row r (token r / H,
 * one of H heads) by row (r / H) % nt of the table [nt, Dh]: avk_rope_bwd
 * into a zeroed buffer, with neither the buffer nor the copy back. */
static void rope_back_inplace(float *g, const float *tab, int64_t rows, int H, int64_t nt, int Dh)
{
#pragma omp parallel for schedule(static) if (rows * Dh >= 32768)
    for (int64_t r = 0; r < rows; r++)
        rope_row(g + r * Dh, g + r * Dh, tab + (r / H % nt) * Dh, Dh, -1.0f, 0);
}

/* rows[idx[s, i], h*Dh ..] += w[s, i] * src[s, h, i, :]. Threads split the
 * heads (disjoint columns), so rows shared by several sequences add up
 * race-free and in sequence order. With first (see first_flags), the
 * first entry of each row writes it instead (the bits of adding into a
 * zero: a product, then + 0), so the rows need no zeroing. */
static void scatter_heads(float *rows, const float *src, const int32_t *idx, const float *w,
                          int nseq, int n, int H, int Dh, int D, const uint8_t *first)
{
#pragma omp parallel for schedule(static) if ((int64_t)nseq * n * D >= 32768)
    for (int h = 0; h < H; h++)
        for (int s = 0; s < nseq; s++)
            for (int i = 0; i < n; i++) {
                int64_t e = (int64_t)s * n + i;
                float *o = rows + (int64_t)idx[e] * D + h * Dh;
                const float *g = src + (((int64_t)s * H + h) * n + i) * Dh;
                if (first && first[e])
                    scale_row(o, g, w ? w[e] : 1.0f, Dh);
                else
                    axpy_row(o, g, w ? w[e] : 1.0f, Dh);
            }
}

/* Flags for scatter_heads of the list idx [len] into R rows: 1 at the
 * first entry of each row in the scatter's order (sequence, then
 * position). NULL when a row that is read afterwards, one of [0, R0) if
 * use0 or of [R0, R) if use1, is in no entry (the caller then zeroes the
 * rows and adds). */
static uint8_t *first_flags(dit_ctx *c, const int32_t *idx, int64_t len, int64_t R0, int64_t R,
                            int use0, int use1)
{
    uint8_t *seen = dit_alloc_bytes(c->ar, (size_t)R), *first = dit_alloc_bytes(c->ar, (size_t)len);
    memset(seen, 0, (size_t)R);
    for (int64_t e = 0; e < len; e++) {
        first[e] = !seen[idx[e]];
        seen[idx[e]] = 1;
    }
    for (int64_t r = use0 ? 0 : R0; r < (use1 ? R : R0); r++)
        if (!seen[r])
            return NULL;
    return first;
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

/* Sequence parallelism, sequence split -> head split: this rank's rows
 * X [R, D] (R = Rv + Rt, every rank alike) go out in spn blocks of columns
 * (block d: the heads of rank d); back come every rank's rows for this
 * rank's heads, rank-major: [spn * R, D / spn]. */
static float *to_heads(dit_ctx *c, const float *X, int64_t R)
{
    int n = c->spn, Dn = c->D / n;
    float *send = dit_alloc(c->ar, R * c->D), *recv = dit_alloc(c->ar, R * c->D);
    for (int d = 0; d < n; d++)
        for (int64_t r = 0; r < R; r++)
            memcpy(send + ((int64_t)d * R + r) * Dn, X + r * c->D + (int64_t)d * Dn,
                   (size_t)Dn * sizeof(float));
    int rc;
    DIT_TIMED(comm, rc = avk_comm_alltoall(c->sp, send, recv, (size_t)(R * Dn), AVK_COMM_F32));
    avk_dit_prof_acc.comm_bytes += (double)(n - 1) * R * Dn * sizeof(float);
    if (rc < 0)
        avk_die_lib();
    return recv;
}

/* Head split -> sequence split, the inverse of to_heads: Xg [spn * R,
 * D / spn] (block s: rank s's rows) ADDED into this rank's rows X [R, D]. */
static void from_heads(dit_ctx *c, float *X, const float *Xg, int64_t R)
{
    int n = c->spn, Dn = c->D / n;
    float *recv = dit_alloc(c->ar, R * c->D);
    int rc;
    DIT_TIMED(comm, rc = avk_comm_alltoall(c->sp, Xg, recv, (size_t)(R * Dn), AVK_COMM_F32));
    avk_dit_prof_acc.comm_bytes += (double)(n - 1) * R * Dn * sizeof(float);
    if (rc < 0)
        avk_die_lib();
    for (int d = 0; d < n; d++)
        for (int64_t r = 0; r < R; r++) {
            float *o = X + r * c->D + (int64_t)d * Dn;
            const float *g = recv + ((int64_t)d * R + r) * Dn;
            for (int k = 0; k < Dn; k++)
                o[k] += g[k];
        }
}

void dit_attn_fwd(dit_ctx *c, dit_attn_st *st, float *y[2])
{
    avk_dit *m = c->m;
    const dit_attn_p *p = st->p;
    const dit_seqs *sq = st->s;
    int D = c->D, H = c->H, Dh = c->Dh;
    int slot = c->kv_in || c->kv_out ? dit_kv_slot(c, p) : -1;
    int64_t Rc = slot >= 0 && c->kv_in ? c->Rc : 0;     /* context rows after the text */
    int64_t R = st->R[0] + st->R[1] + Rc;
    /* rows of a stream the module does not project stay unwritten: no
     * sequence reads them (the index lists name only the streams in qs /
     * kvs); the context rows' keys and values are placed below */
    st->Q = dit_alloc(c->ar, R * D);
    st->K = dit_alloc(c->ar, R * D);
    st->V = dit_alloc(c->ar, R * D);
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
                    *raw = dit_alloc(c->ar, R * D);
                    *rs = dit_alloc(c->ar, R * H);
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
    if (slot >= 0 && c->kv_out)     /* the last frames' keys (unrotated) and values */
        dit_kv_keep(c, slot, st->K, st->V);
    /* under sequence parallelism (never with a context): this rank's heads
     * of every rank's rows */
    int split = sq->heads_split && c->spn > 1;
    /* stream 0 is the video: [B, N, H, Dh] rows, rotated in place before
     * the all-to-all under sequence parallelism, else on the way into the
     * gathers below */
    gather_rope none = {0}, vrot = {c->rope_tok, st->R[0], c->N};
    if (st->rope && split) {
        if (st->qs[0])
            avk_rope_fwd(st->Q, st->Q, c->rope, c->B, c->N * H, Dh);
        if (st->kvs[0])
            avk_rope_fwd(st->K, st->K, c->rope, c->B, c->N * H, Dh);
    }
    if (Rc)                          /* the context's, rotated at its own frames */
        dit_kv_place(c, slot, st->K + (st->R[0] + st->R[1]) * D, st->V + (st->R[0] + st->R[1]) * D);
    int Hh = split ? H / c->spn : H, Dr = split ? D / c->spn : D;
    const float *Qa = split ? to_heads(c, st->Q, R) : st->Q;
    const float *Ka = split ? to_heads(c, st->K, R) : st->K;
    const float *Va = split ? to_heads(c, st->V, R) : st->V;
    int64_t nqe = (int64_t)sq->nseq * Hh * sq->nq * Dh, nke = (int64_t)sq->nseq * Hh * sq->nk * Dh;
    st->qg = dit_alloc(c->ar, nqe);
    st->kg = dit_alloc(c->ar, nke);
    st->vg = dit_alloc(c->ar, nke);
    st->og = dit_alloc(c->ar, nqe);
    st->lse = dit_alloc(c->ar, (int64_t)sq->nseq * Hh * sq->nq);
    int rot = st->rope && !split;
    gather_heads(st->qg, Qa, sq->qidx, NULL, sq->nseq, sq->nq, Hh, Dh, Dr,
                 rot && st->qs[0] ? vrot : none);
    gather_heads(st->kg, Ka, sq->kidx, NULL, sq->nseq, sq->nk, Hh, Dh, Dr,
                 rot && st->kvs[0] ? vrot : none);
    gather_heads(st->vg, Va, sq->kidx, NULL, sq->nseq, sq->nk, Hh, Dh, Dr, none);
    avk_attn a = avk_attn_make(sq->nseq, Hh, sq->nq, sq->nk, Dh);
    a.kv_len = sq->kv_len;
    /* the probabilities of one-tile sequences (the spatial and cross
     * branches of the reference configuration), kept for the backward
     * instead of recomputed there: 1.3% of its step. Only where they take
     * at most twice the queries' memory (keys <= 2 Dh), so that long
     * tiles (288 keys of 64-wide heads at 2,048 video tokens) do not add
     * a quarter to the activations. */
    int64_t nkeep = c->for_backward && dit_fp32_products(m) ? avk_attention_keep_size(&a) : 0;
    if (nkeep > 2 * nqe)
        nkeep = 0;
    st->pk = nkeep ? dit_alloc(c->ar, nkeep) : NULL;
    a.p_keep = st->pk;
    dit_attention_fwd(m, st->og, st->lse, st->qg, st->kg, st->vg, &a);
    if (split) {
        st->O = dit_zeros(c->ar, R * D);
        float *Og = dit_zeros(c->ar, R * D);
        scatter_heads(Og, st->og, sq->qidx, sq->qw, sq->nseq, sq->nq, Hh, Dh, Dr, NULL);
        from_heads(c, st->O, Og, R);
    } else {     /* rows written by their first entry where the list reaches them all */
        uint8_t *qf = first_flags(c, sq->qidx, (int64_t)sq->nseq * sq->nq, st->R[0], R,
                                  st->qs[0], st->qs[1]);
        st->O = qf ? dit_alloc(c->ar, R * D) : dit_zeros(c->ar, R * D);
        scatter_heads(st->O, st->og, sq->qidx, sq->qw, sq->nseq, sq->nq, H, Dh, D, qf);
    }
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
    float *dO = dit_alloc(c->ar, R * D);
    for (int s = 0; s < 2; s++) {
        int64_t off = s ? st->R[0] : 0;
        if (!st->qs[s] || !dy[s]) {     /* rows no output gradient reaches */
            memset(dO + off * D, 0, (size_t)(st->R[s] * D) * sizeof(float));
            continue;
        }
        const dit_lin *o = s == 1 && p->dual ? &p->ao : &p->o;
        dit_linear_bwd_set(m, dO + off * D, dit_g(m, o->w), dit_g(m, o->b), dy[s],
                           st->O + off * D, dit_w(m, o->w), st->R[s], D, D);
    }
    int split = sq->heads_split && c->spn > 1;
    int Hh = split ? H / c->spn : H, Dr = split ? D / c->spn : D;
    const float *dOa = split ? to_heads(c, dO, R) : dO;
    int64_t nqe = (int64_t)sq->nseq * Hh * sq->nq * Dh, nke = (int64_t)sq->nseq * Hh * sq->nk * Dh;
    float *dog = dit_alloc(c->ar, nqe);
    gather_heads(dog, dOa, sq->qidx, sq->qw, sq->nseq, sq->nq, Hh, Dh, Dr, (gather_rope){0});
    /* written by the backward, not added into: no zeroing pass */
    float *dqg = dit_alloc(c->ar, nqe), *dkg = dit_alloc(c->ar, nke), *dvg = dit_alloc(c->ar, nke);
    avk_attn a = avk_attn_make(sq->nseq, Hh, sq->nq, sq->nk, Dh);
    a.kv_len = sq->kv_len;
    a.write_grads = 1;
    a.p_keep = st->pk;
    dit_attention_bwd(m, dqg, dkg, dvg, dog, st->qg, st->kg, st->vg, st->og, st->lse, &a);
    /* the gradients' rows: written by the first entry of each row when the
     * lists reach every row read below, else zeroed and added into */
    uint8_t *qf = NULL, *kf = NULL;
    if (!split) {
        qf = first_flags(c, sq->qidx, (int64_t)sq->nseq * sq->nq, st->R[0], R, st->qs[0],
                         st->qs[1]);
        kf = first_flags(c, sq->kidx, (int64_t)sq->nseq * sq->nk, st->R[0], R, st->kvs[0],
                         st->kvs[1]);
    }
    float *dQ = qf ? dit_alloc(c->ar, R * D) : dit_zeros(c->ar, R * D);
    float *dK = kf ? dit_alloc(c->ar, R * D) : dit_zeros(c->ar, R * D);
    float *dV = kf ? dit_alloc(c->ar, R * D) : dit_zeros(c->ar, R * D);
    float *g3[3] = {dQ, dK, dV};
    const float *s3[3] = {dqg, dkg, dvg};
    for (int i = 0; i < 3; i++) {
        const int32_t *idx = i ? sq->kidx : sq->qidx;
        int n = i ? sq->nk : sq->nq;
        if (split) {
            float *gg = dit_zeros(c->ar, R * D);
            scatter_heads(gg, s3[i], idx, NULL, sq->nseq, n, Hh, Dh, Dr, NULL);
            from_heads(c, g3[i], gg, R);
        } else {
            scatter_heads(g3[i], s3[i], idx, NULL, sq->nseq, n, H, Dh, D, i ? kf : qf);
        }
    }
    if (st->rope) {     /* rotate the video rows' gradients back */
        int64_t n0 = st->R[0] * D;
        for (int which = 0; which < 2; which++) {
            if (!(which ? st->kvs[0] : st->qs[0]))
                continue;
            rope_back_inplace(which ? dK : dQ, c->rope_tok, n0 / Dh, H, c->N, Dh);
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
                avk_rmsnorm_bwd_inplace(d, dit_g(m, norm), raw, rs, dit_w(m, norm),
                                        st->R[s] * H, Dh);
            }
            dit_linear_bwd_xp(m, dx[s], dit_g(m, l->w), dit_g(m, l->b), d, st->x[s], st->xp[s],
                              st->xld[s], dit_w(m, l->w), st->R[s], D, D);
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

/* Row of video token (frame f, spatial position i of the whole frame) of
 * sample b, and of text position j, in the rows the attention reads: this
 * rank's rows without sequence parallelism; with it, the gathered rows
 * (rank-major blocks of Rv + Rt rows; position i lives on rank i / S). */
static int32_t video_row(const dit_ctx *c, int b, int f, int i)
{
    int s = i / c->S, il = i % c->S;
    return (int32_t)((int64_t)s * (c->Rv + c->Rt) + (int64_t)b * c->N + (int64_t)f * c->S + il);
}

static int32_t text_row(const dit_ctx *c, int b, int j)
{
    int s = j / c->L, jl = j % c->L;
    return (int32_t)((int64_t)s * (c->Rv + c->Rt) + c->Rv + (int64_t)b * c->L + jl);
}

/* Per frame: the frame's Sg video tokens, then the caption's Lg tokens
 * (queries too when text_queries; the text's outputs are averaged over
 * the T frames). Padded positions are in no sequence. */
dit_seqs *dit_seqs_spatial(dit_ctx *c, int text_queries)
{
    int S = c->Sg, L = c->Lg, nq = S + (text_queries ? L : 0);
    dit_seqs *s = seqs_new(c, c->B * c->T, nq, S + L, 1, text_queries);
    s->heads_split = 1;
    for (int b = 0; b < c->B; b++)
        for (int f = 0; f < c->T; f++) {
            int q = b * c->T + f;
            for (int i = 0; i < S; i++) {
                int32_t row = video_row(c, b, f, i);
                s->qidx[(int64_t)q * nq + i] = row;
                s->kidx[(int64_t)q * (S + L) + i] = row;
                if (s->qw)
                    s->qw[(int64_t)q * nq + i] = 1.0f;
            }
            for (int j = 0; j < L; j++) {
                int32_t row = text_row(c, b, j);
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

/* Per spatial position: its T tokens across the frames (this rank's
 * positions: local under sequence parallelism; keys: after the Tc context
 * frames' tokens at that position, when there is a context). */
dit_seqs *dit_seqs_temporal(dit_ctx *c)
{
    int Tc = c->Rc ? c->Tc : 0, nk = Tc + c->T;
    dit_seqs *s = seqs_new(c, c->B * c->S, c->T, nk, 0, 0);
    for (int b = 0; b < c->B; b++)
        for (int i = 0; i < c->S; i++) {
            int64_t q = (int64_t)b * c->S + i;
            for (int f = 0; f < Tc; f++)
                s->kidx[q * nk + f] = (int32_t)(c->Rv + c->Rt + (int64_t)f * c->S + i);
            for (int f = 0; f < c->T; f++) {
                int32_t row = (int32_t)(b * c->N + (int64_t)f * c->S + i);
                s->qidx[q * c->T + f] = row;
                s->kidx[q * nk + Tc + f] = row;
            }
        }
    return s;
}

/* Per clip: all T * Sg video tokens attend to the caption's Lg tokens. */
dit_seqs *dit_seqs_cross(dit_ctx *c)
{
    int N = c->T * c->Sg, L = c->Lg;
    dit_seqs *s = seqs_new(c, c->B, N, L, 1, 0);
    s->heads_split = 1;
    for (int b = 0; b < c->B; b++) {
        for (int n = 0; n < N; n++)
            s->qidx[(int64_t)b * N + n] = video_row(c, b, n / c->Sg, n % c->Sg);
        for (int j = 0; j < L; j++)
            s->kidx[(int64_t)b * L + j] = text_row(c, b, j);
        s->kv_len[b] = c->text_len[b];
    }
    return s;
}

/* Per clip: all video tokens then the caption, jointly. */
dit_seqs *dit_seqs_joint(dit_ctx *c, int text_queries)
{
    int N = c->T * c->Sg, L = c->Lg, nq = N + (text_queries ? L : 0), Rc = (int)c->Rc;
    int nk = Rc + N + L;       /* keys: the context's tokens first, when there is one */
    dit_seqs *s = seqs_new(c, c->B, nq, nk, 1, 0);
    s->heads_split = 1;
    for (int b = 0; b < c->B; b++) {
        for (int i = 0; i < Rc; i++)
            s->kidx[(int64_t)b * nk + i] = (int32_t)(c->Rv + c->Rt + i);
        for (int i = 0; i < N + L; i++) {
            int32_t row = i < N ? video_row(c, b, i / c->Sg, i % c->Sg) : text_row(c, b, i - N);
            s->kidx[(int64_t)b * nk + Rc + i] = row;
            if (i < nq)
                s->qidx[(int64_t)b * nq + i] = row;
        }
        s->kv_len[b] = Rc + N + c->text_len[b];
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
