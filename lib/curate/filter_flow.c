/* Dense optical flow by pyramidal iterative Lucas-Kanade, and VBench's
 * dynamic-degree rule over it.
 *
 * Flow: both frames are smoothed (Gaussian sigma 0.7) and put in a
 * Gaussian pyramid (blur sigma 1, halve, down to a coarsest level of at
 * least 16 pixels). From the coarsest level down, the flow of the level
 * above is doubled and upsampled, then refined `iters` times: warp frame 2
 * by the current flow (Catmull-Rom cubic, since bilinear interpolation
 * low-passes the warped frame at sub-pixel offsets and biases the result
 * towards whole pixels), take It = I2w - I1 and the gradient (mean of the
 * central differences of I1 and I2w), sum Ix^2, IxIy, Iy^2, IxIt, IyIt in
 * a Gaussian window (sigma 2) around every pixel, leaving out pixels whose
 * target falls outside frame 2, and solve the regularized 2x2 system
 *   [Sxx+r Sxy; Sxy Syy+r] [du dv]' = -[Sxt Syt]'
 * for the increment (clamped to one pixel). After the iterations of a
 * level, a 3x3 median of the flow rejects outliers, and low-texture pixels
 * are blended towards a confidence-weighted average of their neighbours
 * (see lk_level). This is Lucas-Kanade (1981) made dense by computing the window
 * sums with a Gaussian filter, in Bouguet's coarse-to-fine scheme.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

/* Defaults documented in av-filter(1). */
void avk_flow_opts_default(avk_flow_opts *o)
{
    o->levels = 0;
    o->iters = 4;
    o->sigma = 2.0;
    o->reg = 1.0;
    o->fill = 0.3;
}

typedef struct level {
    int w, h;
    float *a, *b;
} level;

/* Central-difference gradient with clamped edges. */
static void gradient(const float *p, int w, int h, float *gx, float *gy)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int xl = x > 0 ? x - 1 : x, xr = x < w - 1 ? x + 1 : x;
            int yu = y > 0 ? y - 1 : y, yd = y < h - 1 ? y + 1 : y;
            gx[i] = (p[(size_t)y * w + xr] - p[(size_t)y * w + xl]) / (float)(xr - xl);
            gy[i] = (p[(size_t)yd * w + x] - p[(size_t)yu * w + x]) / (float)(yd - yu);
        }
}

/* Catmull-Rom cubic sample with clamped edges: the warp of frame 2.
 * Bilinear interpolation would low-pass the warped frame at sub-pixel
 * offsets and bias the estimate towards whole pixels. */
static float cubic_sample(const float *p, int w, int h, float x, float y)
{
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x > w - 1)
        x = (float)(w - 1);
    if (y > h - 1)
        y = (float)(h - 1);
    int xi = (int)x, yi = (int)y;
    float fx = x - xi, fy = y - yi, wx[4], wy[4];
    float t[2] = {fx, fy}, *wt[2] = {wx, wy};
    for (int d = 0; d < 2; d++) {
        float f = t[d], f2 = f * f, f3 = f2 * f;
        wt[d][0] = -0.5f * f3 + f2 - 0.5f * f;
        wt[d][1] = 1.5f * f3 - 2.5f * f2 + 1;
        wt[d][2] = -1.5f * f3 + 2 * f2 + 0.5f * f;
        wt[d][3] = 0.5f * f3 - 0.5f * f2;
    }
    float s = 0;
    for (int j = 0; j < 4; j++) {
        int yy = yi + j - 1 < 0 ? 0 : yi + j - 1 >= h ? h - 1 : yi + j - 1;
        const float *row = p + (size_t)yy * w;
        float r = 0;
        for (int i = 0; i < 4; i++) {
            int xx = xi + i - 1 < 0 ? 0 : xi + i - 1 >= w ? w - 1 : xi + i - 1;
            r += wx[i] * row[xx];
        }
        s += wy[j] * r;
    }
    return s;
}

#define SORT2(a, b) do { if ((a) > (b)) { float t_ = (a); (a) = (b); (b) = t_; } } while (0)

