/* Watermarks: overlays (channel logos, corner bugs, stock-site text,
 * burned-in credits) that stay fixed on the screen while the camera moves
 * the picture under them. The seed paper uses a learned classifier we do
 * not have; this score tests, pixel by pixel, whether the picture is
 * better explained as standing still or as moving with the camera, and is
 * documented in av-filter(1):
 *
 *   F_k    frame k (n frames spread over the clip, first, middle and last
 *          among them) blurred with sigma 1 and brought to the clip's
 *          mean brightness and contrast: (F - mean_k) sd/sd_k + mean
 *   bars   rows and columns at the frame's edges that are flat and of
 *          one level through the clip (letterbox, pillarbox) are cut off:
 *          they stand still like an overlay, and what comes into view
 *          from under them was never seen
 *   T_k    the camera's motion between F_k+1 and F_k: an affine map
 *          fitted to the dense Lucas-Kanade flow of the pair at 128 pixels
 *          on the shorter side (least squares over the textured pixels
 *          that changed, reweighted four times so that the overlay and
 *          other outliers do not pull it), its shift then refined on the
 *          full frames (within 4 pixels, to a quarter pixel)
 *   s      |F_k+1(x) - F_k(x)|: the change at x if x stands still
 *   m      the least |F_k+1(x) - F_k(T_k x + d)| over the 3x3 offsets d
 *          of one pixel: the change at x if it moves with the camera,
 *          give or take a pixel
 *   A pixel takes part in pair k where the camera moved it by at least
 *   2 pixels (to a place inside the picture) and max(s, m) >= 10 (it has
 *   detail along the motion); it stands still in that pair when m >= 2 s.
 *   A pair counts only when the camera moved: in most cells of a 4x4 grid
 *   with at least 20 pixels taking part, more moved (s >= 2 m) than
 *   stood still.
 *   cand   a pixel that took part in at least 2 counted pairs and at
 *          least a third of them, stood still in 60% of
 *          them, and lies on a strong edge there (mean |gx| + |gy| of the
 *          Sobel gradient / 8 >= 8: the inside of a flat object moving
 *          across the picture stands still too, near its outline): counted as across x (sum |gx| >= sum |gy|)
 *          or across y
 *   dens   the largest 2 min(nx, ny) / area over windows of 1/6 of the
 *          frame's width and height (moved in steps of 1/24), nx and ny
 *          the candidates of each kind in the window: a logo or letters
 *          have edges of both kinds, while the edge of a letterbox bar,
 *          which also stands still, has one
 *   edge   = 1 - exp(-dens / 0.012)
 *   text   = 0.9 when a word of at least 3 letters or digits lies in a
 *          corner region (outer 30% of the width and 25% of the height),
 *          read the same at the same place (boxes whose intersection is
 *          70% of their union) in at least two of the OCR'd frames, else 0
 *   score  = 1 - (1 - edge)(1 - text)
 *
 * Only the camera's motion is tested: the pixels of a still scene, a
 * zoom's centre or an object the camera does not follow take no part, so
 * real footage with little or no camera motion has an edge part near 0
 * (its overlays are found by the text part only).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "avkit/util/common.h"
#include "avkit/curate/filter.h"

enum { WM_MIN_CHARS = 3, WM_FLOW_SIZE = 128, WM_FIT_ITERS = 4, WM_CELLS = 4, WM_CELL_VOTES = 20 };
static const double WM_MOVE = 2.0, WM_DETAIL = 10.0, WM_STILL_RATIO = 2.0;
static const double WM_STILL_FRAC = 0.6, WM_EDGE = 8.0, WM_DENS = 0.012, WM_TEXT = 0.9;
static const float WM_FIT_CHANGE = 4.0f;
static const double WM_ALIGN_CAP = 30.0;
static const double WM_BAR_RANGE = 12.0, WM_BAR_DRIFT = 4.0, WM_MARGIN = 3.0;

/* An affine motion in analysis pixels: the displacement of (x, y) is
 * (a[0] + a[1] X + a[2] Y, b[0] + b[1] X + b[2] Y) with X = (x - cx) / w,
 * Y = (y - cy) / w. */
