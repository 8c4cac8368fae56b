/* The CUDA backend's memory: device allocation, copies between host and
 * device and inside the device, zero and fill, all queued on one stream,
 * plus the shared scratch buffers and the stream/cuBLAS setup. */
#include "cuda_common.cuh"

#include <stdlib.h>

cudaStream_t avkc_stream;
static cublasHandle_t cublas_handle;
static int init_state;            /* 0 not tried, 1 ready, -1 no device */
static char init_error[256];

/* Find a device and create the stream and cuBLAS handle, once. fp32
 * GEMMs use the default math mode: no TF32 rounding unless asked for. */
int avkc_init(void)
{
    if (init_state == 1)
        return 0;
    if (init_state == -1)
        return avk_error("%s", init_error);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(init_error, sizeof init_error, "backend \"cuda\": no CUDA device (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        init_state = -1;
        return avk_error("%s", init_error);
    }
    /* one device per rank: AVK_CUDA_DEVICE, else the launcher's local rank */
    const char *pick = getenv("AVK_CUDA_DEVICE");
    if (!pick || !*pick)
        pick = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!pick || !*pick)
        pick = getenv("LOCAL_RANK");
    int dev = pick && *pick ? atoi(pick) % n : 0;
    CU_CHECK(cudaSetDevice(dev < 0 ? 0 : dev));
    CU_CHECK(cudaStreamCreateWithFlags(&avkc_stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&cublas_handle));
    CUBLAS_CHECK(cublasSetStream(cublas_handle, avkc_stream));
    CUBLAS_CHECK(cublasSetMathMode(cublas_handle, CUBLAS_DEFAULT_MATH));
    init_state = 1;
    return 0;
}

cublasHandle_t avkc_cublas(void)
{
    return cublas_handle;
}

/* cudaMalloc aligns to 256 bytes, more than the 64 the table promises. */
void *avkc_alloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        avk_error("cuda backend: out of device memory (%zu bytes): %s", bytes,
                  cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

/* Freeing waits for queued work that may still use the buffer. */
void avkc_free(void *p)
{
    if (!p)
        return;
    CU_CHECK(cudaStreamSynchronize(avkc_stream));
    CU_CHECK(cudaFree(p));
}

/* Host to device: queued after the work before it; the host buffer may be
 * reused on return (pageable memory is staged by the driver). */
void avkc_to_device(void *dst, const void *host_src, size_t bytes)
{
    if (bytes)
        CU_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, avkc_stream));
}

/* Device to host: waits for everything queued, then the data is there. */
void avkc_to_host(void *host_dst, const void *src, size_t bytes)
{
    if (bytes) {
        CU_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, avkc_stream));
        CU_CHECK(cudaStreamSynchronize(avkc_stream));
    }
}

void avkc_copy(void *dst, const void *src, size_t bytes)
{
    if (bytes)
        CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, avkc_stream));
}

void avkc_zero(void *p, size_t bytes)
{
    if (bytes)
        CU_CHECK(cudaMemsetAsync(p, 0, bytes, avkc_stream));
}

__global__ void fill_kernel(float *p, int64_t n, float value)
{
    GRID_STRIDE(i, n)
        p[i] = value;
}

void avkc_fill(float *p, int64_t n, float value)
{
    if (n <= 0)
        return;
    fill_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(p, n, value);
    CU_LAUNCHED();
}

void avkc_sync(void)
{
    CU_CHECK(cudaStreamSynchronize(avkc_stream));
}

/* ---- scratch ---------------------------------------------------------- */

enum { SCRATCH_SLOTS = 4 };
static void *scratch_ptr[SCRATCH_SLOTS];
static size_t scratch_size[SCRATCH_SLOTS];

void *avkc_scratch(int slot, size_t bytes)
{
    if (bytes <= scratch_size[slot])
        return scratch_ptr[slot];
    size_t want = bytes + bytes / 4 + 256;
    if (scratch_ptr[slot]) {
        CU_CHECK(cudaStreamSynchronize(avkc_stream));
        CU_CHECK(cudaFree(scratch_ptr[slot]));
    }
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, want);
    if (e != cudaSuccess)
        avk_die(1, "cuda backend: cannot allocate %zu bytes of scratch: %s", want,
                cudaGetErrorString(e));
    scratch_ptr[slot] = p;
    scratch_size[slot] = want;
    return p;
}

/* Slot 3 holds the small things: the key lengths, the reduction double. */
const void *avkc_upload(const void *host, size_t bytes)
{
    char *d = (char *)avkc_scratch(3, 1024 + bytes) + 1024;
    CU_CHECK(cudaMemcpyAsync(d, host, bytes, cudaMemcpyHostToDevice, avkc_stream));
    return d;
}

double *avkc_accum(void)
{
    double *d = (double *)avkc_scratch(3, 1024);
    CU_CHECK(cudaMemsetAsync(d, 0, sizeof(double), avkc_stream));
    return d;
}

double avkc_take_double(const double *d)
{
    double h = 0;
    CU_CHECK(cudaMemcpyAsync(&h, d, sizeof h, cudaMemcpyDeviceToHost, avkc_stream));
    CU_CHECK(cudaStreamSynchronize(avkc_stream));
    return h;
}
