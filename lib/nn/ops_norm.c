/* Group norm, layer norm and RMS norm, forward and backward.
 * Statistics: biased variance (as PyTorch), rstd = 1/sqrt(var + eps),
 * saved by the forward for the backward. With xhat = (x - mean) rstd and
 * g = dy * gamma, the input gradient of a normalized group of n elements is
 *   dx = rstd (g - mean(g) - xhat mean(g xhat))
 * and RMS norm drops the mean(g) term. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"
#include "ops_rows.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- row kernels (vectorized, multiversioned) ------------------------ */

/* y = (x - m) r * g + b over n values with one gamma/beta (scalars). */
AVK_CLONES static void norm_apply_scalar(float *y, const float *x, int64_t n, float m, float r,
                                         float g, float b)
{
    float a = r * g, c = b - m * r * g;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * a + c;
}

/* Sums over n values of g = dy*gs and g*xhat (for one channel). */
AVK_CLONES static void dot_sums(const float *dy, const float *x, int64_t n, float m, float r,
                                double *sdy, double *sdyx)
{
    double a = 0, b = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 4096) {
        int64_t i1 = i0 + 4096 < n ? i0 + 4096 : n;
        float ta = 0, tb = 0;
#pragma omp simd reduction(+ : ta, tb)
        for (int64_t i = i0; i < i1; i++) {
            ta += dy[i];
            tb += dy[i] * (x[i] - m) * r;
        }
        a += ta;
        b += tb;
    }
    *sdy = a;
    *sdyx = b;
}

/* dx += r (g*dy - c1 - xhat c2) for one channel with scalar gamma g. */
AVK_CLONES static void norm_dx_scalar(float *dx, const float *dy, const float *x, int64_t n,
                                      float m, float r, float g, float c1, float c2)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dx[i] += r * (g * dy[i] - c1 - (x[i] - m) * r * c2);
}

/* ---- group norm ------------------------------------------------------ */

void avk_groupnorm_fwd(float *y, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta,
                       int B, int C, int64_t S, int G, float eps)
{
    int cg = C / G;
    int64_t gn = (int64_t)cg * S;
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)B * C * S >= AVK_PAR_MIN)
    for (int bg = 0; bg < B * G; bg++) {
        const float *xg = x + (int64_t)bg * gn;
        float *yg = y + (int64_t)bg * gn;
        float m, r;
        stats(xg, gn, eps, &m, &r);
        mean[bg] = m;
        rstd[bg] = r;
        int g0 = (bg % G) * cg;
        for (int c = 0; c < cg; c++)
            norm_apply_scalar(yg + c * S, xg + c * S, S, m, r, gamma ? gamma[g0 + c] : 1.0f,
                              beta ? beta[g0 + c] : 0.0f);
    }
}

void avk_groupnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *x, const float *mean, const float *rstd,
                       const float *gamma, int B, int C, int64_t S, int G)
{
    int cg = C / G;
    int64_t gn = (int64_t)cg * S;
    /* per (b, c): sum dy and sum dy*xhat */
    double *sdy = avk_xmalloc((size_t)B * C * sizeof(double));
    double *sdyx = avk_xmalloc((size_t)B * C * sizeof(double));
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)B * C * S >= AVK_PAR_MIN)
    for (int bg = 0; bg < B * G; bg++) {
        int b = bg / G, g0 = (bg % G) * cg;
        const float *xg = x + (int64_t)bg * gn, *dyg = dy + (int64_t)bg * gn;
        float m = mean[bg], r = rstd[bg];
        double s1 = 0, s2 = 0;   /* sums of g and g*xhat over the group */
        for (int c = 0; c < cg; c++) {
            int64_t k = (int64_t)b * C + g0 + c;
            dot_sums(dyg + c * S, xg + c * S, S, m, r, &sdy[k], &sdyx[k]);
            float gm = gamma ? gamma[g0 + c] : 1.0f;
            s1 += gm * sdy[k];
            s2 += gm * sdyx[k];
        }
        if (dx) {
            float c1 = (float)(s1 / (double)gn), c2 = (float)(s2 / (double)gn);
            float *dxg = dx + (int64_t)bg * gn;
            for (int c = 0; c < cg; c++)
                norm_dx_scalar(dxg + c * S, dyg + c * S, xg + c * S, S, m, r,
                               gamma ? gamma[g0 + c] : 1.0f, c1, c2);
        }
    }
    for (int c = 0; c < C; c++) {
        double a = 0, bsum = 0;
        for (int b = 0; b < B; b++) {
            a += sdyx[(int64_t)b * C + c];
            bsum += sdy[(int64_t)b * C + c];
        }
        if (dgamma)
            dgamma[c] += (float)a;
        if (dbeta)
            dbeta[c] += (float)bsum;
    }
    free(sdy);
    free(sdyx);
}

