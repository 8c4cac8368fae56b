/* Elementwise operators on the device: SiLU, GELU (tanh), clamp, the
 * channel split, the Gaussian sample, and the losses (their value summed
 * in double and read back). CPU references: ops_act.c, ops_clamp.c,
 * ops_split.c, ops_loss.c. */
#include "cuda_common.cuh"
#include "cuda_ops.h"

#define LAUNCH(kernel, n, ...)                                                           \
    do {                                                                                 \
        if ((n) > 0) {                                                                   \
            kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(__VA_ARGS__);       \
            CU_LAUNCHED();                                                               \
        }                                                                                \
    } while (0)

/* ---- SiLU and GELU ---------------------------------------------------- */

__global__ void silu_fwd_kernel(float *y, const float *x, int64_t n)
{
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = v / (1.0f + expf(-v));
    }
}

__global__ void silu_bwd_kernel(float *dx, const float *dy, const float *x, int64_t n)
{
    GRID_STRIDE(i, n) {
        float v = x[i], s = 1.0f / (1.0f + expf(-v));
        dx[i] += dy[i] * s * (1.0f + v * (1.0f - s));
    }
}

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

__global__ void gelu_fwd_kernel(float *y, const float *x, int64_t n)
{
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + tanhf(GELU_C * (v + GELU_A * v * v * v)));
    }
}

__global__ void gelu_bwd_kernel(float *dx, const float *dy, const float *x, int64_t n)
{
    GRID_STRIDE(i, n) {
        float v = x[i], t = tanhf(GELU_C * (v + GELU_A * v * v * v));
        float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
        dx[i] += dy[i] * d;
    }
}

void avkc_silu_fwd(float *y, const float *x, int64_t n)
{
    LAUNCH(silu_fwd_kernel, n, y, x, n);
}

void avkc_silu_bwd(float *dx, const float *dy, const float *x, int64_t n)
{
    LAUNCH(silu_bwd_kernel, n, dx, dy, x, n);
}

void avkc_gelu_fwd(float *y, const float *x, int64_t n)
{
    LAUNCH(gelu_fwd_kernel, n, y, x, n);
}

void avkc_gelu_bwd(float *dx, const float *dy, const float *x, int64_t n)
{
    LAUNCH(gelu_bwd_kernel, n, dx, dy, x, n);
}

/* ---- clamp and channel split ------------------------------------------ */

__global__ void clamp_fwd_kernel(float *y, const float *x, int64_t n, float lo, float hi)
{
    GRID_STRIDE(i, n) {
        float v = x[i];
        y[i] = v < lo ? lo : v > hi ? hi : v;
    }
}

/* Inside [lo, hi] the gradient passes; outside, dx keeps its bits. */
__global__ void clamp_bwd_kernel(float *dx, const float *dy, const float *x, int64_t n, float lo,
                                 float hi)
{
    GRID_STRIDE(i, n)
        if (x[i] >= lo && x[i] <= hi)
            dx[i] += dy[i];
}

void avkc_clamp_fwd(float *y, const float *x, int64_t n, float lo, float hi)
{
    LAUNCH(clamp_fwd_kernel, n, y, x, n, lo, hi);
}

void avkc_clamp_bwd(float *dx, const float *dy, const float *x, int64_t n, float lo,
                               float hi)
{
    LAUNCH(clamp_bwd_kernel, n, dx, dy, x, n, lo, hi);
}

/* x [B, Ca+Cb, S]: element i of x goes to a or b (or is skipped when that
 * output is NULL); dir 1 runs the other way, accumulating into dx. */
__global__ void split_kernel(float *a, float *b, float *x, int64_t B, int64_t Ca, int64_t Cb,
                             int64_t S, int back)
{
    int64_t C = Ca + Cb, n = B * C * S;
    GRID_STRIDE(i, n) {
        int64_t s = i % S, c = (i / S) % C, bi = i / (S * C);
        float *part = c < Ca ? a : b;
        if (!part)
            continue;
        int64_t j = c < Ca ? (bi * Ca + c) * S + s : (bi * Cb + (c - Ca)) * S + s;
        if (back)
            x[i] += part[j];
        else
            part[j] = x[i];
    }
}

void avkc_split_channels_fwd(float *a, float *b, const float *x, int64_t B,
                                        int64_t Ca, int64_t Cb, int64_t S)
{
    LAUNCH(split_kernel, B * (Ca + Cb) * S, a, b, (float *)x, B, Ca, Cb, S, 0);
}

