/* The DiT's parameter table: every tensor named as in diffusers' SD3-style
 * transformers, registered in forward order in an avk_params table (each
 * transformer block one block of it: one contiguous range), with its
 * initialization, and which of them train (avk_dit_freeze_text). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avkit/util/common.h"
#include "dit_internal.h"

/* Append a tensor to the table (weight decay on matrices); returns its
 * index. `block` is unused here: blocks are opened by build(). */
static int add(avk_dit *m, int block, int ndim, const int64_t *shape, const char *fmt, ...)
{
    (void)block;
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    avk_params_add(m->par, ndim, shape, ndim >= 2, "%s", name);
    return m->par->n - 1;
}

/* A Linear(in, out) with bias under `prefix`. */
static dit_lin add_lin(avk_dit *m, int block, int in, int out, const char *prefix)
{
    dit_lin l = {.in = in, .out = out};
    l.w = add(m, block, 2, (int64_t[]){out, in}, "%s.weight", prefix);
    l.b = add(m, block, 1, (int64_t[]){out}, "%s.bias", prefix);
    return l;
}

static dit_lin no_lin(void)
{
    return (dit_lin){.w = -1, .b = -1};
}

/* One attention module. `dual`: the text stream has its own projections;
 * `text_q`: the text makes queries and outputs (not in the last block);
 * `qkn`: RMS norms of queries and keys. */
static dit_attn_p add_attn(avk_dit *m, int block, const char *pre, int dual, int text_q, int qkn)
{
    int D = m->cfg.hidden, dh = D / m->cfg.heads;
    char n[128];
    dit_attn_p a;
    a.dual = dual;
    a.aq = a.ak = a.av = a.ao = no_lin();
    a.nq = a.nk = a.naq = a.nak = -1;
#define LIN(field, suffix) do { snprintf(n, sizeof n, "%s.%s", pre, suffix); \
        a.field = add_lin(m, block, D, D, n); } while (0)
    LIN(q, "to_q");
    LIN(k, "to_k");
    LIN(v, "to_v");
    if (qkn) {
        a.nq = add(m, block, 1, (int64_t[]){dh}, "%s.norm_q.weight", pre);
        a.nk = add(m, block, 1, (int64_t[]){dh}, "%s.norm_k.weight", pre);
    }
    if (dual) {
        if (text_q)
            LIN(aq, "add_q_proj");
        LIN(ak, "add_k_proj");
        LIN(av, "add_v_proj");
        if (qkn) {
            if (text_q)
                a.naq = add(m, block, 1, (int64_t[]){dh}, "%s.norm_added_q.weight", pre);
            a.nak = add(m, block, 1, (int64_t[]){dh}, "%s.norm_added_k.weight", pre);
        }
    }
    LIN(o, "to_out.0");
    if (dual && text_q)
        LIN(ao, "to_add_out");
#undef LIN
    return a;
}

/* The feed-forward net.0.proj / net.2 pair. */
static void add_ff(avk_dit *m, int block, const char *pre, dit_lin *f1, dit_lin *f2)
{
    char n[128];
    int D = m->cfg.hidden, F = D * m->cfg.mlp_ratio;
    snprintf(n, sizeof n, "%s.net.0.proj", pre);
    *f1 = add_lin(m, block, D, F, n);
    snprintf(n, sizeof n, "%s.net.2", pre);
    *f2 = add_lin(m, block, F, D, n);
}

