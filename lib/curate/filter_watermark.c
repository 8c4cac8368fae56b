/* Watermarks: overlays (logos, channel bugs, burned-in credits) that stay
 * fixed on the screen while the picture under them moves. The seed paper
 * uses a learned classifier we do not have; this score looks for what
 * such an overlay does to the pixels, and is documented in av-filter(1):
 *
 *   F_k    frame k (n frames spread over the clip, first, middle and last
 *          among them) blurred with sigma 0.7 and brought to the clip's
 *          mean brightness and contrast: (F - mean_k) sd/sd_k + mean
 *   G_k    Sobel gradient (/ 8, gray levels a pixel) of F_k blurred with
 *          sigma 1
 *   P      magnitude of the per-component temporal median of G_k: an edge
 *          at the same place, with the same direction, in most frames
 *   V      mean over k of |F_k - mean_k F_k|: how much the picture changes
 *          at that pixel
 *   cand   P >= 8 and V >= 3: a fixed edge over changing content, counted
 *          as across x (|median gx| >= |median gy|) or across y
 *   dens   the largest 2 min(nx, ny) / area over windows of 1/6 of the
 *          frame's width and height (moved in steps of 1/24), nx and ny
 *          the candidates of each kind in the window: a logo or letters
 *          have edges of both kinds, while the edges a camera pan leaves
 *          in place (those along the motion, a horizon) have one
 *   edge   = 1 - exp(-dens / 0.03)
 *   text   = 0.9 when a word of at least 3 characters lies in a corner
 *          region (outer 30% of the width and 25% of the height) at the
 *          same place (boxes overlapping by half) in at least two of the
 *          OCR'd frames, else 0
 *   score  = 1 - (1 - edge)(1 - text)
 *
 * A clip whose picture does not change has V = 0 everywhere: its fixed
 * edges cannot be told from the scene's, and the edge part is 0.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

enum { WM_MIN_CHARS = 3 };
static const double WM_EDGE = 8.0, WM_CHANGE = 3.0, WM_DENS = 0.03, WM_TEXT = 0.9;

/* Sobel gradient (divided by 8: gray levels a pixel) of a plane blurred
 * (again) with sigma 1. */
static void gradient(const float *p, int w, int h, float *gx, float *gy)
{
    float *b = avk_xmalloc((size_t)w * h * sizeof(float));
    avk_plane_blur(p, w, h, 1.0, b);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int xl = x > 0 ? x - 1 : x, xr = x < w - 1 ? x + 1 : x;
            int yu = y > 0 ? y - 1 : y, yd = y < h - 1 ? y + 1 : y;
            const float *ru = b + (size_t)yu * w, *r = b + (size_t)y * w, *rd = b + (size_t)yd * w;
            gx[(size_t)y * w + x] = ((ru[xr] + 2 * r[xr] + rd[xr]) - (ru[xl] + 2 * r[xl] + rd[xl])) / 8.0f;
            gy[(size_t)y * w + x] = ((rd[xl] + 2 * rd[x] + rd[xr]) - (ru[xl] + 2 * ru[x] + ru[xr])) / 8.0f;
        }
    free(b);
}

/* Median of n values (mean of the middle two for even n); sorts v by
 * insertion (n is a few frames). */
static float median(float *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            float t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5f * (v[n / 2 - 1] + v[n / 2]);
}

