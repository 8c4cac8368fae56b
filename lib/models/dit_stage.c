/* The DiT's inference forward in pieces (embedding, a range of blocks,
 * the head) and the key/value context of block-wise long videos. See
 * include/avkit/models/dit_stage.h. The pieces do what dit.c's forward
 * does, in the same order on the same data, so that a full run gives its
 * bits. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <string.h>
#include "avkit/models/dit_stage.h"
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "dit_internal.h"
#include "dit_ops.h"

#define LN_EPS 1e-6f

struct avk_dit_run {
    avk_dit *m;
    dit_arena ar;
    dit_ctx c;
    avk_dit_batch b;
    avk_patch pa;
    int K;                      /* features per patch */
    float *state;               /* [Rv*D | Rt*D | B*D | B*T*D]: video, text,
                                 * SiLU(c), and with frame_cond the video's
                                 * per-frame SiLU(c + frame features) */
    int64_t nstate;
    dit_text_st text;
};

avk_dit_kv *avk_dit_kv_new(const avk_dit *m, int frames, int H, int W)
{
    const avk_dit_config *cf = &m->cfg;
    int64_t tok = avk_dit_tokens(cf, frames, H, W);
    if (tok < 1)
        return avk_error("key/value context: %d frames of %dx%d latents do not fit the patch "
                         "%dx%dx%d", frames, H, W, cf->patch[0], cf->patch[1], cf->patch[2]),
               NULL;
    avk_dit_kv *kv = avk_xcalloc(1, sizeof *kv);
    kv->depth = cf->depth;
    kv->frames = frames;
    kv->rows = tok;
    kv->D = cf->hidden;
    kv->k = avk_xcalloc((size_t)2 * cf->depth, sizeof *kv->k);
    kv->v = avk_xcalloc((size_t)2 * cf->depth, sizeof *kv->v);
    return kv;
}

void avk_dit_kv_free(avk_dit_kv *kv)
{
    if (!kv)
        return;
    for (int i = 0; i < 2 * kv->depth; i++) {
        avk_ffree(kv->k[i]);
        avk_ffree(kv->v[i]);
    }
    free(kv->k);
    free(kv->v);
    free(kv);
}

int avk_dit_kv_valid(const avk_dit_kv *kv)
{
    return kv && kv->valid;
}

int64_t avk_dit_kv_floats(const avk_dit_kv *kv)
{
    int64_t n = 0;
    for (int i = 0; kv && i < 2 * kv->depth; i++)
        n += (kv->k[i] ? 2 : 0) * kv->rows * kv->D;
    return n;
}

/* Slot 2i: block i's temporal attention; 2i + 1: its joint attention. */
int dit_kv_slot(const dit_ctx *c, const dit_attn_p *p)
{
    const avk_dit_layout *l = c->m->lay;
    for (int i = 0; i < c->m->cfg.depth; i++) {
        if (p == &l->blocks[i].temp)
            return 2 * i;
        if (c->m->cfg.joint && p == &l->blocks[i].third)
            return 2 * i + 1;
    }
    return -1;
}

void dit_kv_keep(dit_ctx *c, int slot, const float *K, const float *V)
{
    avk_dit_kv *kv = c->kv_out;
    int64_t n = kv->rows * kv->D, from = (c->N - kv->rows) * kv->D;
    if (!kv->k[slot]) {
        kv->k[slot] = avk_falloc(n);
        kv->v[slot] = avk_falloc(n);
    }
    memcpy(kv->k[slot], K + from, (size_t)n * sizeof *K);
    memcpy(kv->v[slot], V + from, (size_t)n * sizeof *V);
}

void dit_kv_place(dit_ctx *c, int slot, float *K, float *V)
{
    const avk_dit_kv *kv = c->kv_in;
    int64_t n = kv->rows * kv->D;
    avk_rope_fwd(K, kv->k[slot], c->ctx_rope, 1, c->Rc * c->H, c->Dh);
    memcpy(V, kv->v[slot], (size_t)n * sizeof *V);
}

avk_dit_run *avk_dit_run_new(avk_dit *m)
{
    avk_dit_run *r = avk_xcalloc(1, sizeof *r);
    r->m = m;
    return r;
}

