/* Sampling one video from the DiT: noise from (seed, index), the flow
 * solvers of flow.h over the model's velocity, classifier-free guidance,
 * the diffusion cache of cache.h around the model's block stack, and kept
 * latents (image-to-video, inpainting) re-noised and pasted at every
 * evaluation.
 *
 * Guidance: v = v_u + cfg (v_c - v_u), v_u from the unconditional text
 * (the empty caption or a negative prompt); cfg = 1 runs the conditional
 * pass only. Each pass has its own cache; the unconditional pass follows
 * the conditional pass's decisions (avk_dcache_follow).
 *
 * Kept latents: where the keep mask is set, the model sees the known clean
 * latent z re-noised to the current time with fixed noise e,
 * x_t = (1 - t) z + t e, and the velocity there is replaced by e - z (the
 * velocity of that path), so every solver carries the kept region along
 * the path exactly; the result holds z there.
 *
 * One video at a time (batch 1), so a video's bits do not depend on which
 * other prompts are sampled beside it or on how many ranks share them.
 */
#ifndef AVKIT_DIFFUSION_SAMPLE_H
#define AVKIT_DIFFUSION_SAMPLE_H

#include <stdint.h>
#include "avkit/diffusion/flow.h"
#include "avkit/models/dit.h"

/* A caption as the model takes it: L ids (the prompt, then padding) and
 * the number of valid ones. */
typedef struct avk_sample_text {
    const int32_t *tokens;
    int            len;
} avk_sample_text;

typedef struct avk_sample_opts {
    avk_flow_solver solver;
    int    steps;
    double shift;          /* timestep shift (1: none) */
    double cfg;            /* guidance scale; 1: conditional pass only */
    double cache;          /* diffusion cache threshold; < 0: no cache */
    int    cache_rescale;  /* scale changes by the measured ratio k */
} avk_sample_opts;

/* Latents to keep: z [C, T, H, W] clean, mask [T, H, W] (1 = keep),
 * eps [C, T, H, W] the fixed noise they are re-noised with. */
typedef struct avk_sample_keep {
    const float   *z;
    const uint8_t *mask;
    const float   *eps;
} avk_sample_keep;

/* What one run cost: block-stack runs (transformer evaluations) and
 * cache skips, summed over the passes. */
typedef struct avk_sample_stats {
    int evals, skips;
} avk_sample_stats;

/* Standard normal noise of n floats from (seed, index, stream) only:
 * stream 0 is a video's starting noise, stream 1 the noise its kept
 * latents are re-noised with. */
void avk_sample_noise(float *x, int64_t n, uint64_t seed, int64_t index, int stream);

/* Sample latents [C, T, H, W] (latent frames, rows, columns) in place: x
 * holds the starting noise on entry. Texts have L positions each; uncond
 * may be NULL when cfg is 1; keep may be NULL. stats may be NULL.
 * Returns 0, or -1 with the error set. */
int avk_sample_latents(avk_dit *m, const avk_sample_opts *o, int T, int H, int W, int L,
                       const avk_sample_text *cond, const avk_sample_text *uncond,
                       const avk_sample_keep *keep, float *x, avk_sample_stats *stats);

#endif
