/* GEMMs on the device through cuBLAS: the general row-major GEMM, linear
 * (bias added by the GEMM's beta over a broadcast bias), conv2d as
 * im2col + GEMM per image, and the bf16-input GEMMs of include/avkit/nn/
 * cuda.h. Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T,
 * so every call swaps the operands. CPU references: ops_linear.c,
 * ops_conv.c, ops_bf16.c (avk_gemm_bf16_ref). */
#include "cuda_common.cuh"
#include "cuda_gemm.cuh"

#include <cuda_bf16.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "avkit/nn/cuda.h"
}

/* ---- math mode -------------------------------------------------------- */

static cublasComputeType_t math_mode = CUBLAS_COMPUTE_32F;
static int math_from_env;

int avk_cuda_set_math(const char *mode)
{
    math_from_env = 1;
    if (mode && !strcmp(mode, "fp32"))
        math_mode = CUBLAS_COMPUTE_32F;
    else if (mode && !strcmp(mode, "tf32"))
        math_mode = CUBLAS_COMPUTE_32F_FAST_TF32;
    else if (mode && !strcmp(mode, "bf16"))
        math_mode = CUBLAS_COMPUTE_32F_FAST_16BF;
    else
        return avk_error("cuda: unknown math mode \"%s\" (fp32, tf32, bf16)", mode ? mode : "");
    return 0;
}

const char *avk_cuda_math(void)
{
    return math_mode == CUBLAS_COMPUTE_32F_FAST_TF32   ? "tf32"
           : math_mode == CUBLAS_COMPUTE_32F_FAST_16BF ? "bf16"
                                                       : "fp32";
}

/* AVK_CUDA_MATH, read once (a bad value stops with a message). */
cublasComputeType_t avkc_math(void)
{
    if (!math_from_env) {
        const char *e = getenv("AVK_CUDA_MATH");
        if (e && *e && avk_cuda_set_math(e) < 0)
            avk_die(1, "AVK_CUDA_MATH: %s", avk_errmsg());
        math_from_env = 1;
    }
    return math_mode;
}

/* ---- the GEMM --------------------------------------------------------- */

static cublasOperation_t op_of(char t)
{
    return t == 'T' || t == 't' ? CUBLAS_OP_T : CUBLAS_OP_N;
}

/* Row-major C[M,N] = alpha op(A) op(B) + beta C with A, B of type dtype
 * (f32 or bf16), C f32, computed with `compute`. */
void avkc_gemm_typed(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                     const void *A, int64_t lda, const void *B, int64_t ldb, float beta, float *C,
                     int64_t ldc, cudaDataType_t dtype, cublasComputeType_t compute)
{
    if (M <= 0 || N <= 0)
        return;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
        ldc > INT32_MAX)
        avk_die(1, "cuda gemm: a dimension exceeds 2^31 (M=%lld N=%lld K=%lld)", (long long)M,
                (long long)N, (long long)K);
    CUBLAS_CHECK(cublasGemmEx(avkc_cublas(), op_of(transb), op_of(transa), (int)N, (int)M,
                              (int)K, &alpha, B, dtype, (int)ldb, A, dtype, (int)lda, &beta, C,
                              CUDA_R_32F, (int)ldc, compute, CUBLAS_GEMM_DEFAULT));
}

void avkc_gemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
               const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
               int64_t ldc)
{
    avkc_gemm_typed(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, CUDA_R_32F,
                    avkc_math());
}

/* ---- linear ----------------------------------------------------------- */

/* y[i, :] = b for every row (the GEMM then adds x w^T with beta = 1). */
__global__ void bias_rows_kernel(float *y, const float *b, int64_t M, int64_t N)
{
    GRID_STRIDE(i, M * N)
        y[i] = b[i % N];
}

/* db[j] += sum over rows of dy[:, j]: block (32, 16) per 32 columns and a
 * chunk of rows; chunks add atomically. */
__global__ void colsum_kernel(float *db, const float *dy, int64_t M, int64_t N)
{
    __shared__ float s[16][33];
    int64_t j = (int64_t)blockIdx.x * 32 + threadIdx.x;
    int64_t per = (M + gridDim.y - 1) / gridDim.y;
    int64_t r0 = (int64_t)blockIdx.y * per, r1 = r0 + per < M ? r0 + per : M;
    float a = 0;
    if (j < N)
        for (int64_t i = r0 + threadIdx.y; i < r1; i += 16)
            a += dy[i * N + j];
    s[threadIdx.y][threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0 && j < N) {
        for (int k = 1; k < 16; k++)
            a += s[k][threadIdx.x];
        atomicAdd(db + j, a);
    }
}

void avkc_colsum_acc(float *db, const float *dy, int64_t M, int64_t N)
{
    if (M <= 0 || N <= 0)
        return;
    int64_t chunks = (M + 255) / 256;
    dim3 grid((unsigned)((N + 31) / 32), (unsigned)(chunks < 64 ? chunks : 64));
    colsum_kernel<<<grid, dim3(32, 16), 0, avkc_stream>>>(db, dy, M, N);
    CU_LAUNCHED();
}

/* The linear layer over GEMMs of operand type dtype (A and B already in
 * that type: x, w, dy as given, or their bf16 copies). */