void avk_dit_run_free(avk_dit_run *r)
{
    if (!r)
        return;
    dit_arena_free(&r->ar);
    free(r);
}

/* A rotary table with one row per (token, head) for T x Hp x Wp tokens
 * whose frames start at f0; with pe, also their position embedding
 * (NULL when the model has none). */
static float *rope_rows(dit_ctx *c, int T, int f0, float **pe, float **tok)
{
    const avk_dit_config *cf = &c->m->cfg;
    int64_t N = (int64_t)T * c->S;
    int *pos = dit_alloc_bytes(c->ar, (size_t)N * 3 * sizeof(int));
    float *tab = dit_alloc(c->ar, N * c->Dh), *rows = dit_alloc(c->ar, N * c->H * c->Dh);
    avk_rope_grid_positions(pos, T, c->Hp, c->Wp);
    for (int64_t n = 0; n < N; n++)
        pos[n * 3] += f0;
    avk_rope3d_table(tab, pos, N, cf->rope_dims, (float)cf->rope_theta);
    if (pe)
        *pe = dit_pos_embed_table(c, pos, N);
    for (int64_t n = 0; n < N; n++)
        for (int h = 0; h < c->H; h++)
            memcpy(rows + (n * c->H + h) * c->Dh, tab + n * c->Dh, (size_t)c->Dh * sizeof(float));
    if (tok)
        *tok = tab;
    return rows;
}

/* Shapes, rotary tables and attention sequences, as dit.c's setup_ctx
 * sets them, with the context's rows when there is one. */
int avk_dit_run_begin(avk_dit_run *r, const avk_dit_batch *b, int ctx_frames)
{
    avk_dit *m = r->m;
    const avk_dit_config *cf = &m->cfg;
    if (avk_dit_batch_check(m, b) < 0)
        return -1;
    if (ctx_frames < 0 || ctx_frames % cf->patch[0] || (ctx_frames && b->B != 1))
        return avk_error("DiT context of %d frames: must be a multiple of the frame patch %d, "
                         "and the batch one clip", ctx_frames, cf->patch[0]);
    dit_arena_rewind(&r->ar);
    r->b = *b;
    dit_ctx *c = &r->c;
    memset(c, 0, sizeof *c);
    c->m = m;
    c->ar = &r->ar;
    c->B = b->B;
    c->T = b->T / cf->patch[0];
    c->Hp = b->H / cf->patch[1];
    c->Wp = b->W / cf->patch[2];
    c->S = c->Hp * c->Wp;
    c->N = (int64_t)c->T * c->S;
    c->L = b->L;
    c->D = cf->hidden;
    c->H = cf->heads;
    c->Dh = cf->hidden / cf->heads;
    c->Rv = c->B * c->N;
    c->Rt = (int64_t)c->B * c->L;
    c->text_len = b->text_len;
    c->spn = 1;                 /* no sequence parallelism here */
    c->Sg = c->S;
    c->Lg = c->L;
    c->Tc = ctx_frames / cf->patch[0];
    c->Rc = (int64_t)c->Tc * c->S;
    c->rope = rope_rows(c, c->T, c->Tc, &c->pos_emb, &c->rope_tok);
    c->ctx_rope = c->Tc ? rope_rows(c, c->Tc, 0, NULL, NULL) : NULL;
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
    r->pa = (avk_patch){c->B, cf->in_channels, b->T, b->H, b->W, cf->patch[0], cf->patch[1],
                        cf->patch[2]};
    r->K = cf->in_channels * cf->patch[0] * cf->patch[1] * cf->patch[2];
    r->nstate = (c->Rv + c->Rt + c->B + (cf->frame_cond ? (int64_t)c->B * c->T : 0)) * c->D;
    r->state = dit_alloc(&r->ar, r->nstate);
    return 0;
}

float *avk_dit_run_state(avk_dit_run *r, int64_t *n)
{
    if (n)
        *n = r->nstate;
    return r->state;
}

/* The per-frame conditioning in the state, or NULL without frame_cond. */
static float *state_scf(avk_dit_run *r)
{
    dit_ctx *c = &r->c;
    return r->m->cfg.frame_cond ? r->state + (c->Rv + c->Rt + c->B) * c->D : NULL;
}

