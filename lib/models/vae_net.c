/* The VAE network: building the module table in diffusers' layout, and
 * the forward and backward passes of the encoder and decoder, written out
 * over the compute core (ops.h).
 *
 * A training pass (vae_pass) keeps, for each module in forward order, the
 * activations its backward needs (vae_act); the backward walks the same
 * module loops in reverse and pops them. Inference passes no vae_pass and
 * frees each temporary as soon as the next module has consumed it, so
 * memory holds only a few activations of the largest resolution.
 *
 * Every buffer, copy and operator goes through the backend table the
 * model was built with (net->be, see "Backends" in ops.h): this file never
 * loops over, copies or clears tensor memory itself, so the same passes
 * run on any backend. */
#include "vae_internal.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"
#include "avkit/nn/tensor.h"
#include "avkit/nn/params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- building -------------------------------------------------------- */

static vae_conv reg_conv(avk_params *v, int cin, int cout, int k, const char *name)
{
    vae_conv c = {0, 0, cin, cout, k};
    int64_t ws[4] = {cout, cin, k, k}, bs[1] = {cout};
    c.w = avk_params_add(v, 4, ws, 1, "%s.weight", name);
    c.b = avk_params_add(v, 1, bs, 1, "%s.bias", name);
    return c;
}

static vae_norm reg_norm(avk_params *v, int ch, const char *name)
{
    vae_norm n = {0, 0, ch};
    int64_t s[1] = {ch};
    n.g = avk_params_add(v, 1, s, 1, "%s.weight", name);
    n.b = avk_params_add(v, 1, s, 1, "%s.bias", name);
    return n;
}

static vae_lin reg_lin(avk_params *v, int in, int out, const char *name)
{
    vae_lin l = {0, 0, in, out};
    int64_t ws[2] = {out, in}, bs[1] = {out};
    l.w = avk_params_add(v, 2, ws, 1, "%s.weight", name);
    l.b = avk_params_add(v, 1, bs, 1, "%s.bias", name);
    return l;
}

static vae_res reg_res(avk_params *v, int cin, int cout, const char *prefix)
{
    vae_res r;
    char nm[200];
    memset(&r, 0, sizeof r);
    r.cin = cin;
    r.cout = cout;
    snprintf(nm, sizeof nm, "%s.norm1", prefix);
    r.norm1 = reg_norm(v, cin, nm);
    snprintf(nm, sizeof nm, "%s.conv1", prefix);
    r.conv1 = reg_conv(v, cin, cout, 3, nm);
    snprintf(nm, sizeof nm, "%s.norm2", prefix);
    r.norm2 = reg_norm(v, cout, nm);
    snprintf(nm, sizeof nm, "%s.conv2", prefix);
    r.conv2 = reg_conv(v, cout, cout, 3, nm);
    if (cin != cout) {
        r.has_shortcut = 1;
        snprintf(nm, sizeof nm, "%s.conv_shortcut", prefix);
        r.shortcut = reg_conv(v, cin, cout, 1, nm);
    }
    return r;
}

static vae_mid reg_mid(avk_params *v, int ch, int attn, const char *prefix)
{
    vae_mid m;
    char nm[200];
    memset(&m, 0, sizeof m);
    snprintf(nm, sizeof nm, "%s.attentions.0", prefix);
    /* diffusers registers attentions before resnets */
    if (attn) {
        m.has_attn = 1;
        m.attn.c = ch;
        snprintf(nm, sizeof nm, "%s.attentions.0.group_norm", prefix);
        m.attn.gn = reg_norm(v, ch, nm);
        snprintf(nm, sizeof nm, "%s.attentions.0.to_q", prefix);
        m.attn.q = reg_lin(v, ch, ch, nm);
        snprintf(nm, sizeof nm, "%s.attentions.0.to_k", prefix);
        m.attn.k = reg_lin(v, ch, ch, nm);
        snprintf(nm, sizeof nm, "%s.attentions.0.to_v", prefix);
        m.attn.v = reg_lin(v, ch, ch, nm);
        snprintf(nm, sizeof nm, "%s.attentions.0.to_out.0", prefix);
        m.attn.o = reg_lin(v, ch, ch, nm);
    }
    snprintf(nm, sizeof nm, "%s.resnets.0", prefix);
    m.r0 = reg_res(v, ch, ch, nm);
    snprintf(nm, sizeof nm, "%s.resnets.1", prefix);
    m.r1 = reg_res(v, ch, ch, nm);
    return m;
}

