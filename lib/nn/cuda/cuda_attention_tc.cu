/* Attention on the tensor cores: bf16 products, f32 accumulation and f32
 * softmax statistics (the numerics of avk_attention_bf16_* in ops_bf16.h),
 * FlashAttention-style: tiles of Q, K, V rounded to bf16 in shared memory,
 * S = Q K^T and O += P V by WMMA (16x16x16 bf16 fragments), an online
 * softmax over key tiles, the key-length mask; the score matrix is never
 * written to global memory. The backward recomputes P from the saved
 * log-sum-exp: one kernel per key block for dK and dV (looping over query
 * blocks), one per query block for dQ (looping over key blocks), so every
 * output has one owner and no atomics are needed.
 *
 * Every matrix product goes through mma_tiles(): all warps of the block
 * share the 16x16 output tiles of C (f32, shared) += A B (bf16, shared),
 * which keeps the kernels readable: load tiles, multiply, elementwise,
 * multiply. Head dimension up to 128 (padded to a multiple of 16).
 * Reached through avk_cuda_attention_bf16_fwd/_bwd (cuda.h), and by the
 * table's attention entries when the math mode is "bf16".
 * CPU references: avk_attention_fwd_ref / _bwd_ref (within ~1e-2). */
#include "cuda_common.cuh"

#include <cuda_bf16.h>
#include <mma.h>
#include <math.h>

extern "C" {
#include "avkit/nn/cuda.h"
}

using namespace nvcuda;
typedef __nv_bfloat16 bf16;

enum { TC_WARPS = 4, TC_THREADS = 128, TC_DMAX = 128 };

/* C[M, N] (f32, ldc) = or += A[M, K] B[K, N] over shared memory, M, N, K
 * multiples of 16. A_T: A is stored transposed ([K, M] row-major, lda);
 * B_T: B is stored transposed ([N, K] row-major, ldb). */
template <bool A_T, bool B_T, bool ACC>
__device__ void mma_tiles(float *C, int ldc, const bf16 *A, int lda, const bf16 *B, int ldb,
                          int M, int N, int K)
{
    typedef typename std::conditional<A_T, wmma::col_major, wmma::row_major>::type ALayout;
    typedef typename std::conditional<B_T, wmma::col_major, wmma::row_major>::type BLayout;
    int warp = threadIdx.x >> 5, nw = blockDim.x >> 5, tn_count = N / 16;
    for (int t = warp; t < (M / 16) * tn_count; t += nw) {
        int tm = t / tn_count, tn = t % tn_count;
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
        float *cp = C + tm * 16 * ldc + tn * 16;
        if (ACC)
            wmma::load_matrix_sync(c, cp, ldc, wmma::mem_row_major);
        else
            wmma::fill_fragment(c, 0.0f);
        for (int k = 0; k < K; k += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, ALayout> a;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, BLayout> b;
            wmma::load_matrix_sync(a, A_T ? A + k * lda + tm * 16 : A + tm * 16 * lda + k, lda);
            wmma::load_matrix_sync(b, B_T ? B + tn * 16 * ldb + k : B + k * ldb + tn * 16, ldb);
            wmma::mma_sync(c, a, b, c);
        }
        wmma::store_matrix_sync(cp, c, ldc, wmma::mem_row_major);
    }
}

/* rows x Dp bf16 tile (ld) from rows [r0, r0 + rows) of a [n, D] f32
 * matrix: zeros past row `valid` and past column D. */
__device__ void load_bf16(bf16 *t, int ld, const float *src, int r0, int rows, int valid, int D,
                          int Dp)
{
    for (int e = threadIdx.x; e < rows * Dp; e += blockDim.x) {
        int r = e / Dp, d = e % Dp;
        float v = r0 + r < valid && d < D ? src[(int64_t)(r0 + r) * D + d] : 0.0f;
        t[r * ld + d] = __float2bfloat16_rn(v);
    }
}

__device__ __forceinline__ int tc_keys(const int *kv_len, int b, int Nk)
{
    if (!kv_len)
        return Nk;
    int L = kv_len[b];
    return L < 0 ? 0 : L < Nk ? L : Nk;
}

