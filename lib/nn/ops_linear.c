/* GEMM and the linear layer. All GEMMs of the library go through
 * avk_gemm, which calls oneDNN's dnnl_sgemm: on this project's 2-thread
 * CPU it measured ~2x OpenBLAS (see bench/bench_ops.c). */
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
#include "ops_util.h"
#include "ops_rows.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <string.h>

/* A per-thread buffer of at least n floats, kept for the thread's life
 * (the GEMMs of a training step would otherwise map and fault in fresh
 * pages every call). */
static float *pad_scratch(int slot, int64_t n)
{
    static __thread float *buf[2];
    static __thread int64_t cap[2];
    if (cap[slot] < n) {
        avk_ffree(buf[slot]);
        buf[slot] = avk_falloc(n);
        cap[slot] = n;
    }
    return buf[slot];
}

/* Whether an operand read `rows` rows of ld floats apart should be read
 * from a padded copy (ld a multiple of `align`): on this project's AVX2
 * CPU (AMD EPYC) dnnl_sgemm packs strips of such an operand into the same
 * cache sets and slows down. Measured: A of A^T B with rows 4 KiB apart
 * (the DiT's MLP weight gradients, 1024 x 256 x 1024 and 256 x 1024 x
 * 1024, at 65-72 GFLOP/s against 106-144); B of A B or A^T B with rows 1
 * KiB apart (the layer input of a weight gradient, the weight of an input
 * gradient: 256 x 256 x 1024 A^T B at 152 against 191 GFLOP/s padded,
 * 1024 x 256 x 1024 A B at 160 against 192), on two threads and on one
 * inside a parallel region alike; the more so for the text rows' products
 * (one thread: 64 x 1024 x 256 A B at 35 against 101 GFLOP/s, 256 x 1024
 * x 64 A^T B at 39 against 88, 1024 x 256 x 64 A^T B at 47 against 80).
 * Copying costs one pass over the operand, worth it only when the product
 * is not small. Only below AVX-512, where it was measured and where the
 * copy's result is dnnl_sgemm's bit for bit: on an AVX-512 Xeon
 * dnnl_sgemm's kernel for 256 x 1024 x 1024 depends on the leading
 * dimension, so the copy would change the bits (t565). */
static int wants_padding(int64_t ld, int64_t align, int64_t rows, int64_t M, int64_t N, int64_t K)
{
    static int avx512 = -1;         /* the same answer from every thread */
    if (avx512 < 0) {
        unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
        avx512 = (isa & (unsigned)dnnl_cpu_isa_avx512_core) == (unsigned)dnnl_cpu_isa_avx512_core;
    }
    return !avx512 && ld % align == 0 && rows >= 64 && M * N * K >= (int64_t)1 << 22;
}

void avk_copy_rows(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                   int64_t cols)
{
#pragma omp parallel for if (rows * cols >= AVK_PAR_MIN) schedule(static)
    for (int64_t i = 0; i < rows; i++)
        memcpy(dst + i * ldd, src + i * lds, (size_t)cols * sizeof(float));
}

/* rows x cols of X (leading dimension ld) into this thread's buffer
 * `slot` with leading dimension ld + 16. */
static float *padded_copy(int slot, const float *X, int64_t rows, int64_t cols, int64_t ld,
                          int64_t *ldp)
{
    *ldp = ld + 16;
    float *d = pad_scratch(slot, rows * *ldp);
    avk_copy_rows(d, *ldp, X, ld, rows, cols);
    return d;
}

/* Row-major C = alpha op(A) op(B) + beta C through dnnl_sgemm. oneDNN runs
 * its own OpenMP threads, or one thread when called inside a parallel
 * region. Operands whose rows are 4 KiB (A of A^T B) or 1 KiB (B of A B
 * and A^T B) apart are read from a padded copy (wants_padding; the same
 * products in the same order). A B and A B^T of many rows run split by
 * rows, one single-threaded dnnl_sgemm per thread. Invalid arguments are
 * a programming error: die naming them. */
