/* Shared pieces of the CUDA backend (lib/nn/cuda/): the one stream every
 * entry is queued on, the cuBLAS handle, error checks, launch sizes,
 * warp/block reductions and reusable device scratch. Private to this
 * folder; the backend is reached only through avk_backend_find("cuda"). */
#ifndef AVK_CUDA_COMMON_CUH
#define AVK_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <stdint.h>

extern "C" {
#include "avkit/nn/ops.h"
#include "avkit/util/common.h"
}
#include "cuda_ops.h"   /* avkc_init and the entries */

/* A failed CUDA or cuBLAS call inside a queued operator cannot be handed
 * back through a void entry: the backend stops the program with the call,
 * the file and the line (as the CPU backend does when oneDNN fails). */
#define CU_CHECK(call)                                                                  \
    do {                                                                                \
        cudaError_t e_ = (call);                                                        \
        if (e_ != cudaSuccess)                                                          \
            avk_die(1, "cuda: %s failed at %s:%d: %s", #call, __FILE__, __LINE__,       \
                    cudaGetErrorString(e_));                                            \
    } while (0)
#define CUBLAS_CHECK(call)                                                              \
    do {                                                                                \
        cublasStatus_t s_ = (call);                                                     \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                \
            avk_die(1, "cuda: %s failed at %s:%d: cuBLAS status %d", #call, __FILE__,   \
                    __LINE__, (int)s_);                                                 \
    } while (0)
/* After a kernel launch: a bad configuration is reported at once. */
#define CU_LAUNCHED() CU_CHECK(cudaGetLastError())

/* The stream and cuBLAS handle (cuda_mem.cu); set up by avkc_init. */
extern cudaStream_t avkc_stream;
cublasHandle_t avkc_cublas(void);

/* Device scratch that grows on demand and is reused by later calls. Work
 * queued on the one stream runs in order, so reuse is safe; growing waits
 * for the queue before freeing the old buffer. slot picks one of a few
 * independent buffers (so one operator can hold two at once). */
void *avkc_scratch(int slot, size_t bytes);
/* Small host arrays (the attention key lengths, the timestep frequencies)
 * copied into device scratch, valid until the next upload. */
const void *avkc_upload(const void *host, size_t bytes);
/* A zeroed device double for reductions, read back by avkc_take_double. */
double *avkc_accum(void);
double avkc_take_double(const double *d);
/* Queue the sum of squares of x into the device double acc (cuda_tensor.cu). */
void avkc_sumsq_into(double *acc, const float *x, int64_t n);

enum { AVKC_THREADS = 256 };

/* Blocks for a grid-stride loop over n elements. */
static inline unsigned avkc_blocks(int64_t n)
{
    int64_t b = (n + AVKC_THREADS - 1) / AVKC_THREADS;
    if (b < 1)
        b = 1;
    return (unsigned)(b > 65536 ? 65536 : b);
}

#define GRID_STRIDE(i, n)                                                                  \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);            \
         i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over a whole block (blockDim.x a multiple of 32, at most 1024);
 * every thread gets the total. Uses 33 doubles of shared memory. */
__device__ __forceinline__ double block_sum_d(double v)
{
    __shared__ double part[33];
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_d(v);
    __syncthreads();             /* part may still be read by a previous call */
    if (lane == 0)
        part[w] = v;
    __syncthreads();
    if (w == 0) {
        double t = lane < nw ? part[lane] : 0.0;
        t = warp_sum_d(t);
        if (lane == 0)
            part[32] = t;
    }
    __syncthreads();
    return part[32];
}

__device__ __forceinline__ float block_sum(float v)
{
    return (float)block_sum_d((double)v);
}

#endif