/* y = l2(SiLU(l1(x))), as dit.c's embedders compute it. */
static float *mlp2(avk_dit_run *r, const dit_lin *l1, const dit_lin *l2, const float *x, int B)
{
    avk_dit *m = r->m;
    int D = l1->out;
    float *h = dit_alloc(&r->ar, (int64_t)B * D), *hs = dit_alloc(&r->ar, (int64_t)B * D);
    float *y = dit_alloc(&r->ar, (int64_t)B * D);
    dit_linear_fwd(m, h, x, dit_w(m, l1->w), dit_w(m, l1->b), B, l1->in, D);
    avk_silu_fwd(hs, h, (int64_t)B * D);
    dit_linear_fwd(m, y, hs, dit_w(m, l2->w), dit_w(m, l2->b), B, D, D);
    return y;
}

void avk_dit_run_embed(avk_dit_run *r)
{
    avk_dit *m = r->m;
    const avk_dit_config *cf = &m->cfg;
    const avk_dit_layout *l = m->lay;
    dit_ctx *c = &r->c;
    const avk_dit_batch *b = &r->b;
    int B = c->B, D = c->D;
    int64_t BD = (int64_t)B * D, Rv = c->Rv, Rt = c->Rt;
    float *x0 = r->state, *e = r->state + Rv * D, *sc = e + Rt * D;

    float *tok = dit_alloc(&r->ar, Rv * r->K);
    avk_patchify_fwd(tok, b->x, &r->pa);
    dit_linear_fwd(m, x0, tok, dit_w(m, l->patch_w), dit_w(m, l->patch_b), Rv, r->K, D);
    if (c->pos_emb)
        dit_add_pos_embed(x0, c->pos_emb, B, c->N, D);
    if (cf->text_emb_dim > 0) {
        dit_linear_fwd(m, e, b->text_emb, dit_w(m, l->ctx.w), dit_w(m, l->ctx.b), Rt,
                       cf->text_emb_dim, D);
    } else {
        dit_text_fwd(c, &r->text, b->tokens);
        memcpy(e, r->text.out, (size_t)(Rt * D) * sizeof *e);
    }
    float *pooled = dit_zeros(&r->ar, BD);
    for (int i = 0; i < B; i++) {
        int n = b->text_len[i];
        for (int j = 0; j < n; j++)
            avk_add_inplace(pooled + (int64_t)i * D, e + ((int64_t)i * c->L + j) * D, D);
        if (n > 0)
            avk_scale(pooled + (int64_t)i * D, 1.0f / (float)n, D);
    }
    float *pemb = mlp2(r, &l->p1, &l->p2, pooled, B);
    float *ts = dit_alloc(&r->ar, B), *tin = dit_alloc(&r->ar, (int64_t)B * cf->freq_dim);
    for (int i = 0; i < B; i++)
        ts[i] = b->t[i] * 1000.0f;
    avk_timestep_embed(tin, ts, B, cf->freq_dim, 10000.0f);
    float *temb = mlp2(r, &l->t1, &l->t2, tin, B), *cond = dit_alloc(&r->ar, BD);
    avk_add(cond, temb, pemb, BD);
    avk_silu_fwd(sc, cond, BD);
    if (cf->frame_cond) {   /* the clip's frames follow the context's Tc */
        float *fc, *scf;
        dit_frame_cond(c, cond, c->Tc, &fc, &scf);
        memcpy(state_scf(r), scf, (size_t)(BD * c->T) * sizeof *scf);
    }
}

const float *avk_dit_run_modulated(avk_dit_run *r, int64_t *n)
{
    avk_dit *m = r->m;
    dit_ctx *c = &r->c;
    const dit_lin *mod = &m->lay->blocks[0].mod;
    const float *scf = state_scf(r);
    int B = c->B, D = c->D, G = scf ? c->T : 1;
    int64_t BG = (int64_t)B * G * D, Rv = c->Rv;
    const float *sc = scf ? scf : r->state + (Rv + c->Rt) * D;
    float *mk = dit_modulation(c, mod, sc, (int64_t)B * G);
    float *nx = dit_alloc(c->ar, Rv * D), *mu = dit_alloc(c->ar, Rv), *rs = dit_alloc(c->ar, Rv);
    float *y = dit_alloc(c->ar, Rv * D);
    avk_layernorm_fwd(nx, mu, rs, r->state, NULL, NULL, Rv, D, LN_EPS);
    avk_modulate_fwd(y, nx, mk, mk + BG, B, c->N, G, D);
    if (n)
        *n = Rv * D;
    return y;
}

