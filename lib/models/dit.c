/* The DiT forward and backward over a batch: patch embedding, text
 * encoder (or context_embedder), timestep + pooled-text conditioning, the
 * transformer blocks (dit_block.c), final adaLN and projection back to
 * latent patches. Every buffer lives in the activation arena. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"
#include "dit_internal.h"
#include "dit_ops.h"

#define LN_EPS 1e-6f

struct avk_dit_acts {
    dit_arena ar;
    dit_arena re;                       /* a recomputed block's forward */
    dit_arena bw;                       /* one block's backward */
    int re_block;                       /* whose forward `re` holds now, or -1 */
    dit_ctx c;                          /* the whole batch */
    dit_ctx cb;                         /* the blocks' rows (this rank's share
                                         * under sequence parallelism) */
    avk_dit_batch b;
    avk_patch pa;
    int K;                              /* features per patch */
    float *tok_in, *x0;                 /* patches, tokens: the blocks' rows */
    dit_text_st text;
    float *ctx;                         /* text tokens [Rt, D] */
    float *e0;                          /* the blocks' text rows (ctx, or its share) */
    float *pooled, *p1, *p1s, *pemb;    /* [B, D] */
    float *tin, *t1, *t1s, *temb;       /* [B, freq_dim], [B, D] ... */
    float *cond, *sc;                   /* c and SiLU(c) [B, D] */
    float *cf, *scf;                    /* frame_cond: per frame [B * T, D], or NULL */
    dit_block_st *blocks;
    const float *xl;                    /* last block's output [Rv, D] */
    float *no, *mo, *so, *omod, *ym, *y;
    dit_split *split;                   /* the batch ran in groups, one per
                                         * thread (dit_split.c): only this
                                         * is set */
};

int64_t avk_dit_tokens(const avk_dit_config *c, int T, int H, int W)
{
    if (T <= 0 || H <= 0 || W <= 0 || T % c->patch[0] || H % c->patch[1] || W % c->patch[2])
        return -1;
    return (int64_t)(T / c->patch[0]) * (H / c->patch[1]) * (W / c->patch[2]);
}

/* Floating-point operations of one training step (2 per multiply-add),
 * counted from the shapes: every matrix product and attention. */
double avk_dit_step_flop(const avk_dit_config *c, int B, int Tl, int Hl, int Wl, int L)
{
    int T = Tl / c->patch[0], S = (Hl / c->patch[1]) * (Wl / c->patch[2]);
    double D = c->hidden, F = D * c->mlp_ratio, N = (double)T * S, Rv = B * N, Rt = (double)B * L;
    double K = c->in_channels * c->patch[0] * c->patch[1] * c->patch[2];
    double f = 2 * Rv * K * D * 2;                                   /* patch embed, proj_out */
    for (int i = 0; i < c->text_layers; i++)
        f += 2 * Rt * D * D * 4 + 2 * Rt * D * F * 2 + 4.0 * B * L * L * D;
    for (int i = 0; i < c->depth; i++) {
        int last = i == c->depth - 1;
        double tq = last ? 0 : Rt;
        f += 2 * Rv * D * D * 4 + 2 * (Rt * 2 + tq * 2) * D * D;        /* spatial projections */
        f += 4.0 * B * T * (S + (last ? 0 : L)) * (S + L) * D;          /* spatial attention */
        f += 2 * Rv * D * D * 4 + 4.0 * B * S * T * T * D;              /* temporal */
        if (c->joint)
            f += 2 * Rv * D * D * 4 + 2 * (Rt * 2 + tq * 2) * D * D +
                 4.0 * B * (N + (last ? 0 : L)) * (N + L) * D;
        else
            f += 2 * Rv * D * D * 2 + 2 * Rt * D * D * 2 + 4.0 * B * N * L * D;
        f += 2 * (Rv + tq) * D * F * 2;                                /* MLPs */
    }
    return 3 * f;      /* the backward costs twice the forward */
}

