/* Shot boundary detection and event stitching over small RGB frames. See
 * include/avkit/shotdetect.h and the formulas in av-shotcut(1).
 *
 * Per frame, one pass over the analysis-size frame gives: the HSV planes
 * (kept for the next frame's content score), the mean intensity, a 16x12
 * HSV thumbnail, a 4x4 RGB layout and HSV histograms. Decisions are taken
 * at the end over these per-frame arrays, so the detectors can look ahead
 * (flash suppression, gradual transitions) without keeping frames.
 */
#include "avkit/shotdetect.h"
#include "avkit/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TW 16                   /* thumbnail columns */
#define TH 12                   /* thumbnail rows */
#define TPIX (TW * TH)
#define TBYTES (3 * TPIX)       /* RGB, interleaved */
#define LW 4                    /* layout cells a side */
#define LAYOUT (3 * LW * LW)    /* RGB means of 4x4 cells */
#define HBINS 16
#define SBINS 8
#define VBINS 8
#define HIST (HBINS + SBINS + VBINS)
#define MAX_STRAY 0.18          /* motion, not a blend, above this */

/* Fill p with the documented defaults. */
void avk_shot_params_default(avk_shot_params *p)
{
    memset(p, 0, sizeof *p);
    p->detector = AVK_DETECT_ADAPTIVE;
    p->w_hue = p->w_sat = p->w_lum = 1.0;
    p->w_edges = 0.0;
    p->adaptive_threshold = 3.0;
    p->min_content = 21.0;
    p->window = 2;
    p->threshold = 27.0;
    p->fade_threshold = 12.0;
    p->min_shot = 15;
    p->flash_filter = 1;
    p->flash_len = 8;
    p->gradual = 1;
    p->max_transition = 32;
    p->gradual_ratio = 3.0;
    p->gradual_min = 30.0;
    p->stitch = 0.6;
    p->stitch_frames = 8;
}

/* ---- colour conversion ----------------------------------------------- */

/* Functions the per-frame work spends its time in are built for AVX2 too,
 * picked at load time where the CPU has it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AVK_HOT __attribute__((target_clones("avx2", "default"), optimize("O3")))
#else
#define AVK_HOT
#endif

/* A row of RGB24 pixels to OpenCV's 8-bit HSV, branch-free so that it
 * vectorizes: V = max, S = round(255 d / V), H = round(30 num / d) + the
 * sector's offset, num and the offset keeping the sum non-negative (d =
 * max - min; hue degrees halved, in [0, 180)). */
AVK_HOT
static void hsv_row(const uint8_t *restrict rgb, int n, uint8_t *restrict H,
                    uint8_t *restrict S, uint8_t *restrict V)
{
    for (int i = 0; i < n; i++) {
        int r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        int mx = r > g ? r : g, mn = r < g ? r : g;
        mx = b > mx ? b : mx;
        mn = b < mn ? b : mn;
        int d = mx - mn;
        /* Sector masks: red max (0 deg, +360 so the sum stays positive),
         * else green max (120 deg), else blue max (240 deg); in units of d. */
        int isr = -(mx == r), isg = -(mx == g) & ~isr, isb = ~isr & ~isg;
        int num = (isr & (g - b + 6 * d)) | (isg & (b - r + 2 * d)) | (isb & (r - g + 4 * d));
        float df = (float)(d + (d == 0)), mf = (float)(mx + (mx == 0));
        int h = (int)((float)num * 30.0f / df + 0.5f);
        h -= 180 & -(h >= 180);
        H[i] = (uint8_t)(h & -(d > 0));
        S[i] = (uint8_t)(int)((float)d * 255.0f / mf + 0.5f);
        V[i] = (uint8_t)mx;
    }
}

/* RGB24 to OpenCV-compatible 8-bit HSV planes. */
void avk_rgb_to_hsv(const uint8_t *rgb, size_t npix, uint8_t *h, uint8_t *s, uint8_t *v)
{
    while (npix > 0) {
        int n = npix > (1u << 20) ? (1 << 20) : (int)npix;
        hsv_row(rgb, n, h, s, v);
        rgb += 3 * (size_t)n;
        h += n;
        s += n;
        v += n;
        npix -= (size_t)n;
    }
}

/* Planar R, G, B to OpenCV's 8-bit HSV, as hsv_row does for packed RGB
 * (unit strides, so it vectorizes fully). */
AVK_HOT
static void hsv_planar(const uint8_t *restrict R, const uint8_t *restrict G,
                       const uint8_t *restrict B, int n, uint8_t *restrict H,
                       uint8_t *restrict S, uint8_t *restrict V)
{
    for (int i = 0; i < n; i++) {
        int r = R[i], g = G[i], b = B[i];
        int mx = r > g ? r : g, mn = r < g ? r : g;
        mx = b > mx ? b : mx;
        mn = b < mn ? b : mn;
        int d = mx - mn;
        int isr = -(mx == r), isg = -(mx == g) & ~isr, isb = ~isr & ~isg;
        int num = (isr & (g - b + 6 * d)) | (isg & (b - r + 2 * d)) | (isb & (r - g + 4 * d));
        float df = (float)(d + (d == 0)), mf = (float)(mx + (mx == 0));
        int h = (int)((float)num * 30.0f / df + 0.5f);
        h -= 180 & -(h >= 180);
        H[i] = (uint8_t)(h & -(d > 0));
        S[i] = (uint8_t)(int)((float)d * 255.0f / mf + 0.5f);
        V[i] = (uint8_t)mx;
    }
}

