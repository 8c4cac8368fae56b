/* The per-frame analysis of shot detection: HSV conversion, content
 * scores, mean intensity, thumbnails, layouts and histograms of small RGB
 * (or 4:2:0) frames. See include/avkit/curate/shotdetect.h; the cut rules are in
 * lib/curate/shotcuts.c, event stitching in lib/curate/shotstitch.c, the formulas in
 * av-shotcut(1).
 *
 * Per frame, a few vectorized passes over the analysis-size frame give:
 * the HSV planes (kept for the next frame's content score), the mean
 * intensity, a 16x12 RGB thumbnail, a 4x4 RGB layout and HSV histograms.
 * Decisions are taken at the end over these per-frame arrays, so the
 * detectors can look ahead (flash suppression, gradual transitions)
 * without keeping frames.
 */
#include "avkit/curate/shotdetect.h"
#include "shotdetect_impl.h"
#include "util/simd.h"
#include "avkit/util/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    p->min_shot = 0;
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

/* Functions the per-frame work spends its time in are built for AVX-512
 * and AVX2 too, picked at load time where the CPU has them. */
#define AVK_HOT AVK_CLONES_O3

/* One pixel to OpenCV's 8-bit HSV (H in [0,180), S and V in [0,255]),
 * branch-free so the loops around it vectorize. */
static inline __attribute__((always_inline)) void
hsv_pixel(int r, int g, int b, uint8_t *h_out, uint8_t *s_out, uint8_t *v_out)
{
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
    *h_out = (uint8_t)(h & -(d > 0));
    *s_out = (uint8_t)(int)((float)d * 255.0f / mf + 0.5f);
    *v_out = (uint8_t)mx;
}

/* A row of RGB24 pixels to OpenCV's 8-bit HSV, branch-free so that it
 * vectorizes: V = max, S = round(255 d / V), H = round(30 num / d) + the
 * sector's offset, num and the offset keeping the sum non-negative (d =
 * max - min; hue degrees halved, in [0, 180)). */
AVK_HOT
static void hsv_row(const uint8_t *restrict rgb, int n, uint8_t *restrict H,
                    uint8_t *restrict S, uint8_t *restrict V)
{
    for (int i = 0; i < n; i++)
        hsv_pixel(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], H + i, S + i, V + i);
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
    for (int i = 0; i < n; i++)
        hsv_pixel(R[i], G[i], B[i], H + i, S + i, V + i);
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

/* Sum of the absolute differences of two byte planes. */
AVK_HOT
static uint64_t sum_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
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
    return total;
}

/* Mean absolute difference of two byte planes. */
double avk_mean_abs_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 ? 0.0 : (double)sum_abs_diff(a, b, n) / (double)n;
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

/* ---- the analyzer ----------------------------------------------------- */

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
    /* Rows padded for whole vectors past the last pixel. */
    a->term_stride = (width + 31) / 32 * 32 + 32;
    a->terms = avk_xcalloc(6 * (size_t)a->term_stride, sizeof(uint16_t));
    a->colsum = avk_xcalloc(3 * (size_t)a->term_stride, sizeof(uint16_t));
    avk_shot_analyzer_set_portable(a, 0);
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

/* Add the pixels in the even columns of a row of w bytes to sums (at
 * the same columns). */
AVK_HOT
static void add_even_columns(const uint8_t *restrict row, int w, uint16_t *restrict sums)
{
    for (int x = 0; x < w; x += 2)
        sums[x] = (uint16_t)(sums[x] + row[x]);
}

/* Count the even columns of a row of H, S and V into their histograms
 * (two sets of counters, so that equal bins in a row do not wait on each
 * other). */
static void hsv_histograms(const uint8_t *H, const uint8_t *S, const uint8_t *V, int w,
                           uint32_t *hh, uint32_t *sh, uint32_t *vh)
{
    uint32_t h2[2][HBINS] = {{0}}, s2[2][SBINS] = {{0}}, v2[2][VBINS] = {{0}};
    int x = 0;
    for (; x + 2 < w; x += 4) {
        h2[0][H[x] * HBINS / 180]++;
        h2[1][H[x + 2] * HBINS / 180]++;
        s2[0][S[x] * SBINS / 256]++;
        s2[1][S[x + 2] * SBINS / 256]++;
        v2[0][V[x] * VBINS / 256]++;
        v2[1][V[x + 2] * VBINS / 256]++;
    }
    for (; x < w; x += 2) {
        h2[0][H[x] * HBINS / 180]++;
        s2[0][S[x] * SBINS / 256]++;
        v2[0][V[x] * VBINS / 256]++;
    }
    for (int i = 0; i < HBINS; i++) hh[i] += h2[0][i] + h2[1][i];
    for (int i = 0; i < SBINS; i++) sh[i] += s2[0][i] + s2[1][i];
    for (int i = 0; i < VBINS; i++) vh[i] += v2[0][i] + v2[1][i];
}

/* See shotdetect_impl.h. */
void shot_fold_cells(avk_shot_analyzer *a, int y)
{
    uint32_t *cs = a->cell_sum + 3 * TW * a->cell_y[y];
    for (int x = 0; x < a->w; x += 2) {
        uint32_t *c = cs + 3 * a->cell_x[x];
        for (int k = 0; k < 3; k++) {
            uint16_t *sum = a->colsum + (size_t)k * a->term_stride + x;
            c[k] += *sum;
            *sum = 0;
        }
    }
}

/* The portable per-pixel stage: HSV planes of the frame in a->rgbp, the
 * sum of R + G + B and (after the first frame) the sums of absolute HSV
 * differences to the previous frame. */