int avk_dit_batch_check(const avk_dit *m, const avk_dit_batch *b)
{
    const avk_dit_config *c = &m->cfg;
    if (b->B <= 0)
        return avk_error("DiT batch: batch size %d", b->B);
    static const char *axis[3] = {"frames", "rows", "columns"};
    int dims[3] = {b->T, b->H, b->W};
    for (int a = 0; a < 3; a++)
        if (dims[a] <= 0 || dims[a] % c->patch[a])
            return avk_error("DiT batch: latent %s %d not divisible by the patch size %d",
                             axis[a], dims[a], c->patch[a]);
    if (avk_dit_tokens(c, b->T, b->H, b->W) > (1 << 24))
        return avk_error("DiT batch: latent %dx%dx%d gives too many tokens", b->T, b->H, b->W);
    if (b->L < 1 || b->L > c->max_text_len)
        return avk_error("DiT batch: %d text positions, the model takes 1 to %d", b->L,
                         c->max_text_len);
    if (!b->x || !b->t || !b->text_len)
        return avk_error("DiT batch: missing latents, times or text lengths");
    if (c->text_emb_dim > 0 && !b->text_emb)
        return avk_error("DiT batch: the model takes text embeddings (text_emb), none given");
    if (c->text_emb_dim == 0 && !b->tokens)
        return avk_error("DiT batch: the model takes caption tokens, none given");
    for (int i = 0; i < b->B; i++) {
        if (b->text_len[i] < 0 || b->text_len[i] > b->L)
            return avk_error("DiT batch: sample %d: text length %d outside [0, %d]", i,
                             b->text_len[i], b->L);
        if (!(b->t[i] >= 0.0f && b->t[i] <= 1.0f))
            return avk_error("DiT batch: sample %d: time %g outside [0, 1]", i, (double)b->t[i]);
        for (int j = 0; c->text_emb_dim == 0 && j < b->L; j++) {
            int32_t id = b->tokens[(int64_t)i * b->L + j];
            if (id < 0 || id >= c->vocab_size)
                return avk_error("DiT batch: sample %d: token %d at position %d outside the "
                                 "vocabulary [0, %d)", i, id, j, c->vocab_size);
        }
    }
    return 0;
}

/* The shapes of the batch, the text encoder's sequences; then the blocks'
 * context: under sequence parallelism this rank's share of the spatial
 * and text positions (padded to ceil(S / n), ceil(L / n)); its rotary
 * table with one row per (token, head) at the global positions, and the
 * blocks' sequence sets. */
static void setup_ctx(avk_dit *m, avk_dit_acts *a)
{
    dit_ctx *c = &a->c;
    const avk_dit_config *cf = &m->cfg;
    c->m = m;
    c->ar = &a->ar;
    c->B = a->b.B;
    c->T = a->b.T / cf->patch[0];
    c->Hp = a->b.H / cf->patch[1];
    c->Wp = a->b.W / cf->patch[2];
    c->S = c->Hp * c->Wp;
    c->N = (int64_t)c->T * c->S;
    c->L = a->b.L;
    c->D = cf->hidden;
    c->H = cf->heads;
    c->Dh = cf->hidden / cf->heads;
    c->Rv = c->B * c->N;
    c->Rt = (int64_t)c->B * c->L;
    c->text_len = a->b.text_len;
    c->sp = NULL;
    c->spn = 1;
    c->spr = 0;
    c->Sg = c->S;
    c->Lg = c->L;
    if (cf->text_emb_dim == 0)
        c->text = dit_seqs_text(c);

    dit_ctx *k = &a->cb;
    *k = *c;
    if (m->sp && avk_comm_size(m->sp) > 1) {
        int n = avk_comm_size(m->sp);
        k->sp = m->sp;
        k->spn = n;
        k->spr = avk_comm_rank(m->sp);
        k->S = (c->S + n - 1) / n;
        k->L = (c->L + n - 1) / n;
        k->N = (int64_t)k->T * k->S;
        k->Rv = k->B * k->N;
        k->Rt = (int64_t)k->B * k->L;
    }
    int *pos = dit_alloc_bytes(&a->ar, (size_t)k->N * 3 * sizeof(int));
    for (int64_t r = 0; r < k->N; r++) {
        int64_t g = dit_global_video_row(k, r);     /* sample 0's rows; padded: position 0 */
        int64_t i = g < 0 ? 0 : g % k->Sg;
        pos[r * 3 + 0] = (int)(r / k->S);
        pos[r * 3 + 1] = (int)(i / k->Wp);
        pos[r * 3 + 2] = (int)(i % k->Wp);
    }
    float *tab = dit_alloc(&a->ar, k->N * k->Dh);
    avk_rope3d_table(tab, pos, k->N, cf->rope_dims, (float)cf->rope_theta);
    k->pos_emb = dit_pos_embed_table(k, pos, k->N);
    k->rope_tok = tab;
    k->rope = dit_alloc(&a->ar, k->N * k->H * k->Dh);
    for (int64_t n = 0; n < k->N; n++)
        for (int h = 0; h < k->H; h++)
            memcpy(k->rope + (n * k->H + h) * k->Dh, tab + n * k->Dh, (size_t)k->Dh * sizeof(float));
    k->sp_q = dit_seqs_spatial(k, 1);
    k->sp_kv = dit_seqs_spatial(k, 0);
    k->temp = dit_seqs_temporal(k);
    if (cf->joint) {
        k->joint_q = dit_seqs_joint(k, 1);
        k->joint_kv = dit_seqs_joint(k, 0);
    } else {
        k->cross = dit_seqs_cross(k);
    }
}

