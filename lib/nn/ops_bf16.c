/* bf16 GEMM and the bf16 linear layer (see include/avkit/nn/ops_bf16.h):
 * f32 at the interface, operands converted to bf16 once per call into
 * per-thread buffers (the leading dimensions of the caller dropped, the
 * transposes kept, so each conversion is a plain row copy), then one
 * cached oneDNN matmul primitive. Under the fp32 fallback the calls are
 * the fp32 operators themselves. */
#include "avkit/nn/ops_bf16.h"
#include "avkit/util/common.h"
#include "bf16_matmul.h"
#include "ops_util.h"

#include <stdlib.h>

/* Rows and columns of X as stored (op(X) is rows x cols when not
 * transposed). */
static void *convert_operand(int slot, const float *X, int trans, int64_t r, int64_t c,
                             int64_t ld, avk_bf16_kernel k)
{
    int64_t rows = trans ? c : r, cols = trans ? r : c;
    void *d = avk_lowp_scratch(slot, (size_t)(rows * cols) * avk_lowp_size(k));
    avk_lowp_convert_2d(d, X, rows, cols, ld, k);
    return d;
}

static int is_t(char t)
{
    return t == 'T' || t == 't';
}

void avk_gemm_bf16(char transa, char transb, int64_t M, int64_t N, int64_t K,
                   float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                   float beta, float *C, int64_t ldc)
{
    avk_bf16_kernel k = avk_bf16_get_kernel();
    if (k == AVK_BF16_FP32 || K == 0) {
        avk_gemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M == 0 || N == 0)
        return;
    int ta = is_t(transa), tb = is_t(transb);
    const void *a = convert_operand(0, A, ta, M, K, lda, k);
    const void *b = convert_operand(1, B, tb, K, N, ldb, k);
    avk_lowp_gemm(k, transa, transb, M, N, K, alpha, a, ta ? M : K, b, tb ? K : N, beta, C, ldc);
}

/* Copy of the rows x cols matrix X (leading dimension ld) rounded to bf16. */
static float *rounded_copy(const float *X, int64_t rows, int64_t cols, int64_t ld)
{
    float *r = avk_falloc(rows * cols);
    for (int64_t i = 0; i < rows; i++)
        avk_round_bf16(r + i * cols, X + i * ld, cols);
    return r;
}

void avk_gemm_bf16_ref(char transa, char transb, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                       float beta, float *C, int64_t ldc)
{
    int ta = is_t(transa), tb = is_t(transb);
    float *a = rounded_copy(A, ta ? K : M, ta ? M : K, lda);
    float *b = rounded_copy(B, tb ? N : K, tb ? K : N, ldb);
    avk_gemm_ref(transa, transb, M, N, K, alpha, a, ta ? M : K, b, tb ? K : N, beta, C, ldc);
    avk_ffree(a);
    avk_ffree(b);
}

/* y[i, :] += b for every row. */
static void add_bias(float *y, const float *b, int64_t M, int64_t N)
{
#pragma omp parallel for if (M * N >= AVK_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *row = y + i * N;
        for (int64_t j = 0; j < N; j++)
            row[j] += b[j];
    }
}

void avk_linear_bf16_fwd(float *y, const float *x, const float *w, const float *b,
                         int64_t M, int64_t K, int64_t N)
{
    avk_bf16_kernel k = avk_bf16_get_kernel();
    if (k == AVK_BF16_FP32) {
        avk_linear_fwd(y, x, w, b, M, K, N);
        return;
    }
    avk_gemm_bf16('N', 'T', M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
    if (b)
        add_bias(y, b, M, N);
}

/* dy is converted once for both products. */
void avk_linear_bf16_bwd(float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int64_t M, int64_t K, int64_t N)
{
    avk_bf16_kernel k = avk_bf16_get_kernel();
    if (k == AVK_BF16_FP32 || K == 0 || M == 0 || N == 0) {
        avk_linear_bwd(dx, dw, db, dy, x, w, M, K, N);
        return;
    }
    if (dx || dw) {
        const void *dyl = convert_operand(0, dy, 0, M, N, N, k);
        if (dx) {
            const void *wl = convert_operand(1, w, 0, N, K, K, k);
            avk_lowp_gemm(k, 'N', 'N', M, K, N, 1.0f, dyl, N, wl, K, 1.0f, dx, K);
        }
        if (dw) {
            const void *xl = convert_operand(2, x, 0, M, K, K, k);
            avk_lowp_gemm(k, 'T', 'N', N, K, M, 1.0f, dyl, N, xl, K, 1.0f, dw, K);
        }
    }
    if (db)
        avk_linear_bwd(NULL, NULL, db, dy, x, w, M, K, N);   /* f32 column sums */
}

void avk_linear_bf16_fwd_ref(float *y, const float *x, const float *w, const float *b,
                             int64_t M, int64_t K, int64_t N)
{
    float *xr = rounded_copy(x, M, K, K), *wr = rounded_copy(w, N, K, K);
    avk_linear_fwd_ref(y, xr, wr, b, M, K, N);
    avk_ffree(xr);
    avk_ffree(wr);
}

void avk_linear_bf16_bwd_ref(float *dx, float *dw, float *db, const float *dy,
                             const float *x, const float *w, int64_t M, int64_t K, int64_t N)
{
    float *dyr = rounded_copy(dy, M, N, N), *xr = rounded_copy(x, M, K, K);
    float *wr = rounded_copy(w, N, K, K);
    avk_linear_bwd_ref(dx, dw, NULL, dyr, xr, wr, M, K, N);
    avk_linear_bwd_ref(NULL, NULL, db, dy, x, w, M, K, N);   /* bias gradient stays f32 */
    avk_ffree(dyr);
    avk_ffree(xr);
    avk_ffree(wr);
}
