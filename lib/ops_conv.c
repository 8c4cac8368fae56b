/* 2D convolution (NCHW, PyTorch weight layout [Cout, Cin, kh, kw]).
 * Fast path: im2col + GEMM. The column matrix [Cin*kh*kw, rows*Wo] is
 * built for a band of output rows at a time (bounded scratch, ~16 MB), and
 * a 1x1 stride-1 unpadded convolution multiplies the input directly. The
 * alternative, a direct convolution loop, measured far below the GEMM
 * (bench/bench_ops.c prints both). */
#include "avkit/ops.h"
#include "avkit/common.h"
#include "ops_util.h"

#include <string.h>

#define COL_CAP (4 << 20)    /* floats of im2col scratch per band */

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

/* col [Cin*kh*kw, (oh1-oh0)*Wo] from one image x [Cin, H, W]. */
static void im2col_band(float *col, const float *x, const avk_conv2d *c, int Wo, int oh0, int oh1)
{
    int64_t K = (int64_t)c->Cin * c->kh * c->kw, P = (int64_t)(oh1 - oh0) * Wo;
#pragma omp parallel for if (K * P >= AVK_PAR_MIN) schedule(static)
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
            if (c->stride == 1)
                memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
            else
                for (int ow = lo; ow < hi; ow++)
                    dst[ow] = src[ow * c->stride];
            for (int ow = hi; ow < Wo; ow++)
                dst[ow] = 0;
        }
    }
}

/* dx [Cin, H, W] += col2im(dcol): threads over input channels, each owns
 * its plane, so there are no write races. */
static void col2im_band(float *dx, const float *dcol, const avk_conv2d *c, int Wo, int oh0, int oh1)
{
    int64_t P = (int64_t)(oh1 - oh0) * Wo;
    int kk = c->kh * c->kw;
#pragma omp parallel for if ((int64_t)c->Cin * kk * P >= AVK_PAR_MIN) schedule(static)
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
                    if (c->stride == 1)
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow] += src[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow * c->stride] += src[ow];
                }
            }
    }
}

static int is_pointwise(const avk_conv2d *c)
{
    return c->kh == 1 && c->kw == 1 && c->stride == 1 && !c->pad_top && !c->pad_bottom &&
           !c->pad_left && !c->pad_right;
}

/* Output rows per im2col band. */
static int band_rows(const avk_conv2d *c, int Ho, int Wo)
{
    int64_t K = (int64_t)c->Cin * c->kh * c->kw;
    int64_t rows = COL_CAP / (K * Wo > 0 ? K * Wo : 1);
    if (rows < 1)
        rows = 1;
    return rows > Ho ? Ho : (int)rows;
}

void avk_conv2d_fwd(float *y, const float *x, const float *w, const float *b,
                    const avk_conv2d *c)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    int64_t K = (int64_t)c->Cin * c->kh * c->kw, P = (int64_t)Ho * Wo;
    int pw = is_pointwise(c), rows = band_rows(c, Ho, Wo);
    float *col = pw ? NULL : avk_falloc(K * rows * Wo);
    for (int n = 0; n < c->B; n++) {
        const float *xn = x + (int64_t)n * c->Cin * c->H * c->W;
        float *yn = y + (int64_t)n * c->Cout * P;
        if (b) {
#pragma omp parallel for if (c->Cout * P >= AVK_PAR_MIN) schedule(static)
            for (int co = 0; co < c->Cout; co++)
                for (int64_t p = 0; p < P; p++)
                    yn[co * P + p] = b[co];
        }
        if (pw) {
            avk_gemm('N', 'N', c->Cout, P, K, 1.0f, w, K, xn, P, b ? 1.0f : 0.0f, yn, P);
            continue;
        }
        for (int oh0 = 0; oh0 < Ho; oh0 += rows) {
            int oh1 = oh0 + rows < Ho ? oh0 + rows : Ho;
            int64_t Pb = (int64_t)(oh1 - oh0) * Wo;
            im2col_band(col, xn, c, Wo, oh0, oh1);
            avk_gemm('N', 'N', c->Cout, Pb, K, 1.0f, w, K, col, Pb, b ? 1.0f : 0.0f,
                     yn + (int64_t)oh0 * Wo, P);
        }
    }
    avk_ffree(col);
}

void avk_conv2d_bwd(float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, const avk_conv2d *c)
{
    int Ho = avk_conv2d_out_h(c), Wo = avk_conv2d_out_w(c);
    int64_t K = (int64_t)c->Cin * c->kh * c->kw, P = (int64_t)Ho * Wo;
    int pw = is_pointwise(c), rows = band_rows(c, Ho, Wo);
    float *col = pw || !dw ? NULL : avk_falloc(K * rows * Wo);
    float *dcol = pw || !dx ? NULL : avk_falloc(K * rows * Wo);
    if (db) {
#pragma omp parallel for if (c->Cout * P * c->B >= AVK_PAR_MIN) schedule(static)
        for (int co = 0; co < c->Cout; co++) {
            double s = 0;
            for (int n = 0; n < c->B; n++) {
                const float *d = dy + ((int64_t)n * c->Cout + co) * P;
                float t = 0;
                for (int64_t p = 0; p < P; p++)
                    t += d[p];
                s += t;
            }
            db[co] += (float)s;
        }
    }
    for (int n = 0; n < c->B; n++) {
        const float *xn = x + (int64_t)n * c->Cin * c->H * c->W;
        const float *dyn = dy + (int64_t)n * c->Cout * P;
        float *dxn = dx ? dx + (int64_t)n * c->Cin * c->H * c->W : NULL;
        if (pw) {
            if (dw)
                avk_gemm('N', 'T', c->Cout, K, P, 1.0f, dyn, P, xn, P, 1.0f, dw, K);
            if (dxn)
                avk_gemm('T', 'N', K, P, c->Cout, 1.0f, w, K, dyn, P, 1.0f, dxn, P);
            continue;
        }
        for (int oh0 = 0; oh0 < Ho; oh0 += rows) {
            int oh1 = oh0 + rows < Ho ? oh0 + rows : Ho;
            int64_t Pb = (int64_t)(oh1 - oh0) * Wo;
            const float *dyb = dyn + (int64_t)oh0 * Wo;
            if (dw) {
                im2col_band(col, xn, c, Wo, oh0, oh1);
                avk_gemm('N', 'T', c->Cout, K, Pb, 1.0f, dyb, P, col, Pb, 1.0f, dw, K);
            }
            if (dxn) {
                avk_gemm('T', 'N', K, Pb, c->Cout, 1.0f, w, K, dyb, P, 0.0f, dcol, Pb);
                col2im_band(dxn, dcol, c, Wo, oh0, oh1);
            }
        }
    }
    avk_ffree(col);
    avk_ffree(dcol);
}