avk_vae_net *avk_vae_net_build(const avk_vae_config *c, avk_params *v)
{
    avk_vae_net *n = avk_xcalloc(1, sizeof *n);
    int nb = c->nblocks, nl = c->layers_per_block;
    const int *ch = c->block_out_channels;
    char nm[200];
    n->nb = nb;
    n->nl = nl;
    /* the CPU backend for now; the CUDA issue adds the choice (with the
     * parameters in device memory) */
    n->be = avk_backend_cpu();
    n->e_res = avk_xcalloc((size_t)nb * nl, sizeof *n->e_res);
    n->e_down = avk_xcalloc((size_t)nb, sizeof *n->e_down);
    n->d_res = avk_xcalloc((size_t)nb * (nl + 1), sizeof *n->d_res);
    n->d_up = avk_xcalloc((size_t)nb, sizeof *n->d_up);

    /* encoder; each top-level module is a block of the table */
    avk_params_block(v, "encoder.conv_in");
    n->e_in = reg_conv(v, c->in_channels, ch[0], 3, "encoder.conv_in");
    int prev = ch[0];
    for (int i = 0; i < nb; i++) {
        avk_params_block(v, "encoder.down_blocks.%d", i);
        for (int j = 0; j < nl; j++) {
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d.resnets.%d", i, j);
            n->e_res[i * nl + j] = reg_res(v, j == 0 ? prev : ch[i], ch[i], nm);
        }
        if (i < nb - 1) {
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            n->e_down[i] = reg_conv(v, ch[i], ch[i], 3, nm);
        }
        prev = ch[i];
    }
    avk_params_block(v, "encoder.mid_block");
    n->e_mid = reg_mid(v, ch[nb - 1], c->mid_attention, "encoder.mid_block");
    avk_params_block(v, "encoder.out");
    n->e_nout = reg_norm(v, ch[nb - 1], "encoder.conv_norm_out");
    n->e_out = reg_conv(v, ch[nb - 1], 2 * c->latent_channels, 3, "encoder.conv_out");

    /* decoder */
    avk_params_block(v, "decoder.conv_in");
    n->d_in = reg_conv(v, c->latent_channels, ch[nb - 1], 3, "decoder.conv_in");
    prev = ch[nb - 1];
    for (int i = 0; i < nb; i++) {
        int out = ch[nb - 1 - i];
        avk_params_block(v, "decoder.up_blocks.%d", i);
        for (int j = 0; j < nl + 1; j++) {
            snprintf(nm, sizeof nm, "decoder.up_blocks.%d.resnets.%d", i, j);
            n->d_res[i * (nl + 1) + j] = reg_res(v, j == 0 ? prev : out, out, nm);
        }
        if (i < nb - 1) {
            snprintf(nm, sizeof nm, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            n->d_up[i] = reg_conv(v, out, out, 3, nm);
        }
        prev = out;
    }
    avk_params_block(v, "decoder.mid_block");
    n->d_mid = reg_mid(v, ch[nb - 1], c->mid_attention, "decoder.mid_block");
    avk_params_block(v, "decoder.out");
    n->d_nout = reg_norm(v, ch[0], "decoder.conv_norm_out");
    n->d_out = reg_conv(v, ch[0], c->out_channels, 3, "decoder.conv_out");

    if (c->use_quant_conv) {
        avk_params_block(v, "quant_conv");
        n->quant = reg_conv(v, 2 * c->latent_channels, 2 * c->latent_channels, 1, "quant_conv");
    }
    if (c->use_post_quant_conv) {
        avk_params_block(v, "post_quant_conv");
        n->post_quant = reg_conv(v, c->latent_channels, c->latent_channels, 1, "post_quant_conv");
    }
    return n;
}

int avk_vae_factor(const avk_vae_config *c)
{
    return 1 << (c->nblocks - 1);
}

void avk_vae_net_free(avk_vae_net *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nbufs; i++)
        n->be->free(n->bufs[i].p);
    free(n->bufs);
    free(n->e_res);
    free(n->e_down);
    free(n->d_res);
    free(n->d_up);
    free(n);
}

/* ---- buffer pool ----------------------------------------------------- */

/* Activation buffers come from a per-model pool in the backend's memory:
 * a returned buffer is kept and handed out again for a request of at most
 * its size (and at least half of it), so a pass after the first allocates
 * nothing and takes no page faults. The pool's records (pointer, capacity,
 * free or not) live on the host; the buffers are only ever touched through
 * the backend table. */
static float *vget(avk_vae *V, int64_t n)
{
    avk_vae_net *net = V->net;
    int best = -1;
    if (n < 1)
        n = 1;
    for (int i = 0; i < net->nbufs; i++) {
        const vae_buf *b = &net->bufs[i];
        if (b->free && b->cap >= n && b->cap <= 2 * n + 4096 &&
            (best < 0 || b->cap < net->bufs[best].cap))
            best = i;
    }
    if (best >= 0) {
        net->bufs[best].free = 0;
        net->nfree--;
        return net->bufs[best].p;
    }
    float *p = net->be->alloc((size_t)n * sizeof(float));
    if (!p)
        avk_die_lib();
    if (net->nbufs == net->bufcap) {
        net->bufcap = net->bufcap ? 2 * net->bufcap : 64;
        net->bufs = avk_xrealloc(net->bufs, (size_t)net->bufcap * sizeof *net->bufs);
    }
    net->bufs[net->nbufs++] = (vae_buf){p, n, 0};
    return p;
}

/* Give a buffer back to the pool; when VAE_POOL_MAX are already free, the
 * smallest free one goes back to the backend first. */
static void vput(avk_vae *V, float *p)
{
    if (!p)
        return;
    avk_vae_net *net = V->net;
    int at = net->nbufs - 1;
    while (at >= 0 && net->bufs[at].p != p)
        at--;
    if (at < 0 || net->bufs[at].free)
        avk_die(1, "VAE buffer pool: a buffer returned twice or not from the pool");
    if (net->nfree == VAE_POOL_MAX) {
        int small = -1;
        for (int i = 0; i < net->nbufs; i++)
            if (net->bufs[i].free && (small < 0 || net->bufs[i].cap < net->bufs[small].cap))
                small = i;
        net->be->free(net->bufs[small].p);
        net->bufs[small] = net->bufs[--net->nbufs];
        net->nfree--;
        if (at == net->nbufs)
            at = small;
    }
    net->bufs[at].free = 1;
    net->nfree++;
}

