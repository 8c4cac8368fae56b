/* adaLN modulation and gated residuals of a DiT block, over tokens
 * [B, N, D] split into G equal consecutive groups, each group with its own
 * shift/scale/gate rows [B, G, D]:
 *   modulate:        y = x (1 + scale) + shift
 *   gated residual:  h = res + gate y
 * Gradients of the per-group rows sum over that group's tokens. */
#include "avkit/nn/ops.h"
#include "ops_util.h"
#include "ops_rows.h"

#include <omp.h>
#include <string.h>

AVK_CLONES static void gate_row(float *h, const float *res, const float *y, const float *g, int D)
{
#pragma omp simd
    for (int i = 0; i < D; i++)
        h[i] = res[i] + g[i] * y[i];
}

void avk_modulate_fwd(float *y, const float *x, const float *shift, const float *scale,
                      int B, int64_t N, int G, int D)
{
    int64_t per = N / G;
#pragma omp parallel for schedule(static) if ((int64_t)B * N * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < (int64_t)B * N; r++) {
        int64_t b = r / N, g = (r % N) / per, k = (b * G + g) * D;
        mod_row(y + r * D, x + r * D, shift ? shift + k : NULL, scale + k, D);
    }
}

/* Threads split the tokens of each (b, g) group; each thread sums its
 * share of dscale/dshift in a private row; the rows are added in thread
 * order afterwards (deterministic for a thread count). */
void avk_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dy,
                      const float *x, const float *scale, int B, int64_t N, int G, int D)
{
    int64_t per = N / G, ngr = (int64_t)B * G;
    int nt = (int64_t)B * N * D >= AVK_PAR_MIN ? avk_ops_threads() : 1;
    float *part = (dshift || dscale) ? avk_fzeros((int64_t)nt * 2 * D) : NULL;
    for (int64_t bg = 0; bg < ngr; bg++) {
        const float *sc = scale + bg * D;
        const float *dyg = dy + bg * per * D, *xg = x + bg * per * D;
        float *dxg = dx ? dx + bg * per * D : NULL;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            float *asc = dscale ? part + (int64_t)t * 2 * D : NULL;
            float *ash = dshift ? part + (int64_t)t * 2 * D + D : NULL;
#pragma omp for schedule(static)
            for (int64_t n = 0; n < per; n++)
                mod_row_bwd(dxg ? dxg + n * D : NULL, asc, ash, dyg + n * D, xg + n * D, sc, D);
        }
        if (!part)
            continue;
        for (int t = 0; t < nt; t++)
            for (int i = 0; i < D; i++) {
                if (dscale)
                    dscale[bg * D + i] += part[(int64_t)t * 2 * D + i];
                if (dshift)
                    dshift[bg * D + i] += part[(int64_t)t * 2 * D + D + i];
            }
        memset(part, 0, (size_t)nt * 2 * D * sizeof(float));
    }
    avk_ffree(part);
}

void avk_gated_residual_fwd(float *h, const float *res, const float *y, const float *gate,
                            int B, int64_t N, int G, int D)
{
    int64_t per = N / G;
#pragma omp parallel for schedule(static) if ((int64_t)B * N * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < (int64_t)B * N; r++) {
        int64_t b = r / N, g = (r % N) / per;
        gate_row(h + r * D, res + r * D, y + r * D, gate + (b * G + g) * D, D);
    }
}

/* dres += dh; dy += dh gate; dgate += sum over the group's tokens of
 * dh y (per-thread partial rows, added in thread order). */
void avk_gated_residual_bwd(float *dres, float *dy, float *dgate, const float *dh,
                            const float *y, const float *gate, int B, int64_t N, int G, int D)
{
    int64_t per = N / G, n = (int64_t)B * N * D;
    if (dres)
        avk_add_inplace(dres, dh, n);
    int nt = n >= AVK_PAR_MIN ? avk_ops_threads() : 1;
    float *part = dgate ? avk_fzeros((int64_t)nt * D) : NULL;
    for (int64_t bg = 0; bg < (int64_t)B * G; bg++) {
        const float *g = gate + bg * D, *dhg = dh + bg * per * D, *yg = y + bg * per * D;
        float *dyg = dy ? dy + bg * per * D : NULL;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            float *ag = part ? part + (int64_t)t * D : NULL;
#pragma omp for schedule(static)
            for (int64_t k = 0; k < per; k++) {
                const float *d = dhg + k * D, *yy = yg + k * D;
                if (dyg) {
                    float *o = dyg + k * D;
#pragma omp simd
                    for (int i = 0; i < D; i++)
                        o[i] += d[i] * g[i];
                }
                if (ag) {
#pragma omp simd
                    for (int i = 0; i < D; i++)
                        ag[i] += d[i] * yy[i];
                }
            }
        }
        if (!part)
            continue;
        for (int t = 0; t < nt; t++)
            for (int i = 0; i < D; i++)
                dgate[bg * D + i] += part[(int64_t)t * D + i];
        memset(part, 0, (size_t)nt * D * sizeof(float));
    }
    avk_ffree(part);
}

/* ---- references ------------------------------------------------------ */

void avk_modulate_fwd_ref(float *y, const float *x, const float *shift, const float *scale,
                          int B, int64_t N, int G, int D)
{
    int64_t per = N / G;
    for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < N; n++)
            for (int i = 0; i < D; i++) {
                int64_t k = (b * G + n / per) * D + i, r = (b * N + n) * D + i;
                y[r] = (float)((double)x[r] * (1.0 + scale[k]) + (shift ? shift[k] : 0.0));
            }
}

void avk_modulate_bwd_ref(float *dx, float *dshift, float *dscale, const float *dy,
                          const float *x, const float *scale, int B, int64_t N, int G, int D)
{
    int64_t per = N / G;
    for (int64_t b = 0; b < B; b++)
        for (int64_t g = 0; g < G; g++)
            for (int i = 0; i < D; i++) {
                int64_t k = (b * G + g) * D + i;
                double ssc = 0, ssh = 0;
                for (int64_t n = g * per; n < (g + 1) * per; n++) {
                    int64_t r = (b * N + n) * D + i;
                    if (dx)
                        dx[r] += (float)(dy[r] * (1.0 + scale[k]));
                    ssc += (double)dy[r] * x[r];
                    ssh += dy[r];
                }
                if (dscale)
                    dscale[k] += (float)ssc;
                if (dshift)
                    dshift[k] += (float)ssh;
            }
}

void avk_gated_residual_fwd_ref(float *h, const float *res, const float *y, const float *gate,
                                int B, int64_t N, int G, int D)
{
    int64_t per = N / G;
    for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < N; n++)
            for (int i = 0; i < D; i++) {
                int64_t r = (b * N + n) * D + i;
                h[r] = (float)(res[r] + (double)gate[(b * G + n / per) * D + i] * y[r]);
            }
}

void avk_gated_residual_bwd_ref(float *dres, float *dy, float *dgate, const float *dh,
                                const float *y, const float *gate, int B, int64_t N, int G, int D)
{
    int64_t per = N / G;
    for (int64_t b = 0; b < B; b++)
        for (int64_t g = 0; g < G; g++)
            for (int i = 0; i < D; i++) {
                int64_t k = (b * G + g) * D + i;
                double s = 0;
                for (int64_t n = g * per; n < (g + 1) * per; n++) {
                    int64_t r = (b * N + n) * D + i;
                    if (dres)
                        dres[r] += dh[r];
                    if (dy)
                        dy[r] += (float)((double)dh[r] * gate[k]);
                    s += (double)dh[r] * y[r];
                }
                if (dgate)
                    dgate[k] += (float)s;
            }
}
