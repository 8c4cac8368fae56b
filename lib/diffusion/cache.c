/* The diffusion cache's rule: accumulate the first block's input change,
 * reuse the block stack's residual while it stays small. See
 * include/avkit/diffusion/cache.h. */
#include "avkit/diffusion/cache.h"
#include "avkit/nn/tensor.h"

#include <math.h>
#include <string.h>

void avk_dcache_init(avk_dcache *c, double thresh, int rescale, int64_t nmod, int64_t nh)
{
    memset(c, 0, sizeof *c);
    c->thresh = thresh;
    c->rescale = rescale;
    c->nmod = nmod;
    c->nh = nh;
    c->mod_prev = avk_falloc(nmod);
    c->resid = avk_falloc(nh);
    c->in_last = avk_falloc(nh);
    c->out_last = avk_falloc(nh);
    c->k = 1.0;
    c->last_step = -1;
}

void avk_dcache_free(avk_dcache *c)
{
    avk_ffree(c->mod_prev);
    avk_ffree(c->resid);
    avk_ffree(c->in_last);
    avk_ffree(c->out_last);
    memset(c, 0, sizeof *c);
}

void avk_dcache_reset(avk_dcache *c)
{
    c->acc = 0.0;
    c->k = 1.0;
    c->have_mod = c->have_resid = c->nfull = 0;
    c->last_step = -1;
}

/* |a - b|_1 / |b|_1 in double, in index order (the same bits on every
 * run and thread count); 0 when b is all zeros and a equals it. */
static double rel_l1(const float *a, const float *b, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num += fabs((double)a[i] - b[i]);
        den += fabs((double)b[i]);
    }
    if (den == 0.0)
        return num == 0.0 ? 0.0 : INFINITY;
    return num / den;
}

/* The warm-up: the first tenth of the steps, rounded up (2 of 20), which
 * always run since the early steps set the layout. */
int avk_dcache_warmup(int nsteps)
{
    return nsteps > 0 ? (nsteps + 9) / 10 : 0;
}

/* Record a decision: the modulated input it saw, the counts, and the
 * decision itself for a cache that follows this one. */
static int record(avk_dcache *c, const float *mod, int step, int run)
{
    memcpy(c->mod_prev, mod, (size_t)c->nmod * sizeof *mod);
    c->have_mod = 1;
    c->last_step = step;
    c->last_run = run;
    if (run) {
        c->acc = 0.0;
        c->evals++;
    } else {
        c->skips++;
    }
    return run;
}

/* The first and last steps and the warm-up run; otherwise run once the
 * summed change reaches the threshold. */
int avk_dcache_decide(avk_dcache *c, const float *mod, int step, int nsteps)
{
    int run = 1;
    if (c->have_mod && c->have_resid && step >= avk_dcache_warmup(nsteps) && step > 0 &&
        step < nsteps - 1 && c->thresh > 0.0) {
        double d = rel_l1(mod, c->mod_prev, c->nmod);
        if (c->rescale)
            d *= c->k;
        c->acc += d;
        run = !(c->acc < c->thresh);
    }
    return record(c, mod, step, run);
}

/* Skip exactly when the lead skipped this step; anything else (the lead
 * ran, decided another step, or c has nothing to reuse) runs. */
int avk_dcache_follow(avk_dcache *c, const avk_dcache *lead, const float *mod, int step)
{
    int skip = lead->last_step == step && !lead->last_run && c->have_resid && c->thresh > 0.0;
    return record(c, mod, step, !skip);
}

/* Residual of this run; k from this run and the one before (EasyCache's
 * transformation rate: relative output change over relative input
 * change). */
void avk_dcache_store(avk_dcache *c, const float *in, const float *out)
{
    if (c->nfull > 0) {
        double din = rel_l1(in, c->in_last, c->nh);
        double dout = rel_l1(out, c->out_last, c->nh);
        if (din > 0.0 && isfinite(din) && isfinite(dout))
            c->k = dout / din;
    }
    for (int64_t i = 0; i < c->nh; i++)
        c->resid[i] = out[i] - in[i];
    memcpy(c->in_last, in, (size_t)c->nh * sizeof *in);
    memcpy(c->out_last, out, (size_t)c->nh * sizeof *out);
    c->have_resid = 1;
    c->nfull++;
}

void avk_dcache_reuse(avk_dcache *c, const float *in, float *out)
{
    for (int64_t i = 0; i < c->nh; i++)
        out[i] = in[i] + c->resid[i];
}