void avk_groupnorm_fwd_ref(float *y, float *mean, float *rstd, const float *x,
                           const float *gamma, const float *beta,
                           int B, int C, int64_t S, int G, float eps)
{
    int cg = C / G;
    int64_t gn = (int64_t)cg * S;
    for (int bg = 0; bg < B * G; bg++) {
        const float *xg = x + (int64_t)bg * gn;
        double s = 0, v = 0;
        for (int64_t i = 0; i < gn; i++)
            s += xg[i];
        double m = s / (double)gn;
        for (int64_t i = 0; i < gn; i++)
            v += (xg[i] - m) * (xg[i] - m);
        double r = 1.0 / sqrt(v / (double)gn + eps);
        mean[bg] = (float)m;
        rstd[bg] = (float)r;
        int g0 = (bg % G) * cg;
        for (int c = 0; c < cg; c++)
            for (int64_t i = 0; i < S; i++) {
                double t = (xg[c * S + i] - m) * r;
                t = t * (gamma ? gamma[g0 + c] : 1.0) + (beta ? beta[g0 + c] : 0.0);
                y[(int64_t)bg * gn + c * S + i] = (float)t;
            }
    }
}

void avk_groupnorm_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int B, int C, int64_t S, int G)
{
    int cg = C / G;
    int64_t gn = (int64_t)cg * S;
    for (int bg = 0; bg < B * G; bg++) {
        int g0 = (bg % G) * cg;
        const float *xg = x + (int64_t)bg * gn, *dyg = dy + (int64_t)bg * gn;
        double m = mean[bg], r = rstd[bg], s1 = 0, s2 = 0;
        for (int c = 0; c < cg; c++) {
            double gm = gamma ? gamma[g0 + c] : 1.0, a = 0, b = 0;
            for (int64_t i = 0; i < S; i++) {
                double xh = (xg[c * S + i] - m) * r;
                a += dyg[c * S + i];
                b += dyg[c * S + i] * xh;
            }
            s1 += gm * a;
            s2 += gm * b;
            if (dgamma)
                dgamma[g0 + c] += (float)b;
            if (dbeta)
                dbeta[g0 + c] += (float)a;
        }
        if (!dx)
            continue;
        for (int c = 0; c < cg; c++) {
            double gm = gamma ? gamma[g0 + c] : 1.0;
            for (int64_t i = 0; i < S; i++) {
                double xh = (xg[c * S + i] - m) * r;
                dx[(int64_t)bg * gn + c * S + i] +=
                    (float)(r * (gm * dyg[c * S + i] - s1 / gn - xh * s2 / gn));
            }
        }
    }
}

/* ---- layer norm ------------------------------------------------------ */

AVK_CLONES static void rms_stats(const float *x, int D, float eps, float *rstd)
{
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < D; i++)
        s += x[i] * x[i];
    *rstd = 1.0f / sqrtf(s / D + eps);
}

void avk_layernorm_fwd(float *y, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int64_t M, int D, float eps)
{
#pragma omp parallel for schedule(static) if (M * D >= AVK_PAR_MIN)
    for (int64_t i = 0; i < M; i++) {
        float m, r;
        stats(x + i * D, D, eps, &m, &r);
        mean[i] = m;
        rstd[i] = r;
        norm_apply_row(y + i * D, x + i * D, D, m, r, gamma, beta);
    }
}

/* One row of the backward in place: d holds dy, gets dx (written; no beta
 * gradient);
 * ln_row_bwd's arithmetic into a zeroed dx, reordered so that dy is read
 * (sums, the weight gradient) before it is overwritten. m (0) and rms (1)
 * arrive as arguments as they do in ln_row_bwd, so that both compile to
 * the same roundings (constants would let the compiler fuse differently). */
AVK_CLONES static void row_bwd_inplace(float *d, float *pg, const float *x, float m, float r,
                                       const float *gamma, int D, int rms)
{
    float s1, s2;
    ln_row_sums(d, x, m, r, gamma, D, &s1, &s2);
    float c1 = rms ? 0.0f : s1 / D, c2 = s2 / D;
    if (pg)
        ln_row_wgrad(pg, d, x, m, r, D);
    if (gamma) {
#pragma omp simd
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r;
            d[i] = r * (d[i] * gamma[i] - c1 - xh * c2);
        }
    } else {
#pragma omp simd
        for (int i = 0; i < D; i++) {
            float xh = (x[i] - m) * r;
            d[i] = r * (d[i] - c1 - xh * c2);
        }
    }
}

/* Shared by layer norm and RMS norm backward: rows in parallel, gamma and
 * beta gradients summed per thread then added in thread order. inplace:
 * dx is dy's buffer and gets the gradient written instead of added (no
 * beta gradient then). */
static void rows_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                     const float *mean, const float *rstd, const float *gamma, int64_t M, int D,
                     int rms, int inplace)
{
    int nt = M * D >= AVK_PAR_MIN ? avk_ops_threads() : 1;
    float *part = (dgamma || dbeta) ? avk_fzeros((int64_t)nt * 2 * D) : NULL;
#pragma omp parallel num_threads(nt)
    {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        float *pg = dgamma ? part + (int64_t)t * 2 * D : NULL;
        float *pb = dbeta ? part + (int64_t)t * 2 * D + D : NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < M; i++) {
            float m = rms ? 0.0f : mean[i];
            if (inplace)
                row_bwd_inplace(dx + i * D, pg, x + i * D, m, rstd[i], gamma, D, rms);
            else
                ln_row_bwd(dx ? dx + i * D : NULL, pg, pb, dy + i * D, x + i * D, m, rstd[i],
                           gamma, D, rms);
        }
    }
    for (int t = 0; t < nt && part; t++)
        for (int i = 0; i < D; i++) {
            if (dgamma)
                dgamma[i] += part[(int64_t)t * 2 * D + i];
            if (dbeta)
                dbeta[i] += part[(int64_t)t * 2 * D + D + i];
        }
    avk_ffree(part);
}