typedef struct affine {
    double a[3], b[3];
    double cx, cy, scale;
} affine;

/* Solve the 3x3 system m z = r by Gaussian elimination with pivoting;
 * -1 when it is singular. */
static int solve3(double m[3][3], double r[3], double z[3])
{
    double a[3][4];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++)
            a[i][j] = m[i][j];
        a[i][3] = r[i];
    }
    for (int c = 0; c < 3; c++) {
        int p = c;
        for (int i = c + 1; i < 3; i++)
            if (fabs(a[i][c]) > fabs(a[p][c]))
                p = i;
        if (fabs(a[p][c]) < 1e-9)
            return -1;
        for (int j = 0; j < 4; j++) {
            double t = a[c][j];
            a[c][j] = a[p][j];
            a[p][j] = t;
        }
        for (int i = 0; i < 3; i++)
            if (i != c) {
                double f = a[i][c] / a[c][c];
                for (int j = c; j < 4; j++)
                    a[i][j] -= f * a[c][j];
            }
    }
    for (int i = 0; i < 3; i++)
        z[i] = a[i][3] / a[i][i];
    return 0;
}

/* Fit the camera's motion from frame f1 back to frame f0 (w x h): the
 * flow of the pair at a small size, then a weighted least-squares affine
 * fit over its textured pixels that changed, reweighted by the residuals
 * (Cauchy, 1 pixel). 0, or -1 when the frames are too small or too flat to tell. */
static int camera_motion(const float *f1, const float *f0, int w, int h, affine *t)
{
    int fw, fh;
    avk_fit_short_side(w, h, WM_FLOW_SIZE, 1, &fw, &fh);
    size_t ns = (size_t)fw * fh;
    float *s1 = avk_xmalloc(ns * sizeof(float)), *s0 = avk_xmalloc(ns * sizeof(float));
    float *u = avk_xmalloc(ns * sizeof(float)), *v = avk_xmalloc(ns * sizeof(float));
    float *wt = avk_xmalloc(ns * sizeof(float));
    avk_plane_resize(f1, w, h, s1, fw, fh);
    avk_plane_resize(f0, w, h, s0, fw, fh);
    avk_flow_opts fo;
    avk_flow_opts_default(&fo);
    /* each pixel's own flow: a large overlay's strong edges must not
     * lend their (zero) flow to the fainter picture around them */
    fo.fill = 0;
    int rc = -1;
    if (avk_flow_dense(s1, s0, fw, fh, &fo, u, v) < 0)
        goto out;
    /* textured pixels away from the border that changed: where the flow
     * means something, less what stood still (an opaque overlay, or the
     * still background of a shot whose camera did not move, which the
     * test of the cells in edge_part then finds) */
    size_t nw = 0;
    for (int y = 0; y < fh; y++)
        for (int x = 0; x < fw; x++) {
            size_t i = (size_t)y * fw + x;
            wt[i] = 0;
            if (x < 2 || y < 2 || x >= fw - 2 || y >= fh - 2)
                continue;
            float gx = s1[i + 1] - s1[i - 1], gy = s1[i + fw] - s1[i - fw];
            if (gx * gx + gy * gy >= 16.0f && fabsf(s1[i] - s0[i]) >= WM_FIT_CHANGE) {
                wt[i] = 1;
                nw++;
            }
        }
    if (nw < 64)
        goto out;
    double sx = (double)w / fw, sy = (double)h / fh;
    t->cx = 0.5 * (w - 1);
    t->cy = 0.5 * (h - 1);
    t->scale = 1.0 / w;
    memset(t->a, 0, sizeof t->a);
    memset(t->b, 0, sizeof t->b);
    for (int it = 0; it <= WM_FIT_ITERS; it++) {
        double m[3][3] = {{0}}, ru[3] = {0}, rv[3] = {0};
        for (int y = 0; y < fh; y++)
            for (int x = 0; x < fw; x++) {
                size_t i = (size_t)y * fw + x;
                if (wt[i] == 0)
                    continue;
                double X = (((x + 0.5) * sx - 0.5) - t->cx) * t->scale;
                double Y = (((y + 0.5) * sy - 0.5) - t->cy) * t->scale;
                double U = u[i] * sx, V = v[i] * sy, q = wt[i];
                if (it > 0) {
                    /* Cauchy weight of the residual of the last fit */
                    double eu = U - (t->a[0] + t->a[1] * X + t->a[2] * Y);
                    double ev = V - (t->b[0] + t->b[1] * X + t->b[2] * Y);
                    q /= 1.0 + eu * eu + ev * ev;
                }
                double z[3] = {1, X, Y};
                for (int r = 0; r < 3; r++) {
                    for (int c = 0; c < 3; c++)
                        m[r][c] += q * z[r] * z[c];
                    ru[r] += q * z[r] * U;
                    rv[r] += q * z[r] * V;
                }
            }
        if (solve3(m, ru, t->a) < 0 || solve3(m, rv, t->b) < 0)
            goto out;
    }
    rc = 0;
out:
    free(s1);
    free(s0);
    free(u);
    free(v);
    free(wt);
    return rc;
}