/* Packed RGB24 into three planes. */
AVK_HOT
static void deinterleave(const uint8_t *restrict rgb, int n, uint8_t *restrict R,
                         uint8_t *restrict G, uint8_t *restrict B)
{
    for (int i = 0; i < n; i++) {
        R[i] = rgb[3 * i];
        G[i] = rgb[3 * i + 1];
        B[i] = rgb[3 * i + 2];
    }
}

/* One row of 4:2:0 YUV (limited range) to planar RGB with the BT.601
 * matrix in 16.16 fixed point: R = 1.164 (Y-16) + 1.596 (V-128),
 * G = 1.164 (Y-16) - 0.392 (U-128) - 0.813 (V-128),
 * B = 1.164 (Y-16) + 2.017 (U-128), clamped to 0..255. cr, cg, cb hold
 * the chroma terms, one per pixel (w ints each). */
AVK_HOT
static void yuv_row(const uint8_t *restrict Y, const uint8_t *restrict U,
                    const uint8_t *restrict V, int w, uint8_t *restrict R,
                    uint8_t *restrict G, uint8_t *restrict B, int32_t *restrict cr,
                    int32_t *restrict cg, int32_t *restrict cb)
{
    int cw = (w + 1) / 2;
    for (int c = 0; c < cw; c++) {
        int u = U[c] - 128, v = V[c] - 128;
        int32_t r = 104597 * v + 32768, g = -25675 * u - 53279 * v + 32768,
                b = 132201 * u + 32768;
        cr[2 * c] = cr[2 * c + 1] = r;
        cg[2 * c] = cg[2 * c + 1] = g;
        cb[2 * c] = cb[2 * c + 1] = b;
    }
    for (int x = 0; x < w; x++) {
        int y = (Y[x] - 16) * 76309;
        int r = (y + cr[x]) >> 16, g = (y + cg[x]) >> 16, b = (y + cb[x]) >> 16;
        R[x] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        G[x] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
        B[x] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
    }
}

/* Sum of n bytes. */
AVK_HOT
static uint64_t sum_bytes(const uint8_t *p, size_t n)
{
    uint64_t total = 0;
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > (1u << 23) ? i + (1u << 23) : n;
        uint32_t part = 0;
        for (; i < end; i++)
            part += p[i];
        total += part;
    }
    return total;
}

/* Mean absolute difference of two byte planes. */
AVK_HOT
double avk_mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n == 0)
        return 0.0;
    uint64_t total = 0;
    size_t i = 0;
    while (i < n) {
        /* 32-bit partial sums vectorize; flush before they can overflow. */
        size_t end = n - i > (1u << 23) ? i + (1u << 23) : n;
        uint32_t part = 0;
        for (; i < end; i++) {
            int d = (int)a[i] - (int)b[i];
            part += (uint32_t)(d < 0 ? -d : d);
        }
        total += part;
    }
    return (double)total / (double)n;
}

/* ---- edges (optional score component) --------------------------------- */

/* Binary edge map of a luma plane: 255 where the Sobel L1 gradient
 * magnitude is at least (1 + 1/3) * median(V), then dilated with a k x k
 * box (k = 4 + round(sqrt(w h) / 192), made odd, as PySceneDetect sizes its
 * kernel). tmp holds w*h bytes. */
static void edge_map(const uint8_t *lum, int w, int h, uint8_t *out, uint8_t *tmp)
{
    uint32_t hist[256] = {0};
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        hist[lum[i]]++;
    size_t acc = 0;
    int median = 0;
    for (int i = 0; i < 256; i++) {
        acc += hist[i];
        if (acc * 2 >= n) { median = i; break; }
    }
    int high = (int)((1.0 + 1.0 / 3.0) * median);
    if (high < 1) high = 1;
    memset(tmp, 0, n);
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            const uint8_t *p = lum + (size_t)y * w + x;
            int gx = (p[-w + 1] + 2 * p[1] + p[w + 1]) - (p[-w - 1] + 2 * p[-1] + p[w - 1]);
            int gy = (p[w - 1] + 2 * p[w] + p[w + 1]) - (p[-w - 1] + 2 * p[-w] + p[-w + 1]);
            int mag = (gx < 0 ? -gx : gx) + (gy < 0 ? -gy : gy);
            tmp[(size_t)y * w + x] = mag >= 4 * high ? 255 : 0;
        }
    int k = 4 + (int)lround(sqrt((double)w * h) / 192.0);
    if (k % 2 == 0) k++;
    int r = k / 2;
    /* Separable max filter: rows into out, then columns back into tmp. */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t m = 0;
            for (int dx = -r; dx <= r; dx++) {
                int xx = x + dx;
                if (xx >= 0 && xx < w && tmp[(size_t)y * w + xx] > m) m = tmp[(size_t)y * w + xx];
            }
            out[(size_t)y * w + x] = m;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t m = 0;
            for (int dy = -r; dy <= r; dy++) {
                int yy = y + dy;
                if (yy >= 0 && yy < h && out[(size_t)yy * w + x] > m) m = out[(size_t)yy * w + x];
            }
            tmp[(size_t)y * w + x] = m;
        }
    memcpy(out, tmp, n);
}

/* ---- decision rules on per-frame arrays ------------------------------- */

/* Ratio of each frame's score to the mean of its window neighbours. */
void avk_adaptive_ratios(const float *score, size_t n, int window, double min_content,
                         float *ratio)
{
    for (size_t i = 0; i < n; i++) {
        ratio[i] = 0.0f;
        if (window < 1 || i < (size_t)window || i + (size_t)window >= n)
            continue;
        double sum = 0.0;
        for (int d = 1; d <= window; d++)
            sum += score[i - d] + score[i + d];
        double mean = sum / (2.0 * window);
        if (fabs(mean) < 1e-5)
            ratio[i] = score[i] >= min_content ? 255.0f : 0.0f;
        else
            ratio[i] = (float)fmin(score[i] / mean, 255.0);
    }
}

