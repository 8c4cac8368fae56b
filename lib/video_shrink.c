/* Bilinear shrinking of 8-bit planes, the AVK_SCALE_BILINEAR scaler for
 * analysis-size frames (av-shotcut): OpenCV's INTER_LINEAR rule, which
 * PySceneDetect's downscaling uses. Destination pixel (x, y) samples the
 * source at ((x + 1/2) sw/dw - 1/2, (y + 1/2) sh/dh - 1/2), clamped to the
 * plane, and blends the four source pixels around that point with weights
 * in 1/256ths. Four reads a destination pixel, whatever the ratio: at a
 * large ratio this aliases fine detail, which is why it is cheap and why
 * it is not the default scaler.
 */
#include "video_shrink.h"
#include "ops_util.h"

#include <math.h>
#include <stdlib.h>


/* For each of n destination positions along a side of length src: the
 * first source index (i0), the second (i1, the same at the edge) and the
 * weight of the second in 1/256ths. */
static void sample_positions(int n, int src, int32_t *i0, int32_t *i1, int32_t *w)
{
    double scale = (double)src / n;
    for (int d = 0; d < n; d++) {
        double s = (d + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        int i = (int)floor(s);
        int f = (int)lround((s - i) * 256.0);
        if (f == 256) {
            i++;
            f = 0;
        }
        if (i >= src - 1) {
            i = src - 1;
            f = 0;
        }
        i0[d] = i;
        i1[d] = i + 1 < src ? i + 1 : i;
        w[d] = f;
    }
}

/* The vertical half of a destination row: every column of source rows
 * r0 and r1 blended with weight fy of r1 (unit strides, so it vectorizes). */
AVK_CLONES_O3
static void blend_rows(const uint8_t *restrict r0, const uint8_t *restrict r1, int fy, int sw,
                       uint16_t *restrict t)
{
    for (int x = 0; x < sw; x++)
        t[x] = (uint16_t)(r0[x] * (256 - fy) + r1[x] * fy);
}

/* The horizontal half: each destination pixel from two blended columns
 * (scalar: vector gathers measured slower here). */
static void sample_row(const uint16_t *restrict t, const int32_t *restrict i0,
                       const int32_t *restrict i1, const int32_t *restrict wx, int dw,
                       uint8_t *restrict out)
{
    for (int x = 0; x < dw; x++)
        out[x] = (uint8_t)(((uint32_t)t[i0[x]] * (uint32_t)(256 - wx[x]) +
                            (uint32_t)t[i1[x]] * (uint32_t)wx[x] + 32768) >> 16);
}

/* Shrink a plane; see video_shrink.h. */
int avk_shrink_plane(const uint8_t *src, int sstride, int sw, int sh, uint8_t *dst,
                     int dstride, int dw, int dh)
{
    int32_t *t = malloc(sizeof(int32_t) * (3 * (size_t)dw + 3 * (size_t)dh) +
                        sizeof(uint16_t) * (size_t)sw);
    if (!t)
        return -1;
    int32_t *x0 = t, *x1 = x0 + dw, *wx = x1 + dw;
    int32_t *y0 = wx + dw, *y1 = y0 + dh, *wy = y1 + dh;
    uint16_t *blend = (uint16_t *)(wy + dh);
    sample_positions(dw, sw, x0, x1, wx);
    sample_positions(dh, sh, y0, y1, wy);
    for (int y = 0; y < dh; y++) {
        blend_rows(src + (size_t)y0[y] * sstride, src + (size_t)y1[y] * sstride, wy[y], sw,
                   blend);
        sample_row(blend, x0, x1, wx, dw, dst + (size_t)y * dstride);
    }
    free(t);
    return 0;
}