void avk_dit_run_blocks(avk_dit_run *r, int l0, int l1, const avk_dit_kv *ctx, avk_dit_kv *keep)
{
    avk_dit *m = r->m;
    dit_ctx *c = &r->c;
    int64_t Rv = c->Rv, Rt = c->Rt, D = c->D;
    if (l0 >= l1)
        return;
    c->kv_in = c->Rc ? ctx : NULL;
    c->kv_out = keep;
    float *x = r->state, *e = r->state + Rv * D, *sc = e + Rt * D;
    dit_block_st *st = dit_alloc_bytes(c->ar, (size_t)(l1 - l0) * sizeof *st);
    const float *xi = x, *ei = e;
    for (int i = l0; i < l1; i++) {
        dit_block_fwd(c, &st[i - l0], &m->lay->blocks[i], xi, ei, sc, state_scf(r));
        xi = st[i - l0].x2;
        if (st[i - l0].e2)
            ei = st[i - l0].e2;
    }
    memcpy(x, xi, (size_t)(Rv * D) * sizeof *x);
    if (ei != e)
        memcpy(e, ei, (size_t)(Rt * D) * sizeof *e);
    if (keep)
        keep->valid = 1;
    c->kv_in = NULL;
    c->kv_out = NULL;
}

void avk_dit_run_head(avk_dit_run *r, float *pred)
{
    avk_dit *m = r->m;
    const avk_dit_layout *l = m->lay;
    dit_ctx *c = &r->c;
    const float *scf = state_scf(r);
    int B = c->B, D = c->D, G = scf ? c->T : 1;
    int64_t BG = (int64_t)B * G * D, Rv = c->Rv;
    const float *x = r->state, *sc = scf ? scf : r->state + (Rv + c->Rt) * D;
    float *omod = dit_modulation(c, &l->out_mod, sc, (int64_t)B * G);
    float *no = dit_alloc(c->ar, Rv * D), *mo = dit_alloc(c->ar, Rv), *so = dit_alloc(c->ar, Rv);
    float *ym = dit_alloc(c->ar, Rv * D), *y = dit_alloc(c->ar, Rv * r->K);
    avk_layernorm_fwd(no, mo, so, x, NULL, NULL, Rv, D, LN_EPS);
    avk_modulate_fwd(ym, no, omod + BG, omod, B, c->N, G, D);
    dit_linear_fwd(m, y, ym, dit_w(m, l->proj_out.w), dit_w(m, l->proj_out.b), Rv, D, r->K);
    avk_unpatchify_fwd(pred, y, &r->pa);
}

/* Release whole pages strictly inside floats [a, b) of buffer w. */
static int64_t release(float *w, int64_t a, int64_t b)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)(w + a) + pg - 1) & ~(pg - 1), hi = (uintptr_t)(w + b) & ~(pg - 1);
    if (hi <= lo || madvise((void *)lo, hi - lo, MADV_DONTNEED) < 0)
        return 0;
    return (int64_t)(hi - lo);
}

int64_t avk_dit_keep_stage(avk_dit *m, int l0, int l1, int ends)
{
    int64_t freed = release(m->g, 0, m->nfloats), run = -1;
    for (int i = 0; i <= m->nparam; i++) {
        int need = 0;
        if (i < m->nparam) {
            const avk_dit_param *p = &m->params[i];
            int blk;
            if (sscanf(p->name, "transformer_blocks.%d.", &blk) == 1)
                need = blk >= l0 && blk < l1;
            else
                need = ends;
        }
        int64_t at = i < m->nparam ? m->params[i].offset : m->nfloats;
        if (!need && run < 0)
            run = at;
        if (need || i == m->nparam) {
            if (run >= 0)
                freed += release(m->w, run, at);
            run = -1;
        }
    }
    return freed;
}
