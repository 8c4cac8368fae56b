/* One transformer block of the DiT, forward and backward: Vchitect-2.0's
 * parallel block. adaLN-zero modulation from SiLU(c); one normalized,
 * modulated input feeds the spatial, temporal and cross (or joint)
 * attention branches, whose outputs are summed into a gated residual; then
 * the gated MLP. The text stream runs beside the video with its own
 * modulation and weights (MM-DiT) or the video's (single-stream); the last
 * block only reads the text. With frame_cond the video's modulation comes
 * from one conditioning row per (sample, frame), B * T rows in place of
 * B, and applies to each frame's tokens (G = T groups); the text's from
 * the per-sample SiLU(c). */
#include <string.h>
#include "avkit/nn/ops.h"
#include "dit_internal.h"
#include "dit_ops.h"

#define LN_EPS 1e-6f

/* [B, k, D] -> [k, B, D] so each chunk of the modulation is one [B, D]. */
static void chunk_major(float *dst, const float *src, int B, int k, int D)
{
    avk_permute(dst, src, 3, (int64_t[]){B, k, D}, (int[]){1, 0, 2});
}

/* Gradient of chunk_major, added into dsrc [B, k, D]. */
static void chunk_major_bwd(float *dsrc, const float *ddst, int B, int k, int D)
{
    avk_permute_acc(dsrc, ddst, 3, (int64_t[]){k, B, D}, (int[]){1, 0, 2});
}

/* Norm, modulate and gated MLP of one stream: out = x1 + gate * ff(LN(x1)
 * (1 + scale) + shift). The buffers are saved in *s. */
typedef struct mlp_io {
    float **n2, **m2, **s2, **h2, **f1, **g1, **f2;
} mlp_io;

static void mlp_fwd(dit_ctx *c, const mlp_io *io, const float *x1, float *out, const float *mod,
                    int G, const dit_lin *f1, const dit_lin *f2, int64_t rows, int64_t per)
{
    avk_dit *m = c->m;
    int B = c->B, D = c->D, F = f1->out;
    int64_t cs = (int64_t)B * G * D;    /* one chunk of mod: [B, G, D] */
    *io->n2 = dit_alloc(c->ar, rows * D);
    *io->m2 = dit_alloc(c->ar, rows);
    *io->s2 = dit_alloc(c->ar, rows);
    *io->h2 = dit_alloc(c->ar, rows * D);
    /* fp32 products: avk_mlp_fwd / _bwd with the hidden rows ld apart */
    int64_t ld = dit_fp32_products(m) ? avk_mlp_ld(F) : F;
    *io->f1 = dit_alloc(c->ar, rows * ld);
    *io->g1 = dit_alloc(c->ar, rows * ld);
    *io->f2 = dit_alloc(c->ar, rows * D);
    avk_ln_modulate_fwd(*io->n2, *io->m2, *io->s2, *io->h2, x1, mod + 3 * cs, mod + 4 * cs, B,
                        per, G, D, LN_EPS);
    if (ld != F) {
        DIT_TIMED(gemm, avk_mlp_fwd(*io->f2, *io->f1, *io->g1, ld, *io->h2, dit_w(m, f1->w),
                                    dit_w(m, f1->b), dit_w(m, f2->w), dit_w(m, f2->b), rows, D,
                                    F, D));
    } else {    /* the bias joins the GELU's pass over the rows */
        dit_linear_fwd(m, *io->f1, *io->h2, dit_w(m, f1->w), NULL, rows, D, F);
        avk_bias_gelu_fwd(*io->f1, *io->g1, dit_w(m, f1->b), rows, F);
        dit_linear_fwd(m, *io->f2, *io->g1, dit_w(m, f2->w), dit_w(m, f2->b), rows, F, D);
    }
    avk_gated_residual_fwd(out, x1, *io->f2, mod + 5 * cs, B, per, G, D);
}

