/* Fused scaled dot-product attention on the device, forward and backward,
 * FlashAttention-style: keys and values stream through shared memory in
 * tiles of 32, each query row keeps a running max, sum and output
 * accumulator (online softmax), and the Nq x Nk score matrix is never
 * written anywhere: the backward recomputes each tile's probabilities from
 * the saved log-sum-exp. Keys at positions >= kv_len[b] are masked.
 *
 * Work split (f32 on the CUDA cores, head dimension D <= 128):
 *   forward  one warp per query row, 8 rows per block sharing each K/V tile;
 *            lane j scores key j of the tile, then the 32 probabilities
 *            are broadcast and every lane updates its D/32 outputs.
 *   backward (1) Di = rowsum(dO * O) per query row; (2) dQ: a warp per
 *            query row over the key tiles, as the forward; (3) dK, dV: a
 *            warp per key row over tiles of 32 query rows. No atomics:
 *            every output row has one owner.
 * In the "bf16" math mode (cuda.h) the entries hand over to the tensor-
 * core kernels of cuda_attention_tc.cu.
 * CPU reference: avk_attention_fwd_ref / _bwd_ref (ops_attention.c). */
#include "cuda_common.cuh"
#include "cuda_gemm.cuh"

extern "C" {
#include "avkit/nn/cuda.h"
}

#include <math.h>

enum {
    TILE = 32,          /* keys (or queries) per shared-memory tile */
    WARPS = 8,          /* rows per block */
    DMAX = 128,         /* largest head dimension */
    DPAD = DMAX + 1,    /* row stride in shared memory (no bank conflicts) */
    PER_LANE = DMAX / 32,
};

/* Keys visible to batch entry b. */
__device__ __forceinline__ int keys_visible(const int *kv_len, int b, int Nk)
{
    if (!kv_len)
        return Nk;
    int L = kv_len[b];
    return L < 0 ? 0 : L < Nk ? L : Nk;
}

/* Copy rows [r0, r0 + TILE) of a [rows, D] matrix into a tile (zero past
 * the end), with all threads of the block. */
__device__ __forceinline__ void load_tile(float (*tile)[DPAD], const float *src, int r0, int rows,
                                          int D)
{
    for (int e = threadIdx.x; e < TILE * D; e += blockDim.x) {
        int r = e / D, d = e % D;
        tile[r][d] = r0 + r < rows ? src[(int64_t)(r0 + r) * D + d] : 0.0f;
    }
}

/* Dot product of a shared row (broadcast to the warp) with tile row r. */
__device__ __forceinline__ float dot_row(const float *a, const float (*tile)[DPAD], int r, int D)
{
    float s = 0;
    for (int d = 0; d < D; d++)
        s += a[d] * tile[r][d];
    return s;
}

__global__ void __launch_bounds__(WARPS * 32)
attn_fwd_kernel(float *o, float *lse, const float *q, const float *k, const float *v,
                int H, int Nq, int Nk, int D, float scale, const int *kv_len)
{
    __shared__ float ks[TILE][DPAD], vs[TILE][DPAD];
    __shared__ float qs[WARPS][DMAX];
    int bh = blockIdx.y, b = bh / H, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * WARPS + warp;
    bool active = row < Nq;
    int L = keys_visible(kv_len, b, Nk);
    const float *kb = k + (int64_t)bh * Nk * D, *vb = v + (int64_t)bh * Nk * D;
    for (int d = lane; d < D; d += 32)
        qs[warp][d] = active ? q[((int64_t)bh * Nq + row) * D + d] : 0.0f;

    float m = -INFINITY, l = 0, acc[PER_LANE] = {0, 0, 0, 0};
    for (int j0 = 0; j0 < L; j0 += TILE) {
        __syncthreads();
        load_tile(ks, kb, j0, L, D);
        load_tile(vs, vb, j0, L, D);
        __syncthreads();
        float s = j0 + lane < L ? dot_row(qs[warp], ks, lane, D) * scale : -INFINITY;
        float mn = fmaxf(m, warp_max(s));
        float p = j0 + lane < L ? expf(s - mn) : 0.0f;
        float corr = expf(m - mn);   /* 0 on the first tile (m = -inf) */
        l = l * corr + warp_sum(p);
        for (int t = 0; t < PER_LANE; t++)
            acc[t] *= corr;
        int nt = L - j0 < TILE ? L - j0 : TILE;
        for (int jj = 0; jj < nt; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
            for (int t = 0; t < PER_LANE; t++) {
                int d = lane + 32 * t;
                if (d < D)
                    acc[t] += pj * vs[jj][d];
            }
        }
        m = mn;
    }
    if (!active)
        return;
    int64_t r = (int64_t)bh * Nq + row;
    for (int t = 0; t < PER_LANE; t++) {
        int d = lane + 32 * t;
        if (d < D)
            o[r * D + d] = L > 0 ? acc[t] / l : 0.0f;
    }
    if (lane == 0)
        lse[r] = L > 0 ? m + logf(l) : -INFINITY;
}