static void pixel_stage(avk_shot_analyzer *a, shot_pixel_sums *sums)
{
    const uint8_t *R = a->rgbp, *G = R + a->npix, *B = G + a->npix;
    uint8_t *H = a->hsv[a->cur], *S = H + a->npix, *V = S + a->npix;
    a->now = H;
    hsv_planar(R, G, B, (int)a->npix, H, S, V);
    sums->rgb = sum_bytes(a->rgbp, 3 * a->npix);
    sums->dh = sums->ds = sums->dv = 0;
    if (a->n > 0) {
        const uint8_t *P = a->hsv[!a->cur];
        sums->dh = sum_abs_diff(H, P, a->npix);
        sums->ds = sum_abs_diff(S, P + a->npix, a->npix);
        sums->dv = sum_abs_diff(V, P + 2 * a->npix, a->npix);
    }
}

/* Everything but the per-pixel stage: mean, thumbnail, layout and
 * histograms from the R, G, B and H, S, V planes, and the content score
 * from sums. */
static void analyze_planes(avk_shot_analyzer *a, const shot_pixel_sums *sums, int cells_done)
{
    const uint8_t *R = a->rgbp, *G = R + a->npix, *B = G + a->npix;
    grow(a);
    int64_t f = a->n;
    const avk_shot_params *p = &a->p;
    uint8_t *H = a->now, *S = H + a->npix, *V = S + a->npix;
    uint32_t hh[HBINS] = {0}, sh[SBINS] = {0}, vh[VBINS] = {0};
    a->mean[f] = (float)((double)sums->rgb / (3.0 * a->npix));
    /* Histograms, thumbnail cells and layout on every other pixel of every
     * other row: they are averages, a quarter of the pixels is plenty.
     * The AVX-512 stage has added up the cells already (cells_done). */
    uint32_t nsamp = (uint32_t)((a->w + 1) / 2) * (uint32_t)((a->h + 1) / 2);
    if (cells_done) {
        shot_histograms_avx512(H, S, V, a->w, a->h, a->gfni, hh, sh, vh);
    } else {
        memset(a->cell_sum, 0, sizeof(uint32_t) * 3 * TPIX);
        int rows = 0;
        for (int y = 0; y < a->h; y += 2) {
            size_t o = (size_t)y * a->w;
            add_even_columns(R + o, a->w, a->colsum);
            add_even_columns(G + o, a->w, a->colsum + a->term_stride);
            add_even_columns(B + o, a->w, a->colsum + 2 * a->term_stride);
            /* Fold the column sums into the cells at the end of a row of
             * cells (and before 16-bit sums could overflow). */
            if (++rows == 256 || shot_cell_row_ends(a, y)) {
                shot_fold_cells(a, y);
                rows = 0;
            }
            hsv_histograms(H + o, S + o, V + o, a->w, hh, sh, vh);
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
        double dh = (double)sums->dh / a->npix;
        double ds = (double)sums->ds / a->npix;
        double dv = (double)sums->dv / a->npix;
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
    shot_pixel_sums sums;
    deinterleave(rgb, (int)a->npix, a->rgbp, a->rgbp + a->npix, a->rgbp + 2 * a->npix);
    pixel_stage(a, &sums);
    analyze_planes(a, &sums, 0);
}

/* Add a planar 4:2:0 frame, converted to RGB with the BT.601 matrix. */
void avk_shot_analyzer_add_yuv420p(avk_shot_analyzer *a, const uint8_t *yuv)
{
    shot_pixel_sums sums;
    if (a->simd) {
        shot_yuv_stage_avx512(a, yuv, &sums);
        a->now = a->hsv[0];
        analyze_planes(a, &sums, 1);
        return;
    }
    int w = a->w, cw = (w + 1) / 2, ch = (a->h + 1) / 2;
    const uint8_t *U = yuv + a->npix, *V = U + (size_t)cw * ch;
    int32_t *cr = a->chroma, *cg = cr + w + 1, *cb = cg + w + 1;
    for (int y = 0; y < a->h; y++) {
        size_t o = (size_t)y * w;
        yuv_row(yuv + o, U + (size_t)(y / 2) * cw, V + (size_t)(y / 2) * cw, w, a->rgbp + o,
                a->rgbp + a->npix + o, a->rgbp + 2 * a->npix + o, cr, cg, cb);
    }
    pixel_stage(a, &sums);
    analyze_planes(a, &sums, 0);
}

/* Choose the per-pixel code (tests compare them): 1 portable, 2 AVX-512
 * with table divisions and compare-and-count histograms where the CPU
 * has AVX-512, 0 the fastest. */
void avk_shot_analyzer_set_portable(avk_shot_analyzer *a, int portable)
{
    if (a->n > 0)               /* the two keep the previous frame apart */
        return;
    int best = shot_avx512_usable();
    a->simd = portable == 1 ? SHOT_PORTABLE : portable == 2 && best ? SHOT_AVX512 : best;
    a->gfni = portable == 0 && a->simd && shot_gfni_usable();
}

int64_t avk_shot_analyzer_frames(const avk_shot_analyzer *a) { return a->n; }
const float *avk_shot_analyzer_scores(const avk_shot_analyzer *a) { return a->score; }
const float *avk_shot_analyzer_means(const avk_shot_analyzer *a) { return a->mean; }

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
    free(a->colsum);
    free(a->terms);
    free(a->score);
    free(a->mean);
    free(a->thumb);
    free(a->layout);
    free(a->hist);
    free(a);
}
