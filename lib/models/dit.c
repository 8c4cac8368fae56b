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
    dit_ctx c;
    avk_dit_batch b;
    avk_patch pa;
    int K;                              /* features per patch */
    float *tok_in, *x0;                 /* patches [Rv, K], tokens [Rv, D] */
    dit_text_st text;
    float *ctx;                         /* text tokens [Rt, D] */
    float *pooled, *p1, *p1s, *pemb;    /* [B, D] */
    float *tin, *t1, *t1s, *temb;       /* [B, freq_dim], [B, D] ... */
    float *cond, *sc;                   /* c and SiLU(c) [B, D] */
    dit_block_st *blocks;
    const float *xl;                    /* last block's output [Rv, D] */
    float *no, *mo, *so, *omod, *ym, *y;
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

/* The rotary table with one row per (token, head), the sequence sets. */
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
    int *pos = dit_alloc_bytes(&a->ar, (size_t)c->N * 3 * sizeof(int));
    float *tab = dit_alloc(&a->ar, c->N * c->Dh);
    avk_rope_grid_positions(pos, c->T, c->Hp, c->Wp);
    avk_rope3d_table(tab, pos, c->N, cf->rope_dims, (float)cf->rope_theta);
    c->rope = dit_alloc(&a->ar, c->N * c->H * c->Dh);
    for (int64_t n = 0; n < c->N; n++)
        for (int h = 0; h < c->H; h++)
            memcpy(c->rope + (n * c->H + h) * c->Dh, tab + n * c->Dh, (size_t)c->Dh * sizeof(float));
    c->sp_q = dit_seqs_spatial(c, 1);
    c->sp_kv = dit_seqs_spatial(c, 0);
    c->temp = dit_seqs_temporal(c);
    if (cf->joint) {
        c->joint_q = dit_seqs_joint(c, 1);
        c->joint_kv = dit_seqs_joint(c, 0);
    } else {
        c->cross = dit_seqs_cross(c);
    }
    if (cf->text_emb_dim == 0)
        c->text = dit_seqs_text(c);
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
    dit_ctx *c = &a->c;
    const dit_lin *mod = &m->lay->blocks[0].mod;
    int B = c->B, D = c->D;
    int64_t BD = (int64_t)B * D, Rv = c->Rv;
    float *raw = dit_alloc(c->ar, 6 * BD), *mk = dit_alloc(c->ar, 6 * BD);
    dit_linear_fwd(m, raw, a->sc, dit_w(m, mod->w), dit_w(m, mod->b), B, D, 6 * D);
    avk_permute(mk, raw, 3, (int64_t[]){B, 6, D}, (int[]){1, 0, 2});
    float *n = dit_alloc(c->ar, Rv * D), *mu = dit_alloc(c->ar, Rv), *rs = dit_alloc(c->ar, Rv);
    float *y = dit_alloc(c->ar, Rv * D);
    avk_layernorm_fwd(n, mu, rs, a->x0, NULL, NULL, Rv, D, LN_EPS);
    avk_modulate_fwd(y, n, mk, mk + BD, B, c->N, 1, D);
    return y;
}

/* The forward; with hooks (inference only) the block stack may be
 * skipped, and *ran says whether it ran. */