/* Di = sum_d dO[r, d] O[r, d], a warp per row. */
__global__ void attn_di_kernel(float *di, const float *dout, const float *o, int64_t rows, int D)
{
    int64_t r = (int64_t)blockIdx.x * WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (r >= rows)
        return;
    float s = 0;
    for (int d = lane; d < D; d += 32)
        s += dout[r * D + d] * o[r * D + d];
    s = warp_sum(s);
    if (lane == 0)
        di[r] = s;
}

/* dQ[i] += scale sum_j dS_ij K_j, dS_ij = P_ij (dO_i . V_j - Di). */
__global__ void __launch_bounds__(WARPS * 32)
attn_dq_kernel(float *dq, const float *dout, const float *q, const float *k, const float *v,
               const float *lse, const float *di, int H, int Nq, int Nk, int D, float scale,
               const int *kv_len)
{
    __shared__ float ks[TILE][DPAD], vs[TILE][DPAD];
    __shared__ float qs[WARPS][DMAX], dos[WARPS][DMAX];
    int bh = blockIdx.y, b = bh / H, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * WARPS + warp;
    bool active = row < Nq;
    int L = keys_visible(kv_len, b, Nk);
    int64_t r = (int64_t)bh * Nq + row;
    for (int d = lane; d < D; d += 32) {
        qs[warp][d] = active ? q[r * D + d] : 0.0f;
        dos[warp][d] = active ? dout[r * D + d] : 0.0f;
    }
    float lr = active ? lse[r] : 0.0f, dr = active ? di[r] : 0.0f;
    const float *kb = k + (int64_t)bh * Nk * D, *vb = v + (int64_t)bh * Nk * D;
    float acc[PER_LANE] = {0, 0, 0, 0};
    for (int j0 = 0; j0 < L; j0 += TILE) {
        __syncthreads();
        load_tile(ks, kb, j0, L, D);
        load_tile(vs, vb, j0, L, D);
        __syncthreads();
        float ds = 0;
        if (j0 + lane < L) {
            float p = expf(dot_row(qs[warp], ks, lane, D) * scale - lr);
            ds = p * (dot_row(dos[warp], vs, lane, D) - dr);
        }
        int nt = L - j0 < TILE ? L - j0 : TILE;
        for (int jj = 0; jj < nt; jj++) {
            float g = __shfl_sync(0xffffffffu, ds, jj);
            for (int t = 0; t < PER_LANE; t++) {
                int d = lane + 32 * t;
                if (d < D)
                    acc[t] += g * ks[jj][d];
            }
        }
    }
    if (!active || L == 0)
        return;
    for (int t = 0; t < PER_LANE; t++) {
        int d = lane + 32 * t;
        if (d < D)
            dq[r * D + d] += scale * acc[t];
    }
}

/* dV[j] += sum_i P_ij dO_i and dK[j] += scale sum_i dS_ij Q_i, a warp per
 * visible key row, streaming tiles of 32 query rows (Q and dO). */
