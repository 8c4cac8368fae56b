/* Stand-in for oneDNN's header, for scripts/gpu-check.sh only: the one
 * function the CPU operators call (dnnl_sgemm, in ops_linear.c), so the
 * CPU references build on a GPU machine that has no oneDNN. Its body is
 * plain loops (dnnl_sgemm_plain.c); never part of the library build. */
#ifndef AVK_GPU_CHECK_DNNL_SHIM_H
#define AVK_GPU_CHECK_DNNL_SHIM_H

#include <stdint.h>

typedef int64_t dnnl_dim_t;
typedef enum { dnnl_success = 0, dnnl_invalid_arguments = 2 } dnnl_status_t;

dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                         float alpha, const float *A, dnnl_dim_t lda, const float *B,
                         dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);

#endif
