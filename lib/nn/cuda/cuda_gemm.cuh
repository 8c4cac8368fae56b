/* GEMM helpers shared inside lib/nn/cuda/ (defined in cuda_gemm.cu). */
#ifndef AVK_CUDA_GEMM_CUH
#define AVK_CUDA_GEMM_CUH

#include "cuda_common.cuh"

/* Row-major C[M,N] = alpha op(A) op(B) + beta C; A and B of type dtype,
 * C f32, summed with the compute type given. */
void avkc_gemm_typed(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                     const void *A, int64_t lda, const void *B, int64_t ldb, float beta, float *C,
                     int64_t ldc, cudaDataType_t dtype, cublasComputeType_t compute);
/* The compute type of the f32 GEMMs (AVK_CUDA_MATH, avk_cuda_set_math). */
cublasComputeType_t avkc_math(void);
/* db[j] += sum over the M rows of dy[M, N]. */
void avkc_colsum_acc(float *db, const float *dy, int64_t M, int64_t N);

#endif