/* Build the whole table in forward order. */
static void build(avk_dit *m)
{
    const avk_dit_config *c = &m->cfg;
    avk_dit_layout *l = avk_xcalloc(1, sizeof *l);
    m->lay = l;
    int D = c->hidden, K = c->in_channels * c->patch[0] * c->patch[1] * c->patch[2];
    char n[128];
    avk_params_block(m->par, "embed");
    l->patch_w = add(m, -1, 5, (int64_t[]){D, c->in_channels, c->patch[0], c->patch[1], c->patch[2]},
                     "pos_embed.proj.weight");
    l->patch_b = add(m, -1, 1, (int64_t[]){D}, "pos_embed.proj.bias");
    l->tok_emb = l->pos_emb = l->nfw = l->nfb = -1;
    l->ctx = no_lin();
    if (c->text_emb_dim > 0) {
        l->ctx = add_lin(m, -1, c->text_emb_dim, D, "context_embedder");
    } else {
        l->tok_emb = add(m, -1, 2, (int64_t[]){c->vocab_size, D}, "text_encoder.token_embedding.weight");
        l->pos_emb = add(m, -1, 2, (int64_t[]){c->max_text_len, D},
                         "text_encoder.position_embedding.weight");
        l->text = avk_xcalloc((size_t)(c->text_layers ? c->text_layers : 1), sizeof *l->text);
        for (int i = 0; i < c->text_layers; i++) {
            dit_text_layer_p *t = &l->text[i];
            t->n1w = add(m, -1, 1, (int64_t[]){D}, "text_encoder.layers.%d.norm1.weight", i);
            t->n1b = add(m, -1, 1, (int64_t[]){D}, "text_encoder.layers.%d.norm1.bias", i);
            snprintf(n, sizeof n, "text_encoder.layers.%d.attn", i);
            t->attn = add_attn(m, -1, n, 0, 1, 0);
            t->n2w = add(m, -1, 1, (int64_t[]){D}, "text_encoder.layers.%d.norm2.weight", i);
            t->n2b = add(m, -1, 1, (int64_t[]){D}, "text_encoder.layers.%d.norm2.bias", i);
            snprintf(n, sizeof n, "text_encoder.layers.%d.ff", i);
            add_ff(m, -1, n, &t->ff1, &t->ff2);
        }
        l->nfw = add(m, -1, 1, (int64_t[]){D}, "text_encoder.norm_final.weight");
        l->nfb = add(m, -1, 1, (int64_t[]){D}, "text_encoder.norm_final.bias");
    }
    l->t1 = add_lin(m, -1, c->freq_dim, D, "time_text_embed.timestep_embedder.linear_1");
    l->t2 = add_lin(m, -1, D, D, "time_text_embed.timestep_embedder.linear_2");
    l->p1 = add_lin(m, -1, D, D, "time_text_embed.text_embedder.linear_1");
    l->p2 = add_lin(m, -1, D, D, "time_text_embed.text_embedder.linear_2");
    l->blocks = avk_xcalloc((size_t)c->depth, sizeof *l->blocks);
    for (int i = 0; i < c->depth; i++) {
        dit_block_p *b = &l->blocks[i];
        b->last = i == c->depth - 1;
        avk_params_block(m->par, "transformer_blocks.%d", i);
        snprintf(n, sizeof n, "transformer_blocks.%d.norm1.linear", i);
        b->mod = add_lin(m, i, D, 6 * D, n);
        b->cmod = no_lin();
        if (c->mmdit) {
            snprintf(n, sizeof n, "transformer_blocks.%d.norm1_context.linear", i);
            b->cmod = add_lin(m, i, D, (b->last ? 2 : 6) * D, n);
        }
        snprintf(n, sizeof n, "transformer_blocks.%d.attn", i);
        b->attn = add_attn(m, i, n, c->mmdit, !b->last, c->qk_norm);
        snprintf(n, sizeof n, "transformer_blocks.%d.attn_temp", i);
        b->temp = add_attn(m, i, n, 0, 0, c->qk_norm);
        if (c->joint) {
            snprintf(n, sizeof n, "transformer_blocks.%d.attn_joint", i);
            b->third = add_attn(m, i, n, c->mmdit, !b->last, c->qk_norm);
        } else {
            snprintf(n, sizeof n, "transformer_blocks.%d.attn_cross", i);
            b->third = add_attn(m, i, n, 0, 0, c->qk_norm);
        }
        snprintf(n, sizeof n, "transformer_blocks.%d.ff", i);
        add_ff(m, i, n, &b->ff1, &b->ff2);
        b->cff1 = b->cff2 = no_lin();
        if (c->mmdit && !b->last) {
            snprintf(n, sizeof n, "transformer_blocks.%d.ff_context", i);
            add_ff(m, i, n, &b->cff1, &b->cff2);
        }
    }
    avk_params_block(m->par, "final");
    l->out_mod = add_lin(m, -1, D, 2 * D, "norm_out.linear");
    l->proj_out = add_lin(m, -1, D, K, "proj_out");
}

avk_dit *avk_dit_new(const avk_dit_config *cfg)
{
    avk_dit_config c = *cfg;
    if (avk_dit_config_check(&c) < 0)
        return NULL;
    avk_dit *m = avk_xcalloc(1, sizeof *m);
    m->cfg = c;
    m->par = avk_params_new();
    build(m);
    avk_params_alloc(m->par);
    m->w = m->par->w;
    m->g = avk_params_grads(m->par);
    m->nparam = m->par->n;
    m->params = m->par->p;
    m->nfloats = m->par->total;
    return m;
}

void avk_dit_free(avk_dit *m)
{
    if (!m)
        return;
    if (m->lay) {
        dit_arena_free(&m->lay->spare);
        dit_arena_free(&m->lay->spare_re);
        dit_arena_free(&m->lay->spare_bw);
        dit_split_workers_free(m->lay);
        free(m->lay->text);
        free(m->lay->blocks);
        free(m->lay);
    }
    avk_params_free(m->par);
    free(m);
}

const avk_dit_param *avk_dit_find(const avk_dit *m, const char *name)
{
    return avk_params_find(m->par, name);
}

int avk_dit_param_decays(const avk_dit_param *p)
{
    return p->decay;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

void avk_dit_init(avk_dit *m, uint64_t seed)
{
    avk_rng r;
    avk_rng_seed(&r, seed);
    memset(m->w, 0, (size_t)m->nfloats * sizeof(float));
    for (int i = 0; i < m->nparam; i++) {
        const avk_dit_param *p = &m->params[i];
        float *w = m->w + p->offset;
        if (strstr(p->name, "norm1.linear") || strstr(p->name, "norm1_context.linear") ||
            strstr(p->name, "norm_out.linear") || !strncmp(p->name, "proj_out", 8)) {
            continue;                                   /* adaLN-zero, zero output */
        } else if (strstr(p->name, "embedding")) {
            avk_fill_randn(w, p->numel, &r, 0.0f, 0.02f);
        } else if (ends_with(p->name, ".bias")) {
            continue;
        } else if (p->ndim == 1) {
            for (int64_t j = 0; j < p->numel; j++)      /* norm weights */
                w[j] = 1.0f;
        } else {
            /* Xavier uniform over [out, fan_in] (Conv3d folded to 2D) */
            int64_t out = p->shape[0], in = p->numel / out;
            float a = (float)sqrt(6.0 / (double)(in + out));
            avk_fill_uniform(w, p->numel, &r, -a, a);
        }
    }
}

int avk_dit_freeze_text(avk_dit *m)
{
    if (m->cfg.text_emb_dim > 0)
        return avk_error("the model has no text encoder to freeze (it takes text embeddings)");
    m->freeze_text = 1;
    for (int i = 0; i < m->par->n; i++)
        if (!strncmp(m->par->p[i].name, "text_encoder.", 13))
            m->par->p[i].decay = 0;
    return 0;
}
