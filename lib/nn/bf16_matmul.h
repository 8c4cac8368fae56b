/* Private to lib/nn: the low-precision matrix product under the bf16
 * operators (ops_bf16.c, ops_attention_bf16.c). Operands are "lowp"
 * arrays: bf16 (uint16) under AVK_BF16_ONEDNN, bf16-rounded f32 under
 * AVK_BF16_EMULATE; avk_lowp_size gives the element size. The public side
 * is include/avkit/nn/ops_bf16.h. */
#ifndef AVKIT_NN_BF16_MATMUL_H
#define AVKIT_NN_BF16_MATMUL_H

#include <stddef.h>
#include <stdint.h>
#include "avkit/nn/ops_bf16.h"

/* Bytes of one lowp element for kernel k (2 or 4). */
static inline size_t avk_lowp_size(avk_bf16_kernel k)
{
    return k == AVK_BF16_ONEDNN ? 2 : 4;
}

/* Element i of a lowp array. */
static inline const void *avk_lowp_at(const void *p, int64_t i, avk_bf16_kernel k)
{
    return (const char *)p + (size_t)i * avk_lowp_size(k);
}

/* n values of x to lowp elements of kernel k (threads when large and not
 * inside a parallel region). */
void avk_lowp_convert(void *dst, const float *x, int64_t n, avk_bf16_kernel k);
/* The same for one short row, single-threaded (inside tile loops). */
void avk_lowp_convert_row(void *dst, const float *x, int64_t n, avk_bf16_kernel k);
/* rows x cols of X (leading dimension ld) to a dense lowp [rows, cols]. */
void avk_lowp_convert_2d(void *dst, const float *X, int64_t rows, int64_t cols, int64_t ld,
                         avk_bf16_kernel k);

/* C[M,N] = alpha op(A) op(B) + beta C with lowp A, B of kernel k
 * (AVK_BF16_ONEDNN or AVK_BF16_EMULATE) through a cached oneDNN matmul
 * primitive; f32 C. Leading dimensions in elements. Dies naming the shape
 * if oneDNN refuses it (the kernel choice probes the layouts first). */
void avk_lowp_gemm(avk_bf16_kernel k, char transa, char transb, int64_t M, int64_t N, int64_t K,
                   float alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                   float beta, float *C, int64_t ldc);

/* oneDNN's implementation name for that product ("brg:avx512_core_amx",
 * "gemm:jit", ...; "dnnl_sgemm" for AVK_BF16_FP32), for benchmarks. */
const char *avk_lowp_impl(avk_bf16_kernel k, char transa, char transb, int64_t M, int64_t N,
                          int64_t K, float alpha, int64_t lda, int64_t ldb, float beta, int64_t ldc);

/* A per-thread scratch buffer (slot 0..3), at least `bytes`, 64-byte
 * aligned, kept for the thread's life (no allocation per call). */
void *avk_lowp_scratch(int slot, size_t bytes);

#endif
