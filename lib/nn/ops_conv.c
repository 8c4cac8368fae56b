/* 2D convolution (NCHW, PyTorch weight layout [Cout, Cin, kh, kw]).
 * Fast path: im2col + GEMM. The column matrix [Cin*kh*kw, rows*Wo] is
 * built for a band of output rows at a time (bounded scratch, ~4 MB per
 * thread), and a 1x1 stride-1 unpadded convolution multiplies the input
 * directly. The
 * alternative, a direct convolution loop, measured far below the GEMM
 * (bench/bench_ops.c prints both). */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"

#include <omp.h>
#include <string.h>

#define COL_CAP (1 << 20)    /* floats of im2col scratch per band (4 MB) */
#define COL_MIN 512          /* but at least this many GEMM columns */

avk_conv2d avk_conv2d_make(int B, int Cin, int H, int W, int Cout, int k, int stride, int pad)
{
    avk_conv2d c = {B, Cin, H, W, Cout, k, k, stride, pad, pad, pad, pad};
    return c;
}

int avk_conv2d_out_h(const avk_conv2d *c)
{
    return (c->H + c->pad_top + c->pad_bottom - c->kh) / c->stride + 1;
}

int avk_conv2d_out_w(const avk_conv2d *c)
{
    return (c->W + c->pad_left + c->pad_right - c->kw) / c->stride + 1;
}

/* Reject descriptions that would index outside the buffers. */
int avk_conv2d_check(const avk_conv2d *c)
{
    if (c->B < 1 || c->Cin < 1 || c->Cout < 1 || c->H < 1 || c->W < 1 || c->kh < 1 ||
        c->kw < 1 || c->stride < 1 || c->pad_top < 0 || c->pad_bottom < 0 ||
        c->pad_left < 0 || c->pad_right < 0)
        return avk_error("conv2d: invalid description (B %d, Cin %d, %dx%d, Cout %d, kernel %dx%d, stride %d)",
                         c->B, c->Cin, c->H, c->W, c->Cout, c->kh, c->kw, c->stride);
    if (c->H + c->pad_top + c->pad_bottom < c->kh || c->W + c->pad_left + c->pad_right < c->kw)
        return avk_error("conv2d: input %dx%d (padded) smaller than the %dx%d kernel",
                         c->H, c->W, c->kh, c->kw);
    return 0;
}

/* ---- reference: direct loops, double accumulation -------------------- */

void avk_conv2d_fwd_ref(float *y, const float *x, const float *w, const float *b,
                        const avk_conv2d *c)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    for (int n = 0; n < c->B; n++)
        for (int co = 0; co < c->Cout; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double s = b ? b[co] : 0.0;
                    for (int ci = 0; ci < c->Cin; ci++)
                        for (int i = 0; i < c->kh; i++) {
                            int ih = oh * c->stride - c->pad_top + i;
                            if (ih < 0 || ih >= c->H)
                                continue;
                            for (int j = 0; j < c->kw; j++) {
                                int iw = ow * c->stride - c->pad_left + j;
                                if (iw < 0 || iw >= c->W)
                                    continue;
                                s += (double)x[(((int64_t)n * c->Cin + ci) * c->H + ih) * c->W + iw] *
                                     w[(((int64_t)co * c->Cin + ci) * c->kh + i) * c->kw + j];
                            }
                        }
                    y[(((int64_t)n * c->Cout + co) * Ho + oh) * Wo + ow] = (float)s;
                }
}