/* Backward of mlp_fwd: adds into dx1 and dmod (chunks 3..5). */
static void mlp_bwd(dit_ctx *c, const mlp_io *io, const float *x1, const float *dout,
                    float *dx1, const float *mod, float *dmod, int G, const dit_lin *f1,
                    const dit_lin *f2, int64_t rows, int64_t per)
{
    avk_dit *m = c->m;
    int B = c->B, D = c->D, F = f1->out;
    int64_t BD = (int64_t)B * G * D;    /* one chunk of mod */
    int64_t ld = dit_fp32_products(m) ? avk_mlp_ld(F) : F;    /* as mlp_fwd */
    float *df2 = dit_zeros(c->ar, rows * D), *df1 = dit_alloc(c->ar, rows * ld);
    float *dh2 = dit_alloc(c->ar, rows * D);
    avk_gated_residual_bwd(dx1, df2, dmod + 5 * BD, dout, *io->f2, mod + 5 * BD, B, per, G, D);
    if (ld != F) {
        DIT_TIMED(gemm, avk_mlp_bwd(dh2, dit_g(m, f1->w), dit_g(m, f1->b), dit_g(m, f2->w),
                                    dit_g(m, f2->b), df1, ld, df2, *io->h2, *io->f1, *io->g1,
                                    dit_w(m, f1->w), dit_w(m, f2->w), rows, D, F, D));
    } else {    /* the GELU's input gradient overwrites its output gradient in place */
        dit_linear_bwd_set(m, df1, dit_g(m, f2->w), dit_g(m, f2->b), df2, *io->g1,
                           dit_w(m, f2->w), rows, F, D);
        avk_gelu_bwd_inplace(df1, *io->f1, rows * F);
        dit_linear_bwd_set(m, dh2, dit_g(m, f1->w), dit_g(m, f1->b), df1, *io->h2,
                           dit_w(m, f1->w), rows, D, F);
    }
    avk_ln_modulate_bwd(dx1, dmod + 3 * BD, dmod + 4 * BD, dh2, x1, *io->n2, *io->m2, *io->s2,
                        mod + 4 * BD, B, per, G, D);
}

/* The three branch descriptions of a block (which streams, which
 * sequences, rotary or not). */
static void setup_branches(dit_ctx *c, dit_block_st *st, const dit_block_p *p)
{
    int tq = !p->last;
    dit_attn_st *b = st->br;
    memset(b, 0, 3 * sizeof *b);
    for (int i = 0; i < 3; i++) {
        b[i].R[0] = c->Rv;
        b[i].R[1] = c->Rt;
        b[i].x[0] = st->mxx;
        b[i].x[1] = st->mee;
    }
    b[0].p = &p->attn;
    b[0].s = tq ? c->sp_q : c->sp_kv;
    b[0].qs[0] = b[0].kvs[0] = b[0].kvs[1] = b[0].rope = 1;
    b[0].qs[1] = tq;
    b[1].p = &p->temp;
    b[1].s = c->temp;
    b[1].qs[0] = b[1].kvs[0] = b[1].rope = 1;
    b[2].p = &p->third;
    if (c->m->cfg.joint) {
        b[2].s = tq ? c->joint_q : c->joint_kv;
        b[2].qs[0] = b[2].kvs[0] = b[2].kvs[1] = b[2].rope = 1;
        b[2].qs[1] = tq;
    } else {
        b[2].s = c->cross;
        b[2].qs[0] = b[2].kvs[1] = 1;
    }
}

float *dit_modulation(dit_ctx *c, const dit_lin *lin, const float *sc, int64_t rows)
{
    avk_dit *m = c->m;
    int D = c->D, k = lin->out / D;
    float *raw = dit_alloc(c->ar, k * rows * D), *mod = dit_alloc(c->ar, k * rows * D);
    dit_linear_fwd(m, raw, sc, dit_w(m, lin->w), dit_w(m, lin->b), rows, D, k * D);
    chunk_major(mod, raw, (int)rows, k, D);
    return mod;
}

