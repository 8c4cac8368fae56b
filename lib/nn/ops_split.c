/* Splitting channels, as torch.split(x, [Ca, Cb], dim=1) on x [B, Ca+Cb, S]:
 * a [B, Ca, S] holds the first Ca channels of each sample, b [B, Cb, S]
 * the rest. The VAE splits its encoder's moments into the mean and the
 * log-variance this way; the backward puts the two gradients back side
 * by side. A pure copy: fast and reference give the same bits. */
#include "avkit/nn/ops.h"
#include "ops_util.h"

/* Each output may be NULL (that half is not wanted). One memcpy per
 * sample and half; threads over samples when the copy is large. */
void avk_split_channels_fwd(float *a, float *b, const float *x, int64_t B, int64_t Ca,
                            int64_t Cb, int64_t S)
{
    int64_t C = Ca + Cb;
#pragma omp parallel for schedule(static) if (B * C * S >= AVK_PAR_MIN && B > 1)
    for (int64_t s = 0; s < B; s++) {
        const float *xs = x + s * C * S;
        if (a)
            memcpy(a + s * Ca * S, xs, (size_t)(Ca * S) * sizeof(float));
        if (b)
            memcpy(b + s * Cb * S, xs + Ca * S, (size_t)(Cb * S) * sizeof(float));
    }
}

/* dx += [da, db] per sample; a NULL gradient adds nothing. */
void avk_split_channels_bwd(float *dx, const float *da, const float *db, int64_t B, int64_t Ca,
                            int64_t Cb, int64_t S)
{
    int64_t C = Ca + Cb;
#pragma omp parallel for schedule(static) if (B * C * S >= AVK_PAR_MIN && B > 1)
    for (int64_t s = 0; s < B; s++) {
        float *dxs = dx + s * C * S;
        if (da) {
            const float *d = da + s * Ca * S;
#pragma omp simd
            for (int64_t i = 0; i < Ca * S; i++)
                dxs[i] += d[i];
        }
        if (db) {
            const float *d = db + s * Cb * S;
            float *o = dxs + Ca * S;
#pragma omp simd
            for (int64_t i = 0; i < Cb * S; i++)
                o[i] += d[i];
        }
    }
}

/* Reference: element by element over (sample, channel, position). */
void avk_split_channels_fwd_ref(float *a, float *b, const float *x, int64_t B, int64_t Ca,
                                int64_t Cb, int64_t S)
{
    for (int64_t s = 0; s < B; s++)
        for (int64_t c = 0; c < Ca + Cb; c++)
            for (int64_t i = 0; i < S; i++) {
                float v = x[(s * (Ca + Cb) + c) * S + i];
                if (c < Ca && a)
                    a[(s * Ca + c) * S + i] = v;
                else if (c >= Ca && b)
                    b[(s * Cb + c - Ca) * S + i] = v;
            }
}

void avk_split_channels_bwd_ref(float *dx, const float *da, const float *db, int64_t B,
                                int64_t Ca, int64_t Cb, int64_t S)
{
    for (int64_t s = 0; s < B; s++)
        for (int64_t c = 0; c < Ca + Cb; c++)
            for (int64_t i = 0; i < S; i++) {
                float *o = &dx[(s * (Ca + Cb) + c) * S + i];
                if (c < Ca && da)
                    *o += da[(s * Ca + c) * S + i];
                else if (c >= Ca && db)
                    *o += db[(s * Cb + c - Ca) * S + i];
            }
}
