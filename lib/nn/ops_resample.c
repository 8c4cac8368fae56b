/* Nearest-neighbour upsampling and average pooling by an integer factor f
 * over planes [B*C, H, W] (the VAE's Upsample2D and a pooling
 * downsampler; strided-conv downsampling is avk_conv2d). */
#include "avkit/nn/ops.h"
#include "ops_util.h"

void avk_upsample_nearest_fwd(float *y, const float *x, int64_t BC, int H, int W, int f)
{
    int Wo = W * f;
#pragma omp parallel for schedule(static) if (BC * H * W * f * f >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BC * H; r++) {
        const float *xr = x + r * W;
        float *yr = y + r * f * Wo;
        for (int w = 0; w < W; w++)
            for (int j = 0; j < f; j++)
                yr[w * f + j] = xr[w];
        for (int i = 1; i < f; i++)
            for (int k = 0; k < Wo; k++)
                yr[i * Wo + k] = yr[k];
    }
}

void avk_upsample_nearest_bwd(float *dx, const float *dy, int64_t BC, int H, int W, int f)
{
    int Wo = W * f;
#pragma omp parallel for schedule(static) if (BC * H * W * f * f >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BC * H; r++) {
        const float *dyr = dy + r * f * Wo;
        float *dxr = dx + r * W;
        for (int w = 0; w < W; w++) {
            float s = 0;
            for (int i = 0; i < f; i++)
                for (int j = 0; j < f; j++)
                    s += dyr[i * Wo + w * f + j];
            dxr[w] += s;
        }
    }
}

void avk_avgpool_fwd(float *y, const float *x, int64_t BC, int H, int W, int f)
{
    int Ho = H / f, Wo = W / f;
    float inv = 1.0f / (float)(f * f);
#pragma omp parallel for schedule(static) if (BC * H * W >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BC * Ho; r++) {
        const float *xr = x + r * f * W;
        float *yr = y + r * Wo;
        for (int w = 0; w < Wo; w++) {
            float s = 0;
            for (int i = 0; i < f; i++)
                for (int j = 0; j < f; j++)
                    s += xr[i * W + w * f + j];
            yr[w] = s * inv;
        }
    }
}

void avk_avgpool_bwd(float *dx, const float *dy, int64_t BC, int H, int W, int f)
{
    int Ho = H / f, Wo = W / f;
    float inv = 1.0f / (float)(f * f);
#pragma omp parallel for schedule(static) if (BC * H * W >= AVK_PAR_MIN)
    for (int64_t r = 0; r < BC * Ho; r++) {
        const float *dyr = dy + r * Wo;
        float *dxr = dx + r * f * W;
        for (int i = 0; i < f; i++)
            for (int w = 0; w < Wo * f; w++)
                dxr[i * W + w] += dyr[w / f] * inv;
    }
}

/* ---- references: loops over the larger grid -------------------------- */

void avk_upsample_nearest_fwd_ref(float *y, const float *x, int64_t BC, int H, int W, int f)
{
    for (int64_t p = 0; p < BC; p++)
        for (int h = 0; h < H * f; h++)
            for (int w = 0; w < W * f; w++)
                y[(p * H * f + h) * W * f + w] = x[(p * H + h / f) * W + w / f];
}

void avk_upsample_nearest_bwd_ref(float *dx, const float *dy, int64_t BC, int H, int W, int f)
{
    for (int64_t p = 0; p < BC; p++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                double s = 0;
                for (int i = 0; i < f; i++)
                    for (int j = 0; j < f; j++)
                        s += dy[(p * H * f + h * f + i) * W * f + w * f + j];
                dx[(p * H + h) * W + w] += (float)s;
            }
}

void avk_avgpool_fwd_ref(float *y, const float *x, int64_t BC, int H, int W, int f)
{
    for (int64_t p = 0; p < BC; p++)
        for (int h = 0; h < H / f; h++)
            for (int w = 0; w < W / f; w++) {
                double s = 0;
                for (int i = 0; i < f; i++)
                    for (int j = 0; j < f; j++)
                        s += x[(p * H + h * f + i) * W + w * f + j];
                y[(p * (H / f) + h) * (W / f) + w] = (float)(s / (f * f));
            }
}

void avk_avgpool_bwd_ref(float *dx, const float *dy, int64_t BC, int H, int W, int f)
{
    for (int64_t p = 0; p < BC; p++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                dx[(p * H + h) * W + w] +=
                    (float)((double)dy[(p * (H / f) + h / f) * (W / f) + w / f] / (f * f));
}