void dit_modulation_bwd(dit_ctx *c, const dit_lin *lin, const float *sc, int64_t rows,
                        const float *dmod, float *dsc)
{
    avk_dit *m = c->m;
    int D = c->D, k = lin->out / D;
    float *draw = dit_zeros(c->ar, k * rows * D);
    chunk_major_bwd(draw, dmod, (int)rows, k, D);
    dit_linear_bwd(m, dsc, dit_g(m, lin->w), dit_g(m, lin->b), draw, sc, dit_w(m, lin->w), rows,
                   D, k * D);
}

void dit_block_fwd(dit_ctx *c, dit_block_st *st, const dit_block_p *p, const float *x,
                   const float *e, const float *sc, const float *scf)
{
    int B = c->B, D = c->D, tq = !p->last, G = scf ? c->T : 1;
    int64_t Rv = c->Rv, Rt = c->Rt, BD = (int64_t)B * D, BG = (int64_t)B * G * D;
    st->p = p;
    st->x = x;
    st->e = e;
    st->mod = dit_modulation(c, &p->mod, scf ? scf : sc, (int64_t)B * G);
    st->cmod = st->mod;
    if (p->cmod.w >= 0)
        st->cmod = dit_modulation(c, &p->cmod, sc, B);
    else if (scf)   /* single-stream: the text's own rows of the same linear */
        st->cmod = dit_modulation(c, &p->mod, sc, B);
    st->nx = dit_alloc(c->ar, Rv * D);
    st->mx = dit_alloc(c->ar, Rv);
    st->sx = dit_alloc(c->ar, Rv);
    st->mxx = dit_alloc(c->ar, Rv * D);
    avk_ln_modulate_fwd(st->nx, st->mx, st->sx, st->mxx, x, st->mod, st->mod + BG, B, c->N, G,
                        D, LN_EPS);
    st->ne = dit_alloc(c->ar, Rt * D);
    st->me = dit_alloc(c->ar, Rt);
    st->se = dit_alloc(c->ar, Rt);
    st->mee = dit_alloc(c->ar, Rt * D);
    avk_ln_modulate_fwd(st->ne, st->me, st->se, st->mee, e, st->cmod, st->cmod + BD, B, c->L, 1,
                        D, LN_EPS);

    setup_branches(c, st, p);
    st->av = dit_alloc(c->ar, Rv * D);
    st->at = tq ? dit_zeros(c->ar, Rt * D) : NULL;
    float *yv = dit_alloc(c->ar, Rv * D), *yt = tq ? dit_alloc(c->ar, Rt * D) : NULL;
    for (int i = 0; i < 3; i++) {
        float *y[2] = {i == 0 ? st->av : yv, yt};
        dit_attn_fwd(c, &st->br[i], y);
        if (i > 0)
            avk_add_inplace(st->av, yv, Rv * D);
        if (st->br[i].qs[1])
            avk_add_inplace(st->at, yt, Rt * D);
    }
    st->x1 = dit_alloc(c->ar, Rv * D);
    avk_gated_residual_fwd(st->x1, x, st->av, st->mod + 2 * BG, B, c->N, G, D);
    st->x2 = dit_alloc(c->ar, Rv * D);
    mlp_io iv = {&st->n2x, &st->m2x, &st->s2x, &st->h2x, &st->f1x, &st->g1x, &st->f2x};
    mlp_fwd(c, &iv, st->x1, st->x2, st->mod, G, &p->ff1, &p->ff2, Rv, c->N);
    st->e1 = st->e2 = NULL;
    if (tq) {
        st->e1 = dit_alloc(c->ar, Rt * D);
        avk_gated_residual_fwd(st->e1, e, st->at, st->cmod + 2 * BD, B, c->L, 1, D);
        st->e2 = dit_alloc(c->ar, Rt * D);
        mlp_io it = {&st->n2e, &st->m2e, &st->s2e, &st->h2e, &st->f1e, &st->g1e, &st->f2e};
        int own = p->cff1.w >= 0;
        mlp_fwd(c, &it, st->e1, st->e2, st->cmod, 1, own ? &p->cff1 : &p->ff1,
                own ? &p->cff2 : &p->ff2, Rt, c->L);
    }
}