static float *vzeros(avk_vae *V, int64_t n)
{
    float *p = vget(V, n);
    V->net->be->zero(p, (size_t)(n > 0 ? n : 1) * sizeof(float));
    return p;
}

/* ---- passes ---------------------------------------------------------- */

/* What one module's backward needs from its forward. Fields are used per
 * module kind: a conv keeps x; a resnet x, y1..s2; norm+SiLU x, y1, m1,
 * r1, s1; attention x, y1, m1, r1, hn, q, k, v, o, lse; an upsampler up. */
typedef struct vae_act {
    const float *x;
    float *y1, *m1, *r1, *s1, *h1, *y2, *m2, *r2, *s2;
    float *hn, *q, *k, *v, *o, *lse, *up;
} vae_act;

typedef struct vae_pass {
    vae_act **acts;
    int n, cap, cur;
    float **bufs;
    int nbuf, bufcap;
} vae_pass;

static vae_act *act_push(vae_pass *P)
{
    if (!P)
        return NULL;
    if (P->n == P->cap) {
        P->cap = P->cap ? 2 * P->cap : 64;
        P->acts = avk_xrealloc(P->acts, (size_t)P->cap * sizeof *P->acts);
    }
    vae_act *a = avk_xcalloc(1, sizeof *a);
    P->acts[P->n++] = a;
    P->cur = P->n;
    return a;
}

static vae_act *act_pop(vae_pass *P)
{
    return P->acts[--P->cur];
}

/* A buffer that lives as long as the pass (or, without a pass, until the
 * caller drops it). */
static float *buf(avk_vae *V, vae_pass *P, int64_t n)
{
    float *p = vget(V, n);
    if (P) {
        if (P->nbuf == P->bufcap) {
            P->bufcap = P->bufcap ? 2 * P->bufcap : 128;
            P->bufs = avk_xrealloc(P->bufs, (size_t)P->bufcap * sizeof *P->bufs);
        }
        P->bufs[P->nbuf++] = p;
    }
    return p;
}

/* Free a buffer an inference pass no longer needs (kept in training). */
static void drop(avk_vae *V, vae_pass *P, const float *p)
{
    if (!P)
        vput(V, (float *)p);
}

static void pass_free(avk_vae *V, vae_pass *P)
{
    for (int i = 0; i < P->n; i++)
        free(P->acts[i]);
    for (int i = 0; i < P->nbuf; i++)
        vput(V, P->bufs[i]);
    free(P->acts);
    free(P->bufs);
}

#define W_(off) (V->pt->w + (off))
#define G_(off) (V->pt->g + (off))
/* The backend every operator of the passes runs on (see ops.h). */
#define BE (V->net->be)

static avk_conv2d conv_desc(const vae_conv *c, int B, int H, int W)
{
    return avk_conv2d_make(B, c->cin, H, W, c->cout, c->k, 1, c->k / 2);
}

/* A plain conv module (3x3 pad 1, or 1x1). */
static float *conv_fwd(avk_vae *V, vae_pass *P, const vae_conv *c, const float *x, int B, int H,
                       int W)
{
    vae_act *a = act_push(P);
    if (a)
        a->x = x;
    avk_conv2d d = conv_desc(c, B, H, W);
    float *y = buf(V, P, (int64_t)B * c->cout * H * W);
    BE->conv2d_fwd(y, x, W_(c->w), W_(c->b), &d);
    return y;
}

static void conv_bwd(avk_vae *V, vae_pass *P, const vae_conv *c, const float *dy, float *dx, int B,
                     int H, int W)
{
    vae_act *a = act_pop(P);
    avk_conv2d d = conv_desc(c, B, H, W);
    BE->conv2d_bwd(dx, G_(c->w), G_(c->b), dy, a->x, W_(c->w), &d);
}

/* diffusers' Downsample2D with padding 0: zero-pad right and bottom by
 * one, then a 3x3 conv of stride 2. */
static avk_conv2d down_desc(const vae_conv *c, int B, int H, int W)
{
    avk_conv2d d = avk_conv2d_make(B, c->cin, H, W, c->cout, 3, 2, 0);
    d.pad_bottom = d.pad_right = 1;
    return d;
}

static float *down_fwd(avk_vae *V, vae_pass *P, const vae_conv *c, const float *x, int B, int H,
                       int W)
{
    vae_act *a = act_push(P);
    if (a)
        a->x = x;
    avk_conv2d d = down_desc(c, B, H, W);
    float *y = buf(V, P, (int64_t)B * c->cout * (H / 2) * (W / 2));
    BE->conv2d_fwd(y, x, W_(c->w), W_(c->b), &d);
    return y;
}

static void down_bwd(avk_vae *V, vae_pass *P, const vae_conv *c, const float *dy, float *dx, int B,
                     int H, int W)
{
    vae_act *a = act_pop(P);
    avk_conv2d d = down_desc(c, B, H, W);
    BE->conv2d_bwd(dx, G_(c->w), G_(c->b), dy, a->x, W_(c->w), &d);
}