__global__ void __launch_bounds__(WARPS * 32)
attn_dkv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k,
                const float *v, const float *lse, const float *di, int H, int Nq, int Nk, int D,
                float scale, const int *kv_len)
{
    __shared__ float qt[TILE][DPAD], dot[TILE][DPAD];
    __shared__ float kr[WARPS][DMAX], vr[WARPS][DMAX];
    int bh = blockIdx.y, b = bh / H, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int key = blockIdx.x * WARPS + warp;
    int L = keys_visible(kv_len, b, Nk);
    if (blockIdx.x * WARPS >= L)
        return;                   /* the whole block is masked (uniform) */
    bool active = key < L;
    int64_t j = (int64_t)bh * Nk + key;
    for (int d = lane; d < D; d += 32) {
        kr[warp][d] = active ? k[j * D + d] : 0.0f;
        vr[warp][d] = active ? v[j * D + d] : 0.0f;
    }
    const float *qb = q + (int64_t)bh * Nq * D, *db = dout + (int64_t)bh * Nq * D;
    const float *lb = lse + (int64_t)bh * Nq, *dib = di + (int64_t)bh * Nq;
    float ak[PER_LANE] = {0, 0, 0, 0}, av[PER_LANE] = {0, 0, 0, 0};
    for (int i0 = 0; i0 < Nq; i0 += TILE) {
        __syncthreads();
        load_tile(qt, qb, i0, Nq, D);
        load_tile(dot, db, i0, Nq, D);
        __syncthreads();
        float p = 0, ds = 0;
        if (i0 + lane < Nq) {
            p = expf(dot_row(kr[warp], qt, lane, D) * scale - lb[i0 + lane]);
            ds = p * (dot_row(vr[warp], dot, lane, D) - dib[i0 + lane]);
        }
        int nt = Nq - i0 < TILE ? Nq - i0 : TILE;
        for (int ii = 0; ii < nt; ii++) {
            float pi = __shfl_sync(0xffffffffu, p, ii), gi = __shfl_sync(0xffffffffu, ds, ii);
            for (int t = 0; t < PER_LANE; t++) {
                int d = lane + 32 * t;
                if (d < D) {
                    av[t] += pi * dot[ii][d];
                    ak[t] += gi * qt[ii][d];
                }
            }
        }
    }
    if (!active)
        return;
    for (int t = 0; t < PER_LANE; t++) {
        int d = lane + 32 * t;
        if (d < D) {
            if (dv)
                dv[j * D + d] += av[t];
            if (dk)
                dk[j * D + d] += scale * ak[t];
        }
    }
}

static void check_shape(const avk_attn *a)
{
    if (a->D < 1 || a->D > DMAX)
        avk_die(1, "cuda attention: head dimension %d (the kernel takes 1 to %d)", a->D, DMAX);
}

void avkc_attention_fwd(float *o, float *lse, const float *q, const float *k, const float *v,
                        const avk_attn *a)
{
    if (avkc_math() == CUBLAS_COMPUTE_32F_FAST_16BF) {
        avk_cuda_attention_bf16_fwd(o, lse, q, k, v, a);   /* the "bf16" math mode */
        return;
    }
    check_shape(a);
    if ((int64_t)a->B * a->H * a->Nq <= 0)
        return;
    const int *kv = a->kv_len ? (const int *)avkc_upload(a->kv_len, sizeof(int) * (size_t)a->B)
                              : NULL;
    dim3 grid((unsigned)((a->Nq + WARPS - 1) / WARPS), (unsigned)(a->B * a->H));
    attn_fwd_kernel<<<grid, WARPS * 32, 0, avkc_stream>>>(o, lse, q, k, v, a->H, a->Nq, a->Nk,
                                                          a->D, a->scale, kv);
    CU_LAUNCHED();
}

void avkc_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *o, const float *lse,
                        const avk_attn *a)
{
    if (avkc_math() == CUBLAS_COMPUTE_32F_FAST_16BF) {
        avk_cuda_attention_bf16_bwd(dq, dk, dv, dout, q, k, v, o, lse, a);
        return;
    }
    check_shape(a);
    int64_t rows = (int64_t)a->B * a->H * a->Nq;
    if (rows <= 0 || (!dq && !dk && !dv))
        return;
    const int *kv = a->kv_len ? (const int *)avkc_upload(a->kv_len, sizeof(int) * (size_t)a->B)
                              : NULL;
    float *di = (float *)avkc_scratch(0, (size_t)rows * sizeof(float));
    attn_di_kernel<<<(unsigned)((rows + WARPS - 1) / WARPS), WARPS * 32, 0, avkc_stream>>>(
        di, dout, o, rows, a->D);
    CU_LAUNCHED();
    if (dq) {
        dim3 grid((unsigned)((a->Nq + WARPS - 1) / WARPS), (unsigned)(a->B * a->H));
        attn_dq_kernel<<<grid, WARPS * 32, 0, avkc_stream>>>(dq, dout, q, k, v, lse, di, a->H,
                                                             a->Nq, a->Nk, a->D, a->scale, kv);
        CU_LAUNCHED();
    }
    if ((dk || dv) && a->Nk > 0) {
        dim3 grid((unsigned)((a->Nk + WARPS - 1) / WARPS), (unsigned)(a->B * a->H));
        attn_dkv_kernel<<<grid, WARPS * 32, 0, avkc_stream>>>(dk, dv, dout, q, k, v, lse, di,
                                                              a->H, a->Nq, a->Nk, a->D, a->scale,
                                                              kv);
        CU_LAUNCHED();
    }
}
