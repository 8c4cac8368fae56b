/* Sampling one video from the DiT: guidance, the diffusion cache around
 * the block stack, kept latents. See include/avkit/diffusion/sample.h. */
#include "avkit/diffusion/sample.h"
#include "avkit/diffusion/cache.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A generator of its own for each (seed, index, stream): the mix of the
 * three through distinct odd constants, then splitmix inside the seeding. */
void avk_sample_noise(float *x, int64_t n, uint64_t seed, int64_t index, int stream)
{
    avk_rng r;
    avk_rng_seed(&r, seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)index * 0xC2B2AE3D27D4EB4Full ^
                         (uint64_t)(stream + 1) * 0x165667B19E3779F9ull);
    avk_fill_randn(x, n, &r, 0.0f, 1.0f);
}

/* One guidance pass: its text and, with the cache on, its cache (the
 * unconditional pass's follows the conditional pass's decisions). */
typedef struct pass {
    const avk_sample_text *text;
    avk_dcache cache;
    const avk_dcache *lead; /* decide as this cache did, or NULL */
    int cached;
    int step, nsteps;       /* the evaluation being run, of how many */
} pass;

typedef struct run_ctx {
    avk_dit *m;
    const avk_sample_opts *o;
    int T, H, W, L;
    int64_t n;              /* floats of one latent video */
    const avk_sample_keep *keep;
    pass p[2];              /* conditional, unconditional */
    int npass;
    float *xin, *vu;        /* the model's input, the unconditional velocity */
    avk_sample_stats st;
} run_ctx;

/* The model hooks over a pass's cache: decide, store, reuse. */
static int hook_decide(void *ctx, const float *mod, int64_t n)
{
    pass *p = ctx;
    (void)n;
    if (p->lead)
        return avk_dcache_follow(&p->cache, p->lead, mod, p->step);
    return avk_dcache_decide(&p->cache, mod, p->step, p->nsteps);
}

static void hook_store(void *ctx, const float *in, const float *out, int64_t n)
{
    (void)n;
    avk_dcache_store(&((pass *)ctx)->cache, in, out);
}

static void hook_reuse(void *ctx, const float *in, float *out, int64_t n)
{
    (void)n;
    avk_dcache_reuse(&((pass *)ctx)->cache, in, out);
}

/* v = model(x, t) for one pass (batch 1), through the cache when on. */
static int eval_pass(run_ctx *c, pass *p, const float *x, double t, float *v, int eval)
{
    float tf = (float)t;
    avk_dit_batch b = {.B = 1, .T = c->T, .H = c->H, .W = c->W, .x = x, .t = &tf, .L = c->L,
                       .tokens = p->text->tokens, .text_len = &p->text->len};
    avk_dit_hooks hk = {p, hook_decide, hook_store, hook_reuse};
    p->step = eval;
    int ran = avk_dit_infer(c->m, &b, v, p->cached ? &hk : NULL);
    if (ran < 0)
        return -1;
    if (ran)
        c->st.evals++;
    else
        c->st.skips++;
    return 0;
}

/* The sampler's velocity: kept latents pasted at level t, the passes,
 * guidance, and the kept region's path velocity. */
static int velocity(void *vctx, const float *x, double t, float *v, int64_t n, int eval)
{
    run_ctx *c = vctx;
    const avk_sample_keep *k = c->keep;
    const float *in = x;
    int64_t plane = (int64_t)c->T * c->H * c->W;
    if (k) {
        memcpy(c->xin, x, (size_t)n * sizeof *x);
        for (int64_t i = 0; i < n; i++)
            if (k->mask[i % plane])
                c->xin[i] = (float)((1.0 - t) * k->z[i] + t * k->eps[i]);
        in = c->xin;
    }
    if (eval_pass(c, &c->p[0], in, t, v, eval) < 0)
        return -1;
    if (c->npass == 2) {
        if (eval_pass(c, &c->p[1], in, t, c->vu, eval) < 0)
            return -1;
        double g = c->o->cfg;
        for (int64_t i = 0; i < n; i++)
            v[i] = (float)(c->vu[i] + g * ((double)v[i] - c->vu[i]));
    }
    if (k)
        for (int64_t i = 0; i < n; i++)
            if (k->mask[i % plane])
                v[i] = k->eps[i] - k->z[i];
    return 0;
}

int avk_sample_latents(avk_dit *m, const avk_sample_opts *o, int T, int H, int W, int L,
                       const avk_sample_text *cond, const avk_sample_text *uncond,
                       const avk_sample_keep *keep, float *x, avk_sample_stats *stats)
{
    const avk_dit_config *cf = &m->cfg;
    int64_t tokens = avk_dit_tokens(cf, T, H, W);
    if (tokens < 0)
        return avk_error("latent %dx%dx%d (frames x rows x columns) is not divisible by the "
                         "patch %dx%dx%d", T, H, W, cf->patch[0], cf->patch[1], cf->patch[2]);
    if (!(o->cfg >= 0.0) || !isfinite(o->cfg))
        return avk_error("guidance scale %g: must be a finite number >= 0", o->cfg);
    int npass = o->cfg == 1.0 ? 1 : 2;
    if (npass == 2 && !uncond)
        return avk_error("guidance scale %g needs an unconditional text", o->cfg);
    run_ctx c = {.m = m, .o = o, .T = T, .H = H, .W = W, .L = L, .keep = keep, .npass = npass};
    c.n = (int64_t)cf->in_channels * T * H * W;
    int nevals = avk_flow_evals(o->solver, o->steps);
    for (int i = 0; i < npass; i++) {
        c.p[i].text = i == 0 ? cond : uncond;
        c.p[i].nsteps = nevals;
        c.p[i].cached = o->cache >= 0.0;
        if (c.p[i].cached)
            avk_dcache_init(&c.p[i].cache, o->cache, o->cache_rescale, tokens * cf->hidden,
                            tokens * cf->hidden);
    }
    if (npass == 2 && c.p[1].cached)
        c.p[1].lead = &c.p[0].cache;
    c.xin = keep ? avk_falloc(c.n) : NULL;
    c.vu = npass == 2 ? avk_falloc(c.n) : NULL;
    int rc = avk_flow_sample(o->solver, o->steps, o->shift, velocity, &c, x, c.n);
    if (rc == 0 && keep) {
        int64_t plane = (int64_t)T * H * W;
        for (int64_t i = 0; i < c.n; i++)
            if (keep->mask[i % plane])
                x[i] = keep->z[i];
    }
    for (int i = 0; i < npass; i++)
        if (c.p[i].cached)
            avk_dcache_free(&c.p[i].cache);
    avk_ffree(c.xin);
    avk_ffree(c.vu);
    if (stats)
        *stats = c.st;
    return rc;
}