/* Shared-memory layout helpers: leading dimensions padded against bank
 * conflicts (bf16: +8, f32: +4; both keep WMMA's alignment). */
struct tc_dims {
    int Dp, ldh, ldf;    /* padded head dim; bf16 and f32 row strides for it */
};

__host__ __device__ static inline tc_dims tc_make(int D)
{
    tc_dims t;
    t.Dp = (D + 15) / 16 * 16;
    t.ldh = t.Dp + 8;
    t.ldf = t.Dp + 4;
    return t;
}

/* ---- forward: 64 query rows per block, key tiles of 64 ------------------ */

enum { FQ = 64, FK = 64, LDS = FK + 4, LDP = FK + 8 };

static size_t fwd_smem(int D)
{
    tc_dims t = tc_make(D);
    return sizeof(bf16) * (3 * FQ * t.ldh + FQ * LDP) + sizeof(float) * (FQ * LDS + FQ * t.ldf + 2 * FQ);
}

__global__ void __launch_bounds__(TC_THREADS)
attn_tc_fwd_kernel(float *o, float *lse, const float *q, const float *k, const float *v, int H,
                   int Nq, int Nk, int D, float scale, const int *kv_len)
{
    extern __shared__ __align__(128) unsigned char smem[];
    tc_dims t = tc_make(D);
    bf16 *Qs = (bf16 *)smem, *Ks = Qs + FQ * t.ldh, *Vs = Ks + FK * t.ldh, *Ps = Vs + FK * t.ldh;
    float *S = (float *)(Ps + FQ * LDP), *Os = S + FQ * LDS, *m = Os + FQ * t.ldf, *l = m + FQ;
    int bh = blockIdx.y, b = bh / H, q0 = blockIdx.x * FQ;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int L = tc_keys(kv_len, b, Nk);
    const float *qb = q + (int64_t)bh * Nq * D, *kb = k + (int64_t)bh * Nk * D;
    const float *vb = v + (int64_t)bh * Nk * D;

    load_bf16(Qs, t.ldh, qb, q0, FQ, Nq, D, t.Dp);
    for (int e = threadIdx.x; e < FQ * t.ldf; e += blockDim.x)
        Os[e] = 0.0f;
    for (int r = threadIdx.x; r < FQ; r += blockDim.x) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
    }
    for (int j0 = 0; j0 < L; j0 += FK) {
        __syncthreads();
        load_bf16(Ks, t.ldh, kb, j0, FK, L, D, t.Dp);
        load_bf16(Vs, t.ldh, vb, j0, FK, L, D, t.Dp);
        __syncthreads();
        mma_tiles<false, true, false>(S, LDS, Qs, t.ldh, Ks, t.ldh, FQ, FK, t.Dp);
        __syncthreads();
        /* online softmax: a warp per row, two key columns per lane */
        for (int r = warp; r < FQ; r += TC_WARPS) {
            float s0 = j0 + lane < L ? S[r * LDS + lane] * scale : -INFINITY;
            float s1 = j0 + lane + 32 < L ? S[r * LDS + lane + 32] * scale : -INFINITY;
            float mn = fmaxf(m[r], warp_max(fmaxf(s0, s1)));
            float p0 = j0 + lane < L ? expf(s0 - mn) : 0.0f;
            float p1 = j0 + lane + 32 < L ? expf(s1 - mn) : 0.0f;
            float corr = expf(m[r] - mn), sum = warp_sum(p0 + p1);
            Ps[r * LDP + lane] = __float2bfloat16_rn(p0);
            Ps[r * LDP + lane + 32] = __float2bfloat16_rn(p1);
            for (int d = lane; d < t.Dp; d += 32)
                Os[r * t.ldf + d] *= corr;
            __syncwarp();
            if (lane == 0) {
                l[r] = l[r] * corr + sum;
                m[r] = mn;
            }
        }
        __syncthreads();
        mma_tiles<false, false, true>(Os, t.ldf, Ps, LDP, Vs, t.ldh, FQ, t.Dp, FK);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < FQ * D; e += blockDim.x) {
        int r = e / D, d = e % D;
        if (q0 + r < Nq)
            o[((int64_t)bh * Nq + q0 + r) * D + d] = L > 0 ? Os[r * t.ldf + d] / l[r] : 0.0f;
    }
    for (int r = threadIdx.x; r < FQ; r += blockDim.x)
        if (q0 + r < Nq)
            lse[(int64_t)bh * Nq + q0 + r] = L > 0 ? m[r] + logf(l[r]) : -INFINITY;
}