/* Median of 9 values by a fixed exchange network (19 compare-swaps). */
static float median9(float *p)
{
    SORT2(p[1], p[2]); SORT2(p[4], p[5]); SORT2(p[7], p[8]);
    SORT2(p[0], p[1]); SORT2(p[3], p[4]); SORT2(p[6], p[7]);
    SORT2(p[1], p[2]); SORT2(p[4], p[5]); SORT2(p[7], p[8]);
    SORT2(p[0], p[3]); SORT2(p[5], p[8]); SORT2(p[4], p[7]);
    SORT2(p[3], p[6]); SORT2(p[1], p[4]); SORT2(p[2], p[5]);
    SORT2(p[4], p[7]); SORT2(p[4], p[2]); SORT2(p[6], p[4]);
    SORT2(p[4], p[2]);
    return p[4];
}

/* 3x3 median of a plane (edges clamped), in place via a copy. */
static void median3(float *p, int w, int h)
{
    float *c = avk_xmalloc((size_t)w * h * sizeof(float));
    memcpy(c, p, (size_t)w * h * sizeof(float));
    for (int y = 0; y < h; y++) {
        const float *ru = c + (size_t)(y > 0 ? y - 1 : y) * w;
        const float *r0 = c + (size_t)y * w;
        const float *rd = c + (size_t)(y < h - 1 ? y + 1 : y) * w;
        for (int x = 0; x < w; x++) {
            int xl = x > 0 ? x - 1 : x, xr = x < w - 1 ? x + 1 : x;
            float a[9] = {ru[xl], ru[x], ru[xr], r0[xl], r0[x], r0[xr], rd[xl], rd[x], rd[xr]};
            p[(size_t)y * w + x] = median9(a);
        }
    }
    free(c);
}

/* Half-size the plane after a sigma-1 Gaussian blur. */
static void pyr_down(const float *src, int w, int h, float *dst, int dw, int dh)
{
    float *tmp = avk_xmalloc((size_t)w * h * sizeof(float));
    avk_plane_blur(src, w, h, 1.0, tmp);
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            dst[(size_t)y * dw + x] = avk_plane_sample(tmp, w, h,
                (x + 0.5f) * w / dw - 0.5f, (y + 0.5f) * h / dh - 0.5f);
    free(tmp);
}

/* Refine the flow (u, v) at one level by iterative Lucas-Kanade. The
 * gradient is the mean of frame 1's and the warped frame 2's (symmetric,
 * which converges in fewer steps), so the window sums are recomputed at
 * every iteration. After the last iteration, flow where the window has
 * little texture (small eigenvalue of the structure tensor) is blended
 * towards a confidence-weighted Gaussian average of its neighbours, so
 * flat areas take the motion of the textured areas around them. */
