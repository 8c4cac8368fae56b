/* The diffusion cache: skip the transformer's blocks on sampling steps
 * where their effect barely changes, and reuse the last one.
 *
 * The rule (after TeaCache, with EasyCache's online rescaling):
 * - Each step, the sampler hands over the timestep-modulated input of the
 *   first block (cheap: the embedding and one modulation). Its relative L1
 *   change since the previous step, d = |m - m_prev|_1 / |m_prev|_1, says
 *   how far the model's input moved.
 * - With rescaling on, d is multiplied by k, the ratio of the relative
 *   change of the block stack's output to that of its input, measured
 *   between the last two full evaluations (no offline calibration).
 * - The (rescaled) changes are summed. While the sum stays under the
 *   threshold the blocks are skipped: output = input + the cached
 *   residual (output minus input of the block stack at the last full
 *   evaluation). When it passes, the blocks run, the residual is stored
 *   and the sum restarts from 0.
 * - The first and the last step always run, and so does every step of
 *   the warm-up, the first tenth of the steps rounded up
 *   (avk_dcache_warmup): the early steps set the video's layout, and a
 *   residual reused there costs the most.
 * - Classifier-free guidance's conditional and unconditional passes each
 *   keep their own residual, but decide together: the unconditional pass
 *   follows the conditional pass's decision for the same step
 *   (avk_dcache_follow), so the two velocities guidance subtracts are
 *   both fresh or both from the same earlier step.
 *
 * Threshold 0 never skips, so a cached run with threshold 0 is the
 * uncached run, bit for bit.
 */
#ifndef AVKIT_DIFFUSION_CACHE_H
#define AVKIT_DIFFUSION_CACHE_H

#include <stdint.h>

typedef struct avk_dcache {
    double  thresh;       /* skip while the summed change is below this */
    int     rescale;      /* multiply each change by the measured ratio k */
    int64_t nmod, nh;     /* floats of the modulated input, of the stream */
    float  *mod_prev;     /* the previous step's modulated input */
    float  *resid;        /* block-stack output minus input, last full run */
    float  *in_last, *out_last; /* input and output of the last full run */
    double  acc;          /* summed change since the last full run */
    double  k;            /* output-to-input change ratio (1 until measured) */
    int     have_mod, have_resid, nfull;
    int     last_step, last_run; /* the last decision and its step (-1: none) */
    int     evals, skips; /* counts over the cache's life */
} avk_dcache;

/* A cache for a stream of nh floats whose modulated first-block input has
 * nmod floats. thresh >= 0. */
void avk_dcache_init(avk_dcache *c, double thresh, int rescale, int64_t nmod, int64_t nh);
void avk_dcache_free(avk_dcache *c);
/* Forget everything but the settings (a new video). */
void avk_dcache_reset(avk_dcache *c);

/* Step `step` of `nsteps`: 1 when the blocks must run, 0 when the cached
 * residual may stand in for them. Records mod as the previous input. */
int avk_dcache_decide(avk_dcache *c, const float *mod, int step, int nsteps);
/* The same for a cache that decides as `lead` did at this step (guidance's
 * unconditional pass following the conditional one): skip only when lead
 * skipped this very step and c has a residual to reuse. */
int avk_dcache_follow(avk_dcache *c, const avk_dcache *lead, const float *mod, int step);
/* Steps 0 .. avk_dcache_warmup(nsteps) - 1 always run: the first tenth,
 * rounded up. */
int avk_dcache_warmup(int nsteps);
/* After running the blocks: store out - in, and update the ratio k. */
void avk_dcache_store(avk_dcache *c, const float *in, const float *out);
/* Instead of running them: out = in + the cached residual. */
void avk_dcache_reuse(avk_dcache *c, const float *in, float *out);

#endif
