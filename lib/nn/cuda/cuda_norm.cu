/* Normalizations and the row softmax on the device. Row operators (layer
 * norm, RMS norm, softmax) give one warp to each row; statistics are
 * summed in double, as the CPU reference does. The parameter gradients
 * (dgamma, dbeta) are column sums over rows, done by a second kernel with
 * a block per 32 columns. CPU references: ops_norm.c, ops_softmax.c. */
#include "cuda_common.cuh"

#include <math.h>

enum { ROWS_PER_BLOCK = 8 };   /* warps per block in the row kernels */

static unsigned row_blocks(int64_t M)
{
    return (unsigned)((M + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK);
}

/* ---- layer norm and RMS norm ------------------------------------------ */

/* rms = 0: layer norm (mean, rstd); rms = 1: RMS norm (rstd only). */
__global__ void rownorm_fwd_kernel(float *y, float *mean, float *rstd, const float *x,
                                   const float *gamma, const float *beta, int64_t M, int D,
                                   float eps, int rms)
{
    int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= M)
        return;
    const float *xr = x + row * D;
    double m = 0, v = 0;
    if (!rms) {
        for (int j = lane; j < D; j += 32)
            m += xr[j];
        m = warp_sum_d(m) / D;
    }
    for (int j = lane; j < D; j += 32) {
        double d = xr[j] - m;
        v += d * d;
    }
    v = warp_sum_d(v) / D;
    double r = 1.0 / sqrt(v + eps);
    if (lane == 0) {
        if (!rms)
            mean[row] = (float)m;
        rstd[row] = (float)r;
    }
    for (int j = lane; j < D; j += 32) {
        double t = (xr[j] - m) * r * (gamma ? gamma[j] : 1.0f) + (beta ? beta[j] : 0.0f);
        y[row * D + j] = (float)t;
    }
}

/* dx += r (g - s1/D - xh s2/D), g = dy gamma, s1 = sum g, s2 = sum g xh
 * (the s1 term only for layer norm). */
__global__ void rownorm_bwd_dx_kernel(float *dx, const float *dy, const float *x,
                                      const float *mean, const float *rstd, const float *gamma,
                                      int64_t M, int D, int rms)
{
    int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= M)
        return;
    const float *xr = x + row * D, *dyr = dy + row * D;
    double m = rms ? 0.0 : mean[row], r = rstd[row], s1 = 0, s2 = 0;
    for (int j = lane; j < D; j += 32) {
        double xh = (xr[j] - m) * r, g = (double)dyr[j] * (gamma ? gamma[j] : 1.0f);
        s1 += g;
        s2 += g * xh;
    }
    s1 = warp_sum_d(s1);
    s2 = warp_sum_d(s2);
    for (int j = lane; j < D; j += 32) {
        double xh = (xr[j] - m) * r, g = (double)dyr[j] * (gamma ? gamma[j] : 1.0f);
        dx[row * D + j] += (float)(r * (g - (rms ? 0.0 : s1 / D) - xh * s2 / D));
    }
}

/* dgamma[j] += sum_rows dy xh, dbeta[j] += sum_rows dy. Block (32, 16):
 * x picks the column, y strides the rows of this block's chunk; chunks
 * (gridDim.y) add their partial sums atomically. */
__global__ void rownorm_bwd_params_kernel(float *dgamma, float *dbeta, const float *dy,
                                          const float *x, const float *mean, const float *rstd,
                                          int64_t M, int D, int rms)
{
    __shared__ float sg[16][33], sb[16][33];
    int j = blockIdx.x * 32 + threadIdx.x;
    int64_t per = (M + gridDim.y - 1) / gridDim.y;
    int64_t r0 = (int64_t)blockIdx.y * per, r1 = r0 + per < M ? r0 + per : M;
    float ag = 0, ab = 0;
    if (j < D)
        for (int64_t i = r0 + threadIdx.y; i < r1; i += 16) {
            float g = dy[i * D + j];
            float xh = (x[i * D + j] - (rms ? 0.0f : mean[i])) * rstd[i];
            ag += g * xh;
            ab += g;
        }
    sg[threadIdx.y][threadIdx.x] = ag;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && j < D) {
        for (int k = 1; k < 16; k++) {
            ag += sg[k][threadIdx.x];
            ab += sb[k][threadIdx.x];
        }
        if (dgamma)
            atomicAdd(dgamma + j, ag);
        if (dbeta)
            atomicAdd(dbeta + j, ab);
    }
}