/* The sine-cosine table of the tokens at pos (see dit_internal.h): each
 * axis gets heads times its rotary section, so the sections add up to D;
 * the base is the rotary one. Fixed, so the backward has nothing to do. */
float *dit_pos_embed_table(dit_ctx *c, const int *pos, int64_t N)
{
    const avk_dit_config *cf = &c->m->cfg;
    if (!cf->pos_embed)
        return NULL;
    int dims[3] = {cf->heads * cf->rope_dims[0], cf->heads * cf->rope_dims[1],
                   cf->heads * cf->rope_dims[2]};
    float *pe = dit_alloc(c->ar, N * cf->hidden);
    avk_sincos3d_embed(pe, pos, N, dims, (float)cf->rope_theta);
    return pe;
}

/* x [B * N, D] += pe [N, D] for each of the B samples. */
void dit_add_pos_embed(float *x, const float *pe, int B, int64_t N, int D)
{
    for (int b = 0; b < B; b++)
        for (int64_t i = 0; i < N * D; i++)
            x[(int64_t)b * N * D + i] += pe[i];
}

void dit_frame_cond(dit_ctx *c, const float *cond, int f0, float **cf, float **scf)
{
    int D = c->D, T = c->T;
    float *pos = dit_alloc(c->ar, T), *feat = dit_alloc(c->ar, (int64_t)T * D);
    for (int f = 0; f < T; f++)
        pos[f] = (float)(f0 + f);
    avk_timestep_embed(feat, pos, T, D, 10000.0f);
    *cf = dit_alloc(c->ar, (int64_t)c->B * T * D);
    *scf = dit_alloc(c->ar, (int64_t)c->B * T * D);
    for (int b = 0; b < c->B; b++)
        for (int f = 0; f < T; f++)
            avk_add(*cf + ((int64_t)b * T + f) * D, cond + (int64_t)b * D, feat + (int64_t)f * D, D);
    avk_silu_fwd(*scf, *cf, (int64_t)c->B * T * D);
}

/* y = l2(SiLU(l1(x))) for the two embedders, saving the intermediates. */
static void mlp2_fwd(avk_dit *m, dit_arena *ar, const dit_lin *l1, const dit_lin *l2,
                     const float *x, int B, float **h, float **hs, float **y)
{
    int D = l1->out;
    *h = dit_alloc(ar, (int64_t)B * D);
    *hs = dit_alloc(ar, (int64_t)B * D);
    *y = dit_alloc(ar, (int64_t)B * D);
    dit_linear_fwd(m, *h, x, dit_w(m, l1->w), dit_w(m, l1->b), B, l1->in, D);
    avk_silu_fwd(*hs, *h, (int64_t)B * D);
    dit_linear_fwd(m, *y, *hs, dit_w(m, l2->w), dit_w(m, l2->b), B, D, D);
}

static void mlp2_bwd(avk_dit *m, dit_arena *ar, const dit_lin *l1, const dit_lin *l2,
                     const float *x, int B, const float *h, const float *hs, const float *dy,
                     float *dx)
{
    int D = l1->out;
    float *dhs = dit_zeros(ar, (int64_t)B * D), *dh = dit_zeros(ar, (int64_t)B * D);
    dit_linear_bwd(m, dhs, dit_g(m, l2->w), dit_g(m, l2->b), dy, hs, dit_w(m, l2->w), B, D, D);
    avk_silu_bwd(dh, dhs, h, (int64_t)B * D);
    dit_linear_bwd(m, dx, dit_g(m, l1->w), dit_g(m, l1->b), dh, x, dit_w(m, l1->w), B, l1->in, D);
}

/* The first block's modulated video input LN(x0) (1 + scale) + shift,
 * computed as that block computes it (the cache's change indicator). */
