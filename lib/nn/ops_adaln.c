/* adaLN's layer norm and modulation fused: one pass over the rows instead
 * of two (forward), and no intermediate gradient buffer (backward), with
 * the row kernels of the separate operators (ops_rows.h), so the results
 * are theirs bit for bit. The references compose the separate references. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"
#include "ops_rows.h"

#include <omp.h>
#include <string.h>

void avk_ln_modulate_fwd(float *n, float *mean, float *rstd, float *y, const float *x,
                         const float *shift, const float *scale, int B, int64_t N, int G,
                         int D, float eps)
{
    int64_t per = N / G;
#pragma omp parallel for schedule(static) if ((int64_t)B * N * D >= AVK_PAR_MIN)
    for (int64_t r = 0; r < (int64_t)B * N; r++) {
        int64_t b = r / N, g = (r % N) / per, k = (b * G + g) * D;
        float m, s;
        stats(x + r * D, D, eps, &m, &s);
        mean[r] = m;
        rstd[r] = s;
        norm_apply_row(n + r * D, x + r * D, D, m, s, NULL, NULL);
        mod_row(y + r * D, n + r * D, shift ? shift + k : NULL, scale + k, D);
    }
}

/* One parallel region over all groups: each group's rows split statically
 * over the threads as avk_modulate_bwd splits them, each thread summing
 * its rows' dscale / dshift into its own row per group, the rows then
 * added in thread order (the same sums in the same order). Per row, the
 * modulation's input gradient goes to a thread-local row, from which the
 * layer norm's backward adds into dx. */
void avk_ln_modulate_bwd(float *dx, float *dshift, float *dscale, const float *dy,
                         const float *x, const float *n, const float *mean, const float *rstd,
                         const float *scale, int B, int64_t N, int G, int D)
{
    int64_t per = N / G, ngr = (int64_t)B * G;
    int nt = (int64_t)B * N * D >= AVK_PAR_MIN ? avk_ops_threads() : 1;
    float *part = avk_fzeros(ngr * nt * 2 * D);
    float *dn = avk_falloc((int64_t)nt * D);
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *dnt = dn + (int64_t)t * D;
        for (int64_t bg = 0; bg < ngr; bg++) {
            const float *sc = scale + bg * D;
            float *asc = part + (bg * nt + t) * 2 * D, *ash = dshift ? asc + D : NULL;
            if (!dscale)
                asc = NULL;
#pragma omp for schedule(static)
            for (int64_t i = 0; i < per; i++) {
                int64_t r = bg * per + i;
                memset(dnt, 0, (size_t)D * sizeof(float));
                mod_row_bwd(dnt, asc, ash, dy + r * D, n + r * D, sc, D);
                if (dx)
                    ln_row_bwd(dx + r * D, NULL, NULL, dnt, x + r * D, mean[r], rstd[r], NULL,
                               D, 0);
            }
        }
    }
    for (int64_t bg = 0; bg < ngr; bg++)
        for (int t = 0; t < nt; t++) {
            const float *p = part + (bg * nt + t) * 2 * D;
            for (int i = 0; i < D; i++) {
                if (dscale)
                    dscale[bg * D + i] += p[i];
                if (dshift)
                    dshift[bg * D + i] += p[D + i];
            }
        }
    avk_ffree(part);
    avk_ffree(dn);
}

void avk_ln_modulate_fwd_ref(float *n, float *mean, float *rstd, float *y, const float *x,
                             const float *shift, const float *scale, int B, int64_t N, int G,
                             int D, float eps)
{
    avk_layernorm_fwd_ref(n, mean, rstd, x, NULL, NULL, (int64_t)B * N, D, eps);
    avk_modulate_fwd_ref(y, n, shift, scale, B, N, G, D);
}

void avk_ln_modulate_bwd_ref(float *dx, float *dshift, float *dscale, const float *dy,
                             const float *x, const float *n, const float *mean,
                             const float *rstd, const float *scale, int B, int64_t N, int G,
                             int D)
{
    int64_t M = (int64_t)B * N;
    float *dn = avk_fzeros(M * D);
    avk_modulate_bwd_ref(dn, dshift, dscale, dy, n, scale, B, N, G, D);
    avk_layernorm_bwd_ref(dx, NULL, NULL, dn, x, mean, rstd, NULL, M, D);
    avk_ffree(dn);
}
