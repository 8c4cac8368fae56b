/* dnnl_sgemm for scripts/gpu-check.sh: row-major C = alpha op(A) op(B) +
 * beta C by avkit's own reference GEMM (plain loops, double sums), so the
 * CPU operators link without oneDNN. Slow, and only the references and
 * small CPU-side pieces of the check use it. */
#include "oneapi/dnnl/dnnl.h"
#include "avkit/nn/ops.h"

dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                         float alpha, const float *A, dnnl_dim_t lda, const float *B,
                         dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc)
{
    avk_gemm_ref(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return dnnl_success;
}
