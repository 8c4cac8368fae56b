/* The training side of rectified flow (flow.h has the sampling side): the
 * objective of the DiT (as SD3 and the seed systems):
 *   x_t = (1 - t) x0 + t eps,   the model predicts v = eps - x0,
 *   loss = mean((pred - v)^2),
 * with t drawn logit-normal(mean, std) (t = sigmoid(u), u ~ N(mean, std))
 * and shifted toward noise for larger inputs:  t' = s t / (1 + (s - 1) t)
 * (s = 1: no shift). Noise and t come from a generator seeded by (seed,
 * step, global sample index), so a sample's draw does not depend on the
 * batch it is in, the number of ranks or a resume. */
#ifndef AVKIT_DIFFUSION_FLOW_TRAIN_H
#define AVKIT_DIFFUSION_FLOW_TRAIN_H

#include <stdint.h>
#include "avkit/nn/tensor.h"
#include "avkit/diffusion/flow.h"   /* avk_flow_shift */

/* xt and target [B, n] from x0, eps [B, n] and t [B] (either output may
 * be NULL). */
void avk_flow_interp(float *xt, float *target, const float *x0, const float *eps,
                      const float *t, int B, int64_t n);
/* A logit-normal draw, shifted. */
float avk_flow_sample_t(avk_rng *r, double mean, double std, double shift);
/* The generator of one global sample at one step. */
void avk_flow_rng(avk_rng *r, uint64_t seed, int64_t step, int64_t index);
/* Draw one sample's t and eps [n] from its generator. */
float avk_flow_draw(float *eps, int64_t n, uint64_t seed, int64_t step, int64_t index,
                     double mean, double std, double shift);

#endif
