/* Image helpers for the av-filter scores: luma, resizing, blurring and
 * bilinear sampling of float planes (values on the 0..255 scale). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

/* BT.601 luma: what "convert to gray" means in every score. */
void avk_rgb_to_gray(const uint8_t *rgb, int w, int h, float *gray)
{
    size_t n = (size_t)w * h;
    #pragma omp simd
    for (size_t i = 0; i < n; i++)
        gray[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

/* Mean of n values, accumulated in double. */
double avk_plane_mean(const float *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return n ? s / (double)n : 0.0;
}

/* Area-average resize: each destination pixel is the mean of the source
 * area it covers, with fractional weights at the footprint's edges. Used
 * to go down to the flow size without aliasing. */
void avk_plane_resize(const float *src, int sw, int sh, float *dst, int dw, int dh)
{
    double sx = (double)sw / dw, sy = (double)sh / dh;
    float *tmp = avk_xmalloc((size_t)dw * sh * sizeof(float));
    /* horizontal pass: sw -> dw for every source row */
    for (int x = 0; x < dw; x++) {
        double a = x * sx, b = a + sx;
        int i0 = (int)floor(a), i1 = (int)ceil(b);
        if (i1 > sw)
            i1 = sw;
        for (int y = 0; y < sh; y++) {
            const float *row = src + (size_t)y * sw;
            double s = 0, wsum = 0;
            for (int i = i0; i < i1; i++) {
                double lo = i < a ? a : i, hi = i + 1 > b ? b : i + 1;
                double wgt = hi - lo;
                if (wgt <= 0)
                    continue;
                s += wgt * row[i];
                wsum += wgt;
            }
            tmp[(size_t)y * dw + x] = (float)(wsum > 0 ? s / wsum : row[i0 < sw ? i0 : sw - 1]);
        }
    }
    /* vertical pass: sh -> dh */
    for (int y = 0; y < dh; y++) {
        double a = y * sy, b = a + sy;
        int j0 = (int)floor(a), j1 = (int)ceil(b);
        if (j1 > sh)
            j1 = sh;
        float *out = dst + (size_t)y * dw;
        for (int x = 0; x < dw; x++)
            out[x] = 0;
        double wsum = 0;
        for (int j = j0; j < j1; j++) {
            double lo = j < a ? a : j, hi = j + 1 > b ? b : j + 1;
            double wgt = hi - lo;
            if (wgt <= 0)
                continue;
            const float *row = tmp + (size_t)j * dw;
            for (int x = 0; x < dw; x++)
                out[x] += (float)(wgt * row[x]);
            wsum += wgt;
        }
        if (wsum > 0)
            for (int x = 0; x < dw; x++)
                out[x] = (float)(out[x] / wsum);
    }
    free(tmp);
}

/* Separable Gaussian blur, kernel radius ceil(3 sigma), edges clamped.
 * src and dst may be the same plane. The horizontal pass works on a
 * padded copy of each row so the inner loops have no bounds checks. */
void avk_plane_blur(const float *src, int w, int h, double sigma, float *dst)
{
    if (sigma <= 0) {
        if (dst != src)
            memcpy(dst, src, (size_t)w * h * sizeof(float));
        return;
    }
    int r = (int)ceil(3 * sigma);
    float *k = avk_xmalloc((size_t)(2 * r + 1) * sizeof(float));
    double ks = 0;
    for (int i = -r; i <= r; i++)
        ks += k[i + r] = (float)exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] = (float)(k[i] / ks);
    float *tmp = avk_xmalloc((size_t)w * h * sizeof(float));
    float *pad = avk_xmalloc((size_t)(w + 2 * r) * sizeof(float));
    for (int y = 0; y < h; y++) {
        const float *row = src + (size_t)y * w;
        for (int i = 0; i < r; i++) {
            pad[i] = row[0];
            pad[w + r + i] = row[w - 1];
        }
        memcpy(pad + r, row, (size_t)w * sizeof(float));
        /* tap-major so that the loop over x vectorizes */
        float *restrict out = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++)
            out[x] = 0;
        for (int i = 0; i <= 2 * r; i++) {
            const float *restrict p = pad + i;
            float kk = k[i];
            #pragma omp simd
            for (int x = 0; x < w; x++)
                out[x] += kk * p[x];
        }
    }
    free(pad);
    for (int y = 0; y < h; y++) {
        float *restrict out = dst + (size_t)y * w;
        for (int x = 0; x < w; x++)
            out[x] = 0;
        for (int i = -r; i <= r; i++) {
            int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
            const float *restrict row = tmp + (size_t)yy * w;
            float kk = k[i + r];
            #pragma omp simd
            for (int x = 0; x < w; x++)
                out[x] += kk * row[x];
        }
    }
    free(tmp);
    free(k);
}

/* Bilinear interpolation with coordinates clamped to the plane. */
float avk_plane_sample(const float *p, int w, int h, float x, float y)
{
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x > w - 1)
        x = (float)(w - 1);
    if (y > h - 1)
        y = (float)(h - 1);
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
    float fx = x - x0, fy = y - y0;
    const float *r0 = p + (size_t)y0 * w, *r1 = p + (size_t)y1 * w;
    float a = r0[x0] + fx * (r0[x1] - r0[x0]);
    float b = r1[x0] + fx * (r1[x1] - r1[x0]);
    return a + fy * (b - a);
}

/* Scale (w, h) so the shorter side becomes short_side, keeping the aspect
 * ratio, even dimensions, at least 8 pixels each. */
void avk_fit_short_side(int w, int h, int short_side, int no_upscale, int *ow, int *oh)
{
    int s = w < h ? w : h;
    if (short_side <= 0 || (no_upscale && s <= short_side)) {
        *ow = w;
        *oh = h;
        return;
    }
    double f = (double)short_side / s;
    int nw = (int)lround(w * f / 2) * 2, nh = (int)lround(h * f / 2) * 2;
    *ow = nw < 8 ? 8 : nw;
    *oh = nh < 8 ? 8 : nh;
}