static void lk_level(const level *L, const avk_flow_opts *o, float *u, float *v)
{
    int w = L->w, h = L->h;
    size_t n = (size_t)w * h;
    float *gx1 = avk_xmalloc(n * sizeof(float)), *gy1 = avk_xmalloc(n * sizeof(float));
    float *b2 = avk_xmalloc(n * sizeof(float));
    float *sxx = avk_xmalloc(n * sizeof(float)), *sxy = avk_xmalloc(n * sizeof(float));
    float *syy = avk_xmalloc(n * sizeof(float)), *sxt = avk_xmalloc(n * sizeof(float));
    float *syt = avk_xmalloc(n * sizeof(float));
    gradient(L->a, w, h, gx1, gy1);
    for (int k = 0; k < o->iters; k++) {
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                float tx = x + u[i], ty = y + v[i];
                /* a target outside frame 2 has no match: masked below */
                b2[i] = tx < 0 || ty < 0 || tx > w - 1 || ty > h - 1 ? NAN
                        : cubic_sample(L->b, w, h, tx, ty);
            }
        gradient(b2, w, h, sxt, syt);
        for (size_t i = 0; i < n; i++) {
            if (isnan(sxt[i]) || isnan(syt[i]) || isnan(b2[i])) {
                sxx[i] = sxy[i] = syy[i] = sxt[i] = syt[i] = 0;
                continue;
            }
            float gx = 0.5f * (gx1[i] + sxt[i]), gy = 0.5f * (gy1[i] + syt[i]);
            float t = b2[i] - L->a[i];
            sxx[i] = gx * gx;
            sxy[i] = gx * gy;
            syy[i] = gy * gy;
            sxt[i] = gx * t;
            syt[i] = gy * t;
        }
        avk_plane_blur(sxx, w, h, o->sigma, sxx);
        avk_plane_blur(sxy, w, h, o->sigma, sxy);
        avk_plane_blur(syy, w, h, o->sigma, syy);
        avk_plane_blur(sxt, w, h, o->sigma, sxt);
        avk_plane_blur(syt, w, h, o->sigma, syt);
        for (size_t i = 0; i < n; i++) {
            double a = sxx[i] + o->reg, b = sxy[i], d = syy[i] + o->reg;
            double det = a * d - b * b;
            if (det <= 1e-9)
                continue;
            double du = -(d * sxt[i] - b * syt[i]) / det;
            double dv = -(a * syt[i] - b * sxt[i]) / det;
            /* a step larger than a pixel at this level is not trusted */
            du = du > 1 ? 1 : du < -1 ? -1 : du;
            dv = dv > 1 ? 1 : dv < -1 ? -1 : dv;
            u[i] += (float)du;
            v[i] += (float)dv;
        }
        /* a 3x3 median of the flow rejects single-pixel outliers (once a
         * level: every iteration costs a fifth of the time, gains nothing) */
        if (k == o->iters - 1) {
            median3(u, w, h);
            median3(v, w, h);
        }
    }
    /* confidence: smaller eigenvalue of the (last) structure tensor */
    float *c = b2, *cu = sxt, *cv = syt;
    double csum = 0;
    for (size_t i = 0; i < n; i++) {
        double tr = sxx[i] + syy[i], df = sxx[i] - syy[i];
        double lmin = 0.5 * (tr - sqrt(df * df + 4.0 * sxy[i] * sxy[i]));
        c[i] = (float)(lmin > 0 ? lmin : 0);
        csum += c[i];
        cu[i] = c[i] * u[i];
        cv[i] = c[i] * v[i];
    }
    double c0 = o->fill * csum / (double)n + 1e-6;
    memcpy(sxx, c, n * sizeof(float));
    avk_plane_blur(sxx, w, h, 4.0, sxx);
    avk_plane_blur(cu, w, h, 4.0, cu);
    avk_plane_blur(cv, w, h, 4.0, cv);
    for (size_t i = 0; i < n; i++) {
        if (sxx[i] <= 1e-12)
            continue;
        double wt = c[i] / (c[i] + c0);
        u[i] = (float)(wt * u[i] + (1 - wt) * cu[i] / sxx[i]);
        v[i] = (float)(wt * v[i] + (1 - wt) * cv[i] / sxx[i]);
    }
    free(gx1); free(gy1); free(b2); free(sxx); free(sxy); free(syy); free(sxt); free(syt);
}