/* Fade-out / fade-in pairs of the mean intensity around a threshold. */
size_t avk_fade_cuts(const float *mean, size_t n, double threshold, int64_t *cut,
                     int64_t *dark_start, int64_t *dark_end, size_t max)
{
    size_t nc = 0;
    if (n == 0)
        return 0;
    int dark = mean[0] < threshold;
    int64_t last = 0;
    for (size_t i = 1; i < n; i++) {
        if (!dark && mean[i] < threshold) {
            dark = 1;
            last = (int64_t)i;
        } else if (dark && mean[i] >= threshold) {
            dark = 0;
            if (nc < max) {
                cut[nc] = (last + (int64_t)i) / 2;
                dark_start[nc] = last;
                dark_end[nc] = (int64_t)i;
                nc++;
            }
            last = (int64_t)i;
        }
    }
    return nc;
}

/* Drop cuts that come sooner than min_shot frames after the last kept one. */
size_t avk_enforce_min_shot(int64_t *cut, int64_t *ts, int64_t *te, size_t n, int min_shot)
{
    size_t k = 0;
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (cut[i] <= 0 || cut[i] - last < min_shot)
            continue;
        cut[k] = cut[i];
        if (ts) ts[k] = ts[i];
        if (te) te[k] = te[i];
        last = cut[k];
        k++;
    }
    return k;
}

/* ---- the analyzer ----------------------------------------------------- */

struct avk_shot_analyzer {
    avk_shot_params p;
    int w, h;
    size_t npix;
    uint8_t *hsv[2];            /* H, S, V planes of the previous / current frame */
    uint8_t *edges[2];          /* edge maps when w_edges != 0 */
    uint8_t *tmp;
    uint8_t *rgbp;              /* the frame as R, G, B planes */
    int32_t *chroma;            /* 3 rows of chroma terms for 4:2:0 input */
    int cur;
    int64_t n, cap;
    float *score;               /* content score vs the previous frame */
    float *mean;                /* mean of R, G, B */
    uint8_t *thumb;             /* TBYTES a frame */
    float *layout;              /* LAYOUT a frame */
    float *hist;                /* HIST a frame, fractions */
    int *cell_x, *cell_y;       /* thumbnail cell of each column / row */
    uint32_t *cell_sum;         /* 3 * TPIX sums */
    uint32_t cell_count[TPIX];
};

/* A new analyzer for width x height RGB24 frames. */
avk_shot_analyzer *avk_shot_analyzer_new(int width, int height, const avk_shot_params *p)
{
    if (width < 8 || height < 8 || width > 8192 || height > 8192) {
        avk_error("shot detection: frame size %dx%d out of range (8..8192)", width, height);
        return NULL;
    }
    if (p->window < 1 || p->min_shot < 0 || p->flash_len < 1 || p->stitch_frames < 1 ||
        p->max_transition < 4) {
        avk_error("shot detection: bad parameters");
        return NULL;
    }
    avk_shot_analyzer *a = avk_xcalloc(1, sizeof *a);
    a->p = *p;
    a->w = width;
    a->h = height;
    a->npix = (size_t)width * height;
    for (int i = 0; i < 2; i++) {
        a->hsv[i] = avk_xmalloc(3 * a->npix);
        if (p->w_edges != 0.0)
            a->edges[i] = avk_xmalloc(a->npix);
    }
    if (p->w_edges != 0.0)
        a->tmp = avk_xmalloc(a->npix);
    a->rgbp = avk_xmalloc(3 * a->npix);
    a->chroma = avk_xmalloc(sizeof(int32_t) * 3 * (size_t)(width + 1));
    a->cell_x = avk_xmalloc(sizeof(int) * width);
    a->cell_y = avk_xmalloc(sizeof(int) * height);
    for (int x = 0; x < width; x++)
        a->cell_x[x] = x * TW / width;
    for (int y = 0; y < height; y++)
        a->cell_y[y] = y * TH / height;
    memset(a->cell_count, 0, sizeof a->cell_count);
    for (int y = 0; y < height; y += 2)
        for (int x = 0; x < width; x += 2)
            a->cell_count[a->cell_y[y] * TW + a->cell_x[x]]++;
    a->cell_sum = avk_xmalloc(sizeof(uint32_t) * 3 * TPIX);
    return a;
}

/* Grow the per-frame arrays to hold one more frame. */
static void grow(avk_shot_analyzer *a)
{
    if (a->n < a->cap)
        return;
    a->cap = a->cap ? a->cap * 2 : 1024;
    a->score = avk_xrealloc(a->score, sizeof(float) * a->cap);
    a->mean = avk_xrealloc(a->mean, sizeof(float) * a->cap);
    a->thumb = avk_xrealloc(a->thumb, (size_t)TBYTES * a->cap);
    a->layout = avk_xrealloc(a->layout, sizeof(float) * LAYOUT * a->cap);
    a->hist = avk_xrealloc(a->hist, sizeof(float) * HIST * a->cap);
}

/* Analyse the frame in a->rgbp: HSV planes, content score, mean,
 * thumbnail, layout, histograms. */