void avk_gemm(char transa, char transb, int64_t M, int64_t N, int64_t K,
              float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
              float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    int ta = transa == 'T' || transa == 't';
    if (ta && wants_padding(lda, 1024, K, M, N, K))
        A = padded_copy(0, A, K, M, lda, &lda);
    int tb = transb == 'T' || transb == 't';
    if (!tb && avk_gemm_padded_ld(ldb, M, N, K) != ldb)
        B = padded_copy(1, B, K, N, ldb, &ldb);
    dnnl_status_t st = dnnl_success;
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (!ta && nt > 1 && M >= 256 * nt && M * N * K >= (int64_t)1 << 24) {
        /* rows split over the threads, one single-threaded product each:
         * 4-8% faster than dnnl_sgemm's own split on this project's
         * AMD EPYC (1024-row A B and A B^T of the DiT, two threads) */
        int64_t part = (M / nt + 7) / 8 * 8;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int t = 0; t < nt; t++) {
            int64_t r0 = t * part < M ? t * part : M;
            int64_t r1 = t == nt - 1 || r0 + part > M ? M : r0 + part;
            dnnl_status_t s1 = r1 > r0 ? dnnl_sgemm(transa, transb, r1 - r0, N, K, alpha,
                                                    A + r0 * lda, lda, B, ldb, beta,
                                                    C + r0 * ldc, ldc)
                                       : dnnl_success;
            if (s1 != dnnl_success) {
#pragma omp critical(avk_gemm_status)
                st = s1;
            }
        }
    } else {
        st = dnnl_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
    if (st != dnnl_success)
        avk_die(1, "dnnl_sgemm(%c, %c, M=%lld, N=%lld, K=%lld, lda=%lld, ldb=%lld, ldc=%lld) failed: status %d",
                transa, transb, (long long)M, (long long)N, (long long)K, (long long)lda,
                (long long)ldb, (long long)ldc, (int)st);
}

/* Reference GEMM: the textbook triple loop, accumulating in double. */
void avk_gemm_ref(char transa, char transb, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc)
{
    int ta = transa == 'T' || transa == 't', tb = transb == 'T' || transb == 't';
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * s + c);
        }
}

/* y = x w^T + b. */
void avk_linear_fwd(float *y, const float *x, const float *w, const float *b,
                    int64_t M, int64_t K, int64_t N)
{
    avk_gemm('N', 'T', M, N, K, 1.0f, x, K, w, K, 0.0f, y, N);
    if (b) {
#pragma omp parallel for if (M * N >= AVK_PAR_MIN) schedule(static)
        for (int64_t i = 0; i < M; i++)
            bias_row(y + i * N, b, N);     /* vectorized (the plain loop stayed scalar) */
    }
}

/* acc[0..w) += the rows i0..i1 of dy (row stride N): one column block of
 * avk_add_column_sums, in row order per column. Cloned and built at -O3 so
 * that it vectorizes over the columns (at -O2 it stayed scalar and took
 * 4% of a DiT training step). */
static AVK_CLONES_O3 void add_rows(float *restrict acc, const float *restrict dy, int64_t i0,
                                   int64_t i1, int64_t N, int64_t w)
{
    for (int64_t i = i0; i < i1; i++) {
        const float *row = dy + i * N;
        for (int64_t j = 0; j < w; j++)
            acc[j] += row[j];
    }
}

/* Column sums of dy [M, N] (rows ld apart) added into db [N], threads
 * over column blocks so each thread sums whole columns (no reduction
 * races). */
void avk_add_column_sums(float *db, const float *dy, int64_t M, int64_t N, int64_t ld)
{
    const int64_t CB = 64;
    int64_t nblk = (N + CB - 1) / CB;
#pragma omp parallel for if (M * N >= AVK_PAR_MIN) schedule(static)
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t j0 = blk * CB, j1 = j0 + CB < N ? j0 + CB : N;
        double tot[64] = {0};
        for (int64_t i0 = 0; i0 < M; i0 += 256) {   /* float blocks of rows, double total */
            int64_t i1 = i0 + 256 < M ? i0 + 256 : M;
            float acc[64] = {0};
            add_rows(acc, dy + j0, i0, i1, ld, j1 - j0);
            for (int64_t j = j0; j < j1; j++)
                tot[j - j0] += acc[j - j0];
        }
        for (int64_t j = j0; j < j1; j++)
            db[j] += (float)tot[j - j0];
    }
}