/* diffusers' Upsample2D: nearest 2x, then a 3x3 conv. H, W: input size. */
static float *up_fwd(avk_vae *V, vae_pass *P, const vae_conv *c, const float *x, int B, int H,
                     int W)
{
    vae_act *a = act_push(P);
    float *u = buf(V, P, (int64_t)B * c->cin * 4 * H * W);
    BE->upsample_nearest_fwd(u, x, (int64_t)B * c->cin, H, W, 2);
    avk_conv2d d = conv_desc(c, B, 2 * H, 2 * W);
    float *y = buf(V, P, (int64_t)B * c->cout * 4 * H * W);
    BE->conv2d_fwd(y, u, W_(c->w), W_(c->b), &d);
    if (a)
        a->up = u;
    drop(V, P, u);
    return y;
}

static void up_bwd(avk_vae *V, vae_pass *P, const vae_conv *c, const float *dy, float *dx, int B,
                   int H, int W)
{
    vae_act *a = act_pop(P);
    float *du = vzeros(V, (int64_t)B * c->cin * 4 * H * W);
    avk_conv2d d = conv_desc(c, B, 2 * H, 2 * W);
    BE->conv2d_bwd(du, G_(c->w), G_(c->b), dy, a->up, W_(c->w), &d);
    BE->upsample_nearest_bwd(dx, du, (int64_t)B * c->cin, H, W, 2);
    vput(V, du);
}

/* Group norm then SiLU (the encoder's and decoder's conv_norm_out + act,
 * also used inside the resnets). Returns the SiLU output; in a training
 * pass a->x, y1, m1, r1, s1 are set. */
static float *norm_silu(avk_vae *V, vae_pass *P, vae_act *a, const vae_norm *n, const float *x,
                        int B, int64_t S)
{
    int G = V->cfg.norm_num_groups;
    float *y = buf(V, P, (int64_t)B * n->c * S);
    float *m = buf(V, P, (int64_t)B * G), *r = buf(V, P, (int64_t)B * G);
    BE->groupnorm_fwd(y, m, r, x, W_(n->g), W_(n->b), B, n->c, S, G, VAE_EPS);
    float *s = y;
    if (P) {
        s = buf(V, P, (int64_t)B * n->c * S);
        a->x = x;
        a->y1 = y;
        a->m1 = m;
        a->r1 = r;
        a->s1 = s;
    }
    BE->silu_fwd(s, y, (int64_t)B * n->c * S);   /* in place without a pass */
    drop(V, P, m);
    drop(V, P, r);
    return s;
}

/* Backward of norm_silu: ds is the gradient of the SiLU output. */
static void norm_silu_bwd(avk_vae *V, const vae_norm *n, const float *x, const float *y,
                          const float *m, const float *r, const float *ds, float *dx, int B,
                          int64_t S)
{
    int G = V->cfg.norm_num_groups;
    int64_t len = (int64_t)B * n->c * S;
    float *dy = vzeros(V, len);
    BE->silu_bwd(dy, ds, y, len);
    BE->groupnorm_bwd(dx, G_(n->g), G_(n->b), dy, x, m, r, W_(n->g), B, n->c, S, G);
    vput(V, dy);
}

static float *nout_fwd(avk_vae *V, vae_pass *P, const vae_norm *n, const float *x, int B, int64_t S)
{
    vae_act *a = act_push(P);
    return norm_silu(V, P, a, n, x, B, S);
}

static void nout_bwd(avk_vae *V, vae_pass *P, const vae_norm *n, const float *ds, float *dx, int B,
                     int64_t S)
{
    vae_act *a = act_pop(P);
    norm_silu_bwd(V, n, a->x, a->y1, a->m1, a->r1, ds, dx, B, S);
}

/* ResnetBlock2D: out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))). */
static float *res_fwd(avk_vae *V, vae_pass *P, const vae_res *r, const float *x, int B, int H, int W)
{
    vae_act *a = act_push(P);
    int64_t S = (int64_t)H * W;
    vae_act tmp;
    vae_act *t = a ? a : &tmp;
    float *s1 = norm_silu(V, P, t, &r->norm1, x, B, S);
    avk_conv2d d1 = conv_desc(&r->conv1, B, H, W);
    float *h1 = buf(V, P, (int64_t)B * r->cout * S);
    BE->conv2d_fwd(h1, s1, W_(r->conv1.w), W_(r->conv1.b), &d1);
    drop(V, P, s1);
    /* norm_silu fills y1..s1 of the act it is given: keep the first
     * norm's pointers and store the second's as y2..s2 */
    vae_act second;
    float *s2 = norm_silu(V, P, &second, &r->norm2, h1, B, S);
    avk_conv2d d2 = conv_desc(&r->conv2, B, H, W);
    float *out = buf(V, P, (int64_t)B * r->cout * S);
    BE->conv2d_fwd(out, s2, W_(r->conv2.w), W_(r->conv2.b), &d2);
    drop(V, P, s2);
    if (a) {
        a->h1 = h1;
        a->y2 = second.y1;
        a->m2 = second.m1;
        a->r2 = second.r1;
        a->s2 = second.s1;
    } else {
        drop(V, P, h1);
    }
    if (r->has_shortcut) {
        avk_conv2d ds = conv_desc(&r->shortcut, B, H, W);
        float *sc = vget(V, (int64_t)B * r->cout * S);
        BE->conv2d_fwd(sc, x, W_(r->shortcut.w), W_(r->shortcut.b), &ds);
        BE->add_inplace(out, sc, (int64_t)B * r->cout * S);
        vput(V, sc);
    } else {
        BE->add_inplace(out, x, (int64_t)B * r->cout * S);
    }
    return out;
}