/* Sobel gradient (divided by 8: gray levels a pixel) at (x, y), edges
 * clamped. */
static void sobel_at(const float *b, int w, int h, int x, int y, float *gx, float *gy)
{
    int xl = x > 0 ? x - 1 : x, xr = x < w - 1 ? x + 1 : x;
    int yu = y > 0 ? y - 1 : y, yd = y < h - 1 ? y + 1 : y;
    const float *ru = b + (size_t)yu * w, *r = b + (size_t)y * w, *rd = b + (size_t)yd * w;
    *gx = ((ru[xr] + 2 * r[xr] + rd[xr]) - (ru[xl] + 2 * r[xl] + rd[xl])) / 8.0f;
    *gy = ((rd[xl] + 2 * rd[x] + rd[xr]) - (ru[xl] + 2 * ru[x] + ru[xr])) / 8.0f;
}

/* Truncated L1 distance between f1 and f0 moved by t shifted by (ox, oy),
 * over every third pixel of the box [x0, x1) x [y0, y1) whose target lies
 * in it: how well the motion explains the picture. */
static double align_cost(const float *f1, const float *f0, int w, int h, const affine *t,
                         double ox, double oy, int x0, int y0, int x1, int y1)
{
    double sum = 0;
    long cnt = 0;
    for (int y = y0; y < y1; y += 3) {
        double Y = (y - t->cy) * t->scale;
        for (int x = x0; x < x1; x += 3) {
            double X = (x - t->cx) * t->scale;
            double tx = x + t->a[0] + ox + t->a[1] * X + t->a[2] * Y;
            double ty = y + t->b[0] + oy + t->b[1] * X + t->b[2] * Y;
            if (tx < x0 || ty < y0 || tx > x1 - 1 || ty > y1 - 1)
                continue;
            double d = fabs(f1[(size_t)y * w + x] - avk_plane_sample(f0, w, h, (float)tx, (float)ty));
            sum += d < WM_ALIGN_CAP ? d : WM_ALIGN_CAP;
            cnt++;
        }
    }
    return cnt ? sum / cnt : 1e30;
}

/* Refine the shift of the fitted motion on the full-size frames: the
 * flow at 128 pixels can be off by a few pixels, which would leave the
 * detail of a moving picture looking still. Whole pixels within 4, then
 * half and quarter pixels around the best. */