static void analyze_planes(avk_shot_analyzer *a)
{
    const uint8_t *R = a->rgbp, *G = R + a->npix, *B = G + a->npix;
    grow(a);
    int64_t f = a->n;
    const avk_shot_params *p = &a->p;
    uint8_t *H = a->hsv[a->cur], *S = H + a->npix, *V = S + a->npix;
    uint32_t hh[HBINS] = {0}, sh[SBINS] = {0}, vh[VBINS] = {0};
    uint32_t nsamp = 0;
    hsv_planar(R, G, B, (int)a->npix, H, S, V);
    a->mean[f] = (float)((double)sum_bytes(a->rgbp, 3 * a->npix) / (3.0 * a->npix));
    /* Histograms, thumbnail cells and layout on every other pixel of every
     * other row: they are averages, a quarter of the pixels is plenty. */
    memset(a->cell_sum, 0, sizeof(uint32_t) * 3 * TPIX);
    for (int y = 0; y < a->h; y += 2) {
        size_t o = (size_t)y * a->w;
        uint32_t *cs = a->cell_sum + 3 * TW * a->cell_y[y];
        for (int x = 0; x < a->w; x += 2) {
            uint32_t *c = cs + 3 * a->cell_x[x];
            c[0] += R[o + x];
            c[1] += G[o + x];
            c[2] += B[o + x];
            hh[H[o + x] * HBINS / 180]++;
            sh[S[o + x] * SBINS / 256]++;
            vh[V[o + x] * VBINS / 256]++;
            nsamp++;
        }
    }

    /* Thumbnail (HSV of cell means) and layout (RGB means of 4x4 groups). */
    uint8_t cellrgb[3 * TPIX];
    float *lay = a->layout + (size_t)LAYOUT * f;
    memset(lay, 0, sizeof(float) * LAYOUT);
    for (int c = 0; c < TPIX; c++) {
        uint32_t cnt = a->cell_count[c] ? a->cell_count[c] : 1;
        int li = ((c / TW) * LW / TH) * LW + (c % TW) * LW / TW;
        for (int k = 0; k < 3; k++) {
            cellrgb[3 * c + k] = (uint8_t)((a->cell_sum[3 * c + k] + cnt / 2) / cnt);
            lay[3 * li + k] += (float)a->cell_sum[3 * c + k] / cnt / (TPIX / (LW * LW));
        }
    }
    memcpy(a->thumb + (size_t)TBYTES * f, cellrgb, TBYTES);

    float *hs = a->hist + (size_t)HIST * f;
    for (int i = 0; i < HBINS; i++) hs[i] = (float)hh[i] / nsamp;
    for (int i = 0; i < SBINS; i++) hs[HBINS + i] = (float)sh[i] / nsamp;
    for (int i = 0; i < VBINS; i++) hs[HBINS + SBINS + i] = (float)vh[i] / nsamp;

    if (p->w_edges != 0.0)
        edge_map(V, a->w, a->h, a->edges[a->cur], a->tmp);

    if (f == 0) {
        a->score[f] = 0.0f;
    } else {
        const uint8_t *P = a->hsv[!a->cur];
        double dh = avk_mean_abs_diff(H, P, a->npix);
        double ds = avk_mean_abs_diff(S, P + a->npix, a->npix);
        double dv = avk_mean_abs_diff(V, P + 2 * a->npix, a->npix);
        double de = p->w_edges != 0.0 ?
            avk_mean_abs_diff(a->edges[a->cur], a->edges[!a->cur], a->npix) : 0.0;
        double wsum = fabs(p->w_hue) + fabs(p->w_sat) + fabs(p->w_lum) + fabs(p->w_edges);
        a->score[f] = (float)((p->w_hue * dh + p->w_sat * ds + p->w_lum * dv + p->w_edges * de) /
                              (wsum > 0 ? wsum : 1.0));
    }
    a->cur = !a->cur;
    a->n++;
}

/* Add a packed RGB24 frame. */
void avk_shot_analyzer_add(avk_shot_analyzer *a, const uint8_t *rgb)
{
    deinterleave(rgb, (int)a->npix, a->rgbp, a->rgbp + a->npix, a->rgbp + 2 * a->npix);
    analyze_planes(a);
}

/* Add a planar 4:2:0 frame, converted to RGB with the BT.601 matrix. */
void avk_shot_analyzer_add_yuv420p(avk_shot_analyzer *a, const uint8_t *yuv)
{
    int w = a->w, cw = (w + 1) / 2, ch = (a->h + 1) / 2;
    const uint8_t *U = yuv + a->npix, *V = U + (size_t)cw * ch;
    int32_t *cr = a->chroma, *cg = cr + w + 1, *cb = cg + w + 1;
    for (int y = 0; y < a->h; y++) {
        size_t o = (size_t)y * w;
        yuv_row(yuv + o, U + (size_t)(y / 2) * cw, V + (size_t)(y / 2) * cw, w, a->rgbp + o,
                a->rgbp + a->npix + o, a->rgbp + 2 * a->npix + o, cr, cg, cb);
    }
    analyze_planes(a);
}

int64_t avk_shot_analyzer_frames(const avk_shot_analyzer *a) { return a->n; }
const float *avk_shot_analyzer_scores(const avk_shot_analyzer *a) { return a->score; }
const float *avk_shot_analyzer_means(const avk_shot_analyzer *a) { return a->mean; }

/* Distance of two frames' thumbnails: mean absolute difference of the
 * 16x12 cell means of R, G and B. RGB (not HSV) because dissolves and
 * fades are linear blends in RGB, so their per-frame changes are even. */
static double thumb_dist(const avk_shot_analyzer *a, int64_t i, int64_t j)
{
    return avk_mean_abs_diff(a->thumb + (size_t)TBYTES * i, a->thumb + (size_t)TBYTES * j, TBYTES);
}

/* Distance of two frames' HSV histograms: the L1 distance of the 16 + 8
 * + 8 bin fractions, scaled to 0..100 (100 / 6 of the sum, each of the three
 * histograms contributing at most 2). Motion barely moves histograms,
 * which makes this the long-range comparison of gradual transitions. */
