/* Rectified flow: the interpolation, the target, and the per-sample draws
 * of t and noise (see avkit/diffusion/flow_train.h). */
#include <math.h>
#include "avkit/diffusion/flow_train.h"

void avk_flow_interp(float *xt, float *target, const float *x0, const float *eps,
                      const float *t, int B, int64_t n)
{
    for (int b = 0; b < B; b++) {
        float tb = t[b];
        const float *a = x0 + (int64_t)b * n, *e = eps + (int64_t)b * n;
        for (int64_t i = 0; i < n; i++) {
            if (xt)
                xt[(int64_t)b * n + i] = (1.0f - tb) * a[i] + tb * e[i];
            if (target)
                target[(int64_t)b * n + i] = e[i] - a[i];
        }
    }
}

float avk_flow_sample_t(avk_rng *r, double mean, double std, double shift)
{
    double u = mean + std * (double)avk_rng_normal(r);
    double t = 1.0 / (1.0 + exp(-u));
    return (float)avk_flow_shift(t, shift);
}

/* splitmix-style mixing of the three numbers into one seed. */
void avk_flow_rng(avk_rng *r, uint64_t seed, int64_t step, int64_t index)
{
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ull;
    h = (h ^ (uint64_t)step) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 31) ^ (uint64_t)index) * 0x94d049bb133111ebull;
    avk_rng_seed(r, h ^ (h >> 29));
}

float avk_flow_draw(float *eps, int64_t n, uint64_t seed, int64_t step, int64_t index,
                     double mean, double std, double shift)
{
    avk_rng r;
    avk_flow_rng(&r, seed, step, index);
    float t = avk_flow_sample_t(&r, mean, std, shift);
    avk_fill_randn(eps, n, &r, 0.0f, 1.0f);
    return t;
}