static float *first_block_modulated(avk_dit_acts *a)
{
    avk_dit *m = a->c.m;
    dit_ctx *c = &a->cb;
    const dit_lin *mod = &m->lay->blocks[0].mod;
    int B = c->B, D = c->D, G = a->scf ? c->T : 1;
    int64_t BG = (int64_t)B * G * D, Rv = c->Rv;
    float *mk = dit_modulation(c, mod, a->scf ? a->scf : a->sc, (int64_t)B * G);
    float *n = dit_alloc(c->ar, Rv * D), *mu = dit_alloc(c->ar, Rv), *rs = dit_alloc(c->ar, Rv);
    float *y = dit_alloc(c->ar, Rv * D);
    avk_ln_modulate_fwd(n, mu, rs, y, a->x0, mk, mk + BG, B, c->N, G, D, LN_EPS);
    return y;
}

/* (see dit_internal.h) */
avk_dit_acts *dit_forward_whole(avk_dit *m, const avk_dit_batch *b, float *pred,
                                const avk_dit_hooks *hk, int *ran)
{
    if (avk_dit_batch_check(m, b) < 0)
        return NULL;
    const avk_dit_config *cf = &m->cfg;
    const avk_dit_layout *l = m->lay;
    avk_dit_acts *a = avk_xcalloc(1, sizeof *a);
    a->ar = m->lay->spare;              /* the last step's buffers, if any */
    a->re = m->lay->spare_re;
    a->bw = m->lay->spare_bw;
    memset(&m->lay->spare, 0, sizeof m->lay->spare);
    memset(&m->lay->spare_re, 0, sizeof m->lay->spare_re);
    memset(&m->lay->spare_bw, 0, sizeof m->lay->spare_bw);
    dit_arena_rewind(&a->ar);
    a->b = *b;
    setup_ctx(m, a);
    dit_ctx *c = &a->c, *k = &a->cb;
    c->for_backward = k->for_backward = ran == NULL;   /* avk_dit_forward */
    dit_arena *ar = &a->ar;
    int B = c->B, D = c->D, split = k->spn > 1;
    int64_t BD = (int64_t)B * D, Rv = k->Rv;

    /* patches -> video tokens (this rank's under sequence parallelism) */
    a->pa = (avk_patch){B, cf->in_channels, b->T, b->H, b->W, cf->patch[0], cf->patch[1], cf->patch[2]};
    a->K = cf->in_channels * cf->patch[0] * cf->patch[1] * cf->patch[2];
    a->tok_in = dit_alloc(ar, Rv * a->K);
    if (split) {
        float *all = dit_alloc(ar, c->Rv * a->K);
        avk_patchify_fwd(all, b->x, &a->pa);
        dit_take_rows(k, a->tok_in, all, Rv, a->K, 0);
    } else {
        avk_patchify_fwd(a->tok_in, b->x, &a->pa);
    }
    a->x0 = dit_alloc(ar, Rv * D);
    dit_linear_fwd(m, a->x0, a->tok_in, dit_w(m, l->patch_w), dit_w(m, l->patch_b), Rv, a->K, D);
    if (k->pos_emb)
        dit_add_pos_embed(a->x0, k->pos_emb, B, k->N, D);

    /* text tokens and their masked mean */
    if (cf->text_emb_dim > 0) {
        a->ctx = dit_alloc(ar, c->Rt * D);
        dit_linear_fwd(m, a->ctx, b->text_emb, dit_w(m, l->ctx.w), dit_w(m, l->ctx.b), c->Rt,
                       cf->text_emb_dim, D);
    } else {
        dit_text_fwd(c, &a->text, b->tokens);
        a->ctx = a->text.out;
    }
    a->pooled = dit_zeros(ar, BD);
    for (int i = 0; i < B; i++) {
        int n = b->text_len[i];
        for (int j = 0; j < n; j++)
            avk_add_inplace(a->pooled + (int64_t)i * D, a->ctx + ((int64_t)i * c->L + j) * D, D);
        if (n > 0)
            avk_scale(a->pooled + (int64_t)i * D, 1.0f / (float)n, D);
    }
    mlp2_fwd(m, ar, &l->p1, &l->p2, a->pooled, B, &a->p1, &a->p1s, &a->pemb);
    a->e0 = a->ctx;
    if (split) {
        a->e0 = dit_alloc(ar, k->Rt * D);
        dit_take_rows(k, a->e0, a->ctx, k->Rt, D, 1);
    }

    /* timestep features of 1000 t */
    float *ts = dit_alloc(ar, B);
    for (int i = 0; i < B; i++)
        ts[i] = b->t[i] * 1000.0f;
    a->tin = dit_alloc(ar, (int64_t)B * cf->freq_dim);
    avk_timestep_embed(a->tin, ts, B, cf->freq_dim, 10000.0f);
    mlp2_fwd(m, ar, &l->t1, &l->t2, a->tin, B, &a->t1, &a->t1s, &a->temb);
    a->cond = dit_alloc(ar, BD);
    a->sc = dit_alloc(ar, BD);
    avk_add(a->cond, a->temb, a->pemb, BD);
    avk_silu_fwd(a->sc, a->cond, BD);
    a->cf = a->scf = NULL;
    if (cf->frame_cond)
        dit_frame_cond(k, a->cond, 0, &a->cf, &a->scf);

    /* the blocks (or, when a hook says so, the input plus a stored
     * residual in their place) */
    int run = 1;
    if (hk && hk->decide)
        run = hk->decide(hk->ctx, first_block_modulated(a), Rv * D) != 0 || !hk->reuse;
    a->blocks = dit_alloc_bytes(ar, (size_t)cf->depth * sizeof *a->blocks);
    a->re_block = -1;
    const float *x = a->x0, *e = a->e0;
    if (run) {
        for (int i = 0; i < cf->depth; i++) {
            dit_block_st *st = &a->blocks[i];
            if (!avk_dit_block_recomputes(i, cf->depth, m->recompute)) {
                dit_block_fwd(k, st, &l->blocks[i], x, e, a->sc, a->scf);
                x = st->x2;
                e = st->e2;
                continue;
            }
            /* recomputed in the backward: its activations in the scratch
             * arena, only its outputs (the next block's inputs) kept */
            dit_arena_rewind(&a->re);
            k->ar = &a->re;
            dit_block_fwd(k, st, &l->blocks[i], x, e, a->sc, a->scf);
            k->ar = ar;
            a->re_block = i;
            float *x2 = dit_alloc(ar, Rv * D), *e2 = st->e2 ? dit_alloc(ar, k->Rt * D) : NULL;
            memcpy(x2, st->x2, (size_t)(Rv * D) * sizeof(float));
            if (e2)
                memcpy(e2, st->e2, (size_t)(k->Rt * D) * sizeof(float));
            x = x2;
            e = e2;
        }
        if (hk && hk->store)
            hk->store(hk->ctx, a->x0, x, Rv * D);
    } else {
        float *xs = dit_alloc(ar, Rv * D);
        hk->reuse(hk->ctx, a->x0, xs, Rv * D);
        x = xs;
    }
    if (ran)
        *ran = run;
    a->xl = x;

    /* final adaLN (scale, shift; per frame with frame_cond) and projection
     * to patches */
    int G = a->scf ? k->T : 1;
    int64_t BG = (int64_t)B * G * D;
    a->omod = dit_modulation(k, &l->out_mod, a->scf ? a->scf : a->sc, (int64_t)B * G);
    a->no = dit_alloc(ar, Rv * D);
    a->mo = dit_alloc(ar, Rv);
    a->so = dit_alloc(ar, Rv);
    a->ym = dit_alloc(ar, Rv * D);
    avk_ln_modulate_fwd(a->no, a->mo, a->so, a->ym, x, a->omod + BG, a->omod, B, k->N, G, D,
                        LN_EPS);
    a->y = dit_alloc(ar, Rv * a->K);
    dit_linear_fwd(m, a->y, a->ym, dit_w(m, l->proj_out.w), dit_w(m, l->proj_out.b), Rv, D, a->K);
    if (split) {     /* every rank's rows, put back in place: the whole prediction */
        float *got = dit_alloc(ar, k->spn * Rv * a->K), *all = dit_alloc(ar, c->Rv * a->K);
        int rc;
        DIT_TIMED(comm, rc = avk_comm_allgather(k->sp, a->y, got, (size_t)(Rv * a->K),
                                                AVK_COMM_F32));
        if (rc < 0)
            avk_die_lib();
        avk_dit_prof_acc.comm_bytes += (double)(k->spn - 1) * Rv * a->K * sizeof(float);
        dit_ctx o = *k;
        for (o.spr = 0; o.spr < k->spn; o.spr++)
            for (int64_t r = 0; r < Rv; r++) {
                int64_t g = dit_global_video_row(&o, r);
                if (g >= 0)
                    memcpy(all + g * a->K, got + ((int64_t)o.spr * Rv + r) * a->K,
                           (size_t)a->K * sizeof(float));
            }
        avk_unpatchify_fwd(pred, all, &a->pa);
    } else {
        avk_unpatchify_fwd(pred, a->y, &a->pa);
    }
    return a;
}