static void res_bwd(avk_vae *V, vae_pass *P, const vae_res *r, const float *dout, float *dx, int B,
                    int H, int W)
{
    vae_act *a = act_pop(P);
    int64_t S = (int64_t)H * W;
    float *ds2 = vzeros(V, (int64_t)B * r->cout * S);
    avk_conv2d d2 = conv_desc(&r->conv2, B, H, W);
    BE->conv2d_bwd(ds2, G_(r->conv2.w), G_(r->conv2.b), dout, a->s2, W_(r->conv2.w), &d2);
    float *dh1 = vzeros(V, (int64_t)B * r->cout * S);
    norm_silu_bwd(V, &r->norm2, a->h1, a->y2, a->m2, a->r2, ds2, dh1, B, S);
    vput(V, ds2);
    float *ds1 = vzeros(V, (int64_t)B * r->cin * S);
    avk_conv2d d1 = conv_desc(&r->conv1, B, H, W);
    BE->conv2d_bwd(ds1, G_(r->conv1.w), G_(r->conv1.b), dh1, a->s1, W_(r->conv1.w), &d1);
    vput(V, dh1);
    norm_silu_bwd(V, &r->norm1, a->x, a->y1, a->m1, a->r1, ds1, dx, B, S);
    vput(V, ds1);
    if (r->has_shortcut) {
        avk_conv2d ds = conv_desc(&r->shortcut, B, H, W);
        BE->conv2d_bwd(dx, G_(r->shortcut.w), G_(r->shortcut.b), dout, a->x, W_(r->shortcut.w), &ds);
    } else {
        BE->add_inplace(dx, dout, (int64_t)B * r->cout * S);
    }
}

/* The mid block's attention (diffusers Attention with residual
 * connection, one head of dimension C over the N = H*W positions):
 * out = x + T(to_out(sdpa(to_q(h), to_k(h), to_v(h)))), h = T(group_norm(x))
 * with T the [C, N] <-> [N, C] transpose. */
static float *attn_fwd(avk_vae *V, vae_pass *P, const vae_attn *at, const float *x, int B, int64_t N)
{
    vae_act *a = act_push(P);
    int C = at->c, G = V->cfg.norm_num_groups;
    int64_t len = (int64_t)B * C * N, rows = (int64_t)B * N;
    float *y = buf(V, P, len);
    float *m = buf(V, P, (int64_t)B * G), *r = buf(V, P, (int64_t)B * G);
    BE->groupnorm_fwd(y, m, r, x, W_(at->gn.g), W_(at->gn.b), B, C, N, G, VAE_EPS);
    int64_t shp[3] = {B, C, N};
    int perm[3] = {0, 2, 1};
    float *hn = buf(V, P, len);
    BE->permute(hn, y, 3, shp, perm);
    float *q = buf(V, P, len), *k = buf(V, P, len), *v = buf(V, P, len);
    /* one frame at a time: a GEMM's rows can round differently with the
     * row count (dnnl_sgemm's AVX2 kernels do), and a frame's latent must
     * not depend on its batch */
    for (int b = 0; b < B; b++) {
        int64_t o = (int64_t)b * N * C;
        BE->linear_fwd(q + o, hn + o, W_(at->q.w), W_(at->q.b), N, C, C);
        BE->linear_fwd(k + o, hn + o, W_(at->k.w), W_(at->k.b), N, C, C);
        BE->linear_fwd(v + o, hn + o, W_(at->v.w), W_(at->v.b), N, C, C);
    }
    float *o = buf(V, P, len), *lse = buf(V, P, rows);
    avk_attn ad = avk_attn_make(B, 1, (int)N, (int)N, C);
    BE->attention_fwd(o, lse, q, k, v, &ad);
    float *p = vget(V, len);
    for (int b = 0; b < B; b++)
        BE->linear_fwd(p + (int64_t)b * N * C, o + (int64_t)b * N * C, W_(at->o.w), W_(at->o.b), N, C,
                       C);
    float *out = buf(V, P, len);
    int64_t shp2[3] = {B, N, C};
    BE->permute(out, p, 3, shp2, perm);
    vput(V, p);
    BE->add_inplace(out, x, len);
    if (a) {
        a->x = x;
        a->y1 = y;
        a->m1 = m;
        a->r1 = r;
        a->hn = hn;
        a->q = q;
        a->k = k;
        a->v = v;
        a->o = o;
        a->lse = lse;
    } else {
        float *tmp[] = {y, m, r, hn, q, k, v, o, lse};
        for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++)
            drop(V, P, tmp[i]);
    }
    return out;
}

