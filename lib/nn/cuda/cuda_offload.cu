/* Activation offload for long sequences: pinned host memory and copies on
 * a second stream that overlap the kernels of the backend's stream. A copy
 * starts after the work queued so far on the backend's stream (so it sees
 * the activations just computed, or the buffer just freed up), and work
 * queued later waits for it only where the caller asks (a token per copy):
 * the forward of block l overlaps the offload of block l-1, the backward of
 * block l the prefetch of block l-1. */
#include "cuda_common.cuh"

extern "C" {
#include "avkit/nn/cuda.h"
}

static cudaStream_t copy_stream;
enum { RING = 256 };
static cudaEvent_t ring[RING];
static unsigned next_token;

static void copy_init(void)
{
    if (copy_stream)
        return;
    CU_CHECK(cudaStreamCreateWithFlags(&copy_stream, cudaStreamNonBlocking));
    for (int i = 0; i < RING; i++)
        CU_CHECK(cudaEventCreateWithFlags(&ring[i], cudaEventDisableTiming));
}

void *avk_cuda_host_alloc(size_t bytes)
{
    if (avkc_init() < 0)
        return NULL;
    void *p = NULL;
    cudaError_t e = cudaMallocHost(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        avk_error("cuda: cannot pin %zu bytes of host memory: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

void avk_cuda_host_free(void *p)
{
    if (!p)
        return;
    CU_CHECK(cudaDeviceSynchronize());
    CU_CHECK(cudaFreeHost(p));
}

/* One copy on the copy stream after the backend's queued work; returns
 * the token of its completion. */
static int queued_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    copy_init();
    cudaEvent_t after = ring[next_token % RING];
    CU_CHECK(cudaEventRecord(after, avkc_stream));
    CU_CHECK(cudaStreamWaitEvent(copy_stream, after, 0));
    if (bytes)
        CU_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, copy_stream));
    next_token++;
    cudaEvent_t done = ring[next_token % RING];
    CU_CHECK(cudaEventRecord(done, copy_stream));
    return (int)(next_token++ % RING);
}

int avk_cuda_offload(void *host_dst, const void *dev_src, size_t bytes)
{
    return queued_copy(host_dst, dev_src, bytes, cudaMemcpyDeviceToHost);
}

int avk_cuda_prefetch(void *dev_dst, const void *host_src, size_t bytes)
{
    return queued_copy(dev_dst, host_src, bytes, cudaMemcpyHostToDevice);
}

/* Work queued on the backend's stream from now on waits for that copy. A
 * token is good for the next RING / 2 copies. */
void avk_cuda_copy_wait(int token)
{
    if (token < 0 || token >= RING)
        avk_die(1, "cuda: copy token %d out of range", token);
    CU_CHECK(cudaStreamWaitEvent(avkc_stream, ring[token], 0));
}