void avk_conv2d_bwd_ref(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, const avk_conv2d *c)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    if (db)
        for (int co = 0; co < c->Cout; co++) {
            double s = 0;
            for (int n = 0; n < c->B; n++)
                for (int p = 0; p < Ho * Wo; p++)
                    s += dy[((int64_t)n * c->Cout + co) * Ho * Wo + p];
            db[co] += (float)s;
        }
    if (dw)
        for (int co = 0; co < c->Cout; co++)
            for (int ci = 0; ci < c->Cin; ci++)
                for (int i = 0; i < c->kh; i++)
                    for (int j = 0; j < c->kw; j++) {
                        double s = 0;
                        for (int n = 0; n < c->B; n++)
                            for (int oh = 0; oh < Ho; oh++) {
                                int ih = oh * c->stride - c->pad_top + i;
                                if (ih < 0 || ih >= c->H)
                                    continue;
                                for (int ow = 0; ow < Wo; ow++) {
                                    int iw = ow * c->stride - c->pad_left + j;
                                    if (iw < 0 || iw >= c->W)
                                        continue;
                                    s += (double)dy[(((int64_t)n * c->Cout + co) * Ho + oh) * Wo + ow] *
                                         x[(((int64_t)n * c->Cin + ci) * c->H + ih) * c->W + iw];
                                }
                            }
                        dw[(((int64_t)co * c->Cin + ci) * c->kh + i) * c->kw + j] += (float)s;
                    }
    if (dx)
        for (int n = 0; n < c->B; n++)
            for (int ci = 0; ci < c->Cin; ci++)
                for (int ih = 0; ih < c->H; ih++)
                    for (int iw = 0; iw < c->W; iw++) {
                        double s = 0;
                        for (int co = 0; co < c->Cout; co++)
                            for (int i = 0; i < c->kh; i++) {
                                int t = ih + c->pad_top - i;
                                if (t < 0 || t % c->stride)
                                    continue;
                                int oh = t / c->stride;
                                if (oh >= Ho)
                                    continue;
                                for (int j = 0; j < c->kw; j++) {
                                    int u = iw + c->pad_left - j;
                                    if (u < 0 || u % c->stride)
                                        continue;
                                    int ow = u / c->stride;
                                    if (ow >= Wo)
                                        continue;
                                    s += (double)dy[(((int64_t)n * c->Cout + co) * Ho + oh) * Wo + ow] *
                                         w[(((int64_t)co * c->Cin + ci) * c->kh + i) * c->kw + j];
                                }
                            }
                        dx[(((int64_t)n * c->Cin + ci) * c->H + ih) * c->W + iw] += (float)s;
                    }
}

/* ---- fast: im2col + GEMM --------------------------------------------- */

/* Output columns ow in [lo, hi) read input columns inside [0, W) for
 * kernel column j. */
