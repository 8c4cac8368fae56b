/* Clamp, forward and backward, as torch.clamp(x, lo, hi):
 *   y = min(max(x, lo), hi)
 *   dx += dy where lo <= x <= hi, nothing outside. On the bounds
 *   themselves the gradient passes (PyTorch's subgradient up to 2.14,
 *   kept so the VAE trains bit for bit as before; 2.15 gives 0).
 * The VAE clamps the log-variance of its latent distribution to
 * [-30, 20] (diffusers' DiagonalGaussianDistribution). */
#include "avkit/nn/ops.h"
#include "ops_util.h"

AVK_CLONES static void clamp_fwd_k(float *y, const float *x, int64_t n, float lo, float hi)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v < lo ? lo : v > hi ? hi : v;
    }
}

AVK_CLONES static void clamp_bwd_k(float *dx, const float *dy, const float *x, int64_t n,
                                   float lo, float hi)
{
    /* a blend, not "+= 0" outside: dx keeps its bits there (even -0) */
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dx[i] = x[i] >= lo && x[i] <= hi ? dx[i] + dy[i] : dx[i];
}

/* Threads over large arrays, vector clones inside. */
void avk_clamp_fwd(float *y, const float *x, int64_t n, float lo, float hi)
{
    int64_t chunk = 16384;
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i += chunk)
        clamp_fwd_k(y + i, x + i, n - i < chunk ? n - i : chunk, lo, hi);
}

void avk_clamp_bwd(float *dx, const float *dy, const float *x, int64_t n, float lo, float hi)
{
    int64_t chunk = 16384;
#pragma omp parallel for schedule(static) if (n >= AVK_PAR_MIN)
    for (int64_t i = 0; i < n; i += chunk)
        clamp_bwd_k(dx + i, dy + i, x + i, n - i < chunk ? n - i : chunk, lo, hi);
}

/* Reference: the definition, one element at a time. */
void avk_clamp_fwd_ref(float *y, const float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < lo)
            y[i] = lo;
        else if (x[i] > hi)
            y[i] = hi;
        else
            y[i] = x[i];
    }
}

void avk_clamp_bwd_ref(float *dx, const float *dy, const float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        if (x[i] >= lo && x[i] <= hi)
            dx[i] += dy[i];
}