/* The whole batch in one pass, or in groups of samples, one per thread,
 * where avk_dit_groups says so. */
static avk_dit_acts *forward(avk_dit *m, const avk_dit_batch *b, float *pred,
                             const avk_dit_hooks *hk, int *ran)
{
    int n = hk ? 1 : avk_dit_groups(m, b->B);
    if (n <= 1)
        return dit_forward_whole(m, b, pred, hk, ran);
    if (avk_dit_batch_check(m, b) < 0)
        return NULL;
    avk_dit_acts *a = avk_xcalloc(1, sizeof *a);
    a->c.m = m;
    a->split = dit_split_forward(m, b, pred, n, ran == NULL);
    if (ran)
        *ran = 1;
    return a;
}

avk_dit_acts *avk_dit_forward(avk_dit *m, const avk_dit_batch *b, float *pred)
{
    return forward(m, b, pred, NULL, NULL);
}

/* Today the plain forward with its activations dropped at once: the same
 * bits, at the memory of a training pass for one batch. */
int avk_dit_infer(avk_dit *m, const avk_dit_batch *b, float *pred, const avk_dit_hooks *hooks)
{
    int ran = 1;
    avk_dit_acts *a = forward(m, b, pred, hooks, &ran);
    if (!a)
        return -1;
    avk_dit_acts_free(a);
    return ran;
}