static void valid_cols(const avk_conv2d *c, int Wo, int j, int *lo, int *hi)
{
    int s = c->stride, off = j - c->pad_left;    /* iw = ow*s + off */
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = (c->W - 1 - off) >= 0 ? (c->W - 1 - off) / s + 1 : 0;
    if (h > Wo)
        h = Wo;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* dst[i] = src[i*s] / dst[i*s] += src[i]: the inner loops of im2col and
 * col2im, multiversioned so strided copies vectorize with wide permutes. */
AVK_CLONES static void gather_row(float *dst, const float *src, int n, int s)
{
    if (s == 1) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    if (s == 2) {
#pragma omp simd
        for (int i = 0; i < n; i++)
            dst[i] = src[2 * i];
        return;
    }
    for (int i = 0; i < n; i++)
        dst[i] = src[i * s];
}

AVK_CLONES static void scatter_add_row(float *dst, const float *src, int n, int s)
{
    if (s == 1) {
#pragma omp simd
        for (int i = 0; i < n; i++)
            dst[i] += src[i];
        return;
    }
    for (int i = 0; i < n; i++)
        dst[i * s] += src[i];
}

/* col [Cin*kh*kw, (oh1-oh0)*Wo] from one image x [Cin, H, W]. */
static void im2col_band(float *col, const float *x, const avk_conv2d *c, int Wo, int oh0, int oh1,
                        int par)
{
    int64_t K = (int64_t)c->Cin * c->kh * c->kw, P = (int64_t)(oh1 - oh0) * Wo;
#pragma omp parallel for if (par && K * P >= AVK_PAR_MIN) schedule(static)
    for (int64_t r = 0; r < K; r++) {
        int j = (int)(r % c->kw), i = (int)(r / c->kw % c->kh), ci = (int)(r / ((int64_t)c->kw * c->kh));
        int lo, hi;
        valid_cols(c, Wo, j, &lo, &hi);
        const float *xc = x + (int64_t)ci * c->H * c->W;
        float *dst = col + r * P;
        for (int oh = oh0; oh < oh1; oh++, dst += Wo) {
            int ih = oh * c->stride - c->pad_top + i;
            if (ih < 0 || ih >= c->H) {
                memset(dst, 0, (size_t)Wo * sizeof(float));
                continue;
            }
            const float *src = xc + (int64_t)ih * c->W + (j - c->pad_left);
            for (int ow = 0; ow < lo; ow++)
                dst[ow] = 0;
            gather_row(dst + lo, src + (int64_t)lo * c->stride, hi - lo, c->stride);
            for (int ow = hi; ow < Wo; ow++)
                dst[ow] = 0;
        }
    }
}

/* dx [Cin, H, W] += col2im(dcol): threads over input channels, each owns
 * its plane, so there are no write races. */
static void col2im_band(float *dx, const float *dcol, const avk_conv2d *c, int Wo, int oh0, int oh1,
                        int par)
{
    int64_t P = (int64_t)(oh1 - oh0) * Wo;
    int kk = c->kh * c->kw;
#pragma omp parallel for if (par && (int64_t)c->Cin * kk * P >= AVK_PAR_MIN) schedule(static)
    for (int ci = 0; ci < c->Cin; ci++) {
        float *xc = dx + (int64_t)ci * c->H * c->W;
        for (int i = 0; i < c->kh; i++)
            for (int j = 0; j < c->kw; j++) {
                int lo, hi;
                valid_cols(c, Wo, j, &lo, &hi);
                const float *src = dcol + ((int64_t)ci * kk + i * c->kw + j) * P;
                for (int oh = oh0; oh < oh1; oh++, src += Wo) {
                    int ih = oh * c->stride - c->pad_top + i;
                    if (ih < 0 || ih >= c->H)
                        continue;
                    float *dst = xc + (int64_t)ih * c->W + (j - c->pad_left);
                    scatter_add_row(dst + (int64_t)lo * c->stride, src + lo, hi - lo, c->stride);
                }
            }
    }
}

static int is_pointwise(const avk_conv2d *c)
{
    return c->kh == 1 && c->kw == 1 && c->stride == 1 && !c->pad_top && !c->pad_bottom &&
           !c->pad_left && !c->pad_right;
}

/* Output rows per im2col band: the band's column matrix stays near cache
 * size (measured faster than one full-image column matrix on 128-channel
 * 128x128 layers), with enough columns for an efficient GEMM, and at
 * least kh rows so that bands two apart never touch the same input rows
 * (the backward scatters even and odd bands in two phases). */
static int band_rows(const avk_conv2d *c, int Ho, int Wo)
{
    int64_t K = (int64_t)c->Cin * c->kh * c->kw;
    int64_t rows = COL_CAP / (K * Wo > 0 ? K * Wo : 1);
    if (rows * Wo < COL_MIN)
        rows = (COL_MIN + Wo - 1) / Wo;
    if (rows < c->kh)
        rows = c->kh;
    return rows > Ho ? Ho : (int)rows;
}

/* The work of a convolution is cut into items = (image, band of output
 * rows). With at least as many items as threads, one parallel region runs
 * whole items per thread (its own im2col scratch, single-threaded GEMMs):
 * one fork and join per call instead of two per band, which matters when
 * the machine is shared. With fewer items, items run in turn and the GEMM
 * and im2col use all threads inside. The forward always takes the first
 * way when there are threads: a multi-threaded GEMM may split the inner
 * dimension on some CPUs (dnnl_sgemm does on AMD's), and an image's output
 * must be the same bits whatever batch it is in. */
typedef struct conv_plan {
    int Ho, Wo, rows, nband, pw;
    int64_t K, P, items;
    int outer;            /* parallel over items (backward) */
    int fwd_outer;        /* parallel over items (forward) */
} conv_plan;

static conv_plan conv_plan_make(const avk_conv2d *c)
{
    conv_plan p;
    p.Ho = avk_conv2d_out_h(c);
    p.Wo = avk_conv2d_out_w(c);
    p.K = (int64_t)c->Cin * c->kh * c->kw;
    p.P = (int64_t)p.Ho * p.Wo;
    p.pw = is_pointwise(c);
    p.rows = band_rows(c, p.Ho, p.Wo);
    p.nband = (p.Ho + p.rows - 1) / p.rows;
    p.items = (int64_t)c->B * p.nband;
    int nt = avk_ops_threads();
    p.outer = nt > 1 && p.items >= nt;
    p.fwd_outer = nt > 1;
    return p;
}

/* Forward of one item: im2col and one GEMM into the band's output
 * columns. With a bias, wb is [w | b] ([Cout, K+1]) and the column matrix
 * has a last row of ones, so the GEMM adds the bias and writes the output
 * once (a separate bias pass doubled the output traffic, which dominates
 * layers with few input channels). Pointwise convolutions multiply the
 * input directly and add the bias first (beta = 1). */
static void fwd_item(float *y, const float *x, const float *w, const float *wb, const float *b,
                     const avk_conv2d *c, const conv_plan *p, int64_t item, float *col, int par)
{
    int n = (int)(item / p->nband), oh0 = (int)(item % p->nband) * p->rows;
    int oh1 = oh0 + p->rows < p->Ho ? oh0 + p->rows : p->Ho;
    int64_t Pb = (int64_t)(oh1 - oh0) * p->Wo, off = (int64_t)oh0 * p->Wo;
    const float *xn = x + (int64_t)n * c->Cin * c->H * c->W;
    float *yb = y + (int64_t)n * c->Cout * p->P + off;
    if (p->pw) {
        if (b) {
#pragma omp parallel for if (par && c->Cout * Pb >= AVK_PAR_MIN) schedule(static)
            for (int co = 0; co < c->Cout; co++)
                for (int64_t q = 0; q < Pb; q++)
                    yb[co * p->P + q] = b[co];
        }
        avk_gemm('N', 'N', c->Cout, Pb, p->K, 1.0f, w, p->K, xn + off, p->P, b ? 1.0f : 0.0f, yb, p->P);
        return;
    }
    im2col_band(col, xn, c, p->Wo, oh0, oh1, par);
    if (wb) {
        float *ones = col + p->K * Pb;
        for (int64_t q = 0; q < Pb; q++)
            ones[q] = 1.0f;
        avk_gemm('N', 'N', c->Cout, Pb, p->K + 1, 1.0f, wb, p->K + 1, col, Pb, 0.0f, yb, p->P);
    } else {
        avk_gemm('N', 'N', c->Cout, Pb, p->K, 1.0f, w, p->K, col, Pb, 0.0f, yb, p->P);
    }
}

void avk_conv2d_fwd(float *y, const float *x, const float *w, const float *b,
                    const avk_conv2d *c)
{
    conv_plan p = conv_plan_make(c);
    int64_t colsize = p.pw ? 0 : (p.K + 1) * p.rows * p.Wo;
    float *wb = NULL;
    if (b && !p.pw) {
        wb = avk_falloc((int64_t)c->Cout * (p.K + 1));
        for (int co = 0; co < c->Cout; co++) {
            memcpy(wb + co * (p.K + 1), w + co * p.K, (size_t)p.K * sizeof(float));
            wb[co * (p.K + 1) + p.K] = b[co];
        }
    }
    if (p.fwd_outer) {
#pragma omp parallel
        {
            float *col = colsize ? avk_falloc(colsize) : NULL;
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < p.items; it++)
                fwd_item(y, x, w, wb, b, c, &p, it, col, 0);
            avk_ffree(col);
        }
    } else {
        float *col = colsize ? avk_falloc(colsize) : NULL;
        for (int64_t it = 0; it < p.items; it++)
            fwd_item(y, x, w, wb, b, c, &p, it, col, 1);
        avk_ffree(col);
    }
    avk_ffree(wb);
}