static void attn_bwd(avk_vae *V, vae_pass *P, const vae_attn *at, const float *dout, float *dx, int B,
                     int64_t N)
{
    vae_act *a = act_pop(P);
    int C = at->c, G = V->cfg.norm_num_groups;
    int64_t len = (int64_t)B * C * N, rows = (int64_t)B * N;
    int64_t shp[3] = {B, C, N}, shp2[3] = {B, N, C};
    int perm[3] = {0, 2, 1};
    BE->add_inplace(dx, dout, len);
    float *dp = vget(V, len);
    BE->permute(dp, dout, 3, shp, perm);
    float *dO = vzeros(V, len);
    BE->linear_bwd(dO, G_(at->o.w), G_(at->o.b), dp, a->o, W_(at->o.w), rows, C, C);
    float *dq = vzeros(V, len), *dk = vzeros(V, len), *dv = vzeros(V, len);
    avk_attn ad = avk_attn_make(B, 1, (int)N, (int)N, C);
    BE->attention_bwd(dq, dk, dv, dO, a->q, a->k, a->v, a->o, a->lse, &ad);
    float *dhn = vzeros(V, len);
    BE->linear_bwd(dhn, G_(at->q.w), G_(at->q.b), dq, a->hn, W_(at->q.w), rows, C, C);
    BE->linear_bwd(dhn, G_(at->k.w), G_(at->k.b), dk, a->hn, W_(at->k.w), rows, C, C);
    BE->linear_bwd(dhn, G_(at->v.w), G_(at->v.b), dv, a->hn, W_(at->v.w), rows, C, C);
    float *dy = dp;   /* reuse: [B, C, N] */
    BE->permute(dy, dhn, 3, shp2, perm);
    BE->groupnorm_bwd(dx, G_(at->gn.g), G_(at->gn.b), dy, a->x, a->m1, a->r1, W_(at->gn.g), B, C,
                      N, G);
    vput(V, dp);
    vput(V, dO);
    vput(V, dq);
    vput(V, dk);
    vput(V, dv);
    vput(V, dhn);
}

/* UNetMidBlock2D: resnet, attention, resnet. Consumes (drops) x. */
static float *mid_fwd(avk_vae *V, vae_pass *P, const vae_mid *m, float *x, int B, int H, int W)
{
    float *h = res_fwd(V, P, &m->r0, x, B, H, W);
    drop(V, P, x);
    if (m->has_attn) {
        float *h2 = attn_fwd(V, P, &m->attn, h, B, (int64_t)H * W);
        drop(V, P, h);
        h = h2;
    }
    float *h3 = res_fwd(V, P, &m->r1, h, B, H, W);
    drop(V, P, h);
    return h3;
}

static void mid_bwd(avk_vae *V, vae_pass *P, const vae_mid *m, const float *dout, float *dx, int B,
                    int H, int W)
{
    int64_t len = (int64_t)B * m->r0.cout * H * W;
    float *dh = vzeros(V, len);
    res_bwd(V, P, &m->r1, dout, dh, B, H, W);
    if (m->has_attn) {
        float *dh2 = vzeros(V, len);
        attn_bwd(V, P, &m->attn, dh, dh2, B, (int64_t)H * W);
        vput(V, dh);
        dh = dh2;
    }
    res_bwd(V, P, &m->r0, dh, dx, B, H, W);
    vput(V, dh);
}

/* ---- encoder and decoder --------------------------------------------- */

/* Encoder (+ quant_conv): x [B, in, H, W] -> moments [B, 2L, H/f, W/f]. */
static float *encoder_fwd(avk_vae *V, vae_pass *P, const float *x, int B, int H, int W)
{
    const avk_vae_net *n = V->net;
    float *h = conv_fwd(V, P, &n->e_in, x, B, H, W);
    for (int i = 0; i < n->nb; i++) {
        for (int j = 0; j < n->nl; j++) {
            float *h2 = res_fwd(V, P, &n->e_res[i * n->nl + j], h, B, H, W);
            drop(V, P, h);
            h = h2;
        }
        if (i < n->nb - 1) {
            float *h2 = down_fwd(V, P, &n->e_down[i], h, B, H, W);
            drop(V, P, h);
            h = h2;
            H /= 2;
            W /= 2;
        }
    }
    h = mid_fwd(V, P, &n->e_mid, h, B, H, W);
    float *s = nout_fwd(V, P, &n->e_nout, h, B, (int64_t)H * W);
    drop(V, P, h);
    float *mom = conv_fwd(V, P, &n->e_out, s, B, H, W);
    drop(V, P, s);
    if (V->cfg.use_quant_conv) {
        float *q = conv_fwd(V, P, &n->quant, mom, B, H, W);
        drop(V, P, mom);
        mom = q;
    }
    return mom;
}

