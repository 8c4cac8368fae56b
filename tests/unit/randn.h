/* Random test tensors: the unit tests' one generator (seed it in main with
 * avk_rng_seed(&rng, ...)) and Gaussian arrays from it, allocated with
 * avk_falloc (free with avk_ffree). */
#ifndef AVKIT_TEST_RANDN_H
#define AVKIT_TEST_RANDN_H

#include <math.h>

#include "avkit/nn/tensor.h"
#include "avkit/util/common.h"

static avk_rng rng;

/* n values drawn from N(0, std^2). */
static float *__attribute__((unused)) randn(int64_t n, float std)
{
    float *p = avk_falloc(n);
    avk_fill_randn(p, n, &rng, 0.0f, std);
    return p;
}

/* n NaNs: a buffer an operator must write every value of. */
static __attribute__((unused)) float *nans(int64_t n)
{
    float *p = avk_falloc(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)NAN;
    return p;
}

#endif