void avk_layernorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *x, const float *mean, const float *rstd,
                       const float *gamma, int64_t M, int D)
{
    rows_bwd(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, M, D, 0, 0);
}

void avk_layernorm_fwd_ref(float *y, float *mean, float *rstd, const float *x,
                           const float *gamma, const float *beta, int64_t M, int D, float eps)
{
    for (int64_t i = 0; i < M; i++) {
        const float *xr = x + i * D;
        double s = 0, v = 0;
        for (int j = 0; j < D; j++)
            s += xr[j];
        double m = s / D;
        for (int j = 0; j < D; j++)
            v += (xr[j] - m) * (xr[j] - m);
        double r = 1.0 / sqrt(v / D + eps);
        mean[i] = (float)m;
        rstd[i] = (float)r;
        for (int j = 0; j < D; j++)
            y[i * D + j] = (float)((xr[j] - m) * r * (gamma ? gamma[j] : 1.0) +
                                   (beta ? beta[j] : 0.0));
    }
}

/* Reference backward for layer norm (rms = 0) and RMS norm (rms = 1). */
static void rows_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                         const float *x, const float *mean, const float *rstd,
                         const float *gamma, int64_t M, int D, int rms)
{
    for (int64_t i = 0; i < M; i++) {
        double m = rms ? 0.0 : mean[i], r = rstd[i], s1 = 0, s2 = 0;
        for (int j = 0; j < D; j++) {
            double xh = (x[i * D + j] - m) * r, g = dy[i * D + j] * (gamma ? gamma[j] : 1.0);
            s1 += g;
            s2 += g * xh;
            if (dgamma)
                dgamma[j] += (float)(dy[i * D + j] * xh);
            if (dbeta)
                dbeta[j] += dy[i * D + j];
        }
        if (dx)
            for (int j = 0; j < D; j++) {
                double xh = (x[i * D + j] - m) * r, g = dy[i * D + j] * (gamma ? gamma[j] : 1.0);
                dx[i * D + j] += (float)(r * (g - (rms ? 0.0 : s1 / D) - xh * s2 / D));
            }
    }
}

void avk_layernorm_bwd_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                           const float *x, const float *mean, const float *rstd,
                           const float *gamma, int64_t M, int D)
{
    rows_bwd_ref(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, M, D, 0);
}

/* ---- RMS norm -------------------------------------------------------- */

void avk_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w,
                     int64_t M, int D, float eps)
{
#pragma omp parallel for schedule(static) if (M * D >= AVK_PAR_MIN)
    for (int64_t i = 0; i < M; i++) {
        float r;
        rms_stats(x + i * D, D, eps, &r);
        rstd[i] = r;
        norm_apply_row(y + i * D, x + i * D, D, 0.0f, r, w, NULL);
    }
}

void avk_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x,
                     const float *rstd, const float *w, int64_t M, int D)
{
    rows_bwd(dx, dw, NULL, dy, x, NULL, rstd, w, M, D, 1, 0);
}

/* In place: d holds dy and gets dx (written); the weight gradient as in
 * rows_bwd. */
void avk_rmsnorm_bwd_inplace(float *d, float *dw, const float *x, const float *rstd,
                             const float *w, int64_t M, int D)
{
    rows_bwd(d, dw, NULL, d, x, NULL, rstd, w, M, D, 1, 1);
}

void avk_rmsnorm_bwd_inplace_ref(float *d, float *dw, const float *x, const float *rstd,
                                 const float *w, int64_t M, int D)
{
    float *dx = avk_fzeros(M * D);
    avk_rmsnorm_bwd_ref(dx, dw, d, x, rstd, w, M, D);
    memcpy(d, dx, (size_t)(M * D) * sizeof(float));
    avk_ffree(dx);
}

void avk_rmsnorm_fwd_ref(float *y, float *rstd, const float *x, const float *w,
                         int64_t M, int D, float eps)
{
    for (int64_t i = 0; i < M; i++) {
        double s = 0;
        for (int j = 0; j < D; j++)
            s += (double)x[i * D + j] * x[i * D + j];
        double r = 1.0 / sqrt(s / D + eps);
        rstd[i] = (float)r;
        for (int j = 0; j < D; j++)
            y[i * D + j] = (float)(x[i * D + j] * r * (w ? w[j] : 1.0));
    }
}

void avk_rmsnorm_bwd_ref(float *dx, float *dw, const float *dy, const float *x,
                         const float *rstd, const float *w, int64_t M, int D)
{
    rows_bwd_ref(dx, dw, NULL, dy, x, NULL, rstd, w, M, D, 1);
}