/* ---- backward ----------------------------------------------------------- */

/* Recompute P and dS = P (dO V^T - Di) for `rows` query rows (from qr0)
 * against `cols` keys (from kc0) already in shared memory as S and dP;
 * write them rounded to bf16 (Ps, dSs). Masked keys and rows past Nq give
 * zeros. */
__device__ void tc_probs(bf16 *Ps, bf16 *dSs, int ldp, const float *S, const float *dP, int lds,
                         int rows, int cols, const float *lse_rows, const float *di_rows,
                         int qr0, int Nq, int kc0, int L, float scale)
{
    for (int e = threadIdx.x; e < rows * cols; e += blockDim.x) {
        int r = e / cols, c = e % cols;
        float p = 0.0f, ds = 0.0f;
        if (qr0 + r < Nq && kc0 + c < L) {
            p = expf(S[r * lds + c] * scale - lse_rows[r]);
            ds = p * (dP[r * lds + c] - di_rows[r]);
        }
        if (Ps)
            Ps[r * ldp + c] = __float2bfloat16_rn(p);
        dSs[r * ldp + c] = __float2bfloat16_rn(ds);
    }
}

enum { BK = 64, BQ = 32, LDSB = BK + 4, LDPB = BK + 8 };

static size_t dkv_smem(int D)
{
    tc_dims t = tc_make(D);
    return sizeof(bf16) * (2 * BK * t.ldh + 2 * BQ * t.ldh + 2 * BQ * LDPB) +
           sizeof(float) * (2 * BK * t.ldf + 2 * BQ * LDSB + 2 * BQ);
}

/* dV += P^T dO, dK += scale dS^T Q for 64 keys, over query blocks of 32. */
__global__ void __launch_bounds__(TC_THREADS)
attn_tc_dkv_kernel(float *dk, float *dv, const float *dout, const float *q, const float *k,
                   const float *v, const float *lse, const float *di, int H, int Nq, int Nk,
                   int D, float scale, const int *kv_len)
{
    extern __shared__ __align__(128) unsigned char smem[];
    tc_dims t = tc_make(D);
    int bh = blockIdx.y, b = bh / H, j0 = blockIdx.x * BK;
    int L = tc_keys(kv_len, b, Nk);
    if (j0 >= L)
        return;                    /* every key of this block is masked */
    bf16 *Ks = (bf16 *)smem, *Vs = Ks + BK * t.ldh, *Qs = Vs + BK * t.ldh, *dOs = Qs + BQ * t.ldh;
    bf16 *Ps = dOs + BQ * t.ldh, *dSs = Ps + BQ * LDPB;
    float *dKs = (float *)(dSs + BQ * LDPB), *dVs = dKs + BK * t.ldf, *S = dVs + BK * t.ldf;
    float *dP = S + BQ * LDSB, *lr = dP + BQ * LDSB, *dr = lr + BQ;
    const int64_t base = (int64_t)bh * Nq;
    load_bf16(Ks, t.ldh, k + (int64_t)bh * Nk * D, j0, BK, L, D, t.Dp);
    load_bf16(Vs, t.ldh, v + (int64_t)bh * Nk * D, j0, BK, L, D, t.Dp);
    for (int e = threadIdx.x; e < BK * t.ldf; e += blockDim.x)
        dKs[e] = dVs[e] = 0.0f;
    for (int i0 = 0; i0 < Nq; i0 += BQ) {
        __syncthreads();
        load_bf16(Qs, t.ldh, q + base * D, i0, BQ, Nq, D, t.Dp);
        load_bf16(dOs, t.ldh, dout + base * D, i0, BQ, Nq, D, t.Dp);
        for (int r = threadIdx.x; r < BQ; r += blockDim.x) {
            lr[r] = i0 + r < Nq ? lse[base + i0 + r] : 0.0f;
            dr[r] = i0 + r < Nq ? di[base + i0 + r] : 0.0f;
        }
        __syncthreads();
        mma_tiles<false, true, false>(S, LDSB, Qs, t.ldh, Ks, t.ldh, BQ, BK, t.Dp);
        mma_tiles<false, true, false>(dP, LDSB, dOs, t.ldh, Vs, t.ldh, BQ, BK, t.Dp);
        __syncthreads();
        tc_probs(Ps, dSs, LDPB, S, dP, LDSB, BQ, BK, lr, dr, i0, Nq, j0, L, scale);
        __syncthreads();
        mma_tiles<true, false, true>(dVs, t.ldf, Ps, LDPB, dOs, t.ldh, BK, t.Dp, BQ);
        mma_tiles<true, false, true>(dKs, t.ldf, dSs, LDPB, Qs, t.ldh, BK, t.Dp, BQ);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < BK * D; e += blockDim.x) {
        int r = e / D, d = e % D;
        if (j0 + r < L) {
            int64_t at = ((int64_t)bh * Nk + j0 + r) * D + d;
            if (dv)
                dv[at] += dVs[r * t.ldf + d];
            if (dk)
                dk[at] += scale * dKs[r * t.ldf + d];
        }
    }
}