void avkc_split_channels_bwd(float *dx, const float *da, const float *db, int64_t B,
                                        int64_t Ca, int64_t Cb, int64_t S)
{
    LAUNCH(split_kernel, B * (Ca + Cb) * S, (float *)da, (float *)db, dx, B, Ca, Cb, S, 1);
}

/* ---- the Gaussian sample ---------------------------------------------- */

__global__ void gsample_fwd_kernel(float *z, const float *mean, const float *logvar,
                                   const float *eps, int64_t n)
{
    GRID_STRIDE(i, n) {
        float lv = fminf(fmaxf(logvar[i], -30.0f), 20.0f);
        z[i] = mean[i] + expf(0.5f * lv) * eps[i];
    }
}

__global__ void gsample_bwd_kernel(float *dmean, float *dlogvar, const float *dz,
                                   const float *logvar, const float *eps, int64_t n)
{
    GRID_STRIDE(i, n) {
        if (dmean)
            dmean[i] += dz[i];
        if (dlogvar && logvar[i] >= -30.0f && logvar[i] <= 20.0f)
            dlogvar[i] += dz[i] * eps[i] * 0.5f * expf(0.5f * logvar[i]);
    }
}

void avkc_gaussian_sample_fwd(float *z, const float *mean, const float *logvar,
                                         const float *eps, int64_t n)
{
    LAUNCH(gsample_fwd_kernel, n, z, mean, logvar, eps, n);
}

void avkc_gaussian_sample_bwd(float *dmean, float *dlogvar, const float *dz,
                                         const float *logvar, const float *eps, int64_t n)
{
    LAUNCH(gsample_bwd_kernel, n, dmean, dlogvar, dz, logvar, eps, n);
}

/* ---- losses ----------------------------------------------------------- */

/* kind 0: MSE, 1: L1. The per-element sum goes into *acc (double); the
 * gradient k * d (MSE) or k * sign(d) (L1) is added into grad. */
__global__ void loss_kernel(double *acc, float *grad, const float *pred, const float *target,
                            int64_t n, float k, int kind)
{
    double s = 0;
    GRID_STRIDE(i, n) {
        float d = pred[i] - target[i];
        if (kind == 0) {
            s += (double)d * d;
            if (grad)
                grad[i] += k * d;
        } else {
            s += fabs((double)d);
            if (grad)
                grad[i] += d > 0 ? k : d < 0 ? -k : 0.0f;
        }
    }
    s = block_sum_d(s);
    if (threadIdx.x == 0)
        atomicAdd(acc, s);
}

__global__ void kl_kernel(double *acc, float *dmean, float *dlogvar, const float *mean,
                          const float *logvar, int64_t n, float k)
{
    double s = 0;
    GRID_STRIDE(i, n) {
        double m = mean[i], lv = logvar[i], e = exp(lv);
        s += m * m + e - 1.0 - lv;
        if (dmean)
            dmean[i] += k * mean[i];
        if (dlogvar)
            dlogvar[i] += (float)(0.5 * (e - 1.0)) * k;
    }
    s = block_sum_d(s);
    if (threadIdx.x == 0)
        atomicAdd(acc, s);
}

static unsigned red_blocks(int64_t n)
{
    unsigned b = avkc_blocks(n);
    return b < 1024 ? b : 1024;
}

static double run_loss(float *grad, const float *pred, const float *target, int64_t n, float k,
                       int kind)
{
    double *acc = avkc_accum();
    if (n > 0) {
        loss_kernel<<<red_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(acc, grad, pred, target, n,
                                                                     k, kind);
        CU_LAUNCHED();
    }
    return avkc_take_double(acc) / (double)n;
}

double avkc_mse_loss(float *grad, const float *pred, const float *target, int64_t n,
                                float gscale)
{
    return run_loss(grad, pred, target, n, (float)(2.0 * gscale / (double)n), 0);
}

double avkc_l1_loss(float *grad, const float *pred, const float *target, int64_t n,
                               float gscale)
{
    return run_loss(grad, pred, target, n, (float)(gscale / (double)n), 1);
}

double avkc_kl_gaussian_loss(float *dmean, float *dlogvar, const float *mean,
                                        const float *logvar, int64_t n, double norm, float gscale)
{
    double *acc = avkc_accum();
    if (n > 0) {
        kl_kernel<<<red_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(acc, dmean, dlogvar, mean,
                                                                   logvar, n, (float)(gscale / norm));
        CU_LAUNCHED();
    }
    return 0.5 * avkc_take_double(acc) / norm;
}