/* The model's own announcement of a block's final gradients. */
static void ready_whole(void *ctx, int block)
{
    avk_params_grads_ready(ctx, block);
}

void avk_dit_backward(avk_dit *m, avk_dit_acts *a, const float *dpred)
{
    if (a->split)
        dit_split_backward(m, a->split, dpred);
    else
        dit_backward_whole(m, a, dpred, ready_whole, m->par);
}

/* (see dit_internal.h) */
void dit_backward_whole(avk_dit *m, avk_dit_acts *a, const float *dpred,
                        void (*ready)(void *ctx, int block), void *ready_ctx)
{
    const avk_dit_config *cf = &m->cfg;
    const avk_dit_layout *l = m->lay;
    dit_ctx *c = &a->c, *k = &a->cb;
    dit_arena *ar = &a->ar;
    int B = c->B, D = c->D, split = k->spn > 1;
    int64_t BD = (int64_t)B * D, Rv = k->Rv, Rt = k->Rt;

    /* the prediction's gradient, this rank's rows of it */
    float *dy = dit_zeros(ar, c->Rv * a->K), *dym = dit_alloc(ar, Rv * D);
    avk_unpatchify_bwd(dy, dpred, &a->pa);
    if (split) {
        float *mine = dit_alloc(ar, Rv * a->K);
        dit_take_rows(k, mine, dy, Rv, a->K, 0);
        dy = mine;
    }
    dit_linear_bwd_set(m, dym, dit_g(m, l->proj_out.w), dit_g(m, l->proj_out.b), dy, a->ym,
                       dit_w(m, l->proj_out.w), Rv, D, a->K);
    int G = a->scf ? k->T : 1;
    int64_t BG = (int64_t)B * G * D;
    float *domod = dit_zeros(ar, 2 * BG), *dx = dit_zeros(ar, Rv * D);
    avk_ln_modulate_bwd(dx, domod + BG, domod, dym, a->xl, a->no, a->mo, a->so, a->omod, B, k->N,
                        G, D);
    float *dsc = dit_zeros(ar, BD), *dscf = a->scf ? dit_zeros(ar, BG) : NULL;
    dit_modulation_bwd(k, &l->out_mod, a->scf ? a->scf : a->sc, (int64_t)B * G, domod,
                       a->scf ? dscf : dsc);
    ready(ready_ctx, m->params[l->out_mod.w].block);  /* "final" */

    /* the blocks, last first: a recomputed block runs its forward again
     * (same inputs, same operations: the same bits) in the scratch arena;
     * every block's backward temporaries live in another arena rewound
     * per block; the input gradients alternate between two buffers */
    float *dxs[2] = {dit_alloc(ar, Rv * D), dit_alloc(ar, Rv * D)};
    float *des[2] = {dit_alloc(ar, Rt * D), dit_alloc(ar, Rt * D)};
    float *de = NULL;
    for (int i = cf->depth - 1; i >= 0; i--) {
        dit_block_st *st = &a->blocks[i];
        /* (the last recomputed block's forward is still in the scratch
         * arena: nothing ran there since) */
        if (avk_dit_block_recomputes(i, cf->depth, m->recompute)) {
            if (i != a->re_block) {
                const float *xi = st->x, *ei = st->e;
                dit_arena_rewind(&a->re);
                k->ar = &a->re;
                dit_block_fwd(k, st, st->p, xi, ei, a->sc, a->scf);
            }
            a->re_block = -1;
        }
        float *dxi = dxs[i & 1], *dei = des[i & 1];
        memset(dxi, 0, (size_t)(Rv * D) * sizeof(float));
        memset(dei, 0, (size_t)(Rt * D) * sizeof(float));
        dit_arena_rewind(&a->bw);
        k->ar = &a->bw;
        dit_block_bwd(k, st, dx, de, a->sc, a->scf, dxi, dei, dsc, dscf);
        k->ar = ar;
        ready(ready_ctx, m->params[l->blocks[i].mod.w].block);
        dx = dxi;
        de = dei;
    }
    if (split) {     /* this rank's text rows in place; zero elsewhere */
        float *all = dit_zeros(ar, c->Rt * D);
        for (int64_t r = 0; r < Rt; r++) {
            int64_t g = dit_global_text_row(k, r);
            if (g >= 0)
                memcpy(all + g * D, de + r * D, (size_t)D * sizeof(float));
        }
        de = all;
    }

    float *dcond = dit_zeros(ar, BD), *dpooled = dit_zeros(ar, BD);
    avk_silu_bwd(dcond, dsc, a->cond, BD);
    if (a->scf) {   /* each frame's conditioning is c plus a constant */
        float *dcf = dit_zeros(ar, BG);
        avk_silu_bwd(dcf, dscf, a->cf, BG);
        for (int i = 0; i < B; i++)
            for (int f = 0; f < G; f++)
                avk_add_inplace(dcond + (int64_t)i * D, dcf + ((int64_t)i * G + f) * D, D);
    }
    mlp2_bwd(m, ar, &l->t1, &l->t2, a->tin, B, a->t1, a->t1s, dcond, NULL);
    mlp2_bwd(m, ar, &l->p1, &l->p2, a->pooled, B, a->p1, a->p1s, dcond, dpooled);
    for (int i = 0; i < B; i++) {
        int n = a->b.text_len[i];
        for (int j = 0; j < n; j++)
            avk_axpy(de + ((int64_t)i * c->L + j) * D, 1.0f / (float)n, dpooled + (int64_t)i * D, D);
    }
    if (cf->text_emb_dim > 0)
        dit_linear_bwd(m, NULL, dit_g(m, l->ctx.w), dit_g(m, l->ctx.b), de, a->b.text_emb,
                       dit_w(m, l->ctx.w), c->Rt, cf->text_emb_dim, D);
    else if (!m->freeze_text)
        dit_text_bwd(c, &a->text, a->b.tokens, de);
    dit_linear_bwd(m, NULL, dit_g(m, l->patch_w), dit_g(m, l->patch_b), dx, a->tok_in,
                   dit_w(m, l->patch_w), Rv, a->K, D);
    ready(ready_ctx, m->params[l->patch_w].block);      /* "embed" */
}

int avk_dit_predict(avk_dit *m, const avk_dit_batch *b, float *pred)
{
    return avk_dit_infer(m, b, pred, NULL) < 0 ? -1 : 0;
}

void avk_dit_acts_free(avk_dit_acts *a)
{
    if (!a)
        return;
    avk_dit *m = a->c.m;
    if (a->split) {
        dit_split_free(a->split);
        free(a);
        return;
    }
    if (m->lay->spare.n == 0) {         /* keep the buffers for the next step */
        m->lay->spare = a->ar;
        m->lay->spare_re = a->re;
        m->lay->spare_bw = a->bw;
    } else {
        dit_arena_free(&a->ar);
        dit_arena_free(&a->re);
        dit_arena_free(&a->bw);
    }
    free(a);
}