/* dmom: gradient of the moments; dx (may be NULL) gets the input gradient. */
static void encoder_bwd(avk_vae *V, vae_pass *P, const float *dmom, float *dx, int B, int H, int W)
{
    const avk_vae_net *n = V->net;
    const int *ch = V->cfg.block_out_channels;
    int f = avk_vae_factor(&V->cfg), h = H / f, w = W / f, L2 = 2 * V->cfg.latent_channels;
    int cl = ch[n->nb - 1];
    float *dm = vzeros(V, (int64_t)B * L2 * h * w);
    if (V->cfg.use_quant_conv)
        conv_bwd(V, P, &n->quant, dmom, dm, B, h, w);
    else
        BE->copy(dm, dmom, (size_t)B * L2 * h * w * sizeof(float));
    float *ds = vzeros(V, (int64_t)B * cl * h * w);
    conv_bwd(V, P, &n->e_out, dm, ds, B, h, w);
    vput(V, dm);
    float *dh = vzeros(V, (int64_t)B * cl * h * w);
    nout_bwd(V, P, &n->e_nout, ds, dh, B, (int64_t)h * w);
    vput(V, ds);
    float *dh2 = vzeros(V, (int64_t)B * cl * h * w);
    mid_bwd(V, P, &n->e_mid, dh, dh2, B, h, w);
    vput(V, dh);
    dh = dh2;
    for (int i = n->nb - 1; i >= 0; i--) {
        if (i < n->nb - 1) {
            /* dh is the gradient at the downsampler's output (h x w) */
            float *dd = vzeros(V, (int64_t)B * ch[i] * 4 * h * w);
            down_bwd(V, P, &n->e_down[i], dh, dd, B, 2 * h, 2 * w);
            vput(V, dh);
            dh = dd;
            h *= 2;
            w *= 2;
        }
        for (int j = n->nl - 1; j >= 0; j--) {
            const vae_res *r = &n->e_res[i * n->nl + j];
            float *d2 = vzeros(V, (int64_t)B * r->cin * h * w);
            res_bwd(V, P, r, dh, d2, B, h, w);
            vput(V, dh);
            dh = d2;
        }
    }
    /* conv_in: the input gradient only when asked for (dx may be NULL) */
    vae_act *a = act_pop(P);
    avk_conv2d d = conv_desc(&n->e_in, B, H, W);
    BE->conv2d_bwd(dx, G_(n->e_in.w), G_(n->e_in.b), dh, a->x, W_(n->e_in.w), &d);
    vput(V, dh);
}

/* (post_quant_conv +) decoder: z [B, L, h, w] -> [B, out, h*f, w*f]. */
static float *decoder_fwd(avk_vae *V, vae_pass *P, const float *z, int B, int H, int W)
{
    const avk_vae_net *n = V->net;
    const float *zin = z;
    float *pq = NULL;
    if (V->cfg.use_post_quant_conv)
        zin = pq = conv_fwd(V, P, &n->post_quant, z, B, H, W);
    float *h = conv_fwd(V, P, &n->d_in, zin, B, H, W);
    drop(V, P, pq);
    h = mid_fwd(V, P, &n->d_mid, h, B, H, W);
    for (int i = 0; i < n->nb; i++) {
        for (int j = 0; j < n->nl + 1; j++) {
            float *h2 = res_fwd(V, P, &n->d_res[i * (n->nl + 1) + j], h, B, H, W);
            drop(V, P, h);
            h = h2;
        }
        if (i < n->nb - 1) {
            float *h2 = up_fwd(V, P, &n->d_up[i], h, B, H, W);
            drop(V, P, h);
            h = h2;
            H *= 2;
            W *= 2;
        }
    }
    float *s = nout_fwd(V, P, &n->d_nout, h, B, (int64_t)H * W);
    drop(V, P, h);
    float *out = conv_fwd(V, P, &n->d_out, s, B, H, W);
    drop(V, P, s);
    return out;
}

/* dout [B, out, H, W] (H, W: output size); dz gets the latent gradient. */
static void decoder_bwd(avk_vae *V, vae_pass *P, const float *dout, float *dz, int B, int H, int W)
{
    const avk_vae_net *n = V->net;
    const int *ch = V->cfg.block_out_channels;
    int c0 = ch[0];
    float *ds = vzeros(V, (int64_t)B * c0 * H * W);
    conv_bwd(V, P, &n->d_out, dout, ds, B, H, W);
    float *dh = vzeros(V, (int64_t)B * c0 * H * W);
    nout_bwd(V, P, &n->d_nout, ds, dh, B, (int64_t)H * W);
    vput(V, ds);
    for (int i = n->nb - 1; i >= 0; i--) {
        int cout = ch[n->nb - 1 - i];
        if (i < n->nb - 1) {
            H /= 2;
            W /= 2;
            float *du = vzeros(V, (int64_t)B * cout * H * W);
            up_bwd(V, P, &n->d_up[i], dh, du, B, H, W);
            vput(V, dh);
            dh = du;
        }
        for (int j = n->nl; j >= 0; j--) {
            const vae_res *r = &n->d_res[i * (n->nl + 1) + j];
            float *d2 = vzeros(V, (int64_t)B * r->cin * H * W);
            res_bwd(V, P, r, dh, d2, B, H, W);
            vput(V, dh);
            dh = d2;
        }
    }
    int cl = ch[n->nb - 1], L = V->cfg.latent_channels;
    float *dm = vzeros(V, (int64_t)B * cl * H * W);
    mid_bwd(V, P, &n->d_mid, dh, dm, B, H, W);
    vput(V, dh);
    if (V->cfg.use_post_quant_conv) {
        float *dpq = vzeros(V, (int64_t)B * L * H * W);
        conv_bwd(V, P, &n->d_in, dm, dpq, B, H, W);
        conv_bwd(V, P, &n->post_quant, dpq, dz, B, H, W);
        vput(V, dpq);
    } else {
        conv_bwd(V, P, &n->d_in, dm, dz, B, H, W);
    }
    vput(V, dm);
}

/* ---- the public passes ----------------------------------------------- */