static void refine_shift(const float *f1, const float *f0, int w, int h, affine *t,
                         int x0, int y0, int x1, int y1)
{
    double bx = 0, by = 0, best = align_cost(f1, f0, w, h, t, 0, 0, x0, y0, x1, y1);
    for (double step = 1; step >= 0.25; step /= 2) {
        int r = step == 1 ? 4 : 1;
        double cx = bx, cy = by;
        for (int j = -r; j <= r; j++)
            for (int i = -r; i <= r; i++) {
                if (!i && !j)
                    continue;
                double c = align_cost(f1, f0, w, h, t, cx + i * step, cy + j * step, x0, y0, x1, y1);
                if (c < best) {
                    best = c;
                    bx = cx + i * step;
                    by = cy + j * step;
                }
            }
    }
    t->a[0] += bx;
    t->b[0] += by;
}

/* The change at a pixel of value f1 if it moved with the camera from
 * (tx, ty) of f0, give or take a pixel (the least over the 3x3 places
 * around it): a fitted motion a little off, or a picture that moves a
 * little differently (parallax), still counts as moving. */
static float moved_change(const float *f0, int w, int h, float f1, double tx, double ty)
{
    float best = 1e30f;
    for (int j = -1; j <= 1; j++)
        for (int i = -1; i <= 1; i++) {
            float d = fabsf(f1 - avk_plane_sample(f0, w, h, (float)(tx + i), (float)(ty + j)));
            best = d < best ? d : best;
        }
    return best;
}

/* True when row y (or column x, with stride) of every frame is a flat band
 * of one level through the clip: a letterbox or pillarbox bar. */
static int is_bar(const float *const *frames, int n, size_t off, size_t stride, int len)
{
    double first = 0;
    for (int k = 0; k < n; k++) {
        const float *p = frames[k] + off;
        float lo = p[0], hi = p[0];
        double sum = 0;
        for (int j = 0; j < len; j++) {
            float v = p[(size_t)j * stride];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            sum += v;
        }
        if (hi - lo >= WM_BAR_RANGE)
            return 0;
        if (k == 0)
            first = sum / len;
        else if (fabs(sum / len - first) >= WM_BAR_DRIFT)
            return 0;
    }
    return 1;
}

/* The active picture [x0, x1) x [y0, y1): the frame less the bars at its
 * edges; the whole frame when the bars would leave less than half of it
 * (a flat picture). */
static void active_area(const float *const *frames, int n, int w, int h,
                        int *x0, int *y0, int *x1, int *y1)
{
    int t = 0, b = h, l = 0, r = w;
    while (t < b && is_bar(frames, n, (size_t)t * w, 1, w))
        t++;
    while (b > t && is_bar(frames, n, (size_t)(b - 1) * w, 1, w))
        b--;
    while (b > t && l < r && is_bar(frames, n, (size_t)t * w + l, (size_t)w, b - t))
        l++;
    while (b > t && r > l && is_bar(frames, n, (size_t)t * w + r - 1, (size_t)w, b - t))
        r--;
    if (2 * (b - t) < h || 2 * (r - l) < w) {
        t = 0, b = h, l = 0, r = w;
    }
    *x0 = l, *y0 = t, *x1 = r, *y1 = b;
}

/* The edge part: densest window of pixels that stand still while the
 * camera moves the picture around them. */
