/* Row kernels shared by the CPU norm, modulation, rotary and fused adaLN
 * operators (ops_norm.c, ops_modulate.c, ops_posemb.c, ops_adaln.c) and
 * the DiT's attention gathers (lib/models/dit_attn.c), so that a fused
 * kernel runs the very arithmetic of the separate ones: vectorized and
 * multiversioned (util/simd.h). Private to the library. */
#ifndef AVKIT_OPS_ROWS_H
#define AVKIT_OPS_ROWS_H

#include <math.h>
#include <stdint.h>

#include "ops_util.h"

/* mean and rstd of n contiguous values: double sums of float blocks. */
AVK_CLONES __attribute__((unused)) static void stats(const float *x, int64_t n, float eps, float *mean, float *rstd)
{
    double s = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 4096) {
        int64_t i1 = i0 + 4096 < n ? i0 + 4096 : n;
        float t = 0;
#pragma omp simd reduction(+ : t)
        for (int64_t i = i0; i < i1; i++)
            t += x[i];
        s += t;
    }
    float m = (float)(s / (double)n);
    double v = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 4096) {
        int64_t i1 = i0 + 4096 < n ? i0 + 4096 : n;
        float t = 0;
#pragma omp simd reduction(+ : t)
        for (int64_t i = i0; i < i1; i++)
            t += (x[i] - m) * (x[i] - m);
        v += t;
    }
    *mean = m;
    *rstd = (float)(1.0 / sqrt(v / (double)n + eps));
}

/* y = (x - m) r * gamma + beta along a row (gamma, beta may be NULL). One
 * loop per case: a NULL test inside the loop kept the AVX2 clone scalar.
 * No fused multiply-add, so every case rounds as the plain expression. */
AVK_CLONES __attribute__((unused, optimize("fp-contract=off"))) static void norm_apply_row(
    float *y, const float *x, int D, float m, float r, const float *gamma, const float *beta)
{
    if (gamma && beta) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            y[i] = (x[i] - m) * r * gamma[i] + beta[i];
    } else if (gamma) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            y[i] = (x[i] - m) * r * gamma[i];
    } else if (beta) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            y[i] = (x[i] - m) * r + beta[i];
    } else {
#pragma omp simd
        for (int i = 0; i < D; i++)
            y[i] = (x[i] - m) * r;
    }
}

/* The sums over a row of g = dy*gamma (gamma NULL: 1) and of g xhat,
 * vectorized (a NULL test inside the loop kept it scalar). */
static inline __attribute__((always_inline)) void ln_row_sums(const float *dy, const float *x,
                                                              float m, float r,
                                                              const float *gamma, int D,
                                                              float *s1p, float *s2p)
{
    float s1 = 0, s2 = 0;
    if (gamma) {
#pragma omp simd reduction(+ : s1, s2)
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r, g = dy[i] * gamma[i];
            s1 += g;
            s2 += g * xh;
        }
    } else {
#pragma omp simd reduction(+ : s1, s2)
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r, g = dy[i];
            s1 += g;
            s2 += g * xh;
        }
    }
    *s1p = s1;
    *s2p = s2;
}

/* The norm's weight gradient of one row: pg += dy xhat. */
static inline __attribute__((always_inline)) void ln_row_wgrad(float *pg, const float *dy,
                                                               const float *x, float m,
                                                               float r, int D)
{
#pragma omp simd
    for (int i = 0; i < D; i++)
        pg[i] += dy[i] * (x[i] - m) * r;
}

/* Per-row backward: dx += r (g - mean(g) - xhat mean(g xhat)) with
 * g = dy*gamma; adds dy*xhat and dy into the per-thread dgamma/dbeta rows. */
AVK_CLONES __attribute__((unused)) static void ln_row_bwd(float *dx, float *pg, float *pb, const float *dy,
                                  const float *x, float m, float r, const float *gamma, int D,
                                  int rms)
{
    float s1, s2;
    ln_row_sums(dy, x, m, r, gamma, D, &s1, &s2);
    float c1 = rms ? 0.0f : s1 / D, c2 = s2 / D;
    if (dx && gamma) {
#pragma omp simd
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r;
            dx[i] += r * (dy[i] * gamma[i] - c1 - xh * c2);
        }
    } else if (dx) {
#pragma omp simd
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r;
            dx[i] += r * (dy[i] - c1 - xh * c2);
        }
    }
    if (pg)
        ln_row_wgrad(pg, dy, x, m, r, D);
    if (pb) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            pb[i] += dy[i];
    }
}

AVK_CLONES __attribute__((unused)) static void mod_row(float *y, const float *x, const float *sh, const float *sc, int D)
{
#pragma omp simd
    for (int i = 0; i < D; i++)
        y[i] = x[i] * (1.0f + sc[i]) + (sh ? sh[i] : 0.0f);
}

/* dx += dy (1 + scale); acc_scale += dy x; acc_shift += dy */
AVK_CLONES __attribute__((unused)) static void mod_row_bwd(float *dx, float *asc, float *ash, const float *dy,
                                   const float *x, const float *sc, int D)
{
    if (dx) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            dx[i] += dy[i] * (1.0f + sc[i]);
    }
    if (asc) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            asc[i] += dy[i] * x[i];
    }
    if (ash) {
#pragma omp simd
        for (int i = 0; i < D; i++)
            ash[i] += dy[i];
    }
}

/* Rotate the pairs of one row by the table (sign +1) or back (sign -1);
 * acc adds into y instead of writing. One loop per case (a test of acc
 * inside the loop kept the AVX2 clone scalar). */
AVK_CLONES __attribute__((unused)) static void rope_row(float *y, const float *x, const float *cs, int D, float sign,
                                int acc)
{
    if (acc) {
#pragma omp simd
        for (int p = 0; p < D / 2; p++) {
            float c = cs[2 * p], s = sign * cs[2 * p + 1];
            float x0 = x[2 * p], x1 = x[2 * p + 1];
            y[2 * p] += x0 * c - x1 * s;
            y[2 * p + 1] += x0 * s + x1 * c;
        }
    } else {
#pragma omp simd
        for (int p = 0; p < D / 2; p++) {
            float c = cs[2 * p], s = sign * cs[2 * p + 1];
            float x0 = x[2 * p], x1 = x[2 * p + 1];
            y[2 * p] = x0 * c - x1 * s;
            y[2 * p + 1] = x0 * s + x1 * c;
        }
    }
}

/* x[j] += b[j] over one row: a linear layer's bias (avk_linear_fwd,
 * avk_bias_gelu_fwd). */
AVK_CLONES __attribute__((unused)) static void bias_row(float *x, const float *b, int64_t n)
{
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        x[j] += b[j];
}

#endif