/* Backward of one item: dW += dy_band col^T (into dw, a per-thread
 * partial in the outer mode), dcol = W^T dy_band scattered into dx. */
static void bwd_item(float *dx, float *dw, const float *dy, const float *x, const float *w,
                     const avk_conv2d *c, const conv_plan *p, int64_t item, float *col,
                     float *dcol, int par)
{
    int n = (int)(item / p->nband), oh0 = (int)(item % p->nband) * p->rows;
    int oh1 = oh0 + p->rows < p->Ho ? oh0 + p->rows : p->Ho;
    int64_t Pb = (int64_t)(oh1 - oh0) * p->Wo, off = (int64_t)oh0 * p->Wo;
    const float *xn = x + (int64_t)n * c->Cin * c->H * c->W;
    const float *dyb = dy + (int64_t)n * c->Cout * p->P + off;
    float *dxn = dx ? dx + (int64_t)n * c->Cin * c->H * c->W : NULL;
    if (p->pw) {
        if (dw)
            avk_gemm('N', 'T', c->Cout, p->K, Pb, 1.0f, dyb, p->P, xn + off, p->P, 1.0f, dw, p->K);
        if (dxn)
            avk_gemm('T', 'N', p->K, Pb, c->Cout, 1.0f, w, p->K, dyb, p->P, 1.0f, dxn + off, p->P);
        return;
    }
    if (dw) {
        im2col_band(col, xn, c, p->Wo, oh0, oh1, par);
        avk_gemm('N', 'T', c->Cout, p->K, Pb, 1.0f, dyb, p->P, col, Pb, 1.0f, dw, p->K);
    }
    if (dxn) {
        avk_gemm('T', 'N', p->K, Pb, c->Cout, 1.0f, w, p->K, dyb, p->P, 0.0f, dcol, Pb);
        col2im_band(dxn, dcol, c, p->Wo, oh0, oh1, par);
    }
}