static int check_size(const avk_vae *V, int B, int H, int W, const char *what)
{
    int f = avk_vae_factor(&V->cfg);
    if (B < 1 || H < f || W < f || H % f || W % f)
        return avk_error("VAE %s: frames of %dx%d (batch %d) are not a positive multiple of the "
                         "latent cell (%dx%d pixels)", what, W, H, B, f, f);
    if ((int64_t)B * H * W > ((int64_t)1 << 40) / 4096)
        return avk_error("VAE %s: %d frames of %dx%d are too large", what, B, W, H);
    return 0;
}

/* diffusers' DiagonalGaussianDistribution clamps the log-variance. */
#define LOGVAR_MIN -30.0f
#define LOGVAR_MAX 20.0f

int avk_vae_encode(avk_vae *V, const float *x, int B, int H, int W, float *mean, float *logvar)
{
    if (check_size(V, B, H, W, "encode") < 0)
        return -1;
    int f = avk_vae_factor(&V->cfg);
    float *mom = encoder_fwd(V, NULL, x, B, H, W);
    int L = V->cfg.latent_channels;
    int64_t S = (int64_t)(H / f) * (W / f);
    /* moments [B, 2L, S] -> mean, log-variance [B, L, S] */
    BE->split_channels_fwd(mean, logvar, mom, B, L, L, S);
    if (logvar)
        BE->clamp_fwd(logvar, logvar, (int64_t)B * L * S, LOGVAR_MIN, LOGVAR_MAX);
    vput(V, mom);
    return 0;
}

int avk_vae_decode(avk_vae *V, const float *z, int B, int h, int w, float *out)
{
    if (B < 1 || h < 1 || w < 1)
        return avk_error("VAE decode: latent of %dx%d (batch %d)", w, h, B);
    int f = avk_vae_factor(&V->cfg);
    float *y = decoder_fwd(V, NULL, z, B, h, w);
    BE->copy(out, y, (size_t)B * V->cfg.out_channels * h * f * w * f * sizeof(float));
    vput(V, y);
    return 0;
}

int avk_vae_train_step(avk_vae *V, const float *x, int B, int H, int W, const float *eps,
                       float kl_weight, avk_vae_loss *loss, float *mean_out, float *logvar_out,
                       float *rec_out, float *dx)
{
    if (check_size(V, B, H, W, "training") < 0)
        return -1;
    if (V->cfg.in_channels != V->cfg.out_channels)
        return avk_error("VAE training: in_channels %d differ from out_channels %d",
                         V->cfg.in_channels, V->cfg.out_channels);
    avk_params_grads(V->pt);
    vae_pass P;
    memset(&P, 0, sizeof P);
    int f = avk_vae_factor(&V->cfg), L = V->cfg.latent_channels, h = H / f, w = W / f;
    int64_t S = (int64_t)h * w, nlat = (int64_t)B * L * S;
    int64_t nx = (int64_t)B * V->cfg.in_channels * H * W;

    float *mom = encoder_fwd(V, &P, x, B, H, W);
    float *mean = vget(V, nlat), *raw = vget(V, nlat), *lv = vget(V, nlat);
    BE->split_channels_fwd(mean, raw, mom, B, L, L, S);
    BE->clamp_fwd(lv, raw, nlat, LOGVAR_MIN, LOGVAR_MAX);
    float *z = vget(V, nlat);
    if (eps)
        BE->gaussian_sample_fwd(z, mean, raw, eps, nlat);
    else
        BE->copy(z, mean, (size_t)nlat * sizeof(float));
    float *rec = decoder_fwd(V, &P, z, B, h, w);

    float *drec = vzeros(V, nx);
    double l1 = BE->l1_loss(drec, rec, x, nx, 1.0f);
    double mse = BE->mse_loss(drec, rec, x, nx, 1.0f);
    float *dz = vzeros(V, nlat);
    decoder_bwd(V, &P, drec, dz, B, H, W);
    float *dmean = vzeros(V, nlat), *dlv = vzeros(V, nlat), *dlvc = vzeros(V, nlat);
    if (eps)
        BE->gaussian_sample_bwd(dmean, dlv, dz, raw, eps, nlat);
    else
        BE->add_inplace(dmean, dz, nlat);
    double kl = BE->kl_gaussian_loss(dmean, dlvc, mean, lv, nlat, (double)B, kl_weight);
    BE->clamp_bwd(dlv, dlvc, raw, nlat, LOGVAR_MIN, LOGVAR_MAX);
    float *dmom = vzeros(V, 2 * nlat);
    BE->split_channels_bwd(dmom, dmean, dlv, B, L, L, S);
    encoder_bwd(V, &P, dmom, dx, B, H, W);

    if (loss) {
        loss->l1 = l1;
        loss->mse = mse;
        loss->kl = kl;
        loss->total = l1 + mse + (double)kl_weight * kl;
    }
    if (mean_out)
        BE->copy(mean_out, mean, (size_t)nlat * sizeof(float));
    if (logvar_out)
        BE->copy(logvar_out, lv, (size_t)nlat * sizeof(float));
    if (rec_out)
        BE->copy(rec_out, rec, (size_t)nx * sizeof(float));
    float *tmp[] = {mean, raw, lv, z, drec, dz, dmean, dlv, dlvc, dmom};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++)
        vput(V, tmp[i]);
    pass_free(V, &P);
    return 0;
}