static double edge_part(const float *const *frames, int n, int w, int h, avk_watermark *wm)
{
    size_t np = (size_t)w * h;
    float *bl = avk_xmalloc(np * n * sizeof(float));
    /* frames brought to the clip's mean brightness and contrast first, so
     * that a fade or an exposure change is not taken for motion */
    double *mu = avk_xmalloc((size_t)n * sizeof(double)), *sd = avk_xmalloc((size_t)n * sizeof(double));
    double mu_all = 0, sd_all = 0;
    for (int k = 0; k < n; k++) {
        avk_plane_blur(frames[k], w, h, 1.0, bl + np * k);
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
    }
    free(mu);
    free(sd);
    /* the picture inside letterbox or pillarbox bars: a bar stands still
     * like an overlay, and what comes into view from under it was never
     * seen, so neither the bars nor what they border take part */
    int ax0, ay0, ax1, ay1;
    active_area(frames, n, w, h, &ax0, &ay0, &ax1, &ay1);
    double lo_x = ax0 + WM_MARGIN, hi_x = ax1 - 1 - WM_MARGIN;
    double lo_y = ay0 + WM_MARGIN, hi_y = ay1 - 1 - WM_MARGIN;
    /* per pixel: pairs taken part in, pairs stood still, and the summed
     * |gx|, |gy| where it stood still */
    uint8_t *part = avk_xcalloc(np, 1), *still = avk_xcalloc(np, 1);
    uint8_t *code = avk_xmalloc(np);
    float *sgx = avk_xcalloc(np, sizeof(float)), *sgy = avk_xcalloc(np, sizeof(float));
    int moved = 0;
    for (int k = 0; k + 1 < n; k++) {
        const float *b0 = bl + np * k, *b1 = bl + np * (k + 1);
        affine t;
        if (camera_motion(b1, b0, w, h, &t) < 0)
            continue;
        refine_shift(b1, b0, w, h, &t, ax0, ay0, ax1, ay1);
        /* 1: took part and moved with the camera, 2: took part and stood
         * still */
        long movers[WM_CELLS * WM_CELLS] = {0}, stayers[WM_CELLS * WM_CELLS] = {0};
        memset(code, 0, np);
        for (int y = 0; y < h; y++) {
            double Y = (y - t.cy) * t.scale;
            for (int x = 0; x < w; x++) {
                double X = (x - t.cx) * t.scale;
                double dx = t.a[0] + t.a[1] * X + t.a[2] * Y;
                double dy = t.b[0] + t.b[1] * X + t.b[2] * Y;
                if (dx * dx + dy * dy < WM_MOVE * WM_MOVE)
                    continue;
                double tx = x + dx, ty = y + dy;
                if (x < lo_x || y < lo_y || x > hi_x || y > hi_y ||
                    tx < lo_x || ty < lo_y || tx > hi_x || ty > hi_y)
                    continue;
                size_t i = (size_t)y * w + x;
                float f1 = b1[i];
                float s = fabsf(f1 - b0[i]);
                float m = moved_change(b0, w, h, f1, tx, ty);
                if ((s > m ? s : m) < WM_DETAIL)
                    continue;
                code[i] = m >= WM_STILL_RATIO * s ? 2 : 1;
                int cell = (y - ay0) * WM_CELLS / (ay1 - ay0) * WM_CELLS + (x - ax0) * WM_CELLS / (ax1 - ax0);
                movers[cell] += s >= WM_STILL_RATIO * m;
                stayers[cell] += code[i] == 2;
            }
        }
        /* the camera moved only when the picture did: in most of the
         * cells of a 4x4 grid that show detail, more of it follows the
         * fitted motion than stands still (an overlay fills a few cells;
         * a still camera over moving objects fits a motion that most of
         * the picture does not follow) */
        int cm = 0, cs = 0;
        for (int c = 0; c < WM_CELLS * WM_CELLS; c++)
            if (movers[c] + stayers[c] >= WM_CELL_VOTES) {
                cm += movers[c] > stayers[c];
                cs += movers[c] <= stayers[c];
            }
        avk_info(3, "watermark: pair %d: shift %.1f,%.1f; cells moved %d, still %d",
                 k, t.a[0], t.b[0], cm, cs);
        if (cm <= cs)
            continue;
        moved++;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                if (!code[i])
                    continue;
                part[i]++;
                if (code[i] == 2) {
                    float gx, gy;
                    sobel_at(b1, w, h, x, y, &gx, &gy);
                    still[i]++;
                    sgx[i] += fabsf(gx);
                    sgy[i] += fabsf(gy);
                }
            }
    }
    free(code);
    free(bl);
    uint8_t *cand = avk_xcalloc(np, 1);
    int need = moved / 3 > 2 ? moved / 3 : 2;
    for (size_t i = 0; i < np; i++) {
        if (part[i] < need || still[i] < WM_STILL_FRAC * part[i])
            continue;
        if ((sgx[i] + sgy[i]) / still[i] < WM_EDGE)
            continue;
        cand[i] = sgx[i] >= sgy[i] ? 1 : 2;
    }
    free(part);
    free(still);
    free(sgx);
    free(sgy);
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
             * across y; the edge of a letterbox bar has one */
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
    avk_info(2, "watermark: %d of %d pairs moved; densest window %d,%d-%d,%d: %.4f",
             moved, n - 1, wm->x0, wm->y0, wm->x1, wm->y1, best);
    return 1 - exp(-best / WM_DENS);
}