/* Up to this many multiply-adds, avk_linear_bwd on two threads runs dx
 * and dw side by side. */
#define LINEAR_PAIR_MAX ((int64_t)1 << 26)

/* dx = beta_dx dx + dy w, dw += dy^T x, db += colsum(dy); beta_dx 1
 * (avk_linear_bwd) or 0 (avk_linear_bwd_set: dx written, the products of
 * the accumulating call into zeros, without reading dx). */
static void linear_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                       int64_t ldx, const float *w, int64_t M, int64_t K, int64_t N,
                       float beta_dx)
{
    if (dx && dw && omp_get_max_threads() == 2 && !omp_in_parallel() &&
        M * N * K <= LINEAR_PAIR_MAX) {
        /* two threads, one GEMM each, single-threaded (dnnl_sgemm inside
         * a parallel region): the DiT's 1024 x 256 x 256 projections ran
         * faster so than each GEMM split over both threads */
#pragma omp parallel sections num_threads(2)
        {
#pragma omp section
            avk_gemm('N', 'N', M, K, N, 1.0f, dy, N, w, K, beta_dx, dx, K);
#pragma omp section
            avk_gemm('T', 'N', N, K, M, 1.0f, dy, N, x, ldx, 1.0f, dw, K);
        }
        if (db)
            avk_add_column_sums(db, dy, M, N, N);
        return;
    }
    if (dx)
        avk_gemm('N', 'N', M, K, N, 1.0f, dy, N, w, K, beta_dx, dx, K);
    if (dw)
        avk_gemm('T', 'N', N, K, M, 1.0f, dy, N, x, ldx, 1.0f, dw, K);
    if (db)
        avk_add_column_sums(db, dy, M, N, N);
}

/* dx += dy w, dw += dy^T x, db += colsum(dy). */
void avk_linear_bwd(float *dx, float *dw, float *db, const float *dy,
                    const float *x, const float *w, int64_t M, int64_t K, int64_t N)
{
    linear_bwd(dx, dw, db, dy, x, K, w, M, K, N, 1.0f);
}

void avk_linear_bwd_ldx(float *dx, float *dw, float *db, const float *dy, const float *x,
                        int64_t ldx, const float *w, int64_t M, int64_t K, int64_t N)
{
    linear_bwd(dx, dw, db, dy, x, ldx, w, M, K, N, 1.0f);
}

int64_t avk_gemm_padded_ld(int64_t ld, int64_t M, int64_t N, int64_t K)
{
    return wants_padding(ld, 256, K, M, N, K) ? ld + 16 : ld;
}

void avk_linear_bwd_set(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int64_t M, int64_t K, int64_t N)
{
    linear_bwd(dx, dw, db, dy, x, K, w, M, K, N, 0.0f);
}

void avk_linear_fwd_ref(float *y, const float *x, const float *w, const float *b,
                        int64_t M, int64_t K, int64_t N)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = b ? b[j] : 0.0;
            for (int64_t k = 0; k < K; k++)
                s += (double)x[i * K + k] * w[j * K + k];
            y[i * N + j] = (float)s;
        }
}

void avk_linear_bwd_ref(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, int64_t M, int64_t K, int64_t N)
{
    if (dx)
        for (int64_t i = 0; i < M; i++)
            for (int64_t k = 0; k < K; k++) {
                double s = 0;
                for (int64_t j = 0; j < N; j++)
                    s += (double)dy[i * N + j] * w[j * K + k];
                dx[i * K + k] += (float)s;
            }
    if (dw)
        for (int64_t j = 0; j < N; j++)
            for (int64_t k = 0; k < K; k++) {
                double s = 0;
                for (int64_t i = 0; i < M; i++)
                    s += (double)dy[i * N + j] * x[i * K + k];
                dw[j * K + k] += (float)s;
            }
    if (db)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t i = 0; i < M; i++)
                s += dy[i * N + j];
            db[j] += (float)s;
        }
}

void avk_linear_bwd_set_ref(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, int64_t M, int64_t K, int64_t N)
{
    if (dx)
        memset(dx, 0, (size_t)(M * K) * sizeof(float));
    avk_linear_bwd_ref(dx, dw, db, dy, x, w, M, K, N);
}
