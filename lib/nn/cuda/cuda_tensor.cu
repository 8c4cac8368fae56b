/* The tensor.h helpers on the device: elementwise adds and scales, the
 * sum of squares and the first non-finite element (both read back to the
 * host), and axis permutations. CPU references: lib/nn/tensor.c. */
#include "cuda_common.cuh"
#include "cuda_ops.h"

__global__ void add_inplace_kernel(float *y, const float *x, int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] += x[i];
}

__global__ void add_kernel(float *y, const float *a, const float *b, int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] = a[i] + b[i];
}

__global__ void axpy_kernel(float *y, float alpha, const float *x, int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] += alpha * x[i];
}

__global__ void scale_kernel(float *y, float alpha, int64_t n)
{
    GRID_STRIDE(i, n)
        y[i] *= alpha;
}

/* Each block sums its elements in double and adds the total into *out. */
__global__ void sumsq_kernel(double *out, const float *x, int64_t n)
{
    double s = 0;
    GRID_STRIDE(i, n)
        s += (double)x[i] * x[i];
    s = block_sum_d(s);
    if (threadIdx.x == 0)
        atomicAdd(out, s);
}

/* The smallest index holding a NaN or Inf (*first starts at all ones). */
__global__ void nonfinite_kernel(unsigned long long *first, const float *x, int64_t n)
{
    GRID_STRIDE(i, n)
        if (!isfinite(x[i])) {
            atomicMin(first, (unsigned long long)i);
            return;
        }
}

void avkc_add_inplace(float *y, const float *x, int64_t n)
{
    if (n <= 0)
        return;
    add_inplace_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(y, x, n);
    CU_LAUNCHED();
}

void avkc_add(float *y, const float *a, const float *b, int64_t n)
{
    if (n <= 0)
        return;
    add_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(y, a, b, n);
    CU_LAUNCHED();
}

void avkc_axpy(float *y, float alpha, const float *x, int64_t n)
{
    if (n <= 0)
        return;
    axpy_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(y, alpha, x, n);
    CU_LAUNCHED();
}

void avkc_scale(float *y, float alpha, int64_t n)
{
    if (n <= 0)
        return;
    scale_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(y, alpha, n);
    CU_LAUNCHED();
}

/* Queue the sum of squares of x into the device double acc (no wait). */
void avkc_sumsq_into(double *acc, const float *x, int64_t n)
{
    if (n <= 0)
        return;
    unsigned nb = avkc_blocks(n);
    sumsq_kernel<<<nb < 1024 ? nb : 1024, AVKC_THREADS, 0, avkc_stream>>>(acc, x, n);
    CU_LAUNCHED();
}

double avkc_sumsq(const float *x, int64_t n)
{
    double *acc = avkc_accum();
    avkc_sumsq_into(acc, x, n);
    return avkc_take_double(acc);
}

int64_t avkc_find_nonfinite(const float *x, int64_t n)
{
    if (n <= 0)
        return -1;
    unsigned long long *d = (unsigned long long *)avkc_accum(), h = 0;
    CU_CHECK(cudaMemsetAsync(d, 0xff, sizeof *d, avkc_stream));
    nonfinite_kernel<<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(d, x, n);
    CU_LAUNCHED();
    CU_CHECK(cudaMemcpyAsync(&h, d, sizeof h, cudaMemcpyDeviceToHost, avkc_stream));
    CU_CHECK(cudaStreamSynchronize(avkc_stream));
    return h == ~0ull ? -1 : (int64_t)h;
}

/* ---- permutation ------------------------------------------------------ */

/* Output shape, and the input stride that each output axis walks. */
struct perm_desc {
    int ndim;
    int64_t out_shape[8];
    int64_t in_stride[8];
};

/* One thread per output element: split its index over the output shape
 * and gather from the input (writes are coalesced). */
template <bool ACC>
__global__ void permute_kernel(float *out, const float *in, int64_t n, perm_desc d)
{
    GRID_STRIDE(i, n) {
        int64_t rest = i, src = 0;
        for (int a = d.ndim - 1; a >= 0; a--) {
            int64_t c = rest % d.out_shape[a];
            rest /= d.out_shape[a];
            src += c * d.in_stride[a];
        }
        if (ACC)
            out[i] += in[src];
        else
            out[i] = in[src];
    }
}

static void permute_launch(float *out, const float *in, int ndim, const int64_t *shape,
                           const int *perm, bool acc)
{
    if (ndim < 1 || ndim > 8)
        avk_die(1, "cuda permute: %d axes (1 to 8 supported)", ndim);
    int64_t stride[8], n = 1;
    for (int a = ndim - 1; a >= 0; a--) {
        stride[a] = n;
        n *= shape[a];
    }
    perm_desc d;
    d.ndim = ndim;
    for (int a = 0; a < ndim; a++) {
        d.out_shape[a] = shape[perm[a]];
        d.in_stride[a] = stride[perm[a]];
    }
    if (n <= 0)
        return;
    if (acc)
        permute_kernel<true><<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(out, in, n, d);
    else
        permute_kernel<false><<<avkc_blocks(n), AVKC_THREADS, 0, avkc_stream>>>(out, in, n, d);
    CU_LAUNCHED();
}

void avkc_permute(float *out, const float *in, int ndim, const int64_t *shape,
                             const int *perm)
{
    permute_launch(out, in, ndim, shape, perm, false);
}

void avkc_permute_acc(float *out, const float *in, int ndim, const int64_t *shape,
                                 const int *perm)
{
    permute_launch(out, in, ndim, shape, perm, true);
}