enum { QQ = 64, QK = 64, LDSQ = QK + 4, LDPQ = QK + 8 };

static size_t dq_smem(int D)
{
    tc_dims t = tc_make(D);
    return sizeof(bf16) * (4 * QQ * t.ldh + QQ * LDPQ) +
           sizeof(float) * (QQ * t.ldf + 2 * QQ * LDSQ + 2 * QQ);
}

/* dQ += scale dS K for 64 query rows, over key blocks of 64. */
__global__ void __launch_bounds__(TC_THREADS)
attn_tc_dq_kernel(float *dq, const float *dout, const float *q, const float *k, const float *v,
                  const float *lse, const float *di, int H, int Nq, int Nk, int D, float scale,
                  const int *kv_len)
{
    extern __shared__ __align__(128) unsigned char smem[];
    tc_dims t = tc_make(D);
    int bh = blockIdx.y, b = bh / H, i0 = blockIdx.x * QQ;
    int L = tc_keys(kv_len, b, Nk);
    if (L == 0)
        return;
    bf16 *Qs = (bf16 *)smem, *dOs = Qs + QQ * t.ldh, *Ks = dOs + QQ * t.ldh, *Vs = Ks + QK * t.ldh;
    bf16 *dSs = Vs + QK * t.ldh;
    float *dQs = (float *)(dSs + QQ * LDPQ), *S = dQs + QQ * t.ldf, *dP = S + QQ * LDSQ;
    float *lr = dP + QQ * LDSQ, *dr = lr + QQ;
    const int64_t base = (int64_t)bh * Nq;
    load_bf16(Qs, t.ldh, q + base * D, i0, QQ, Nq, D, t.Dp);
    load_bf16(dOs, t.ldh, dout + base * D, i0, QQ, Nq, D, t.Dp);
    for (int e = threadIdx.x; e < QQ * t.ldf; e += blockDim.x)
        dQs[e] = 0.0f;
    for (int r = threadIdx.x; r < QQ; r += blockDim.x) {
        lr[r] = i0 + r < Nq ? lse[base + i0 + r] : 0.0f;
        dr[r] = i0 + r < Nq ? di[base + i0 + r] : 0.0f;
    }
    for (int j0 = 0; j0 < L; j0 += QK) {
        __syncthreads();
        load_bf16(Ks, t.ldh, k + (int64_t)bh * Nk * D, j0, QK, L, D, t.Dp);
        load_bf16(Vs, t.ldh, v + (int64_t)bh * Nk * D, j0, QK, L, D, t.Dp);
        __syncthreads();
        mma_tiles<false, true, false>(S, LDSQ, Qs, t.ldh, Ks, t.ldh, QQ, QK, t.Dp);
        mma_tiles<false, true, false>(dP, LDSQ, dOs, t.ldh, Vs, t.ldh, QQ, QK, t.Dp);
        __syncthreads();
        tc_probs(NULL, dSs, LDPQ, S, dP, LDSQ, QQ, QK, lr, dr, i0, Nq, j0, L, scale);
        __syncthreads();
        mma_tiles<false, false, true>(dQs, t.ldf, dSs, LDPQ, Ks, t.ldh, QQ, t.Dp, QK);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < QQ * D; e += blockDim.x) {
        int r = e / D, d = e % D;
        if (i0 + r < Nq)
            dq[(base + i0 + r) * D + d] += scale * dQs[r * t.ldf + d];
    }
}