/* The edge part: densest window of fixed edges over changing content. */
static double edge_part(const float *const *frames, int n, int w, int h, avk_watermark *wm)
{
    size_t np = (size_t)w * h;
    float *gx = avk_xmalloc(np * n * sizeof(float)), *gy = avk_xmalloc(np * n * sizeof(float));
    float *bl = avk_xmalloc(np * n * sizeof(float));
    /* frames brought to the clip's mean brightness and contrast first, so
     * a fade or an exposure change of a still picture is not "change" */
    double *mu = avk_xmalloc((size_t)n * sizeof(double)), *sd = avk_xmalloc((size_t)n * sizeof(double));
    double mu_all = 0, sd_all = 0;
    for (int k = 0; k < n; k++) {
        avk_plane_blur(frames[k], w, h, 0.7, bl + np * k);
        double s = 0, s2 = 0;
        for (size_t i = 0; i < np; i++) {
            s += bl[np * k + i];
            s2 += (double)bl[np * k + i] * bl[np * k + i];
        }
        mu[k] = s / np;
        sd[k] = sqrt(fmax(s2 / np - mu[k] * mu[k], 1e-6));
        mu_all += mu[k] / n;
        sd_all += sd[k] / n;
    }
    for (int k = 0; k < n; k++) {
        float *f = bl + np * k;
        double g = sd_all / sd[k];
        for (size_t i = 0; i < np; i++)
            f[i] = (float)((f[i] - mu[k]) * g + mu_all);
        gradient(f, w, h, gx + np * k, gy + np * k);
    }
    free(mu);
    free(sd);
    uint8_t *cand = avk_xmalloc(np);
    float *tmp = avk_xmalloc((size_t)n * sizeof(float));
    for (size_t i = 0; i < np; i++) {
        /* content change: mean absolute deviation of the blurred frames */
        double m = 0, v = 0;
        for (int k = 0; k < n; k++)
            m += bl[np * k + i];
        m /= n;
        for (int k = 0; k < n; k++)
            v += fabs(bl[np * k + i] - m);
        v /= n;
        cand[i] = 0;
        if (v < WM_CHANGE)
            continue;
        /* persistent edge: the temporal median of the gradient vectors */
        for (int k = 0; k < n; k++)
            tmp[k] = gx[np * k + i];
        float mx = median(tmp, n);
        for (int k = 0; k < n; k++)
            tmp[k] = gy[np * k + i];
        float my = median(tmp, n);
        /* 1: a fixed edge across x (|gx| >= |gy|), 2: across y */
        if (sqrtf(mx * mx + my * my) >= WM_EDGE)
            cand[i] = fabsf(mx) >= fabsf(my) ? 1 : 2;
    }
    free(tmp);
    free(gx);
    free(gy);
    free(bl);
    /* integral images of the two kinds of candidate pixels */
    size_t ni = (size_t)(w + 1) * (h + 1);
    long *ix = avk_xcalloc(ni, sizeof(long)), *iy = avk_xcalloc(ni, sizeof(long));
    for (int y = 0; y < h; y++) {
        long rx = 0, ry = 0;
        for (int x = 0; x < w; x++) {
            rx += cand[(size_t)y * w + x] == 1;
            ry += cand[(size_t)y * w + x] == 2;
            ix[(size_t)(y + 1) * (w + 1) + x + 1] = ix[(size_t)y * (w + 1) + x + 1] + rx;
            iy[(size_t)(y + 1) * (w + 1) + x + 1] = iy[(size_t)y * (w + 1) + x + 1] + ry;
        }
    }
    free(cand);
    int ww = w / 6 > 1 ? w / 6 : 1, wh = h / 6 > 1 ? h / 6 : 1;
    int sx = w / 24 > 1 ? w / 24 : 1, sy = h / 24 > 1 ? h / 24 : 1;
    double best = 0;
    for (int y = 0; y + wh <= h; y += sy)
        for (int x = 0; x + ww <= w; x += sx) {
            size_t a00 = (size_t)y * (w + 1) + x, a01 = a00 + ww;
            size_t a10 = (size_t)(y + wh) * (w + 1) + x, a11 = a10 + ww;
            long cx = ix[a11] - ix[a01] - ix[a10] + ix[a00];
            long cy = iy[a11] - iy[a01] - iy[a10] + iy[a00];
            /* both orientations: a logo or letters have edges across x and
             * across y; the edges a pan leaves in place (those along the
             * motion) all have one orientation */
            double d = 2.0 * (double)(cx < cy ? cx : cy) / ((double)ww * wh);
            if (d > best) {
                best = d;
                wm->x0 = x;
                wm->y0 = y;
                wm->x1 = x + ww;
                wm->y1 = y + wh;
            }
        }
    free(ix);
    free(iy);
    wm->density = best;
    return 1 - exp(-best / WM_DENS);
}

/* True when the box lies in one of the four corner regions. */
static int in_corner(const avk_text_box *b, int w, int h)
{
    int left = b->x1 <= 0.3 * w, right = b->x0 >= 0.7 * w;
    int top = b->y1 <= 0.25 * h, bottom = b->y0 >= 0.75 * h;
    return (left || right) && (top || bottom);
}

/* Boxes overlapping by at least half of the smaller one. */
static int same_place(const avk_text_box *a, const avk_text_box *b)
{
    int ix = (a->x1 < b->x1 ? a->x1 : b->x1) - (a->x0 > b->x0 ? a->x0 : b->x0);
    int iy = (a->y1 < b->y1 ? a->y1 : b->y1) - (a->y0 > b->y0 ? a->y0 : b->y0);
    if (ix <= 0 || iy <= 0)
        return 0;
    long sa = (long)(a->x1 - a->x0) * (a->y1 - a->y0), sb = (long)(b->x1 - b->x0) * (b->y1 - b->y0);
    return 2L * ix * iy >= (sa < sb ? sa : sb);
}

/* The text part: a corner word repeated at the same place. */
static double text_part(const avk_text_frame *text, int ntext, int w, int h)
{
    for (int f = 0; f < ntext; f++)
        for (int k = 0; k < text[f].nboxes; k++) {
            const avk_text_box *a = &text[f].boxes[k];
            if (a->nchars < WM_MIN_CHARS || !in_corner(a, w, h))
                continue;
            for (int g = f + 1; g < ntext; g++)
                for (int j = 0; j < text[g].nboxes; j++) {
                    const avk_text_box *b = &text[g].boxes[j];
                    if (b->nchars >= WM_MIN_CHARS && same_place(a, b))
                        return WM_TEXT;
                }
        }
    return 0;
}

/* Score n frames; see the top of this file. */
void avk_watermark_measure(const float *const *frames, int n, int w, int h,
                           const avk_text_frame *text, int ntext,
                           avk_watermark *wm)
{
    memset(wm, 0, sizeof *wm);
    wm->edge_score = n >= 2 ? edge_part(frames, n, w, h, wm) : 0;
    wm->text_score = text_part(text, ntext, w, h);
    wm->score = 1 - (1 - wm->edge_score) * (1 - wm->text_score);
}
