/* avk_gemm and the linear layer at the DiT's real shapes, the ones
 * avk_gemm reads from a padded copy (A of A^T B with rows 4 KiB apart: the
 * weight gradients of the MLP, 1024 x 256 x 1024 and 256 x 1024 x 1024;
 * B of A^T B or A B with rows 1 KiB apart: the attention projections'
 * weight and input gradients, 256 x 256 x 1024 and 1024 x 256 x 256):
 * equal bitwise to dnnl_sgemm on the unpadded operands (the copy changes
 * no product and no order; on AVX-512 CPUs there is no copy; A B of 1024
 * rows also runs split by rows over the threads) and within
 * 1e-5 of the double reference; the linear layer's backward (bias column
 * sums included) against its reference at those shapes, also where its
 * two products run side by side on one thread each (the copies made
 * inside the parallel region), and from an input already padded. */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <string.h>
#include "tap.h"
#include "randn.h"
#include "avkit/util/common.h"
#include "avkit/nn/ops.h"

#define TOL 1e-5

/* C = op(A) B with A [K, M] (ta 'T') or [M, K] (ta 'N'), B [K, N]:
 * avk_gemm against dnnl_sgemm and the reference, beta 1 on a random C. */
static void gemm_case(char ta, int64_t M, int64_t N, int64_t K)
{
    int64_t lda = ta == 'T' ? M : K;
    float *A = randn(K * M, 1.0f), *B = randn(K * N, 1.0f), *C0 = randn(M * N, 1.0f);
    float *c1 = avk_falloc(M * N), *c2 = avk_falloc(M * N), *c3 = avk_falloc(M * N);
    memcpy(c1, C0, (size_t)(M * N) * sizeof(float));
    memcpy(c2, C0, (size_t)(M * N) * sizeof(float));
    memcpy(c3, C0, (size_t)(M * N) * sizeof(float));
    const char *what = ta == 'T' ? "A^T B" : "A B";
    avk_gemm(ta, 'N', M, N, K, 1.0f, A, lda, B, N, 1.0f, c1, N);
    dnnl_sgemm(ta, 'N', M, N, K, 1.0f, A, lda, B, N, 1.0f, c2, N);
    avk_gemm_ref(ta, 'N', M, N, K, 1.0f, A, lda, B, N, 1.0f, c3, N);
    ok(!memcmp(c1, c2, (size_t)(M * N) * sizeof(float)),
       "%s %lld x %lld x %lld: padded copy bitwise equal to dnnl_sgemm", what, (long long)M,
       (long long)N, (long long)K);
    double e = rel_err(c1, c3, M * N);
    ok(e < TOL, "%s %lld x %lld x %lld against the reference (rel %.2e)", what, (long long)M,
       (long long)N, (long long)K, e);
    avk_ffree(A);
    avk_ffree(B);
    avk_ffree(C0);
    avk_ffree(c1);
    avk_ffree(c2);
    avk_ffree(c3);
}

/* The linear layer's backward, x [M, K], w [N, K], at a padded shape. */
static void linear_case(int64_t M, int64_t K, int64_t N)
{
    float *x = randn(M * K, 1.0f), *w = randn(N * K, 1.0f), *dy = randn(M * N, 1.0f);
    float *dx = avk_falloc(M * K), *dw = avk_falloc(N * K), *db = avk_falloc(N);
    float *rdx = avk_falloc(M * K), *rdw = avk_falloc(N * K), *rdb = avk_falloc(N);
    memset(dx, 0, (size_t)(M * K) * sizeof(float));
    memset(dw, 0, (size_t)(N * K) * sizeof(float));
    memset(db, 0, (size_t)N * sizeof(float));
    memset(rdx, 0, (size_t)(M * K) * sizeof(float));
    memset(rdw, 0, (size_t)(N * K) * sizeof(float));
    memset(rdb, 0, (size_t)N * sizeof(float));
    avk_linear_bwd(dx, dw, db, dy, x, w, M, K, N);
    avk_linear_bwd_ref(rdx, rdw, rdb, dy, x, w, M, K, N);
    double ex = rel_err(dx, rdx, M * K), ew = rel_err(dw, rdw, N * K), eb = rel_err(db, rdb, N);
    ok(ex < TOL && ew < TOL && eb < TOL,
       "linear backward %lld x %lld -> %lld: dx %.2e dw %.2e db %.2e", (long long)M,
       (long long)K, (long long)N, ex, ew, eb);
    avk_ffree(x);
    avk_ffree(w);
    avk_ffree(dy);
    avk_ffree(dx);
    avk_ffree(dw);
    avk_ffree(db);
    avk_ffree(rdx);
    avk_ffree(rdw);
    avk_ffree(rdb);
}

/* avk_linear_bwd_ldx on a copy of x with rows avk_gemm_padded_ld apart
 * (what the DiT's attention projections share) against avk_linear_bwd on
 * x itself: bitwise equal (avk_gemm would read the same padded rows). */
static void ldx_case(int64_t M, int64_t K, int64_t N)
{
    int64_t ld = avk_gemm_padded_ld(K, N, K, M);   /* x as B of dw = dy^T x */
    float *x = randn(M * K, 1.0f), *w = randn(N * K, 1.0f), *dy = randn(M * N, 1.0f);
    float *xp = avk_falloc(M * ld);
    for (int64_t i = 0; i < M; i++)
        memcpy(xp + i * ld, x + i * K, (size_t)K * sizeof(float));
    float *g[6];
    for (int i = 0; i < 6; i++)
        g[i] = avk_fzeros(i % 3 == 0 ? M * K : i % 3 == 1 ? N * K : N);
    avk_linear_bwd(g[0], g[1], g[2], dy, x, w, M, K, N);
    avk_linear_bwd_ldx(g[3], g[4], g[5], dy, xp, ld, w, M, K, N);
    ok(!memcmp(g[0], g[3], (size_t)(M * K) * sizeof(float)) &&
           !memcmp(g[1], g[4], (size_t)(N * K) * sizeof(float)) &&
           !memcmp(g[2], g[5], (size_t)N * sizeof(float)),
       "linear backward %lld x %lld -> %lld from x's rows %lld apart: bitwise that of x",
       (long long)M, (long long)K, (long long)N, (long long)ld);
    avk_ffree(x);
    avk_ffree(w);
    avk_ffree(dy);
    avk_ffree(xp);
    for (int i = 0; i < 6; i++)
        avk_ffree(g[i]);
}

int main(void)
{
    avk_rng_seed(&rng, 11);
    gemm_case('T', 1024, 256, 1024);   /* A's rows 4 KiB apart */
    gemm_case('T', 256, 1024, 1024);   /* B's rows 4 KiB apart */
    gemm_case('T', 256, 256, 1024);    /* B's rows 1 KiB apart */
    gemm_case('N', 1024, 256, 1024);   /* B's rows 1 KiB apart */
    gemm_case('N', 1024, 1024, 256);   /* B's rows 4 KiB apart */
    gemm_case('T', 200, 256, 1024);    /* B's rows 1 KiB apart, A's not */
    gemm_case('N', 300, 200, 1000);    /* none: dnnl_sgemm directly */
    gemm_case('T', 1024, 256, 64);     /* A's rows 4 KiB apart, 64 of them */
    gemm_case('N', 64, 1024, 256);     /* B's rows 4 KiB apart, 64 rows of C */
    linear_case(1024, 256, 1024);
    linear_case(1024, 256, 256);       /* dx and dw side by side on two threads */
    linear_case(300, 256, 200);     /* column sums with a partial block */
    ldx_case(1024, 256, 256);
    ldx_case(64, 256, 256);
    return done_testing();
}
