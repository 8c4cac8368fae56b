/* Pieces shared by the two long-video pipelines (long.c, long_dit.c). */
#ifndef AVKIT_LONG_INTERNAL_H
#define AVKIT_LONG_INTERNAL_H

#include "avkit/diffusion/long.h"

/* Block blk's starting noise x [C, B, HW]: the pool's B frames in a
 * permutation drawn from (seed, index, blk) alone. */
void avk_long_block_noise(float *x, const float *pool, const avk_long_opts *o, int blk, int C,
                          int64_t hw);

#endif