static void rownorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *rstd, const float *gamma, int64_t M,
                        int D, int rms)
{
    if (M <= 0 || D <= 0)
        return;
    if (dx) {
        rownorm_bwd_dx_kernel<<<row_blocks(M), 32 * ROWS_PER_BLOCK, 0, avkc_stream>>>(
            dx, dy, x, mean, rstd, gamma, M, D, rms);
        CU_LAUNCHED();
    }
    if (dgamma || dbeta) {
        int64_t chunks = (M + 255) / 256;
        dim3 grid((unsigned)((D + 31) / 32), (unsigned)(chunks < 64 ? chunks : 64));
        rownorm_bwd_params_kernel<<<grid, dim3(32, 16), 0, avkc_stream>>>(dgamma, dbeta, dy, x,
                                                                          mean, rstd, M, D, rms);
        CU_LAUNCHED();
    }
}

void avkc_layernorm_fwd(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                        const float *beta, int64_t M, int D, float eps)
{
    if (M <= 0)
        return;
    rownorm_fwd_kernel<<<row_blocks(M), 32 * ROWS_PER_BLOCK, 0, avkc_stream>>>(
        y, mean, rstd, x, gamma, beta, M, D, eps, 0);
    CU_LAUNCHED();
}

void avkc_layernorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *rstd, const float *gamma, int64_t M, int D)
{
    rownorm_bwd(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, M, D, 0);
}

void avkc_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int64_t M, int D,
                      float eps)
{
    if (M <= 0)
        return;
    rownorm_fwd_kernel<<<row_blocks(M), 32 * ROWS_PER_BLOCK, 0, avkc_stream>>>(
        y, NULL, rstd, x, w, NULL, M, D, eps, 1);
    CU_LAUNCHED();
}

void avkc_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *rstd,
                      const float *w, int64_t M, int D)
{
    rownorm_bwd(dx, dw, NULL, dy, x, NULL, rstd, w, M, D, 1);
}

/* ---- group norm ------------------------------------------------------- */

/* One block per (sample, group): the group is cg*S contiguous values. */
__global__ void groupnorm_fwd_kernel(float *y, float *mean, float *rstd, const float *x,
                                     const float *gamma, const float *beta, int C, int64_t S,
                                     int G, float eps)
{
    int bg = blockIdx.x, cg = C / G, g0 = (bg % G) * cg;
    int64_t gn = (int64_t)cg * S;
    const float *xg = x + (int64_t)bg * gn;
    double s = 0, v = 0;
    for (int64_t i = threadIdx.x; i < gn; i += blockDim.x)
        s += xg[i];
    double m = block_sum_d(s) / (double)gn;
    for (int64_t i = threadIdx.x; i < gn; i += blockDim.x) {
        double d = xg[i] - m;
        v += d * d;
    }
    double r = 1.0 / sqrt(block_sum_d(v) / (double)gn + eps);
    if (threadIdx.x == 0) {
        mean[bg] = (float)m;
        rstd[bg] = (float)r;
    }
    for (int64_t i = threadIdx.x; i < gn; i += blockDim.x) {
        int c = g0 + (int)(i / S);
        double t = (xg[i] - m) * r * (gamma ? gamma[c] : 1.0f) + (beta ? beta[c] : 0.0f);
        y[(int64_t)bg * gn + i] = (float)t;
    }
}

/* One block per (sample, channel): a = sum dy, b = sum dy xh over S, kept
 * in ab[2 (b*C + c)] for the dx kernel and added into dgamma, dbeta. */
__global__ void groupnorm_bwd_chan_kernel(double *ab, float *dgamma, float *dbeta,
                                          const float *dy, const float *x, const float *mean,
                                          const float *rstd, int C, int64_t S, int G)
{
    int bc = blockIdx.x, c = bc % C, bg = (bc / C) * G + c / (C / G);
    const float *xr = x + (int64_t)bc * S, *dyr = dy + (int64_t)bc * S;
    double m = mean[bg], r = rstd[bg], a = 0, b = 0;
    for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
        a += dyr[i];
        b += dyr[i] * (xr[i] - m) * r;
    }
    a = block_sum_d(a);
    b = block_sum_d(b);
    if (threadIdx.x == 0) {
        ab[2 * bc] = a;
        ab[2 * bc + 1] = b;
        if (dgamma)
            atomicAdd(dgamma + c, (float)b);
        if (dbeta)
            atomicAdd(dbeta + c, (float)a);
    }
}

/* One block per group: s1 = sum_c gamma_c a_c, s2 = sum_c gamma_c b_c, then
 * dx += r (gamma dy - s1/gn - xh s2/gn). */