static void linear_fwd_typed(float *y, const void *x, const void *w, const float *b, int64_t M,
                             int64_t K, int64_t N, cudaDataType_t dtype,
                             cublasComputeType_t compute)
{
    if (M <= 0 || N <= 0)
        return;
    if (b) {
        bias_rows_kernel<<<avkc_blocks(M * N), AVKC_THREADS, 0, avkc_stream>>>(y, b, M, N);
        CU_LAUNCHED();
    }
    avkc_gemm_typed('N', 'T', M, N, K, 1.0f, x, K, w, K, b ? 1.0f : 0.0f, y, N, dtype, compute);
}

static void linear_bwd_typed(float *dx, float *dw, float *db, const void *dy, const void *x,
                             const void *w, int64_t M, int64_t K, int64_t N, cudaDataType_t dtype,
                             cublasComputeType_t compute)
{
    if (dx)
        avkc_gemm_typed('N', 'N', M, K, N, 1.0f, dy, N, w, K, 1.0f, dx, K, dtype, compute);
    if (dw)
        avkc_gemm_typed('T', 'N', N, K, M, 1.0f, dy, N, x, K, 1.0f, dw, K, dtype, compute);
}

void avkc_linear_fwd(float *y, const float *x, const float *w, const float *b, int64_t M,
                     int64_t K, int64_t N)
{
    linear_fwd_typed(y, x, w, b, M, K, N, CUDA_R_32F, avkc_math());
}

void avkc_linear_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                     const float *w, int64_t M, int64_t K, int64_t N)
{
    linear_bwd_typed(dx, dw, db, dy, x, w, M, K, N, CUDA_R_32F, avkc_math());
    if (db)
        avkc_colsum_acc(db, dy, M, N);
}

/* ---- bf16 inputs ------------------------------------------------------ */

/* Rows x cols of a matrix with leading dimension ld, rounded to bf16
 * (nearest even) into a packed [rows, cols] buffer. */
__global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, int64_t rows, int64_t cols,
                               int64_t ld)
{
    GRID_STRIDE(i, rows * cols)
        dst[i] = __float2bfloat16_rn(src[(i / cols) * ld + i % cols]);
}

static __nv_bfloat16 *bf16_copy(int slot, const float *src, int64_t rows, int64_t cols,
                                int64_t ld)
{
    __nv_bfloat16 *d = (__nv_bfloat16 *)avkc_scratch(slot, (size_t)(rows * cols) * 2 + 2);
    if (rows * cols > 0) {
        to_bf16_kernel<<<avkc_blocks(rows * cols), AVKC_THREADS, 0, avkc_stream>>>(d, src, rows,
                                                                                  cols, ld);
        CU_LAUNCHED();
    }
    return d;
}

void avk_cuda_gemm_bf16(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc)
{
    int ta = op_of(transa) == CUBLAS_OP_T, tb = op_of(transb) == CUBLAS_OP_T;
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    __nv_bfloat16 *a = bf16_copy(1, A, ar, ac, lda), *b = bf16_copy(2, B, br, bc, ldb);
    avkc_gemm_typed(transa, transb, M, N, K, alpha, a, ac, b, bc, beta, C, ldc, CUDA_R_16BF,
                    CUBLAS_COMPUTE_32F);
}

void avk_cuda_linear_bf16_fwd(float *y, const float *x, const float *w, const float *b,
                              int64_t M, int64_t K, int64_t N)
{
    __nv_bfloat16 *xb = bf16_copy(1, x, M, K, K), *wb = bf16_copy(2, w, N, K, K);
    linear_fwd_typed(y, xb, wb, b, M, K, N, CUDA_R_16BF, CUBLAS_COMPUTE_32F);
}

void avk_cuda_linear_bf16_bwd(float *dx, float *dw, float *db, const float *dy, const float *x,
                              const float *w, int64_t M, int64_t K, int64_t N)
{
    __nv_bfloat16 *dyb = bf16_copy(0, dy, M, N, N);
    if (dx) {
        __nv_bfloat16 *wb = bf16_copy(2, w, N, K, K);
        avkc_gemm_typed('N', 'N', M, K, N, 1.0f, dyb, N, wb, K, 1.0f, dx, K, CUDA_R_16BF,
                        CUBLAS_COMPUTE_32F);
    }
    if (dw) {
        __nv_bfloat16 *xb = bf16_copy(1, x, M, K, K);
        avkc_gemm_typed('T', 'N', N, K, M, 1.0f, dyb, N, xb, K, 1.0f, dw, K, CUDA_R_16BF,
                        CUBLAS_COMPUTE_32F);
    }
    if (db)
        avkc_colsum_acc(db, dy, M, N);
}

int avk_cuda_device_info(char *name, int name_size, int *sms, int *major, int *minor)
{
    if (avkc_init() < 0)
        return -1;
    int dev = 0;
    cudaDeviceProp p;
    CU_CHECK(cudaGetDevice(&dev));
    CU_CHECK(cudaGetDeviceProperties(&p, dev));
    if (name && name_size > 0)
        snprintf(name, (size_t)name_size, "%s", p.name);
    if (sms)
        *sms = p.multiProcessorCount;
    if (major)
        *major = p.major;
    if (minor)
        *minor = p.minor;
    return 0;
}
