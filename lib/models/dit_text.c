/* The DiT's text encoder, forward and backward: token embedding plus
 * learned positions, a few pre-LN transformer layers (self-attention with
 * the caption's padding mask, GELU MLP), a final layer norm. */
#include <string.h>
#include "avkit/nn/ops.h"
#include "dit_internal.h"
#include "dit_ops.h"

#define LN_EPS 1e-6f

void dit_text_fwd(dit_ctx *c, dit_text_st *st, const int32_t *tokens)
{
    avk_dit *m = c->m;
    const avk_dit_layout *l = m->lay;
    int D = c->D, nl = m->cfg.text_layers;
    int64_t Rt = c->Rt;
    st->e0 = dit_alloc(c->ar, Rt * D);
    avk_embedding_fwd(st->e0, dit_w(m, l->tok_emb), tokens, Rt, m->cfg.vocab_size, D);
    const float *pos = dit_w(m, l->pos_emb);
    for (int b = 0; b < c->B; b++)
        avk_add_inplace(st->e0 + (int64_t)b * c->L * D, pos, (int64_t)c->L * D);
    st->layers = dit_alloc_bytes(c->ar, (size_t)(nl ? nl : 1) * sizeof *st->layers);
    const float *cur = st->e0;
    for (int i = 0; i < nl; i++) {
        const dit_text_layer_p *p = &l->text[i];
        struct dit_tl_st *s = &st->layers[i];
        int F = p->ff1.out;
        s->in = cur;
        s->n1 = dit_alloc(c->ar, Rt * D);
        s->m1 = dit_alloc(c->ar, Rt);
        s->s1 = dit_alloc(c->ar, Rt);
        avk_layernorm_fwd(s->n1, s->m1, s->s1, cur, dit_w(m, p->n1w), dit_w(m, p->n1b), Rt, D, LN_EPS);
        memset(&s->at, 0, sizeof s->at);
        s->at.p = &p->attn;
        s->at.s = c->text;
        s->at.qs[0] = s->at.kvs[0] = 1;
        s->at.R[0] = Rt;
        s->at.x[0] = s->n1;
        s->a = dit_alloc(c->ar, Rt * D);
        float *y[2] = {s->a, NULL};
        dit_attn_fwd(c, &s->at, y);
        s->e1 = dit_alloc(c->ar, Rt * D);
        avk_add(s->e1, cur, s->a, Rt * D);
        s->n2 = dit_alloc(c->ar, Rt * D);
        s->m2 = dit_alloc(c->ar, Rt);
        s->s2 = dit_alloc(c->ar, Rt);
        avk_layernorm_fwd(s->n2, s->m2, s->s2, s->e1, dit_w(m, p->n2w), dit_w(m, p->n2b), Rt, D, LN_EPS);
        s->f1 = dit_alloc(c->ar, Rt * F);
        s->g1 = dit_alloc(c->ar, Rt * F);
        s->f2 = dit_alloc(c->ar, Rt * D);
        dit_linear_fwd(m, s->f1, s->n2, dit_w(m, p->ff1.w), dit_w(m, p->ff1.b), Rt, D, F);
        avk_gelu_fwd(s->g1, s->f1, Rt * F);
        dit_linear_fwd(m, s->f2, s->g1, dit_w(m, p->ff2.w), dit_w(m, p->ff2.b), Rt, F, D);
        s->out = dit_alloc(c->ar, Rt * D);
        avk_add(s->out, s->e1, s->f2, Rt * D);
        cur = s->out;
    }
    st->pre = cur;
    st->out = dit_alloc(c->ar, Rt * D);
    st->mf = dit_alloc(c->ar, Rt);
    st->sf = dit_alloc(c->ar, Rt);
    avk_layernorm_fwd(st->out, st->mf, st->sf, cur, dit_w(m, l->nfw), dit_w(m, l->nfb), Rt, D, LN_EPS);
}

void dit_text_bwd(dit_ctx *c, dit_text_st *st, const int32_t *tokens, const float *dout)
{
    avk_dit *m = c->m;
    const avk_dit_layout *l = m->lay;
    int D = c->D, nl = m->cfg.text_layers;
    int64_t Rt = c->Rt;
    float *d = dit_zeros(c->ar, Rt * D);
    avk_layernorm_bwd(d, dit_g(m, l->nfw), dit_g(m, l->nfb), dout, st->pre, st->mf, st->sf,
                      dit_w(m, l->nfw), Rt, D);
    for (int i = nl - 1; i >= 0; i--) {
        const dit_text_layer_p *p = &l->text[i];
        struct dit_tl_st *s = &st->layers[i];
        int F = p->ff1.out;
        /* out = e1 + ff(LN2(e1)) */
        float *de1 = dit_zeros(c->ar, Rt * D);
        avk_add_inplace(de1, d, Rt * D);
        float *dg1 = dit_zeros(c->ar, Rt * F), *df1 = dit_zeros(c->ar, Rt * F);
        float *dn2 = dit_zeros(c->ar, Rt * D);
        dit_linear_bwd(m, dg1, dit_g(m, p->ff2.w), dit_g(m, p->ff2.b), d, s->g1, dit_w(m, p->ff2.w), Rt, F, D);
        avk_gelu_bwd(df1, dg1, s->f1, Rt * F);
        dit_linear_bwd(m, dn2, dit_g(m, p->ff1.w), dit_g(m, p->ff1.b), df1, s->n2, dit_w(m, p->ff1.w), Rt, D, F);
        avk_layernorm_bwd(de1, dit_g(m, p->n2w), dit_g(m, p->n2b), dn2, s->e1, s->m2, s->s2,
                          dit_w(m, p->n2w), Rt, D);
        /* e1 = in + attn(LN1(in)) */
        float *din = dit_zeros(c->ar, Rt * D), *dn1 = dit_zeros(c->ar, Rt * D);
        avk_add_inplace(din, de1, Rt * D);
        const float *dy[2] = {de1, NULL};
        float *dx[2] = {dn1, NULL};
        dit_attn_bwd(c, &s->at, dy, dx);
        avk_layernorm_bwd(din, dit_g(m, p->n1w), dit_g(m, p->n1b), dn1, s->in, s->m1, s->s1,
                          dit_w(m, p->n1w), Rt, D);
        d = din;
    }
    avk_embedding_bwd(dit_g(m, l->tok_emb), d, tokens, Rt, D);
    float *dpos = dit_g(m, l->pos_emb);
    for (int b = 0; b < c->B; b++)
        avk_add_inplace(dpos, d + (int64_t)b * c->L * D, (int64_t)c->L * D);
}