/* Dense flow from i1 to i2; see the comment at the top of this file. */
int avk_flow_dense(const float *i1, const float *i2, int w, int h,
                   const avk_flow_opts *o, float *u, float *v)
{
    if (w < 8 || h < 8)
        return avk_error("flow: frame %dx%d too small (need 8x8)", w, h);
    level L[16];
    int nl = 1;
    L[0].w = w;
    L[0].h = h;
    L[0].a = avk_xmalloc((size_t)w * h * sizeof(float));
    L[0].b = avk_xmalloc((size_t)w * h * sizeof(float));
    avk_plane_blur(i1, w, h, 0.7, L[0].a);
    avk_plane_blur(i2, w, h, 0.7, L[0].b);
    int maxl = o->levels > 0 ? o->levels : 16;
    while (nl < maxl && nl < 16) {
        int pw = L[nl - 1].w, ph = L[nl - 1].h;
        int nw = (pw + 1) / 2, nh = (ph + 1) / 2;
        if ((o->levels <= 0 && (nw < 16 || nh < 16)) || nw < 4 || nh < 4)
            break;
        L[nl].w = nw;
        L[nl].h = nh;
        L[nl].a = avk_xmalloc((size_t)nw * nh * sizeof(float));
        L[nl].b = avk_xmalloc((size_t)nw * nh * sizeof(float));
        pyr_down(L[nl - 1].a, pw, ph, L[nl].a, nw, nh);
        pyr_down(L[nl - 1].b, pw, ph, L[nl].b, nw, nh);
        nl++;
    }
    float *cu = avk_xcalloc((size_t)L[nl - 1].w * L[nl - 1].h, sizeof(float));
    float *cv = avk_xcalloc((size_t)L[nl - 1].w * L[nl - 1].h, sizeof(float));
    for (int l = nl - 1; l >= 0; l--) {
        lk_level(&L[l], o, cu, cv);
        if (l == 0)
            break;
        /* upsample to the next finer level, scaling the vectors */
        int cw = L[l].w, ch = L[l].h, fw = L[l - 1].w, fh = L[l - 1].h;
        float *fu = avk_xmalloc((size_t)fw * fh * sizeof(float));
        float *fv = avk_xmalloc((size_t)fw * fh * sizeof(float));
        float sx = (float)fw / cw, sy = (float)fh / ch;
        for (int y = 0; y < fh; y++)
            for (int x = 0; x < fw; x++) {
                float cx = (x + 0.5f) / sx - 0.5f, cy = (y + 0.5f) / sy - 0.5f;
                fu[(size_t)y * fw + x] = sx * avk_plane_sample(cu, cw, ch, cx, cy);
                fv[(size_t)y * fw + x] = sy * avk_plane_sample(cv, cw, ch, cx, cy);
            }
        free(cu);
        free(cv);
        cu = fu;
        cv = fv;
    }
    memcpy(u, cu, (size_t)w * h * sizeof(float));
    memcpy(v, cv, (size_t)w * h * sizeof(float));
    free(cu);
    free(cv);
    for (int l = 0; l < nl; l++) {
        free(L[l].a);
        free(L[l].b);
    }
    return 0;
}

/* Reorder m so that its k largest values come first (Hoare's quickselect
 * with a median-of-three pivot: linear time, deterministic). */
static void select_largest(float *m, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        float a = m[lo], b = m[mid], c = m[hi];
        float pivot = a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
        size_t i = lo, j = hi;
        while (i <= j) {
            while (m[i] > pivot)
                i++;
            while (m[j] < pivot)
                j--;
            if (i <= j) {
                float t = m[i];
                m[i] = m[j];
                m[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        /* now m[lo..j] >= pivot >= m[i..hi] */
        if (k - 1 <= j && j != (size_t)-1)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            break;
    }
}

/* VBench's per-pair score: the mean of the largest frac*n magnitudes
 * (at least one). */
double avk_flow_top_mean(const float *u, const float *v, size_t n, double frac)
{
    if (n == 0)
        return 0;
    float *m = avk_xmalloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        m[i] = sqrtf(u[i] * u[i] + v[i] * v[i]);
    size_t k = (size_t)(n * frac);
    if (k < 1)
        k = 1;
    select_largest(m, n, k);
    double s = 0;
    for (size_t i = 0; i < k; i++)
        s += m[i];
    free(m);
    return s / (double)k;
}

/* VBench's frame step: one frame in round(fps/8), so about 8 a second. */
int avk_dynamic_step(double fps)
{
    /* rint rounds half to even, as Python's round() in VBench */
    double s = rint(fps / 8.0);
    return s < 1 ? 1 : (int)s;
}

/* VBench's check_move with its set_params; see filter.h. */
int avk_dynamic_decide(const double *pair_scores, int npairs, int nframes,
                       int short_side, double fps, double base, double count_base,
                       double *thres, int *above)
{
    double factor = fps > 0 && 8.0 / fps > 1.0 ? 8.0 / fps : 1.0;
    double t = factor * base * short_side / 256.0;
    long need = (long)rint(count_base * nframes / 16.0);
    if (need < 1)
        need = 1;
    int cnt = 0;
    for (int i = 0; i < npairs; i++)
        if (pair_scores[i] > t)
            cnt++;
    if (thres)
        *thres = t;
    if (above)
        *above = cnt;
    return cnt >= need;
}