void avk_conv2d_bwd(float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, const avk_conv2d *c)
{
    conv_plan p = conv_plan_make(c);
    int64_t colsize = p.pw ? 0 : p.K * p.rows * p.Wo;
    if (db) {
#pragma omp parallel for if (c->Cout * p.P * c->B >= AVK_PAR_MIN) schedule(static)
        for (int co = 0; co < c->Cout; co++) {
            double s = 0;
            for (int n = 0; n < c->B; n++) {
                const float *d = dy + ((int64_t)n * c->Cout + co) * p.P;
                for (int64_t q0 = 0; q0 < p.P; q0 += 1024) {   /* float blocks, double total */
                    int64_t q1 = q0 + 1024 < p.P ? q0 + 1024 : p.P;
                    float t = 0;
#pragma omp simd reduction(+ : t)
                    for (int64_t q = q0; q < q1; q++)
                        t += d[q];
                    s += t;
                }
            }
            db[co] += (float)s;
        }
    }
    if (!dx && !dw)
        return;
    if (p.outer) {
        /* per-thread weight-gradient partials, added in thread order */
        int nt = avk_ops_threads();
        int64_t wn = c->Cout * p.K;
        float *part = dw ? avk_fzeros(wn * nt) : NULL;
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            float *col = colsize && dw ? avk_falloc(colsize) : NULL;
            float *dcol = colsize && dx ? avk_falloc(colsize) : NULL;
            /* even bands, then odd bands: bands two apart never share
             * input rows, so the col2im scatters do not race. A static
             * schedule over each phase's items gives every thread the same
             * items in every run, so its weight-gradient partial (and the
             * sum of the partials) is the same bit for bit. */
            for (int phase = 0; phase < 2; phase++) {
                int64_t nbp = (p.nband - phase + 1) / 2, nph = nbp * (p.items / p.nband);
#pragma omp for schedule(static)
                for (int64_t j = 0; j < nph; j++) {
                    int64_t it = (j / nbp) * p.nband + phase + 2 * (j % nbp);
                    bwd_item(dx, part ? part + wn * t : NULL, dy, x, w, c, &p, it, col, dcol, 0);
                }
            }
            avk_ffree(col);
            avk_ffree(dcol);
        }
        if (part) {
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < wn; i++) {
                float s = 0;
                for (int k = 0; k < nt; k++)
                    s += part[wn * k + i];
                dw[i] += s;
            }
        }
        avk_ffree(part);
        return;
    }
    float *col = colsize && dw ? avk_falloc(colsize) : NULL;
    float *dcol = colsize && dx ? avk_falloc(colsize) : NULL;
    for (int64_t it = 0; it < p.items; it++)
        bwd_item(dx, dw, dy, x, w, c, &p, it, col, dcol, 1);
    avk_ffree(col);
    avk_ffree(dcol);
}
