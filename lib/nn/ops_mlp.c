/* The transformer MLP, Linear -> GELU (tanh) -> Linear, with its hidden
 * rows ld floats apart.
 *
 * As separate linear layers the MLP's hidden activations are [M, F]
 * matrices whose rows (F = 1024 floats at the DiT's width) are 4 KiB
 * apart, a stride at which dnnl_sgemm packs strips into the same cache
 * sets; avk_gemm then copies them into a padded buffer in the backward,
 * twice a layer (the hidden rows read by the second layer's weight
 * gradient, and the hidden gradient read by the first's): 8 MB a block at
 * 1024 rows. Here the hidden rows live ld = F + 16 floats apart from the
 * start (avk_mlp_ld), so no product needs a copy of them, and the GELU
 * and the bias gradient walk the same strided rows. The arithmetic is
 * that of avk_linear_fwd, avk_bias_gelu_fwd and avk_linear_fwd, and of
 * avk_linear_bwd_set, avk_gelu_bwd_inplace and avk_linear_bwd_set. */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"
#include "ops_rows.h"

int64_t avk_mlp_ld(int64_t F)
{
    return F + 16;
}

void avk_mlp_fwd(float *y, float *f, float *g, int64_t ld, const float *x, const float *w1,
                 const float *b1, const float *w2, const float *b2, int64_t M, int64_t K,
                 int64_t F, int64_t N)
{
    avk_gemm('N', 'T', M, F, K, 1.0f, x, K, w1, K, 0.0f, f, ld);
    avk_bias_gelu_fwd_ld(f, g, ld, b1, M, F);
    avk_gemm('N', 'T', M, N, F, 1.0f, g, ld, w2, F, 0.0f, y, N);
    if (b2) {
#pragma omp parallel for schedule(static) if (M * N >= AVK_PAR_MIN)
        for (int64_t i = 0; i < M; i++)
            bias_row(y + i * N, b2, N);
    }
}

void avk_mlp_bwd(float *dx, float *dw1, float *db1, float *dw2, float *db2, float *df,
                 int64_t ld, const float *dy, const float *x, const float *f, const float *g,
                 const float *w1, const float *w2, int64_t M, int64_t K, int64_t F, int64_t N)
{
    avk_gemm('N', 'N', M, F, N, 1.0f, dy, N, w2, F, 0.0f, df, ld);
    avk_gelu_bwd_inplace_ld(df, f, ld, M, F);
    avk_gemm('N', 'N', M, K, F, 1.0f, df, ld, w1, K, 0.0f, dx, K);
    avk_gemm('T', 'N', N, F, M, 1.0f, dy, N, g, ld, 1.0f, dw2, F);
    if (db2)
        avk_add_column_sums(db2, dy, M, N, N);
    avk_gemm('T', 'N', F, K, M, 1.0f, df, ld, x, K, 1.0f, dw1, K);
    if (db1)
        avk_add_column_sums(db1, df, M, F, ld);
}

/* ---- references (contiguous rows copied in and out) ----------------- */

/* X [M, F] with rows ld apart as a contiguous copy. */
static float *rows_in(const float *src, int64_t ld, int64_t M, int64_t F)
{
    float *d = avk_falloc(M * F);
    avk_copy_rows(d, F, src, ld, M, F);
    return d;
}

void avk_mlp_fwd_ref(float *y, float *f, float *g, int64_t ld, const float *x, const float *w1,
                     const float *b1, const float *w2, const float *b2, int64_t M, int64_t K,
                     int64_t F, int64_t N)
{
    float *fc = avk_falloc(M * F), *gc = avk_falloc(M * F);
    avk_linear_fwd_ref(fc, x, w1, b1, M, K, F);
    avk_gelu_fwd_ref(gc, fc, M * F);
    avk_linear_fwd_ref(y, gc, w2, b2, M, F, N);
    avk_copy_rows(f, ld, fc, F, M, F);
    avk_copy_rows(g, ld, gc, F, M, F);
    avk_ffree(fc);
    avk_ffree(gc);
}

void avk_mlp_bwd_ref(float *dx, float *dw1, float *db1, float *dw2, float *db2, float *df,
                     int64_t ld, const float *dy, const float *x, const float *f, const float *g,
                     const float *w1, const float *w2, int64_t M, int64_t K, int64_t F,
                     int64_t N)
{
    float *fc = rows_in(f, ld, M, F), *gc = rows_in(g, ld, M, F);
    float *dg = avk_fzeros(M * F), *dfc = avk_fzeros(M * F);
    avk_linear_bwd_ref(dg, dw2, db2, dy, gc, w2, M, F, N);
    avk_gelu_bwd_ref(dfc, dg, fc, M * F);
    memset(dx, 0, (size_t)(M * K) * sizeof(float));
    avk_linear_bwd_ref(dx, dw1, db1, dfc, x, w1, M, K, F);
    avk_copy_rows(df, ld, dfc, F, M, F);
    avk_ffree(fc);
    avk_ffree(gc);
    avk_ffree(dg);
    avk_ffree(dfc);
}