/* Di = rowsum(dO * O) (f32), a warp per row. */
__global__ void attn_tc_di_kernel(float *di, const float *dout, const float *o, int64_t rows,
                                  int D)
{
    int64_t r = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
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

/* Kernels needing more than 48 KB of dynamic shared memory must say so. */
template <typename K>
static void allow_smem(K kernel, size_t bytes)
{
    CU_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

static void tc_check(const avk_attn *a)
{
    if (a->D < 1 || a->D > TC_DMAX)
        avk_die(1, "cuda attention (bf16): head dimension %d (the kernel takes 1 to %d)", a->D,
                TC_DMAX);
}

void avk_cuda_attention_bf16_fwd(float *o, float *lse, const float *q, const float *k,
                                 const float *v, const avk_attn *a)
{
    tc_check(a);
    if ((int64_t)a->B * a->H * a->Nq <= 0)
        return;
    const int *kv = a->kv_len ? (const int *)avkc_upload(a->kv_len, sizeof(int) * (size_t)a->B)
                              : NULL;
    size_t sm = fwd_smem(a->D);
    allow_smem(attn_tc_fwd_kernel, sm);
    dim3 grid((unsigned)((a->Nq + FQ - 1) / FQ), (unsigned)(a->B * a->H));
    attn_tc_fwd_kernel<<<grid, TC_THREADS, sm, avkc_stream>>>(o, lse, q, k, v, a->H, a->Nq,
                                                              a->Nk, a->D, a->scale, kv);
    CU_LAUNCHED();
}

void avk_cuda_attention_bf16_bwd(float *dq, float *dk, float *dv, const float *dout,
                                 const float *q, const float *k, const float *v, const float *o,
                                 const float *lse, const avk_attn *a)
{
    tc_check(a);
    int64_t rows = (int64_t)a->B * a->H * a->Nq;
    if (rows <= 0 || (!dq && !dk && !dv))
        return;
    const int *kv = a->kv_len ? (const int *)avkc_upload(a->kv_len, sizeof(int) * (size_t)a->B)
                              : NULL;
    float *di = (float *)avkc_scratch(0, (size_t)rows * sizeof(float));
    attn_tc_di_kernel<<<(unsigned)((rows + 7) / 8), 256, 0, avkc_stream>>>(di, dout, o, rows, a->D);
    CU_LAUNCHED();
    if ((dk || dv) && a->Nk > 0) {
        size_t sm = dkv_smem(a->D);
        allow_smem(attn_tc_dkv_kernel, sm);
        dim3 grid((unsigned)((a->Nk + BK - 1) / BK), (unsigned)(a->B * a->H));
        attn_tc_dkv_kernel<<<grid, TC_THREADS, sm, avkc_stream>>>(
            dk, dv, dout, q, k, v, lse, di, a->H, a->Nq, a->Nk, a->D, a->scale, kv);
        CU_LAUNCHED();
    }
    if (dq) {
        size_t sm = dq_smem(a->D);
        allow_smem(attn_tc_dq_kernel, sm);
        dim3 grid((unsigned)((a->Nq + QQ - 1) / QQ), (unsigned)(a->B * a->H));
        attn_tc_dq_kernel<<<grid, TC_THREADS, sm, avkc_stream>>>(dq, dout, q, k, v, lse, di, a->H,
                                                                 a->Nq, a->Nk, a->D, a->scale, kv);
        CU_LAUNCHED();
    }
}