void dit_block_bwd(dit_ctx *c, dit_block_st *st, const float *dx2, const float *de2,
                   const float *sc, const float *scf, float *dx, float *de, float *dsc,
                   float *dscf)
{
    const dit_block_p *p = st->p;
    int B = c->B, D = c->D, tq = !p->last, G = scf ? c->T : 1;
    int64_t Rv = c->Rv, Rt = c->Rt, BD = (int64_t)B * D, BG = (int64_t)B * G * D;
    float *dmod = dit_zeros(c->ar, 6 * BG);
    const dit_lin *tl = p->cmod.w >= 0 ? &p->cmod : &p->mod;    /* the text's modulation */
    float *dcmod = st->cmod == st->mod ? dmod : dit_zeros(c->ar, (tl->out / D) * BD);

    float *dx1 = dit_zeros(c->ar, Rv * D);
    mlp_io iv = {&st->n2x, &st->m2x, &st->s2x, &st->h2x, &st->f1x, &st->g1x, &st->f2x};
    mlp_bwd(c, &iv, st->x1, dx2, dx1, st->mod, dmod, G, &p->ff1, &p->ff2, Rv, c->N);
    float *de1 = NULL, *dat = NULL;
    if (tq) {
        de1 = dit_zeros(c->ar, Rt * D);
        mlp_io it = {&st->n2e, &st->m2e, &st->s2e, &st->h2e, &st->f1e, &st->g1e, &st->f2e};
        int own = p->cff1.w >= 0;
        mlp_bwd(c, &it, st->e1, de2, de1, st->cmod, dcmod, 1, own ? &p->cff1 : &p->ff1,
                own ? &p->cff2 : &p->ff2, Rt, c->L);
        dat = dit_zeros(c->ar, Rt * D);
        avk_gated_residual_bwd(de, dat, dcmod + 2 * BD, de1, st->at, st->cmod + 2 * BD, B, c->L, 1, D);
    }
    float *dav = dit_zeros(c->ar, Rv * D);
    avk_gated_residual_bwd(dx, dav, dmod + 2 * BG, dx1, st->av, st->mod + 2 * BG, B, c->N, G, D);

    /* the branches' seven-odd projections of one input share the padded
     * copy avk_gemm would make of it for each weight gradient (D x D x
     * rows, the input as B) */
    if (dit_fp32_products(c->m)) {
        const float *in[2] = {st->mxx, st->mee};
        int64_t rows[2] = {Rv, Rt};
        for (int s = 0; s < 2; s++) {
            int64_t ld = avk_gemm_padded_ld(D, D, D, rows[s]);
            float *xp = NULL;
            if (ld != D) {
                xp = dit_alloc(c->ar, rows[s] * ld);
                avk_copy_rows(xp, ld, in[s], D, rows[s], D);
            }
            for (int i = 0; i < 3; i++) {
                st->br[i].xp[s] = xp;
                st->br[i].xld[s] = ld;
            }
        }
    }
    float *dmx = dit_zeros(c->ar, Rv * D), *dme = dit_zeros(c->ar, Rt * D);
    for (int i = 2; i >= 0; i--) {
        const float *dy[2] = {dav, dat};
        float *dxs[2] = {dmx, dme};
        dit_attn_bwd(c, &st->br[i], dy, dxs);
    }
    avk_ln_modulate_bwd(dx, dmod, dmod + BG, dmx, st->x, st->nx, st->mx, st->sx, st->mod + BG, B,
                        c->N, G, D);
    avk_ln_modulate_bwd(de, dcmod, dcmod + BD, dme, st->e, st->ne, st->me, st->se, st->cmod + BD,
                        B, c->L, 1, D);

    dit_modulation_bwd(c, &p->mod, scf ? scf : sc, (int64_t)B * G, dmod, scf ? dscf : dsc);
    if (dcmod != dmod)
        dit_modulation_bwd(c, tl, sc, B, dcmod, dsc);
}