static avk_dit_acts *forward(avk_dit *m, const avk_dit_batch *b, float *pred,
                             const avk_dit_hooks *hk, int *ran)
{
    if (avk_dit_batch_check(m, b) < 0)
        return NULL;
    const avk_dit_config *cf = &m->cfg;
    const avk_dit_layout *l = m->lay;
    avk_dit_acts *a = avk_xcalloc(1, sizeof *a);
    a->ar = m->lay->spare;              /* the last step's buffers, if any */
    memset(&m->lay->spare, 0, sizeof m->lay->spare);
    dit_arena_rewind(&a->ar);
    a->b = *b;
    setup_ctx(m, a);
    dit_ctx *c = &a->c;
    dit_arena *ar = &a->ar;
    int B = c->B, D = c->D;
    int64_t BD = (int64_t)B * D, Rv = c->Rv, Rt = c->Rt;

    /* patches -> video tokens */
    a->pa = (avk_patch){B, cf->in_channels, b->T, b->H, b->W, cf->patch[0], cf->patch[1], cf->patch[2]};
    a->K = cf->in_channels * cf->patch[0] * cf->patch[1] * cf->patch[2];
    a->tok_in = dit_alloc(ar, Rv * a->K);
    avk_patchify_fwd(a->tok_in, b->x, &a->pa);
    a->x0 = dit_alloc(ar, Rv * D);
    dit_linear_fwd(m, a->x0, a->tok_in, dit_w(m, l->patch_w), dit_w(m, l->patch_b), Rv, a->K, D);

    /* text tokens and their masked mean */
    if (cf->text_emb_dim > 0) {
        a->ctx = dit_alloc(ar, Rt * D);
        dit_linear_fwd(m, a->ctx, b->text_emb, dit_w(m, l->ctx.w), dit_w(m, l->ctx.b), Rt,
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

    /* the blocks (or, when a hook says so, the input plus a stored
     * residual in their place) */
    int run = 1;
    if (hk && hk->decide)
        run = hk->decide(hk->ctx, first_block_modulated(a), Rv * D) != 0 || !hk->reuse;
    a->blocks = dit_alloc_bytes(ar, (size_t)cf->depth * sizeof *a->blocks);
    const float *x = a->x0, *e = a->ctx;
    if (run) {
        for (int i = 0; i < cf->depth; i++) {
            dit_block_fwd(c, &a->blocks[i], &l->blocks[i], x, e, a->sc);
            x = a->blocks[i].x2;
            e = a->blocks[i].e2;
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

    /* final adaLN (scale, shift) and projection to patches */
    float *raw = dit_alloc(ar, 2 * BD);
    dit_linear_fwd(m, raw, a->sc, dit_w(m, l->out_mod.w), dit_w(m, l->out_mod.b), B, D, 2 * D);
    a->omod = dit_alloc(ar, 2 * BD);
    avk_permute(a->omod, raw, 3, (int64_t[]){B, 2, D}, (int[]){1, 0, 2});
    a->no = dit_alloc(ar, Rv * D);
    a->mo = dit_alloc(ar, Rv);
    a->so = dit_alloc(ar, Rv);
    a->ym = dit_alloc(ar, Rv * D);
    avk_layernorm_fwd(a->no, a->mo, a->so, x, NULL, NULL, Rv, D, LN_EPS);
    avk_modulate_fwd(a->ym, a->no, a->omod + BD, a->omod, B, c->N, 1, D);
    a->y = dit_alloc(ar, Rv * a->K);
    dit_linear_fwd(m, a->y, a->ym, dit_w(m, l->proj_out.w), dit_w(m, l->proj_out.b), Rv, D, a->K);
    avk_unpatchify_fwd(pred, a->y, &a->pa);
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

void avk_dit_backward(avk_dit *m, avk_dit_acts *a, const float *dpred)
{
    const avk_dit_config *cf = &m->cfg;
    const avk_dit_layout *l = m->lay;
    dit_ctx *c = &a->c;
    dit_arena *ar = &a->ar;
    int B = c->B, D = c->D;
    int64_t BD = (int64_t)B * D, Rv = c->Rv, Rt = c->Rt;

    float *dy = dit_zeros(ar, Rv * a->K), *dym = dit_zeros(ar, Rv * D);
    avk_unpatchify_bwd(dy, dpred, &a->pa);
    dit_linear_bwd(m, dym, dit_g(m, l->proj_out.w), dit_g(m, l->proj_out.b), dy, a->ym,
                   dit_w(m, l->proj_out.w), Rv, D, a->K);
    float *domod = dit_zeros(ar, 2 * BD), *dno = dit_zeros(ar, Rv * D);
    float *dx = dit_zeros(ar, Rv * D);
    avk_modulate_bwd(dno, domod + BD, domod, dym, a->no, a->omod, B, c->N, 1, D);
    avk_layernorm_bwd(dx, NULL, NULL, dno, a->xl, a->mo, a->so, NULL, Rv, D);
    float *dsc = dit_zeros(ar, BD), *draw = dit_zeros(ar, 2 * BD);
    avk_permute_acc(draw, domod, 3, (int64_t[]){2, B, D}, (int[]){1, 0, 2});
    dit_linear_bwd(m, dsc, dit_g(m, l->out_mod.w), dit_g(m, l->out_mod.b), draw, a->sc,
                   dit_w(m, l->out_mod.w), B, D, 2 * D);
    avk_params_grads_ready(m->par, m->params[l->out_mod.w].block);  /* "final" */

    float *de = NULL;
    for (int i = cf->depth - 1; i >= 0; i--) {
        float *dxi = dit_zeros(ar, Rv * D), *dei = dit_zeros(ar, Rt * D);
        dit_block_bwd(c, &a->blocks[i], dx, de, a->sc, dxi, dei, dsc);
        avk_params_grads_ready(m->par, m->params[l->blocks[i].mod.w].block);
        dx = dxi;
        de = dei;
    }

    float *dcond = dit_zeros(ar, BD), *dpooled = dit_zeros(ar, BD);
    avk_silu_bwd(dcond, dsc, a->cond, BD);
    mlp2_bwd(m, ar, &l->t1, &l->t2, a->tin, B, a->t1, a->t1s, dcond, NULL);
    mlp2_bwd(m, ar, &l->p1, &l->p2, a->pooled, B, a->p1, a->p1s, dcond, dpooled);
    for (int i = 0; i < B; i++) {
        int n = a->b.text_len[i];
        for (int j = 0; j < n; j++)
            avk_axpy(de + ((int64_t)i * c->L + j) * D, 1.0f / (float)n, dpooled + (int64_t)i * D, D);
    }
    if (cf->text_emb_dim > 0)
        dit_linear_bwd(m, NULL, dit_g(m, l->ctx.w), dit_g(m, l->ctx.b), de, a->b.text_emb,
                       dit_w(m, l->ctx.w), Rt, cf->text_emb_dim, D);
    else
        dit_text_bwd(c, &a->text, a->b.tokens, de);
    dit_linear_bwd(m, NULL, dit_g(m, l->patch_w), dit_g(m, l->patch_b), dx, a->tok_in,
                   dit_w(m, l->patch_w), Rv, a->K, D);
    avk_params_grads_ready(m->par, m->params[l->patch_w].block);      /* "embed" */
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
    if (m->lay->spare.n == 0)           /* keep the buffers for the next step */
        m->lay->spare = a->ar;
    else
        dit_arena_free(&a->ar);
    free(a);
}