__global__ void groupnorm_bwd_dx_kernel(float *dx, const double *ab, const float *dy,
                                        const float *x, const float *mean, const float *rstd,
                                        const float *gamma, int C, int64_t S, int G)
{
    int bg = blockIdx.x, cg = C / G, g0 = (bg % G) * cg, b = bg / G;
    int64_t gn = (int64_t)cg * S;
    double s1 = 0, s2 = 0;
    for (int c = threadIdx.x; c < cg; c += blockDim.x) {
        double gm = gamma ? gamma[g0 + c] : 1.0f;
        s1 += gm * ab[2 * ((int64_t)b * C + g0 + c)];
        s2 += gm * ab[2 * ((int64_t)b * C + g0 + c) + 1];
    }
    s1 = block_sum_d(s1);
    s2 = block_sum_d(s2);
    double m = mean[bg], r = rstd[bg];
    const float *xg = x + (int64_t)bg * gn, *dyg = dy + (int64_t)bg * gn;
    for (int64_t i = threadIdx.x; i < gn; i += blockDim.x) {
        double gm = gamma ? gamma[g0 + (int)(i / S)] : 1.0f, xh = (xg[i] - m) * r;
        dx[(int64_t)bg * gn + i] += (float)(r * (gm * dyg[i] - s1 / gn - xh * s2 / gn));
    }
}

void avkc_groupnorm_fwd(float *y, float *mean, float *rstd, const float *x, const float *gamma,
                        const float *beta, int B, int C, int64_t S, int G, float eps)
{
    if (B * G <= 0)
        return;
    groupnorm_fwd_kernel<<<B * G, 256, 0, avkc_stream>>>(y, mean, rstd, x, gamma, beta, C, S, G,
                                                         eps);
    CU_LAUNCHED();
}

void avkc_groupnorm_bwd(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                        const float *mean, const float *rstd, const float *gamma, int B, int C,
                        int64_t S, int G)
{
    if (B * C <= 0)
        return;
    double *ab = (double *)avkc_scratch(0, (size_t)B * C * 2 * sizeof(double));
    groupnorm_bwd_chan_kernel<<<B * C, 256, 0, avkc_stream>>>(ab, dgamma, dbeta, dy, x, mean,
                                                              rstd, C, S, G);
    CU_LAUNCHED();
    if (dx) {
        groupnorm_bwd_dx_kernel<<<B * G, 256, 0, avkc_stream>>>(dx, ab, dy, x, mean, rstd, gamma,
                                                                C, S, G);
        CU_LAUNCHED();
    }
}

/* ---- softmax ---------------------------------------------------------- */

__global__ void softmax_fwd_kernel(float *y, const float *x, int64_t M, int64_t N)
{
    int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= M)
        return;
    const float *xr = x + row * N;
    float mx = -INFINITY;
    for (int64_t j = lane; j < N; j += 32)
        mx = fmaxf(mx, xr[j]);
    mx = warp_max(mx);
    double s = 0;
    for (int64_t j = lane; j < N; j += 32)
        s += exp((double)xr[j] - mx);
    s = warp_sum_d(s);
    for (int64_t j = lane; j < N; j += 32)   /* y may alias x: each lane reads what it writes */
        y[row * N + j] = (float)(exp((double)xr[j] - mx) / s);
}

__global__ void softmax_bwd_kernel(float *dx, const float *dy, const float *y, int64_t M,
                                   int64_t N)
{
    int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= M)
        return;
    const float *yr = y + row * N, *dyr = dy + row * N;
    double s = 0;
    for (int64_t j = lane; j < N; j += 32)
        s += (double)dyr[j] * yr[j];
    s = warp_sum_d(s);
    for (int64_t j = lane; j < N; j += 32)
        dx[row * N + j] += (float)(yr[j] * (dyr[j] - s));
}

void avkc_softmax_fwd(float *y, const float *x, int64_t M, int64_t N)
{
    if (M <= 0)
        return;
    softmax_fwd_kernel<<<row_blocks(M), 32 * ROWS_PER_BLOCK, 0, avkc_stream>>>(y, x, M, N);
    CU_LAUNCHED();
}

void avkc_softmax_bwd(float *dx, const float *dy, const float *y, int64_t M, int64_t N)
{
    if (M <= 0)
        return;
    softmax_bwd_kernel<<<row_blocks(M), 32 * ROWS_PER_BLOCK, 0, avkc_stream>>>(dx, dy, y, M, N);
    CU_LAUNCHED();
}