/* True when the box lies in one of the four corner regions. */
static int in_corner(const avk_text_box *b, int w, int h)
{
    int left = b->x1 <= 0.3 * w, right = b->x0 >= 0.7 * w;
    int top = b->y1 <= 0.25 * h, bottom = b->y0 >= 0.75 * h;
    return (left || right) && (top || bottom);
}

/* Boxes at the same place: their intersection is at least 70% of their
 * union (a word of a fixed overlay is read at the same pixels; one of
 * the picture moves with it). */
static int same_place(const avk_text_box *a, const avk_text_box *b)
{
    int ix = (a->x1 < b->x1 ? a->x1 : b->x1) - (a->x0 > b->x0 ? a->x0 : b->x0);
    int iy = (a->y1 < b->y1 ? a->y1 : b->y1) - (a->y0 > b->y0 ? a->y0 : b->y0);
    if (ix <= 0 || iy <= 0)
        return 0;
    long sa = (long)(a->x1 - a->x0) * (a->y1 - a->y0), sb = (long)(b->x1 - b->x0) * (b->y1 - b->y0);
    long inter = (long)ix * iy;
    return 10 * inter >= 7 * (sa + sb - inter);
}

/* Letters and digits in a UTF-8 word: ASCII letters and digits, and any
 * character from U+00C0 on (punctuation and symbols such as the
 * guillemets that OCR reads into texture are not counted). */
static int letters(const char *word)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)word; *p; ) {
        if (*p < 0x80) {
            n += (*p >= '0' && *p <= '9') || ((*p | 32) >= 'a' && (*p | 32) <= 'z');
            p++;
            continue;
        }
        /* a lead byte: decode the code point, skip its continuation bytes */
        unsigned cp = *p >= 0xF0 ? *p & 7u : *p >= 0xE0 ? *p & 15u : *p & 31u;
        for (p++; (*p & 0xC0) == 0x80; p++)
            cp = cp << 6 | (*p & 63u);
        n += cp >= 0xC0;
    }
    return n;
}

/* The text part: a corner word read the same at the same place (a
 * running timecode, read differently in every frame, is no mark). */
static double text_part(const avk_text_frame *text, int ntext, int w, int h)
{
    for (int f = 0; f < ntext; f++)
        for (int k = 0; k < text[f].nboxes; k++) {
            const avk_text_box *a = &text[f].boxes[k];
            if (letters(a->word) < WM_MIN_CHARS || !in_corner(a, w, h))
                continue;
            for (int g = f + 1; g < ntext; g++)
                for (int j = 0; j < text[g].nboxes; j++) {
                    const avk_text_box *b = &text[g].boxes[j];
                    if (same_place(a, b) && !strcmp(a->word, b->word)) {
                        avk_info(2, "watermark: corner word '%s' at %d,%d-%d,%d in frames %d and %d",
                                 a->word, a->x0, a->y0, a->x1, a->y1, f, g);
                        return WM_TEXT;
                    }
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