static double hist_dist(const avk_shot_analyzer *a, int64_t i, int64_t j)
{
    const float *x = a->hist + (size_t)HIST * i, *y = a->hist + (size_t)HIST * j;
    double d = 0.0;
    for (int b = 0; b < HIST; b++)
        d += fabs((double)x[b] - y[b]);
    return d * 100.0 / 6.0;
}

typedef struct cut {
    int64_t at, ts, te;
    int gone;
} cut;

typedef struct cutlist {
    cut *c;
    size_t n, cap;
} cutlist;

static void cut_push(cutlist *l, int64_t at, int64_t ts, int64_t te)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->c = avk_xrealloc(l->c, sizeof(cut) * l->cap);
    }
    l->c[l->n++] = (cut){at, ts, te, 0};
}

static int cut_cmp(const void *x, const void *y)
{
    const cut *a = x, *b = y;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* Flash suppression: a change at frame c is no cut when, within flash_len
 * frames, a frame j comes back close to frame c-1 (thumbnail score under a
 * third of the change's and under half of min_content); every candidate in
 * [c, j] goes. */
static void suppress_flashes(const avk_shot_analyzer *a, cutlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cut *c = &l->c[i];
        if (c->gone || c->at < 1)
            continue;
        double base = thumb_dist(a, c->at - 1, c->at);
        for (int64_t j = c->at + 1; j <= c->at + a->p.flash_len && j < a->n; j++) {
            double dj = thumb_dist(a, c->at - 1, j);
            if (dj < 0.4 * base) {
                for (size_t k = i; k < l->n && l->c[k].at <= j; k++)
                    l->c[k].gone = 1;
                avk_info(2, "flash: frames %lld-%lld return to frame %lld, no cut",
                         (long long)c->at, (long long)j, (long long)c->at - 1);
                break;
            }
        }
    }
}

/* How far the frames of a transition [ts, te) stray from a blend of the
 * frame before it (A = ts-1) and the frame after it (B = te): per thumbnail
 * cell and channel, the distance of a frame's value outside the interval
 * between A's and B's, averaged, over the mean |A - B|. Dissolves, fades
 * and wipes stay inside (each cell goes from A to B); motion does not. A
 * fade through black is checked as two halves split at its darkest frame.
 */
static double stray_ratio(const avk_shot_analyzer *a, int64_t ts, int64_t te)
{
    if (ts < 1 || te >= a->n || te <= ts)
        return 0.0;
    int64_t dark = -1;
    float dmin = 1e9f;
    for (int64_t t = ts; t < te; t++)
        if (a->mean[t] < dmin) { dmin = a->mean[t]; dark = t; }
    int64_t ends[3] = {ts - 1, te, te};
    int parts = 1;
    if (dmin < a->p.fade_threshold) {
        ends[1] = dark;
        parts = 2;
    }
    double worst = 0.0;
    for (int part = 0; part < parts; part++) {
        int64_t f0 = ends[part], f1 = ends[part + 1];
        const uint8_t *A = a->thumb + (size_t)TBYTES * f0, *B = a->thumb + (size_t)TBYTES * f1;
        double span = avk_mean_abs_diff(A, B, TBYTES), out = 0.0;
        int cnt = 0;
        for (int64_t t = f0 + 1; t < f1; t++, cnt++) {
            const uint8_t *F = a->thumb + (size_t)TBYTES * t;
            double o = 0.0;
            for (int c = 0; c < TBYTES; c++) {
                int lo = A[c] < B[c] ? A[c] : B[c], hi = A[c] < B[c] ? B[c] : A[c];
                o += F[c] > hi ? F[c] - hi : F[c] < lo ? lo - F[c] : 0;
            }
            out += o / TBYTES;
        }
        if (cnt > 0 && span > 0) {
            double r = out / cnt / span;
            if (r > worst) worst = r;
        }
    }
    return worst;
}

typedef struct gcand {
    int64_t i;
    int k;
    double lc;
} gcand;

static int gcand_cmp(const void *x, const void *y)
{
    const gcand *a = x, *b = y;
    if (a->lc != b->lc)
        return a->lc > b->lc ? -1 : 1;
    if (a->k != b->k)
        return a->k - b->k;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Refine a gradual candidate centred on i with half-span k. The excess of
 * a frame is its thumbnail change from the previous frame minus the median
 * change of the frames around the candidate (i-3k..i+3k outside the
 * window). The transition is the run of frames, grown from the window's
 * largest excess, whose excess is at least a fifth of that largest or whose
 * mean intensity is under the fade threshold (the black middle of a fade),
 * at most max_transition frames. When the run holds frames darker than
 * the fade threshold, it also takes the brightness ramps down to and up
 * from them (a fade out and in). The cut is the middle of the run, as
 * PySceneDetect places a fade's cut in the middle of the dark run. Returns 0 when one frame carries half of the
 * run's change or more: an abrupt change, left to the hard-cut rule. */
static int refine_gradual(const avk_shot_analyzer *a, int64_t i, int k, cut *out)
{
    double outside[256];
    int no = 0;
    for (int64_t t = i - 3 * k + 1; t <= i + 3 * k && no < 256; t++) {
        if (t < 1 || t >= a->n || (t > i - k && t <= i + k))
            continue;
        outside[no++] = thumb_dist(a, t - 1, t);
    }
    double base = 0.0;
    if (no > 0) {
        qsort(outside, (size_t)no, sizeof(double), dbl_cmp);
        base = outside[no / 2];
    }
    int M = a->p.max_transition;
    int64_t lo = i - M > 1 ? i - M : 1, hi = i + M < a->n - 1 ? i + M : a->n - 1;
    if (hi < lo)
        return 0;
    double *ex = avk_xmalloc(sizeof(double) * (size_t)(hi - lo + 1));
    for (int64_t t = lo; t <= hi; t++) {
        double e = thumb_dist(a, t - 1, t) - base;
        ex[t - lo] = e > 0 ? e : 0;
    }
    int64_t peak = -1;
    double mx = 0.0;
    for (int64_t t = i - k + 1; t <= i + k; t++)
        if (t >= lo && t <= hi && ex[t - lo] > mx) {
            mx = ex[t - lo];
            peak = t;
        }
    if (peak < 0 || mx <= 0) {
        free(ex);
        return 0;
    }
    double thr = 0.2 * mx;
    #define IN_RUN(t) (ex[(t) - lo] >= thr || a->mean[(t) - 1] < a->p.fade_threshold)
    int64_t first = peak, last = peak;
    while (first - 1 >= lo && last - (first - 1) < M && IN_RUN(first - 1))
        first--;
    while (last + 1 <= hi && last + 1 - first < M && IN_RUN(last + 1))
        last++;
    #undef IN_RUN
    /* Dark frames at the ends are part of no change: trim to changes. */
    while (first < last && ex[first - lo] < thr)
        first++;
    while (last > first && ex[last - lo] < thr)
        last--;
    /* A fade through black: the transition runs down the brightness ramp
     * before the darkest frames and up the ramp after them. */
    int64_t d0 = -1, d1 = -1;
    for (int64_t t = first - 1; t <= last; t++)
        if (t >= 0 && a->mean[t] < a->p.fade_threshold) {
            if (d0 < 0) d0 = t;
            d1 = t;
        }
    if (d0 >= 0) {
        int64_t s0 = d0, e0 = d1;
        while (s0 >= 1 && a->mean[s0 - 1] > a->mean[s0] + 0.5f && e0 - s0 < M)
            s0--;
        while (e0 + 1 < a->n && a->mean[e0 + 1] > a->mean[e0] + 0.5f && e0 - s0 < M)
            e0++;
        if (s0 + 1 < first && s0 + 1 >= lo) first = s0 + 1;
        if (e0 > last && e0 <= hi) last = e0;
    }
    double total = 0.0, top = 0.0;
    for (int64_t t = first; t <= last; t++) {
        total += ex[t - lo];
        if (ex[t - lo] > top) top = ex[t - lo];
    }
    int64_t at = (first + last) / 2;
    free(ex);
    if (total <= 0 || top >= 0.5 * total)
        return 0;
    out->at = at;
    out->ts = first;
    out->te = last;
    out->gone = 0;
    return 1;
}

/* Gradual transitions: at half-spans k, frame i is a candidate when the
 * histogram distance of frames i-k and i+k is at least gradual_min and at
 * least gradual_ratio times the mean of the same score over the spans just
 * before and after, and is the largest such within k frames. The strongest
 * candidates win over the ones they overlap; each is refined; hard cuts
 * inside an accepted transition are absorbed by it. */
static void find_gradual(const avk_shot_analyzer *a, cutlist *hard, cutlist *out)
{
    static const int scales[] = {2, 3, 4, 6, 8, 11, 16, 23, 32};
    int64_t n = a->n;
    gcand *gc = NULL;
    size_t ng = 0, gcap = 0;
    double *lc = avk_xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    char *pass = avk_xmalloc((size_t)(n > 0 ? n : 1));
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
        int k = scales[si];
        if (2 * k > a->p.max_transition || 2 * k >= n)
            break;
        for (int64_t i = 0; i < n; i++) {
            lc[i] = (i >= k && i + k < n) ? hist_dist(a, i - k, i + k) : 0.0;
            pass[i] = 0;
        }
        for (int64_t i = k; i + k < n; i++) {
            if (lc[i] < a->p.gradual_min)
                continue;
            double nb = 0.0;
            int nn = 0;
            if (i - 2 * k >= k) { nb += lc[i - 2 * k]; nn++; }
            if (i + 2 * k + k < n) { nb += lc[i + 2 * k]; nn++; }
            if (nn > 0 && lc[i] >= a->p.gradual_ratio * (nb / nn))
                pass[i] = 1;
        }
        for (int64_t i = k; i + k < n; i++) {
            if (!pass[i])
                continue;
            int peak = 1;
            for (int64_t j = i - k; j <= i + k && peak; j++)
                if (j != i && j >= 0 && j < n && pass[j] &&
                    (lc[j] > lc[i] || (lc[j] == lc[i] && j < i)))
                    peak = 0;
            if (!peak)
                continue;
            if (ng == gcap) {
                gcap = gcap ? 2 * gcap : 64;
                gc = avk_xrealloc(gc, sizeof(gcand) * gcap);
            }
            gc[ng++] = (gcand){i, k, lc[i]};
        }
    }
    free(lc);
    free(pass);
    if (ng)
        qsort(gc, ng, sizeof(gcand), gcand_cmp);
    /* Windows already taken by a stronger candidate. */
    int64_t *lo = avk_xmalloc(sizeof(int64_t) * (ng ? ng : 1));
    int64_t *hi = avk_xmalloc(sizeof(int64_t) * (ng ? ng : 1));
    size_t nt = 0;
    for (size_t g = 0; g < ng; g++) {
        int64_t l0 = gc[g].i - gc[g].k, h0 = gc[g].i + gc[g].k;
        int overlap = 0;
        for (size_t t = 0; t < nt && !overlap; t++)
            if (l0 <= hi[t] && h0 >= lo[t])
                overlap = 1;
        if (overlap)
            continue;
        lo[nt] = l0;
        hi[nt] = h0;
        nt++;
        cut c;
        int taken = 0;
        for (size_t t = 0; t < out->n && !taken; t++)
            if (l0 <= out->c[t].te + 1 && h0 >= out->c[t].ts - 1)
                taken = 1;
        if (taken)
            continue;
        avk_info(3, "gradual candidate: frame %lld half-span %d score %.2f", (long long)gc[g].i,
                 gc[g].k, gc[g].lc);
        if (!refine_gradual(a, gc[g].i, gc[g].k, &c))
            continue;
        /* The scene must not come back right after (a long flash). */
        int back = 0;
        if (a->p.flash_filter && c.ts >= 1)
            for (int64_t j = c.te; j <= c.te + a->p.flash_len && j < n && !back; j++)
                if (thumb_dist(a, c.ts - 1, j) < a->p.min_content / 2.0)
                    back = 1;
        if (back)
            continue;
        double stray = stray_ratio(a, c.ts, c.te);
        avk_info(3, "gradual: frames %lld-%lld stray %.3f", (long long)c.ts, (long long)c.te, stray);
        if (stray > MAX_STRAY)
            continue;
        for (size_t h = 0; h < hard->n; h++)
            if (hard->c[h].at >= c.ts - 1 && hard->c[h].at <= c.te + 1)
                hard->c[h].gone = 1;
        avk_info(2, "gradual: frames %lld-%lld (half-span %d), cut at %lld",
                 (long long)c.ts, (long long)c.te, gc[g].k, (long long)c.at);
        cut_push(out, c.at, c.ts, c.te);
    }
    free(lo);
    free(hi);
    free(gc);
}

/* Event descriptor of frames [f0, f1): square roots of the mean HSV
 * histogram fractions and the mean 4x4 RGB layout minus its own mean per
 * channel, each part L2-normalized and weighted by sqrt(1/2). */
static void descriptor(const avk_shot_analyzer *a, int64_t f0, int64_t f1, double *d)
{
    double hs[HIST] = {0}, lay[LAYOUT] = {0};
    int64_t cnt = f1 - f0;
    if (cnt <= 0) {
        memset(d, 0, sizeof(double) * (HIST + LAYOUT));
        return;
    }
    for (int64_t f = f0; f < f1; f++) {
        for (int i = 0; i < HIST; i++) hs[i] += a->hist[(size_t)HIST * f + i];
        for (int i = 0; i < LAYOUT; i++) lay[i] += a->layout[(size_t)LAYOUT * f + i];
    }
    double hn = 0.0, ln = 0.0, cm[3] = {0};
    for (int i = 0; i < HIST; i++) {
        hs[i] = sqrt(hs[i] / cnt);
        hn += hs[i] * hs[i];
    }
    for (int i = 0; i < LAYOUT; i++) {
        lay[i] /= cnt;
        cm[i % 3] += lay[i] / (LW * LW);
    }
    for (int i = 0; i < LAYOUT; i++) {
        lay[i] -= cm[i % 3];
        ln += lay[i] * lay[i];
    }
    hn = sqrt(hn);
    ln = sqrt(ln);
    double wh = sqrt(0.5), wl = sqrt(0.5);
    if (ln < 1.0) {          /* a flat frame: no layout to compare */
        wh = 1.0;
        wl = 0.0;
    }
    for (int i = 0; i < HIST; i++) d[i] = hn > 0 ? wh * hs[i] / hn : 0.0;
    for (int i = 0; i < LAYOUT; i++) d[HIST + i] = ln > 0 ? wl * lay[i] / ln : 0.0;
}

/* Cosine similarity of two frame ranges' event descriptors. */
double avk_shot_similarity(const avk_shot_analyzer *a, int64_t a0, int64_t a1,
                           int64_t b0, int64_t b1)
{
    double x[HIST + LAYOUT], y[HIST + LAYOUT], dot = 0.0, nx = 0.0, ny = 0.0;
    descriptor(a, a0, a1, x);
    descriptor(a, b0, b1, y);
    for (int i = 0; i < HIST + LAYOUT; i++) {
        dot += x[i] * y[i];
        nx += x[i] * x[i];
        ny += y[i] * y[i];
    }
    if (nx <= 0 || ny <= 0)
        return 0.0;
    return dot / sqrt(nx * ny);
}

/* Head and tail frame ranges of shot s used by stitching: stitch_frames
 * frames, leaving out the frames of a gradual transition at either end. */
static void head_range(const avk_shot_analyzer *a, const avk_shot *s, int64_t *f0, int64_t *f1)
{
    int64_t b = s->trans_end > s->start ? s->trans_end : s->start;
    if (b >= s->end) b = s->start;
    *f0 = b;
    *f1 = b + a->p.stitch_frames < s->end ? b + a->p.stitch_frames : s->end;
}

static void tail_range(const avk_shot_analyzer *a, const avk_shot *s, const avk_shot *next,
                       int64_t *f0, int64_t *f1)
{
    int64_t e = s->end;
    if (next && next->trans_start < e && next->trans_start > s->start)
        e = next->trans_start;
    *f1 = e;
    *f0 = e - a->p.stitch_frames > s->start ? e - a->p.stitch_frames : s->start;
}

/* Similarity of the tail of shot x and the head of shot y. */
static double shot_sim(const avk_shot_analyzer *a, const avk_shot *sh, size_t ns, size_t x, size_t y)
{
    int64_t t0, t1, h0, h1;
    tail_range(a, &sh[x], x + 1 < ns ? &sh[x + 1] : NULL, &t0, &t1);
    head_range(a, &sh[y], &h0, &h1);
    return avk_shot_similarity(a, t0, t1, h0, h1);
}

/* Event ids: a shot joins the previous shot's event when the tail of the
 * one and the head of the other are more similar than `stitch`; a short
 * shot (under 2 * stitch_frames) between two shots that are similar that
 * way is an interruption, and all three share one event. */
static void stitch_events(const avk_shot_analyzer *a, avk_shot *sh, size_t ns)
{
    int ev = 0;
    if (ns == 0)
        return;
    sh[0].event = 0;
    for (size_t s = 1; s < ns; s++) {
        double sim = shot_sim(a, sh, ns, s - 1, s);
        avk_info(2, "stitch: shots %zu-%zu similarity %.3f", s - 1, s, sim);
        if (sim > a->p.stitch) {
            sh[s].event = sh[s - 1].event;
            continue;
        }
        if (s + 1 < ns && sh[s].end - sh[s].start < 2 * a->p.stitch_frames) {
            double bridge = shot_sim(a, sh, ns, s - 1, s + 1);
            avk_info(2, "stitch: shots %zu-%zu across %zu similarity %.3f", s - 1, s + 1, s, bridge);
            if (bridge > a->p.stitch) {
                sh[s].event = sh[s + 1].event = sh[s - 1].event;
                s++;
                continue;
            }
        }
        sh[s].event = ++ev;
    }
}

/* Decide cuts, build shots and stitch events. */
size_t avk_shot_analyzer_finish(avk_shot_analyzer *a, avk_shot **shots)
{
    int64_t n = a->n;
    const avk_shot_params *p = &a->p;
    *shots = NULL;
    if (n == 0)
        return 0;
    cutlist hard = {0}, grad = {0};
    if (p->detector == AVK_DETECT_FADE) {
        int64_t *c = avk_xmalloc(sizeof(int64_t) * 3 * (size_t)n);
        size_t nc = avk_fade_cuts(a->mean, (size_t)n, p->fade_threshold, c, c + n, c + 2 * n,
                                  (size_t)n);
        for (size_t i = 0; i < nc; i++)
            cut_push(&hard, c[i], c[n + i], c[2 * n + i]);
        free(c);
    } else {
        float *ratio = NULL;
        if (p->detector == AVK_DETECT_ADAPTIVE) {
            ratio = avk_xmalloc(sizeof(float) * (size_t)n);
            avk_adaptive_ratios(a->score, (size_t)n, p->window, p->min_content, ratio);
        }
        for (int64_t i = 1; i < n; i++) {
            int hit = p->detector == AVK_DETECT_ADAPTIVE ?
                (ratio[i] >= p->adaptive_threshold && a->score[i] >= p->min_content) :
                (a->score[i] >= p->threshold);
            if (hit)
                cut_push(&hard, i, i, i);
        }
        free(ratio);
        if (p->flash_filter)
            suppress_flashes(a, &hard);
        if (p->gradual)
            find_gradual(a, &hard, &grad);
    }
    /* All surviving cuts, in order, then the minimum shot length. */
    cutlist all = {0};
    for (size_t i = 0; i < hard.n; i++)
        if (!hard.c[i].gone)
            cut_push(&all, hard.c[i].at, hard.c[i].ts, hard.c[i].te);
    for (size_t i = 0; i < grad.n; i++)
        cut_push(&all, grad.c[i].at, grad.c[i].ts, grad.c[i].te);
    free(hard.c);
    free(grad.c);
    if (all.n)
        qsort(all.c, all.n, sizeof(cut), cut_cmp);
    int64_t *at = avk_xmalloc(sizeof(int64_t) * (all.n + 1));
    int64_t *ts = avk_xmalloc(sizeof(int64_t) * (all.n + 1));
    int64_t *te = avk_xmalloc(sizeof(int64_t) * (all.n + 1));
    size_t nc = 0;
    for (size_t i = 0; i < all.n; i++)
        if (all.c[i].at > 0 && all.c[i].at < n && (nc == 0 || all.c[i].at != at[nc - 1])) {
            at[nc] = all.c[i].at;
            ts[nc] = all.c[i].ts;
            te[nc] = all.c[i].te;
            nc++;
        }
    free(all.c);
    nc = avk_enforce_min_shot(at, ts, te, nc, p->min_shot);

    avk_shot *sh = avk_xcalloc(nc + 1, sizeof(avk_shot));
    for (size_t s = 0; s <= nc; s++) {
        sh[s].start = s == 0 ? 0 : at[s - 1];
        sh[s].end = s == nc ? n : at[s];
        sh[s].trans_start = s == 0 ? 0 : ts[s - 1];
        sh[s].trans_end = s == 0 ? 0 : te[s - 1];
    }
    free(at);
    free(ts);
    free(te);
    if (p->stitch <= 1.0)
        stitch_events(a, sh, nc + 1);
    else
        for (size_t s = 0; s <= nc; s++)
            sh[s].event = (int)s;
    *shots = sh;
    return nc + 1;
}

/* Free an analyzer and its per-frame arrays. */
void avk_shot_analyzer_free(avk_shot_analyzer *a)
{
    if (!a)
        return;
    for (int i = 0; i < 2; i++) {
        free(a->hsv[i]);
        free(a->edges[i]);
    }
    free(a->tmp);
    free(a->rgbp);
    free(a->chroma);
    free(a->cell_x);
    free(a->cell_y);
    free(a->cell_sum);
    free(a->score);
    free(a->mean);
    free(a->thumb);
    free(a->layout);
    free(a->hist);
    free(a);
}
