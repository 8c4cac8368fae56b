/* The diffusion cache's rule (lib/diffusion/cache.c) on a toy model whose
 * block stack adds a term that changes smoothly with t: threshold 0 is
 * the uncached run bit for bit; a huge threshold runs only the warm-up
 * (the first tenth of the steps) and the last step; in between,
 * evaluations fall as the threshold grows while the result stays close;
 * the rescaling ratio is the measured output to input change; a
 * following cache (guidance's unconditional pass) skips exactly the steps
 * its lead skipped. */
#include "avkit/diffusion/cache.h"
#include "avkit/diffusion/flow.h"
#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"
#include "tap.h"

#include <math.h>
#include <string.h>

enum { NH = 256, NMOD = 16 };

typedef struct toy {
    avk_dcache *cache;   /* NULL: no cache */
    int nsteps, blocks_run;
} toy;

/* The timestep embedding the first block is modulated with. */
static void toy_mod(float *mod, double t)
{
    for (int i = 0; i < NMOD; i++)
        mod[i] = (float)(1.0 + 0.5 * cos((i + 1) * t));
}

/* v = blocks(x) - x with blocks(x) = x + tanh(x) (1 - t) + t sin(index). */
static int toy_velocity(void *ctx, const float *x, double t, float *v, int64_t n, int eval)
{
    toy *m = ctx;
    float mod[NMOD], *out = avk_falloc(n);
    toy_mod(mod, t);
    int run = m->cache ? avk_dcache_decide(m->cache, mod, eval, m->nsteps) : 1;
    if (run) {
        for (int64_t i = 0; i < n; i++)
            out[i] = x[i] + (float)(tanh(x[i]) * (1 - t) + t * sin((double)i));
        m->blocks_run++;
        if (m->cache)
            avk_dcache_store(m->cache, x, out);
    } else {
        avk_dcache_reuse(m->cache, x, out);
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = out[i] - x[i];
    avk_ffree(out);
    return 0;
}

static void noise(float *x)
{
    avk_rng r;
    avk_rng_seed(&r, 7);
    avk_fill_randn(x, NH, &r, 0, 1);
}

/* Sample with the cache at `thresh`; returns the blocks run, result in x. */
static int sample(double thresh, int rescale, float *x, int steps)
{
    avk_dcache c;
    avk_dcache_init(&c, thresh, rescale, NMOD, NH);
    toy m = {&c, steps, 0};
    noise(x);
    avk_flow_sample(AVK_FLOW_EULER, steps, 1.0, toy_velocity, &m, x, NH);
    ok(c.evals == m.blocks_run && c.evals + c.skips == steps,
       "threshold %g: the cache counted %d runs and %d skips of %d steps", thresh, c.evals,
       c.skips, steps);
    avk_dcache_free(&c);
    return m.blocks_run;
}

static double rel_l2(const float *a, const float *b)
{
    double num = 0, den = 0;
    for (int i = 0; i < NH; i++) {
        num += (a[i] - b[i]) * (double)(a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

int main(void)
{
    const int steps = 30;
    float ref[NH], x[NH];
    toy m = {NULL, steps, 0};
    noise(ref);
    avk_flow_sample(AVK_FLOW_EULER, steps, 1.0, toy_velocity, &m, ref, NH);

    int runs = sample(0.0, 1, x, steps);
    ok(runs == steps && memcmp(x, ref, sizeof x) == 0,
       "threshold 0 runs every step (%d) and equals the uncached run bit for bit", runs);
    ok(avk_dcache_warmup(30) == 3 && avk_dcache_warmup(20) == 2 && avk_dcache_warmup(21) == 3 &&
       avk_dcache_warmup(10) == 1 && avk_dcache_warmup(1) == 1 && avk_dcache_warmup(0) == 0,
       "the warm-up is the first tenth of the steps, rounded up");
    runs = sample(1e30, 1, x, steps);
    ok(runs == 4, "a huge threshold runs the warm-up (steps 0-2 of 30) and the last step only (%d)",
       runs);

    int prev = steps + 1;
    double prev_err = 0;
    int monotone = 1;
    for (double th = 0.02; th <= 0.33; th *= 2) {
        runs = sample(th, 1, x, steps);
        double e = rel_l2(x, ref);
        diag("threshold %.2f: %d of %d steps run, relative L2 to uncached %.2e", th, runs, steps, e);
        if (runs > prev || e + 1e-12 < prev_err)
            monotone = 0;
        prev = runs;
        prev_err = e;
    }
    ok(monotone, "a larger threshold never runs more steps, and never comes closer");
    runs = sample(0.64, 1, x, steps);
    double e = rel_l2(x, ref);
    ok(runs < steps / 2 && e < 0.05, "threshold 0.64: %d of %d steps run, within %.2e of uncached",
       runs, steps, e);

    /* the ratio k: an output that moves twice as much as the input */
    avk_dcache c;
    avk_dcache_init(&c, 0.1, 1, NMOD, 4);
    float in1[4] = {1, 1, 1, 1}, out1[4] = {2, 2, 2, 2}, in2[4] = {1.1f, 1.1f, 1.1f, 1.1f},
          out2[4] = {2.4f, 2.4f, 2.4f, 2.4f};
    avk_dcache_store(&c, in1, out1);
    avk_dcache_store(&c, in2, out2);
    ok(fabs(c.k - 2.0) < 1e-5, "k = (0.4/2) / (0.1/1) = 2: %.6f", c.k);
    float got[4];
    avk_dcache_reuse(&c, in1, got);
    ok(fabs(got[0] - 2.3f) < 1e-6, "reuse adds the last residual (1.3): %.6f", got[0]);
    avk_dcache_free(&c);

    /* following: the lead decides, the follower copies it for the same step */
    avk_dcache lead, fol, zero;
    avk_dcache_init(&lead, 1e30, 1, 4, 4);
    avk_dcache_init(&fol, 1e30, 1, 4, 4);
    avk_dcache_init(&zero, 0.0, 1, 4, 4);
    float mod[4] = {1, 2, 3, 4};
    int lr = avk_dcache_decide(&lead, mod, 0, 20);
    int fr = avk_dcache_follow(&fol, &lead, mod, 0);
    ok(lr == 1 && fr == 1, "step 0: the lead runs, so does the follower");
    avk_dcache_store(&lead, in1, out1);
    avk_dcache_store(&fol, in1, out1);
    avk_dcache_store(&zero, in1, out1);
    lr = avk_dcache_decide(&lead, mod, 1, 20);
    fr = avk_dcache_follow(&fol, &lead, mod, 1);
    ok(lr == 1 && fr == 1, "step 1 of 20 (warm-up): both run");
    lr = avk_dcache_decide(&lead, mod, 2, 20);
    fr = avk_dcache_follow(&fol, &lead, mod, 2);
    int zr = avk_dcache_follow(&zero, &lead, mod, 2);
    ok(lr == 0 && fr == 0 && zr == 1,
       "step 2: the lead skips, the follower too; a follower at threshold 0 runs");
    fr = avk_dcache_follow(&fol, &lead, mod, 3);
    ok(fr == 1, "a follower asked about a step its lead has not decided runs");
    avk_dcache_reset(&fol);
    fr = avk_dcache_follow(&fol, &lead, mod, 2);
    ok(fr == 1, "a follower with no residual runs though its lead skipped");
    lr = avk_dcache_decide(&lead, mod, 19, 20);
    fr = avk_dcache_follow(&fol, &lead, mod, 19);
    ok(lr == 1 && fr == 1, "the last step: both run");
    ok(fol.evals == 5 && fol.skips == 1 && lead.evals == 3 && lead.skips == 1,
       "the follower counts its own runs and skips (%d, %d)", fol.evals, fol.skips);
    avk_dcache_free(&lead);
    avk_dcache_free(&fol);
    avk_dcache_free(&zero);
    return done_testing();
}
